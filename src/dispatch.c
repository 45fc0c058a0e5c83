/*
 * dispatch.c — the one path every chunk of tasks takes, whatever runs it.
 *
 *   claimed chunk -> cancelled? -> the cache filter (a block at a time:
 *   hits are copied into place) -> the executor on the misses (this
 *   thread, or the backend's: a process worker, an MPI rank) -> the
 *   cache stores what succeeded -> completion publishes the chunk.
 *
 * The worker loop lives here too: a thread worker, a process pool's proxy
 * thread and the caller of a SERIAL pool (or a task waiting on an inner
 * map, which helps instead of sleeping) all run chunks through
 * parc__dispatch_chunk.
 *
 * Nesting. A task may map on the pool that runs it. Its wait then claims
 * and runs the inner group's tasks in its own thread (work helping); it
 * sleeps only for inner chunks other workers have claimed and are running,
 * which never wait on it in turn: a wait depends only on groups made
 * inside the chunk that waits, so the waits form a tree, never a cycle.
 */
#include "parc_internal.h"

#include <string.h>

/* Longest a finished result may wait in a block before the cache gets it:
   well under the cache's half-second batch, so a kill loses little. */
#define HOLD_NS 20000000ull

/* The worker this thread is (NULL in other threads): nested maps help. */
static _Thread_local __attribute__((tls_model("initial-exec"))) parc__worker *current_worker;
/* Set while a job's `then` runs in a worker; next_job: the job it made
   this worker's next (pinned), run before the worker claims anything. */
static _Thread_local __attribute__((tls_model("initial-exec"))) bool continuation;
static _Thread_local __attribute__((tls_model("initial-exec"))) parc__job *next_job;

bool parc__dispatch_take_continuation(const parc_pool *pool, parc__job *job) {
  if (!continuation || next_job || !current_worker || current_worker->pool != pool) return false;
  atomic_store_explicit(&job->pinned, true, memory_order_relaxed);
  next_job = job;
  return true;
}

bool parc__dispatch_in_worker_of(const parc_pool *pool) {
  return current_worker && current_worker->pool == pool;
}

static void finish_canceled(parc__job *job, size_t from, size_t to, int worker) {
  for (size_t k = from; k < to; k++) parc__completion_fail(&job->record, k, PARC_ECANCELED, NULL);
  if (job->trace && to > from)
    parc__trace_instant(job->trace, PARC__TRACE_CANCEL, worker, job->record.first + from, to - from,
                        NULL);
}

void parc__dispatch_task_ran(parc__worker *w, parc__job *job, size_t offset, uint64_t start_ns,
                             uint64_t end_ns, int status, unsigned try_number) {
  uint64_t ns = end_ns - start_ns;
  w->busy_ns += ns;
  if (w->longest_offset == SIZE_MAX || ns > w->longest_ns) {
    w->longest_ns = ns;
    w->longest_offset = offset;
  }
  if (job->trace) {
    parc__trace_task_info info = {w->chunk, w->id, try_number, job->trace_name};
    parc__trace_task(job->trace, &info, job->record.first + offset, start_ns, end_ns, status, false);
  }
}

/* The watch of a timed job's tasks run in this thread. */
typedef struct timed_run {
  parc__worker *w;
  parc__job *job;
} timed_run;

static void ran_here(void *arg, size_t offset, uint64_t start_ns, uint64_t end_ns, int status) {
  timed_run *r = arg;
  parc__dispatch_task_ran(r->w, r->job, offset, start_ns, end_ns, status, 1);
}

static parc_task *task_for(parc__worker *w, const parc__job *job) {
  if (w->task_job != job) {
    parc__task_init(&w->task, &job->tasks, w->id);
    w->task_job = job;
  }
  return &w->task;
}

/* What run_here's failures go to. */
typedef struct failures {
  parc__job *job;
  size_t from;
  uint64_t *bad;              /* NULL, or bit k - from: task k did not succeed */
} failures;

static __attribute__((noinline)) bool record_failure(void *arg, size_t k, int status,
                                                     parc_task *t) {
  failures *f = arg;
  parc__completion_fail(&f->job->record, k, status, t->message);
  t->message = NULL;
  if (f->bad) *f->bad |= (uint64_t)1 << (k - f->from);
  return false;
}

/* The timed run, out of line: the untimed loop stays as it is. */
static __attribute__((noinline)) size_t run_watched(const parc__tasks *d, parc_task *t,
                                                    size_t from, size_t to,
                                                    const _Atomic bool *canceled,
                                                    const parc__task_watch *watch, failures *f) {
  return parc__tasks_run(d, t, from, to, canceled, watch, record_failure, f);
}

/* The executor of threads and SERIAL: tasks [from, to) in this thread. */
static inline __attribute__((always_inline)) void run_here(parc__worker *w, parc__job *job,
                                                          size_t from, size_t to, uint64_t *bad,
                                                          bool *used_index) {
  parc_task *t = task_for(w, job);
  if (used_index) t->used_index = false;
  failures f = {job, from, bad};
  size_t end;
  if (__builtin_expect(job->timed, 0)) {
    timed_run r = {w, job};
    parc__task_watch watch = {.ran = ran_here, .arg = &r};
    end = run_watched(&job->tasks, t, from, to, &job->canceled, &watch, &f);
  } else {
    end = parc__tasks_run(&job->tasks, t, from, to, &job->canceled, NULL, record_failure, &f);
  }
  parc__completion_ok(&job->record, from, end);
  if (__builtin_expect(end < to, 0)) {
    finish_canceled(job, end, to, w->id);
    if (bad) *bad |= (~(uint64_t)0) << (end - from);
  }
  if (used_index && t->used_index) *used_index = true;
}

static inline __attribute__((always_inline)) void execute(parc__worker *w, parc__job *job,
                                                          size_t from, size_t to, uint64_t *bad,
                    bool *used_index) {
  if (w->execute) w->execute(w, job, from, to, bad, used_index);
  else run_here(w, job, from, to, bad, used_index);
}

/* The misses of one looked-up block, run in runs of consecutive misses.
   Slow tasks hand their results to the cache as they go (HOLD_NS), so a
   kill loses no more than the cache's batch interval. */
static void run_misses(parc__worker *w, parc__job *job, parc__cache_block *b, size_t first) {
  uint64_t miss = ~b->hit & (b->n == 64 ? ~(uint64_t)0 : ((uint64_t)1 << b->n) - 1);
  uint64_t done = 0, held = 0;
  bool used_index = false;
  while (miss) {
    size_t i = (size_t)__builtin_ctzll(miss);
    size_t j = i;
    while (j < b->n && (miss >> j & 1)) j++;
    /* Tasks known to be slow go one at a time, so each is stored soon. */
    uint64_t per_task = atomic_load_explicit(&job->ns_per_task, memory_order_relaxed);
    if (per_task > HOLD_NS / 64 && j > i + 1) j = i + 1;
    uint64_t bad = 0;
    bool used = false;
    uint64_t start = parc__now_ns();
    execute(w, job, first + i, first + j, &bad, &used);
    uint64_t now = parc__now_ns();
    if (!job->batch) parc__job_observe(job, j - i, now - start);
    uint64_t run = ((j - i == 64) ? ~(uint64_t)0 : (((uint64_t)1 << (j - i)) - 1)) << i;
    miss &= ~run;
    done |= run & ~(bad << i);
    used_index |= used;
    if (done && !held) held = now;
    if (done && now - held >= HOLD_NS) {
      parc__cache_store(b, done, used_index);
      done = 0;
      used_index = false;
      held = 0;
    }
  }
  if (done) parc__cache_store(b, done, used_index);
}

static void run_cached(parc__worker *w, parc__job *job, size_t offset, size_t count) {
  parc__cache_block b;
  for (size_t first = offset; first < offset + count; first += b.n) {
    size_t n = offset + count - first < PARC__CACHE_BLOCK ? offset + count - first : PARC__CACHE_BLOCK;
    if (parc__job_canceled(job)) {
      finish_canceled(job, first, first + n, w->id);
      b.n = n;
      continue;
    }
    parc__cache_lookup(&b, job->cache_scope, &job->tasks, first, n);
    uint64_t now = job->trace ? parc__now_ns() : 0;
    for (size_t i = 0; i < n; i++) {
      if (!(b.hit >> i & 1)) continue;
      parc__completion_ok(&job->record, first + i, first + i + 1);
      if (job->trace) {
        parc__trace_task_info info = {w->chunk, w->id, 1, job->trace_name};
        parc__trace_task(job->trace, &info, job->record.first + first + i, now, now, PARC_OK, true);
      }
    }
    parc__completion_cached(&job->record, (size_t)__builtin_popcountll(b.hit));
    run_misses(w, job, &b, first);
  }
}

/* A timed job's chunk: its number, the counters, its tasks' figures. */
static _Atomic uint64_t chunks;

static __attribute__((noinline)) void begin_timed(parc__worker *w, parc__job *job) {
  w->chunk = atomic_fetch_add_explicit(&chunks, 1, memory_order_relaxed) + 1;
  w->busy_ns = w->longest_ns = 0;
  w->longest_offset = SIZE_MAX;
  if (job->trace) parc__trace_count(job->trace, 0, 1, 0);
}

static __attribute__((noinline)) void end_timed(parc__worker *w, parc__job *job, size_t count) {
  parc__completion_timing(&job->record, w->busy_ns, w->longest_ns, w->longest_offset);
  if (job->trace) parc__trace_count(job->trace, 0, -1, (int64_t)count);
}

static inline __attribute__((always_inline)) void dispatch_chunk(parc__worker *w, parc__job *job,
                                                                size_t offset, size_t count) {
  if (__builtin_expect(job->timed, 0)) begin_timed(w, job);
  if (job->cache_scope) {
    run_cached(w, job, offset, count);
  } else if (job->batch) {
    execute(w, job, offset, offset + count, NULL, NULL);
  } else {
    uint64_t start = parc__now_ns();
    execute(w, job, offset, offset + count, NULL, NULL);
    uint64_t elapsed = parc__now_ns() - start;
    parc__job_observe(job, count, elapsed);
    /* busy time per chunk: executors elsewhere report their workers' own. */
    if (!w->execute && !job->timed) parc__completion_timing(&job->record, elapsed, 0, SIZE_MAX);
  }
  if (__builtin_expect(job->timed, 0)) end_timed(w, job, count);
  if (job->then) {
    continuation = true;
    job->then(job->then_arg, job, offset, count);
    continuation = false;
  }
  parc__completion_publish(&job->record, offset, count);
}

/* Runs the jobs `then` calls made this worker's next, one after another
   (each may make another): a graph's chain never touches the queue. */
static void run_continuations(parc__worker *w) {
  parc__job *job;
  while ((job = next_job) != NULL) {
    next_job = NULL;
    size_t offset, n = parc__job_claim(job, SIZE_MAX, &offset);
    if (n) dispatch_chunk(w, job, offset, n);
    /* A later job may be allocated at this one's address. */
    if (w->task_job == job) w->task_job = NULL;
    /* The last touch: the group may free the job from here on. */
    atomic_store_explicit(&job->pinned, false, memory_order_release);
  }
}

void parc__dispatch_chunk(parc__worker *w, parc__job *job, size_t offset, size_t count) {
  dispatch_chunk(w, job, offset, count);
  if (__builtin_expect(next_job != NULL, 0)) run_continuations(w);
}

/* Runs the chunk, then goes on claiming and running chunks of the same job
   until it is exhausted, without coming back to the pool's lock. */
static void run_job(parc__worker *w, size_t offset, size_t count) {
  parc__job *job = w->job;
  int workers = w->pool->workers;
  do {
    dispatch_chunk(w, job, offset, count);
    if (__builtin_expect(next_job != NULL, 0)) run_continuations(w);
    w->previous = count;
    count = parc__job_claim(job, parc__job_chunk_size(job, workers, w->previous), &offset);
  } while (count > 0);
}

void parc__dispatch_worker_loop(parc_pool *pool, int id, parc__executor execute_fn) {
  parc__worker w;
  memset(&w, 0, sizeof w);
  w.pool = pool;
  w.id = id;
  w.execute = execute_fn;
  current_worker = &w;
  parc__completion_worker_begin();
  size_t offset, count;
  while (parc__pool_claim(&w, &offset, &count)) run_job(&w, offset, count);
  parc__trace_hand_over(pool->trace);
  current_worker = NULL;
}

bool parc__dispatch_help(parc__job *job, bool one, size_t *previous) {
  parc__worker *outer = current_worker;
  parc__worker w;
  memset(&w, 0, sizeof w);
  w.id = outer ? outer->id : 0;
  w.job = job;
  int workers = outer ? outer->pool->workers : 1;
  size_t want = one ? 1 : parc__job_chunk_size(job, workers, *previous);
  size_t offset;
  size_t n = parc__job_claim(job, want, &offset);
  if (n == 0) return false;
  *previous = n;
  /* Inner tasks run here; a nested map inside one of them helps again. */
  parc__dispatch_chunk(&w, job, offset, n);
  return true;
}

void parc__dispatch_cancel(parc__job *job) {
  parc__job_cancel(job);
  size_t offset, n;
  while ((n = parc__job_claim(job, SIZE_MAX, &offset)) > 0) {
    finish_canceled(job, offset, offset + n, -1);
    parc__completion_publish(&job->record, offset, n);
  }
}
