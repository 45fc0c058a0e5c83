/*
 * backend_thread.c — PARC_THREADS: a fixed set of threads, each running
 * the dispatch worker loop and executing chunks in place. C has no GIL:
 * CPU-bound tasks scale with the threads.
 */
#include "parc_internal.h"

#include <string.h>

typedef struct thread_backend {
  pthread_t *threads;
  int started;
} thread_backend;

typedef struct worker_start {
  parc_pool *pool;
  int id;
} worker_start;

static void *worker_main(void *arg) {
  worker_start start = *(worker_start *)arg;
  parc__free(arg);
  const parc_config *cfg = &start.pool->config;
  if (cfg->worker_init) cfg->worker_init(cfg->worker_init_arg);
  parc__dispatch_worker_loop(start.pool, start.id, NULL);
  return NULL;
}

static void join_all(parc_pool *pool, thread_backend *backend) {
  /* Workers leave their loop only once the pool is closing. */
  parc__pool_close(pool);
  for (int i = 0; i < backend->started; i++) pthread_join(backend->threads[i], NULL);
  parc__free(backend->threads);
  parc__free(backend);
}

static int threads_start(parc_pool *pool) {
  thread_backend *backend = parc__calloc(1, sizeof *backend);
  if (backend) backend->threads = parc__calloc((size_t)pool->workers, sizeof(pthread_t));
  if (!backend || !backend->threads) {
    if (backend) parc__free(backend);
    return parc__error(PARC_ENOMEM, "parc_pool_create: out of memory");
  }
  for (int i = 0; i < pool->workers; i++) {
    worker_start *start = parc__malloc(sizeof *start);
    int rc = start ? 0 : -1;
    if (start) {
      *start = (worker_start){pool, i};
      rc = pthread_create(&backend->threads[i], NULL, worker_main, start);
      if (rc) parc__free(start);
    }
    if (rc) {
      join_all(pool, backend);
      pool->closing = false;
      if (!start) return parc__error(PARC_ENOMEM, "parc_pool_create: out of memory");
      return parc__error(PARC_ESYS, "parc_pool_create: pthread_create for worker %d: %s", i,
                         strerror(rc));
    }
    backend->started++;
  }
  pool->backend_data = backend;
  return PARC_OK;
}

static void threads_stop(parc_pool *pool) { join_all(pool, pool->backend_data); }

const parc__backend_ops parc__backend_threads = {
    .name = "threads",
    .start = threads_start,
    .stop = threads_stop,
    .chunk_target_ns = 50000,
    .chunk_growth = 2,
};
