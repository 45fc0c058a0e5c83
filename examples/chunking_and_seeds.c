/*
 * chunking_and_seeds — the chapter's practical guidelines 2 and 4.
 * Chunking: 400 reaction solves dispatched one at a time, 50 at a time,
 * and in automatically sized batches (parc's `batch` option does what the
 * chapter's process_chunk does by hand). Seeds: 100 Monte Carlo tasks, each
 * averaging 1000 normals from its own stream, give the same numbers on any
 * number of workers.
 */
#include <math.h>
#include <stdio.h>

#include <gsl/gsl_errno.h>

#include "example.h"
#include "reaction.h"

#define N_K 400
#define N_RUNS 100
#define N_DRAWS 1000

static double time_batch(parc_pool *pool, const double *k, reaction_result *out, size_t batch) {
  parc_options opt = {.batch = batch};
  double start = now();
  check(parc_map(pool, solve_reaction, k, sizeof k[0], out, sizeof out[0], N_K, &opt, NULL),
        "parc_map");
  return now() - start;
}

static void chunking(parc_backend backend, const char *name) {
  double k[N_K];
  reaction_result out[N_K];
  linspace(k, 0.1, 2.0, N_K);
  printf("%s:\n", name);
  parc_pool *pool = pool_or_null(backend, 0, 0);
  if (!pool) return;
  time_batch(pool, k, out, 0);   /* warm up: first touches, first allocations */
  printf("  batch = 1:    %.4f s for %d tasks\n", time_batch(pool, k, out, 1), N_K);
  printf("  batch = 50:   %.4f s for %d tasks\n", time_batch(pool, k, out, 50), N_K);
  printf("  batch = auto: %.4f s for %d tasks\n", time_batch(pool, k, out, 0), N_K);
  parc_pool_destroy(pool);
}

/* A task: no input; the mean of N_DRAWS standard normals from its stream. */
static int monte_carlo_with_seed(const void *in, void *out, parc_task *task) {
  (void)in;
  parc_rng *rng = parc_task_rng(task);
  double sum = 0;
  for (int i = 0; i < N_DRAWS; i++) sum += parc_rng_normal(rng, 0, 1);
  *(double *)out = sum / N_DRAWS;
  return 0;
}

static void seeds(int workers, double *results) {
  parc_pool *pool = pool_threads(workers);
  parc_options opt = {.seed = 42};   /* task i draws from stream i of seed 42 */
  check(parc_map(pool, monte_carlo_with_seed, NULL, 0, results, sizeof results[0], N_RUNS, &opt,
                 NULL), "parc_map");
  double mean = 0, var = 0;
  for (int i = 0; i < N_RUNS; i++) mean += results[i] / N_RUNS;
  for (int i = 0; i < N_RUNS; i++) var += (results[i] - mean) * (results[i] - mean) / N_RUNS;
  printf("Monte Carlo results: mean = %.4f, std = %.4f   (%d worker%s)\n", mean, sqrt(var),
         parc_pool_size(pool), parc_pool_size(pool) == 1 ? "" : "s");
  parc_pool_destroy(pool);
}

int main(void) {
  gsl_set_error_handler_off();
  printf("Chunking: %d reaction solves (each a few microseconds)\n", N_K);
  chunking(PARC_THREADS, "Threads");
  chunking(PARC_PROCESSES, "Processes");
  printf("(A dispatch costs a few atomic operations on threads and a round trip to a worker\n"
         " on processes, so batches pay most on processes. Automatic batching sizes each\n"
         " claim to about 50 us of work, so it needs no tuning on either.)\n");

  printf("\nRandom seeds: %d tasks x %d normals, seed 42\n", N_RUNS, N_DRAWS);
  double one[N_RUNS], many[N_RUNS];
  seeds(1, one);
  seeds(parc_cpu_count() * 2, many);
  printf("Bit-identical on 1 and %d workers: %s (stream = seed and task index, never the "
         "worker)\n", parc_cpu_count() * 2, memcmp(one, many, sizeof one) == 0 ? "yes" : "NO");
  return 0;
}
