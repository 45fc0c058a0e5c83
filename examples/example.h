/*
 * example.h — what every example program shares: a clock, a way to stop on
 * a parc error, and plots through gnuplot.
 *
 * Plots go to $PARC_PLOTS (the demo sets it to build/plots) or else to
 * ./parc-demo-plots. gnuplot writes PNG files only (pngcairo, or the libgd
 * `png` terminal where cairo is missing), so no window ever opens. Without
 * gnuplot an example says so once and carries on without its plots.
 */
#ifndef PARC_EXAMPLE_H
#define PARC_EXAMPLE_H

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "parc.h"

/* Seconds on a monotonic clock, like Python's time.perf_counter(). */
static inline double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* Examples stop at the first parc error, saying what it was. */
static inline void check(int rc, const char *what) {
  if (rc == PARC_OK) return;
  fprintf(stderr, "%s: %s (%s)\n", what, parc_strerror(rc), parc_errmsg());
  exit(1);
}

/* True when argv holds flag (e.g. "--check": numbers only, no timing runs). */
static inline int has_flag(int argc, char **argv, const char *flag) {
  for (int i = 1; i < argc; i++)
    if (strcmp(argv[i], flag) == 0) return 1;
  return 0;
}

/* A pool of `workers` workers on `backend` (0: PARC_WORKERS if set, else
   one per core), or NULL when that backend is not usable here
   (PARC_EBACKEND: the reason is printed in one line). */
static inline parc_pool *pool_or_null(parc_backend backend, int workers, int verbose) {
  parc_config cfg;
  parc_config_default(&cfg);
  cfg.backend = backend;
  if (workers != 0) cfg.workers = workers;
  cfg.verbose = verbose;
  parc_pool *pool = NULL;
  int rc = parc_pool_create(&pool, &cfg);
  if (rc == PARC_EBACKEND) {
    printf("  (skipped: %s)\n", parc_errmsg());
    return NULL;
  }
  check(rc, "parc_pool_create");
  return pool;
}

static inline parc_pool *pool_threads(int workers) {
  return pool_or_null(PARC_THREADS, workers, 0);
}

/* Timings mean little on a machine that is busy with other work: says so
   when the 1-minute load average exceeds the CPUs parc may use. */
static inline void note_if_busy(void) {
  double load[1];
  if (getloadavg(load, 1) == 1 && load[0] > parc_cpu_count())
    printf("(load average %.1f on %d CPUs: other processes compete for the cores, so the\n"
           " speedups above are lower than on an idle machine)\n", load[0], parc_cpu_count());
}

/* ---- plots -------------------------------------------------------------- */

static inline const char *plot_dir(void) {
  const char *dir = getenv("PARC_PLOTS");
  if (!dir || !*dir) dir = "parc-demo-plots";
  if (mkdir(dir, 0755) != 0 && errno != EEXIST) {
    fprintf(stderr, "cannot create plot directory %s: %s\n", dir, strerror(errno));
    return NULL;
  }
  return dir;
}

static inline int have_gnuplot(void) {
  const char *path = getenv("PATH");
  char candidate[4096];
  while (path && *path) {
    size_t len = strcspn(path, ":");
    snprintf(candidate, sizeof candidate, "%.*s/gnuplot", (int)len, path);
    if (access(candidate, X_OK) == 0) return 1;
    path += len + (path[len] == ':');
  }
  return 0;
}

/* Starts gnuplot writing DIR/name (a PNG of width x height pixels) and
   returns the pipe to send the plot commands to, or NULL (no gnuplot, or no
   directory: the reason is printed). *path receives the file's path. */
static inline FILE *plot_open(const char *name, int width, int height, char *path, size_t cap) {
  const char *dir = plot_dir();
  if (!dir) return NULL;
  if (!have_gnuplot()) {
    printf("  (no plot: gnuplot not found; install the Debian package gnuplot-nox)\n");
    return NULL;
  }
  snprintf(path, cap, "%s/%s", dir, name);
  fflush(stdout);
  /* A UTF-8 locale whatever LANG says, so gnuplot can draw the labels' degree
     signs (without it, gnuplot prints "iconv failed to convert degree sign"). */
  FILE *gp = popen("LC_ALL=C.UTF-8 exec gnuplot", "w");
  if (!gp) {
    printf("  (no plot: cannot start gnuplot: %s)\n", strerror(errno));
    return NULL;
  }
  fprintf(gp,
          "if (strstrt(GPVAL_TERMINALS, 'pngcairo') > 0) {\n"
          "  set terminal pngcairo size %d,%d enhanced font 'Sans,10'\n"
          "} else {\n"
          "  set terminal png size %d,%d\n"
          "}\n"
          "set output '%s'\n"
          "set encoding utf8\n"
          "set grid lc rgb '#dddddd'\n",
          width, height, width, height, path);
  return gp;
}

/* Finishes the plot and says where it is. */
static inline void plot_close(FILE *gp, const char *path) {
  if (!gp) return;
  fprintf(gp, "unset output\n");
  int rc = pclose(gp);
  if (rc == 0) printf("  plot: %s\n", path);
  else printf("  (gnuplot failed writing %s)\n", path);
}

#endif
