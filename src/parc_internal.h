/*
 * parc_internal.h — what the files of src/ share; never installed.
 *
 * The model. A group owns jobs; a job is a span of consecutive task indices
 * sharing one function and two strided arrays (a map is one job, a submit is
 * a job of one task with its own copy of the input). A pool keeps a FIFO
 * queue of jobs that still have unclaimed tasks. A worker (a thread; for
 * processes a parent-side proxy thread) claims a chunk — a run of tasks of
 * the job at the head of the queue — runs it (or ships it), writes each
 * task's status, then completes the chunk, which publishes it to the group
 * in one atomic step. Nothing here takes a lock per task.
 *
 * Lock order: pool->lock before group->lock. Workers never hold a lock while
 * running a task.
 */
#ifndef PARC_INTERNAL_H
#define PARC_INTERNAL_H

#include "parc.h"

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
/* Test hook: the nth allocation from now (1-based) and every one after it
   fails; 0 turns failures off. Not thread-aware: for single-threaded tests. */
void parc__alloc_fail_after(long n);

/* ---- clock ------------------------------------------------------------ */
double parc__now(void);        /* CLOCK_MONOTONIC, seconds */
uint64_t parc__now_ns(void);
/* `seconds` from now on `clock`, for pthread_cond_timedwait. */
struct timespec parc__time_after(clockid_t clock, double seconds);

/* ---- task.c ----------------------------------------------------------- */
typedef struct parc__dep { const void *data; size_t size; } parc__dep;

struct parc_task {
  size_t index;
  int worker;
  const void *context;
  size_t context_size;
  uint64_t seed;
  bool rng_ready;
  parc_rng rng;
  char *message;              /* set by parc_fail; heap, taken by the caller */
  const parc__dep *deps;      /* graph nodes only */
  size_t ndeps;
  bool used_index;            /* cache: parc_task_index or parc_task_rng was called */
};

/* Calls fn on one task, turns its return value into a status: PARC_OK, or
   PARC_ETASK with t->message set (parc_fail's text, or "task returned N").
   t->message may be NULL on PARC_ETASK only when memory ran out. */
int parc__task_call(parc_fn fn, const void *in, void *out, parc_task *t);
/* The same for a task already called, given its return value. */
int parc__task_result(int rc, parc_task *t);

typedef struct parc__progress parc__progress;

/* ---- jobs and groups (group.c) ---------------------------------------- */
typedef struct parc__job parc__job;

struct parc__job {
  parc_group *group;
  parc_fn fn;
  const char *in;             /* task k reads in + k * in_size */
  size_t in_size;
  char *out;                  /* task k writes out + k * out_size */
  size_t out_size;
  size_t first;               /* group index of task 0 */
  size_t count;
  size_t batch;               /* 0 = automatic */
  void *block;                /* the allocation this job sits in (job_new aligns) */
  /* Every worker's claim writes `next`: alone on its cache line, so the
     fields every task reads are not pulled away by the other workers. */
  _Alignas(64) _Atomic size_t next;   /* first unclaimed offset; >= count: exhausted */
  _Alignas(64) _Atomic uint64_t ns_per_task;   /* automatic batching's estimate, 0 = none yet */
  _Atomic signed char *status;    /* count entries: PARC_PENDING - status (group.c) */
  _Atomic bool canceled;      /* tasks of this job not yet started are cancelled */
  void *owned_input;          /* submit: the copy of the input, freed with the job */
  const parc__dep *deps;      /* graph: outputs of the node's dependencies */
  size_t ndeps;
  size_t index_base;          /* parc_task_index of task k is index_base + k: `first`,
                                 or a graph node's id (so its rng stream is the node's) */
  struct parc__cache_scope *cache_scope;  /* cache: where task k is looked up, or NULL */
  /* Guarded by pool->lock: */
  parc__job *queue_next;      /* the pool's queue */
  bool queued;
  int users;                  /* workers holding this job */
};

/* A chunk: tasks [offset, offset + count) of job, claimed by one worker. */
typedef struct parc__chunk {
  parc__job *job;
  size_t offset;
  size_t count;
} parc__chunk;

/* Builds the parc_task for one task of a job (context, seed, deps). */
void parc__task_prepare(parc_task *t, const parc__job *job, size_t offset, int worker);

/* Records a finished task's status (and, for a failure, its message, which
   is taken over: freed by the group). The task is not reported until its
   chunk is completed. Safe from any thread. */
void parc__task_finish(parc__job *job, size_t offset, int status, char *message);

/* Publishes a chunk whose tasks all have their status: parc_group_next
   and parc_group_wait see them now. Output bytes must be in place. */
void parc__chunk_complete(const parc__chunk *c);

/* A worker thread's deferred completions (see group.c): worker loops call
   parc__worker_thread_begin once, and parc__chunk_flush before they let go
   of a job or wait for work. */
void parc__worker_thread_begin(void);
void parc__chunk_flush(void);

/* Runs every task of a chunk in this thread and completes it. */
void parc__chunk_run(const parc__chunk *c, int worker);
/* The same, then goes on claiming and running chunks of the same job until
   it is exhausted (*previous: the worker's last chunk size, updated). */
void parc__chunk_run_all(const parc__chunk *first, int worker, int workers, size_t *previous);

/* Claims up to `want` unclaimed tasks of job (all if want is SIZE_MAX);
   0 when the job is exhausted. */
size_t parc__job_claim(parc__job *job, size_t want, size_t *offset);

/* Chunk size for a worker's next claim from job (automatic batching). */
size_t parc__job_chunk_size(const parc__job *job, int workers, size_t previous);
/* Feeds one chunk's measured run time into the job's estimate. */
void parc__job_observe(parc__job *job, size_t count, uint64_t elapsed_ns);

/* The group's context and seed, for backends that ship them elsewhere. */
const void *parc__group_context(const parc_group *g, size_t *size);
uint64_t parc__group_seed(const parc_group *g);
bool parc__job_canceled(const parc__job *job);

/* parc_group_submit for a graph node: deps (borrowed until the task has
   finished) are what parc_task_dep returns inside it. */
int parc__group_submit_deps(parc_group *g, parc_fn fn, const void *in, size_t in_size,
                            void *out, size_t out_size, const parc__dep *deps, size_t ndeps,
                            size_t *index);
/* The same, with the parc_task_index the task sees set to task_index
   (SIZE_MAX: its group index). parc_graph uses the node id. */
int parc__group_submit_node(parc_group *g, parc_fn fn, const void *in, size_t in_size,
                            void *out, size_t out_size, const parc__dep *deps, size_t ndeps,
                            size_t task_index, size_t *index);

/* ---- pools and backends (pool.c) -------------------------------------- */
typedef struct parc__backend_ops {
  const char *name;
  /* Starts pool->workers workers; on failure leaves none running and
     returns a PARC_* error with its message set. */
  int (*start)(parc_pool *pool);
  /* Called once the queue is closed and drained: workers see
     parc__pool_claim return false, finish, and are joined here. Frees
     backend_data. */
  void (*stop)(parc_pool *pool);
  /* True when the caller runs tasks itself (SERIAL): jobs are not queued. */
  bool runs_in_caller;
} parc__backend_ops;

struct parc_pool {
  parc_config config;
  int workers;
  int cpus;                   /* parc_cpu_count() when the pool was made */
  uint64_t chunk_target_ns;   /* automatic batching: work per claim (50 us on
                                 threads, 500 us where a claim is a round trip
                                 to another process) */
  size_t chunk_growth;        /* and how fast claims grow to it: x2, x8 */
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
   counts it) and its last chunk size, for automatic batching. */
typedef struct parc__worker {
  parc_pool *pool;
  int id;
  parc__job *job;
  size_t previous;
} parc__worker;

/* Queues a job whose tasks are ready to claim and wakes a worker. */
void parc__pool_push(parc_pool *pool, parc__job *job);

/* A worker's next chunk: blocks until one is available (true) or the pool
   is closing with nothing left to claim (false; the worker holds nothing). */
bool parc__pool_claim(parc__worker *w, parc__chunk *chunk);

/* Takes job out of the queue (if there) and waits until no worker holds
   it. After this, no worker will touch job again. */
void parc__pool_release_job(parc_pool *pool, parc__job *job);

/* The loop of a worker thread: claim, run_chunk, until the pool closes.
   The thread backend passes a wrapper of parc__chunk_run; the process backend passes
   its proxy that ships the chunk to a child. */
void parc__worker_loop(parc_pool *pool, int id,
                       void (*run_chunk)(parc__worker *w, const parc__chunk *c));

extern const parc__backend_ops parc__backend_threads;
extern const parc__backend_ops parc__backend_serial;
extern const parc__backend_ops parc__backend_processes;

/* ---- process backend (shared.c, backend_process.c, process_*.c) ------ */
/* shared.c: maps the process-wide shared region (once); PARC_OK or
   PARC_ESYS with a message. Process pools call it before forking. */
int parc__shared_init(void);
/* True when [p, p + size) lies inside the shared region. */
bool parc__shared_contains(const void *p, size_t size);
/* True in a process worker (and its fork server): parc_shared_alloc is off. */
extern bool parc__in_worker;
/* The region's memfd (close-on-exec; -1 when none) and where it is mapped. */
int parc__shared_fd(void **base, size_t *size);
/* In an exec'd fork server: maps the memfd at `base` (MAP_FIXED_NOREPLACE)
   and makes it this process's region. 0, or -1 with errno. */
int parc__shared_attach(int fd, void *base, size_t size);

#define PARC__PATH_MAX 4096

/* One worker slot of a process pool, in shared memory: the proxy thread
   (parent) posts a command, the worker (child) runs it and replies, the
   fork server reports the worker's death. `command` and `reply` are futex
   words; *_sleeping count the sleepers, so a wake is skipped when none. */
enum { PARC__SLOT_STARTING, PARC__SLOT_READY, PARC__SLOT_DEAD };
enum { PARC__OP_RUN = 1, PARC__OP_EXIT = 2 };

typedef struct parc__slot {
  _Atomic uint32_t command;       /* bumped by the proxy after writing a command */
  _Atomic uint32_t reply;         /* bumped by the worker (ready, finished) or server (death) */
  _Atomic uint32_t worker_sleeping;
  _Atomic uint32_t proxy_sleeping;
  _Atomic int32_t state;          /* PARC__SLOT_*: STARTING set by the proxy, READY by
                                     the worker, DEAD by the server */
  _Atomic int32_t wait_status;    /* the dead worker's waitpid status */
  _Atomic int32_t spawn_errno;    /* fork failed: its errno, and state DEAD */
  _Atomic int32_t pid;            /* the live worker, 0 when none */
  _Atomic uint32_t taken;         /* the command number the worker started */
  _Atomic uint32_t finished;      /* the command number whose reply is complete */
  _Atomic uint32_t generation;    /* bumped by the proxy for each new worker: a worker
                                     whose generation is stale exits on its next wake */
  /* The command, written before `command` is bumped. */
  int op;
  parc_fn fn;                     /* the caller's address */
  /* Exec start: fn as an offset in an object (PARC__FN_UNKNOWN: in none),
     written by the proxy when fn changes; the worker adds its own base. */
  uintptr_t fn_offset;
  char fn_object[PARC__PATH_MAX]; /* dl_iterate_phdr's name, "" = the program */
  parc_task task;                 /* template: index of the first task, context, seed, deps */
  const char *in;                 /* task i reads in + i * in_size (shared memory) */
  size_t in_size;
  char *out;                      /* task i writes out + i * out_size (shared memory) */
  size_t out_size;
  size_t count;
  bool timed;                     /* record started_ns before each task */
  /* The reply: tasks [0, done) finished; all PARC_OK but the last, whose
     status is last_status (the worker stops after a failure). */
  _Atomic size_t done;
  _Atomic uint64_t started_ns;    /* when task `done` started (timed commands) */
  int last_status;
  uint64_t elapsed_ns;            /* time spent in the tasks */
  char message[PARC__MESSAGE_MAX];
} parc__slot;

/* What a fork server needs, set up by the caller before fork. */
typedef struct parc__server_config {
  parc__slot *slots;
  int nslots;
  int sock;                       /* the server's end of the request socket */
  pid_t *pids;                    /* nslots entries, the server's own table ... */
  uint32_t *generations;          /* ... and the slot generation each was forked for */
  parc__slot *spare;              /* shared: the server hands its spare worker a slot
                                     here (count: the slot, generation: its generation) */
  void (*worker_init)(void *arg);
  void *worker_init_arg;
  int threads_per_worker;         /* OMP/OPENBLAS/MKL_NUM_THREADS unless set */
  sigset_t worker_mask;           /* the caller's signal mask, restored in workers */
  bool exec;                      /* exec start: fns arrive as (object, offset) */
} parc__server_config;

/* ---- exec start (process_exec.c) ---------------------------------------- */
#define PARC__FN_UNKNOWN UINTPTR_MAX
/* Where fn lies: the name of its object as dl_iterate_phdr gives it ("" for
   the program) and its offset from the object's load address. False (and
   *offset = PARC__FN_UNKNOWN) when no loaded object holds it. */
bool parc__fn_locate(const void *fn, char object[PARC__PATH_MAX], uintptr_t *offset);
/* The address of (object, offset) in this process, NULL when not loaded. */
void *parc__fn_resolve(const char *object, uintptr_t offset);
/* An exec'd fork server: the child of fork execs /proc/self/exe, whose
   libparc constructor maps the shared region at the same address and runs
   parc__server_main with a copy of *cfg (cfg->sock: the server's end, kept
   open across exec; cfg->worker_init travels as an offset). prepare (before
   fork: allocates, locates worker_init): PARC_OK, or PARC_EINVAL/ENOMEM/ESYS
   with a message. fork: the child's pid, or -1 with errno (only async-signal-
   safe calls in the child). await: waits until the server runs; on failure
   reaps it, PARC_ESYS with a message. free: NULL is fine. */
typedef struct parc__exec parc__exec;
int parc__exec_prepare(const parc__server_config *cfg, parc__exec **e);
pid_t parc__exec_fork(parc__exec *e);
int parc__exec_await(parc__exec *e, pid_t pid);
void parc__exec_free(parc__exec *e);

/* A request to the fork server (one SOCK_SEQPACKET message). */
enum { PARC__REQ_SPAWN = 1, PARC__REQ_KILL = 2, PARC__REQ_QUIT = 3 };
typedef struct parc__request {
  int op;
  int slot;
  int sig;
} parc__request;

/* The fork server's main: never returns. Called in the child of fork. */
void parc__server_main(const parc__server_config *cfg) __attribute__((noreturn));
/* File descriptors every new fork server closes (other pools' sockets). */
void parc__server_register_fd(int fd);
void parc__server_unregister_fd(int fd);
/* Futexes on shared memory (not private: they work across processes). */
void parc__futex_wait(_Atomic uint32_t *word, uint32_t old, uint64_t timeout_ns);
void parc__futex_wake(_Atomic uint32_t *word);

/* ---- progress.c ------------------------------------------------------- */
/* Progress output for a group with verbose > 0. parc__progress_update is
   called after every completed chunk, from any thread, with the chunk's
   task count and the group's finished, failed and submitted totals; it
   costs a clock read and an atomic load when it has nothing to print. */
parc__progress *parc__progress_create(const char *label, int verbose);
void parc__progress_update(parc__progress *p, size_t count, size_t done, size_t failed,
                           size_t total);
void parc__progress_finish(parc__progress *p, size_t done, size_t failed, size_t total);
void parc__progress_destroy(parc__progress *p);

/* ---- cache (cache.c, cache_key.c, cache_hash.c) ----------------------- */
/* SipHash-2-4 with 128-bit output (Aumasson, Bernstein; reference
   implementation github.com/veorq/SipHash), streaming. */
typedef struct parc__siphash {
  uint64_t v0, v1, v2, v3;
  uint64_t tail;                /* bytes not yet compressed, little-endian */
  uint64_t length;              /* bytes seen */
} parc__siphash;
void parc__siphash_init(parc__siphash *s, const uint8_t key[16]);
void parc__siphash_update(parc__siphash *s, const void *data, size_t n);
void parc__siphash_final(parc__siphash *s, uint8_t out[16]);

/* A group's tie to a cache: name and version (copied), context hash, and
   the scope of the last function submitted. Made by parc_group_create when
   opt->cache is set; freed by parc_group_destroy. */
typedef struct parc__cache_binding parc__cache_binding;
/* One (function, name, version, code, context) of a cache: what a job
   points to. Owned by the cache, valid until parc_cache_close. */
typedef struct parc__cache_scope parc__cache_scope;

int parc__cache_bind(parc__cache_binding **b, parc_cache *c, const char *name,
                     const char *version, const void *context, size_t context_size);
void parc__cache_unbind(parc__cache_binding *b);
/* The scope of fn under b, for job->cache_scope. PARC_EINVAL when no name
   can be found, PARC_ENOMEM; message set. */
int parc__cache_scope_of(parc__cache_binding *b, parc_fn fn, parc__cache_scope **scope);
/* Runs tasks [offset, offset + count) of a job with a cache_scope in this
   thread with t (set up by parc__task_prepare), as run_range does for
   others: looks them up a block at a time, copies hits into place, runs
   the misses and queues their results for the next batch; finishes every
   task (parc__task_finish). Any storage problem is a miss. */
void parc__cache_run_range(parc__job *job, parc_task *t, size_t offset, size_t count);
/* One task at a time, for backends that run tasks elsewhere (processes).
   fetch: before running task `offset` of a job with a cache_scope: true
   when its output was found and copied into place (the caller then
   finishes it as PARC_OK without running it). Any storage problem is a
   miss. store: after task `offset` succeeded (output in place): queues it
   for the next batch. used_index: the task called parc_task_index or
   parc_task_rng (parc_task.used_index), so its result is keyed by seed and
   index too; pass true when unknown. */
bool parc__cache_fetch(parc__job *job, size_t offset);
void parc__cache_store(parc__job *job, size_t offset, bool used_index);
/* cache_key.c: fn's symbol name (heap) and code size from the dynamic
   symbol table or the ELF .symtab/.dynsym of its file. False when neither
   has a function symbol starting exactly at fn (stripped binary). */
bool parc__fn_symbol(parc_fn fn, char **name, size_t *size);
/* Test hook: hits refresh an entry's recency at most once per `ms`
   milliseconds (default 60000) and once per handle. */
void parc__cache_set_recency(parc_cache *c, int64_t ms);

#endif /* PARC_INTERNAL_H */
