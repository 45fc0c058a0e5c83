/*
 * trace_rows.c — what summary and plot both derive from a trace: its rows
 * (one per worker of each process), its span, a task's status, and the
 * sentence a cut trace gets.
 */
#include <stdlib.h>
#include <string.h>

#include "trace.h"

static int row_order(const void *a, const void *b) {
  const trace_row *x = a, *y = b;
  if (x->pid != y->pid) return x->pid < y->pid ? -1 : 1;
  return x->tid < y->tid ? -1 : x->tid > y->tid;
}

static int on_timeline(const trace_event *e) {
  return e->ph == 'X' || e->ph == 'i';
}

/* A row's label: its thread_name metadata when the trace has one. */
static void row_label(const trace *t, trace_row *row, int several_pids) {
  const char *name = NULL;
  for (size_t i = 0; i < t->count; i++) {
    const trace_event *e = &t->events[i];
    if (e->ph == 'M' && e->pid == row->pid && e->tid == row->tid && e->label && e->name &&
        strcmp(e->name, "thread_name") == 0)
      name = e->label;
  }
  char own[40];
  if (!name) {
    if (row->tid == 0) snprintf(own, sizeof own, "pool");
    else snprintf(own, sizeof own, "worker %lld", row->tid - 1);
    name = own;
  }
  if (several_pids) snprintf(row->label, sizeof row->label, "%lld: %s", row->pid, name);
  else snprintf(row->label, sizeof row->label, "%s", name);
}

int trace_rows_collect(const trace *t, trace_row **rows, size_t *count) {
  size_t n = 0;
  trace_row *all = malloc((t->count ? t->count : 1) * sizeof *all);
  if (!all) return -1;
  for (size_t i = 0; i < t->count; i++)
    if (on_timeline(&t->events[i])) all[n++] = (trace_row){t->events[i].pid, t->events[i].tid, ""};
  qsort(all, n, sizeof *all, row_order);
  size_t distinct = 0;
  for (size_t i = 0; i < n; i++)
    if (distinct == 0 || row_order(&all[distinct - 1], &all[i]) != 0) all[distinct++] = all[i];
  int several_pids = distinct > 0 && all[0].pid != all[distinct - 1].pid;
  for (size_t i = 0; i < distinct; i++) row_label(t, &all[i], several_pids);
  *rows = all;
  *count = distinct;
  return 0;
}

size_t trace_row_find(const trace_row *rows, size_t count, long long pid, long long tid) {
  trace_row key = {pid, tid, ""};
  const trace_row *hit = bsearch(&key, rows, count, sizeof *rows, row_order);
  return hit ? (size_t)(hit - rows) : count;
}

const char *trace_status(const trace_event *e) {
  return e->status ? e->status : "PARC_OK";
}

void trace_span(const trace *t, double *first, double *last) {
  int any = 0;
  *first = *last = 0;
  for (size_t i = 0; i < t->count; i++) {
    const trace_event *e = &t->events[i];
    if (e->ph != 'X' && e->ph != 'i' && e->ph != 'C') continue;
    double end = e->ts + (e->ph == 'X' ? e->dur : 0);
    if (!any || e->ts < *first) *first = e->ts;
    if (!any || end > *last) *last = end;
    any = 1;
  }
}

void trace_incomplete_note(const trace *t, char *buf, size_t size) {
  if (!t->closed)
    snprintf(buf, size, "trace incomplete: the program ended before the pool (%zu events read)",
             t->count);
  else if (!t->complete)
    snprintf(buf, size, "trace incomplete: its writer did not mark it complete (%zu events read)",
             t->count);
  else
    buf[0] = 0;
}
