/*
 * process_proxy.c — one proxy thread's side of its worker process: asking
 * the fork server for a worker, waiting for it, and a round: the tasks
 * posted to the worker's slot in shared memory (inputs, outputs, the
 * context, dependencies, task times), the wait for the reply (spinning
 * briefly, then on a futex), and the timeout's SIGTERM then SIGKILL.
 * The executor that decides what a round's outcome means (who is to
 * blame for a death, what is retried) is backend_process.c's.
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
#define BUFFER_MIN ((size_t)64 << 10)

/* ---- talking to the server ----------------------------------------------- */

bool parc__proxy_server_lost(process_backend *b) {
  if (atomic_load(&b->server_gone)) return true;
  /* The server never writes: readable or hung up means it has exited. */
  pthread_rwlock_rdlock(&b->server_lock);
  struct pollfd pfd = {b->sock, POLLIN, 0};
  if (poll(&pfd, 1, 0) > 0 && pfd.revents) atomic_store(&b->server_gone, true);
  pthread_rwlock_unlock(&b->server_lock);
  return atomic_load(&b->server_gone);
}

void parc__proxy_request(process_backend *b, int op, int slot, int sig) {
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
    if (atomic_load(&slot->reply) != seen || parc__proxy_server_lost(b) || atomic_load(&b->epoch) != epoch)
      return;
  }
}

void parc__proxy_spawn(process_backend *b, proxy *p) {
  p->ready = false;
  p->tasks = 0;
  if (atomic_load(&b->stopping)) return;
  atomic_fetch_add(&p->slot->generation, 1);
  atomic_store(&p->slot->state, PARC__SLOT_STARTING);
  p->starting = true;
  p->epoch = atomic_load(&b->epoch);
  parc__proxy_request(b, PARC__REQ_SPAWN, (int)(p - b->proxies), 0);
}

/* Waits until the server has forked p's worker: 0, or fork's errno (EAGAIN
   when the server is gone or does not answer within 10 s). A worker that
   dies at once (in worker_init) counts as forked: running tasks reports it. */
int parc__proxy_await_forked(process_backend *b, proxy *p) {
  uint64_t until = parc__now_ns() + 10000000000ull;
  for (;;) {
    if (atomic_load(&p->slot->pid) != 0) return 0;
    if (atomic_load(&p->slot->state) == PARC__SLOT_DEAD) {
      int err = atomic_load(&p->slot->spawn_errno);
      return err;
    }
    if (parc__proxy_server_lost(b) || parc__now_ns() > until) return EAGAIN;
    struct timespec pause = {0, 20000};
    nanosleep(&pause, NULL);
  }
}


/* Makes sure a worker is READY in p's slot. WORKER_DIED: it died before
   (in worker_init) or could not be forked; *wait_status / *spawn_errno say how. */
int parc__proxy_await_ready(process_backend *b, proxy *p, int *wait_status, int *spawn_errno) {
  if (p->epoch != atomic_load(&b->epoch)) {
    /* Its worker died with the server a restart replaced. */
    p->ready = false;
    p->starting = false;
  }
  if (p->ready) return WORKER_READY;
  if (!p->starting) parc__proxy_spawn(b, p);
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
    if (parc__proxy_server_lost(b) || !p->starting || p->epoch != atomic_load(&b->epoch)) return SERVER_GONE;
    wait_reply(b, slot, seen, 0, p->epoch);
  }
}

/* Retires the worker (max_tasks_per_worker) and requests its replacement.
   The slot's generation moves on first; then the old worker, woken, finds
   it stale and exits by itself, and the server does not report its death. */
void parc__proxy_retire(process_backend *b, proxy *p) {
  parc__slot *slot = p->slot;
  atomic_fetch_add(&slot->generation, 1);
  slot->op = PARC__OP_EXIT;
  atomic_fetch_add(&slot->command, 1);
  if (atomic_load(&slot->worker_sleeping)) parc__futex_wake(&slot->command);
  /* Only now: the replacement must start after the EXIT it must not obey. */
  parc__proxy_spawn(b, p);
}

char *parc__proxy_death_message(const char *prefix, int status) {
  if (WIFSIGNALED(status))
    return parc__format("%skilled by signal %d (%s)", prefix, WTERMSIG(status),
                        strsignal(WTERMSIG(status)));
  return parc__format("%sexited with status %d", prefix, WEXITSTATUS(status));
}

/* ---- one round: post tasks [k, k + n) of a job, wait for the outcome ----- */



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

static bool grow_allocs(proxy *p) {
  size_t capacity = p->allocs_capacity ? 2 * p->allocs_capacity : 16;
  parc_buf *grown = parc__realloc(p->allocs, capacity * sizeof *grown);
  if (!grown) return false;
  p->allocs = grown;
  p->allocs_capacity = capacity;
  return true;
}

/* The round's records of any size at `at`: a table, then a copy of each
   one not already in shared memory (read in place otherwise). */
static const parc_buf *stage_bufs(const parc_buf *bufs, size_t n, char *at) {
  parc_buf *table = (parc_buf *)at;
  char *data = at + align16(n * sizeof(parc_buf));
  for (size_t i = 0; i < n; i++) {
    table[i] = bufs[i];
    if (parc__shared_contains(bufs[i].data, bufs[i].size)) continue;
    if (bufs[i].size) memcpy(data, bufs[i].data, bufs[i].size);
    table[i].data = bufs[i].size ? data : NULL;
    data += align16(bufs[i].size);
  }
  return table;
}

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
  /* Records of any size: a table of n, and the bytes not in shared memory. */
  size_t buf_bytes = d->bufs ? align16(n * sizeof(parc_buf)) : 0;
  for (size_t i = 0; d->bufs && i < n; i++)
    if (!parc__shared_contains(d->bufs[k + i].data, d->bufs[k + i].size))
      buf_bytes += align16(d->bufs[k + i].size);
  size_t result_bytes = d->outputs ? align16(n * sizeof(parc_buf)) + PARC__ARENA_BYTES : 0;
  size_t fixed = in_bytes + out_bytes + dep_bytes + time_bytes;
  if (!ensure_buffer(p, fixed + buf_bytes + result_bytes)) return false;
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
  /* The buffer is reused round after round: a task that leaves its output
     unwritten must find zeros there, never another task's result. */
  if (copy_out) memset(r->out, 0, n * d->out_size);
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
  slot->bufs = d->bufs ? stage_bufs(d->bufs + k, n, p->buffer + fixed) : NULL;
  slot->outputs = NULL;
  slot->arena = NULL;
  slot->arena_size = 0;
  if (d->outputs) {
    slot->outputs = (parc_buf *)(p->buffer + fixed + buf_bytes);
    memset(slot->outputs, 0, n * sizeof(parc_buf));
    slot->arena = (char *)slot->outputs + align16(n * sizeof(parc_buf));
    slot->arena_size = PARC__ARENA_BYTES;
  }
  p->nallocs = 0;
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
    parc__proxy_request(b, PARC__REQ_KILL, id, SIGKILL);
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
  parc__proxy_request(b, PARC__REQ_KILL, id, SIGTERM);
  *kill_stage = 1;
  *grace_end = now + KILL_GRACE_NS;
  return *grace_end;
}

/* The worker asked for shared memory for a result: allocated here (the
   allocator is the caller's), remembered for the round's end. */
static void serve_alloc(proxy *p, uint32_t asked) {
  parc__slot *slot = p->slot;
  void *data = NULL;
  if (p->nallocs < p->allocs_capacity || grow_allocs(p)) {
    data = parc_shared_alloc(slot->alloc_size);
    if (data) p->allocs[p->nallocs++] = (parc_buf){data, slot->alloc_size};
  }
  slot->alloc_result = data;
  atomic_store_explicit(&slot->alloc_answered, asked, memory_order_release);
  parc__futex_wake(&slot->alloc_answered);
}

void parc__proxy_run_round(process_backend *b, proxy *p, const parc__job *job, size_t k, size_t n,
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
    uint32_t asked = atomic_load_explicit(&slot->alloc_asked, memory_order_acquire);
    if (asked != atomic_load(&slot->alloc_answered)) serve_alloc(p, asked);
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
    if (parc__proxy_server_lost(b) || p->epoch != atomic_load(&b->epoch)) {
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

/* ---- after a round: the results of any size ----------------------------- */

/* The round's allocation `data` lies at the start of, or NULL. */
static parc_buf *alloc_at(proxy *p, const void *data) {
  for (size_t i = 0; i < p->nallocs; i++)
    if (p->allocs[i].data == data) return &p->allocs[i];
  return NULL;
}

void parc__proxy_collect(proxy *p, parc__job *job, size_t k, size_t done, int last_status,
                         void (*failed)(void *arg, size_t offset, char *message), void *arg) {
  const parc_buf *results = p->slot->outputs;
  for (size_t i = 0; results && i < done; i++) {
    if (i + 1 == done && last_status != PARC_OK) break;
    parc_buf result = results[i];
    if (!result.data) continue;
    parc_buf *slot = parc__outputs_slot(&job->outputs, k + i);
    parc_buf *whole = result.size >= PARC__RESULT_IN_PLACE ? alloc_at(p, result.data) : NULL;
    void *mine = !slot ? NULL : whole ? (void *)whole->data : parc__outputs_alloc(&job->outputs, result.size);
    if (!mine) {
      failed(arg, k + i, parc__format("parc_task_output: cannot allocate %zu bytes", result.size));
      continue;
    }
    if (whole) whole->data = NULL;   /* handed over in place: the group's now */
    else if (result.size) memcpy(mine, result.data, result.size);
    *slot = (parc_buf){mine, result.size};
  }
  for (size_t i = 0; i < p->nallocs; i++) parc_shared_free((void *)p->allocs[i].data);
  p->nallocs = 0;
}
