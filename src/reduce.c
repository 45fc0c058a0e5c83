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
 *  - fused, the fast one: a coarser map whose tasks each fold 1 to 4
 *    whole blocks: its function (fold_blocks) runs fn on each index of its
 *    blocks through the one task routine (parc__tasks_run) into a small
 *    local buffer and folds those outputs into the blocks' partials, which
 *    are its own output. The workers make the n calls of combine and the
 *    caller ceil(n / B); no output array of n exists; and it goes down
 *    every backend's dispatch unchanged (on PROCESSES the partials come
 *    back as outputs, fn and combine travel as object + offset under exec
 *    start).
 *  - in the caller: fn's own tasks in windows of outputs, which the caller
 *    folds through the same tree. For what the fused form cannot honour: a
 *    cache (its keys are fn's tasks), MPI, and on PROCESSES an arg the
 *    workers cannot see (not NULL, not shared memory), a per-task timeout
 *    or max_tasks_per_worker (they count fn's tasks, not blocks), or under
 *    exec start a fn or combine that cannot be located.
 *
 * Memory stays O(workers x out_size), not O(n): each form runs windows of
 * its tasks (fused ones or fn's), each a group of its own whose outputs land in
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
/* A fused task folds up to LANES_MAX blocks side by side, running fn on
   CHUNK_BYTES of outputs per block at a time. */
#define LANES_MAX 4
#define CHUNK_BYTES 2048
/* ... when the map has at least this many blocks per worker (fewer: one
   block per task, so that few long tasks still spread over the workers). */
#define LANES_MIN_BLOCKS_PER_WORKER 64

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

/* ---- the fused form: a task folds whole blocks ---------------------------- */

/* The context of a fused map: what fold_blocks needs, wherever it runs.
   The identity (out_size bytes) follows at plan_identity(), then, when the
   caller's context travels with the plan (context NULL, context_size > 0),
   its bytes. */
typedef struct plan {
  parc_fn fn;
  combine_fn combine;
  void *arg;
  size_t n, block, in_size, out_size;
  size_t lanes;               /* blocks per task: 1..LANES_MAX */
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

/* The first task of a block that failed: its index and message (heap). */
typedef struct block_failure {
  bool failed;
  size_t index;
  char *message;
} block_failure;

static bool block_task_failed(void *arg, size_t offset, int status, parc_task *t) {
  (void)status;   /* always PARC_ETASK: parc__task_result's */
  block_failure *f = arg;
  f->failed = true;
  f->index = offset;   /* an offset in the run; run_tasks makes it an index */
  f->message = t->message;
  t->message = NULL;
  return true;   /* a block stops at its first failure */
}

/* Runs fn on the map's indices [first + k, first + k + m) into buffer,
   through the one task routine; `in` holds the inputs from index first
   on. False at a failure (in *f). */
static bool run_tasks(parc__tasks *d, parc_task *inner, const void *in, size_t first, size_t k,
                      size_t m, char *buffer, block_failure *f) {
  d->in = d->in_size ? (const char *)in + k * d->in_size : NULL;
  d->out = buffer;
  d->index_base = first + k;
  parc__tasks_run(d, inner, 0, m, NULL, NULL, block_task_failed, f);
  if (f->failed) f->index += first + k;
  return !f->failed;
}

/* Folds a chunk of each lane's outputs (m[g] of them, at buffer + g x lane
   bytes) into the lanes' partials (at acc + g x size), output j of every
   lane before output j + 1 of any: independent chains side by side. Only
   the last lane may be shorter (the map's last block). The usual case, four
   full lanes, is written out: the compiler keeps its pointers in registers
   across the calls. */
static void fold_chunk(combine_fn combine, void *arg, char *acc, const char *buffer, size_t lanes,
                       size_t lane, size_t size, const size_t *m) {
  if (LANES_MAX == 4 && lanes == 4 && m[3] == m[0]) {
    char *a0 = acc, *a1 = acc + size, *a2 = acc + 2 * size, *a3 = acc + 3 * size;
    for (const char *q = buffer, *end = buffer + m[0] * size; q < end; q += size) {
      combine(a0, q, arg);
      combine(a1, q + lane, arg);
      combine(a2, q + 2 * lane, arg);
      combine(a3, q + 3 * lane, arg);
    }
    return;
  }
  for (size_t j = 0; j < m[0]; j++)
    for (size_t g = 0; g < lanes && j < m[g]; g++)
      combine(acc + g * size, buffer + g * lane + j * size, arg);
}

/* A task of the fused map: the partials of blocks [t->index x lanes, ...)
   into out, one after the other (`lanes` of them, fewer in the map's last
   task). Each starts as the identity; fn runs on each block's indices in
   chunks of outputs held in a local buffer (no output outlives its chunk),
   and each chunk is folded into its block's partial in index order. The
   blocks go side by side, chunk by chunk, their folds interleaved: each is
   a chain of calls that wait on the one before (acc is read and written),
   and independent chains let the processor overlap them. That changes when
   combine runs, never what it folds: the bits are those of parc.h's tree.
   The partials are folded in this worker's own memory and copied to out at
   the end (neighbouring tasks' partials share cache lines of out, and other
   workers write them meanwhile). The messages it leaves follow
   "parc_map_reduce: " (see window_failure). */
static int fold_blocks(const void *in, void *out, parc_task *t) {
  const plan *p = t->context;
  parc_fn fn = p->fn;
  combine_fn combine = p->combine;
  const size_t B = p->block, in_size = p->in_size, out_size = p->out_size;
  /* t->index, not parc_task_index: a fused map has no cache to tell. */
  size_t block = t->index * p->lanes, blocks = (p->n - 1) / B + 1;
  size_t lanes = blocks - block < p->lanes ? blocks - block : p->lanes;
  size_t first = block * B;
  size_t last_count = p->n - (block + lanes - 1) * B;   /* the last lane's block */
  if (last_count > B) last_count = B;
  if (p->exec && !plan_resolve(p, &fn, &combine))
    return parc_fail(t, "tasks %zu..%zu: the worker cannot find fn or combine (exec start: "
                        "in an object this program does not load?)",
                     first, first + (lanes - 1) * B + last_count - 1);
  /* Per lane: its partial, then its chunk's outputs. */
  _Alignas(64) char local[LANES_MAX * 2 * CHUNK_BYTES];
  const bool small = out_size <= CHUNK_BYTES;
  const size_t chunk = small ? CHUNK_BYTES / out_size : 1;
  char *acc = small ? local : parc__malloc(2 * lanes * out_size);
  if (!acc)
    return parc_fail(t, "tasks %zu..%zu: out of memory for %zu x %zu bytes", first,
                     first + (lanes - 1) * B + last_count - 1, 2 * lanes, out_size);
  char *buffer = acc + lanes * out_size;   /* lane g's chunk at g x chunk outputs */
  for (size_t g = 0; g < lanes; g++) memcpy(acc + g * out_size, plan_identity(p), out_size);
  parc__tasks d = {.fn = fn, .in_size = in_size, .out_size = out_size,
                   .context = p->context_size && !p->context
                                  ? plan_identity(p) + align16(out_size) : p->context,
                   .context_size = p->context_size, .seed = t->seed};
  parc_task inner;
  parc__task_init(&inner, &d, t->worker);
  block_failure f = {false, 0, NULL};
  size_t failed_lane = 0, k = 0;
  for (; k < B && !f.failed; k += chunk) {
    size_t m[LANES_MAX] = {0};
    for (size_t g = 0; g < lanes; g++) {
      size_t count = g + 1 < lanes ? B : last_count;
      m[g] = k >= count ? 0 : count - k < chunk ? count - k : chunk;
      if (m[g] && !run_tasks(&d, &inner, in, first, g * B + k, m[g],
                             buffer + g * chunk * out_size, &f)) {
        failed_lane = g;
        break;
      }
    }
    if (f.failed) break;
    fold_chunk(combine, p->arg, acc, buffer, lanes, chunk * out_size, out_size, m);
  }
  /* The lowest failed index: lanes before the one that failed ran only up
     to this chunk, and one of them may fail later in its block. */
  bool lower = false;   /* found one: the lowest lane's first failure is the lowest */
  for (size_t g = 0; f.failed && !lower && g < failed_lane; g++)
    for (size_t q = k + chunk; q < B && !lower; q += chunk) {
      block_failure e = {false, 0, NULL};
      if (!run_tasks(&d, &inner, in, first, g * B + q, B - q < chunk ? B - q : chunk,
                     buffer + g * chunk * out_size, &e)) {
        parc__free(f.message);
        f = e;
        lower = true;
      }
    }
  int rc = 0;
  if (f.failed)
    rc = parc_fail(t, "task %zu failed: %s", f.index,
                   f.message ? f.message : "(out of memory for its message)");
  else
    memcpy(out, acc, lanes * out_size);
  parc__free(f.message);
  if (!small) parc__free(acc);
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
  if (out_size > SIZE_MAX / 4 || context_size > SIZE_MAX / 4) return NULL;
  /* Where memory is not shared the caller's context travels in the plan
     (in place when it is in shared memory already). */
  bool copy_context = far && context && !parc__shared_contains(context, context_size);
  size_t identity_at = align16(sizeof(plan));
  size_t size = identity_at + align16(out_size) + (copy_context ? context_size : 0);
  plan *p = parc__calloc(1, size);
  if (!p) return NULL;
  size_t block = block_size(n), blocks = (n - 1) / block + 1;
  size_t workers = (size_t)parc_pool_size(pool);
  bool side_by_side = out_size <= CHUNK_BYTES && blocks >= LANES_MIN_BLOCKS_PER_WORKER * workers;
  p->fn = fn;
  p->combine = combine;
  p->arg = arg;
  p->n = n;
  p->block = block;
  p->in_size = in_size;
  p->out_size = out_size;
  p->lanes = side_by_side ? LANES_MAX : 1;
  p->context = copy_context ? NULL : context;
  p->context_size = context_size;
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
  size_t blocks;              /* ceil(n / block) */
  size_t tasks;               /* what the windows cover: fused tasks, or n tasks of fn */
  size_t span;                /* indices per task: lanes x block, or 1 */
  size_t lanes;               /* partials per task: its output is lanes x out_size */
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
  /* One job of whole tasks, and one of the map's last task if it covers
     fewer indices (its input is shorter) and is in this window. */
  size_t last = r->tasks - 1, tail = r->n - last * r->span;
  size_t whole = w->count;
  if (tail < r->span && w->first + w->count == r->tasks) whole--;
  size_t task_in = r->span * r->in_size, task_out = r->lanes * r->out_size;
  if (whole)
    rc = parc__group_map_at(w->group, fold_blocks, task_in ? r->in + w->first * task_in : NULL,
                            task_in, w->out, task_out, whole, w->first);
  if (rc == PARC_OK && whole < w->count)
    rc = parc__group_map_at(w->group, fold_blocks, r->in_size ? r->in + last * task_in : NULL,
                            tail * r->in_size, w->out + whole * task_out, task_out, 1, last);
  return rc;
}

/* Folds a finished window: partials into the total (fused), or fn's
   outputs into their blocks' partials and each finished block into the
   total (in the caller). */
static void fold_window(reduction *r, const window *w) {
  const size_t size = r->out_size;
  if (r->fused) {
    /* The window's partials lie in block order; the map's last task may
       hold fewer than lanes. */
    size_t block = w->first * r->lanes, count = w->count * r->lanes;
    if (count > r->blocks - block) count = r->blocks - block;
    for (size_t k = 0; k < count; k++) r->combine(r->total, w->out + k * size, r->arg);
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
    size_t task = w->first + k;
    if (!r->fused)
      return parc__error(status, "parc_map_reduce: task %zu failed: %s", task,
                         text ? text : parc_strerror(status));
    /* fold_blocks' own failures are phrased for this prefix; a fused task
       that crashed or timed out (PROCESSES) is named by its indices. */
    if (status == PARC_ETASK && text) return parc__error(status, "parc_map_reduce: %s", text);
    size_t first = task * r->span, end = r->n - first > r->span ? first + r->span : r->n;
    return parc__error(status, "parc_map_reduce: tasks %zu..%zu failed: %s", first, end - 1,
                       text ? text : parc_strerror(status));
  }
  return parc__error(PARC_ECANCELED, "parc_map_reduce: task %zu was cancelled",
                     w->first * r->span);
}

/* Tasks per window: fused, a window of partials; in the caller, as many
   outputs as keep every worker busy while the caller folds, bounded in
   bytes. */
static size_t window_size(const reduction *r) {
  size_t workers = (size_t)parc_pool_size(r->pool), w;
  size_t task_out = r->lanes * r->out_size;
  if (r->fused) {
    /* 16 MiB of partials, but work for every worker: 4 tasks each, or one
       where an output is over 4 MiB. */
    w = WINDOW_BYTES_MAX / task_out;
    size_t least = task_out <= WINDOW_BYTES_MAX / 4 ? 4 * workers : workers;
    if (w < least) w = least;
  } else {
    w = workers * WINDOW_PER_WORKER;
    if (w < WINDOW_MIN) w = WINDOW_MIN;
    if (w > WINDOW_BYTES_MAX / task_out) w = WINDOW_BYTES_MAX / task_out;
  }
  if (w == 0) w = 1;
  return w < r->tasks ? w : r->tasks;
}

/* Runs every window, two in flight, folding each in order. */
static int run_windows(reduction *r) {
  size_t size = window_size(r), task_out = r->lanes * r->out_size;
  char *buffers = size <= SIZE_MAX / 2 / task_out ? parc__malloc(2 * size * task_out) : NULL;
  if (!buffers)
    return parc__error(PARC_ENOMEM, "parc_map_reduce: out of memory for 2 x %zu outputs",
                       size * r->lanes);
  window w[2] = {{NULL, buffers, 0, size}, {NULL, buffers + size * task_out, 0, 0}};
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
  r.blocks = (n - 1) / r.block + 1;
  if (opt) r.opt = *opt;
  /* The identity, the total and (in the caller) a block's partial: *result
     is written only once everything succeeded. */
  char *state = out_size <= SIZE_MAX / 3 ? parc__malloc(3 * out_size) : NULL;
  if (!state)
    return parc__error(PARC_ENOMEM, "parc_map_reduce: out of memory for 3 x %zu bytes", out_size);
  for (int k = 0; k < 3; k++) memcpy(state + k * out_size, result, out_size);
  r.identity = state;
  r.total = state + out_size;
  r.partial = state + 2 * out_size;
  plan *p = plan_make(pool, fn, n, in_size, out_size, combine, arg, state, opt);
  if (p) {
    r.fused = p;
    r.opt.context = p;
    r.opt.context_size = plan_size(p);
    r.lanes = p->lanes;
    r.span = p->lanes * r.block;
    r.tasks = (r.blocks - 1) / p->lanes + 1;
  } else {
    r.lanes = r.span = 1;
    r.tasks = n;
  }
  rc = run_windows(&r);
  if (rc == PARC_OK) memcpy(result, r.total, out_size);
  parc__free(p);
  parc__free(state);
  return rc;
}
