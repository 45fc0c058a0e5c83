/*
 * trace_cmd.c — `parc trace`: read the trace a program wrote with
 * PARC_TRACE=FILE (or parc_config.trace).
 *
 *   parc trace summary FILE                     span, tasks, workers, slowest
 *   parc trace plot FILE -o OUT.png [--width PX] the timeline through gnuplot
 *
 * The file itself opens in https://ui.perfetto.dev or chrome://tracing;
 * these two answer the usual questions without a browser. A trace cut by
 * its program's death is read up to the cut and said to be incomplete.
 * Exit status: 0, 1 for a file that cannot be read or is no trace (or a
 * plot gnuplot could not write), 2 for bad usage.
 */
#include <stdlib.h>
#include <string.h>

#include "commands.h"
#include "trace.h"

static int usage(void) {
  printf("usage: parc trace summary FILE\n"
         "       parc trace plot FILE -o OUT.png [--width PX]\n"
         "FILE is a trace a program wrote with PARC_TRACE=FILE (Chrome trace event\n"
         "JSON; it also opens in https://ui.perfetto.dev). summary prints the span,\n"
         "tasks by status, each worker's busy time, idle gaps and dispatch overhead,\n"
         "and the slowest tasks; plot draws one row per worker with gnuplot (default\n"
         "width 1200 pixels).\n");
  return 0;
}

static int usage_error(const char *what, const char *arg) {
  fprintf(stderr, "parc trace: %s%s%s%s (try parc trace --help)\n", what, arg ? " '" : "",
          arg ? arg : "", arg ? "'" : "");
  return 2;
}

static int load(trace *t, const char *path) {
  char err[256];
  if (trace_read(t, path, err, sizeof err) == 0) return 0;
  fprintf(stderr, "parc trace: %s: %s\n", path, err);
  return -1;
}

static int summary(int argc, char **argv) {
  if (argc != 3) return usage_error(argc < 3 ? "summary needs a FILE" : "unexpected argument",
                                    argc < 3 ? NULL : argv[3]);
  trace t;
  if (load(&t, argv[2]) != 0) return 1;
  int rc = trace_summary_print(&t, argv[2], stdout);
  trace_free(&t);
  if (rc != 0) fprintf(stderr, "parc trace: out of memory\n");
  return rc ? 1 : 0;
}

/* --width PX: a whole number of pixels a PNG can sensibly have. */
static int parse_width(const char *s, int *width) {
  char *end;
  long v = strtol(s, &end, 10);
  if (!*s || *end || v < 200 || v > 20000) return -1;
  *width = (int)v;
  return 0;
}

typedef struct plot_args {
  const char *file, *png;
  int width;
} plot_args;

static int plot_parse(int argc, char **argv, plot_args *a) {
  *a = (plot_args){NULL, NULL, 1200};
  for (int i = 2; i < argc; i++) {
    const char *arg = argv[i];
    int takes_value = !strcmp(arg, "-o") || !strcmp(arg, "--output") || !strcmp(arg, "--width");
    if (takes_value && i + 1 == argc) return usage_error("missing value after", arg);
    if (!strcmp(arg, "-o") || !strcmp(arg, "--output")) a->png = argv[++i];
    else if (!strcmp(arg, "--width")) {
      if (parse_width(argv[++i], &a->width) != 0)
        return usage_error("--width takes pixels, 200 to 20000, not", argv[i]);
    } else if (arg[0] == '-' && arg[1]) return usage_error("unknown option", arg);
    else if (a->file) return usage_error("unexpected argument", arg);
    else a->file = arg;
  }
  if (!a->file) return usage_error("plot needs a FILE", NULL);
  if (!a->png) return usage_error("plot needs -o OUT.png", NULL);
  return 0;
}

static int plot(int argc, char **argv) {
  plot_args a;
  int rc = plot_parse(argc, argv, &a);
  if (rc != 0) return rc;
  trace t;
  if (load(&t, a.file) != 0) return 1;
  char err[512], note[128];
  trace_incomplete_note(&t, note, sizeof note);
  if (note[0]) fprintf(stderr, "parc trace: %s: %s\n", a.file, note);
  rc = trace_plot_write(&t, a.file, a.png, a.width, err, sizeof err);
  trace_free(&t);
  if (rc != 0) {
    fprintf(stderr, "parc trace: %s\n", err);
    return 1;
  }
  printf("timeline: %s\n", a.png);
  return 0;
}

int parc_cmd_trace(int argc, char **argv) {
  if (argc < 2) return usage_error("missing command: summary FILE | plot FILE -o OUT.png", NULL);
  const char *sub = argv[1];
  if (!strcmp(sub, "-h") || !strcmp(sub, "--help") || !strcmp(sub, "help")) return usage();
  if (!strcmp(sub, "summary")) return summary(argc, argv);
  if (!strcmp(sub, "plot")) return plot(argc, argv);
  return usage_error("unknown command", sub);
}
