/*
 * mutex_pool.h — the textbook thread pool, as a peer for bench/overhead:
 * one mutex, one condition variable, a FIFO of tasks fed one at a time.
 */
#ifndef PARC_BENCH_MUTEX_POOL_H
#define PARC_BENCH_MUTEX_POOL_H

#include "parc.h"

typedef struct mutex_pool mutex_pool;

/* Starts `workers` threads; NULL when out of memory or threads. */
mutex_pool *mutex_pool_create(int workers);
/* Queues fn(in, out, NULL); 0, or -1 when out of memory. */
int mutex_pool_submit(mutex_pool *p, parc_fn fn, const void *in, void *out);
/* Waits until every task submitted so far has run. */
void mutex_pool_wait(mutex_pool *p);
/* Waits for the queue to drain, stops and joins the workers. NULL: no-op. */
void mutex_pool_destroy(mutex_pool *p);

#endif
