/*
 * group.c — groups of tasks: submit, map, completion order, wait, cancel.
 *
 * A group owns its jobs (see parc_internal.h). Workers write each task's
 * status byte, then complete the whole chunk with one atomic add on
 * `finished`: that add is the moment the chunk's tasks become visible. When
 * the group may be asked for completion order (parc_group_next), the chunk's
 * indices are also written into a completion log at the positions the add
 * reserved. A caller blocked in next or wait sets `wake_at`; a worker
 * whose add reaches it takes the group lock to wake it. Otherwise a
 * completing worker touches no lock at all.
 *
 * The completion log grows in segments of doubling size, allocated by the
 * submitting thread before the tasks are queued, so workers never allocate.
 */
#include "parc_internal.h"

#include <errno.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define ORDER_SEGMENTS 48
#define ORDER_FIRST 1024      /* entries in segment 0; segment s has ORDER_FIRST << s */

/* A failed task's record: its message, and (in a sparse group) its status. */
typedef struct group_message {
  size_t index;
  int status;
  char *text;
} group_message;

struct parc_group {
  parc_pool *pool;
  const void *context;        /* borrowed */
  size_t context_size;
  size_t batch;
  bool stop_on_error;
  uint64_t seed;
  char *label;
  parc__cache_binding *cache; /* opt->cache: name, version, context hash; NULL = none */
  bool keep_order;            /* false for parc_map: nobody will call next */
  bool sparse;                /* parc_map: failures recorded, no status bytes */
  parc__progress *progress;

  pthread_mutex_t lock;       /* guards the fields up to `finished` */
  pthread_cond_t changed;     /* broadcast when finished reaches wake_at */
  parc__job **jobs;           /* in index order */
  size_t njobs, jobs_capacity;
  size_t total;               /* tasks submitted */
  size_t reported;            /* completion-log entries handed out by next */
  size_t serial_cursor;       /* SERIAL: first job that may have unclaimed tasks */
  size_t serial_previous;     /* SERIAL: the last chunk's size, for automatic batching */
  int waiters;
  bool stopped;               /* stop_on_error fired: later tasks are cancelled too */
  group_message *messages;
  size_t nmessages, messages_capacity;
  bool messages_sorted;
  _Atomic size_t *order[ORDER_SEGMENTS];

  _Atomic size_t finished;    /* tasks completed (and completion-log positions reserved) */
  _Atomic size_t total_seen;  /* `total`, readable without the lock */
  _Atomic size_t wake_at;     /* SIZE_MAX: nobody waits */
  _Atomic size_t failed;
  _Atomic size_t first_failure;   /* lowest index that failed for real */
  _Atomic size_t first_cancel;    /* lowest index cancelled */
};

/* ---- small helpers ------------------------------------------------------ */

static _Atomic size_t *order_slot(const parc_group *g, size_t position) {
  size_t q = position / ORDER_FIRST + 1;
  int segment = 63 - __builtin_clzll((unsigned long long)q);
  size_t base = (size_t)ORDER_FIRST * (((size_t)1 << segment) - 1);
  return &g->order[segment][position - base];
}

/* Makes sure the completion log has room for `total` entries (lock held). */
static int order_reserve(parc_group *g, size_t total) {
  for (int s = 0; s < ORDER_SEGMENTS; s++) {
    size_t base = (size_t)ORDER_FIRST * (((size_t)1 << s) - 1);
    if (base >= total) return PARC_OK;
    if (g->order[s]) continue;
    g->order[s] = parc__calloc((size_t)ORDER_FIRST << s, sizeof(size_t));
    if (!g->order[s]) return PARC_ENOMEM;
  }
  return PARC_ENOMEM;
}

static void atomic_min(_Atomic size_t *target, size_t value) {
  size_t current = atomic_load(target);
  while (value < current && !atomic_compare_exchange_weak(target, &current, value)) {
  }
}

static bool is_failure(int status) { return status < 0; }

/* Status bytes hold PARC_PENDING - status, so that pending is 0 and a job's
   fresh calloc'd memory needs no initialising pass (for a map of 10^7 tasks
   that pass was a quarter of the run time, done by the caller alone). */
static signed char encode_status(int status) { return (signed char)(PARC_PENDING - status); }
static int decode_status(signed char byte) { return PARC_PENDING - byte; }

static int job_status(const parc__job *job, size_t offset) {
  return decode_status(atomic_load_explicit(&job->status[offset], memory_order_acquire));
}

/* The job holding `index` (lock held), or NULL. Jobs are sorted by first. */
static parc__job *job_of(const parc_group *g, size_t index) {
  size_t lo = 0, hi = g->njobs;
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    parc__job *job = g->jobs[mid];
    if (index < job->first) hi = mid;
    else if (index >= job->first + job->count) lo = mid + 1;
    else return job;
  }
  return NULL;
}

static int compare_messages(const void *a, const void *b) {
  size_t x = ((const group_message *)a)->index, y = ((const group_message *)b)->index;
  return (x > y) - (x < y);
}

/* The failure record of `index`, or NULL (lock held; sorts on demand). */
static const group_message *find_message(const parc_group *g, size_t index) {
  if (g->nmessages == 0) return NULL;
  parc_group *mutable_group = (parc_group *)g;
  if (!g->messages_sorted) {
    qsort(mutable_group->messages, g->nmessages, sizeof g->messages[0], compare_messages);
    mutable_group->messages_sorted = true;
  }
  group_message key = {index, 0, NULL};
  return bsearch(&key, g->messages, g->nmessages, sizeof g->messages[0], compare_messages);
}

/* A sparse job (parc_map's) keeps no status bytes: its failures are
   records, every other task is OK once the map has finished. */
static int status_locked(const parc_group *g, size_t index) {
  parc__job *job = job_of(g, index);
  if (!job) return PARC_EINVAL;
  if (job->status) return job_status(job, index - job->first);
  const group_message *found = find_message(g, index);
  return found ? found->status : PARC_OK;
}

static void lock_group(const parc_group *g) { pthread_mutex_lock((pthread_mutex_t *)&g->lock); }
static void unlock_group(const parc_group *g) { pthread_mutex_unlock((pthread_mutex_t *)&g->lock); }

/* ---- creation ----------------------------------------------------------- */

static int group_create(parc_group **out, parc_pool *pool, const parc_options *opt,
                        bool keep_order) {
  if (!out) return parc__error(PARC_EINVAL, "parc_group_create: g is NULL");
  *out = NULL;
  if (!pool) return parc__error(PARC_EINVAL, "parc_group_create: pool is NULL");
  parc_options defaults = {0};
  if (!opt) opt = &defaults;
  if (!opt->context && opt->context_size)
    return parc__error(PARC_EINVAL, "parc_group_create: context is NULL but context_size is %zu",
                       opt->context_size);
  parc_group *g = parc__calloc(1, sizeof *g);
  if (!g) return parc__error(PARC_ENOMEM, "parc_group_create: out of memory");
  g->pool = pool;
  g->context = opt->context_size ? opt->context : NULL;
  g->context_size = opt->context_size;
  g->batch = opt->batch;
  g->stop_on_error = opt->stop_on_error != 0;
  g->seed = opt->seed ? opt->seed : pool->config.seed;
  g->keep_order = keep_order;
  g->sparse = !keep_order;
  g->label = parc__strdup(opt->label ? opt->label : "parc");
  if (pool->config.verbose > 0)
    g->progress = parc__progress_create(g->label ? g->label : "parc", pool->config.verbose);
  if (!g->label || (pool->config.verbose > 0 && !g->progress)) {
    parc__progress_destroy(g->progress);
    parc__free(g->label);
    parc__free(g);
    return parc__error(PARC_ENOMEM, "parc_group_create: out of memory");
  }
  if (opt->cache) {
    int rc = parc__cache_bind(&g->cache, opt->cache, opt->cache_name, opt->cache_version,
                              g->context, g->context_size);
    if (rc) {
      parc__progress_destroy(g->progress);
      parc__free(g->label);
      parc__free(g);
      return rc;
    }
  }
  pthread_mutex_init(&g->lock, NULL);
  pthread_cond_init(&g->changed, NULL);
  atomic_init(&g->wake_at, SIZE_MAX);
  atomic_init(&g->first_failure, SIZE_MAX);
  atomic_init(&g->first_cancel, SIZE_MAX);
  *out = g;
  return PARC_OK;
}

int parc_group_create(parc_group **g, parc_pool *pool, const parc_options *opt) {
  return group_create(g, pool, opt, true);
}

const void *parc__group_context(const parc_group *g, size_t *size) {
  if (size) *size = g->context_size;
  return g->context;
}

uint64_t parc__group_seed(const parc_group *g) { return g->seed; }

/* ---- submission --------------------------------------------------------- */

static int check_buffers(const char *who, const parc_group *g, parc_fn fn, const void *in,
                         size_t in_size, const void *out, size_t out_size, size_t n) {
  if (!g) return parc__error(PARC_EINVAL, "%s: g is NULL", who);
  if (!fn) return parc__error(PARC_EINVAL, "%s: fn is NULL", who);
  if (n == 0) return PARC_OK;
  if (in_size && n > SIZE_MAX / in_size)
    return parc__error(PARC_EINVAL, "%s: n (%zu) x in_size (%zu) overflows", who, n, in_size);
  if (out_size && n > SIZE_MAX / out_size)
    return parc__error(PARC_EINVAL, "%s: n (%zu) x out_size (%zu) overflows", who, n, out_size);
  if (!in && in_size)
    return parc__error(PARC_EINVAL, "%s: in is NULL but in_size is %zu", who, in_size);
  if (!out && out_size)
    return parc__error(PARC_EINVAL, "%s: out is NULL but out_size is %zu", who, out_size);
  return PARC_OK;
}

/* One block: the job (aligned to a cache line), its status bytes, then
   (submit) the input copy. calloc, not malloc + memset: a large block
   comes zeroed from the kernel, and pending is 0. */
static parc__job *job_new(parc_group *g, parc_fn fn, size_t count, size_t copy_size) {
  /* parc_map's group is sparse: fresh pages cost 20-50 us each to fault in
     on some VMs, which for a byte per task was 10 ns per task. */
  size_t status_bytes = g->sparse ? 0 : count * sizeof(_Atomic signed char);
  size_t header = sizeof(parc__job) + status_bytes;
  header = (header + 15) & ~(size_t)15;
  if (count > SIZE_MAX / 2 || copy_size > SIZE_MAX - header - 64) return NULL;
  char *block = parc__calloc(1, header + copy_size + 64);
  if (!block) return NULL;
  parc__job *job = (parc__job *)(block + (64 - (uintptr_t)block % 64) % 64);
  job->block = block;
  job->group = g;
  job->fn = fn;
  job->count = count;
  job->batch = g->batch;
  job->status = g->sparse ? NULL : (_Atomic signed char *)(job + 1);
  job->index_base = SIZE_MAX;   /* job_enqueue sets it to `first` unless a graph did */
  if (copy_size) job->owned_input = (char *)job + header;
  return job;
}

static void job_free(parc__job *job) {
  if (job) parc__free(job->block);
}

/* Numbers the job's tasks, records it, and hands it to the workers. */
static int job_enqueue(parc_group *g, parc__job *job, size_t *first_index) {
  lock_group(g);
  if (g->njobs == g->jobs_capacity) {
    size_t capacity = g->jobs_capacity ? g->jobs_capacity * 2 : 16;
    parc__job **jobs = parc__realloc(g->jobs, capacity * sizeof *jobs);
    if (!jobs) goto nomem;
    g->jobs = jobs;
    g->jobs_capacity = capacity;
  }
  if (g->keep_order && order_reserve(g, g->total + job->count) != PARC_OK) goto nomem;
  job->first = g->total;
  if (job->index_base == SIZE_MAX) job->index_base = job->first;
  if (g->stopped) atomic_store(&job->canceled, true);
  g->total += job->count;
  atomic_store(&g->total_seen, g->total);
  g->jobs[g->njobs++] = job;
  unlock_group(g);
  if (first_index) *first_index = job->first;
  if (!g->pool->ops->runs_in_caller) parc__pool_push(g->pool, job);
  return PARC_OK;
nomem:
  unlock_group(g);
  return PARC_ENOMEM;
}

int parc__group_submit_node(parc_group *g, parc_fn fn, const void *in, size_t in_size,
                            void *out, size_t out_size, const parc__dep *deps, size_t ndeps,
                            size_t task_index, size_t *index) {
  int rc = check_buffers("parc_group_submit", g, fn, in, in_size, out, out_size, 1);
  if (rc) return rc;
  parc__job *job = job_new(g, fn, 1, in_size);
  if (!job) return parc__error(PARC_ENOMEM, "parc_group_submit: out of memory");
  if (g->cache && (rc = parc__cache_scope_of(g->cache, fn, &job->cache_scope)) != PARC_OK) {
    job_free(job);
    return rc;
  }
  if (in_size) memcpy(job->owned_input, in, in_size);
  job->in = job->owned_input;
  job->in_size = in_size;
  job->out = out;
  job->out_size = out_size;
  job->deps = deps;
  job->ndeps = ndeps;
  job->index_base = task_index;
  if (job_enqueue(g, job, index) != PARC_OK) {
    job_free(job);
    return parc__error(PARC_ENOMEM, "parc_group_submit: out of memory");
  }
  return PARC_OK;
}

int parc__group_submit_deps(parc_group *g, parc_fn fn, const void *in, size_t in_size,
                            void *out, size_t out_size, const parc__dep *deps, size_t ndeps,
                            size_t *index) {
  return parc__group_submit_node(g, fn, in, in_size, out, out_size, deps, ndeps, SIZE_MAX, index);
}

int parc_group_submit(parc_group *g, parc_fn fn, const void *in, size_t in_size, void *out,
                      size_t out_size, size_t *index) {
  return parc__group_submit_deps(g, fn, in, in_size, out, out_size, NULL, 0, index);
}

int parc_group_map(parc_group *g, parc_fn fn, const void *in, size_t in_size, void *out,
                   size_t out_size, size_t n) {
  int rc = check_buffers("parc_group_map", g, fn, in, in_size, out, out_size, n);
  if (rc || n == 0) return rc;
  parc__job *job = job_new(g, fn, n, 0);
  if (!job) return parc__error(PARC_ENOMEM, "parc_group_map: out of memory for %zu tasks", n);
  if (g->cache && (rc = parc__cache_scope_of(g->cache, fn, &job->cache_scope)) != PARC_OK) {
    job_free(job);
    return rc;
  }
  job->in = in_size ? in : NULL;
  job->in_size = in_size;
  job->out = out_size ? out : NULL;
  job->out_size = out_size;
  if (job_enqueue(g, job, NULL) != PARC_OK) {
    job_free(job);
    return parc__error(PARC_ENOMEM, "parc_group_map: out of memory");
  }
  return PARC_OK;
}

/* ---- claiming and running ----------------------------------------------- */

size_t parc__job_claim(parc__job *job, size_t want, size_t *offset) {
  if (want == 0) want = 1;
  size_t start;
  if (want == job->batch && want <= job->count) {
    /* Fixed batches: one add, as an OpenMP dynamic loop does (a load first
       would move the cache line twice). `next` overshoots count by a batch
       per failed claim, and a worker fails at most twice per job. */
    start = atomic_fetch_add_explicit(&job->next, want, memory_order_relaxed);
    if (start >= job->count) return 0;
    *offset = start;
    return job->count - start < want ? job->count - start : want;
  }
  size_t n;
  start = atomic_load_explicit(&job->next, memory_order_relaxed);
  do {
    if (start >= job->count) return 0;
    n = job->count - start < want ? job->count - start : want;
  } while (!atomic_compare_exchange_weak(&job->next, &start, start + n));
  *offset = start;
  return n;
}

size_t parc__job_chunk_size(const parc__job *job, int workers, size_t previous) {
  if (job->batch) return job->batch;
  size_t next = atomic_load_explicit(&job->next, memory_order_relaxed);
  size_t remaining = next < job->count ? job->count - next : 1;
  size_t cap = remaining / (2 * (size_t)workers);
  size_t grow = previous ? previous * job->group->pool->chunk_growth : 1;
  uint64_t per_task = atomic_load_explicit(&job->ns_per_task, memory_order_relaxed);
  size_t want = per_task ? (size_t)(job->group->pool->chunk_target_ns / per_task) : grow;
  if (want > grow) want = grow;
  if (want > cap) want = cap;
  return want ? want : 1;
}

void parc__job_observe(parc__job *job, size_t count, uint64_t elapsed_ns) {
  uint64_t per_task = elapsed_ns / (count ? count : 1);
  if (per_task == 0) per_task = 1;
  uint64_t old = atomic_load_explicit(&job->ns_per_task, memory_order_relaxed);
  uint64_t estimate = old ? (3 * old + per_task) / 4 : per_task;
  atomic_store_explicit(&job->ns_per_task, estimate ? estimate : 1, memory_order_relaxed);
}

bool parc__job_canceled(const parc__job *job) {
  return atomic_load_explicit(&job->canceled, memory_order_relaxed);
}

void parc__task_prepare(parc_task *t, const parc__job *job, size_t offset, int worker) {
  /* Field by field: the stream (48 bytes) needs no zeroing, only rng_ready. */
  t->rng_ready = false;
  t->message = NULL;
  t->index = job->index_base + offset;
  t->worker = worker;
  t->context = job->group->context;
  t->context_size = job->group->context_size;
  t->seed = job->group->seed;
  t->deps = job->deps;
  t->ndeps = job->ndeps;
}

static void cancel_unstarted(parc_group *g);

static void add_message(parc_group *g, size_t index, int status, char *text) {
  lock_group(g);
  if (g->nmessages == g->messages_capacity) {
    size_t capacity = g->messages_capacity ? g->messages_capacity * 2 : 16;
    group_message *grown = parc__realloc(g->messages, capacity * sizeof *grown);
    if (!grown) {
      /* The status still says it failed; only the text is lost. */
      unlock_group(g);
      parc__free(text);
      return;
    }
    g->messages = grown;
    g->messages_capacity = capacity;
  }
  g->messages[g->nmessages++] = (group_message){index, status, text};
  g->messages_sorted = false;
  unlock_group(g);
}

void parc__task_finish(parc__job *job, size_t offset, int status, char *message) {
  parc_group *g = job->group;
  if (job->status)
    atomic_store_explicit(&job->status[offset], encode_status(status), memory_order_release);
  if (!is_failure(status)) {
    parc__free(message);
    return;
  }
  size_t index = job->first + offset;
  atomic_fetch_add_explicit(&g->failed, 1, memory_order_relaxed);
  if (status == PARC_ECANCELED) {
    atomic_min(&g->first_cancel, index);
    parc__free(message);
    if (!job->status) add_message(g, index, status, NULL);
    return;
  }
  atomic_min(&g->first_failure, index);
  if (message || !job->status) add_message(g, index, status, message);
  if (g->stop_on_error) cancel_unstarted(g);
}

/* Completions a worker thread has run but not yet published. When nobody
   can ask for completion order or progress (parc_map), a worker adds its
   count to `finished` once per job, when it lets go of the job, instead of
   once per chunk: with batch = 1 that halves the shared-cache-line traffic
   per task. Only worker threads defer (they always flush before taking
   the pool lock); a caller thread running SERIAL tasks never does. */
static _Thread_local __attribute__((tls_model("initial-exec"))) struct {
  bool worker;
  parc_group *group;
  size_t count;
} deferred;

void parc__worker_thread_begin(void) { deferred.worker = true; }

static void wake_waiters(parc_group *g, size_t done) {
  if (done >= atomic_load(&g->wake_at)) {
    lock_group(g);
    pthread_cond_broadcast(&g->changed);
    unlock_group(g);
  }
}

void parc__chunk_flush(void) {
  parc_group *g = deferred.group;
  size_t count = deferred.count;
  deferred.group = NULL;
  deferred.count = 0;
  if (g && count) wake_waiters(g, atomic_fetch_add(&g->finished, count) + count);
}

void parc__chunk_complete(const parc__chunk *c) {
  parc__job *job = c->job;
  parc_group *g = job->group;
  if (deferred.worker && !g->keep_order && !g->progress) {
    if (deferred.group != g) parc__chunk_flush();
    deferred.group = g;
    deferred.count += c->count;
    return;
  }
  size_t position = atomic_fetch_add(&g->finished, c->count);
  if (g->keep_order) {
    for (size_t k = 0; k < c->count; k++)
      atomic_store_explicit(order_slot(g, position + k), job->first + c->offset + k + 1,
                            memory_order_release);
  }
  size_t done = position + c->count;
  wake_waiters(g, done);
  if (g->progress)
    parc__progress_update(g->progress, c->count, done,
                          atomic_load_explicit(&g->failed, memory_order_relaxed),
                          atomic_load_explicit(&g->total_seen, memory_order_relaxed));
}

/* One task that failed or said something: the slow path, out of the
   loop below. */
static void run_task_slowly(parc__job *job, size_t k, parc_task *t, int rc) {
  int result = parc__task_result(rc, t);
  parc__task_finish(job, k, result, t->message);
  t->message = NULL;
}

/* Runs tasks [offset, offset + count) of job in this thread with t, which
   parc__task_prepare has set up; feeds automatic batching its timing. */
static inline __attribute__((always_inline)) void run_range(parc__job *job, parc_task *t,
                                                           size_t offset, size_t count) {
  uint64_t start = job->batch ? 0 : parc__now_ns();
  /* The hot loop of the library. Records are walked as integers so that a
     zero-size record stays a NULL pointer without arithmetic on NULL. */
  const parc_fn fn = job->fn;
  const size_t in_size = job->in_size, out_size = job->out_size;
  uintptr_t in = in_size ? (uintptr_t)job->in + offset * in_size : 0;
  uintptr_t out = out_size ? (uintptr_t)job->out + offset * out_size : 0;
  /* A cached job goes a block at a time (cache_run.c): hits are looked
     up together and copied into place, misses run and are stored. */
  const size_t end = job->cache_scope ? offset : offset + count;
  if (job->cache_scope) parc__cache_run_range(job, t, offset, count);
  for (size_t k = offset; k < end; k++, in += in_size, out += out_size) {
    if (parc__job_canceled(job)) {
      parc__task_finish(job, k, PARC_ECANCELED, NULL);
    } else {
      t->index = job->index_base + k;
      t->rng_ready = false;
      t->used_index = false;
      int rc = fn((const void *)in, (void *)out, t);
      if (rc == 0 && !t->message) {
        if (job->status)
          atomic_store_explicit(&job->status[k], encode_status(PARC_OK), memory_order_relaxed);
      } else
        run_task_slowly(job, k, t, rc);
    }
  }
  if (!job->batch) parc__job_observe(job, count, parc__now_ns() - start);
}

void parc__chunk_run(const parc__chunk *c, int worker) {
  parc_task t;
  parc__task_prepare(&t, c->job, c->offset, worker);
  run_range(c->job, &t, c->offset, c->count);
  parc__chunk_complete(c);
}

void parc__chunk_run_all(const parc__chunk *first, int worker, int workers, size_t *previous) {
  parc__job *job = first->job;
  parc__chunk c = *first;
  parc_task t;
  parc__task_prepare(&t, job, c.offset, worker);
  do {
    run_range(job, &t, c.offset, c.count);
    parc__chunk_complete(&c);
    *previous = c.count;
    c.count = parc__job_claim(job, parc__job_chunk_size(job, workers, *previous), &c.offset);
  } while (c.count > 0);
}

/* SERIAL: claims up to `want` tasks of g in index order and runs them in
   the caller. False when nothing is left to claim. */
static bool run_in_caller(parc_group *g, bool one) {
  lock_group(g);
  while (g->serial_cursor < g->njobs) {
    parc__job *job = g->jobs[g->serial_cursor];
    size_t want = one ? 1 : parc__job_chunk_size(job, 1, g->serial_previous);
    size_t offset;
    size_t n = parc__job_claim(job, want, &offset);
    if (n) {
      g->serial_previous = n;
      unlock_group(g);
      parc__chunk c = {job, offset, n};
      parc__chunk_run(&c, 0);
      return true;
    }
    g->serial_cursor++;
    g->serial_previous = 0;
  }
  unlock_group(g);
  return false;
}

/* ---- cancellation ------------------------------------------------------- */

static void cancel_job_unclaimed(parc__job *job) {
  size_t offset, n;
  while ((n = parc__job_claim(job, SIZE_MAX, &offset)) > 0) {
    for (size_t k = offset; k < offset + n; k++)
      parc__task_finish(job, k, PARC_ECANCELED, NULL);
    parc__chunk c = {job, offset, n};
    parc__chunk_complete(&c);
  }
}

/* Marks every job cancelled, then claims and cancels what nobody started.
   Jobs are read one at a time under the lock because completing a chunk
   may need the lock to wake a waiter. */
static void cancel_jobs(parc_group *g, bool stop_later) {
  lock_group(g);
  if (stop_later) g->stopped = true;
  for (size_t i = 0; i < g->njobs; i++) atomic_store(&g->jobs[i]->canceled, true);
  unlock_group(g);
  for (size_t i = 0;; i++) {
    lock_group(g);
    parc__job *job = i < g->njobs ? g->jobs[i] : NULL;
    unlock_group(g);
    if (!job) break;
    cancel_job_unclaimed(job);
  }
}

static void cancel_unstarted(parc_group *g) { cancel_jobs(g, true); }

void parc_group_cancel(parc_group *g) {
  if (g) cancel_jobs(g, false);
}

/* ---- waiting ------------------------------------------------------------ */


/* Sleeps on g->changed until finished reaches target or the deadline
   passes (lock held). Returns false on timeout. */
/* Before sleeping, watch `finished` for a few microseconds without the
   lock: a task graph's chain or an as_completed loop over short tasks hands
   off one task at a time, and a futex sleep and wake per hand-off costs
   tens of microseconds. Returns true if the target was reached. */
static bool spin_briefly(parc_group *g, size_t target) {
  if (g->pool->cpus < 2) return false;   /* spinning would take the worker's CPU */
  unlock_group(g);
  uint64_t until = parc__now_ns() + 20000;
  bool reached = false;
  while (!(reached = atomic_load(&g->finished) >= target) && parc__now_ns() < until) sched_yield();
  lock_group(g);
  return reached;
}

static bool sleep_until(parc_group *g, size_t target, double deadline) {
  if (spin_briefly(g, target)) return true;
  g->waiters++;
  size_t wake = atomic_load(&g->wake_at);
  if (target < wake) atomic_store(&g->wake_at, target);
  bool ok = true;
  while (atomic_load(&g->finished) < target) {
    if (deadline < 0) {
      pthread_cond_wait(&g->changed, &g->lock);
      continue;
    }
    double now = parc__now();
    if (now >= deadline) {
      ok = false;
      break;
    }
    /* Condition variables use CLOCK_REALTIME; wait in short slices so a
       clock jump cannot stretch the timeout. */
    double slice = deadline - now < 0.05 ? deadline - now : 0.05;
    struct timespec ts = parc__time_after(CLOCK_REALTIME, slice);
    pthread_cond_timedwait(&g->changed, &g->lock, &ts);
  }
  if (--g->waiters == 0) atomic_store(&g->wake_at, SIZE_MAX);
  return ok;
}

static size_t read_order(const parc_group *g, size_t position) {
  _Atomic size_t *slot = order_slot(g, position);
  size_t entry;
  /* The worker reserved this position and is about to write it. */
  while ((entry = atomic_load_explicit(slot, memory_order_acquire)) == 0) sched_yield();
  return entry - 1;
}

int parc_group_next(parc_group *g, double timeout, size_t *index) {
  if (!g) return parc__error(PARC_EINVAL, "parc_group_next: g is NULL");
  if (!g->keep_order) return parc__error(PARC_EINVAL, "parc_group_next: not a next-able group");
  double deadline = timeout < 0 ? -1 : parc__now() + timeout;
  lock_group(g);
  for (;;) {
    if (g->reported < atomic_load(&g->finished)) {
      size_t task = read_order(g, g->reported++);
      int status = status_locked(g, task);
      unlock_group(g);
      if (index) *index = task;
      return status;
    }
    if (g->reported >= g->total) break;
    if (g->pool->ops->runs_in_caller) {
      unlock_group(g);
      bool ran = run_in_caller(g, true);
      lock_group(g);
      if (ran) continue;
    }
    if (!sleep_until(g, g->reported + 1, deadline)) {
      unlock_group(g);
      return parc__error(PARC_ETIMEDOUT, "parc_group_next: no task finished within %g s", timeout);
    }
  }
  unlock_group(g);
  return PARC_DONE;
}

static int outcome(const parc_group *g) {
  size_t failed = atomic_load(&g->first_failure);
  if (failed != SIZE_MAX) {
    lock_group(g);
    int status = status_locked(g, failed);
    unlock_group(g);
    /* A sparse group that could not allocate a failure's record. */
    if (status == PARC_OK)
      return parc__error(PARC_ENOMEM, "parc_map: out of memory recording task %zu's failure", failed);
    return status;
  }
  return atomic_load(&g->first_cancel) != SIZE_MAX ? PARC_ECANCELED : PARC_OK;
}

int parc_group_wait(parc_group *g, double timeout) {
  if (!g) return parc__error(PARC_EINVAL, "parc_group_wait: g is NULL");
  double deadline = timeout < 0 ? -1 : parc__now() + timeout;
  lock_group(g);
  size_t target = g->total;
  while (atomic_load(&g->finished) < target) {
    if (g->pool->ops->runs_in_caller) {
      unlock_group(g);
      bool ran = run_in_caller(g, false);
      lock_group(g);
      if (ran) continue;
    }
    if (!sleep_until(g, target, deadline)) {
      size_t left = target - atomic_load(&g->finished);
      unlock_group(g);
      return parc__error(PARC_ETIMEDOUT, "parc_group_wait: %zu tasks unfinished after %g s",
                         left, timeout);
    }
  }
  unlock_group(g);
  return outcome(g);
}

/* ---- queries ------------------------------------------------------------ */

int parc_group_status(const parc_group *g, size_t index) {
  if (!g) return PARC_EINVAL;
  lock_group(g);
  int status = status_locked(g, index);
  unlock_group(g);
  return status;
}

const char *parc_group_message(const parc_group *g, size_t index) {
  if (!g) return NULL;
  const char *text = NULL;
  lock_group(g);
  int status = status_locked(g, index);
  if (is_failure(status) && status != PARC_EINVAL) {
    const group_message *found = find_message(g, index);
    text = found && found->text ? found->text : parc_strerror(status);
  }
  unlock_group(g);
  return text;
}

size_t parc_group_failed(const parc_group *g) { return g ? atomic_load(&g->failed) : 0; }

/* ---- destruction and the one-call map ----------------------------------- */

void parc_group_destroy(parc_group *g) {
  if (!g) return;
  parc_group_cancel(g);
  parc_group_wait(g, -1);
  for (size_t i = 0; i < g->njobs; i++) {
    if (!g->pool->ops->runs_in_caller) parc__pool_release_job(g->pool, g->jobs[i]);
    job_free(g->jobs[i]);
  }
  if (g->progress) {
    parc__progress_finish(g->progress, atomic_load(&g->finished), atomic_load(&g->failed), g->total);
    parc__progress_destroy(g->progress);
  }
  for (size_t i = 0; i < g->nmessages; i++) parc__free(g->messages[i].text);
  for (int s = 0; s < ORDER_SEGMENTS; s++) parc__free((void *)g->order[s]);
  parc__free(g->messages);
  parc__free(g->jobs);
  parc__free(g->label);
  parc__cache_unbind(g->cache);
  pthread_cond_destroy(&g->changed);
  pthread_mutex_destroy(&g->lock);
  parc__free(g);
}

int parc_map(parc_pool *pool, parc_fn fn, const void *in, size_t in_size, void *out,
             size_t out_size, size_t n, const parc_options *opt, int *status) {
  if (!pool) return parc__error(PARC_EINVAL, "parc_map: pool is NULL");
  parc_group *g;
  int rc = group_create(&g, pool, opt, false);
  if (rc) return rc;
  rc = parc_group_map(g, fn, in, in_size, out, out_size, n);
  if (rc) {
    parc_group_destroy(g);
    return rc;
  }
  rc = parc_group_wait(g, -1);
  if (status) {
    for (size_t i = 0; i < n; i++) status[i] = PARC_OK;
    for (size_t i = 0; i < g->nmessages; i++) status[g->messages[i].index] = g->messages[i].status;
  }
  parc_group_destroy(g);
  return rc;
}
