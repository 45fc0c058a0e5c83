/*
 * trace_summary.c — `parc trace summary`: what a trace says in numbers.
 *
 * Tasks are counted once each (a retried task has one 'X' event per try;
 * its status is its last try's); workers by their own tries. A worker's
 * dispatch overhead is the time between its tasks, per task, leaving out
 * the gaps longer than 1 ms (idle: no work was there for it, reported
 * apart): what claiming, queueing and reporting cost it. Inside one
 * claimed chunk the gap between two tasks is nothing but that cost, so
 * its median is the cleanest figure.
 */
#include <stdlib.h>
#include <string.h>

#include "trace.h"

enum { SLOWEST = 10 };
static const double IDLE_GAP_US = 1000;   /* gaps shorter than 1 ms are dispatch */

/* "12.3 us", "4.567 ms", "1.234 s": a duration in the unit that reads best. */
static const char *duration(double us, char *buf, size_t size) {
  if (us < 1000) snprintf(buf, size, "%.1f us", us);
  else if (us < 1e6) snprintf(buf, size, "%.3f ms", us / 1e3);
  else snprintf(buf, size, "%.3f s", us / 1e6);
  return buf;
}

/* The 'X' events, as pointers, in an order cmp gives. */
static const trace_event **tries_sorted(const trace *t, size_t *n,
                                        int (*cmp)(const void *, const void *)) {
  const trace_event **x = malloc((t->count ? t->count : 1) * sizeof *x);
  if (!x) return NULL;
  *n = 0;
  for (size_t i = 0; i < t->count; i++)
    if (t->events[i].ph == 'X') x[(*n)++] = &t->events[i];
  qsort(x, *n, sizeof *x, cmp);
  return x;
}

static int cmp_ll(long long a, long long b) { return a < b ? -1 : a > b; }
static int cmp_double(double a, double b) { return a < b ? -1 : a > b; }

static int cmp_name(const char *a, const char *b) {
  return a && b ? strcmp(a, b) : (a != NULL) - (b != NULL);
}

/* Tries of one task are adjacent, in time order. Two maps on one pool
   reuse indices (and the writer may leave args.group out), so time, not
   the try number, orders them: a try 1 begins a task. */
static int by_task_then_time(const void *a, const void *b) {
  const trace_event *x = *(const trace_event *const *)a, *y = *(const trace_event *const *)b;
  int c = cmp_ll(x->group, y->group);
  if (!c) c = cmp_name(x->name, y->name);
  if (!c) c = cmp_ll(x->index, y->index);
  return c ? c : cmp_double(x->ts, y->ts);
}

static int by_worker_then_time(const void *a, const void *b) {
  const trace_event *x = *(const trace_event *const *)a, *y = *(const trace_event *const *)b;
  int c = cmp_ll(x->pid, y->pid);
  if (!c) c = cmp_ll(x->tid, y->tid);
  return c ? c : cmp_double(x->ts, y->ts);
}

static int slowest_first(const void *a, const void *b) {
  const trace_event *x = *(const trace_event *const *)a, *y = *(const trace_event *const *)b;
  int c = cmp_double(y->dur, x->dur);
  return c ? c : cmp_double(x->ts, y->ts);
}

/* ---- tasks and their statuses -------------------------------------------- */

typedef struct status_count {
  const char *status;
  size_t count;
} status_count;

static int most_first(const void *a, const void *b) {
  const status_count *x = a, *y = b;
  if (x->count != y->count) return x->count > y->count ? -1 : 1;
  return strcmp(x->status, y->status);
}

static void count_status(status_count *counts, size_t *n, const char *status) {
  for (size_t i = 0; i < *n; i++)
    if (strcmp(counts[i].status, status) == 0) {
      counts[i].count++;
      return;
    }
  counts[(*n)++] = (status_count){status, 1};
}

/* b (the next in by_task_then_time's order) is a later try of a's task. */
static int retry_of(const trace_event *b, const trace_event *a) {
  return a->index >= 0 && a->group == b->group && a->index == b->index &&
         cmp_name(a->name, b->name) == 0 && b->try_no > 1;
}

/* Tasks, retries, cached answers and each task's final status. */
static int print_tasks(const trace *t, FILE *out) {
  size_t n;
  const trace_event **x = tries_sorted(t, &n, by_task_then_time);
  status_count *counts = malloc((n ? n : 1) * sizeof *counts);
  if (!x || !counts) {
    free(x), free(counts);
    return -1;
  }
  size_t tasks = 0, cached = 0, retries = 0, failed = 0, kinds = 0;
  for (size_t i = 0; i < n; i++) {
    cached += x[i]->cached;
    retries += x[i]->try_no > 1;
    if (i + 1 < n && retry_of(x[i + 1], x[i])) continue;   /* not its last try */
    tasks++;
    failed += strcmp(trace_status(x[i]), "PARC_OK") != 0;
    count_status(counts, &kinds, trace_status(x[i]));
  }
  qsort(counts, kinds, sizeof *counts, most_first);
  fprintf(out, "tasks      %zu (%zu tries: %zu retries; %zu cached)\n", tasks, n, retries, cached);
  fprintf(out, "failed     %zu\n", failed);
  fprintf(out, "status     ");
  for (size_t k = 0; k < kinds; k++)
    fprintf(out, "%s%s %zu", k ? ", " : "", counts[k].status, counts[k].count);
  fprintf(out, "%s\n", kinds ? " (each task's last try)" : "no tasks");
  free(x), free(counts);
  return 0;
}

static size_t instants_named(const trace *t, const char *name) {
  size_t n = 0;
  for (size_t i = 0; i < t->count; i++)
    n += t->events[i].ph == 'i' && t->events[i].name && strcmp(t->events[i].name, name) == 0;
  return n;
}

static void print_faults(const trace *t, FILE *out) {
  fprintf(out, "faults     crashes %zu, timeouts %zu, retries %zu, replacements %zu, cancels %zu\n",
          instants_named(t, "crash"), instants_named(t, "timeout"), instants_named(t, "retry"),
          instants_named(t, "replace"), instants_named(t, "cancel"));
}

/* ---- workers ------------------------------------------------------------- */

typedef struct worker_stats {
  size_t tries, gaps;
  double first, last, busy, idle;
} worker_stats;

/* x[from, to) are one worker's tries in time order. Gaps in a chunk go to
   chunk_gaps (which grows by *n_gaps). */
static worker_stats worker_measure(const trace_event **x, size_t from, size_t to,
                                   double *chunk_gaps, size_t *n_gaps) {
  worker_stats w = {to - from, 0, x[from]->ts, x[from]->ts + x[from]->dur, 0, 0};
  for (size_t i = from; i < to; i++) {
    w.busy += x[i]->dur;
    if (i > from) {
      double gap = x[i]->ts - (x[i - 1]->ts + x[i - 1]->dur);
      if (gap > IDLE_GAP_US) w.gaps++, w.idle += gap;
      if (x[i]->chunk >= 0 && x[i]->chunk == x[i - 1]->chunk)
        chunk_gaps[(*n_gaps)++] = gap > 0 ? gap : 0;
    }
    if (x[i]->ts + x[i]->dur > w.last) w.last = x[i]->ts + x[i]->dur;
  }
  return w;
}

static void print_worker(const trace_row *row, worker_stats w, double span, FILE *out) {
  char overhead[32];
  double covered = w.last - w.first;
  double per_task = w.tries ? (covered - w.busy - w.idle) / (double)w.tries : 0;
  fprintf(out, "  %-16s %7zu %11.6f %6.1f%% %9zu %10.6f %14s\n", row->label, w.tries,
          w.busy / 1e6, span > 0 ? 100 * w.busy / span : 0.0, w.gaps, w.idle / 1e6,
          duration(per_task > 0 ? per_task : 0, overhead, sizeof overhead));
}

static int cmp_gap(const void *a, const void *b) {
  return cmp_double(*(const double *)a, *(const double *)b);
}

static int print_workers(const trace *t, FILE *out) {
  size_t n, n_rows, n_gaps = 0;
  trace_row *rows = NULL;
  const trace_event **x = tries_sorted(t, &n, by_worker_then_time);
  double *gaps = malloc((n ? n : 1) * sizeof *gaps);
  if (!x || !gaps || trace_rows_collect(t, &rows, &n_rows) != 0) {
    free(x), free(gaps), free(rows);
    return -1;
  }
  double first, last;
  trace_span(t, &first, &last);
  fprintf(out, "\nworkers\n  %-16s %7s %11s %7s %9s %10s %14s\n", "", "tasks", "busy s", "busy",
          "gaps>1ms", "idle s", "overhead/task");
  for (size_t from = 0, to; from < n; from = to) {
    for (to = from + 1; to < n && x[to]->pid == x[from]->pid && x[to]->tid == x[from]->tid;) to++;
    size_t r = trace_row_find(rows, n_rows, x[from]->pid, x[from]->tid);
    print_worker(&rows[r], worker_measure(x, from, to, gaps, &n_gaps), last - first, out);
  }
  char median[32];
  qsort(gaps, n_gaps, sizeof *gaps, cmp_gap);
  if (n_gaps)
    fprintf(out, "dispatch   median gap between tasks of one chunk: %s (%zu gaps)\n",
            duration(gaps[n_gaps / 2], median, sizeof median), n_gaps);
  else
    fprintf(out, "dispatch   no two tasks of one chunk ran back to back\n");
  free(x), free(gaps), free(rows);
  return 0;
}

/* ---- the slowest tasks --------------------------------------------------- */

static int print_slowest(const trace *t, FILE *out) {
  size_t n, n_rows;
  trace_row *rows = NULL;
  const trace_event **x = tries_sorted(t, &n, slowest_first);
  if (!x || trace_rows_collect(t, &rows, &n_rows) != 0) {
    free(x), free(rows);
    return -1;
  }
  if (n)
    fprintf(out, "\nslowest tasks\n  %3s %8s  %-16s %12s  %-14s %s\n", "", "index", "worker",
            "duration", "status", "try");
  for (size_t i = 0; i < n && i < SLOWEST; i++) {
    char took[32];
    size_t r = trace_row_find(rows, n_rows, x[i]->pid, x[i]->tid);
    fprintf(out, "  %2zu. %8lld  %-16s %12s  %-14s %lld\n", i + 1, x[i]->index, rows[r].label,
            duration(x[i]->dur, took, sizeof took), trace_status(x[i]), x[i]->try_no);
  }
  free(x), free(rows);
  return 0;
}

/* ---- the whole ----------------------------------------------------------- */

static const char *process_name(const trace *t) {
  for (size_t i = 0; i < t->count; i++)
    if (t->events[i].ph == 'M' && t->events[i].name && t->events[i].label &&
        strcmp(t->events[i].name, "process_name") == 0)
      return t->events[i].label;
  return "(unnamed)";
}

int trace_summary_print(const trace *t, const char *path, FILE *out) {
  char note[128], a[32], b[32], c[32];
  double first, last;
  trace_span(t, &first, &last);
  trace_incomplete_note(t, note, sizeof note);
  fprintf(out, "trace      %s\n", path);
  fprintf(out, "program    %s%s%s\n", process_name(t), t->version ? ", parc " : "",
          t->version ? t->version : "");
  fprintf(out, "complete   %s\n", note[0] ? note : "yes");
  fprintf(out, "span       %s (from %s to %s after the pool started)\n",
          duration(last - first, a, sizeof a), duration(first, b, sizeof b),
          duration(last, c, sizeof c));
  if (print_tasks(t, out) != 0) return -1;
  print_faults(t, out);
  if (print_workers(t, out) != 0 || print_slowest(t, out) != 0) return -1;
  return 0;
}
