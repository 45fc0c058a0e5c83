/*
 * bench/reduce.c — parc_map_reduce of 10^7 doubles against parc_map writing
 * the same outputs out, the previous parc_map_reduce (windows of outputs
 * folded by the caller, rebuilt here on the public API), and an OpenMP
 * reduction(+:) loop, on THREADS. Issue 11's targets: parc_map_reduce at
 * most 1.2x parc_map, within 2x of OpenMP.
 *
 * Each run is a fresh child process (bench_util.h: OpenMP's threads spin
 * after a loop and a pool keeps its workers, either stealing the cores
 * from whatever runs next) that does one warm-up run and one timed run;
 * the cases take turns, run after run, so that a load that changes meanwhile
 * shifts them all. Milliseconds, medians of --repeats (5).
 * Last, parc_map and parc_map_reduce on SERIAL, in CPU time of the thread
 * that runs them: what each costs per element, whatever else the machine
 * runs.
 *   bench_reduce [--quick] [--repeats N] [--workers N] [--only map,old,reduce,omp,serial]
 */
#include <parc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench_util.h"

typedef struct setting {
  size_t n;
  int workers;
} setting;

static int half_index(const void *in, void *out, parc_task *t) {
  (void)in;
  *(double *)out = (double)parc_task_index(t) * 0.5;
  return 0;
}

static void add(void *acc, const void *part, void *arg) {
  (void)arg;
  *(double *)acc += *(const double *)part;
}

static parc_pool *make_pool(int workers) {
  parc_config cfg;
  parc_config_default(&cfg);
  cfg.backend = PARC_THREADS;
  cfg.workers = workers;
  parc_pool *pool = NULL;
  return parc_pool_create(&pool, &cfg) == PARC_OK ? pool : NULL;
}

/* ---- the cases: each returns ms of its timed run, check = the sum ------- */

static bench_result case_map(const void *arg) {
  const setting *s = arg;
  bench_result r = BENCH_NO_RESULT;
  double *out = malloc(s->n * sizeof *out);
  parc_pool *pool = make_pool(s->workers);
  if (!out || !pool) return r;
  for (int run = 0; run < 2; run++) {   /* the first touches out's pages */
    uint64_t t0 = bench_now_ns();
    if (parc_map(pool, half_index, NULL, 0, out, sizeof *out, s->n, NULL, NULL) != PARC_OK) return r;
    r.value = (double)(bench_now_ns() - t0) * 1e-6;
  }
  r.check = out[s->n - 1];
  parc_pool_destroy(pool);
  free(out);
  return r;
}

/* The previous parc_map_reduce: windows of max(1024, 65536 x workers)
   outputs (16 MiB at most), two in flight, each a group; the caller folds
   one window left to right while the workers fill the next. A window's
   tasks find their index in the map as the window's base (context) plus
   their index in the group. */
static int half_index_at(const void *in, void *out, parc_task *t) {
  (void)in;
  size_t base = *(const size_t *)parc_task_context(t, NULL);
  *(double *)out = (double)(base + parc_task_index(t)) * 0.5;
  return 0;
}

static int old_reduce(parc_pool *pool, size_t n, double *sum) {
  size_t size = (size_t)parc_pool_size(pool) * 65536;
  if (size < 1024) size = 1024;
  if (size > ((size_t)16 << 20) / sizeof(double)) size = ((size_t)16 << 20) / sizeof(double);
  if (size > n) size = n;
  double *buffers = malloc(2 * size * sizeof *buffers);
  if (!buffers) return PARC_ENOMEM;
  parc_group *g[2] = {NULL, NULL};
  size_t base[2] = {0, 0}, count[2] = {0, 0}, next = 0;
  int rc = PARC_OK;
  for (int j = 0; rc == PARC_OK && (next < n || g[j ^ 1]); j ^= 1) {
    /* Window j starts; then window j ^ 1 (started before) is folded. */
    if (next < n) {
      base[j] = next;
      count[j] = n - next < size ? n - next : size;
      next += count[j];
      parc_options opt = {.context = &base[j], .context_size = sizeof base[j]};
      rc = parc_group_create(&g[j], pool, &opt);
      if (rc == PARC_OK)
        rc = parc_group_map(g[j], half_index_at, NULL, 0, buffers + j * size, sizeof(double),
                            count[j]);
      if (rc) break;
    }
    int k = j ^ 1;
    if (!g[k]) continue;
    rc = parc_group_wait(g[k], -1);
    for (size_t i = 0; rc == PARC_OK && i < count[k]; i++) add(sum, buffers + k * size + i, NULL);
    parc_group_destroy(g[k]);
    g[k] = NULL;
  }
  parc_group_destroy(g[0]);
  parc_group_destroy(g[1]);
  free(buffers);
  return rc;
}

static bench_result case_old(const void *arg) {
  const setting *s = arg;
  bench_result r = BENCH_NO_RESULT;
  parc_pool *pool = make_pool(s->workers);
  if (!pool) return r;
  for (int run = 0; run < 2; run++) {
    double sum = 0;
    uint64_t t0 = bench_now_ns();
    if (old_reduce(pool, s->n, &sum) != PARC_OK) return r;
    r.value = (double)(bench_now_ns() - t0) * 1e-6;
    r.check = sum;
  }
  parc_pool_destroy(pool);
  return r;
}

static bench_result case_reduce(const void *arg) {
  const setting *s = arg;
  bench_result r = BENCH_NO_RESULT;
  parc_pool *pool = make_pool(s->workers);
  if (!pool) return r;
  for (int run = 0; run < 2; run++) {
    double sum = 0;
    uint64_t t0 = bench_now_ns();
    if (parc_map_reduce(pool, half_index, NULL, 0, s->n, sizeof sum, add, NULL, &sum, NULL) !=
        PARC_OK)
      return r;
    r.value = (double)(bench_now_ns() - t0) * 1e-6;
    r.check = sum;
  }
  parc_pool_destroy(pool);
  return r;
}

/* The per-element costs without the scheduler: a SERIAL pool runs the
   tasks in this thread, whose CPU time (not wall time) another process's
   load barely moves. ns per element. */
static double thread_cpu_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static bench_result case_serial(const void *arg, bool reduce) {
  const setting *s = arg;
  bench_result r = BENCH_NO_RESULT;
  parc_config cfg;
  parc_config_default(&cfg);
  cfg.backend = PARC_SERIAL;
  parc_pool *pool = NULL;
  double *out = reduce ? NULL : malloc(s->n * sizeof *out);
  if (parc_pool_create(&pool, &cfg) != PARC_OK || (!reduce && !out)) return r;
  for (int run = 0; run < 2; run++) {
    double sum = 0, t0 = thread_cpu_ns();
    int rc = reduce ? parc_map_reduce(pool, half_index, NULL, 0, s->n, sizeof sum, add, NULL, &sum, NULL)
                    : parc_map(pool, half_index, NULL, 0, out, sizeof *out, s->n, NULL, NULL);
    if (rc != PARC_OK) return r;
    r.value = (thread_cpu_ns() - t0) / (double)s->n;
    r.check = reduce ? sum : out[s->n - 1];
  }
  parc_pool_destroy(pool);
  free(out);
  return r;
}

static bench_result case_serial_map(const void *arg) { return case_serial(arg, false); }
static bench_result case_serial_reduce(const void *arg) { return case_serial(arg, true); }

static bench_result case_omp(const void *arg) {
  const setting *s = arg;
  bench_result r = BENCH_NO_RESULT;
#ifdef _OPENMP
  for (int run = 0; run < 2; run++) {
    double sum = 0;
    uint64_t t0 = bench_now_ns();
#pragma omp parallel for reduction(+ : sum) num_threads(s->workers)
    for (size_t i = 0; i < s->n; i++) sum += (double)i * 0.5;
    r.value = (double)(bench_now_ns() - t0) * 1e-6;
    r.check = sum;
  }
#else
  (void)s;
  snprintf(r.note, sizeof r.note, "not built: no OpenMP");
#endif
  return r;
}

int main(int argc, char **argv) {
  bench_args a = {.repeats = 5, .workers = parc_cpu_count()};
  if (!bench_parse_args(argc, argv, &a, "map,old,reduce,omp,serial")) return 2;
  if (a.repeats > 99) a.repeats = 99;
  setting s = {a.quick ? 1000000 : 10000000, a.workers};
  enum { CASES = 6 };
  static const char *keys[CASES] = {"map", "old", "reduce", "omp", "serial", "serial"};
  static const bench_case_fn fns[CASES] = {case_map,  case_old,        case_reduce,
                                           case_omp,  case_serial_map, case_serial_reduce};
  double ms[CASES][99], check[CASES];
  char note[CASES][200];
  for (int c = 0; c < CASES; c++) check[c] = NAN, note[c][0] = '\0';
  for (int run = 0; run < a.repeats; run++)
    for (int c = 0; c < CASES; c++) {
      ms[c][run] = NAN;
      if (!bench_selected(a.only, keys[c])) continue;
      bench_result r = bench_in_child(fns[c], &s, 120);
      ms[c][run] = r.value;
      if (!isnan(r.check)) check[c] = r.check;
      if (r.note[0]) snprintf(note[c], sizeof note[c], "%s", r.note);
    }
  double m[CASES];
  for (int c = 0; c < CASES; c++) m[c] = bench_median(ms[c], a.repeats);
  printf("reductions: %zu doubles (i x 0.5), THREADS, %d workers, ms, median of %d "
         "(each a fresh process, after a warm-up run)\n", s.n, a.workers, a.repeats);
  printf("  parc_map writing them out           %8.2f\n", m[0]);
  printf("  parc_map_reduce before (caller fold) %7.2f   %5.2fx parc_map\n", m[1], m[1] / m[0]);
  printf("  parc_map_reduce                     %8.2f   %5.2fx parc_map (target <= 1.2x)\n", m[2],
         m[2] / m[0]);
  printf("  OpenMP reduction(+:) loop           %8.2f   parc_map_reduce / OpenMP %.2fx "
         "(target <= 2x)\n", m[3], m[2] / m[3]);
  printf("  SERIAL, CPU time of the one thread, ns per element: parc_map %.2f, "
         "parc_map_reduce %.2f (%.2fx)\n", m[4], m[5], m[5] / m[4]);
  /* i x 0.5 sums exactly in doubles at this n: every form must agree. */
  printf("  sums: %.17g (parc_map_reduce), %.17g (before), %.17g (OpenMP); last output %.17g\n",
         check[2], check[1], check[3], check[0]);
  for (int c = 0; c < CASES; c++)
    if (note[c][0]) printf("  %s: %s\n", keys[c], note[c]);
  return 0;
}
