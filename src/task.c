/*
 * task.c — what a running task sees: its index, worker, context, random
 * stream, dependencies, and parc_fail.
 *
 * A parc_task lives with whoever runs the task (a worker thread, a forked
 * worker, the caller on SERIAL); it is never shared. The routine that runs
 * tasks, parc__tasks_run, is inline in task.h.
 */
#include "parc_internal.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>

size_t parc_task_index(const parc_task *t) {
  if (!t) return 0;
  /* The cache keys this function's results by index from now on. t is
     never really const: it lives on the stack of whoever runs the task. */
  ((parc_task *)t)->used_index = true;
  return t->index;
}

int parc_task_worker(const parc_task *t) { return t ? t->worker : 0; }

size_t parc_task_input_size(const parc_task *t) { return t ? t->input_size : 0; }

const void *parc_task_context(const parc_task *t, size_t *size) {
  if (size) *size = t ? t->context_size : 0;
  return t ? t->context : NULL;
}

size_t parc_task_ndeps(const parc_task *t) { return t ? t->ndeps : 0; }

const void *parc_task_dep(const parc_task *t, size_t k, size_t *size) {
  if (!t || k >= t->ndeps) {
    if (size) *size = 0;
    return NULL;
  }
  if (size) *size = t->deps[k].size;
  /* As for a task's own out: no bytes, no pointer. */
  return t->deps[k].size ? t->deps[k].data : NULL;
}

parc_rng *parc_task_rng(parc_task *t) {
  if (!t) return NULL;
  t->used_index = true;   /* the stream depends on the index (and seed) */
  if (!t->rng_ready) {
    parc_rng_init(&t->rng, t->seed, t->index);
    t->rng_ready = true;
  }
  return &t->rng;
}

int parc_fail(parc_task *t, const char *fmt, ...) {
  if (!t) return PARC_ETASK;
  /* A failed parc_task_output decided how the task ends, and its text. */
  if (t->forced) return PARC_ETASK;
  /* A second parc_fail in one task replaces the first message. */
  parc__free(t->message);
  va_list ap;
  va_start(ap, fmt);
  t->message = parc__vformat(fmt ? fmt : "(no message)", ap);
  va_end(ap);
  return PARC_ETASK;
}

/* ---- variable-size results ------------------------------------------------ */

parc_buf *parc__outputs_slot(parc__outputs *o, size_t offset) {
  assert(offset < o->count);
  parc_buf *table = atomic_load_explicit(&o->table, memory_order_acquire);
  if (table) return &table[offset];
  parc_buf *fresh = parc__calloc_large(o->count, sizeof *fresh);
  if (!fresh) return NULL;
  /* Two workers' first results race to make it: one table wins. */
  if (!atomic_compare_exchange_strong(&o->table, &table, fresh)) {
    parc__free_large(fresh, o->count, sizeof *fresh);
    return &table[offset];
  }
  return &fresh[offset];
}

uint64_t parc__outputs_id(void) {
  static _Atomic uint64_t last;
  return atomic_fetch_add_explicit(&last, 1, memory_order_relaxed) + 1;
}

void parc__output_free(void *data) {
  if (!data) return;
  if (parc__shared_contains(data, 1)) parc_shared_free(data);
  else parc__free(data);
}

#define CHUNK_BYTES ((size_t)64 << 10)
#define CHUNK_HEADER ((size_t)16)

/* The chunk this thread carves from, and whose table it belongs to. */
static _Thread_local __attribute__((tls_model("initial-exec"))) struct {
  uint64_t id;
  char *next;
  size_t left;
} carving;

/* Chunks freed with their table, kept for the next table's results: memory
   fresh from the kernel costs a page fault per 4 KiB touched, which for a
   map of small records was most of its time. At most SPARE_MAX chunks
   (64 MiB); they go back when the last pool is destroyed
   (parc__outputs_drain). */
#define SPARE_MAX 1024
static pthread_mutex_t spare_lock = PTHREAD_MUTEX_INITIALIZER;
static void *spare_chunks;    /* a list through their first word */
static size_t nspare;

static void *chunk_take(void) {
  pthread_mutex_lock(&spare_lock);
  void *chunk = spare_chunks;
  if (chunk) {
    memcpy(&spare_chunks, chunk, sizeof spare_chunks);
    nspare--;
  }
  pthread_mutex_unlock(&spare_lock);
  return chunk ? chunk : parc__malloc(CHUNK_BYTES);
}

static void chunk_give(void *chunk) {
  pthread_mutex_lock(&spare_lock);
  bool kept = nspare < SPARE_MAX;
  if (kept) {
    memcpy(chunk, &spare_chunks, sizeof spare_chunks);
    spare_chunks = chunk;
    nspare++;
  }
  pthread_mutex_unlock(&spare_lock);
  if (!kept) parc__free(chunk);
}

void parc__outputs_drain(void) {
  pthread_mutex_lock(&spare_lock);
  void *chunk = spare_chunks;
  spare_chunks = NULL;
  nspare = 0;
  pthread_mutex_unlock(&spare_lock);
  while (chunk) {
    void *next;
    memcpy(&next, chunk, sizeof next);
    parc__free(chunk);
    chunk = next;
  }
}

static bool carved(const parc__outputs *o, size_t size) {
  return o->chunked && (size ? size : 1) < PARC__RESULT_CARVED;
}

void *parc__outputs_alloc(parc__outputs *o, size_t size) {
  size_t bytes = size ? size : 1;   /* size 0: still a unique pointer */
  if (o->alloc) return o->alloc(o->arg, bytes);
  if (!carved(o, size)) {
    if (o->chunked) atomic_fetch_add_explicit(&o->uncarved, 1, memory_order_relaxed);
    return parc__malloc(bytes);
  }
  size_t need = (bytes + 15) & ~(size_t)15;
  if (carving.id != o->id || carving.left < need) {
    char *chunk = chunk_take();
    if (!chunk) return NULL;
    void *head = atomic_load_explicit(&o->chunks, memory_order_relaxed);
    do {
      memcpy(chunk, &head, sizeof head);
    } while (!atomic_compare_exchange_weak(&o->chunks, &head, chunk));
    carving.id = o->id;
    carving.next = chunk + CHUNK_HEADER;
    carving.left = CHUNK_BYTES - CHUNK_HEADER;
  }
  void *data = carving.next;
  carving.next += need;
  carving.left -= need;
  return data;
}

void parc__outputs_release(parc__outputs *o, parc_buf *entry) {
  /* A worker's shared results are its caller's to reclaim after the round. */
  if (!o->alloc && !carved(o, entry->size)) parc__output_free((void *)entry->data);
  *entry = (parc_buf){NULL, 0};
}

void parc__outputs_clear(parc__outputs *o) {
  parc_buf *table = atomic_exchange(&o->table, NULL);
  /* Carved results go with their chunks; a worker's shared ones are gone. */
  bool walk = !o->alloc && (!o->chunked || atomic_load(&o->uncarved) > 0);
  for (size_t i = 0; table && walk && i < o->count; i++)
    if (table[i].data && !carved(o, table[i].size)) parc__output_free((void *)table[i].data);
  parc__free_large(table, o->count, sizeof *table);
  void *chunk = atomic_exchange(&o->chunks, NULL);
  while (chunk) {
    void *next;
    memcpy(&next, chunk, sizeof next);
    chunk_give(chunk);
    chunk = next;
  }
  /* A thread's cache may still name this table: its id is never reused. */
}

/* parc_task_output could not give what was asked: the task ends with
   `status` and this text, whatever it returns. */
static void *force_failure(parc_task *t, int status, char *message) {
  parc__free(t->message);
  t->message = message ? message : parc__strdup("parc_task_output: out of memory");
  t->forced = status;
  return NULL;
}

/* The common case, kept short: a first small result of a chunked table
   whose chunk this thread is carving already. */
static inline void *carve_fast(parc_task *t, size_t size) {
  parc__outputs *o = t->outputs;
  if (!o || !o->chunked || carving.id != o->id || size >= PARC__RESULT_CARVED) return NULL;
  parc_buf *table = atomic_load_explicit(&o->table, memory_order_acquire);
  size_t need = size ? (size + 15) & ~(size_t)15 : 16;
  if (!table || carving.left < need) return NULL;
  parc_buf *slot = &table[t->index - t->index_base];
  if (slot->data) return NULL;   /* a replacement: the general path */
  void *data = carving.next;
  carving.next += need;
  carving.left -= need;
  *slot = (parc_buf){data, size};
  return data;
}

void *parc_task_output(parc_task *t, size_t size) {
  if (!t || t->forced) return NULL;
  void *fast = carve_fast(t, size);
  if (fast) return fast;
  if (!t->outputs)
    return force_failure(t, PARC_EINVAL,
                         parc__format("parc_task_output: this task has a fixed-size output "
                                      "(out_size > 0): write the result to `out`"));
  parc_buf *slot = parc__outputs_slot(t->outputs, t->index - t->index_base);
  if (!slot)
    return force_failure(t, PARC_ENOMEM,
                         parc__format("parc_task_output: cannot allocate the table of %zu "
                                      "results", t->outputs->count));
  parc__outputs_release(t->outputs, slot);
  void *data = parc__outputs_alloc(t->outputs, size);
  if (!data)
    return force_failure(t, PARC_ENOMEM,
                         parc__format("parc_task_output: cannot allocate %zu bytes", size));
  *slot = (parc_buf){data, size};
  return data;
}

/* A task that did not succeed keeps no result. */
static void drop_output(parc_task *t) {
  if (!t->outputs) return;
  parc_buf *table = atomic_load_explicit(&t->outputs->table, memory_order_acquire);
  if (!table) return;
  parc__outputs_release(t->outputs, &table[t->index - t->index_base]);
}

void parc__task_init(parc_task *t, const parc__tasks *d, int worker) {
  /* Field by field: the stream (48 bytes) needs no zeroing, only rng_ready. */
  t->index = d->index_base;
  t->input_size = d->in_size;
  t->worker = worker;
  t->context = d->context;
  t->context_size = d->context_size;
  t->seed = d->seed;
  t->rng_ready = false;
  t->message = NULL;
  t->deps = d->deps;
  t->ndeps = d->ndeps;
  t->used_index = false;
  t->forced = 0;
  t->index_base = d->index_base;
  t->outputs = d->outputs;
}

int parc__task_result(int rc, parc_task *t) {
  if (t->forced) {
    int status = t->forced;
    t->forced = 0;
    drop_output(t);
    return status;
  }
  if (rc == 0) {
    /* parc_fail's text without a failing return is dropped: success wins. */
    parc__free(t->message);
    t->message = NULL;
    return PARC_OK;
  }
  if (!t->message) t->message = parc__format("task returned %d", rc);
  drop_output(t);
  return PARC_ETASK;
}
