/*
 * mutex_pool.c — the plain pool that parc's batch-1 dispatch is measured
 * against: one mutex guards a growable ring of task records and the
 * counters; one condition variable wakes workers (a task was queued, or the
 * pool is stopping) and the waiter (everything submitted has run).
 *
 * It is written to be a fair peer, not a straw man: the queue never
 * allocates once it has grown, a worker takes the lock once per task (it
 * counts its previous task done in the same critical section that pops the
 * next one), and a submitter signals only when a worker sleeps.
 */
#include "mutex_pool.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>

typedef struct pool_task {
  parc_fn fn;
  const void *in;
  void *out;
} pool_task;

struct mutex_pool {
  pthread_mutex_t lock;       /* guards everything below */
  pthread_cond_t cond;        /* work queued, all done, or stopping */
  pool_task *ring;
  size_t capacity, head, count;
  size_t submitted, done;
  int sleeping;               /* workers waiting on cond */
  int waiting;                /* callers in mutex_pool_wait */
  bool stopping;
  int workers;
  pthread_t *threads;
};

static int grow(mutex_pool *p) {
  size_t capacity = p->capacity ? p->capacity * 2 : 1024;
  pool_task *ring = malloc(capacity * sizeof *ring);
  if (!ring) return -1;
  for (size_t i = 0; i < p->count; i++) ring[i] = p->ring[(p->head + i) % p->capacity];
  free(p->ring);
  p->ring = ring;
  p->capacity = capacity;
  p->head = 0;
  return 0;
}

static void *worker_main(void *arg) {
  mutex_pool *p = arg;
  bool ran = false;
  pthread_mutex_lock(&p->lock);
  for (;;) {
    if (ran) {
      p->done++;
      if (p->done == p->submitted && p->waiting) pthread_cond_broadcast(&p->cond);
      ran = false;
    }
    while (p->count == 0 && !p->stopping) {
      p->sleeping++;
      pthread_cond_wait(&p->cond, &p->lock);
      p->sleeping--;
    }
    if (p->count == 0) break;
    pool_task t = p->ring[p->head];
    p->head = (p->head + 1) % p->capacity;
    p->count--;
    pthread_mutex_unlock(&p->lock);
    t.fn(t.in, t.out, NULL);
    ran = true;
    pthread_mutex_lock(&p->lock);
  }
  pthread_mutex_unlock(&p->lock);
  return NULL;
}

mutex_pool *mutex_pool_create(int workers) {
  mutex_pool *p = calloc(1, sizeof *p);
  if (!p) return NULL;
  p->threads = calloc((size_t)workers, sizeof *p->threads);
  if (!p->threads || grow(p) != 0) {
    free(p->threads);
    free(p);
    return NULL;
  }
  pthread_mutex_init(&p->lock, NULL);
  pthread_cond_init(&p->cond, NULL);
  for (int i = 0; i < workers; i++) {
    if (pthread_create(&p->threads[i], NULL, worker_main, p) != 0) break;
    p->workers++;
  }
  if (p->workers < workers) {
    mutex_pool_destroy(p);
    return NULL;
  }
  return p;
}

int mutex_pool_submit(mutex_pool *p, parc_fn fn, const void *in, void *out) {
  pthread_mutex_lock(&p->lock);
  if (p->count == p->capacity && grow(p) != 0) {
    pthread_mutex_unlock(&p->lock);
    return -1;
  }
  p->ring[(p->head + p->count) % p->capacity] = (pool_task){fn, in, out};
  p->count++;
  p->submitted++;
  /* One condition variable serves workers and waiters: a signal could
     wake the wrong one, so wake all when a waiter shares it. */
  if (p->sleeping) {
    if (p->waiting) pthread_cond_broadcast(&p->cond);
    else pthread_cond_signal(&p->cond);
  }
  pthread_mutex_unlock(&p->lock);
  return 0;
}

void mutex_pool_wait(mutex_pool *p) {
  pthread_mutex_lock(&p->lock);
  p->waiting++;
  while (p->done < p->submitted) pthread_cond_wait(&p->cond, &p->lock);
  p->waiting--;
  pthread_mutex_unlock(&p->lock);
}

void mutex_pool_destroy(mutex_pool *p) {
  if (!p) return;
  pthread_mutex_lock(&p->lock);
  p->stopping = true;
  pthread_cond_broadcast(&p->cond);
  pthread_mutex_unlock(&p->lock);
  for (int i = 0; i < p->workers; i++) pthread_join(p->threads[i], NULL);
  pthread_cond_destroy(&p->cond);
  pthread_mutex_destroy(&p->lock);
  free(p->ring);
  free(p->threads);
  free(p);
}
