/*
 * parc.h — embarrassingly parallel work in C: the whole public API.
 *
 * parc runs a task function over many input records on a pool of workers:
 * threads (the default), forked processes (a crash or hang costs one task),
 * the caller itself (serial, the reference), or MPI ranks. One function runs
 * unchanged on every backend because data crosses the API as bytes.
 *
 *     static int square(const void *in, void *out, parc_task *t) {
 *         (void)t; *(double *)out = *(const double *)in * *(const double *)in;
 *         return 0;
 *     }
 *     parc_pool *pool; parc_pool_create(&pool, NULL);
 *     parc_map(pool, square, x, sizeof x[0], y, sizeof y[0], n, NULL, NULL);
 *     parc_pool_destroy(pool);
 *
 * Conventions, everywhere below:
 *  - Functions that can fail return a PARC_* status; 0 is success. The
 *    calling thread's parc_errmsg() then says what went wrong. Codes are
 *    stable; messages are for people and may change.
 *  - Destructors accept NULL (a harmless no-op), return void, never fail.
 *  - "borrowed" means parc keeps the pointer for the time stated and the
 *    caller must keep it valid; "copied" means the caller may reuse it at once.
 *  - Every function is thread-safe unless its comment says otherwise.
 *
 * Order of this file: status codes, pools, groups and map, inside a task,
 * random streams, shared memory, task graphs, cache.
 */
#ifndef PARC_H
#define PARC_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__)
#define PARC_EXPORT __attribute__((visibility("default")))
#define PARC_PRINTF(f, a) __attribute__((format(printf, f, a)))
#else
#define PARC_EXPORT
#define PARC_PRINTF(f, a)
#endif

/* ------------------------------------------------------------------------ */
/* Status codes                                                             */
/* ------------------------------------------------------------------------ */

enum {
  PARC_OK = 0,
  PARC_DONE = 1,          /* parc_group_next: every task has been reported */
  PARC_PENDING = 2,       /* parc_group_status: not finished yet */
  PARC_EINVAL = -1,       /* bad argument; parc_errmsg() says which and why */
  PARC_ENOMEM = -2,       /* an allocation failed; nothing was changed */
  PARC_ESYS = -3,         /* a system call failed; parc_errmsg() has errno's text */
  PARC_ETASK = -4,        /* the task returned non-zero or called parc_fail */
  PARC_ECRASH = -5,       /* the worker died running it: signal or exit; message names it */
  PARC_ETIMEDOUT = -6,    /* the task (or a wait) ran past its timeout */
  PARC_ECANCELED = -7,    /* cancelled before it started */
  PARC_EDEPENDENCY = -8,  /* graph: a node this one depends on failed */
  PARC_EBACKEND = -9,     /* backend not built in or not usable here */
};

/* A constant, static English name for a status ("PARC_EINVAL: invalid
   argument"); never NULL, also for unknown codes. */
PARC_EXPORT const char *parc_strerror(int status);

/* Detail of the last error returned to this thread by any parc function
   ("parc_group_map: in is NULL but in_size is 8"). Thread-local: other
   threads' errors never overwrite it. The string stays valid until this
   thread's next failing parc call. "" when nothing has failed yet. */
PARC_EXPORT const char *parc_errmsg(void);

/* Usable CPUs: the smaller of the affinity mask (sched_getaffinity, so
   `taskset -c 0` gives 1) and the cgroup CPU quota (v2 cpu.max, v1
   cfs_quota_us/cfs_period_us, rounded up). At least 1. */
PARC_EXPORT int parc_cpu_count(void);

/* ------------------------------------------------------------------------ */
/* Pools                                                                    */
/* ------------------------------------------------------------------------ */

typedef struct parc_pool parc_pool;
typedef struct parc_group parc_group;
typedef struct parc_task parc_task;
typedef struct parc_graph parc_graph;
typedef struct parc_cache parc_cache;

/* A task: reads one input record, writes one output record. Returns 0 on
   success; any other value, or `return parc_fail(task, "...")`, marks this
   task failed while the others go on. `in` is NULL when in_size is 0, `out`
   NULL when out_size is 0. On the thread backend `in` points into the
   caller's array; it must be treated as read-only. */
typedef int (*parc_fn)(const void *in, void *out, parc_task *task);

typedef enum {
  PARC_THREADS,    /* worker threads: the default, cheapest per task */
  PARC_PROCESSES,  /* forked workers: crash and hang isolation */
  PARC_SERIAL,     /* the caller runs each task, in index order: the reference */
  PARC_MPI         /* MPI ranks: the same program under mpirun */
} parc_backend;

typedef struct parc_config {
  parc_backend backend;      /* default PARC_THREADS */
  int workers;               /* 0 or -1: parc_cpu_count(); -k: max(1, cpus+1-k);
                                k > 0: k; beyond +-4096: PARC_EINVAL.
                                SERIAL always has 1 worker. */
  double timeout;            /* seconds per task, 0 = none; PROCESSES and MPI only,
                                with THREADS or SERIAL parc_pool_create says
                                PARC_EINVAL (a thread cannot be killed safely) */
  int retries;               /* further tries of a task that crashed or timed out
                                (PROCESSES, MPI); 0..1000 */
  uint64_t seed;             /* base of every task's random stream; default 0 */
  int verbose;               /* 0 quiet, 1 progress, 2 progress + per-worker detail */
  void (*worker_init)(void *arg);   /* run once in each worker before its first
                                       task; on SERIAL in the caller at create */
  void *worker_init_arg;     /* borrowed until parc_pool_destroy */
  unsigned max_tasks_per_worker;    /* PROCESSES: replace a worker after this
                                       many tasks, 0 = never */
} parc_config;

/* Fills *cfg with the defaults above, then applies the environment:
   PARC_BACKEND (threads|processes|serial|mpi), PARC_WORKERS (an integer, as
   for `workers`), PARC_VERBOSE (0|1|2). Unparseable values are ignored. */
PARC_EXPORT void parc_config_default(parc_config *cfg);

/* Creates a pool and starts its workers. cfg NULL: parc_config_default().
   cfg is copied. Errors: PARC_EINVAL (NULL pool, workers out of range,
   timeout with THREADS/SERIAL, negative timeout or retries, unknown
   backend), PARC_EBACKEND (PROCESSES or MPI not built in or unusable here;
   the message says what to install), PARC_ENOMEM, PARC_ESYS. On failure
   *pool is NULL and nothing is left running. */
PARC_EXPORT int parc_pool_create(parc_pool **pool, const parc_config *cfg);

/* Number of workers; 0 for NULL. */
PARC_EXPORT int parc_pool_size(const parc_pool *pool);

/* Which backend the pool runs on (after environment overrides). */
PARC_EXPORT parc_backend parc_pool_backend(const parc_pool *pool);

/* Waits for every task of every group, stops the workers and frees the
   pool. Groups must have been destroyed first; a group still alive is a
   caller bug, and its tasks are waited for anyway. NULL: no-op. */
PARC_EXPORT void parc_pool_destroy(parc_pool *pool);

/* ------------------------------------------------------------------------ */
/* Groups: submit, as_completed, map                                        */
/* ------------------------------------------------------------------------ */

typedef struct parc_options {
  const void *context;       /* read-only data every task may read
                                (parc_task_context); borrowed until the group
                                is destroyed; copied once per worker where
                                memory is not shared */
  size_t context_size;
  size_t batch;              /* tasks per dispatch, 0 = automatic (see below) */
  int stop_on_error;         /* 1: after the first failure, cancel tasks not yet started */
  uint64_t seed;             /* this group's streams; 0 = the pool's seed */
  const char *label;         /* names the work in progress output; copied */
  parc_cache *cache;         /* memoize through this cache, NULL = none */
  const char *cache_name;    /* NULL: the function's symbol name */
  const char *cache_version; /* bump to invalidate */
} parc_options;              /* zero-initialised = all defaults */

/* Automatic batching (batch = 0). Each worker claims a run of consecutive
   tasks at a time. The first claims are small (1, then doubling), and each
   worker times its runs: the size aims at about 50 microseconds of work per
   claim, so that dispatch costs well under 1% however small the task, but
   never exceeds remaining / (2 x workers) tasks, so the last claims shrink
   and uneven tasks still balance (guided self-scheduling). With batch = k,
   claims are exactly k tasks (fewer at the end); batch = 1 starts every
   task as soon as a worker is free. */

/* Creates an empty group on pool. opt NULL: defaults; opt is copied (label
   too; context is borrowed). Errors: PARC_EINVAL (NULL g or pool),
   PARC_ENOMEM. */
PARC_EXPORT int parc_group_create(parc_group **g, parc_pool *pool, const parc_options *opt);

/* Submits one task: fn(in, out). `in` is copied (in_size bytes); `out` is
   borrowed until the task is reported (the worker writes out_size bytes
   there). *index, if not NULL, receives the task's index: 0, 1, 2... in
   submission order within the group. Returns at once. Errors: PARC_EINVAL
   (NULL g or fn, NULL in/out with a non-zero size), PARC_ENOMEM. */
PARC_EXPORT int parc_group_submit(parc_group *g, parc_fn fn, const void *in, size_t in_size,
                                  void *out, size_t out_size, size_t *index);

/* Submits n tasks: task i runs fn(in + i*in_size, out + i*out_size). Both
   arrays are borrowed, not copied, until the group has finished. Indices
   continue the group's numbering. Returns at once. n = 0 is a no-op.
   Errors: PARC_EINVAL (NULL g or fn, NULL array with non-zero size, n *
   size overflows), PARC_ENOMEM. */
PARC_EXPORT int parc_group_map(parc_group *g, parc_fn fn, const void *in, size_t in_size,
                               void *out, size_t out_size, size_t n);

/* Reports one finished task in completion order (as_completed): *index
   receives it; returns that task's status (PARC_OK or an error code: the
   task's failure, not a failure of this call). PARC_DONE when every task
   submitted so far has been reported. PARC_ETIMEDOUT when timeout seconds
   pass first (timeout < 0 waits forever, 0 polls). Each task is reported
   once, to one caller. Errors: PARC_EINVAL (NULL g). */
PARC_EXPORT int parc_group_next(parc_group *g, double timeout, size_t *index);

/* Waits until every task submitted so far has finished. Returns PARC_OK,
   or the status of the failed task with the lowest index (a real failure
   preferred over PARC_ECANCELED); PARC_ETIMEDOUT if tasks remain when
   timeout seconds pass (timeout < 0: forever). Does not consume
   parc_group_next's reports. */
PARC_EXPORT int parc_group_wait(parc_group *g, double timeout);

/* Status of one task: PARC_OK, PARC_PENDING, or its error. PARC_EINVAL for
   NULL g or an index never submitted (no message is set: this is a query). */
PARC_EXPORT int parc_group_status(const parc_group *g, size_t index);

/* The failure text of a task ("Cannot process x=5", "killed by signal 11
   (Segmentation fault)"), or NULL if it has not failed. Owned by the group,
   valid until parc_group_destroy. */
PARC_EXPORT const char *parc_group_message(const parc_group *g, size_t index);

/* Number of tasks that have finished with an error, cancelled ones included. */
PARC_EXPORT size_t parc_group_failed(const parc_group *g);

/* Tasks not yet started become PARC_ECANCELED (reported by next like any
   other); running ones finish. Later submissions run normally. NULL: no-op. */
PARC_EXPORT void parc_group_cancel(parc_group *g);

/* Cancels what has not started, waits for what is running, frees the
   group. After it returns, no worker touches the group's buffers. NULL: no-op. */
PARC_EXPORT void parc_group_destroy(parc_group *g);

/* One call: map fn over n records, wait, return what parc_group_wait would.
   status, if not NULL, receives every task's status (n entries). opt NULL:
   defaults. Errors as parc_group_map. */
PARC_EXPORT int parc_map(parc_pool *pool, parc_fn fn, const void *in, size_t in_size,
                         void *out, size_t out_size, size_t n, const parc_options *opt,
                         int *status);

/* ------------------------------------------------------------------------ */
/* Inside a task                                                            */
/* ------------------------------------------------------------------------ */
/* These take the task pointer a task function was given; it is valid only
   during that call. */

/* The task's index in its group. */
PARC_EXPORT size_t parc_task_index(const parc_task *t);

/* The group's context bytes; *size (if not NULL) receives context_size.
   NULL when the group has none. */
PARC_EXPORT const void *parc_task_context(const parc_task *t, size_t *size);

/* Which worker runs this task: 0 .. workers-1. */
PARC_EXPORT int parc_task_worker(const parc_task *t);

/* Marks the task failed with a printf-style message and returns
   PARC_ETASK, so `return parc_fail(t, "x=%d out of range", x);` ends it.
   The message is copied (at most 1 KiB is kept). */
PARC_EXPORT int parc_fail(parc_task *t, const char *fmt, ...) PARC_PRINTF(2, 3);

/* ------------------------------------------------------------------------ */
/* Random streams                                                           */
/* ------------------------------------------------------------------------ */
/* Philox4x32-10 (Salmon et al., SC'11, via Random123): counter-based, so a
   stream is a pure function of (seed, stream) and the position in it.
   parc_task_rng(t) is a stream initialised with (the group's seed, the
   task's index): the numbers a task draws depend only on those, never on
   the backend, worker count, batching or timing. */

typedef struct parc_rng { uint64_t opaque[6]; } parc_rng;   /* stack-allocatable */

PARC_EXPORT void parc_rng_init(parc_rng *r, uint64_t seed, uint64_t stream);
PARC_EXPORT uint64_t parc_rng_u64(parc_rng *r);
/* Uniform on [0, 1) with 53 random bits. */
PARC_EXPORT double parc_rng_uniform(parc_rng *r);
/* Normal(mean, sd) by the Box-Muller transform; consumes two u64 per call. */
PARC_EXPORT double parc_rng_normal(parc_rng *r, double mean, double sd);

/* This task's stream, initialised on first use; owned by the task. */
PARC_EXPORT parc_rng *parc_task_rng(parc_task *t);

/* @@PARC_SECTIONS@@ — shared memory, task graphs and the cache follow. */

#ifdef __cplusplus
}
#endif

#endif /* PARC_H */
