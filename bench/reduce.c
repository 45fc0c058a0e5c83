/*
 * bench/reduce.c — parc_map_reduce against parc_map writing the same
 * outputs out, and an OpenMP reduction(+:) loop, on 10^7 doubles (THREADS,
 * every core), in one run. Milliseconds, median of --repeats (5).
 * Issue 11's targets: at most 1.2x parc_map, within 2x of OpenMP.
 *   bench_reduce [--quick] [--repeats N]
 */
#include <parc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench_util.h"

static int half_index(const void *in, void *out, parc_task *t) {
  (void)in;
  *(double *)out = (double)parc_task_index(t) * 0.5;
  return 0;
}

static void add(void *acc, const void *part, void *arg) {
  (void)arg;
  *(double *)acc += *(const double *)part;
}

int main(int argc, char **argv) {
  size_t n = 10000000;
  int repeats = 5;
  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "--quick") == 0) n = 1000000, repeats = 3;
    else if (strcmp(argv[i], "--repeats") == 0 && i + 1 < argc) repeats = atoi(argv[++i]);
    else {
      fprintf(stderr, "usage: bench_reduce [--quick] [--repeats N]\n");
      return 2;
    }
  }
  if (repeats < 1 || repeats > 99) repeats = 5;
  double *out = calloc(n, sizeof *out);
  parc_pool *pool;
  if (!out || parc_pool_create(&pool, NULL) != PARC_OK) return 1;
  double map[99], reduce[99], omp[99], sum = 0, omp_sum = 0;
  for (int r = 0; r < repeats; r++) {
    uint64_t t0 = bench_now_ns();
    if (parc_map(pool, half_index, NULL, 0, out, sizeof *out, n, NULL, NULL) != PARC_OK) return 1;
    uint64_t t1 = bench_now_ns();
    sum = 0;
    if (parc_map_reduce(pool, half_index, NULL, 0, n, sizeof(double), add, NULL, &sum, NULL) != PARC_OK)
      return 1;
    uint64_t t2 = bench_now_ns();
    omp_sum = 0;
#pragma omp parallel for reduction(+ : omp_sum)
    for (size_t i = 0; i < n; i++) omp_sum += (double)i * 0.5;
    uint64_t t3 = bench_now_ns();
    map[r] = (double)(t1 - t0) * 1e-6;
    reduce[r] = (double)(t2 - t1) * 1e-6;
    omp[r] = (double)(t3 - t2) * 1e-6;
  }
  double m = bench_median(map, repeats), rd = bench_median(reduce, repeats), o = bench_median(omp, repeats);
  printf("reductions: %zu doubles, %d workers, ms, median of %d\n", n, parc_pool_size(pool), repeats);
  printf("  parc_map writing them out   %8.2f\n", m);
  printf("  parc_map_reduce             %8.2f   %.2fx parc_map (target <= 1.2x)\n", rd, rd / m);
  printf("  OpenMP reduction(+:) loop   %8.2f   (parc_map_reduce / OpenMP %.1fx; target <= 2x)\n", o,
         rd / o);
  printf("  sums: %.17g (parc), %.17g (OpenMP)\n", sum, omp_sum);
  parc_pool_destroy(pool);
  free(out);
  return 0;
}
