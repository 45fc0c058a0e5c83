/*
 * parc bench — the scaling table of the built-in workloads.
 *
 *   parc bench [--workload empty|reaction|montecarlo|all] [--n N]
 *              [--workers 1,2,4,all] [--backend threads,processes]
 *              [--repeats R] [--verbose 0|1|2] [--csv]
 *
 * Each workload is timed by parc_scaling: serial first, then every backend
 * x worker count, the fastest of R runs each, and printed with speedup and
 * efficiency. The workloads need nothing beyond libc and libm:
 *   empty       tasks that do nothing: what parc costs per task;
 *   reaction    the chapter's sweep, dC/dt = -k C to t = 10 by an adaptive
 *               Dormand-Prince RK45 with solve_ivp's defaults (rtol 1e-3,
 *               atol 1e-6), one k per task;
 *   montecarlo  the chapter's fin: tip temperature for h ~ N(50, 5) drawn
 *               from parc_task_rng, one sample per task.
 * Each workload also prints a check of its numbers, so a fast wrong answer
 * shows. --verbose runs the timed pools with progress output (its cost is
 * then part of the times).
 */
#include <errno.h>
#include <math.h>
#include <parc.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "commands.h"

#define MAX_LIST 64

/* ---- the workloads ------------------------------------------------------- */

static int empty_task(const void *in, void *out, parc_task *t) {
  (void)in, (void)out, (void)t;
  return 0;
}

/* Dormand-Prince 5(4), the tableau scipy's RK45 uses. */
static const double C[7] = {0, 1.0 / 5, 3.0 / 10, 4.0 / 5, 8.0 / 9, 1, 1};
static const double A[7][6] = {
    {0},
    {1.0 / 5},
    {3.0 / 40, 9.0 / 40},
    {44.0 / 45, -56.0 / 15, 32.0 / 9},
    {19372.0 / 6561, -25360.0 / 2187, 64448.0 / 6561, -212.0 / 729},
    {9017.0 / 3168, -355.0 / 33, 46732.0 / 5247, 49.0 / 176, -5103.0 / 18656},
    {35.0 / 384, 0, 500.0 / 1113, 125.0 / 192, -2187.0 / 6784, 11.0 / 84}};
static const double B[6] = {35.0 / 384, 0, 500.0 / 1113, 125.0 / 192, -2187.0 / 6784, 11.0 / 84};
static const double E[7] = {-71.0 / 57600, 0, 71.0 / 16695, -71.0 / 1920, 17253.0 / 339200,
                            -22.0 / 525, 1.0 / 40};

static double reaction_rate(double t, double c, double k) {
  (void)t;
  return -k * c;
}

/* C(t_end) for dC/dt = -k C, C(0) = c0, stepped as solve_ivp's RK45 does:
   its initial step rule, error norm, safety factor and step bounds. */
static double rk45_decay(double k, double c0, double t_end) {
  const double rtol = 1e-3, atol = 1e-6, safety = 0.9, min_factor = 0.2, max_factor = 10;
  double t = 0, y = c0, f = reaction_rate(t, y, k);
  /* Initial step (Hairer, Norsett & Wanner, as scipy's select_initial_step). */
  double scale = atol + fabs(y) * rtol;
  double d0 = fabs(y) / scale, d1 = fabs(f) / scale;
  double h0 = d0 < 1e-5 || d1 < 1e-5 ? 1e-6 : 0.01 * d0 / d1;
  double y1 = y + h0 * f, f1 = reaction_rate(t + h0, y1, k);
  double d2 = fabs(f1 - f) / scale / h0;
  double h1 = d1 <= 1e-15 && d2 <= 1e-15 ? fmax(1e-6, h0 * 1e-3)
                                          : pow(0.01 / fmax(d1, d2), 1.0 / 5);
  double h = fmin(100 * h0, h1);
  bool rejected = false;
  while (t < t_end) {
    if (t + h > t_end) h = t_end - t;
    double K[7];
    K[0] = f;
    for (int s = 1; s < 6; s++) {
      double ys = y;
      for (int j = 0; j < s; j++) ys += h * A[s][j] * K[j];
      K[s] = reaction_rate(t + C[s] * h, ys, k);
    }
    double y_new = y;
    for (int j = 0; j < 6; j++) y_new += h * B[j] * K[j];
    K[6] = reaction_rate(t + h, y_new, k);
    double err = 0;
    for (int j = 0; j < 7; j++) err += K[j] * E[j];
    double norm = fabs(h * err) / (atol + fmax(fabs(y), fabs(y_new)) * rtol);
    if (norm < 1) {
      double factor = norm == 0 ? max_factor : fmin(max_factor, safety * pow(norm, -1.0 / 5));
      if (rejected) factor = fmin(1, factor);
      t += h;
      y = y_new;
      f = K[6];
      h *= factor;
      rejected = false;
    } else {
      h *= fmax(min_factor, safety * pow(norm, -1.0 / 5));
      rejected = true;
    }
  }
  return y;
}

/* One k in, its conversion X = (C0 - C(10)) / C0 out. */
static int reaction_task(const void *in, void *out, parc_task *t) {
  (void)t;
  double k = *(const double *)in;
  *(double *)out = 1.0 - rk45_decay(k, 1.0, 10.0);
  return 0;
}

static double fin_tip_temperature(double h) {
  const double t0 = 100, t_inf = 25, length = 0.1, conductivity = 200, perimeter = 0.04,
               area = 1e-4;
  double m = sqrt(h * perimeter / (conductivity * area));
  return t_inf + (t0 - t_inf) / cosh(m * length);
}

/* One sample of h ~ N(50, 5), kept positive as the chapter does; its tip
   temperature out. The draw depends only on the seed and the task index. */
static int montecarlo_task(const void *in, void *out, parc_task *t) {
  (void)in;
  parc_rng *rng = parc_task_rng(t);
  double h;
  do h = parc_rng_normal(rng, 50, 5); while (h <= 0);
  *(double *)out = fin_tip_temperature(h);
  return 0;
}

/* ---- options ----------------------------------------------------------- */

enum { EMPTY = 1, REACTION = 2, MONTECARLO = 4 };

typedef struct bench_args {
  int workloads;
  size_t n;                     /* 0: each workload's default */
  int workers[MAX_LIST];
  size_t nworkers;
  parc_backend backends[MAX_LIST];
  size_t nbackends;
  int repeats;
  int verbose;
  bool csv;                     /* machine-readable rows instead of tables */
} bench_args;

static int usage_error(const char *fmt, const char *what) {
  fprintf(stderr, "parc bench: ");
  fprintf(stderr, fmt, what);
  fprintf(stderr, " (try parc bench --help)\n");
  return 2;
}

static void usage(void) {
  printf(
      "usage: parc bench [OPTIONS]\n"
      "Times built-in workloads on serial C, then on each backend and worker count,\n"
      "and prints seconds, speedup against serial and efficiency (speedup / workers).\n\n"
      "  --workload W   empty, reaction, montecarlo or all (default all); a comma list too\n"
      "  --n N          tasks per workload (default: empty 1000000, reaction 20000,\n"
      "                 montecarlo 1000000)\n"
      "  --workers L    worker counts, e.g. 1,2,4,all (default 1, 2, 4, ... up to all CPUs)\n"
      "  --backend L    threads, processes, serial (default threads,processes)\n"
      "  --repeats R    timed runs per row, the fastest kept (default 3)\n"
      "  --verbose V    progress output of the timed pools: 0, 1 or 2 (default 0)\n"
      "  --csv          print workload,backend,workers,seconds,speedup,status rows\n");
}

static int parse_long(const char *s, long lo, long hi, long *out) {
  char *end = NULL;
  errno = 0;
  long v = strtol(s, &end, 10);
  if (errno || end == s || *end != '\0' || v < lo || v > hi) return -1;
  *out = v;
  return 0;
}

/* Splits a comma list into `parse`d items; -1 on a bad item or too many. */
static int parse_list(const char *s, void *items, size_t *count,
                      int (*parse)(const char *item, void *items, size_t k)) {
  char copy[1024];
  if (strlen(s) >= sizeof copy) return -1;
  strcpy(copy, s);
  *count = 0;
  for (char *save = NULL, *item = strtok_r(copy, ",", &save); item;
       item = strtok_r(NULL, ",", &save)) {
    if (*count == MAX_LIST || parse(item, items, *count) != 0) return -1;
    (*count)++;
  }
  return *count ? 0 : -1;
}

static int parse_worker(const char *item, void *items, size_t k) {
  long v;
  if (strcmp(item, "all") == 0) v = 0;
  else if (parse_long(item, -4096, 4096, &v) != 0) return -1;
  ((int *)items)[k] = (int)v;
  return 0;
}

static int parse_backend(const char *item, void *items, size_t k) {
  parc_backend *b = (parc_backend *)items + k;
  if (strcmp(item, "threads") == 0) *b = PARC_THREADS;
  else if (strcmp(item, "processes") == 0) *b = PARC_PROCESSES;
  else if (strcmp(item, "serial") == 0) *b = PARC_SERIAL;
  else return -1;
  return 0;
}

static int parse_workload(const char *s, int *out) {
  char copy[256];
  if (strlen(s) >= sizeof copy) return -1;
  strcpy(copy, s);
  *out = 0;
  for (char *save = NULL, *w = strtok_r(copy, ",", &save); w; w = strtok_r(NULL, ",", &save)) {
    if (strcmp(w, "empty") == 0) *out |= EMPTY;
    else if (strcmp(w, "reaction") == 0) *out |= REACTION;
    else if (strcmp(w, "montecarlo") == 0) *out |= MONTECARLO;
    else if (strcmp(w, "all") == 0) *out |= EMPTY | REACTION | MONTECARLO;
    else return -1;
  }
  return *out ? 0 : -1;
}

/* Returns 0, or the exit code: 2 for bad usage, -1 for --help. */
static int parse_args(int argc, char **argv, bench_args *a) {
  memset(a, 0, sizeof *a);
  a->workloads = EMPTY | REACTION | MONTECARLO;
  for (int i = 1; i < argc; i++) {
    const char *arg = argv[i];
    if (strcmp(arg, "-h") == 0 || strcmp(arg, "--help") == 0) return -1;
    if (strcmp(arg, "--csv") == 0) {
      a->csv = true;
      continue;
    }
    const char *names[] = {"--workload", "--n", "--workers", "--backend", "--repeats", "--verbose"};
    const char *value = NULL;
    int which = -1;
    for (int k = 0; k < 6 && which < 0; k++) {
      size_t len = strlen(names[k]);
      if (strcmp(arg, names[k]) == 0) {
        if (i + 1 >= argc) return usage_error("%s needs a value", names[k]);
        value = argv[++i];
        which = k;
      } else if (strncmp(arg, names[k], len) == 0 && arg[len] == '=') {
        value = arg + len + 1;
        which = k;
      }
    }
    long v;
    switch (which) {
      case 0:
        if (parse_workload(value, &a->workloads))
          return usage_error("unknown workload '%s': use empty, reaction, montecarlo or all", value);
        break;
      case 1:
        if (parse_long(value, 1, 1000000000L, &v))
          return usage_error("--n needs a task count from 1 to 10^9, not '%s'", value);
        a->n = (size_t)v;
        break;
      case 2:
        if (parse_list(value, a->workers, &a->nworkers, parse_worker))
          return usage_error("--workers needs a list like 1,2,4,all (each within +-4096), not '%s'",
                             value);
        break;
      case 3:
        if (parse_list(value, a->backends, &a->nbackends, parse_backend))
          return usage_error("--backend needs a list of threads, processes, serial, not '%s'",
                             value);
        break;
      case 4:
        if (parse_long(value, 1, 1000, &v))
          return usage_error("--repeats needs a count from 1 to 1000, not '%s'", value);
        a->repeats = (int)v;
        break;
      case 5:
        if (parse_long(value, 0, 2, &v))
          return usage_error("--verbose needs 0, 1 or 2, not '%s'", value);
        a->verbose = (int)v;
        break;
      default:
        return usage_error("unknown option '%s'", arg);
    }
  }
  return 0;
}

/* ---- running ------------------------------------------------------------ */

typedef struct workload {
  int id;
  const char *name;
  const char *what;
  size_t default_n;
  parc_fn fn;
  size_t in_size, out_size;
} workload;

static const workload workloads[] = {
    {EMPTY, "empty", "tasks that do nothing: parc's cost per task", 1000000, empty_task, 0, 0},
    {REACTION, "reaction",
     "dC/dt = -k C to t = 10 by RK45 (rtol 1e-3, atol 1e-6), k in linspace(0.01, 2, n)", 20000,
     reaction_task, sizeof(double), sizeof(double)},
    {MONTECARLO, "montecarlo", "fin tip temperature for h ~ N(50, 5) from parc_task_rng", 1000000,
     montecarlo_task, 0, sizeof(double)},
};

/* "sequential", "threads/2": how the table names a row, short. */
static const char *row_name(const parc_scaling_row *row, size_t i) {
  static char name[32];
  if (i == 0) return "sequential";
  const char *backend = row->backend == PARC_SERIAL    ? "serial"
                        : row->backend == PARC_THREADS ? "threads"
                                                       : "processes";
  snprintf(name, sizeof name, "%s/%d", backend, row->workers);
  return name;
}

static void print_check(const workload *w, const double *in, const double *out, size_t n,
                        const parc_scaling_row *rows, size_t nrows) {
  if (w->id == EMPTY) {
    printf("cost per task (seconds / n):");
    for (size_t i = 0; i < nrows; i++)
      if (rows[i].status == PARC_OK)
        printf("%s %s %.1f ns", i ? "," : "", row_name(&rows[i], i),
               rows[i].seconds / (double)n * 1e9);
    printf("\n");
  } else if (w->id == REACTION) {
    double x = 1.0 - rk45_decay(0.5, 1.0, 10.0);
    printf("check: conversion at k = 0.5 is %.4f (exact 1 - e^-5 = %.4f); at k = %.2f: %.4f\n", x,
           1.0 - exp(-5.0), in[n - 1], out[n - 1]);
  } else {
    double sum = 0, sq = 0;
    for (size_t i = 0; i < n; i++) sum += out[i];
    double mean = sum / (double)n;
    for (size_t i = 0; i < n; i++) sq += (out[i] - mean) * (out[i] - mean);
    printf("check: nominal %.2f C; mean %.2f C, sd %.2f C over %zu samples\n",
           fin_tip_temperature(50), mean, n > 1 ? sqrt(sq / (double)(n - 1)) : 0.0, n);
  }
}

/* Times one workload and prints its table; returns the exit code. */
static int run_workload(const workload *w, const bench_args *a) {
  size_t n = a->n ? a->n : w->default_n;
  double *in = w->in_size ? malloc(n * sizeof *in) : NULL;
  double *out = w->out_size ? malloc(n * sizeof *out) : NULL;
  if ((w->in_size && !in) || (w->out_size && !out)) {
    fprintf(stderr, "parc bench: out of memory for %zu tasks\n", n);
    free(in);
    free(out);
    return 1;
  }
  for (size_t i = 0; in && i < n; i++) in[i] = n > 1 ? 0.01 + (2.0 - 0.01) * (double)i / (double)(n - 1) : 0.01;
  parc_config cfg;
  parc_config_default(&cfg);
  cfg.verbose = a->verbose;
  parc_scaling_plan plan = {a->nbackends ? a->backends : NULL, a->nbackends,
                            a->nworkers ? a->workers : NULL, a->nworkers, a->repeats, &cfg};
  parc_options opt = {.label = w->name};
  parc_scaling_row rows[1 + MAX_LIST * MAX_LIST];
  size_t nrows = 0;
  if (!a->csv) printf("\n%s: %zu tasks, %s\n", w->name, n, w->what);
  fflush(stdout);
  int rc = parc_scaling(w->fn, in, w->in_size, out, w->out_size, n, &opt, &plan, rows,
                        sizeof rows / sizeof rows[0], &nrows);
  int exit_code = 0;
  if (rc) {
    fprintf(stderr, "parc bench: %s\n", parc_errmsg());
    exit_code = 1;
  } else {
    if (a->csv) {
      for (size_t i = 0; i < nrows; i++) {
        const char *name = row_name(&rows[i], i);
        printf("%s,%.*s,%d,%.6f,%.4f,%d\n", w->name, (int)strcspn(name, "/"), name,
               rows[i].workers, rows[i].seconds, rows[i].speedup, rows[i].status);
      }
    } else {
      parc_scaling_print(stdout, rows, nrows);
    }
    for (size_t i = 0; i < nrows; i++)
      if (rows[i].status != PARC_OK && rows[i].status != PARC_EBACKEND) exit_code = 1;
    if (rows[0].status == PARC_OK && !a->csv) print_check(w, in, out, n, rows, nrows);
  }
  free(in);
  free(out);
  return exit_code;
}

int parc_cmd_bench(int argc, char **argv) {
  bench_args a;
  int rc = parse_args(argc, argv, &a);
  if (rc == -1) {
    usage();
    return 0;
  }
  if (rc) return rc;
  if (a.csv)
    printf("workload,backend,workers,seconds,speedup,status\n");
  else
    printf("parc bench: %d CPUs; each row is the fastest of %d runs; speedup is against serial C\n",
           parc_cpu_count(), a.repeats ? a.repeats : 3);
  int exit_code = 0;
  for (size_t i = 0; i < sizeof workloads / sizeof workloads[0]; i++)
    if (a.workloads & workloads[i].id) {
      int code = run_workload(&workloads[i], &a);
      if (code) exit_code = code;
    }
  return exit_code;
}
