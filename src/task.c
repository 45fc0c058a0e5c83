/*
 * task.c — what a running task sees: its index, worker, context, random
 * stream, dependencies, and parc_fail.
 *
 * A parc_task lives with whoever runs the task (a worker thread, a forked
 * worker, the caller on SERIAL); it is never shared. The routine that runs
 * tasks, parc__tasks_run, is inline in parc_internal.h.
 */
#include "parc_internal.h"

#include <stdio.h>

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
  /* A second parc_fail in one task replaces the first message. */
  parc__free(t->message);
  va_list ap;
  va_start(ap, fmt);
  t->message = parc__vformat(fmt ? fmt : "(no message)", ap);
  va_end(ap);
  return PARC_ETASK;
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
}

int parc__task_result(int rc, parc_task *t) {
  if (rc == 0) {
    /* parc_fail's text without a failing return is dropped: success wins. */
    parc__free(t->message);
    t->message = NULL;
    return PARC_OK;
  }
  if (!t->message) t->message = parc__format("task returned %d", rc);
  return PARC_ETASK;
}
