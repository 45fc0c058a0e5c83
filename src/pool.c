/*
 * pool.c — pools: configuration, the queue of jobs, and the claim protocol
 * every backend's workers share.
 *
 * The queue holds jobs, not tasks: a map of ten million tasks is one entry.
 * A worker takes the job at the head under the pool lock once, then claims
 * chunks from it with atomics alone until it is exhausted; only then does it
 * come back to the lock. So the lock is taken per job, never per task.
 */
#include "parc_internal.h"

#include <math.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

static int parse_backend(const char *s, parc_backend *out) {
  static const struct { const char *name; parc_backend backend; } names[] = {
      {"threads", PARC_THREADS}, {"thread", PARC_THREADS},
      {"processes", PARC_PROCESSES}, {"process", PARC_PROCESSES},
      {"serial", PARC_SERIAL}, {"mpi", PARC_MPI}};
  for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
    if (strcasecmp(s, names[i].name) == 0) {
      *out = names[i].backend;
      return 0;
    }
  }
  return -1;
}

static int parse_int(const char *s, long lo, long hi, int *out) {
  char *end = NULL;
  long v = strtol(s, &end, 10);
  if (end == s || *end != '\0' || v < lo || v > hi) return -1;
  *out = (int)v;
  return 0;
}

static int parse_start(const char *s, int *out) {
  if (strcasecmp(s, "fork") == 0) *out = PARC_START_FORK;
  else if (strcasecmp(s, "exec") == 0) *out = PARC_START_EXEC;
  else return -1;
  return 0;
}

/* The environment's overrides, applied to cfg. A value that does not
   parse is an error (it names the variable and the value), never a silent
   fallback to the default: PARC_BACKEND=proceses must not run on threads. */
static int apply_environment(parc_config *cfg) {
  const char *s = getenv("PARC_BACKEND");
  if (s && parse_backend(s, &cfg->backend) != 0)
    return parc__error(PARC_EINVAL,
                       "PARC_BACKEND=%s: not a backend (threads, processes, serial or mpi)", s);
  s = getenv("PARC_WORKERS");
  if (s && parse_int(s, -PARC__MAX_WORKERS, PARC__MAX_WORKERS, &cfg->workers) != 0)
    return parc__error(PARC_EINVAL, "PARC_WORKERS=%s: not an integer within +-%d", s,
                       PARC__MAX_WORKERS);
  s = getenv("PARC_VERBOSE");
  if (s && parse_int(s, 0, 2, &cfg->verbose) != 0)
    return parc__error(PARC_EINVAL, "PARC_VERBOSE=%s: not 0, 1 or 2", s);
  s = getenv("PARC_START");
  if (s && parse_start(s, &cfg->start) != 0)
    return parc__error(PARC_EINVAL, "PARC_START=%s: not fork or exec", s);
  s = getenv("PARC_TRACE");
  if (s && *s) cfg->trace = s;
  return PARC_OK;
}

void parc_config_default(parc_config *cfg) {
  if (!cfg) return;
  memset(cfg, 0, sizeof *cfg);
  cfg->backend = PARC_THREADS;
  /* A value that does not parse leaves its field (and those read after
     it) at the default; parc_pool_create reports it. */
  (void)apply_environment(cfg);
}

/* ---- the pools of this process ------------------------------------------- */
/* Every live pool, so that a task in a process worker can tell a pool
   pointer it inherited (fork start: the memory is there, copy-on-write)
   from one it cannot read (exec start: a fresh program image, the pointer
   names the caller's memory). Lock-free: a forked worker reads it right
   after fork, when another thread of the caller may have held any lock.
   A pool made while the table is full is simply not listed. */
#define REGISTRY_SIZE 1024
/* Entries are stored disguised, so that a leak checker does not count the
   table as a reference: a pool the program forgot to destroy is a leak. */
#define REGISTRY_MASK ((uintptr_t)0x5a5a5a5a5a5a5a5aull)
static _Atomic uintptr_t registry[REGISTRY_SIZE];

static void registry_add(parc_pool *pool) {
  for (int i = 0; i < REGISTRY_SIZE; i++) {
    uintptr_t expected = 0;
    if (atomic_compare_exchange_strong(&registry[i], &expected, (uintptr_t)pool ^ REGISTRY_MASK))
      return;
  }
}

static void registry_remove(parc_pool *pool) {
  for (int i = 0; i < REGISTRY_SIZE; i++) {
    uintptr_t expected = (uintptr_t)pool ^ REGISTRY_MASK;
    if (atomic_compare_exchange_strong(&registry[i], &expected, 0)) return;
  }
}

/* Pools of this process alive: when the last goes, so do the chunks kept
   for results (task.c), and a program that is done with parc holds
   nothing of it. */
static _Atomic int live_pools;

bool parc__pool_known(const parc_pool *pool) {
  uintptr_t disguised = (uintptr_t)pool ^ REGISTRY_MASK;
  for (int i = 0; i < REGISTRY_SIZE; i++)
    if (atomic_load_explicit(&registry[i], memory_order_relaxed) == disguised) return true;
  return false;
}

/* The `workers` rule of parc_config, or -1 when out of range. */
static int resolve_workers(int requested) {
  if (requested > PARC__MAX_WORKERS || requested < -PARC__MAX_WORKERS) return -1;
  int cpus = parc_cpu_count();
  if (requested == 0 || requested == -1) return cpus;
  if (requested > 0) return requested;
  int n = cpus + 1 + requested;
  return n > 1 ? n : 1;
}

static const parc__backend_ops *backend_ops(parc_backend backend) {
  switch (backend) {
    case PARC_THREADS: return &parc__backend_threads;
    case PARC_SERIAL: return &parc__backend_serial;
    case PARC_PROCESSES: return &parc__backend_processes;
#ifdef PARC_HAVE_MPI
    case PARC_MPI: return &parc__backend_mpi;
#endif
    default: return NULL;
  }
}

/* The longest per-task timeout: its nanoseconds, added to a monotonic
   clock reading, fit in 64 bits with room to spare. */
#define TIMEOUT_MAX 1e9

static int check_config(const parc_config *cfg) {
  if ((unsigned)cfg->backend > PARC_MPI)
    return parc__error(PARC_EINVAL, "parc_pool_create: unknown backend %d", (int)cfg->backend);
  if (resolve_workers(cfg->workers) < 0)
    return parc__error(PARC_EINVAL, "parc_pool_create: workers = %d is beyond +-%d",
                       cfg->workers, PARC__MAX_WORKERS);
  if (!(cfg->timeout >= 0))
    return parc__error(PARC_EINVAL, "parc_pool_create: timeout must be >= 0 seconds, got %g",
                       cfg->timeout);
  if (cfg->timeout > TIMEOUT_MAX)
    return parc__error(PARC_EINVAL,
                       "parc_pool_create: timeout = %g s is beyond %g s (31 years); use 0 or "
                       "INFINITY for no limit", cfg->timeout, TIMEOUT_MAX);
  if (cfg->timeout > 0 && (cfg->backend == PARC_THREADS || cfg->backend == PARC_SERIAL))
    return parc__error(PARC_EINVAL,
                       "parc_pool_create: timeout needs PARC_PROCESSES or PARC_MPI "
                       "(a thread running a task cannot be stopped safely)");
  if (cfg->retries < 0 || cfg->retries > 1000)
    return parc__error(PARC_EINVAL, "parc_pool_create: retries must be 0..1000, got %d",
                       cfg->retries);
  if (cfg->verbose < 0 || cfg->verbose > 2)
    return parc__error(PARC_EINVAL, "parc_pool_create: verbose must be 0, 1 or 2, got %d",
                       cfg->verbose);
  return PARC_OK;
}

/* How many pools of this process have traced to each path: the first
   writes the path itself, the Nth "path.N", so pools never overwrite each
   other's timeline (PARC_TRACE names one file for a whole program). */
#define TRACE_PATHS_MAX 64
static pthread_mutex_t trace_paths_lock = PTHREAD_MUTEX_INITIALIZER;
static struct {
  char *path;
  int uses;
} trace_paths[TRACE_PATHS_MAX];

static int trace_path_use(const char *path) {
  pthread_mutex_lock(&trace_paths_lock);
  int i = 0, uses = 1;
  while (i < TRACE_PATHS_MAX && trace_paths[i].path && strcmp(trace_paths[i].path, path) != 0) i++;
  if (i < TRACE_PATHS_MAX && trace_paths[i].path) uses = ++trace_paths[i].uses;
  else if (i < TRACE_PATHS_MAX && (trace_paths[i].path = parc__strdup(path))) trace_paths[i].uses = 1;
  pthread_mutex_unlock(&trace_paths_lock);
  return uses;
}

static int open_trace(parc_pool *pool) {
  const char *path = pool->config.trace;
  pool->config.trace = NULL;   /* borrowed: never read after create */
  if (!path || !*path) return PARC_OK;
  int n = trace_path_use(path);
  char numbered[PARC__PATH_MAX + 16];
  if (n > 1) snprintf(numbered, sizeof numbered, "%s.%d", path, n);
  char name[96];
  snprintf(name, sizeof name, "parc pool (%s, %d worker%s)", pool->ops->name, pool->workers,
           pool->workers == 1 ? "" : "s");
  return parc__trace_open(&pool->trace, n > 1 ? numbered : path, name, pool->workers);
}

static int backend_unavailable(parc_backend backend) {
  if (backend == PARC_MPI)
    return parc__error(PARC_EBACKEND,
                       "PARC_MPI is not built into this libparc: install the Debian packages "
                       "libopenmpi-dev and openmpi-bin, then rebuild parc");
  return parc__error(PARC_EBACKEND, "PARC_PROCESSES is not built into this libparc");
}

int parc_pool_create(parc_pool **out, const parc_config *cfg) {
  if (!out) return parc__error(PARC_EINVAL, "parc_pool_create: pool is NULL");
  *out = NULL;
  parc_config config;
  if (cfg) config = *cfg;
  else parc_config_default(&config);
  /* Misspelled environment variables fail here, whoever built cfg. */
  parc_config ignored = config;
  int rc = apply_environment(&ignored);
  if (rc) return rc;
  /* INFINITY means no limit: stored as 0, which every backend reads so. */
  if (isinf(config.timeout) && config.timeout > 0) config.timeout = 0;
  rc = check_config(&config);
  if (rc) return rc;
  const parc__backend_ops *ops = backend_ops(config.backend);
  if (!ops) return backend_unavailable(config.backend);
  if (ops->prepare && (rc = ops->prepare(&config, &ops)) != PARC_OK) return rc;

  parc_pool *pool = parc__calloc(1, sizeof *pool);
  if (!pool) return parc__error(PARC_ENOMEM, "parc_pool_create: out of memory");
  pool->config = config;
  pool->ops = ops;
  pool->cpus = parc_cpu_count();
  pool->owner = getpid();
  pool->workers = ops->runs_in_caller ? 1 : resolve_workers(config.workers);
  pthread_mutex_init(&pool->lock, NULL);
  pthread_cond_init(&pool->work, NULL);
  pthread_cond_init(&pool->released, NULL);
  /* Stored before any worker or fork server exists: a task that maps on a
     pool kept in a global (parc_pool_create(&global, ...)) finds it there,
     in a forked worker too. */
  rc = open_trace(pool);
  if (rc) {
    pthread_cond_destroy(&pool->released);
    pthread_cond_destroy(&pool->work);
    pthread_mutex_destroy(&pool->lock);
    parc__free(pool);
    return rc;
  }
  *out = pool;
  pool->home = out;
  registry_add(pool);
  rc = ops->start(pool);
  if (rc) {
    registry_remove(pool);
    parc__trace_close(pool->trace);
    *out = NULL;
    pthread_cond_destroy(&pool->released);
    pthread_cond_destroy(&pool->work);
    pthread_mutex_destroy(&pool->lock);
    parc__free(pool);
    return rc;
  }
  *out = pool;
  atomic_fetch_add(&live_pools, 1);
  return PARC_OK;
}

int parc_pool_size(const parc_pool *pool) { return pool ? pool->workers : 0; }

parc_backend parc_pool_backend(const parc_pool *pool) {
  return pool ? pool->config.backend : PARC_THREADS;
}

void parc__pool_close(parc_pool *pool) {
  pthread_mutex_lock(&pool->lock);
  pool->closing = true;
  pthread_cond_broadcast(&pool->work);
  pthread_mutex_unlock(&pool->lock);
}

void parc_pool_destroy(parc_pool *pool) {
  if (!pool) return;
  registry_remove(pool);
  /* A copy inherited through fork (a process worker, or a child the caller
     forked): its workers are the creator's, and so is stopping them. Only
     this process's memory is freed. */
  if (pool->owner != getpid()) {
    parc__free(pool);
    return;
  }
  /* Workers drain what is queued, then find the queue closed and empty. */
  parc__pool_close(pool);
  pool->ops->stop(pool);
  parc__trace_close(pool->trace);
  pthread_cond_destroy(&pool->released);
  pthread_cond_destroy(&pool->work);
  pthread_mutex_destroy(&pool->lock);
  parc__free(pool);
  if (atomic_fetch_sub(&live_pools, 1) == 1) parc__outputs_drain();
}

/* ---- the queue (pool->lock held) ---------------------------------------- */

static void queue_remove(parc_pool *pool, parc__job *job) {
  if (!job->queued) return;
  parc__job **link = &pool->head;
  parc__job *previous = NULL;
  while (*link && *link != job) {
    previous = *link;
    link = &(*link)->queue_next;
  }
  if (*link != job) return;
  *link = job->queue_next;
  if (pool->tail == job) pool->tail = previous;
  job->queue_next = NULL;
  job->queued = false;
}

static void drop_job(parc_pool *pool, parc__job *job) {
  if (--job->users == 0) pthread_cond_broadcast(&pool->released);
}

void parc__pool_push(parc_pool *pool, parc__job *job) {
  pthread_mutex_lock(&pool->lock);
  job->queue_next = NULL;
  job->queued = true;
  if (pool->tail) pool->tail->queue_next = job;
  else pool->head = job;
  pool->tail = job;
  /* One task needs one worker; a map wants them all. */
  if (pool->idle > 0 && job->count == 1) pthread_cond_signal(&pool->work);
  else if (pool->idle > 0) pthread_cond_broadcast(&pool->work);
  pthread_mutex_unlock(&pool->lock);
}

static bool claim_from(parc__worker *w, size_t *offset, size_t *count) {
  parc__job *job = w->job;
  size_t want = parc__job_chunk_size(job, w->pool->workers, w->previous);
  size_t n = parc__job_claim(job, want, offset);
  if (n == 0) return false;
  *count = n;
  w->previous = n;
  return true;
}

bool parc__pool_claim(parc__worker *w, size_t *offset, size_t *count) {
  /* Fast path: the job we hold still has tasks. */
  if (w->job && claim_from(w, offset, count)) return true;
  parc__completion_flush();
  parc__trace_hand_over(w->pool->trace);
  parc_pool *pool = w->pool;
  pthread_mutex_lock(&pool->lock);
  for (;;) {
    if (w->job) {
      queue_remove(pool, w->job);   /* exhausted: nobody needs to find it again */
      drop_job(pool, w->job);
      w->job = NULL;
      w->task_job = NULL;   /* a new job may be allocated at the same address */
      w->previous = 0;
    }
    while (!pool->head && !pool->closing) {
      pool->idle++;
      pthread_cond_wait(&pool->work, &pool->lock);
      pool->idle--;
    }
    if (!pool->head) break;
    w->job = pool->head;
    w->job->users++;
    pthread_mutex_unlock(&pool->lock);
    if (claim_from(w, offset, count)) return true;
    pthread_mutex_lock(&pool->lock);
  }
  pthread_mutex_unlock(&pool->lock);
  return false;
}

void parc__pool_release_job(parc_pool *pool, parc__job *job) {
  pthread_mutex_lock(&pool->lock);
  queue_remove(pool, job);
  while (job->users > 0) pthread_cond_wait(&pool->released, &pool->lock);
  pthread_mutex_unlock(&pool->lock);
  /* A worker's continuation: it has published the job's tasks and is
     about to let go (a few instructions). */
  while (atomic_load_explicit(&job->pinned, memory_order_acquire)) sched_yield();
}
