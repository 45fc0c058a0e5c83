/*
 * parc_internal.h — what the files of src/ share; never installed.
 *
 * The layers. Every task, whatever runs it, goes down one path; each file
 * calls only the layers listed before its own, never one after it:
 *
 *   1. leaves     error.c (status list, messages, clocks), version.c, alloc.c, cpu.c,
 *                 rng.c, cache_hash.c (SipHash, XXH3, checksums), fnref.c
 *                 (address <-> object + offset, symbol names), shared.c
 *                 (shared memory), futex.c, progress.c, trace.c, globals.c
 *                 (the executable's .data and .bss, hashed)
 *   2. the task   task.c: struct parc_task, its accessors, and the ONE
 *                 routine that runs a range of tasks, parc__tasks_run
 *                 (inline in task.h: every executor's hot loop)
 *   3. jobs       job.c: a job's tasks, its claim protocol and batching
 *   4. completion completion.c: status, messages, the completion log,
 *                 waking waiters, progress
 *   5. the cache  cache.c, cache_open.c, cache_db.c, cache_filter.c: a
 *                 filter over a block of tasks (look up, store); it never
 *                 calls jobs' claims, groups, pools or backends
 *   6. the pool   pool.c: configuration, the queue of jobs, claims
 *   7. dispatch   dispatch.c: cancellation, then the cache filter, then the
 *                 executor on the misses, then completion; the worker loop
 *   8. backends   backend_thread.c, backend_serial.c, backend_process.c
 *                 (+ process_proxy.c, process_server.c, process_exec.c,
 *                 process.h: private), backend_mpi.c (rank 0; + mpi_progress.c,
 *                 mpi_root.h, mpi_wire.h: private)
 *   9. groups     group.c: the public group API and parc_map
 *  10. on top     graph.c, scaling.c, reduce.c, mpi_join.c (how ranks
 *                 join an MPI pool), mpi_serve.c (the other ranks' server,
 *                 over groups)
 *
 * The model. A group owns jobs; a job is a span of consecutive task
 * indices sharing one function and two strided arrays (a map is one job, a
 * submit is a job of one task with its own copy of the input). A pool
 * keeps a FIFO queue of jobs with unclaimed tasks. A worker (a thread; for
 * processes a parent-side proxy thread) claims a chunk, dispatches it
 * (cache, then its backend's executor), and publishes the chunk to the
 * group's completion in one atomic step. Nothing takes a lock per task.
 *
 * Lock order: pool->lock before a completion's lock before a cache's lock.
 * Workers never hold a lock while running a task.
 */
#ifndef PARC_INTERNAL_H
#define PARC_INTERNAL_H

#include "parc.h"

#include <assert.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <time.h>
#include <sys/types.h>

#define PARC__HIDDEN __attribute__((visibility("hidden")))
#define PARC__MAX_WORKERS 4096
#define PARC__MESSAGE_MAX 1024
#define PARC__PATH_MAX 4096

/* ======================================================================= */
/* 1. Leaves                                                               */
/* ======================================================================= */

/* ---- error.c ---------------------------------------------------------- */
/* Sets this thread's parc_errmsg() and returns status, so that
   `return parc__error(PARC_EINVAL, "x: ...")` reads as one step. */
int parc__error(int status, const char *fmt, ...) PARC_PRINTF(2, 3);
/* PARC_ESYS with "what: strerror(errno)". */
int parc__error_errno(const char *what);
/* Formats into a new heap string (NULL when out of memory), cut at
   PARC__MESSAGE_MAX bytes. */
char *parc__vformat(const char *fmt, va_list ap);
char *parc__format(const char *fmt, ...) PARC_PRINTF(1, 2);

/* ---- alloc.c: the one allocation pair, so tests can fail the Nth ------- */
void *parc__malloc(size_t size);
void *parc__calloc(size_t count, size_t size);
void *parc__realloc(void *p, size_t size);
void parc__free(void *p);
char *parc__strdup(const char *s);
/* Zeroed arrays that may be large: from 2 MiB on, a mapping of their own
   on huge pages where the kernel has them. Freed with the same count and
   size. */
void *parc__calloc_large(size_t count, size_t size);
void parc__free_large(void *p, size_t count, size_t size);
/* Test hook: the nth allocation from now (1-based) and every one after it
   fails; 0 turns failures off. Not thread-aware: for single-threaded tests. */
void parc__alloc_fail_after(long n);

/* ---- clock (error.c) -------------------------------------------------- */
double parc__now(void);        /* CLOCK_MONOTONIC, seconds */
uint64_t parc__now_ns(void);
/* `seconds` from now on `clock`, for pthread_cond_timedwait. */
struct timespec parc__time_after(clockid_t clock, double seconds);

/* ---- fnref.c, shared.c, futex.c: the process, seen from inside: os.h -- */
#include "os.h"

/* ---- progress.c ------------------------------------------------------- */
/* Progress output for a group with verbose > 0. parc__progress_update is
   called after every completed chunk, from any thread, with the chunk's
   task count and the group's finished, failed and submitted totals; it
   costs a clock read and an atomic load when it has nothing to print. */
typedef struct parc__progress parc__progress;
parc__progress *parc__progress_create(const char *label, int verbose);
void parc__progress_update(parc__progress *p, size_t count, size_t done, size_t failed,
                           size_t total);
void parc__progress_finish(parc__progress *p, size_t done, size_t failed, size_t total);
/* A stream without opt.total: the total grows as tasks come, so no ETA. */
void parc__progress_open_ended(parc__progress *p);
void parc__progress_destroy(parc__progress *p);
/* verbose = 2: the group's statistics (parc_group_stats), appended to the
   summary line that parc__progress_finish prints. */
void parc__progress_report(parc__progress *p, const parc_group_info *info);

/* ---- trace.c: a pool's task timeline: trace.h --------------------------- */
#include "trace.h"

/* ---- globals.c: the program's writable globals ------------------------- */
/* A picture of the executable's .data and .bss: an XXH3-64 per 4 KiB page
   (beyond 2 MiB, of a sample of 64 KiB runs), the 8 bytes at slot (NULL:
   none) read as zero. NULL when the check is off (libparc linked
   statically, no .data/.bss found, PARC_GLOBALS_WARNING=0) or memory ran
   out. Thread-safe. */
typedef struct parc__globals_image parc__globals_image;
parc__globals_image *parc__globals_take(const void *slot);
void parc__globals_free(parc__globals_image *img);   /* NULL, at_start's: no-op */
/* The picture taken before main by libparc's constructor: the image an
   exec-started worker has. NULL when off. Never to be freed. */
const parc__globals_image *parc__globals_at_start(void);
/* [p, p + n) crossed the API (a map's input or output array, a context,
   a submitted record): if it lies in the globals, its pages are left out
   of every comparison from now on. Cheap when it does not. */
void parc__globals_note(const void *p, size_t n);
/* The same for each of a map's records of any size, which all lie in
   [span, span + span_size): nothing to do unless that meets the globals. */
void parc__globals_note_bufs(const parc_buf *in, size_t n, const void *span, size_t span_size);
/* Do the globals differ from img now, outside the noted pages? False
   when img is NULL or the check is off. */
bool parc__globals_changed(const parc__globals_image *img, const void *slot);

/* ======================================================================= */
/* 2. The task: task.h                                                     */
/* ======================================================================= */

#include "task.h"

/* ======================================================================= */
/* 3. Jobs (job.c)                                                         */
/* ======================================================================= */

typedef struct parc__completion parc__completion;

/* Where a job's outcomes go (completion.c): its group's completion, the
   group index of its task 0, and its status bytes (NULL for parc_map's
   sparse jobs, whose failures are records and successes implicit). */
typedef struct parc__record {
  parc__completion *completion;
  size_t first;
  size_t count;
  _Atomic signed char *status;
  _Atomic bool *canceled;     /* the job's flag: stop_on_error sets it */
} parc__record;

struct parc__cache_scope;

typedef struct parc__job parc__job;
struct parc__job {
  parc__tasks tasks;          /* read by every task: alone on its lines */
  size_t count;
  size_t batch;               /* 0 = automatic */
  uint64_t target_ns;         /* automatic batching: work per claim ... */
  size_t growth;              /* ... and how fast claims grow to it */
  parc__record record;
  struct parc__cache_scope *cache_scope;  /* look tasks up here first, or NULL */
  /* Called by the worker that ran tasks [offset, offset + count), after
     their outcomes are recorded and before they are published (graphs:
     make dependants ready on this worker). NULL: none. */
  void (*then)(void *arg, parc__job *job, size_t offset, size_t count);
  void *then_arg;
  parc__trace *trace;         /* the pool's timeline, or NULL */
  uint16_t trace_name;        /* the group's label in it */
  bool timed;                 /* time each task: a trace, or verbose = 2 */
  void *block;                /* the allocation this job sits in */
  void *owned_input;          /* submit: the copy of the input */
  parc__outputs outputs;      /* out_size 0: the tasks' parc_task_output results */
  size_t reported;            /* streams: tasks of this job parc_group_next reported
                                 (the group's lock) */
  /* Every worker's claim writes `next`: alone on its cache line, so the
     fields every task reads are not pulled away by the other workers. */
  _Alignas(64) _Atomic size_t next;   /* first unclaimed offset; >= count: exhausted */
  _Alignas(64) _Atomic uint64_t ns_per_task;   /* automatic batching's estimate, 0 = none */
  _Atomic bool canceled;      /* tasks of this job not yet started are cancelled */
  _Atomic bool pinned;        /* a worker's continuation: it will run it, never freed
                                 before it lets go (parc__pool_release_job waits) */
  /* Guarded by pool->lock: */
  parc__job *queue_next;      /* the pool's queue */
  bool queued;
  int users;                  /* workers holding this job */
};

/* A job of `count` tasks, zeroed, with `status_bytes` (0 or count) status
   bytes and room for a `copy_size`-byte input copy (job->owned_input).
   NULL when out of memory or the sizes overflow. Its tasks have no
   variable results until tasks.outputs = &job->outputs. free: frees the
   results too. */
parc__job *parc__job_new(size_t count, bool status_bytes, size_t copy_size);
void parc__job_free(parc__job *job);
/* Claims up to `want` unclaimed tasks (all if want is SIZE_MAX); 0 when
   the job is exhausted. Chunk size for a worker's next claim (automatic
   batching). Both inline: with batch = 1 they run once per task. */
static inline size_t parc__job_claim(parc__job *job, size_t want, size_t *offset) {
  assert(job->count > 0 && job->count <= SIZE_MAX / 2);
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
  assert(n > 0 && start + n <= job->count);
  *offset = start;
  return n;
}

static inline size_t parc__job_chunk_size(const parc__job *job, int workers, size_t previous) {
  if (job->batch) return job->batch;
  size_t next = atomic_load_explicit(&job->next, memory_order_relaxed);
  size_t remaining = next < job->count ? job->count - next : 1;
  size_t cap = remaining / (2 * (size_t)workers);
  size_t grow = previous ? previous * job->growth : 1;
  uint64_t per_task = atomic_load_explicit(&job->ns_per_task, memory_order_relaxed);
  size_t want = per_task ? (size_t)(job->target_ns / per_task) : grow;
  if (want > grow) want = grow;
  if (want > cap) want = cap;
  return want ? want : 1;
}

/* Feeds one chunk's measured run time into the job's estimate. */
void parc__job_observe(parc__job *job, size_t count, uint64_t elapsed_ns);
static inline bool parc__job_canceled(const parc__job *job) {
  return atomic_load_explicit(&job->canceled, memory_order_relaxed);
}
void parc__job_cancel(parc__job *job);

/* ======================================================================= */
/* 4. Completion (completion.c)                                            */
/* ======================================================================= */

/* A failed task's record: its message, and (in a sparse group) its status. */
typedef struct parc__failure {
  size_t index;
  int status;
  char *text;
} parc__failure;

#define PARC__ORDER_SEGMENTS 48

/* A group's outcomes: embedded in the group, made by parc__completion_init. */
struct parc__completion {
  bool keep_order;            /* false for parc_map: nobody will call next */
  bool stop_on_error;
  bool stream;                /* opt.stream: the log is `ring`, records are forgotten */
  size_t expected;            /* opt.total: progress counts against it */
  parc__progress *progress;

  pthread_mutex_t lock;       /* guards the fields up to `finished` */
  pthread_cond_t changed;     /* broadcast when finished reaches wake_at */
  parc__record **records;     /* in index order */
  size_t nrecords, records_capacity;
  size_t total;               /* tasks submitted */
  size_t reported;            /* completion-log entries handed out by next */
  int waiters;
  bool stopped;               /* stop_on_error fired: later jobs are cancelled too */
  parc__failure *failures;
  size_t nfailures, failures_capacity;
  bool failures_sorted;
  _Atomic size_t *order[PARC__ORDER_SEGMENTS];
  size_t *ring;               /* streams' completion log: finished, not yet reported */
  size_t ring_head, ring_count, ring_capacity;

  _Atomic size_t finished;    /* tasks completed (and completion-log positions reserved) */
  _Atomic size_t total_seen;  /* `total`, readable without the lock */
  _Atomic size_t wake_at;     /* SIZE_MAX: nobody waits */
  _Atomic size_t failed;
  _Atomic size_t first_failure;   /* lowest index that failed for real */
  _Atomic size_t first_cancel;    /* lowest index cancelled */
  int cpus;                   /* spinning before a sleep only pays with 2+ */
  /* parc_group_stats: */
  uint64_t first_ns;          /* the first submission (lock) */
  _Atomic uint64_t last_ns;   /* the last publication that finished everything */
  _Atomic uint64_t busy_ns;   /* measured task time */
  _Atomic uint64_t longest_ns;
  _Atomic size_t longest_index;   /* SIZE_MAX: no task timed */
  _Atomic size_t cached;      /* tasks the cache answered */
  _Atomic size_t canceled;    /* of `failed`, cancelled */
};

/* keep_order: parc_group_next may be called; label and verbose: progress.
   opt: stop_on_error, stream, total. PARC_ENOMEM with a message. destroy:
   finishes the progress output. */
int parc__completion_init(parc__completion *c, bool keep_order, const parc_options *opt,
                          const char *label, int verbose);
void parc__completion_destroy(parc__completion *c);
/* Numbers a job's tasks (r->first) and records it. r->count and r->status
   must be set. PARC_ENOMEM. If stop_on_error has fired, cancels it. */
int parc__completion_add(parc__completion *c, parc__record *r);
/* The recorded status of task `offset` of a record with status bytes. */
static inline int parc__completion_status_at(const parc__record *r, size_t offset) {
  return PARC_PENDING - atomic_load_explicit(&r->status[offset], memory_order_acquire);
}
/* Tasks [from, to) of r that have no outcome yet (none failed) succeeded
   (outputs in place). Inline: a sparse record (parc_map's) has nothing to
   write, and that is the hot case. */
static inline void parc__completion_ok(const parc__record *r, size_t from, size_t to) {
  if (!r->status) return;
  for (size_t k = from; k < to; k++)
    if (atomic_load_explicit(&r->status[k], memory_order_relaxed) == 0)
      atomic_store_explicit(&r->status[k], (signed char)(PARC_PENDING - PARC_OK),
                            memory_order_relaxed);
}
/* Task `offset` of r failed with status; message (heap or NULL) is taken
   over. Safe from any thread. */
void parc__completion_fail(const parc__record *r, size_t offset, int status, char *message);
/* Publishes tasks [offset, offset + count) of r, every one of which has
   its outcome: parc_group_next and wait see them now. */
void parc__completion_publish(const parc__record *r, size_t offset, size_t count);
/* Timing of tasks of r (busy: their summed run time; longest: the slowest
   of them, at offset longest_offset; 0 and SIZE_MAX when not timed one by
   one), and how many the cache answered. */
void parc__completion_timing(const parc__record *r, uint64_t busy_ns, uint64_t longest_ns,
                             size_t longest_offset);
void parc__completion_cached(const parc__record *r, size_t count);
/* parc_group_stats's figures. */
void parc__completion_stats(const parc__completion *c, parc_group_info *info);
/* A worker thread's deferred publications (see completion.c): worker loops
   call worker_begin once, and flush before they let go of a job or wait. */
void parc__completion_worker_begin(void);
void parc__completion_flush(void);
/* Everything else is for the group API, lock NOT held unless said. */
size_t parc__completion_finished(const parc__completion *c);
size_t parc__completion_total(parc__completion *c);
/* The next task in completion order, if one has finished: true, *index and
   *status set. */
bool parc__completion_take(parc__completion *c, size_t *index, int *status, bool *all_reported);
/* Sleeps until `target` tasks have finished or deadline (parc__now(), < 0:
   none) passes; false on timeout. */
bool parc__completion_sleep(parc__completion *c, size_t target, double deadline);
int parc__completion_status(const parc__completion *c, size_t index);
const char *parc__completion_message(const parc__completion *c, size_t index);
size_t parc__completion_failed(const parc__completion *c);
/* What parc_group_wait returns once all finished; on a failure, sets
   parc_errmsg() to "task I failed: MESSAGE" for the lowest failed index. */
int parc__completion_outcome(const parc__completion *c, const char *who);
/* Every failure record (sparse groups: all that is known of failures). */
const parc__failure *parc__completion_failures(const parc__completion *c, size_t *n);
/* Tasks submitted and not yet reported by parc__completion_take. */
size_t parc__completion_pending(const parc__completion *c);
/* Streams: task `offset` of r was reported and its record goes: its
   failure text is freed, its status reads PARC_EINVAL, its message NULL. */
void parc__completion_forget_task(parc__completion *c, const parc__record *r, size_t offset);
/* Streams: every task of r was forgotten: r leaves the records. */
void parc__completion_forget(parc__completion *c, const parc__record *r);

/* ======================================================================= */
/* 5. The cache filter: cache.h                                            */
/* ======================================================================= */

#include "cache.h"

/* ======================================================================= */
/* 6. Pools (pool.c)                                                       */
/* ======================================================================= */

typedef struct parc__worker parc__worker;

/* An executor runs tasks [from, to) of a job somewhere other than this
   thread (a process worker, an MPI rank). It reports every task's outcome
   (parc__completion_ok / _fail) and, when `bad` is not NULL (to - from <=
   64), sets bit k - from of *bad for each task that did not succeed, and
   (used_index not NULL) *used_index if a task called parc_task_index or
   parc_task_rng. */
typedef void (*parc__executor)(parc__worker *w, parc__job *job, size_t from, size_t to,
                               uint64_t *bad, bool *used_index);

typedef struct parc__backend_ops {
  const char *name;
  /* Starts pool->workers workers; on failure leaves none running and
     returns a PARC_* error with its message set. */
  int (*start)(parc_pool *pool);
  /* Called once the queue is closed: workers see parc__pool_claim return
     false, finish, and are joined here. Frees backend_data. */
  void (*stop)(parc_pool *pool);
  /* NULL: tasks run in the thread that claimed them. */
  parc__executor execute;
  /* True when the caller runs tasks itself (SERIAL): jobs are not queued. */
  bool runs_in_caller;
  /* NULL, or called in the pool's own process (never in a worker) when a
     group that queued tasks is destroyed (parc_map's too), its tasks
     finished and every buffer that crossed noted (parc__globals_note):
     PROCESSES checks the globals there. */
  void (*group_done)(parc_pool *pool);
  uint64_t chunk_target_ns;   /* automatic batching: work per claim (50 us on
                                 threads, 500 us where a claim is a round trip
                                 to another process) ... */
  size_t chunk_growth;        /* ... and how fast claims grow to it: x2, x8 */
  /* NULL, or called by parc_pool_create before the pool exists (MPI: every
     rank joins; ranks other than 0 serve and never return). It may replace
     *ops (MPI outside mpirun runs as PROCESSES). PARC_* error or PARC_OK. */
  int (*prepare)(parc_config *cfg, const struct parc__backend_ops **ops);
} parc__backend_ops;

struct parc_pool {
  parc_config config;
  int workers;
  int cpus;                   /* parc_cpu_count() when the pool was made */
  pid_t owner;                /* the process that made it */
  parc__trace *trace;         /* config.trace's timeline, or NULL */
  parc_pool **home;           /* where parc_pool_create stored it (a global,
                                 maybe: the globals check reads it as zero) */
  const parc__backend_ops *ops;
  void *backend_data;

  pthread_mutex_t lock;       /* guards everything below */
  pthread_cond_t work;        /* a job was queued, or the pool is closing */
  pthread_cond_t released;    /* some job's users dropped to 0 */
  parc__job *head, *tail;     /* jobs that may have unclaimed tasks, FIFO */
  int idle;                   /* workers waiting on `work` */
  bool closing;
};

/* What one worker carries between claims: the job it holds (job->users
   counts it), its last chunk size, and a parc_task made for that job. */
struct parc__worker {
  parc_pool *pool;
  int id;
  parc__executor execute;     /* the backend's, NULL: in this thread */
  parc__job *job;
  size_t previous;
  const parc__job *task_job;  /* the job `task` was made for */
  parc_task task;
  /* A timed job's current chunk (traces, stats): */
  uint64_t chunk;             /* its number in the trace */
  uint64_t busy_ns, longest_ns;
  size_t longest_offset;      /* SIZE_MAX: none yet */
};

/* Queues a job whose tasks are ready to claim and wakes a worker. */
void parc__pool_push(parc_pool *pool, parc__job *job);
/* A worker's next chunk: blocks until one is available (true) or the pool
   is closing with nothing left to claim (false; the worker holds nothing). */
bool parc__pool_claim(parc__worker *w, size_t *offset, size_t *count);
/* Takes job out of the queue (if there) and waits until no worker holds
   it. After this, no worker will touch job again. */
void parc__pool_release_job(parc_pool *pool, parc__job *job);
/* True when pool is a live pool of this process or one it inherited
   through fork (never reads *pool). */
bool parc__pool_known(const parc_pool *pool);
/* Closes the queue and wakes every worker (they drain it, then leave). */
void parc__pool_close(parc_pool *pool);

/* ======================================================================= */
/* 7. Dispatch (dispatch.c)                                                */
/* ======================================================================= */

/* Runs tasks [offset, offset + count) of w->job: cancelled ones are
   finished as such, the cache answers what it can, the executor runs the
   rest; then the chunk is published. */
void parc__dispatch_chunk(parc__worker *w, parc__job *job, size_t offset, size_t count);
/* The loop of a worker: claim, dispatch, until the pool closes. */
void parc__dispatch_worker_loop(parc_pool *pool, int id, parc__executor execute);
/* Helping: claims one chunk of job (one task if `one`) and runs it in this
   thread. False when the job has nothing left to claim. */
bool parc__dispatch_help(parc__job *job, bool one, size_t *previous);
/* Claims every unclaimed task of job and finishes it PARC_ECANCELED. */
void parc__dispatch_cancel(parc__job *job);
/* Timing of a timed job's task (an executor calls it for each try): adds to
   w's chunk figures and records the try in the job's trace. */
void parc__dispatch_task_ran(parc__worker *w, parc__job *job, size_t offset, uint64_t start_ns,
                             uint64_t end_ns, int status, unsigned try_number);
/* True in a thread that is a worker of pool (a task calling into the pool
   that runs it). */
bool parc__dispatch_in_worker_of(const parc_pool *pool);
/* In a job's `then`, run by a worker of pool: the first job that call
   submits becomes the worker's next (true: it is pinned and must not be
   queued), so a graph hands a node to its dependant without the queue or
   a wake-up. False otherwise: queue it. */
bool parc__dispatch_take_continuation(const parc_pool *pool, parc__job *job);

/* ======================================================================= */
/* 8. Backends                                                             */
/* ======================================================================= */

extern const parc__backend_ops parc__backend_threads;
extern const parc__backend_ops parc__backend_serial;
extern const parc__backend_ops parc__backend_processes;
#ifdef PARC_HAVE_MPI
extern const parc__backend_ops parc__backend_mpi;
#endif

/* ======================================================================= */
/* 9. Groups (group.c), for graphs and reductions                          */
/* ======================================================================= */

/* parc_group_submit for a graph node: deps (borrowed until the task has
   finished) are what parc_task_dep returns inside it; its parc_task_index
   is task_index (SIZE_MAX: its group index); then(then_arg, ...) runs in
   the worker once it has finished (see parc__job). Safe from any thread. */
int parc__group_submit_node(parc_group *g, parc_fn fn, const void *in, size_t in_size,
                            void *out, size_t out_size, const parc__dep *deps, size_t ndeps,
                            size_t task_index,
                            void (*then)(void *arg, parc__job *job, size_t offset, size_t count),
                            void *then_arg, size_t *index);
/* A group as parc_map makes it: no completion order (parc_group_next says
   PARC_EINVAL), no status bytes, failures kept as records. */
int parc__group_create_sparse(parc_group **g, parc_pool *pool, const parc_options *opt);
/* parc_group_map whose tasks see parc_task_index task_index + k (SIZE_MAX:
   their group index): parc_map_reduce's windows keep the map's indices. */
int parc__group_map_at(parc_group *g, parc_fn fn, const void *in, size_t in_size, void *out,
                       size_t out_size, size_t n, size_t task_index);
/* True when waiting on g runs its tasks in this thread (SERIAL, a pool
   used inside its own process worker, or a worker of g's pool). */
bool parc__group_helps(const parc_group *g);

#endif /* PARC_INTERNAL_H */
