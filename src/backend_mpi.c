/*
 * backend_mpi.c — PARC_MPI on rank 0: the same dispatch path, with MPI
 * ranks as the executor.
 *
 * Shape. Every rank has joined in parc_pool_create (mpi_serve.c): the
 * other ranks serve, and rank 0 knows its leaders (one per node, each with
 * a local pool of forked workers) and their sizes. Here rank 0 runs
 * slots: a few per leader (PARC_MPI_INFLIGHT, default 2), each a proxy
 * thread running the dispatch worker loop, exactly as a process pool's
 * proxies do; this file is their executor. A proxy packs its chunk (a
 * round of it: at most PARC__MPI_ROUND_BYTES) into a RUN message, hands it
 * to the progress thread and sleeps; the reply brings each task's status,
 * the outputs and the failures' messages, which the proxy reports to
 * completion. So groups, map, next, cancel, stop_on_error, the cache
 * (looked up on rank 0 before a chunk is sent), graphs, progress and
 * traces work as on any backend, and rank 0 talks to nodes, not cores.
 *
 * MPI calls are serialized by one lock (MPI_THREAD_SERIALIZED is enough).
 * A proxy that finds MPI free posts its batch itself and polls briefly for
 * its own reply (a short batch then pays no hand-off); otherwise, and
 * after that while, the progress thread does it: it posts queued batches,
 * receives replies, and forwards a cancellation (group cancel,
 * stop_on_error) of a batch in flight to its leader. It naps while
 * batches are out and sleeps on a futex when none is: rank 0's progress
 * never depends on the caller calling in.
 *
 * Faults. A task's crash, timeout or OOM kill happens in a forked worker of
 * its leader and comes back as that task's PARC_ECRASH / PARC_ETIMEDOUT
 * (retried there as config.retries says). An MPI error on a leader's link
 * fails the batches it held with PARC_ECRASH naming the rank; later chunks
 * fail at once. Open MPI 4.1 itself ends the whole job when a rank dies;
 * with a cache, rerunning the job resumes.
 */
#ifdef PARC_HAVE_MPI
#include "mpi_root.h"

#include <sched.h>
#include <signal.h>
#include <unistd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define SLEEP_NS 100000000ull         /* a proxy's futex sleep, between checks */
#define PROXY_SPIN 200                /* a proxy's polls of its own reply before sleeping */
#define INFLIGHT_MAX 64

parc__mpi_world parc__mpi_joined;


/* ---- a proxy's round ------------------------------------------------------ */

typedef struct outcome {
  parc__job *job;
  size_t from;
  uint64_t *bad;
} outcome;

static void fail(const outcome *o, size_t k, int status, char *message) {
  parc__completion_fail(&o->job->record, k, status, message);
  if (o->bad) *o->bad |= (uint64_t)1 << (k - o->from);
}

static void fail_range(const outcome *o, size_t from, size_t to, int status, const char *text) {
  for (size_t k = from; k < to; k++) fail(o, k, status, text ? parc__format("%s", text) : NULL);
}

/* The slot's CONTEXT message when the leader does not hold job's yet. */
static bool stage_context(slot *s, const parc__tasks *d) {
  size_t size = d->context ? d->context_size : 0;
  parc__mpi_context *held = (parc__mpi_context *)s->context;
  if (s->has_context && held->size == size &&
      (size == 0 || memcmp(s->context + sizeof *held, d->context, size) == 0))
    return true;
  if (!parc__mpi_ensure(&s->context, &s->context_capacity, sizeof *held + size)) return false;
  held = (parc__mpi_context *)s->context;
  held->slot = (uint64_t)s->id;
  held->size = size;
  if (size) memcpy(s->context + sizeof *held, d->context, size);
  s->context_size = sizeof *held + size;
  s->context_pending = true;
  s->has_context = true;
  return true;
}

/* Packs tasks [k, k + n) of job into the slot's RUN message. */
static int stage_run(slot *s, const parc__job *job, size_t k, size_t n) {
  const parc__tasks *d = &job->tasks;
  if (s->fn != d->fn) {
    if (!parc__fn_locate((const void *)d->fn, s->object, &s->offset)) {
      s->fn = NULL;
      return parc__error(PARC_EINVAL, "PARC_MPI: the task's function is in no loaded object, "
                                      "so other ranks cannot find it");
    }
    s->fn = d->fn;
  }
  size_t object_len = strlen(s->object);
  size_t size = sizeof(parc__mpi_run) + parc__mpi_pad(object_len) + parc__mpi_pad(n * d->in_size);
  if (d->bufs) {
    size += n * sizeof(uint64_t);
    for (size_t i = 0; i < n; i++) size += parc__mpi_pad(d->bufs[k + i].size);
  }
  size += d->ndeps * sizeof(uint64_t);
  for (size_t i = 0; i < d->ndeps; i++) size += parc__mpi_pad(d->deps[i].size);
  if (!parc__mpi_ensure(&s->run, &s->run_capacity, size) || !stage_context(s, d))
    return parc__error(PARC_ENOMEM, "PARC_MPI: out of memory for a batch's message");
  memset(s->run, 0, size);
  parc__mpi_run h = {(uint64_t)s->id, (uint64_t)s->offset, d->index_base + k, n, d->in_size,
                     d->out_size, d->seed, d->ndeps, (uint32_t)object_len,
                     job->record.completion->stop_on_error,
                     (d->bufs ? PARC__MPI_BUFS : 0u) | (d->outputs ? PARC__MPI_OUTPUTS : 0u)};
  memcpy(s->run, &h, sizeof h);
  char *p = s->run + sizeof h;
  memcpy(p, s->object, object_len);
  p += parc__mpi_pad(object_len);
  if (d->in_size) memcpy(p, d->in + k * d->in_size, n * d->in_size);
  p += parc__mpi_pad(n * d->in_size);
  if (d->bufs) {
    for (size_t i = 0; i < n; i++) {
      uint64_t in_size = d->bufs[k + i].size;
      memcpy(p + i * sizeof(uint64_t), &in_size, sizeof in_size);
    }
    p += n * sizeof(uint64_t);
    for (size_t i = 0; i < n; i++) {
      if (d->bufs[k + i].size) memcpy(p, d->bufs[k + i].data, d->bufs[k + i].size);
      p += parc__mpi_pad(d->bufs[k + i].size);
    }
  }
  for (size_t i = 0; i < d->ndeps; i++) {
    uint64_t dep_size = d->deps[i].size;
    memcpy(p + i * sizeof(uint64_t), &dep_size, sizeof dep_size);
  }
  p += d->ndeps * sizeof(uint64_t);
  for (size_t i = 0; i < d->ndeps; i++) {
    if (d->deps[i].size) memcpy(p, d->deps[i].data, d->deps[i].size);
    p += parc__mpi_pad(d->deps[i].size);
  }
  s->run_size = size;
  return PARC_OK;
}

static void wake_progress(mpi_backend *b) {
  atomic_fetch_add(&b->wake, 1);
  if (atomic_load(&b->sleeping)) parc__futex_wake(&b->wake);
}

/* Sends the slot's batch and waits for its reply. The direct path first:
   when MPI is free the proxy posts the batch itself and, for a short
   while, polls for its own reply, which saves the two hand-offs to and
   from the progress thread that a short batch would otherwise pay. Else
   (or after that while) the progress thread does it. */
static void round_trip(mpi_backend *b, slot *s) {
  atomic_store_explicit(&s->state, SLOT_QUEUED, memory_order_release);
  if (pthread_mutex_trylock(&b->mpi) == 0) {
    parc__mpi_post(b, s);
    pthread_mutex_unlock(&b->mpi);
  } else {
    pthread_mutex_lock(&b->lock);
    s->queue_next = NULL;
    if (b->queue_tail) b->queue_tail->queue_next = s;
    else b->queue_head = s;
    b->queue_tail = s;
    pthread_mutex_unlock(&b->lock);
    wake_progress(b);
  }
  for (int i = 0; i < PROXY_SPIN; i++) {
    uint32_t now = atomic_load_explicit(&s->state, memory_order_acquire);
    if (now == SLOT_REPLIED) break;
    if (now == SLOT_SENT && pthread_mutex_trylock(&b->mpi) == 0) {
      parc__mpi_receive_reply(b, s->leader, PARC__MPI_TAG_DONE + s->id);
      pthread_mutex_unlock(&b->mpi);
    }
    sched_yield();
  }
  if (atomic_load_explicit(&s->state, memory_order_acquire) != SLOT_REPLIED) wake_progress(b);
  uint32_t state;
  while ((state = atomic_load_explicit(&s->state, memory_order_acquire)) != SLOT_REPLIED)
    parc__futex_wait(&s->state, state, SLEEP_NS);
  atomic_store(&s->state, SLOT_IDLE);
}

static size_t round_size(const parc__job *job, size_t left) {
  size_t per_task = job->tasks.in_size + job->tasks.out_size + 1;
  size_t n = PARC__MPI_ROUND_BYTES / per_task;
  return left < n ? left : n ? n : 1;
}

/* Reports a reply's tasks [k, k + n): outputs into place, then statuses. */
static void record(parc__worker *w, slot *s, const outcome *o, size_t k, size_t n,
                   bool *used_index, uint64_t start_ns) {
  parc__job *job = o->job;
  parc__mpi_done d = {0, 0, 0, 0, 0};
  if (s->reply_size >= sizeof d) memcpy(&d, s->reply, sizeof d);
  size_t out_size = job->tasks.out_size;
  size_t need = sizeof d + parc__mpi_pad(n) + parc__mpi_pad(n * out_size);
  if (d.count != n || s->reply_size < need) {
    char text[128];
    snprintf(text, sizeof text, "MPI rank %d could not run the batch (out of memory)", s->leader);
    fail_range(o, k, k + n, PARC_ENOMEM, text);
    return;
  }
  const signed char *status = (const signed char *)s->reply + sizeof d;
  if (out_size) memcpy(job->tasks.out + k * out_size, s->reply + sizeof d + parc__mpi_pad(n), n * out_size);
  char **messages = d.nmessages ? parc__calloc(n, sizeof *messages) : NULL;
  const char *p = s->reply + need, *end = s->reply + s->reply_size;
  for (uint64_t i = 0; i < d.nmessages && end - p >= 16; i++) {
    uint64_t rec[2];
    memcpy(rec, p, sizeof rec);
    if (rec[0] >= n || rec[1] > (uint64_t)(end - p - 16)) break;
    if (messages) {
      parc__free(messages[rec[0]]);
      messages[rec[0]] = parc__format("%.*s", (int)rec[1], p + 16);
    }
    p += 16 + parc__mpi_pad(rec[1]);
  }
  /* Results of any size, before the successes are recorded: one that
     cannot be kept fails its task, and ok() leaves that task as it is. */
  for (size_t i = 0; d.results && job->tasks.outputs && i < n && end - p >= 8; i++) {
    uint64_t size;
    memcpy(&size, p, sizeof size);
    p += 8;
    if (size == UINT64_MAX) continue;
    if (size > (uint64_t)(end - p)) break;
    parc_buf *entry = parc__outputs_slot(&job->outputs, k + i);
    void *mine = entry ? parc__outputs_alloc(&job->outputs, size) : NULL;
    if (mine) {
      if (size) memcpy(mine, p, size);
      *entry = (parc_buf){mine, size};
    } else if (status[i] == PARC_OK) {
      fail(o, k + i, PARC_ENOMEM, parc__format("parc_task_output: cannot allocate %zu bytes", (size_t)size));
    }
    p += parc__mpi_pad(size);
  }
  size_t ok_from = 0;
  for (size_t i = 0; i <= n; i++) {
    if (i < n && status[i] == PARC_OK) continue;
    parc__completion_ok(&job->record, k + ok_from, k + i);
    if (i < n) fail(o, k + i, status[i], messages ? messages[i] : NULL);
    ok_from = i + 1;
  }
  parc__free(messages);
  if (job->timed) {
    /* The leader sends no per-task times: the round's span, shared out. */
    uint64_t now = parc__now_ns(), span = (now - start_ns) / n;
    for (size_t i = 0; i < n; i++)
      parc__dispatch_task_ran(w, job, k + i, start_ns + i * span, start_ns + (i + 1) * span,
                              status[i], 1);
  } else {
    parc__completion_timing(&job->record, d.busy_ns, 0, SIZE_MAX);
  }
  if (used_index && d.used_index) *used_index = true;
}

static void lose(mpi_backend *b, slot *s) {
  char text[MPI_MAX_ERROR_STRING];
  int len = 0;
  MPI_Error_string(s->error, text, &len);
  if (!atomic_exchange(&b->lost, true))
    snprintf(b->lost_message, sizeof b->lost_message, "MPI rank %d is lost (%.*s)", s->leader, len, text);
}

static void mpi_execute(parc__worker *w, parc__job *job, size_t from, size_t to, uint64_t *bad,
                        bool *used_index) {
  mpi_backend *b = w->pool->backend_data;
  slot *s = &b->slots[w->id];
  outcome o = {job, from, bad};
  for (size_t k = from; k < to;) {
    if (parc__job_canceled(job)) {
      fail_range(&o, k, to, PARC_ECANCELED, NULL);
      return;
    }
    if (atomic_load(&b->lost)) {
      fail_range(&o, k, to, PARC_ECRASH, b->lost_message);
      return;
    }
    size_t n = round_size(job, to - k);
    int rc = stage_run(s, job, k, n);
    if (rc != PARC_OK) {
      fail_range(&o, k, to, rc, parc_errmsg());
      return;
    }
    s->job = job;
    s->error = 0;
    atomic_store(&s->first, job->record.first + k);
    atomic_store(&s->count, n);
    uint64_t start = parc__now_ns();
    round_trip(b, s);
    if (s->error) {
      s->has_context = false;
      lose(b, s);
      continue;
    }
    record(w, s, &o, k, n, used_index, start);
    k += n;
  }
}

/* ---- when mpirun ends the job ---------------------------------------------- */
/* Open MPI 4.1 ends the whole job when a rank dies: mpirun sends the other
   ranks SIGTERM (then SIGKILL), and names the dead rank itself. Rank 0's
   last word, if the program left SIGTERM alone: which tasks each leader
   held. Async-signal-safe: write(2) and integer formatting only. */
static mpi_backend *live;

static char *put_text(char *p, const char *s) {
  while (*s) *p++ = *s++;
  return p;
}

static char *put_number(char *p, size_t v) {
  char digits[24];
  int n = 0;
  do digits[n++] = (char)('0' + v % 10); while ((v /= 10) > 0);
  while (n) *p++ = digits[--n];
  return p;
}

static void on_sigterm(int sig) {
  mpi_backend *b = live;
  for (int i = 0; b && i < b->nslots; i++) {
    slot *s = &b->slots[i];
    uint32_t state = atomic_load(&s->state);
    if (state != SLOT_SENT && state != SLOT_QUEUED) continue;
    char line[160], *p = line;
    size_t first = atomic_load(&s->first), count = atomic_load(&s->count);
    p = put_text(p, "parc: the MPI job was ended while rank ");
    p = put_number(p, (size_t)s->leader);
    p = put_text(p, " ran tasks ");
    p = put_number(p, first);
    p = put_text(p, "..");
    p = put_number(p, first + count - 1);
    p = put_text(p, " of a group\n");
    ssize_t ignored = write(2, line, (size_t)(p - line));
    (void)ignored;
  }
  signal(sig, SIG_DFL);
  raise(sig);
}

static void watch_sigterm(mpi_backend *b) {
  struct sigaction old;
  if (sigaction(SIGTERM, NULL, &old) != 0 || old.sa_handler != SIG_DFL || (old.sa_flags & SA_SIGINFO))
    return;
  live = b;
  signal(SIGTERM, on_sigterm);
}

static void unwatch_sigterm(mpi_backend *b) {
  struct sigaction old;
  if (live != b) return;
  if (sigaction(SIGTERM, NULL, &old) == 0 && old.sa_handler == on_sigterm) signal(SIGTERM, SIG_DFL);
  live = NULL;
}

/* ---- start and stop ------------------------------------------------------ */

static void *proxy_main(void *arg) {
  slot *s = arg;
  parc__dispatch_worker_loop(s->b->pool, s->id, mpi_execute);
  return NULL;
}

void parc__mpi_leave(parc__mpi_world *world) {
  parc__mpi_context head = {0, 0};
  for (int r = 1; r < world->size; r++)
    MPI_Send(&head, (int)sizeof head, MPI_BYTE, r, PARC__MPI_TAG_QUIT, world->comm);
  MPI_Request req;
  MPI_Ibarrier(world->comm, &req);
  int done = 0;
  while (MPI_Test(&req, &done, MPI_STATUS_IGNORE) == MPI_SUCCESS && !done) {
    struct timespec t = {0, 200000};
    nanosleep(&t, NULL);
  }
  MPI_Comm_free(&world->comm);
  parc__free(world->leaders);
  parc__free(world->workers);
  world->leaders = world->workers = NULL;
  if (world->ours) MPI_Finalize();
}

static void shut_down(mpi_backend *b) {
  unwatch_sigterm(b);
  parc__pool_close(b->pool);
  for (int i = 0; i < b->started; i++) pthread_join(b->threads[i], NULL);
  if (b->progress_started) {
    atomic_store(&b->quit, true);
    atomic_fetch_add(&b->wake, 1);
    parc__futex_wake(&b->wake);
    pthread_join(b->progress, NULL);
  }
  parc__mpi_leave(&b->world);
  for (int i = 0; b->slots && i < b->nslots; i++) {
    parc__free(b->slots[i].run);
    parc__free(b->slots[i].context);
    parc__free(b->slots[i].reply);
  }
  parc__free(b->slots);
  parc__free(b->threads);
  pthread_mutex_destroy(&b->lock);
  pthread_mutex_destroy(&b->mpi);
  parc__free(b);
}

static int slots_per_leader(void) {
  const char *s = getenv("PARC_MPI_INFLIGHT");
  int n = s ? atoi(s) : 2;
  return n < 1 ? 1 : n > INFLIGHT_MAX ? INFLIGHT_MAX : n;
}

static int mpi_start(parc_pool *pool) {
  mpi_backend *b = parc__calloc(1, sizeof *b);
  if (!b) {
    parc__mpi_leave(&parc__mpi_joined);
    return parc__error(PARC_ENOMEM, "parc_pool_create: out of memory");
  }
  b->pool = pool;
  b->world = parc__mpi_joined;
  memset(&parc__mpi_joined, 0, sizeof parc__mpi_joined);
  pthread_mutex_init(&b->lock, NULL);
  pthread_mutex_init(&b->mpi, NULL);
  pool->backend_data = b;
  int workers = 0, per = slots_per_leader();
  for (int i = 0; i < b->world.nleaders; i++) workers += b->world.workers[i] > 0 ? b->world.workers[i] : 0;
  int rc = PARC_OK;
  if (workers == 0) {
    rc = parc__error(PARC_EBACKEND, "parc_pool_create: no MPI rank could start a local pool "
                                    "(their messages are on stderr)");
    goto fail;
  }
  b->nslots = b->world.nleaders * per;
  b->slots = parc__calloc((size_t)b->nslots, sizeof *b->slots);
  b->threads = parc__calloc((size_t)b->nslots, sizeof *b->threads);
  if (!b->slots || !b->threads) {
    rc = parc__error(PARC_ENOMEM, "parc_pool_create: out of memory for %d MPI slots", b->nslots);
    goto fail;
  }
  pool->workers = workers;
  if (pthread_create(&b->progress, NULL, parc__mpi_progress_main, b) != 0) {
    rc = parc__error_errno("parc_pool_create: pthread_create (MPI progress)");
    goto fail;
  }
  b->progress_started = true;
  for (int i = 0; i < b->nslots; i++) {
    slot *s = &b->slots[i];
    s->b = b;
    s->id = i;
    s->leader = b->world.leaders[i % b->world.nleaders];   /* leaders first, then again */
    if (pthread_create(&b->threads[i], NULL, proxy_main, s) != 0) break;
    b->started++;
  }
  if (b->started == 0) {
    rc = parc__error_errno("parc_pool_create: pthread_create (MPI proxy)");
    goto fail;
  }
  watch_sigterm(b);
  return PARC_OK;
fail:
  shut_down(b);
  pool->backend_data = NULL;
  pool->closing = false;
  return rc;
}

static void mpi_stop(parc_pool *pool) {
  shut_down(pool->backend_data);
  pool->backend_data = NULL;
}

const parc__backend_ops parc__backend_mpi = {
    .name = "mpi",
    .start = mpi_start,
    .stop = mpi_stop,
    .execute = mpi_execute,
    /* A round trip costs 0.1-2 ms (more when ranks outnumber cores): claims
       of 10 ms of work keep it a small share. */
    .chunk_target_ns = 10000000,
    .chunk_growth = 16,
    .prepare = parc__mpi_join,
};

#endif /* PARC_HAVE_MPI */
