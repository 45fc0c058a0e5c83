/*
 * cpu_threads — the chapter's "Why threads DON'T help with CPU-bound tasks",
 * in C: four sums of squares, serially and on a thread pool. C has no GIL,
 * so here threads do scale, up to the number of cores.
 */
#include <math.h>
#include <stdio.h>

#include "example.h"

#define N_TASKS 4
#define RUNS 5   /* each time is the fastest of RUNS: a millisecond is easily disturbed */

/* Sum of i^2 for i < n. The running total is volatile so the compiler must
   do every addition (it would otherwise replace the loop by a formula). */
static unsigned long long cpu_intensive_task(long n) {
  volatile unsigned long long total = 0;
  for (long i = 0; i < n; i++) total += (unsigned long long)i * (unsigned long long)i;
  return total;
}

static int cpu_task(const void *in, void *out, parc_task *task) {
  (void)task;
  *(unsigned long long *)out = cpu_intensive_task(*(const long *)in);
  return 0;
}

/* Four tasks of size n: in a loop, then on pool; prints both and returns
   the speedup. */
static double compare(parc_pool *pool, long size) {
  long n[N_TASKS];
  unsigned long long results_seq[N_TASKS], results_threaded[N_TASKS];
  for (int i = 0; i < N_TASKS; i++) n[i] = size;
  double sequential_time = INFINITY, threaded_time = INFINITY;
  for (int r = 0; r < RUNS; r++) {
    double start = now();
    for (int i = 0; i < N_TASKS; i++) results_seq[i] = cpu_intensive_task(n[i]);
    sequential_time = fmin(sequential_time, now() - start);
  }
  parc_options opt = {.batch = 1};   /* four big tasks: hand them out one by one */
  for (int r = 0; r < RUNS; r++) {
    double start = now();
    check(parc_map(pool, cpu_task, n, sizeof n[0], results_threaded, sizeof results_threaded[0],
                   N_TASKS, &opt, NULL), "parc_map");
    threaded_time = fmin(threaded_time, now() - start);
  }
  double speedup = sequential_time / threaded_time;
  printf("n = %ld: Sequential %.4f s, Threaded (%d threads) %.4f s, Speedup: %.2fx\n", size,
         sequential_time, parc_pool_size(pool), threaded_time, speedup);
  if (memcmp(results_seq, results_threaded, sizeof results_seq) != 0) {
    fprintf(stderr, "results differ\n");
    exit(1);
  }
  return speedup;
}

int main(void) {
  double start = now();
  unsigned long long single = cpu_intensive_task(1000000);
  printf("Single call (n = 1,000,000): %.4f seconds (sum = %llu)\n", now() - start, single);

  parc_pool *pool = pool_threads(0);   /* 0: one worker per core */
  printf("%d tasks, fastest of %d runs each:\n", N_TASKS, RUNS);
  compare(pool, 500000);     /* the chapter's size: about a millisecond in C */
  double speedup = compare(pool, 50000000);   /* 100 times more work per task */
  int workers = parc_pool_size(pool);
  parc_pool_destroy(pool);
  printf("C has no GIL: threads run CPU-bound code at the same time, up to one per core.\n");
  if (workers > 1 && speedup < 0.75 * workers) note_if_busy();
  return 0;
}
