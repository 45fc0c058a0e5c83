/*
 * scaling — the chapter's "Measure before optimizing" (benchmark_parallel):
 * the 20,000-k reaction sweep timed as a plain loop, then on threads and
 * processes with 1, 2, ... workers, printed as a table (parc_scaling) and
 * drawn as a speedup-vs-workers chart.
 */
#include <stdio.h>
#include <stdlib.h>

#include <gsl/gsl_errno.h>

#include "example.h"
#include "reaction.h"

#define N_K 20000
#define MAX_ROWS 16

static void plot_speedup(const parc_scaling_row *rows, size_t n, int max_workers) {
  char path[4096];
  FILE *gp = plot_open("speedup_vs_workers.png", 800, 500, path, sizeof path);
  if (!gp) return;
  /* The y axis fits what is drawn: the highest measured speedup or the
     ideal line's top (it rises with the workers up to the CPUs, then stays
     flat), whichever is higher, with 15% headroom for the key. */
  int cpus = parc_cpu_count(), ideal_top = cpus < max_workers ? cpus : max_workers;
  double top = ideal_top;
  for (size_t i = 1; i < n; i++)
    if (rows[i].status == PARC_OK && rows[i].speedup > top) top = rows[i].speedup;
  fprintf(gp, "set title 'Reaction sweep, %d rate constants: speedup over serial C'\n"
              "set xlabel 'Workers'\nset ylabel 'Speedup'\nset key top left\n"
              "set xrange [0.5:%g]\nset yrange [0:%g]\nset xtics 1\n"
              "set arrow from %d, graph 0 to %d, graph 1 nohead dt 3 lc rgb 'gray'\n"
              "set label 'CPUs' at %d, graph 0.95 offset 0.5,0 tc rgb 'gray'\n"
              "plot '-' with lines dt 2 lc rgb 'black' title 'ideal'",
          N_K, max_workers + 0.5, top * 1.15, cpus, cpus, cpus);
  const parc_backend backends[2] = {PARC_THREADS, PARC_PROCESSES};
  const char *names[2] = {"threads", "processes"}, *colors[2] = {"blue", "dark-orange"};
  int present[2] = {0, 0};
  for (int b = 0; b < 2; b++) {
    for (size_t i = 1; i < n; i++)
      present[b] |= rows[i].backend == backends[b] && rows[i].status == PARC_OK;
    if (present[b])
      fprintf(gp, ", '-' with linespoints pt 7 lw 2 lc rgb '%s' title '%s'", colors[b], names[b]);
  }
  /* Ideal: one worker is 1x, each added worker adds 1x up to the CPUs. */
  fprintf(gp, "\n1 1\n%d %d\n%d %d\ne\n", ideal_top, ideal_top, max_workers, ideal_top);
  for (int b = 0; b < 2; b++) {
    if (!present[b]) continue;
    for (size_t i = 1; i < n; i++)
      if (rows[i].backend == backends[b] && rows[i].status == PARC_OK)
        fprintf(gp, "%d %g\n", rows[i].workers, rows[i].speedup);
    fprintf(gp, "e\n");
  }
  plot_close(gp, path);
}

int main(void) {
  gsl_set_error_handler_off();
  double *k = malloc(N_K * sizeof *k);
  reaction_result *out = malloc(N_K * sizeof *out);
  if (!k || !out) return fprintf(stderr, "out of memory\n"), 1;
  linspace(k, 0.01, 2.0, N_K);

  /* 1, 2, ... up to the CPUs, then twice as many workers as CPUs. */
  int cpus = parc_cpu_count(), workers[8], nworkers = 0;
  for (int w = 1; w < cpus && nworkers < 6; w *= 2) workers[nworkers++] = w;
  workers[nworkers++] = cpus;
  workers[nworkers++] = 2 * cpus;
  parc_scaling_plan plan = {.workers = workers, .nworkers = (size_t)nworkers, .repeats = 5};
  parc_scaling_row rows[MAX_ROWS];
  size_t nrows;
  check(parc_scaling(solve_reaction, k, sizeof k[0], out, sizeof out[0], N_K, NULL, &plan, rows,
                     MAX_ROWS, &nrows), "parc_scaling");
  printf("Execution times, %d rate constants (fastest of 5 runs each):\n", N_K);
  parc_scaling_print(stdout, rows, nrows);
  note_if_busy();
  plot_speedup(rows, nrows, 2 * cpus);
  free(k);
  free(out);
  return 0;
}
