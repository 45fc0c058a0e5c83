/*
 * reaction_sweep — the chapter's parameter sweep: final conversion of
 * A -> B after 10 s for 200 rate constants, serially, on threads and on
 * processes; then 20,000 rate constants, where parallelism pays; then the
 * conversion-vs-k plot. `--check`: the numbers only, no timing runs.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include <gsl/gsl_errno.h>

#include "example.h"
#include "reaction.h"

#define N_K 200
#define N_LARGE 20000

/* Times one parc_map of the sweep over k on pool (best of `repeat` runs). */
static double time_sweep(parc_pool *pool, const double *k, reaction_result *out, size_t n,
                         int repeat) {
  double best = INFINITY;
  for (int r = 0; r < repeat; r++) {
    double start = now();
    check(parc_map(pool, solve_reaction, k, sizeof k[0], out, sizeof out[0], n, NULL, NULL),
          "parc_map");
    best = fmin(best, now() - start);
  }
  return best;
}

static double time_serial(const double *k, reaction_result *out, size_t n, int repeat) {
  double best = INFINITY;
  for (int r = 0; r < repeat; r++) {
    double start = now();
    for (size_t i = 0; i < n; i++) out[i] = (reaction_result){k[i], conversion_gsl(k[i])};
    best = fmin(best, now() - start);
  }
  return best;
}

static void plot_conversion(const reaction_result *r, size_t n) {
  char path[4096];
  FILE *gp = plot_open("reaction_conversion.png", 800, 500, path, sizeof path);
  if (!gp) return;
  fprintf(gp, "set title 'First-order Reaction: Conversion vs Rate Constant'\n"
              "set xlabel 'Rate constant k (1/s)'\nset ylabel 'Conversion X'\n"
              "set yrange [0:1.05]\nunset key\n"
              "plot '-' using 1:2 with lines lw 2 lc rgb 'blue'\n");
  for (size_t i = 0; i < n; i++) fprintf(gp, "%g %g\n", r[i].k, r[i].conversion);
  fprintf(gp, "e\n");
  plot_close(gp, path);
}

int main(int argc, char **argv) {
  int checking = has_flag(argc, argv, "--check");
  gsl_set_error_handler_off();   /* a failed solve becomes a failed task, not abort() */

  char line[64];
  snprintf(line, sizeof line, "k = %g, conversion = %.4f", 0.5, conversion_rk45(0.5));
  printf("%s   (solve_ivp's RK45 method, ported)\n", line);
  printf("k = %g, conversion = %.4f   (GSL rkf45, the solver of the sweeps below;"
         " exact 1 - e^-5 = %.5f)\n", 0.5, conversion_gsl(0.5), 1 - exp(-5.0));

  double k_values[N_K];
  reaction_result seq[N_K], par[N_K];
  linspace(k_values, 0.01, 2.0, N_K);
  double sequential_time = time_serial(k_values, seq, N_K, 1);
  printf("Sequential: %.4f seconds\n", sequential_time);

  parc_pool *pool = pool_threads(0);
  double parallel_time = time_sweep(pool, k_values, par, N_K, 1);
  printf("Parallel (%d threads): %.4f seconds\n", parc_pool_size(pool), parallel_time);
  printf("Speedup: %.2fx", sequential_time / parallel_time);
  if (sequential_time < 0.01)
    printf(" (%.1f ms of work in all: too little to pay for a pool; see the larger sweep)",
           sequential_time * 1e3);
  printf("\n");
  int same = memcmp(seq, par, sizeof seq) == 0;
  printf("Threads give the serial results bit for bit: %s\n", same ? "yes" : "NO");
  if (checking) {
    parc_pool_destroy(pool);
    int ok = same && strcmp(line, "k = 0.5, conversion = 0.9932") == 0;
    if (!ok) fprintf(stderr, "check failed: \"%s\", bit-identical %d\n", line, same);
    return ok ? 0 : 1;
  }

  /* concurrent.futures' ProcessPoolExecutor: the same map on forked workers. */
  printf("Processes (PARC_PROCESSES):\n");
  parc_pool *procs = pool_or_null(PARC_PROCESSES, 0, 0);
  if (procs) {
    printf("  %d processes: %.4f seconds\n", parc_pool_size(procs),
           time_sweep(procs, k_values, par, N_K, 1));
    parc_pool_destroy(procs);
  }
  plot_conversion(par, N_K);

  /* 100x more work: now each worker gets thousands of solves, batched
     automatically, and the pool's fixed costs vanish. */
  double *k_large = malloc(N_LARGE * sizeof *k_large);
  reaction_result *r_large = malloc(N_LARGE * sizeof *r_large);
  if (!k_large || !r_large) return fprintf(stderr, "out of memory\n"), 1;
  linspace(k_large, 0.01, 2.0, N_LARGE);
  double serial_large = time_serial(k_large, r_large, N_LARGE, 5);
  double parallel_large = time_sweep(pool, k_large, r_large, N_LARGE, 5);
  printf("Larger sweep, %d rate constants (fastest of 5 runs, automatic batching):\n", N_LARGE);
  printf("  Sequential: %.3f seconds\n  Parallel (%d threads): %.3f seconds\n", serial_large,
         parc_pool_size(pool), parallel_large);
  printf("  Speedup: %.2fx on %d workers\n", serial_large / parallel_large, parc_pool_size(pool));
  note_if_busy();
  parc_pool_destroy(pool);
  free(k_large);
  free(r_large);
  return 0;
}
