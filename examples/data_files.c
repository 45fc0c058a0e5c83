/*
 * data_files — the chapter's "analyzing hundreds of experimental data
 * files" as a real program: 300 CSV files (t,concentration) of 5 to 2000
 * rows, six of them malformed, are written to a fresh temporary directory;
 * one parc_group_map_bufs over their paths fits c(t) = c0 exp(-k t) to each
 * (GSL, as batch_fitting does) and returns a result whose size depends on
 * the file: the fit and the RMS residual of each 50-row segment. Failures
 * are named by file and line. The whole run is done on THREADS and on
 * PROCESSES, and the two sets of results must be byte-identical.
 * Everything is seeded, so the output is the same on every run; the
 * directory is removed at the end, on failure too.
 */
#include <limits.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>

#include <gsl/gsl_errno.h>
#include <gsl/gsl_multifit_nlinear.h>

#include "example.h"

#define N_FILES 300
#define SEGMENT 50      /* rows per residual segment */
#define MIN_POINTS 3    /* two parameters need three points to leave a residual */
#define NOISE_LEVEL 0.05

/* A task's result: the fit, then `segments` doubles (the segments' RMS). */
typedef struct fit_summary {
  double k, c0, rms;
  uint32_t points, segments;
} fit_summary;

/* What one run on one backend returned for one file, copied out of the
   group so that the two runs can be compared after both groups are gone. */
typedef struct file_result {
  int status;
  char *message;        /* the failure's text, or NULL */
  unsigned char *bytes; /* the parc_task_output result, or NULL */
  size_t size;
} file_result;

/* ---- the files ---------------------------------------------------------- */

static char dir[PATH_MAX];   /* "" until mkdtemp made it */
static pid_t dir_owner;      /* only the process that made it removes it */

static void file_path(char *path, size_t cap, int i) {
  snprintf(path, cap, "%s/data_%03d.csv", dir, i);
}

/* Runs at exit, so that a failure (check() exits) leaves nothing behind
   either. Process workers are forks: they must not remove the caller's
   files, hence the owner check. */
static void remove_dir(void) {
  if (!dir[0] || getpid() != dir_owner) return;
  char path[PATH_MAX + 32];
  for (int i = 0; i < N_FILES; i++) {
    file_path(path, sizeof path, i);
    unlink(path);
  }
  rmdir(dir);
  dir[0] = '\0';
}

static void make_dir(void) {
  const char *tmp = getenv("TMPDIR");
  snprintf(dir, sizeof dir, "%s/parc-data-files-XXXXXX", tmp && *tmp ? tmp : "/tmp");
  if (!mkdtemp(dir)) {
    fprintf(stderr, "mkdtemp %s: %s\n", dir, strerror(errno));
    exit(1);
  }
  dir_owner = getpid();
  atexit(remove_dir);
}

/* The malformed files: which, and how (line numbers count the header as 1). */
enum { GOOD, BAD_CELL, MISSING_COLUMN, EMPTY, TOO_FEW, BAD_TIME, HEADER_ONLY };
static int defect_of(int i) {
  switch (i) {
  case 17: return BAD_CELL;        /* line 42: concentration 'x1.3' */
  case 58: return MISSING_COLUMN;  /* line 7: a time without its concentration */
  case 103: return EMPTY;          /* no bytes at all */
  case 166: return TOO_FEW;        /* two rows */
  case 211: return BAD_TIME;       /* line 13: time '1.2.3' */
  case 254: return HEADER_ONLY;    /* a header and no rows */
  default: return GOOD;
  }
}

/* Row j of a file of n rows: t evenly spaced over [0, 10], c with 5% noise. */
static void write_rows(FILE *f, int defect, size_t n, double k, double c0, parc_rng *noise) {
  for (size_t j = 0; j < n; j++) {
    double t = 10.0 * (double)j / (double)(n - 1);
    double c = c0 * exp(-k * t) + parc_rng_normal(noise, 0, NOISE_LEVEL * c0);
    size_t line = j + 2;
    if (defect == BAD_CELL && line == 42) fprintf(f, "%.4f,x1.3\n", t);
    else if (defect == MISSING_COLUMN && line == 7) fprintf(f, "%.4f\n", t);
    else if (defect == BAD_TIME && line == 13) fprintf(f, "1.2.3,%.6f\n", c > 0 ? c : 0);
    else fprintf(f, "%.4f,%.6f\n", t, c > 0 ? c : 0);   /* concentration can't be negative */
  }
}

/* Writes file i with its true k and c0 (stream 0 of seed 2024 gives every
   file's length and parameters, stream i + 1 file i's noise); returns its
   rows. */
static size_t write_file(int i, parc_rng *params, double *true_k) {
  size_t n = 5 + (size_t)(parc_rng_uniform(params) * 1996);   /* 5 .. 2000 rows */
  double k = 0.1 + 1.9 * parc_rng_uniform(params), c0 = 0.5 + 1.5 * parc_rng_uniform(params);
  int defect = defect_of(i);
  if (defect == TOO_FEW) n = 2;
  if (defect == HEADER_ONLY) n = 0;
  if (defect == BAD_CELL && n < 50) n = 50;   /* long enough to reach line 42 */
  char path[PATH_MAX + 32];
  file_path(path, sizeof path, i);
  FILE *f = fopen(path, "w");
  if (!f) {
    fprintf(stderr, "%s: %s\n", path, strerror(errno));
    exit(1);
  }
  parc_rng noise;
  parc_rng_init(&noise, 2024, (uint64_t)i + 1);
  if (defect != EMPTY) {
    fprintf(f, "t,concentration\n");
    write_rows(f, defect, n, k, c0, &noise);
  }
  fclose(f);
  *true_k = k;
  return defect == EMPTY ? 0 : n;
}

/* ---- the task: parse, fit, summarize ----------------------------------- */

typedef struct series {
  size_t n, cap;
  double *t, *c;
} series;

static int series_push(series *s, double t, double c) {
  if (s->n == s->cap) {
    size_t cap = s->cap ? 2 * s->cap : 64;
    double *nt = realloc(s->t, cap * sizeof *nt);
    if (nt) s->t = nt;
    double *nc = nt ? realloc(s->c, cap * sizeof *nc) : NULL;
    if (!nc) return -1;
    s->c = nc;
    s->cap = cap;
  }
  s->t[s->n] = t;
  s->c[s->n++] = c;
  return 0;
}

/* A whole field as a finite number, or 0 (a field like "1.2.3" or "" is not). */
static int parse_number(const char *field, double *x) {
  char *end;
  errno = 0;
  *x = strtod(field, &end);
  return end != field && *end == '\0' && errno == 0 && isfinite(*x);
}

/* One data row "t,c" (newline stripped) into s; else fails the task,
   naming the file, the line and the bad cell. */
static int parse_row(parc_task *task, const char *name, size_t line, char *row, series *s) {
  char *comma = strchr(row, ',');
  if (!comma) return parc_fail(task, "%s: line %zu: missing column: '%s'", name, line, row);
  *comma = '\0';
  double t, c;
  if (!parse_number(row, &t)) return parc_fail(task, "%s: line %zu: not a number: '%s'", name, line, row);
  if (!parse_number(comma + 1, &c))
    return parc_fail(task, "%s: line %zu: not a number: '%s'", name, line, comma + 1);
  if (series_push(s, t, c) != 0) return parc_fail(task, "%s: out of memory", name);
  return 0;
}

/* Reads the file at path into s: a "t,concentration" header, then rows. */
static int read_series(parc_task *task, const char *path, const char *name, series *s) {
  FILE *f = fopen(path, "r");
  if (!f) return parc_fail(task, "%s: %s", name, strerror(errno));
  char *row = NULL;
  size_t cap = 0, line = 0;
  int rc = 0;
  while (rc == 0 && getline(&row, &cap, f) != -1) {
    row[strcspn(row, "\r\n")] = '\0';
    if (++line == 1) {
      if (strcmp(row, "t,concentration") != 0)
        rc = parc_fail(task, "%s: line 1: not the header 't,concentration': '%s'", name, row);
    } else {
      rc = parse_row(task, name, line, row, s);
    }
  }
  free(row);
  fclose(f);
  if (rc == 0 && line == 0) rc = parc_fail(task, "%s: empty file", name);
  if (rc == 0 && s->n < MIN_POINTS)
    rc = parc_fail(task, "%s: %zu points, need at least %d", name, s->n, MIN_POINTS);
  return rc;
}

/* The model and its bounds, as in batch_fitting: k, c0 in [0, 10] through
   p = hi (1 + sin u) / 2, since GSL's Levenberg-Marquardt has no bounds. */
static const double HI[2] = {10.0, 10.0};
static double to_p(double u, int j) { return HI[j] * (1 + sin(u)) / 2; }
static double to_u(double p, int j) { return asin(2 * p / HI[j] - 1); }

static int residuals(const gsl_vector *u, void *data, gsl_vector *r) {
  const series *s = data;
  double k = to_p(gsl_vector_get(u, 0), 0), c0 = to_p(gsl_vector_get(u, 1), 1);
  for (size_t i = 0; i < s->n; i++) gsl_vector_set(r, i, c0 * exp(-k * s->t[i]) - s->c[i]);
  return GSL_SUCCESS;
}

static int jacobian(const gsl_vector *u, void *data, gsl_matrix *J) {
  const series *s = data;
  double u0 = gsl_vector_get(u, 0), u1 = gsl_vector_get(u, 1);
  double k = to_p(u0, 0), c0 = to_p(u1, 1);
  for (size_t i = 0; i < s->n; i++) {
    double e = exp(-k * s->t[i]);
    gsl_matrix_set(J, i, 0, -s->t[i] * c0 * e * HI[0] * cos(u0) / 2);
    gsl_matrix_set(J, i, 1, e * HI[1] * cos(u1) / 2);
  }
  return GSL_SUCCESS;
}

/* Fits s from p0 = [0.5, 1.0]; fills k and c0, returns a GSL status. */
static int fit_decay(series *s, double *k, double *c0) {
  gsl_multifit_nlinear_parameters params = gsl_multifit_nlinear_default_parameters();
  params.trs = gsl_multifit_nlinear_trs_lm;
  gsl_multifit_nlinear_workspace *w =
      gsl_multifit_nlinear_alloc(gsl_multifit_nlinear_trust, &params, s->n, 2);
  if (!w) return GSL_ENOMEM;
  gsl_multifit_nlinear_fdf fdf = {residuals, jacobian, NULL, s->n, 2, s, 0, 0, 0};
  double u0[2] = {to_u(0.5, 0), to_u(1.0, 1)};
  gsl_vector_view x0 = gsl_vector_view_array(u0, 2);
  int info, rc = gsl_multifit_nlinear_init(&x0.vector, &fdf, w);
  if (rc == GSL_SUCCESS) rc = gsl_multifit_nlinear_driver(200, 1e-10, 1e-10, 0, NULL, NULL, &info, w);
  gsl_vector *u = gsl_multifit_nlinear_position(w);
  *k = to_p(gsl_vector_get(u, 0), 0);
  *c0 = to_p(gsl_vector_get(u, 1), 1);
  gsl_multifit_nlinear_free(w);
  return rc;
}

/* The result: the fit and the RMS residual of each SEGMENT rows, so a long
   file's result is longer (up to 40 segments for 2000 rows). */
static int write_summary(parc_task *task, const char *name, const series *s, double k, double c0) {
  uint32_t segments = (uint32_t)((s->n + SEGMENT - 1) / SEGMENT);
  unsigned char *out = parc_task_output(task, sizeof(fit_summary) + segments * sizeof(double));
  if (!out) return parc_fail(task, "%s: no memory for the result", name);
  fit_summary head = {k, c0, 0, (uint32_t)s->n, segments};
  double sum = 0;
  for (uint32_t g = 0; g < segments; g++) {
    double seg = 0;
    size_t end = (g + 1) * SEGMENT < s->n ? (g + 1) * SEGMENT : s->n, rows = end - g * SEGMENT;
    for (size_t i = g * SEGMENT; i < end; i++) seg += pow(c0 * exp(-k * s->t[i]) - s->c[i], 2);
    sum += seg;
    double rms = sqrt(seg / (double)rows);
    memcpy(out + sizeof head + g * sizeof rms, &rms, sizeof rms);
  }
  head.rms = sqrt(sum / (double)s->n);
  memcpy(out, &head, sizeof head);
  return 0;
}

/* A task: a NUL-terminated path in, a fit_summary and its segments out. */
static int analyze_file(const void *in, void *out, parc_task *task) {
  (void)out;
  const char *path = in;
  size_t size = parc_task_input_size(task);
  if (size == 0 || path[size - 1] != '\0') return parc_fail(task, "input is not a path");
  const char *name = strrchr(path, '/') ? strrchr(path, '/') + 1 : path;
  series s = {0};
  int rc = read_series(task, path, name, &s);
  if (rc == 0) {
    double k, c0;
    int fit = fit_decay(&s, &k, &c0);
    rc = fit == GSL_SUCCESS ? write_summary(task, name, &s, k, c0)
                            : parc_fail(task, "%s: fit failed: %s", name, gsl_strerror(fit));
  }
  free(s.t);
  free(s.c);
  return rc;
}

/* ---- the runs ----------------------------------------------------------- */

/* One map over every path on `backend`; the results, copied, in r[]. */
static int analyze_all(parc_backend backend, const char *label, const parc_buf *paths, file_result *r) {
  parc_pool *pool = pool_or_null(backend, 0, 0);
  if (!pool) return -1;
  parc_group *g;
  parc_options opt = {.label = label};
  check(parc_group_create(&g, pool, &opt), "parc_group_create");
  double start = now();
  check(parc_group_map_bufs(g, analyze_file, paths, N_FILES), "parc_group_map_bufs");
  int rc = parc_group_wait(g, -1);   /* PARC_ETASK: the malformed files */
  if (rc != PARC_OK && rc != PARC_ETASK) check(rc, "parc_group_wait");
  printf("  %-14s %d workers: %d files in %.3f s\n", label, parc_pool_size(pool), N_FILES, now() - start);
  for (size_t i = 0; i < N_FILES; i++) {
    const char *msg = parc_group_message(g, i);
    const void *bytes = parc_group_output(g, i, &r[i].size);
    r[i].status = parc_group_status(g, i);
    r[i].message = msg ? strdup(msg) : NULL;
    r[i].bytes = bytes ? malloc(r[i].size) : NULL;
    if (bytes && !r[i].bytes) check(PARC_ENOMEM, "copying the results");
    if (bytes) memcpy(r[i].bytes, bytes, r[i].size);
  }
  parc_group_destroy(g);
  parc_pool_destroy(pool);
  return 0;
}

/* Index of the first file whose status, message or result differ; -1 if
   none. *bytes: the size of a's results, all together. */
static int first_difference(const file_result *a, const file_result *b, size_t *bytes) {
  *bytes = 0;
  for (int i = 0; i < N_FILES; i++) {
    *bytes += a[i].size;
    int same_msg = (!a[i].message && !b[i].message) ||
                   (a[i].message && b[i].message && strcmp(a[i].message, b[i].message) == 0);
    int same_out = a[i].size == b[i].size && (a[i].size == 0 || memcmp(a[i].bytes, b[i].bytes, a[i].size) == 0);
    if (a[i].status != b[i].status || !same_msg || !same_out) return i;
  }
  return -1;
}

/* A few fits, the failures by file, and the totals. */
static void report(const file_result *r, const double *true_k) {
  size_t fitted = 0, points = 0, segments = 0, failed = 0;
  double k_sum = 0, err_sum = 0, worst = 0;
  int worst_file = -1;
  printf("\nFirst fits (k, c0, overall RMS, and RMS of each %d rows):\n", SEGMENT);
  for (int i = 0; i < N_FILES; i++) {
    if (r[i].status != PARC_OK) continue;
    fit_summary h;
    memcpy(&h, r[i].bytes, sizeof h);
    const double *seg = (const double *)(r[i].bytes + sizeof h);   /* malloc'd: aligned */
    if (fitted < 4) {
      printf("  data_%03d.csv: %4u points, k = %.4f (true %.4f), c0 = %.4f, rms %.4f, segments:",
             i, h.points, h.k, true_k[i], h.c0, h.rms);
      for (uint32_t s = 0; s < h.segments && s < 6; s++) printf(" %.3f", seg[s]);
      printf("%s\n", h.segments > 6 ? " ..." : "");
    }
    for (uint32_t s = 0; s < h.segments; s++)
      if (seg[s] > worst) worst = seg[s], worst_file = i;
    fitted++, points += h.points, segments += h.segments;
    k_sum += h.k, err_sum += fabs(h.k - true_k[i]) / true_k[i];
  }
  printf("\nFailed files, by index:\n");
  for (int i = 0; i < N_FILES; i++)
    if (r[i].status != PARC_OK) failed++, printf("  %s\n", r[i].message);
  printf("\nSummary: %d files, %zu fitted, %zu failed; %zu points in %zu segments\n", N_FILES,
         fitted, failed, points, segments);
  printf("  mean k %.4f 1/s, mean relative error of k %.3f%%, worst segment RMS %.4f (data_%03d.csv)\n",
         k_sum / (double)fitted, 100 * err_sum / (double)fitted, worst, worst_file);
}

static void free_results(file_result *r) {
  for (int i = 0; i < N_FILES; i++) free(r[i].message), free(r[i].bytes);
}

int main(void) {
  setvbuf(stdout, NULL, _IOLBF, 0);
  gsl_set_error_handler_off();
  make_dir();
  static char paths[N_FILES][PATH_MAX + 32];
  static parc_buf bufs[N_FILES];
  static double true_k[N_FILES];
  parc_rng params;
  parc_rng_init(&params, 2024, 0);
  size_t rows = 0;
  for (int i = 0; i < N_FILES; i++) {
    rows += write_file(i, &params, &true_k[i]);
    file_path(paths[i], sizeof paths[i], i);
    bufs[i] = (parc_buf){paths[i], strlen(paths[i]) + 1};   /* the NUL travels too */
  }
  printf("Wrote %d CSV files (%zu rows, 5 to 2000 per file, 6 malformed) to %s\n", N_FILES, rows, dir);

  static file_result threads[N_FILES], processes[N_FILES];
  printf("Fitting c(t) = c0 exp(-k t) to each file:\n");
  analyze_all(PARC_THREADS, "PARC_THREADS", bufs, threads);
  int have_processes = analyze_all(PARC_PROCESSES, "PARC_PROCESSES", bufs, processes) == 0;
  report(threads, true_k);
  size_t bytes;
  int diff = have_processes ? first_difference(threads, processes, &bytes) : -1;
  if (have_processes && diff < 0)
    printf("\nTHREADS and PROCESSES: identical results (%d statuses and messages, %zu bytes of outputs)\n",
           N_FILES, bytes);
  else if (have_processes)
    printf("\nTHREADS and PROCESSES differ first at data_%03d.csv\n", diff);
  free_results(threads);
  free_results(processes);
  char made[PATH_MAX];
  snprintf(made, sizeof made, "%s", dir);
  remove_dir();
  int left = access(made, F_OK) == 0;   /* rmdir fails if a file was left in it */
  printf(left ? "Could not remove %s\n" : "Removed the temporary directory.\n", made);
  return diff < 0 && !left ? 0 : 1;
}
