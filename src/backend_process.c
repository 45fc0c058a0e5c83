/*
 * backend_process.c — PARC_PROCESSES: each worker is a process, so a task
 * that crashes or hangs costs that task alone.
 *
 * Shape. parc_pool_create forks one fork server (process_server.c), which
 * forks the workers. In the caller, one proxy thread per worker runs the
 * dispatch worker loop (dispatch.c): it claims chunks exactly as a thread
 * worker does, and this file is its executor: it ships the tasks to its
 * worker through the worker's slot in shared memory (shared.c) and waits,
 * spinning briefly and then on a futex.
 * The worker runs the tasks and writes outputs, a done count and the last
 * status in place; the proxy copies the outputs into the caller's buffer
 * and reports each task. Inputs and outputs already in parc_shared_alloc
 * memory are used in place, without a copy.
 *
 * Faults. When a worker dies, the server reaps it and marks its slot DEAD;
 * a worker that crashes on a signal it can catch marks it DEAD itself first
 * (process_server.c), and once a worker has been replaced the server keeps
 * a spare, so a replacement is usually ready at once.
 * The proxy then knows from the done count which tasks finished (they are
 * kept), which one was running (it is blamed: PARC_ECRASH, or retried while
 * config.retries allows) and which had not started (posted again to the
 * replacement, which the proxy requests at once). A task past
 * config.timeout gets SIGTERM, then SIGKILL after a grace period, through
 * the server — only the server knows whether a pid is still its unreaped
 * child — and ends PARC_ETIMEDOUT. A worker stops at a task's failure, so
 * that stop_on_error cancels the rest of a chunk as it does on threads.
 */
#include "process.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define PROXY_SPIN 30                         /* polls of `reply` before sleeping (~5 us) */
#define SERVER_CHECK_NS 100000000ull          /* a sleeping proxy checks the server this often */
#define KILL_GRACE_NS 250000000ull            /* SIGTERM, then SIGKILL this much later */
#define ROUND_BYTES ((size_t)8 << 20)         /* at most this much copied per round */
#define BUFFER_MIN ((size_t)64 << 10)

typedef struct process_backend process_backend;

typedef struct proxy {
  process_backend *backend;
  parc__slot *slot;
  char *buffer;               /* shared: inputs, outputs and dependencies of a round */
  size_t capacity;
  char *context;              /* shared: the worker's copy of the group context */
  size_t context_capacity, context_size;
  const void *context_source; /* what `context` is a copy of */
  bool ready;                 /* the worker in the slot is READY */
  bool starting;              /* a spawn was requested */
  unsigned tasks;             /* tasks run by the current worker */
  parc_fn exec_fn;            /* exec start: the fn whose (object, offset) is in the slot */
  uint32_t epoch;             /* the fork server its worker was asked of */
} proxy;

struct process_backend {
  parc_pool *pool;
  int sock;                   /* our end of the server's request socket */
  pid_t server;
  int nslots;
  bool exec;                  /* exec start: fns travel as (object, offset) */
  parc__slot *slots;          /* shared: nslots, then the spare's */
  pid_t *pids;                /* the server's tables (its copies are the ones in use) */
  uint32_t *generations;
  proxy *proxies;
  pthread_t *threads;
  int started;
  _Atomic bool stopping;
  _Atomic bool server_gone;
  /* A fork server that dies (kill -9, the OOM killer, a task killing its
     parent) is replaced: `sock` and `server` are read under server_lock
     (requests, polls) and written under it by the restart, which
     restart_lock makes one at a time; epoch counts the restarts, so each
     proxy knows its worker belonged to a server that is gone. */
  pthread_rwlock_t server_lock;
  pthread_mutex_t restart_lock;
  _Atomic uint32_t epoch;
  char broken[PARC__MESSAGE_MAX];   /* a restart failed: why (restart_lock) */
};

/* ---- talking to the server ----------------------------------------------- */

static bool server_lost(process_backend *b) {
  if (atomic_load(&b->server_gone)) return true;
  /* The server never writes: readable or hung up means it has exited. */
  pthread_rwlock_rdlock(&b->server_lock);
  struct pollfd pfd = {b->sock, POLLIN, 0};
  if (poll(&pfd, 1, 0) > 0 && pfd.revents) atomic_store(&b->server_gone, true);
  pthread_rwlock_unlock(&b->server_lock);
  return atomic_load(&b->server_gone);
}

static void request(process_backend *b, int op, int slot, int sig) {
  parc__request req = {op, slot, sig};
  pthread_rwlock_rdlock(&b->server_lock);
  if (send(b->sock, &req, sizeof req, MSG_NOSIGNAL) != (ssize_t)sizeof req)
    atomic_store(&b->server_gone, true);
  pthread_rwlock_unlock(&b->server_lock);
}

/* Waits until slot->reply differs from seen, deadline_ns (0: none) passes,
   or the server is found gone or replaced (its epoch moved on). */
static void wait_reply(process_backend *b, parc__slot *slot, uint32_t seen, uint64_t deadline_ns,
                       uint32_t epoch) {
  for (int i = 0; i < PROXY_SPIN; i++) {
    if (atomic_load_explicit(&slot->reply, memory_order_acquire) != seen) return;
    __builtin_ia32_pause();
  }
  for (;;) {
    uint64_t now = parc__now_ns();
    if (deadline_ns && now >= deadline_ns) return;
    uint64_t slice = SERVER_CHECK_NS;
    if (deadline_ns && deadline_ns - now < slice) slice = deadline_ns - now;
    atomic_fetch_add(&slot->proxy_sleeping, 1);
    if (atomic_load(&slot->reply) == seen) parc__futex_wait(&slot->reply, seen, slice);
    atomic_fetch_sub(&slot->proxy_sleeping, 1);
    /* Gone, or replaced: a new server does not know this slot's worker. */
    if (atomic_load(&slot->reply) != seen || server_lost(b) || atomic_load(&b->epoch) != epoch)
      return;
  }
}

static void spawn(process_backend *b, proxy *p) {
  p->ready = false;
  p->tasks = 0;
  if (atomic_load(&b->stopping)) return;
  atomic_fetch_add(&p->slot->generation, 1);
  atomic_store(&p->slot->state, PARC__SLOT_STARTING);
  p->starting = true;
  p->epoch = atomic_load(&b->epoch);
  request(b, PARC__REQ_SPAWN, (int)(p - b->proxies), 0);
}

/* Waits until the server has forked p's worker: 0, or fork's errno (EAGAIN
   when the server is gone or does not answer within 10 s). A worker that
   dies at once (in worker_init) counts as forked: running tasks reports it. */
static int await_forked(process_backend *b, proxy *p) {
  uint64_t until = parc__now_ns() + 10000000000ull;
  for (;;) {
    if (atomic_load(&p->slot->pid) != 0) return 0;
    if (atomic_load(&p->slot->state) == PARC__SLOT_DEAD) {
      int err = atomic_load(&p->slot->spawn_errno);
      return err;
    }
    if (server_lost(b) || parc__now_ns() > until) return EAGAIN;
    struct timespec pause = {0, 20000};
    nanosleep(&pause, NULL);
  }
}

enum { WORKER_READY, WORKER_DIED, SERVER_GONE };

/* Makes sure a worker is READY in p's slot. WORKER_DIED: it died before
   (in worker_init) or could not be forked; *wait_status / *spawn_errno say how. */
static int await_ready(process_backend *b, proxy *p, int *wait_status, int *spawn_errno) {
  if (p->epoch != atomic_load(&b->epoch)) {
    /* Its worker died with the server a restart replaced. */
    p->ready = false;
    p->starting = false;
  }
  if (p->ready) return WORKER_READY;
  if (!p->starting) spawn(b, p);
  parc__slot *slot = p->slot;
  for (;;) {
    uint32_t seen = atomic_load(&slot->reply);
    int state = atomic_load(&slot->state);
    if (state == PARC__SLOT_READY) {
      p->ready = true;
      p->starting = false;
      return WORKER_READY;
    }
    if (state == PARC__SLOT_DEAD) {
      p->starting = false;
      *wait_status = atomic_load(&slot->wait_status);
      *spawn_errno = atomic_load(&slot->spawn_errno);
      return WORKER_DIED;
    }
    if (server_lost(b) || !p->starting || p->epoch != atomic_load(&b->epoch)) return SERVER_GONE;
    wait_reply(b, slot, seen, 0, p->epoch);
  }
}

/* Retires the worker (max_tasks_per_worker) and requests its replacement.
   The slot's generation moves on first; then the old worker, woken, finds
   it stale and exits by itself, and the server does not report its death. */
static void retire(process_backend *b, proxy *p) {
  parc__slot *slot = p->slot;
  atomic_fetch_add(&slot->generation, 1);
  slot->op = PARC__OP_EXIT;
  atomic_fetch_add(&slot->command, 1);
  if (atomic_load(&slot->worker_sleeping)) parc__futex_wake(&slot->command);
  /* Only now: the replacement must start after the EXIT it must not obey. */
  spawn(b, p);
}

static char *death_message(const char *prefix, int status) {
  if (WIFSIGNALED(status))
    return parc__format("%skilled by signal %d (%s)", prefix, WTERMSIG(status),
                        strsignal(WTERMSIG(status)));
  return parc__format("%sexited with status %d", prefix, WEXITSTATUS(status));
}

/* ---- one round: post tasks [k, k + n) of a job, wait for the outcome ----- */

enum { ROUND_COMPLETE, ROUND_DIED, ROUND_GONE, ROUND_NOMEM };

typedef struct round {
  int kind;
  size_t done;                /* tasks finished: [0, done) */
  int last_status;
  int wait_status;            /* ROUND_DIED */
  bool taken;                 /* the worker had started this round */
  bool killed;                /* we killed it for a timeout ... */
  size_t killed_at;           /* ... of this task of the round */
  uint64_t elapsed_ns;
  bool used_index;            /* a task called parc_task_index or parc_task_rng */
  char *out;                  /* where the worker wrote outputs */
} round;

static bool ensure_buffer(proxy *p, size_t need) {
  if (need <= p->capacity) return true;
  size_t capacity = p->capacity ? p->capacity : BUFFER_MIN;
  while (capacity < need) capacity *= 2;
  char *buffer = parc_shared_alloc(capacity);
  if (!buffer) return false;
  parc_shared_free(p->buffer);
  p->buffer = buffer;
  p->capacity = capacity;
  return true;
}

/* The worker's copy of the group's context. A context in shared memory is
   used in place; another is compared with our copy before each round (the
   caller may reuse a buffer with new contents for a new group). */
static bool ship_context(proxy *p, parc_task *t) {
  if (!t->context || !t->context_size || parc__shared_contains(t->context, t->context_size))
    return true;
  if (p->context_source == t->context && p->context_size == t->context_size &&
      memcmp(p->context, t->context, t->context_size) == 0) {
    t->context = p->context;
    return true;
  }
  if (p->context_capacity < t->context_size) {
    char *copy = parc_shared_alloc(t->context_size);
    if (!copy) return false;
    parc_shared_free(p->context);
    p->context = copy;
    p->context_capacity = t->context_size;
  }
  memcpy(p->context, t->context, t->context_size);
  p->context_source = t->context;
  p->context_size = t->context_size;
  t->context = p->context;
  return true;
}

static size_t align16(size_t n) { return (n + 15) & ~(size_t)15; }

/* Lays out the round's inputs, outputs and dependencies in shared memory
   and fills the slot's command. */
static bool stage(proxy *p, const parc__job *job, size_t k, size_t n, parc_task *t, round *r) {
  parc__slot *slot = p->slot;
  const parc__tasks *d = &job->tasks;
  const char *in = d->in_size ? d->in + k * d->in_size : NULL;
  char *out = d->out_size ? d->out + k * d->out_size : NULL;
  bool copy_in = in && !parc__shared_contains(in, n * d->in_size);
  bool copy_out = out && !parc__shared_contains(out, n * d->out_size);
  size_t in_bytes = copy_in ? align16(n * d->in_size) : 0;
  size_t out_bytes = copy_out ? align16(n * d->out_size) : 0;
  size_t dep_bytes = align16(t->ndeps * sizeof(parc__dep));
  for (size_t i = 0; i < t->ndeps; i++) dep_bytes += align16(t->deps[i].size);
  size_t time_bytes = job->timed ? 2 * n * sizeof(uint64_t) : 0;
  if (!ensure_buffer(p, in_bytes + out_bytes + dep_bytes + time_bytes)) return false;
  if (!ship_context(p, t)) return false;
  if (copy_in) memcpy(p->buffer, in, n * d->in_size);
  if (t->ndeps) {
    parc__dep *deps = (parc__dep *)(p->buffer + in_bytes + out_bytes);
    char *data = (char *)deps + align16(t->ndeps * sizeof(parc__dep));
    for (size_t i = 0; i < t->ndeps; i++) {
      deps[i].size = t->deps[i].size;
      deps[i].data = t->deps[i].size ? data : NULL;
      if (t->deps[i].size) memcpy(data, t->deps[i].data, t->deps[i].size);
      data += align16(t->deps[i].size);
    }
    t->deps = deps;
  }
  r->out = copy_out ? p->buffer + in_bytes : out;
  slot->op = PARC__OP_RUN;
  if (p->backend->exec && p->exec_fn != d->fn) {
    parc__fn_locate((const void *)d->fn, slot->fn_object, &slot->fn_offset);
    p->exec_fn = d->fn;
  }
  slot->fn = d->fn;
  slot->task = *t;
  slot->in = copy_in ? p->buffer : in;
  slot->in_size = d->in_size;
  slot->out = r->out;
  slot->out_size = d->out_size;
  slot->count = n;
  slot->times = time_bytes ? (uint64_t *)(p->buffer + in_bytes + out_bytes + dep_bytes) : NULL;
  if (slot->times) memset(slot->times, 0, time_bytes);
  atomic_store(&slot->done, 0);
  atomic_store(&slot->started_ns, 0);
  return true;
}

/* Decides, while a round runs, whether its current task is past the
   timeout; sends SIGTERM, then SIGKILL. Returns the next deadline. */
static uint64_t police_timeout(process_backend *b, proxy *p, uint32_t command, round *r,
                               int *kill_stage, uint64_t *grace_end) {
  parc__slot *slot = p->slot;
  uint64_t timeout_ns = (uint64_t)(b->pool->config.timeout * 1e9);
  uint64_t now = parc__now_ns();
  int id = (int)(p - b->proxies);
  if (*kill_stage == 1) {
    if (now < *grace_end) return *grace_end;
    request(b, PARC__REQ_KILL, id, SIGKILL);
    *kill_stage = 2;
  }
  if (*kill_stage == 2) return 0;
  size_t done = atomic_load(&slot->done);
  uint64_t started = atomic_load(&slot->started_ns);
  if (atomic_load(&slot->taken) != command || started == 0 || atomic_load(&slot->done) != done)
    return now + timeout_ns / 4 + 1000000;
  if (now < started + timeout_ns) return started + timeout_ns;
  r->killed = true;
  r->killed_at = done;
  request(b, PARC__REQ_KILL, id, SIGTERM);
  *kill_stage = 1;
  *grace_end = now + KILL_GRACE_NS;
  return *grace_end;
}

static void run_round(process_backend *b, proxy *p, const parc__job *job, size_t k, size_t n,
                      int worker, round *r) {
  memset(r, 0, sizeof *r);
  parc_task t;
  parc__task_init(&t, &job->tasks, worker);
  t.index = job->tasks.index_base + k;
  if (!stage(p, job, k, n, &t, r)) {
    r->kind = ROUND_NOMEM;
    return;
  }
  parc__slot *slot = p->slot;
  /* A command goes only to a worker that said READY. */
  assert(p->ready && atomic_load(&slot->state) != PARC__SLOT_STARTING);
  slot->timed = b->pool->config.timeout > 0;
  uint32_t command = atomic_fetch_add(&slot->command, 1) + 1;
  if (atomic_load(&slot->worker_sleeping)) parc__futex_wake(&slot->command);
  int kill_stage = 0;
  uint64_t grace_end = 0;
  for (;;) {
    uint32_t seen = atomic_load(&slot->reply);
    if (atomic_load_explicit(&slot->finished, memory_order_acquire) == command) {
      r->kind = ROUND_COMPLETE;
      r->elapsed_ns = slot->elapsed_ns;
      break;
    }
    if (atomic_load(&slot->state) == PARC__SLOT_DEAD) {
      r->kind = ROUND_DIED;
      r->wait_status = atomic_load(&slot->wait_status);
      r->taken = atomic_load(&slot->taken) == command;
      break;
    }
    if (server_lost(b) || p->epoch != atomic_load(&b->epoch)) {
      r->kind = ROUND_GONE;
      r->taken = atomic_load(&slot->taken) == command;
      break;
    }
    uint64_t deadline = slot->timed ? police_timeout(b, p, command, r, &kill_stage, &grace_end) : 0;
    wait_reply(b, slot, seen, deadline, p->epoch);
  }
  r->done = atomic_load_explicit(&slot->done, memory_order_acquire);
  r->last_status = slot->last_status;
  /* A complete round ran every task, or stopped at its one failure. */
  assert(r->done <= n && (r->kind != ROUND_COMPLETE || r->done == n || r->last_status != PARC_OK));
  r->used_index = slot->used_index;
}

/* ---- a new fork server ------------------------------------------------------ */

static int fork_server(process_backend *b, const parc_config *cfg);

/* The server of epoch `seen` is gone: starts another (once, whichever
   proxy comes first) and says whether the pool can go on; if not,
   b->broken says why. With fork start the new server is a copy of the
   caller as it is now (its workers see today's memory). */
static bool restart_server(process_backend *b, uint32_t seen) {
  pthread_mutex_lock(&b->restart_lock);
  if (atomic_load(&b->epoch) == seen && !b->broken[0] && !atomic_load(&b->stopping)) {
    pthread_rwlock_wrlock(&b->server_lock);
    while (waitpid(b->server, NULL, 0) < 0 && errno == EINTR) {
    }
    parc__server_unregister_fd(b->sock);
    close(b->sock);
    b->sock = -1;
    memset(b->pids, 0, (size_t)b->nslots * sizeof *b->pids);
    memset(b->generations, 0, (size_t)b->nslots * sizeof *b->generations);
    if (fork_server(b, &b->pool->config) != PARC_OK)
      snprintf(b->broken, sizeof b->broken,
               "the pool is broken: its fork server died and a new one could not start (%s)",
               parc_errmsg());
    else
      atomic_store(&b->server_gone, false);
    atomic_fetch_add(&b->epoch, 1);
    pthread_rwlock_unlock(&b->server_lock);
  }
  bool ok = !b->broken[0] && !atomic_load(&b->stopping);
  pthread_mutex_unlock(&b->restart_lock);
  return ok;
}

static const char *broken_reason(process_backend *b) {
  return b->broken[0] ? b->broken : "the pool's fork server is gone";
}

/* ---- the executor --------------------------------------------------------- */

/* What one call of the executor reports back to dispatch. */
typedef struct outcome {
  parc__job *job;
  size_t from;
  uint64_t *bad;              /* NULL, or bit k - from: task k did not succeed */
  bool *used_index;
} outcome;

static void fail(const outcome *o, size_t k, int status, char *message) {
  parc__completion_fail(&o->job->record, k, status, message);
  if (o->bad) *o->bad |= (uint64_t)1 << (k - o->from);
}

static void fail_range(const outcome *o, size_t from, size_t to, int status, const char *text) {
  for (size_t k = from; k < to; k++) fail(o, k, status, text ? parc__format("%s", text) : NULL);
}

/* Reports the tasks a round finished, [k, k + r->done): all succeeded but
   perhaps the last (a worker stops at a failure). */
/* A timed job: each task the round ran, from the times its worker wrote;
   the one that was running when it died ends now, with `status`. Untimed:
   the round's busy time. */
static void time_round(const outcome *o, parc__worker *w, proxy *p, size_t k, const round *r,
                       int died_status, unsigned try_number) {
  parc__job *job = o->job;
  if (!job->timed) {
    if (r->kind == ROUND_COMPLETE && !job->batch)
      parc__completion_timing(&job->record, r->elapsed_ns, 0, SIZE_MAX);
    return;
  }
  const uint64_t *times = p->slot->times;
  for (size_t i = 0; times && i < r->done; i++) {
    int status = i + 1 == r->done ? r->last_status : PARC_OK;
    parc__dispatch_task_ran(w, job, k + i, times[2 * i], times[2 * i + 1], status,
                            i == 0 ? try_number : 1);
  }
  if (died_status && times && times[2 * r->done])
    parc__dispatch_task_ran(w, job, k + r->done, times[2 * r->done], parc__now_ns(), died_status,
                            try_number);
}

/* The trace's instant event for a worker that died running task k. */
static void trace_death(parc__job *job, int worker, size_t k, const round *r) {
  char *message = r->killed ? NULL : death_message("", r->wait_status);
  if (r->kind == ROUND_GONE) {
    parc__free(message);
    message = parc__format("the pool's fork server died");
  }
  parc__trace_instant(job->trace, r->killed ? PARC__TRACE_TIMEOUT : PARC__TRACE_CRASH, worker,
                      job->record.first + k, 0, message);
  parc__free(message);
}

static void record(const outcome *o, proxy *p, size_t k, const round *r) {
  parc__job *job = o->job;
  char *out = job->tasks.out_size ? job->tasks.out + k * job->tasks.out_size : NULL;
  if (out && r->done && r->out != out) memcpy(out, r->out, r->done * job->tasks.out_size);
  if (r->used_index && o->used_index) *o->used_index = true;
  if (r->done == 0) return;
  bool last_failed = r->last_status != PARC_OK;
  parc__completion_ok(&job->record, k, k + r->done - last_failed);
  if (last_failed) fail(o, k + r->done - 1, r->last_status, parc__format("%s", p->slot->message));
}

static size_t round_size(const process_backend *b, const proxy *p, const parc__job *job,
                         size_t left) {
  size_t n = left;
  size_t record_bytes = job->tasks.in_size + job->tasks.out_size;
  if (record_bytes && n > ROUND_BYTES / record_bytes) n = ROUND_BYTES / record_bytes;
  unsigned max = b->pool->config.max_tasks_per_worker;
  if (max && n > max - p->tasks) n = max - p->tasks;
  return n ? n : 1;
}

/* Runs tasks [from, to) of job on w's worker process: rounds of tasks
   posted to its slot, deaths blamed on the task that was running (or
   retried), replacements requested at once. */
static void process_execute(parc__worker *w, parc__job *job, size_t from, size_t to,
                            uint64_t *bad, bool *used_index) {
  process_backend *b = w->pool->backend_data;
  proxy *p = &b->proxies[w->id];
  const parc_config *cfg = &b->pool->config;
  outcome o = {job, from, bad, used_index};
  size_t k = from;
  int attempts = 0;                /* deaths so far blamed on task k */
  while (k < to) {
    if (atomic_load(&b->stopping) || parc__job_canceled(job)) {
      fail_range(&o, k, to, PARC_ECANCELED, NULL);
      break;
    }
    int wait_status = 0, spawn_errno = 0;
    int ready = await_ready(b, p, &wait_status, &spawn_errno);
    if (ready == SERVER_GONE) {
      if (restart_server(b, p->epoch)) continue;   /* tasks not started are not lost */
      fail_range(&o, k, to, PARC_ECRASH, broken_reason(b));
      break;
    }
    if (ready == WORKER_DIED) {
      if (atomic_load(&b->stopping)) continue;
      if (++attempts > cfg->retries) {
        char *message = spawn_errno
                            ? parc__format("cannot fork a worker: %s", strerror(spawn_errno))
                            : death_message("worker_init: ", wait_status);
        fail(&o, k++, PARC_ECRASH, message);
        attempts = 0;
      }
      continue;
    }
    size_t n = round_size(b, p, job, to - k);
    round r;
    run_round(b, p, job, k, n, w->id, &r);
    if (r.kind == ROUND_NOMEM) {
      fail_range(&o, k, to, PARC_ENOMEM, "out of shared memory for the worker's buffers");
      break;
    }
    bool died = r.kind != ROUND_COMPLETE && r.taken && r.done < n;
    int died_status = !died ? 0 : r.killed ? PARC_ETIMEDOUT : PARC_ECRASH;
    time_round(&o, w, p, k, &r, died_status, (unsigned)attempts + 1);
    if (died && job->trace) trace_death(job, w->id, k + r.done, &r);
    record(&o, p, k, &r);
    k += r.done;
    p->tasks += (unsigned)r.done;
    if (r.done) attempts = 0;
    if (r.kind == ROUND_COMPLETE) {
      if (cfg->max_tasks_per_worker && p->tasks >= cfg->max_tasks_per_worker) retire(b, p);
      continue;
    }
    if (r.kind == ROUND_GONE) {
      /* The task that was running died with the server: a crash of its
         (retried while retries allow); the rest run on a new server. */
      bool blamed = r.taken && r.done < n && ++attempts > cfg->retries;
      if (blamed) {
        fail(&o, k++, PARC_ECRASH, parc__format("the pool's fork server died while it ran"));
        attempts = 0;
      }
      if (restart_server(b, p->epoch)) continue;
      fail_range(&o, k, to, PARC_ECRASH, broken_reason(b));
      break;
    }
    /* The worker died: replace it at once, then decide who is to blame. */
    spawn(b, p);
    if (job->trace) parc__trace_instant(job->trace, PARC__TRACE_REPLACE, w->id, job->record.first + k, 0, NULL);
    if (atomic_load(&b->stopping)) {
      if (r.taken && r.done < n) fail(&o, k++, PARC_ECRASH, parc__format("stopped by parc_pool_destroy"));
      continue;
    }
    /* Not started, or killed for a task that finished after all: not its fault. */
    if (r.done >= n || !r.taken || (r.killed && r.killed_at != r.done)) continue;
    if (++attempts <= cfg->retries) {
      if (job->trace)
        parc__trace_instant(job->trace, PARC__TRACE_RETRY, w->id, job->record.first + k,
                            (uint64_t)attempts + 1, NULL);
      continue;
    }
    if (r.killed)
      fail(&o, k++, PARC_ETIMEDOUT, parc__format("ran past the timeout of %g s", cfg->timeout));
    else
      fail(&o, k++, PARC_ECRASH, death_message("", r.wait_status));
    attempts = 0;
  }
}

/* ---- start and stop ------------------------------------------------------ */

static void *proxy_main(void *arg) {
  proxy *p = arg;
  parc__dispatch_worker_loop(p->backend->pool, (int)(p - p->backend->proxies), process_execute);
  return NULL;
}

static void free_backend(process_backend *b) {
  if (!b) return;
  if (b->proxies) {
    for (int i = 0; i < b->nslots; i++) {
      parc_shared_free(b->proxies[i].buffer);
      parc_shared_free(b->proxies[i].context);
    }
  }
  parc_shared_free(b->slots);
  parc__free(b->pids);
  parc__free(b->generations);
  parc__free(b->proxies);
  parc__free(b->threads);
  pthread_rwlock_destroy(&b->server_lock);
  pthread_mutex_destroy(&b->restart_lock);
  parc__free(b);
}

/* Stops the server (which kills the workers), joins the proxies, reaps. */
static void shut_down(process_backend *b) {
  atomic_store(&b->stopping, true);
  request(b, PARC__REQ_QUIT, 0, 0);
  parc__pool_close(b->pool);
  for (int i = 0; i < b->started; i++) pthread_join(b->threads[i], NULL);
  while (waitpid(b->server, NULL, 0) < 0 && errno == EINTR) {
  }
  parc__server_unregister_fd(b->sock);
  close(b->sock);
  free_backend(b);
}

static int fork_server(process_backend *b, const parc_config *cfg) {
  int sv[2];
  if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) != 0)
    return parc__error_errno("parc_pool_create: socketpair for the fork server");
  parc__server_register_fd(sv[0]);
  parc__server_register_fd(sv[1]);
  int cpus = parc_cpu_count();
  parc__server_config server = {
      .slots = b->slots,
      .nslots = b->nslots,
      .sock = sv[1],
      .pids = b->pids,
      .generations = b->generations,
      .spare = &b->slots[b->nslots],
      .worker_init = cfg->worker_init,
      .worker_init_arg = cfg->worker_init_arg,
      .threads_per_worker = cpus / b->nslots > 1 ? cpus / b->nslots : 1,
  };
  /* No signal handler of the caller may run in the server before it has
     set itself up; workers get the caller's mask back. */
  sigset_t all;
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, &server.worker_mask);
  parc__exec *exec = NULL;
  int rc = PARC_OK;
  if (b->exec) {
    server.exec = true;
    rc = parc__exec_prepare(&server, &exec);
  }
  pid_t pid = -1;
  if (rc == PARC_OK) {
    pid = b->exec ? parc__exec_fork(exec) : fork();
    if (pid == 0) parc__server_main(&server);
  }
  int saved = errno;
  pthread_sigmask(SIG_SETMASK, &server.worker_mask, NULL);
  parc__server_unregister_fd(sv[1]);
  close(sv[1]);
  if (rc == PARC_OK && pid < 0) {
    errno = saved;
    rc = parc__error_errno("parc_pool_create: fork of the fork server");
  }
  if (rc == PARC_OK && b->exec) rc = parc__exec_await(exec, pid);
  parc__exec_free(exec);
  if (rc != PARC_OK) {
    parc__server_unregister_fd(sv[0]);
    close(sv[0]);
    return rc;
  }
  b->sock = sv[0];
  b->server = pid;
  return PARC_OK;
}

static int processes_start(parc_pool *pool) {
  if (pool->config.start != PARC_START_FORK && pool->config.start != PARC_START_EXEC)
    return parc__error(PARC_EINVAL, "parc_pool_create: unknown start method %d", pool->config.start);
  /* A worker's shared memory is its caller's, and so are its slots. */
  if (parc__in_worker)
    return parc__error(PARC_EBACKEND,
                       "parc_pool_create: a PROCESSES pool cannot be created inside a process "
                       "worker (the shared memory it needs belongs to the worker's caller); "
                       "use PARC_THREADS or PARC_SERIAL inside tasks, or map on the pool that "
                       "runs the task");
  int rc = parc__shared_init();
  if (rc) return rc;
  process_backend *b = parc__calloc(1, sizeof *b);
  if (!b) return parc__error(PARC_ENOMEM, "parc_pool_create: out of memory");
  b->pool = pool;
  pthread_rwlock_init(&b->server_lock, NULL);
  pthread_mutex_init(&b->restart_lock, NULL);
  b->nslots = pool->workers;
  b->exec = pool->config.start == PARC_START_EXEC;
  b->sock = -1;
  b->slots = parc_shared_alloc((size_t)(b->nslots + 1) * sizeof(parc__slot));
  b->pids = parc__calloc((size_t)b->nslots, sizeof(pid_t));
  b->generations = parc__calloc((size_t)b->nslots, sizeof(uint32_t));
  b->proxies = parc__calloc((size_t)b->nslots, sizeof(proxy));
  b->threads = parc__calloc((size_t)b->nslots, sizeof(pthread_t));
  if (!b->slots || !b->pids || !b->generations || !b->proxies || !b->threads) {
    free_backend(b);
    return parc__error(PARC_ENOMEM, "parc_pool_create: out of memory for %d workers", pool->workers);
  }
  for (int i = 0; i < b->nslots; i++) {
    b->proxies[i].backend = b;
    b->proxies[i].slot = &b->slots[i];
    atomic_store(&b->slots[i].state, PARC__SLOT_STARTING);
  }
  rc = fork_server(b, &pool->config);
  if (rc) {
    free_backend(b);
    return rc;
  }
  pool->backend_data = b;
  /* Worker by worker: its process, then its proxy thread. Where a limit
     (pids, memory) stops either, the pool runs on the workers it has, as
     GNU parallel does with job slots it cannot fill, and says so once. */
  const char *why = NULL;
  int err = 0;
  for (int i = 0; i < b->nslots; i++) {
    spawn(b, &b->proxies[i]);
    if ((err = await_forked(b, &b->proxies[i])) != 0) {
      why = "fork";
      break;
    }
    if ((err = pthread_create(&b->threads[i], NULL, proxy_main, &b->proxies[i])) != 0) {
      why = "pthread_create";
      request(b, PARC__REQ_KILL, i, SIGKILL);
      break;
    }
    b->started++;
  }
  if (b->started == 0) {
    shut_down(b);
    pool->backend_data = NULL;
    pool->closing = false;
    return parc__error(PARC_ESYS, "parc_pool_create: cannot start a worker process: %s: %s",
                       why ? why : "the fork server", err ? strerror(err) : "it is gone");
  }
  if (b->started < b->nslots) {
    fprintf(stderr, "parc: %d of %d worker processes started (%s: %s); the pool runs on %d\n",
            b->started, b->nslots, why ? why : "the fork server", err ? strerror(err) : "it is gone",
            b->started);
    pool->workers = b->started;
  }
  return PARC_OK;
}

static void processes_stop(parc_pool *pool) {
  shut_down(pool->backend_data);
  pool->backend_data = NULL;
}

const parc__backend_ops parc__backend_processes = {
    .name = "processes",
    .start = processes_start,
    .stop = processes_stop,
    .execute = process_execute,
    .chunk_target_ns = 500000,
    .chunk_growth = 8,
};
