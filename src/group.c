/*
 * group.c — the public group API: submit, map, completion order, wait,
 * cancel, and the one-call parc_map.
 *
 * A group is a completion record (completion.c) and the jobs (job.c) it
 * made. Submitting makes a job and hands it to the pool's queue (pool.c);
 * waiting asks the completion. Where no worker will run the tasks — a
 * SERIAL pool, or a pool used inside one of its own process workers — or
 * where the caller is itself a worker of the pool (a task mapping on the
 * pool that runs it), waiting runs the group's unclaimed tasks in the
 * calling thread (dispatch.c's help) instead of sleeping. So a nested map
 * never deadlocks: see dispatch.c.
 */
#include "parc_internal.h"

#include <math.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

struct parc_group {
  parc_pool *pool;
  const void *context;        /* borrowed */
  size_t context_size;
  size_t batch;
  uint64_t seed;
  char *label;
  parc__cache_binding *cache; /* opt->cache: name, version, context hash; NULL = none */
  bool sparse;                /* parc_map: failures recorded, no status bytes */
  bool in_caller;             /* no worker runs these tasks: waiting runs them */
  bool queued;                /* a job was queued (g->lock): destroy calls ops->group_done */
  parc__trace *trace;         /* the pool's timeline, or NULL */
  uint16_t trace_name;        /* the label's id in it */
  bool timed;                 /* time each task: a trace, or verbose = 2 */
  bool stream;                /* opt.stream: reported tasks are forgotten */
  size_t last_reported;       /* streams: the task next reported last, SIZE_MAX: none */
  parc__completion completion;

  pthread_mutex_t lock;       /* guards the fields below */
  parc__job **jobs;           /* in index order */
  size_t njobs, jobs_capacity;
  size_t help_cursor;         /* helping: first job that may have unclaimed tasks */
  size_t help_previous;       /* helping: the last chunk's size, for automatic batching */
};

/* ---- creation ----------------------------------------------------------- */

static void group_free(parc_group *g) {
  parc__cache_unbind(g->cache);
  parc__free(g->label);
  parc__free(g);
}

static int group_create(parc_group **out, parc_pool *pool, const parc_options *opt, bool sparse) {
  if (!out) return parc__error(PARC_EINVAL, "parc_group_create: g is NULL");
  *out = NULL;
  if (!pool) return parc__error(PARC_EINVAL, "parc_group_create: pool is NULL");
  /* In an exec-start worker the caller's pool pointers name memory this
     fresh program image does not have: never read them. */
  if (parc__in_worker && !parc__pool_known(pool))
    return parc__error(PARC_EINVAL,
                       "parc_group_create: not a pool of this process (a worker started by exec "
                       "inherits no memory: a task can map on the pool that runs it with fork "
                       "start only)");
  bool inherited = pool->owner != getpid();
  if (inherited && !parc__in_worker)
    return parc__error(PARC_EINVAL,
                       "parc_group_create: the pool was created by process %d; a forked child "
                       "cannot use it (create a pool in the child)",
                       (int)pool->owner);
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
  g->seed = opt->seed ? opt->seed : pool->config.seed;
  g->sparse = sparse;
  g->stream = !sparse && opt->stream;
  g->last_reported = SIZE_MAX;
  /* Inside a process worker the pool's workers are the caller's, not ours:
     the tasks run here, in this worker. */
  g->in_caller = pool->ops->runs_in_caller || inherited;
  g->label = parc__strdup(opt->label ? opt->label : "parc");
  if (!g->label) {
    group_free(g);
    return parc__error(PARC_ENOMEM, "parc_group_create: out of memory");
  }
  int rc = opt->cache ? parc__cache_bind(&g->cache, opt->cache, opt->cache_name,
                                         opt->cache_version, g->context, g->context_size)
                      : PARC_OK;
  if (rc == PARC_OK)
    rc = parc__completion_init(&g->completion, !sparse, opt, g->label,
                               inherited ? 0 : pool->config.verbose);
  if (rc) {
    group_free(g);
    return rc;
  }
  pthread_mutex_init(&g->lock, NULL);
  /* A pool used inside its own process worker traces nothing there. */
  g->trace = inherited ? NULL : pool->trace;
  if (g->trace) g->trace_name = parc__trace_name(g->trace, g->label);
  g->timed = g->trace || (!inherited && pool->config.verbose >= 2);
  *out = g;
  return PARC_OK;
}

int parc_group_create(parc_group **g, parc_pool *pool, const parc_options *opt) {
  return group_create(g, pool, opt, false);
}

int parc__group_create_sparse(parc_group **g, parc_pool *pool, const parc_options *opt) {
  return group_create(g, pool, opt, true);
}

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

/* A job of n tasks of fn for g, its cache scope looked up; NULL with the
   error in *rc. */
static parc__job *job_make(parc_group *g, const char *who, parc_fn fn, size_t n, size_t copy,
                           int *rc) {
  parc__job *job = parc__job_new(n, !g->sparse, copy);
  if (!job) {
    *rc = parc__error(PARC_ENOMEM, "%s: out of memory for %zu tasks", who, n);
    return NULL;
  }
  job->tasks.fn = fn;
  job->tasks.context = g->context;
  job->tasks.context_size = g->context_size;
  job->tasks.seed = g->seed;
  job->tasks.index_base = SIZE_MAX;
  job->batch = g->batch;
  job->target_ns = g->pool->ops->chunk_target_ns;
  job->growth = g->pool->ops->chunk_growth;
  job->trace = g->trace;
  job->trace_name = g->trace_name;
  job->timed = g->timed;
  if (g->cache && (*rc = parc__cache_scope_of(g->cache, fn, &job->cache_scope)) != PARC_OK) {
    parc__job_free(job);
    return NULL;
  }
  *rc = PARC_OK;
  return job;
}

/* The job's tasks may make results of any size. A map's are never freed
   one by one (a stream's are): small ones can be carved from chunks. */
static void enable_outputs(const parc_group *g, parc__job *job) {
  job->tasks.outputs = &job->outputs;
  job->outputs.chunked = job->count > 1 && !g->stream;
}

/* Numbers the job's tasks, records it, and hands it to the workers. */
static int job_enqueue(parc_group *g, const char *who, parc__job *job, size_t *first_index) {
  /* Buffers that cross the API are no globals a task reads behind its back. */
  parc__globals_note(job->tasks.in, job->count * job->tasks.in_size);
  parc__globals_note(job->tasks.out, job->count * job->tasks.out_size);
  parc__globals_note(job->tasks.context, job->tasks.context_size);
  pthread_mutex_lock(&g->lock);
  if (g->njobs == g->jobs_capacity) {
    size_t capacity = g->jobs_capacity ? g->jobs_capacity * 2 : 16;
    parc__job **jobs = parc__realloc(g->jobs, capacity * sizeof *jobs);
    if (!jobs) goto nomem;
    g->jobs = jobs;
    g->jobs_capacity = capacity;
  }
  if (parc__completion_add(&g->completion, &job->record) != PARC_OK) goto nomem;
  if (job->tasks.index_base == SIZE_MAX) job->tasks.index_base = job->record.first;
  g->jobs[g->njobs++] = job;
  g->queued = true;
  pthread_mutex_unlock(&g->lock);
  if (g->trace) parc__trace_count(g->trace, (int64_t)job->count, 0, 0);
  if (first_index) *first_index = job->record.first;
  if (!g->in_caller && !parc__dispatch_take_continuation(g->pool, job)) parc__pool_push(g->pool, job);
  return PARC_OK;
nomem:
  pthread_mutex_unlock(&g->lock);
  parc__job_free(job);
  return parc__error(PARC_ENOMEM, "%s: out of memory", who);
}

int parc__group_submit_node(parc_group *g, parc_fn fn, const void *in, size_t in_size,
                            void *out, size_t out_size, const parc__dep *deps, size_t ndeps,
                            size_t task_index,
                            void (*then)(void *arg, parc__job *job, size_t offset, size_t count),
                            void *then_arg, size_t *index) {
  static const char who[] = "parc_group_submit";
  int rc = check_buffers(who, g, fn, in, in_size, out, out_size, 1);
  if (rc) return rc;
  parc__job *job = job_make(g, who, fn, 1, in_size, &rc);
  if (!job) return rc;
  if (in_size) memcpy(job->owned_input, in, in_size);
  parc__globals_note(in, in_size);
  job->tasks.in = job->owned_input;
  job->tasks.in_size = in_size;
  job->tasks.out = out;
  job->tasks.out_size = out_size;
  if (!out_size) job->tasks.outputs = &job->outputs;
  job->tasks.deps = deps;
  job->tasks.ndeps = ndeps;
  job->tasks.index_base = task_index;
  job->then = then;
  job->then_arg = then_arg;
  return job_enqueue(g, who, job, index);
}

int parc_group_submit(parc_group *g, parc_fn fn, const void *in, size_t in_size, void *out,
                      size_t out_size, size_t *index) {
  return parc__group_submit_node(g, fn, in, in_size, out, out_size, NULL, 0, SIZE_MAX, NULL, NULL,
                                 index);
}

int parc__group_map_at(parc_group *g, parc_fn fn, const void *in, size_t in_size, void *out,
                       size_t out_size, size_t n, size_t task_index) {
  static const char who[] = "parc_group_map";
  int rc = check_buffers(who, g, fn, in, in_size, out, out_size, n);
  if (rc || n == 0) return rc;
  parc__job *job = job_make(g, who, fn, n, 0, &rc);
  if (!job) return rc;
  job->tasks.in = in_size ? in : NULL;
  job->tasks.in_size = in_size;
  job->tasks.out = out_size ? out : NULL;
  job->tasks.out_size = out_size;
  if (!out_size) enable_outputs(g, job);
  job->tasks.index_base = task_index;
  return job_enqueue(g, who, job, NULL);
}

int parc_group_map_bufs(parc_group *g, parc_fn fn, const parc_buf *in, size_t n) {
  static const char who[] = "parc_group_map_bufs";
  int rc = check_buffers(who, g, fn, NULL, 0, NULL, 0, n);
  if (rc || n == 0) return rc;
  if (!in) return parc__error(PARC_EINVAL, "%s: in is NULL but n is %zu", who, n);
  for (size_t i = 0; i < n; i++)
    if (!in[i].data && in[i].size)
      return parc__error(PARC_EINVAL, "%s: in[%zu].data is NULL but its size is %zu", who, i,
                         in[i].size);
  /* The records cross the API: no globals a task reads behind its back. */
  parc__globals_note(in, n * sizeof *in);
  for (size_t i = 0; i < n; i++) parc__globals_note(in[i].data, in[i].size);
  parc__job *job = job_make(g, who, fn, n, 0, &rc);
  if (!job) return rc;
  job->tasks.bufs = in;
  enable_outputs(g, job);
  return job_enqueue(g, who, job, NULL);
}

int parc_group_map(parc_group *g, parc_fn fn, const void *in, size_t in_size, void *out,
                   size_t out_size, size_t n) {
  return parc__group_map_at(g, fn, in, in_size, out, out_size, n, SIZE_MAX);
}

/* ---- waiting ------------------------------------------------------------ */

/* Runs one chunk of g's unclaimed tasks in this thread (one task if
   `one`), if this thread should: no worker runs them, or it is a worker of
   the pool waiting on a nested map. False when there was nothing to run. */
bool parc__group_helps(const parc_group *g) {
  return g->in_caller || parc__dispatch_in_worker_of(g->pool);
}

static bool help(parc_group *g, bool one) {
  if (!parc__group_helps(g)) return false;
  pthread_mutex_lock(&g->lock);
  while (g->help_cursor < g->njobs) {
    parc__job *job = g->jobs[g->help_cursor];
    size_t previous = g->help_previous;
    pthread_mutex_unlock(&g->lock);
    bool ran = parc__dispatch_help(job, one, &previous);
    pthread_mutex_lock(&g->lock);
    if (ran) {
      g->help_previous = previous;
      pthread_mutex_unlock(&g->lock);
      return true;
    }
    if (g->jobs[g->help_cursor] == job) {
      g->help_cursor++;
      g->help_previous = 0;
    }
  }
  pthread_mutex_unlock(&g->lock);
  return false;
}

/* The job holding task `index` (g->lock held), or NULL; *offset its
   offset there. Jobs are in index order. */
static size_t job_position(const parc_group *g, size_t index) {
  size_t lo = 0, hi = g->njobs;
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    if (g->jobs[mid]->record.first + g->jobs[mid]->count <= index) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

static parc__job *job_of(const parc_group *g, size_t index, size_t *offset) {
  size_t i = job_position(g, index);
  if (i == g->njobs || g->jobs[i]->record.first > index) return NULL;
  *offset = index - g->jobs[i]->record.first;
  return g->jobs[i];
}

/* Streams: the task next reported last goes, with its result; its job
   goes once every task of it has. */
static void forget(parc_group *g, size_t index) {
  pthread_mutex_lock(&g->lock);
  size_t offset;
  parc__job *job = job_of(g, index, &offset);
  if (!job) {
    pthread_mutex_unlock(&g->lock);
    return;
  }
  parc_buf *table = atomic_load(&job->outputs.table);
  if (table) parc__outputs_release(&job->outputs, &table[offset]);
  parc__completion_forget_task(&g->completion, &job->record, offset);
  if (++job->reported < job->count) {
    pthread_mutex_unlock(&g->lock);
    return;
  }
  size_t i = job_position(g, index);
  memmove(&g->jobs[i], &g->jobs[i + 1], (g->njobs - i - 1) * sizeof g->jobs[0]);
  g->njobs--;
  if (g->help_cursor > i) g->help_cursor--;
  parc__completion_forget(&g->completion, &job->record);
  pthread_mutex_unlock(&g->lock);
  if (!g->in_caller) parc__pool_release_job(g->pool, job);
  parc__job_free(job);
}

int parc_group_next(parc_group *g, double timeout, size_t *index) {
  if (!g) return parc__error(PARC_EINVAL, "parc_group_next: g is NULL");
  if (g->sparse) return parc__error(PARC_EINVAL, "parc_group_next: not a next-able group");
  if (isnan(timeout))
    return parc__error(PARC_EINVAL, "parc_group_next: timeout is NaN (a negative timeout waits "
                                    "forever, 0 polls)");
  if (g->last_reported != SIZE_MAX) {
    forget(g, g->last_reported);
    g->last_reported = SIZE_MAX;
  }
  double deadline = timeout < 0 ? -1 : parc__now() + timeout;
  parc__completion *c = &g->completion;
  for (;;) {
    size_t task;
    int status;
    bool all;
    if (parc__completion_take(c, &task, &status, &all)) {
      if (index) *index = task;
      if (g->stream) g->last_reported = task;
      return status;
    }
    if (all) return PARC_DONE;
    if (help(g, true)) continue;
    size_t target = c->reported + 1;
    if (!parc__completion_sleep(c, target, deadline))
      return parc__error(PARC_ETIMEDOUT, "parc_group_next: no task finished within %g s", timeout);
  }
}

/* Waits until every task submitted so far has finished. */
static int wait_all(parc_group *g, double timeout) {
  double deadline = timeout < 0 ? -1 : parc__now() + timeout;
  parc__completion *c = &g->completion;
  size_t target = parc__completion_total(c);
  while (parc__completion_finished(c) < target) {
    if (help(g, false)) continue;
    if (!parc__completion_sleep(c, target, deadline))
      return parc__error(PARC_ETIMEDOUT, "parc_group_wait: %zu tasks unfinished after %g s",
                         target - parc__completion_finished(c), timeout);
  }
  return PARC_OK;
}

int parc_group_wait(parc_group *g, double timeout) {
  if (!g) return parc__error(PARC_EINVAL, "parc_group_wait: g is NULL");
  if (isnan(timeout))
    return parc__error(PARC_EINVAL, "parc_group_wait: timeout is NaN (a negative timeout waits "
                                    "forever, 0 polls)");
  int rc = wait_all(g, timeout);
  return rc ? rc : parc__completion_outcome(&g->completion, "parc_group_wait");
}

/* ---- queries and cancellation ------------------------------------------- */

int parc_group_status(const parc_group *g, size_t index) {
  return g ? parc__completion_status(&g->completion, index) : PARC_EINVAL;
}

const char *parc_group_message(const parc_group *g, size_t index) {
  return g ? parc__completion_message(&g->completion, index) : NULL;
}

const void *parc_group_output(const parc_group *g, size_t index, size_t *size) {
  if (size) *size = 0;
  if (!g || g->sparse) return NULL;
  pthread_mutex_lock((pthread_mutex_t *)&g->lock);
  size_t offset;
  const parc__job *job = job_of(g, index, &offset);
  parc_buf result = {NULL, 0};
  /* Only a finished task's result is complete; a failed one has none. */
  if (job && parc__completion_status_at(&job->record, offset) == PARC_OK) {
    parc_buf *table = atomic_load_explicit(&((parc__job *)job)->outputs.table, memory_order_acquire);
    if (table) result = table[offset];
  }
  pthread_mutex_unlock((pthread_mutex_t *)&g->lock);
  if (size) *size = result.size;
  return result.data;
}

size_t parc_group_pending(const parc_group *g) {
  return g ? parc__completion_pending(&g->completion) : 0;
}

int parc_group_stats(const parc_group *g, parc_group_info *info) {
  if (!g) return parc__error(PARC_EINVAL, "parc_group_stats: g is NULL");
  if (!info) return parc__error(PARC_EINVAL, "parc_group_stats: info is NULL");
  parc__completion_stats(&g->completion, info);
  return PARC_OK;
}

size_t parc_group_failed(const parc_group *g) {
  return g ? parc__completion_failed(&g->completion) : 0;
}

void parc_group_cancel(parc_group *g) {
  if (!g) return;
  /* One job at a time under the lock (a stream's next may free a job that
     has been reported: the lock keeps it), found by its first index, since
     a freed job moves the later ones down. Cancelling publishes, which
     takes the completion's lock: it comes after the group's. */
  size_t from = 0;
  for (;;) {
    pthread_mutex_lock(&g->lock);
    size_t i = job_position(g, from);
    parc__job *job = i < g->njobs ? g->jobs[i] : NULL;
    if (job) {
      from = job->record.first + job->count;
      parc__dispatch_cancel(job);
    }
    pthread_mutex_unlock(&g->lock);
    if (!job) break;
  }
}

/* ---- destruction and the one-call map ----------------------------------- */

void parc_group_destroy(parc_group *g) {
  if (!g) return;
  parc_group_cancel(g);
  wait_all(g, -1);
  if (g->queued && !g->in_caller && g->pool->ops->group_done) g->pool->ops->group_done(g->pool);
  for (size_t i = 0; i < g->njobs; i++) {
    if (!g->in_caller) parc__pool_release_job(g->pool, g->jobs[i]);
    parc__job_free(g->jobs[i]);
  }
  /* Every worker let go of the jobs, and with them of their trace buffers:
     the writer puts the group's events in the file now (its thread, not
     the caller's: a map's end does not wait for formatting). */
  parc__trace_kick(g->trace);
  parc__completion_destroy(&g->completion);
  parc__free(g->jobs);
  pthread_mutex_destroy(&g->lock);
  group_free(g);
}

int parc_map(parc_pool *pool, parc_fn fn, const void *in, size_t in_size, void *out,
             size_t out_size, size_t n, const parc_options *opt, int *status) {
  if (!pool) return parc__error(PARC_EINVAL, "parc_map: pool is NULL");
  parc_group *g;
  int rc = group_create(&g, pool, opt, true);
  if (rc) return rc;
  rc = parc_group_map(g, fn, in, in_size, out, out_size, n);
  if (rc) {
    parc_group_destroy(g);
    return rc;
  }
  rc = wait_all(g, -1);
  if (rc == PARC_OK) rc = parc__completion_outcome(&g->completion, "parc_map");
  if (status) {
    parc__globals_note(status, n * sizeof *status);   /* parc writes it, as an output */
    for (size_t i = 0; i < n; i++) status[i] = PARC_OK;
    size_t nfailures;
    const parc__failure *f = parc__completion_failures(&g->completion, &nfailures);
    for (size_t i = 0; i < nfailures; i++) status[f[i].index] = f[i].status;
  }
  /* destroy may set parc_errmsg() on its way; the map's message stays. */
  char message[PARC__MESSAGE_MAX];
  snprintf(message, sizeof message, "%s", parc_errmsg());
  parc_group_destroy(g);
  if (rc) parc__error(rc, "%s", message);
  return rc;
}
