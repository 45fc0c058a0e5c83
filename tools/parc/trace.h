/*
 * trace.h — what `parc trace` shares between its files: a trace read into
 * memory (trace_read.c), the rows a timeline has (trace_rows.c), the
 * summary (trace_summary.c) and the plot (trace_plot.c).
 *
 * A trace is the Chrome trace event JSON the library writes when
 * parc_config.trace or PARC_TRACE names a file: {"traceEvents":[...],
 * "otherData":{...}}, one event a line. Times are microseconds since the
 * pool was created; tid is worker + 1 (tid 0: the pool itself).
 */
#ifndef PARC_TOOL_TRACE_H
#define PARC_TOOL_TRACE_H

#include <stddef.h>
#include <stdio.h>

/* One event. Numbers the event lacks are -1, strings NULL, flags 0; but
   the writer leaves a try's defaults out, so an 'X' event without a try
   reads as try 1, and one without a status is PARC_OK (trace_status). */
typedef struct trace_event {
  char ph;              /* 'X' a task's try, 'i' an instant, 'C' a counter, 'M' a name */
  long long pid, tid;
  double ts, dur;       /* microseconds; dur 0 unless ph is 'X' */
  char *name;           /* group label, fault name ("crash"...), "tasks", "thread_name" */
  char *cat;            /* "task", "fault", "dispatch" */
  /* args */
  long long index, chunk, try_no, group;
  int cached;           /* args.cached was true */
  char *status;         /* "PARC_OK", "PARC_ECRASH", ... */
  char *message;
  char *label;          /* args.name of a metadata event */
  long long queued, running, done;
} trace_event;

typedef struct trace {
  trace_event *events;
  size_t count, capacity;
  int closed;           /* the closing line was read */
  int complete;         /* ... and otherData.complete was true */
  char *version;        /* otherData.parc_version, or NULL */
} trace;

/* Reads PATH into *t (which it initialises). A file cut inside the event
   list (its program died) is not an error: the events before the cut are
   kept and t->closed is 0. Returns 0, or -1 with a one-line reason in err
   (unreadable file, not a trace, invalid JSON, out of memory); *t is then
   empty. trace_parse does the same on a buffer of len bytes. */
int trace_read(trace *t, const char *path, char *err, size_t err_size);
int trace_parse(trace *t, const char *text, size_t len, char *err, size_t err_size);
/* Frees what the trace holds; harmless on an empty or zeroed trace. */
void trace_free(trace *t);

/* e's status: its args.status, or "PARC_OK" when it has none. */
const char *trace_status(const trace_event *e);

/* One timeline row: a worker of one process (pid), tid 0 the pool. */
typedef struct trace_row {
  long long pid, tid;
  char label[64];       /* its thread_name, or "worker N" */
} trace_row;

/* The distinct (pid, tid) of the trace's 'X' and 'i' events, sorted; the
   caller frees *rows. Returns 0, or -1 when out of memory. */
int trace_rows_collect(const trace *t, trace_row **rows, size_t *count);
/* The row of (pid, tid), or count when there is none. */
size_t trace_row_find(const trace_row *rows, size_t count, long long pid, long long tid);
/* The first start and last end of the 'X', 'i' and 'C' events, in
   microseconds; both 0 for a trace without any. */
void trace_span(const trace *t, double *first, double *last);
/* The sentence a cut trace gets, for summary and plot alike. */
void trace_incomplete_note(const trace *t, char *buf, size_t size);

/* Prints the summary of t (read from path) to out. Returns 0, or -1 when
   out of memory. */
int trace_summary_print(const trace *t, const char *path, FILE *out);

/* Renders the timeline to png_path through gnuplot, width pixels wide.
   Returns 0, or -1 with a one-line reason in err. */
int trace_plot_write(const trace *t, const char *path, const char *png_path, int width,
                     char *err, size_t err_size);

#endif
