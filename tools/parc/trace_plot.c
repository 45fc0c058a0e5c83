/*
 * trace_plot.c — `parc trace plot`: the timeline as a PNG, through gnuplot.
 *
 * One row per worker, time on x; each try a bar coloured by its status
 * (OK green, failed red, cancelled grey), cached answers blue marks (they
 * take no time), faults (crash, timeout, retry, worker replaced, cancel)
 * markers; the pool's own row (tid 0) holds what it did itself.
 * The data goes to a temporary file (mkstemp: mode 0600) that is removed
 * whatever happens; the script goes to gnuplot's standard input. Names
 * from the trace reach gnuplot only quoted and without control characters,
 * and text is drawn noenhanced, so a trace cannot inject commands.
 */
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "trace.h"

/* What a mark is: its column value in the data file, title and style. */
typedef struct mark_class {
  const char *title;
  const char *style;
} mark_class;

enum { BAR_OK, BAR_FAILED, BAR_CANCELED, MARK_CACHED, MARK_CRASH, MARK_TIMEOUT, MARK_RETRY,
       MARK_REPLACE, MARK_CANCEL, N_CLASSES, NOT_DRAWN = -1 };

#define BAR_STYLE(border, fill) \
  "boxxyerror fs solid 1.0 border lc rgb '" border "' lc rgb '" fill "'"
static const mark_class classes[N_CLASSES] = {
    /* A bar's border is darker than its fill: a task too short for a pixel
       still shows, and two tasks back to back stay two. */
    [BAR_OK] = {"ok", BAR_STYLE("#1b7a1b", "#2ca02c")},
    [BAR_FAILED] = {"failed", BAR_STYLE("#8b0000", "#d62728")},
    [BAR_CANCELED] = {"cancelled", BAR_STYLE("#606060", "#a0a0a0")},
    [MARK_CACHED] = {"cached", "points pt 5 ps 0.6 lc rgb '#1f77b4'"},
    [MARK_CRASH] = {"crash", "points pt 2 ps 1.6 lw 2 lc rgb '#000000'"},
    [MARK_TIMEOUT] = {"timeout", "points pt 9 ps 1.4 lc rgb '#ff7f0e'"},
    [MARK_RETRY] = {"retry", "points pt 1 ps 1.2 lw 2 lc rgb '#9467bd'"},
    [MARK_REPLACE] = {"worker replaced", "points pt 13 ps 1.4 lc rgb '#8c564b'"},
    [MARK_CANCEL] = {"cancel", "points pt 3 ps 1.4 lc rgb '#606060'"},
};

/* Where a mark sits in its row: cached answers on the bars' line, task
   faults just above the bars, what the pool did about them just below,
   so that a crash, its retry and the replacement do not hide each other. */
static double mark_offset(int k) {
  if (k == MARK_CACHED) return 0;
  return k == MARK_CRASH || k == MARK_TIMEOUT ? -0.45 : 0.45;
}

static int is(const char *s, const char *want) { return s && strcmp(s, want) == 0; }

static int class_of(const trace_event *e) {
  if (e->ph == 'X') {
    if (e->cached) return MARK_CACHED;
    if (is(trace_status(e), "PARC_OK")) return BAR_OK;
    if (is(trace_status(e), "PARC_ECANCELED")) return BAR_CANCELED;
    return BAR_FAILED;
  }
  if (e->ph != 'i') return NOT_DRAWN;
  if (is(e->name, "crash")) return MARK_CRASH;
  if (is(e->name, "timeout")) return MARK_TIMEOUT;
  if (is(e->name, "retry")) return MARK_RETRY;
  if (is(e->name, "replace")) return MARK_REPLACE;
  if (is(e->name, "cancel")) return MARK_CANCEL;
  return NOT_DRAWN;
}

/* Rows "class row start end" (end = start for marks), times in unit_us. */
static int write_data(FILE *f, const trace *t, const trace_row *rows, size_t n_rows,
                      double unit_us, int used[N_CLASSES]) {
  for (size_t i = 0; i < t->count; i++) {
    const trace_event *e = &t->events[i];
    int k = class_of(e);
    if (k == NOT_DRAWN) continue;
    size_t row = trace_row_find(rows, n_rows, e->pid, e->tid);
    used[k] = 1;
    fprintf(f, "%d %zu %.9g %.9g\n", k, row, e->ts / unit_us, (e->ts + e->dur) / unit_us);
  }
  return fflush(f) == 0 && !ferror(f) ? 0 : -1;
}

/* s as a gnuplot single-quoted string: ' doubled, control characters
   blanked, at most max bytes. */
static void put_quoted(FILE *gp, const char *s, size_t max) {
  fputc('\'', gp);
  for (size_t i = 0; s[i] && i < max; i++) {
    unsigned char ch = (unsigned char)s[i];
    if (ch == '\'') fputs("''", gp);
    else fputc(ch < 0x20 || ch == 0x7f ? ' ' : ch, gp);
  }
  fputc('\'', gp);
}

static void write_axes(FILE *gp, const trace *t, const char *path, const trace_row *rows,
                       size_t n_rows, const char *unit) {
  char note[128];
  trace_incomplete_note(t, note, sizeof note);
  /* A cut trace says so in a second title line. */
  fprintf(gp, "set title ");
  put_quoted(gp, path, 200);
  if (note[0]) {
    fprintf(gp, " . \"\\n\" . ");
    put_quoted(gp, note, 200);
    fprintf(gp, " tc rgb '#d62728'");
  }
  fprintf(gp, " noenhanced\n");
  fprintf(gp, "set xlabel 'time since the pool started (%s)'\nset xrange [0:*]\n", unit);
  fprintf(gp, "set yrange [%zu.65:-0.65]\nset ytics noenhanced (", n_rows ? n_rows - 1 : 0);
  for (size_t r = 0; r < n_rows; r++) {
    fprintf(gp, "%s", r ? ", " : "");
    put_quoted(gp, rows[r].label, sizeof rows[r].label);
    fprintf(gp, " %zu", r);
  }
  fprintf(gp, ")\n%sset grid xtics lc rgb '#dddddd'\nset key outside right top\n",
          n_rows ? "" : "unset ytics\n");
}

static void write_plot(FILE *gp, const char *data, const int used[N_CLASSES]) {
  int any = 0;
  for (int k = 0; k < N_CLASSES; k++) {
    if (!used[k]) continue;
    fprintf(gp, "%s", any ? ", \\\n  " : "plot ");
    put_quoted(gp, data, 4096);
    if (k <= BAR_CANCELED)
      fprintf(gp, " using ($1==%d ? ($3+$4)/2 : NaN):2:3:4:($2-0.35):($2+0.35)", k);
    else
      fprintf(gp, " using ($1==%d ? $3 : NaN):($2%+.2f)", k, mark_offset(k));
    fprintf(gp, " with %s title '%s'", classes[k].style, classes[k].title);
    any = 1;
  }
  if (!any)
    fprintf(gp, "set label 2 'no tasks in this trace' at graph 0.4, graph 0.5\n"
                "plot NaN notitle");
  fprintf(gp, "\nunset output\n");
}

static int have_gnuplot(void) {
  const char *path = getenv("PATH");
  char candidate[4096];
  while (path && *path) {
    size_t len = strcspn(path, ":");
    snprintf(candidate, sizeof candidate, "%.*s/gnuplot", (int)len, len ? path : ".");
    if (access(candidate, X_OK) == 0) return 1;
    path += len + (path[len] == ':');
  }
  return 0;
}

/* Runs gnuplot on the script; 0 when it exited 0. */
static int run_gnuplot(const trace *t, const char *path, const char *data, const char *png,
                       int width, const trace_row *rows, size_t n_rows, const char *unit,
                       const int used[N_CLASSES]) {
  int height = 140 + 36 * (int)n_rows;
  if (height > 4000) height = 4000;
  fflush(stdout);
  /* A UTF-8 locale whatever LANG says, as the examples' plots: labels may
     hold any character the trace's names do. */
  FILE *gp = popen("LC_ALL=C.UTF-8 exec gnuplot", "w");
  if (!gp) return -1;
  fprintf(gp,
          "if (strstrt(GPVAL_TERMINALS, 'pngcairo') > 0) {\n"
          "  set terminal pngcairo size %d,%d font 'Sans,10'\n"
          "} else {\n  set terminal png size %d,%d\n}\nset output ",
          width, height, width, height);
  put_quoted(gp, png, 4096);
  fprintf(gp, "\nset encoding utf8\n");
  write_axes(gp, t, path, rows, n_rows, unit);
  write_plot(gp, data, used);
  return pclose(gp) == 0 ? 0 : -1;
}

static int failed(char *err, size_t size, const char *what, const char *detail) {
  snprintf(err, size, "%s%s%s", what, detail ? ": " : "", detail ? detail : "");
  return -1;
}

/* Checks that png can be written (a clear message before gnuplot runs),
   leaving no file behind. */
static int output_writable(const char *png, char *err, size_t size) {
  struct stat st;
  int existed = stat(png, &st) == 0;
  FILE *f = fopen(png, "ab");
  if (!f) return failed(err, size, png, strerror(errno));
  fclose(f);
  if (!existed) remove(png);
  return 0;
}

int trace_plot_write(const trace *t, const char *path, const char *png_path, int width,
                     char *err, size_t err_size) {
  if (!have_gnuplot())
    return failed(err, err_size, "gnuplot not found (install the Debian package gnuplot-nox)",
                  NULL);
  if (output_writable(png_path, err, err_size) != 0) return -1;
  trace_row *rows;
  size_t n_rows;
  if (trace_rows_collect(t, &rows, &n_rows) != 0)
    return failed(err, err_size, "out of memory", NULL);
  double first, last;
  trace_span(t, &first, &last);
  int seconds = last >= 2e6;
  const char *tmp = getenv("TMPDIR");
  char data[4096];
  snprintf(data, sizeof data, "%s/parc-trace-XXXXXX", tmp && *tmp ? tmp : "/tmp");
  int fd = mkstemp(data);
  FILE *f = fd >= 0 ? fdopen(fd, "w") : NULL;
  if (!f) {
    int saved = errno;
    if (fd >= 0) close(fd), unlink(data);
    free(rows);
    return failed(err, err_size, "cannot create a temporary file", strerror(saved));
  }
  int used[N_CLASSES] = {0};
  int rc = write_data(f, t, rows, n_rows, seconds ? 1e6 : 1e3, used);
  fclose(f);
  /* gnuplot dying early must be an error we report, not a SIGPIPE. */
  void (*old)(int) = signal(SIGPIPE, SIG_IGN);
  if (rc == 0)
    rc = run_gnuplot(t, path, data, png_path, width, rows, n_rows, seconds ? "s" : "ms", used);
  signal(SIGPIPE, old);
  unlink(data);
  free(rows);
  struct stat st;
  if (rc == 0 && (stat(png_path, &st) != 0 || st.st_size == 0)) rc = -1;
  if (rc != 0) {
    remove(png_path);
    return failed(err, err_size, "gnuplot failed writing", png_path);
  }
  return 0;
}
