/*
 * task.h — layer 2 of parc_internal.h: what one task sees (struct
 * parc_task), where its variable-size results go (parc__outputs), and THE
 * routine every executor runs tasks through (parc__tasks_run, inline).
 * Included by parc_internal.h only, after the leaves.
 */
#ifndef PARC_TASK_H
#define PARC_TASK_H

typedef struct parc__dep { const void *data; size_t size; } parc__dep;

/* Where the variable-size results of a run's tasks go (parc_task_output):
   one parc_buf per task, the table made at the first result (a job whose
   tasks make none costs nothing). alloc NULL: the heap (a thread or the
   caller runs the tasks); a process worker allocates in shared memory.
   chunked: results under PARC__RESULT_CARVED bytes are carved from chunks
   the table owns (each thread carves from its own), not malloc'd one by
   one: for a map of small records that is most of a task's cost. Only a
   table whose results are never freed one by one is chunked (a map's, not
   a stream's or a graph node's). */
typedef struct parc__outputs {
  _Atomic(parc_buf *) table;
  size_t count;
  void *(*alloc)(void *arg, size_t size);
  void *arg;
  bool chunked;
  uint64_t id;                /* unique: names the table in threads' chunk caches */
  _Atomic(void *) chunks;     /* the chunks, a list through their first word */
  _Atomic size_t uncarved;    /* chunked: results allocated one by one (clear frees them) */
} parc__outputs;

#define PARC__RESULT_CARVED 1024

/* A new table's id (never 0). */
uint64_t parc__outputs_id(void);
/* Task offset's entry of o (the table made if need be); NULL when out of
   memory. */
parc_buf *parc__outputs_slot(parc__outputs *o, size_t offset);
/* Bytes for a result of `size` in o (a unique pointer for size 0); NULL
   when out of memory. */
void *parc__outputs_alloc(parc__outputs *o, size_t size);
/* Frees the result in *entry unless o's chunks hold it; *entry = {0}. */
void parc__outputs_release(parc__outputs *o, parc_buf *entry);
/* Frees every result, the chunks and the table (o stays usable, empty). */
void parc__outputs_clear(parc__outputs *o);
/* Frees one result taken out of an unchunked table: heap or shared memory. */
void parc__output_free(void *data);
/* Frees the chunks kept for reuse (the last pool is gone). */
void parc__outputs_drain(void);

/* What a run of tasks reads and writes: task k (an offset) reads
   in + k * in_size and writes out + k * out_size; parc_task_index is
   index_base + k. Zero sizes keep NULL pointers. */
typedef struct parc__tasks {
  parc_fn fn;
  const char *in;
  size_t in_size;
  char *out;
  size_t out_size;
  size_t index_base;
  const parc__dep *deps;      /* graph nodes: what parc_task_dep returns */
  size_t ndeps;
  const void *context;
  size_t context_size;
  uint64_t seed;
  const parc_buf *bufs;       /* NULL, or task k reads bufs[k] (in, in_size unused) */
  parc__outputs *outputs;     /* NULL: fixed outputs, parc_task_output fails */
} parc__tasks;

struct parc_task {
  size_t index;
  size_t input_size;          /* bytes at `in` (parc_task_input_size) */
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
  int forced;                 /* parc_task_output failed: the task ends with this */
  size_t index_base;          /* index - index_base: the task's offset in its run */
  parc__outputs *outputs;
};

/* A parc_task for tasks of d, run by `worker`. */
void parc__task_init(parc_task *t, const parc__tasks *d, int worker);
/* Turns a task's return value into a status: PARC_OK, or PARC_ETASK with
   t->message set (parc_fail's text, or "task returned N"), or the status a
   failed parc_task_output forced (PARC_EINVAL, PARC_ENOMEM). t->message may
   be NULL on failure only when memory ran out. A task that did not succeed
   keeps no parc_task_output result. */
int parc__task_result(int rc, parc_task *t);

/* What an executor that runs tasks far from the caller watches (a process
   worker): after each task, *done = its offset + 1; before each, when it
   started. NULL: nothing watched. */
typedef struct parc__task_watch {
  _Atomic size_t *done;
  _Atomic uint64_t *started_ns;
  uint64_t *times;            /* NULL, or times[2k], times[2k+1]: task k's start, end */
  /* NULL, or called after each task with its times and status (traces). */
  void (*ran)(void *arg, size_t offset, uint64_t start_ns, uint64_t end_ns, int status);
  void *arg;
} parc__task_watch;

/* A task of a run did not succeed: status (PARC_ETASK) and its message in
   t->message, which the callee takes (sets it NULL). Returns true to stop
   the run after this task, false to go on. */
typedef bool (*parc__task_failed)(void *arg, size_t offset, int status, parc_task *t);

/* THE routine that runs tasks: every executor (thread, serial, process
   worker, the cache's own calls, the scaling loop) runs [from, to) of d
   through it with t (parc__task_init). A task that fails is handed to
   failed(arg, ...), which may stop the run. Returns where the run ended:
   `to`; or k + 1 when failed() stopped it at task k; or k when *canceled
   was found set before task k (k and later did not run). t->used_index
   becomes true (it is never cleared here) when a task calls
   parc_task_index or parc_task_rng. Inline, with failed a constant at
   each call: it is the hot loop of the library, one loop whatever
   happens. Records are walked as integers so that a zero-size record
   stays a NULL pointer without arithmetic on NULL. */
static inline __attribute__((always_inline)) size_t
parc__tasks_loop(const parc__tasks *d, parc_task *t, size_t from, size_t to,
                 const _Atomic bool *canceled, const parc__task_watch *watch,
                 parc__task_failed failed, void *arg, const bool by_buf) {
  const parc_fn fn = d->fn;
  const size_t in_size = d->in_size, out_size = d->out_size, base = d->index_base;
  uintptr_t in = in_size ? (uintptr_t)d->in + from * in_size : 0;
  uintptr_t out = out_size ? (uintptr_t)d->out + from * out_size : 0;
  /* The clock is read only for a watch that wants times. */
  const bool timing = watch && (watch->started_ns || watch->times || watch->ran);
  /* One clock read per task: a task starts when the one before it ended. */
  uint64_t last = 0;
  const parc_buf *bufs = d->bufs;
  for (size_t k = from; k < to; k++, in += in_size, out += out_size) {
    if (canceled && atomic_load_explicit(canceled, memory_order_relaxed)) return k;
    const void *input = (const void *)in;
    if (by_buf) {
      input = bufs[k].data;
      t->input_size = bufs[k].size;
    }
    uint64_t start = 0;
    if (timing) {
      start = last ? last : parc__now_ns();
      if (watch->started_ns) atomic_store_explicit(watch->started_ns, start, memory_order_relaxed);
      if (watch->times) watch->times[2 * k] = start, watch->times[2 * k + 1] = 0;
    }
    t->index = base + k;
    t->rng_ready = false;
    int rc = fn(input, (void *)out, t);
    int status = PARC_OK;
    if (__builtin_expect(rc != 0 || t->message != NULL, 0)) status = parc__task_result(rc, t);
    if (timing) {
      uint64_t end = last = parc__now_ns();
      if (watch->times) watch->times[2 * k + 1] = end;
      if (watch->ran) watch->ran(watch->arg, k, start, end, status);
    }
    if (__builtin_expect(status != PARC_OK, 0) && failed(arg, k, status, t)) {
      if (watch && watch->done) atomic_store_explicit(watch->done, k + 1, memory_order_release);
      return k + 1;
    }
    if (watch && watch->done) atomic_store_explicit(watch->done, k + 1, memory_order_release);
  }
  return to;
}

/* The loop, made twice by the compiler from its one source: records of any
   size (bufs) cost the strided loop nothing. */
static inline __attribute__((always_inline)) size_t
parc__tasks_run(const parc__tasks *d, parc_task *t, size_t from, size_t to,
                const _Atomic bool *canceled, const parc__task_watch *watch,
                parc__task_failed failed, void *arg) {
  if (__builtin_expect(d->bufs != NULL, 0))
    return parc__tasks_loop(d, t, from, to, canceled, watch, failed, arg, true);
  return parc__tasks_loop(d, t, from, to, canceled, watch, failed, arg, false);
}

#endif /* PARC_TASK_H */
