/*
 * reduce.c — parc_map_reduce: map fn over n records and fold the outputs
 * into one result, with the same bits on every backend, worker count and
 * batch size.
 *
 * The fold order is a function of n alone: the left fold over the task
 * indices, result = combine(... combine(combine(result, out[0]), out[1]) ...,
 * out[n - 1]), run in the caller. OpenMP's reduction(+:) folds partial sums
 * in an order that depends on the thread count, so a floating-point sum
 * changes with it; this one cannot.
 *
 * Memory stays O(workers x out_size), not O(n): the tasks run in windows
 * of W, each a group of its own whose outputs land in one of two buffers;
 * while the caller folds window j, the workers run window j + 1. Each
 * window's tasks keep their indices in the whole map (parc_task_index,
 * random streams, cache keys are those of parc_map).
 */
#include "parc_internal.h"

#include <stdio.h>
#include <string.h>

#define WINDOW_MIN 1024
#define WINDOW_PER_WORKER 65536
#define WINDOW_BYTES_MAX ((size_t)16 << 20)   /* per buffer */

static size_t window_size(const parc_pool *pool, size_t n, size_t out_size) {
  size_t w = (size_t)parc_pool_size(pool) * WINDOW_PER_WORKER;
  if (w < WINDOW_MIN) w = WINDOW_MIN;
  if (w > WINDOW_BYTES_MAX / out_size) w = WINDOW_BYTES_MAX / out_size;
  if (w == 0) w = 1;
  return w < n ? w : n;
}

static int check(parc_pool *pool, parc_fn fn, const void *in, size_t in_size, size_t n,
                 size_t out_size, void (*combine)(void *, const void *, void *), void *result) {
  static const char who[] = "parc_map_reduce";
  if (!pool) return parc__error(PARC_EINVAL, "%s: pool is NULL", who);
  if (!fn) return parc__error(PARC_EINVAL, "%s: fn is NULL", who);
  if (!combine) return parc__error(PARC_EINVAL, "%s: combine is NULL", who);
  if (out_size == 0) return parc__error(PARC_EINVAL, "%s: out_size is 0: nothing to fold", who);
  if (!result) return parc__error(PARC_EINVAL, "%s: result is NULL", who);
  if (!in && in_size) return parc__error(PARC_EINVAL, "%s: in is NULL but in_size is %zu", who, in_size);
  if (in_size && n > SIZE_MAX / in_size)
    return parc__error(PARC_EINVAL, "%s: n (%zu) x in_size (%zu) overflows", who, n, in_size);
  return PARC_OK;
}

/* One window in flight: its group and where its outputs go. */
typedef struct window {
  parc_group *group;
  char *out;
  size_t first, count;
} window;

static int start_window(parc_pool *pool, window *w, parc_fn fn, const char *in, size_t in_size,
                        size_t out_size, const parc_options *opt) {
  int rc = parc__group_create_sparse(&w->group, pool, opt);
  if (rc == PARC_OK)
    rc = parc__group_map_at(w->group, fn, in_size ? in + w->first * in_size : NULL, in_size, w->out,
                            out_size, w->count, w->first);
  return rc;
}

/* The window's lowest failure, in the whole map's indices (message set). */
static int window_failure(const window *w) {
  for (size_t k = 0; k < w->count; k++) {
    int status = parc_group_status(w->group, k);
    if (status < 0 && status != PARC_ECANCELED) {
      const char *text = parc_group_message(w->group, k);
      return parc__error(status, "parc_map_reduce: task %zu failed: %s", w->first + k,
                         text ? text : parc_strerror(status));
    }
  }
  return parc__error(PARC_ECANCELED, "parc_map_reduce: task %zu was cancelled", w->first);
}

int parc_map_reduce(parc_pool *pool, parc_fn fn, const void *in, size_t in_size, size_t n,
                    size_t out_size, void (*combine)(void *acc, const void *part, void *arg),
                    void *arg, void *result, const parc_options *opt) {
  int rc = check(pool, fn, in, in_size, n, out_size, combine, result);
  if (rc || n == 0) return rc;
  size_t size = window_size(pool, n, out_size);
  char *buffers = parc__malloc(2 * size * out_size);
  if (!buffers)
    return parc__error(PARC_ENOMEM, "parc_map_reduce: out of memory for 2 x %zu outputs", size);
  window w[2] = {{NULL, buffers, 0, 0}, {NULL, buffers + size * out_size, 0, 0}};
  size_t next = 0;   /* first task not yet submitted */
  w[0].first = 0;
  w[0].count = size;
  next = size;
  rc = start_window(pool, &w[0], fn, in, in_size, out_size, opt);
  for (int j = 0; rc == PARC_OK; j ^= 1) {
    window *now = &w[j], *then = &w[j ^ 1];
    /* The next window runs while this one is folded. */
    if (next < n) {
      then->first = next;
      then->count = n - next < size ? n - next : size;
      next += then->count;
      rc = start_window(pool, then, fn, in, in_size, out_size, opt);
      if (rc) break;
    }
    if (parc_group_wait(now->group, -1) != PARC_OK) {
      rc = window_failure(now);
      break;
    }
    for (size_t k = 0; k < now->count; k++) combine(result, now->out + k * out_size, arg);
    parc_group_destroy(now->group);
    now->group = NULL;
    if (!then->group) break;   /* that was the last window */
  }
  /* destroy may set parc_errmsg() on its way; keep the map's message. */
  char message[PARC__MESSAGE_MAX];
  snprintf(message, sizeof message, "%s", parc_errmsg());
  for (int j = 0; j < 2; j++) parc_group_destroy(w[j].group);
  parc__free(buffers);
  if (rc) parc__error(rc, "%s", message);
  return rc;
}
