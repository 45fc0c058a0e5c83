/*
 * reduce.c — parc_map_reduce: map fn over n records and fold the outputs
 * into one result, with the same bits on every backend, worker count and
 * batch size.
 *
 * The order is a tree whose shape depends on n alone (parc.h says it too):
 * the indices fall into blocks of B = block_size(n) consecutive ones; each
 * block's partial starts as a copy of the identity (*result on entry) and
 * folds its outputs left to right; the result is the left fold of the
 * partials in block order. OpenMP's reduction(+:) folds in an order that
 * depends on the thread count, so a floating-point sum changes with it;
 * this one cannot.
 *
 * Two ways to run that one order:
 *  - fused, the fast one: a coarser map of one task per block, whose
 *    function (fold_block) runs fn on each index of its block through the
 *    one task routine (parc__tasks_run) into a small local buffer and folds
 *    those outputs into the block's partial, which is its own output. The
 *    workers make the n calls of combine and the caller ceil(n / B); no
 *    output array of n exists; and it goes down every backend's dispatch
 *    unchanged (on PROCESSES the partials come back as outputs, fn and
 *    combine travel as object + offset under exec start).
 *  - in the caller: fn's own tasks in windows of outputs, which the caller
 *    folds through the same tree. For what the fused form cannot honour: a
 *    cache (its keys are fn's tasks), MPI, and on PROCESSES an arg the
 *    workers cannot see (not NULL, not shared memory), a per-task timeout
 *    or max_tasks_per_worker (they count fn's tasks, not blocks), or under
 *    exec start a fn or combine that cannot be located.
 *
 * Memory stays O(workers x out_size), not O(n): each form runs windows of
 * its tasks (blocks or fn's), each a group of its own whose outputs land in
 * one of two buffers; while the caller folds window j, the workers run
 * window j + 1. Tasks of fn keep their indices in the whole map
 * (parc_task_index, random streams, cache keys are those of parc_map).
 */
#include "parc_internal.h"

#include <math.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

/* The tree: at most BLOCKS_MAX blocks, B a power of two. */
#define BLOCKS_MAX 4096
/* Windows of fn's tasks (in the caller): per worker, bounded in bytes. */
#define WINDOW_MIN 1024
#define WINDOW_PER_WORKER 65536
#define WINDOW_BYTES_MAX ((size_t)16 << 20)   /* per buffer, both forms */
/* fold_block runs fn on this many bytes of outputs at a time. */
#define CHUNK_BYTES 4096

typedef void (*combine_fn)(void *acc, const void *part, void *arg);

/* B: 1 for n <= BLOCKS_MAX, else the smallest power of two that makes
   ceil(n / B) <= BLOCKS_MAX. n alone decides it. */
static size_t block_size(size_t n) {
  size_t b = 1;
  while (n > 0 && (n - 1) / b + 1 > BLOCKS_MAX) b *= 2;
  return b;
}

static int check(parc_pool *pool, parc_fn fn, const void *in, size_t in_size, size_t n,
                 size_t out_size, combine_fn combine, void *result) {
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

/* ---- the fused form: one task per block ---------------------------------- */

/* The context of a fused map: what fold_block needs, wherever it runs.
   The identity (out_size bytes) follows at plan_identity(), then, when the
   caller's context travels with the plan (context NULL, context_size > 0),
   its bytes. */
typedef struct plan {
  parc_fn fn;
  combine_fn combine;
  void *arg;
  size_t n, block, in_size, out_size;
  const void *context;        /* the caller's context where the workers see it */
  size_t context_size;
  /* Exec start: the caller's fn and combine as (object, offset), which the
     worker resolves (its addresses differ); false: fn and combine are
     valid as they are. */
  bool exec;
  uintptr_t fn_offset, combine_offset;
  char fn_object[PARC__PATH_MAX], combine_object[PARC__PATH_MAX];
} plan;

static size_t align16(size_t n) { return (n + 15) & ~(size_t)15; }
static const char *plan_identity(const plan *p) { return (const char *)p + align16(sizeof *p); }

/* Exec start: fn and combine at this worker's addresses, resolved once per
   thread for each map (the caller's addresses are the key). */
static bool plan_resolve(const plan *p, parc_fn *fn, combine_fn *combine) {
  static _Thread_local parc_fn key_fn, found_fn;
  static _Thread_local combine_fn key_combine, found_combine;
  if (p->fn != key_fn || p->combine != key_combine || !found_fn || !found_combine) {
    key_fn = p->fn;
    key_combine = p->combine;
    found_fn = (parc_fn)parc__fn_resolve(p->fn_object, p->fn_offset);
    found_combine = (combine_fn)parc__fn_resolve(p->combine_object, p->combine_offset);
  }
  *fn = found_fn;
  *combine = found_combine;
  return found_fn && found_combine;
}

/* The first task of a block that failed: its offset and message (heap). */
typedef struct block_failure {
  bool failed;
  size_t offset;
  char *message;
} block_failure;

static bool block_task_failed(void *arg, size_t offset, int status, parc_task *t) {
  (void)status;   /* always PARC_ETASK: parc__task_result's */
  block_failure *f = arg;
  f->failed = true;
  f->offset = offset;
  f->message = t->message;
  t->message = NULL;
  return true;   /* a block stops at its first failure */
}

/* A task of the fused map: block t->index's partial into out. It starts as
   the identity; fn runs on the block's indices in chunks of CHUNK_BYTES of
   outputs (a local buffer: no output of the block outlives its chunk), each
   chunk then folded into out in index order. The messages it leaves follow
   "parc_map_reduce: " (see block_failure_status). */
static int fold_block(const void *in, void *out, parc_task *t) {
  const plan *p = t->context;
  parc_fn fn = p->fn;
  combine_fn combine = p->combine;
  /* t->index, not parc_task_index: a fused map has no cache to tell. */
  size_t first = t->index * p->block;
  size_t count = p->n - first < p->block ? p->n - first : p->block;
  if (p->exec && !plan_resolve(p, &fn, &combine))
    return parc_fail(t, "tasks %zu..%zu: the worker cannot find fn or combine (exec start: "
                        "in an object this program does not load?)",
                     first, first + count - 1);
  const size_t in_size = p->in_size, out_size = p->out_size;
  memcpy(out, plan_identity(p), out_size);
  _Alignas(64) char local[CHUNK_BYTES];
  char *buffer = out_size <= CHUNK_BYTES ? local : parc__malloc(out_size);
  if (!buffer)
    return parc_fail(t, "tasks %zu..%zu: out of memory for a %zu-byte output", first,
                     first + count - 1, out_size);
  const size_t chunk = out_size <= CHUNK_BYTES ? CHUNK_BYTES / out_size : 1;
  parc__tasks d = {.fn = fn, .in_size = in_size, .out = buffer, .out_size = out_size,
                   .context = p->context_size && !p->context
                                  ? plan_identity(p) + align16(out_size) : p->context,
                   .context_size = p->context_size, .seed = t->seed};
  parc_task inner;
  parc__task_init(&inner, &d, t->worker);
  block_failure f = {false, 0, NULL};
  int rc = 0;
  for (size_t k = 0; k < count; k += chunk) {
    size_t m = count - k < chunk ? count - k : chunk;
    d.in = in_size ? (const char *)in + k * in_size : NULL;
    d.index_base = first + k;
    parc__tasks_run(&d, &inner, 0, m, NULL, NULL, block_task_failed, &f);
    if (f.failed) {
      rc = parc_fail(t, "task %zu failed: %s", first + k + f.offset,
                     f.message ? f.message : "(out of memory for its message)");
      break;
    }
    for (size_t j = 0; j < m; j++) combine(out, buffer + j * out_size, p->arg);
  }
  parc__free(f.message);
  if (buffer != local) parc__free(buffer);
  return rc;
}

/* ---- choosing the form ------------------------------------------------------ */

/* The plan for a fused map on pool, or NULL where the caller must fold (or
   memory ran out: the caller's form needs less). */
static plan *plan_make(parc_pool *pool, parc_fn fn, size_t n, size_t in_size, size_t out_size,
                       combine_fn combine, void *arg, const void *identity,
                       const parc_options *opt) {
  if (opt && opt->cache) return NULL;
  parc_backend backend = parc_pool_backend(pool);
  if (backend != PARC_THREADS && backend != PARC_SERIAL && backend != PARC_PROCESSES) return NULL;
  const void *context = opt && opt->context_size ? opt->context : NULL;
  size_t context_size = context ? opt->context_size : 0;
  /* A pool used inside its own process worker runs the tasks here. */
  bool far = backend == PARC_PROCESSES && pool->owner == getpid();
  if (far) {
    const parc_config *cfg = &pool->config;
    if (arg && !parc__shared_contains(arg, 1)) return NULL;
    if ((cfg->timeout > 0 && !isinf(cfg->timeout)) || cfg->max_tasks_per_worker) return NULL;
  }
  /* Where memory is not shared the caller's context travels in the plan
     (in place when it is in shared memory already). */
  bool copy_context = far && context && !parc__shared_contains(context, context_size);
  size_t identity_at = align16(sizeof(plan));
  size_t size = identity_at + align16(out_size);
  if (copy_context) size += context_size;
  if (out_size > SIZE_MAX / 2 || context_size > SIZE_MAX / 4) return NULL;
  plan *p = parc__calloc(1, size);
  if (!p) return NULL;
  *p = (plan){fn, combine, arg, n, block_size(n), in_size, out_size,
              copy_context ? NULL : context, context_size, false, 0, 0, "", ""};
  memcpy((char *)p + identity_at, identity, out_size);
  if (copy_context) memcpy((char *)p + identity_at + align16(out_size), context, context_size);
  if (far && pool->config.start == PARC_START_EXEC) {
    p->exec = true;
    if (!parc__fn_locate((const void *)fn, p->fn_object, &p->fn_offset) ||
        !parc__fn_locate((const void *)combine, p->combine_object, &p->combine_offset)) {
      parc__free(p);
      return NULL;
    }
  }
  return p;
}

static size_t plan_size(const plan *p) {
  size_t size = align16(sizeof *p) + align16(p->out_size);
  return p->context_size && !p->context ? size + p->context_size : size;
}

/* ---- windows ------------------------------------------------------------------ */

/* One parc_map_reduce in progress: what the windows map and how they fold. */
typedef struct reduction {
  parc_pool *pool;
  parc_options opt;           /* the caller's; fused: the plan is the context */
  const plan *fused;          /* NULL: fn's tasks, folded in the caller */
  parc_fn fn;
  const char *in;
  size_t in_size, out_size, n, block;
  size_t tasks;               /* what the windows cover: blocks, or n tasks of fn */
  combine_fn combine;
  void *arg;
  const char *identity;
  char *total;                /* the fold of the block partials so far */
  char *partial;              /* in the caller: the current block's partial */
} reduction;

/* One window in flight: its group, its tasks [first, first + count) and
   where their outputs go. */
typedef struct window {
  parc_group *group;
  char *out;
  size_t first, count;
} window;

static int start_window(reduction *r, window *w) {
  int rc = parc__group_create_sparse(&w->group, r->pool, &r->opt);
  if (rc) return rc;
  if (!r->fused)
    return parc__group_map_at(w->group, r->fn, r->in_size ? r->in + w->first * r->in_size : NULL,
                              r->in_size, w->out, r->out_size, w->count, w->first);
  /* Blocks: one job of full blocks, and one of the last block if it is
     shorter (its input is too) and in this window. */
  size_t last = r->tasks - 1, tail = r->n - last * r->block;
  size_t full = w->count;
  if (tail < r->block && w->first + w->count == r->tasks) full--;
  size_t block_in = r->block * r->in_size;
  if (full)
    rc = parc__group_map_at(w->group, fold_block, block_in ? r->in + w->first * block_in : NULL,
                            block_in, w->out, r->out_size, full, w->first);
  if (rc == PARC_OK && full < w->count)
    rc = parc__group_map_at(w->group, fold_block, r->in_size ? r->in + last * block_in : NULL,
                            tail * r->in_size, w->out + full * r->out_size, r->out_size, 1, last);
  return rc;
}

/* Folds a finished window: partials into the total (fused), or fn's
   outputs into their blocks' partials and each finished block into the
   total (in the caller). */
static void fold_window(reduction *r, const window *w) {
  const size_t size = r->out_size;
  if (r->fused) {
    for (size_t k = 0; k < w->count; k++) r->combine(r->total, w->out + k * size, r->arg);
    return;
  }
  for (size_t k = 0; k < w->count; k++) {
    size_t i = w->first + k;
    r->combine(r->partial, w->out + k * size, r->arg);
    if ((i + 1) % r->block == 0 || i + 1 == r->n) {
      r->combine(r->total, r->partial, r->arg);
      memcpy(r->partial, r->identity, size);
    }
  }
}

/* The window's lowest failure, in the whole map's indices (message set). */
static int window_failure(const reduction *r, const window *w) {
  for (size_t k = 0; k < w->count; k++) {
    int status = parc_group_status(w->group, k);
    if (status >= 0 || status == PARC_ECANCELED) continue;
    const char *text = parc_group_message(w->group, k);
    size_t index = w->first + k;
    if (!r->fused)
      return parc__error(status, "parc_map_reduce: task %zu failed: %s", index,
                         text ? text : parc_strerror(status));
    /* fold_block's own failures are phrased for this prefix; a block that
       crashed or timed out (PROCESSES) is named by its tasks. */
    if (status == PARC_ETASK && text) return parc__error(status, "parc_map_reduce: %s", text);
    size_t first = index * r->block, last = first + r->block < r->n ? first + r->block : r->n;
    return parc__error(status, "parc_map_reduce: tasks %zu..%zu (block %zu) failed: %s", first,
                       last - 1, index, text ? text : parc_strerror(status));
  }
  return parc__error(PARC_ECANCELED, "parc_map_reduce: task %zu was cancelled",
                     r->fused ? w->first * r->block : w->first);
}

/* Tasks per window: fused, a window of partials (at least 4 per worker);
   in the caller, as many outputs as keep every worker busy while the
   caller folds. Both bounded in bytes. */
static size_t window_size(const reduction *r) {
  size_t workers = (size_t)parc_pool_size(r->pool), w;
  if (r->fused) {
    w = WINDOW_BYTES_MAX / r->out_size;
    if (w < 4 * workers) w = 4 * workers;
  } else {
    w = workers * WINDOW_PER_WORKER;
    if (w < WINDOW_MIN) w = WINDOW_MIN;
    if (w > WINDOW_BYTES_MAX / r->out_size) w = WINDOW_BYTES_MAX / r->out_size;
  }
  if (w == 0) w = 1;
  return w < r->tasks ? w : r->tasks;
}

/* Runs every window, two in flight, folding each in order. */
static int run_windows(reduction *r) {
  size_t size = window_size(r);
  char *buffers = size <= SIZE_MAX / 2 / r->out_size ? parc__malloc(2 * size * r->out_size) : NULL;
  if (!buffers)
    return parc__error(PARC_ENOMEM, "parc_map_reduce: out of memory for 2 x %zu outputs", size);
  window w[2] = {{NULL, buffers, 0, size}, {NULL, buffers + size * r->out_size, 0, 0}};
  size_t next = size;   /* first task not yet submitted */
  int rc = start_window(r, &w[0]);
  for (int j = 0; rc == PARC_OK; j ^= 1) {
    window *now = &w[j], *then = &w[j ^ 1];
    /* The next window runs while this one is folded. */
    if (next < r->tasks) {
      then->first = next;
      then->count = r->tasks - next < size ? r->tasks - next : size;
      next += then->count;
      rc = start_window(r, then);
      if (rc) break;
    }
    if (parc_group_wait(now->group, -1) != PARC_OK) {
      rc = window_failure(r, now);
      break;
    }
    fold_window(r, now);
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

int parc_map_reduce(parc_pool *pool, parc_fn fn, const void *in, size_t in_size, size_t n,
                    size_t out_size, void (*combine)(void *acc, const void *part, void *arg),
                    void *arg, void *result, const parc_options *opt) {
  int rc = check(pool, fn, in, in_size, n, out_size, combine, result);
  if (rc || n == 0) return rc;
  reduction r = {.pool = pool, .fn = fn, .in = in, .in_size = in_size, .out_size = out_size,
                 .n = n, .block = block_size(n), .combine = combine, .arg = arg};
  if (opt) r.opt = *opt;
  /* The identity, the total and (in the caller) a block's partial: *result
     is written only once everything succeeded. */
  char *state = out_size <= SIZE_MAX / 3 ? parc__malloc(3 * out_size) : NULL;
  if (!state)
    return parc__error(PARC_ENOMEM, "parc_map_reduce: out of memory for 3 x %zu bytes", out_size);
  memcpy(state, result, out_size);
  memcpy(state + out_size, result, out_size);
  memcpy(state + 2 * out_size, result, out_size);
  r.identity = state;
  r.total = state + out_size;
  r.partial = state + 2 * out_size;
  plan *p = plan_make(pool, fn, n, in_size, out_size, combine, arg, state, opt);
  if (p) {
    r.fused = p;
    r.opt.context = p;
    r.opt.context_size = plan_size(p);
    r.tasks = (n - 1) / r.block + 1;
  } else {
    r.tasks = n;
  }
  rc = run_windows(&r);
  if (rc == PARC_OK) memcpy(result, r.total, out_size);
  parc__free(p);
  parc__free(state);
  return rc;
}
