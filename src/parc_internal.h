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
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>

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
};

/* Calls fn on one task, turns its return value into a status: PARC_OK, or
   PARC_ETASK with t->message set (parc_fail's text, or "task returned N").
   t->message may be NULL on PARC_ETASK only when memory ran out. */
int parc__task_call(parc_fn fn, const void *in, void *out, parc_task *t);

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
  _Atomic size_t next;        /* first unclaimed offset; >= count: exhausted */
  _Atomic uint64_t ns_per_task;   /* automatic batching's estimate, 0 = none yet */
  _Atomic signed char *status;    /* count entries: PARC_PENDING until finished */
  _Atomic bool canceled;      /* tasks of this job not yet started are cancelled */
  void *owned_input;          /* submit: the copy of the input, freed with the job */
  const parc__dep *deps;      /* graph: outputs of the node's dependencies */
  size_t ndeps;
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

/* Runs every task of a chunk in this thread and completes it. */
void parc__chunk_run(const parc__chunk *c, int worker);

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

/* ---- progress.c ------------------------------------------------------- */
/* Progress output for a group with verbose > 0. parc__progress_update is
   called after every completed chunk, from any thread, so it must cost a
   few atomic operations when it has nothing to print. */
parc__progress *parc__progress_create(const char *label, int verbose);
void parc__progress_update(parc__progress *p, size_t done, size_t failed, size_t total);
void parc__progress_finish(parc__progress *p, size_t done, size_t failed, size_t total);
void parc__progress_destroy(parc__progress *p);

#endif /* PARC_INTERNAL_H */
