/*
 * monte_carlo_fin — the chapter's Monte Carlo uncertainty example: the tip
 * temperature of a cooling fin when the heat transfer coefficient h is
 * only known as N(50, 5) W/m^2K. One task per sample; each draws its h from
 * its own stream (parc_task_rng), so the results are the same bits on any
 * number of workers. `--check`: the statistics only.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "example.h"

#define N_SAMPLES 10000
#define N_LARGE 1000000
#define SEED 42
#define H_NOMINAL 50.0
#define H_STD 5.0

typedef struct fin_sample {
  double h, t_tip;
} fin_sample;

/* T(L) = T_inf + (T0 - T_inf) / cosh(m L), m = sqrt(h P / (k A)). */
static double fin_tip_temperature(double h) {
  const double T0 = 100, T_inf = 25, L = 0.1, k = 200, P = 0.04, A = 1e-4;
  double m = sqrt(h * P / (k * A));
  return T_inf + (T0 - T_inf) / cosh(m * L);
}

static void draw_sample(parc_rng *rng, fin_sample *out) {
  do out->h = parc_rng_normal(rng, H_NOMINAL, H_STD);
  while (out->h <= 0);   /* h must be positive (the chapter drops such samples) */
  out->t_tip = fin_tip_temperature(out->h);
}

/* A task: no input; one sample out, drawn from this task's stream. */
static int fin_task(const void *in, void *out, parc_task *task) {
  (void)in;
  draw_sample(parc_task_rng(task), out);
  return 0;
}

/* The same samples without parc: stream i of seed SEED is task i's stream. */
static void sample_serial(fin_sample *out, size_t n) {
  for (size_t i = 0; i < n; i++) {
    parc_rng rng;
    parc_rng_init(&rng, SEED, i);
    draw_sample(&rng, &out[i]);
  }
}

/* Seconds for the map on a pool of `workers` (fastest of `runs`). */
static double run_map(int workers, fin_sample *out, size_t n, int runs) {
  parc_pool *pool = pool_threads(workers);
  parc_options opt = {.seed = SEED};
  double best = INFINITY;
  for (int r = 0; r < runs; r++) {
    double start = now();   /* the map only: the pool's threads are already running */
    check(parc_map(pool, fin_task, NULL, 0, out, sizeof out[0], n, &opt, NULL), "parc_map");
    best = fmin(best, now() - start);
  }
  parc_pool_destroy(pool);
  return best;
}

static int by_value(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

/* numpy.percentile's default: linear interpolation between order statistics. */
static double percentile(const double *sorted, size_t n, double p) {
  double pos = p / 100.0 * (double)(n - 1);
  size_t lo = (size_t)pos;
  double frac = pos - (double)lo;
  return lo + 1 < n ? sorted[lo] + frac * (sorted[lo + 1] - sorted[lo]) : sorted[lo];
}

static void plot_fin(const fin_sample *s, size_t n, double nominal, double mean) {
  char path[4096];
  FILE *gp = plot_open("monte_carlo_fin.png", 1200, 420, path, sizeof path);
  if (!gp) return;
  enum { BINS = 50 };
  double lo = INFINITY, hi = -INFINITY, count[BINS] = {0}, top = 0;
  for (size_t i = 0; i < n; i++) lo = fmin(lo, s[i].t_tip), hi = fmax(hi, s[i].t_tip);
  double width = (hi - lo) / BINS;
  for (size_t i = 0; i < n; i++) {
    int b = (int)((s[i].t_tip - lo) / width);
    count[b < BINS ? b : BINS - 1] += 1.0 / ((double)n * width);   /* density */
  }
  for (int b = 0; b < BINS; b++) top = fmax(top, count[b]);
  fprintf(gp, "set multiplot layout 1,2\n"
              "set title 'Monte Carlo: Fin Tip Temperature Distribution'\n"
              "set xlabel 'Tip Temperature (°C)'\nset ylabel 'Probability Density'\n"
              "set style fill solid 0.7 border rgb 'black'\nset yrange [0:%g]\n"
              "set xrange [%g:%g]\n"
              "plot '-' using 1:2:3 with boxes lc rgb 'steelblue' notitle, "
              "'-' with lines dt 2 lw 2 lc rgb 'red' title 'Nominal = %.1f°C', "
              "'-' with lines lw 2 lc rgb 'dark-green' title 'Mean = %.1f°C'\n",
          top * 1.1, lo - (hi - lo) * 0.03, hi + (hi - lo) * 0.03, nominal, mean);
  for (int b = 0; b < BINS; b++) fprintf(gp, "%g %g %g\n", lo + (b + 0.5) * width, count[b], width);
  fprintf(gp, "e\n%g 0\n%g %g\ne\n%g 0\n%g %g\ne\n", nominal, nominal, top * 1.1, mean, mean,
          top * 1.1);
  /* Every sample, on the histogram's range: the scatter shows the same
     tails (the first 1000 alone would miss the rare extremes). */
  double pad = (hi - lo) * 0.03;
  fprintf(gp, "set title 'Sensitivity: T_{tip} vs h'\nset autoscale x\nset yrange [%g:%g]\n"
              "set xlabel 'Heat Transfer Coefficient h (W/m²K)'\nset ylabel 'Tip Temperature (°C)'\n"
              "plot '-' with points pt 7 ps 0.3 lc rgb '#b01f77b4' notitle\n",
          lo - pad, hi + pad);
  for (size_t i = 0; i < n; i++) fprintf(gp, "%g %g\n", s[i].h, s[i].t_tip);
  fprintf(gp, "e\nunset multiplot\n");
  plot_close(gp, path);
}

int main(int argc, char **argv) {
  int checking = has_flag(argc, argv, "--check");
  double nominal = fin_tip_temperature(H_NOMINAL);
  printf("Nominal tip temperature: %.2f °C\n", nominal);

  static fin_sample serial[N_SAMPLES], one[N_SAMPLES], all[N_SAMPLES];
  double start = now();
  sample_serial(serial, N_SAMPLES);
  printf("Sequential: %.4f seconds\n", now() - start);
  double t_one = run_map(1, one, N_SAMPLES, 1);
  double t_all = run_map(0, all, N_SAMPLES, 1);
  printf("Parallel (1 worker): %.4f seconds\nParallel (%d workers): %.4f seconds\n", t_one,
         parc_cpu_count(), t_all);
  int identical = memcmp(serial, one, sizeof one) == 0 && memcmp(one, all, sizeof all) == 0;
  printf("Serial loop, 1 worker and %d workers give bit-identical samples: %s\n",
         parc_cpu_count(), identical ? "yes" : "NO");

  static double t[N_SAMPLES];
  double sum = 0, sq = 0;
  for (size_t i = 0; i < N_SAMPLES; i++) t[i] = all[i].t_tip, sum += t[i];
  double mean = sum / N_SAMPLES;
  for (size_t i = 0; i < N_SAMPLES; i++) sq += (t[i] - mean) * (t[i] - mean);
  double sd = sqrt(sq / N_SAMPLES);   /* numpy's std: divides by n */
  qsort(t, N_SAMPLES, sizeof t[0], by_value);
  printf("\nMonte Carlo Results (%d samples):\n", N_SAMPLES);
  printf("  Mean tip temperature: %.2f °C\n", mean);
  printf("  Standard deviation: %.2f °C\n", sd);
  printf("  95%% confidence interval: [%.2f, %.2f] °C\n", percentile(t, N_SAMPLES, 2.5),
         percentile(t, N_SAMPLES, 97.5));
  if (checking) {
    char line[32];
    snprintf(line, sizeof line, "%.2f", nominal);
    int ok = identical && strcmp(line, "73.60") == 0 && mean >= 73.3 && mean <= 74.0 &&
             sd >= 1.6 && sd <= 2.1;
    if (!ok) fprintf(stderr, "check failed: nominal %s, mean %.3f, sd %.3f, identical %d\n",
                     line, mean, sd, identical);
    return ok ? 0 : 1;
  }
  plot_fin(all, N_SAMPLES, nominal, mean);

  /* 10,000 samples take well under a millisecond in C; with 100x more,
     automatic batching makes the tiny tasks pay. */
  fin_sample *big = malloc(N_LARGE * sizeof *big);
  if (!big) return fprintf(stderr, "out of memory\n"), 1;
  double t_serial = INFINITY;
  for (int r = 0; r < 3; r++) {
    start = now();
    sample_serial(big, N_LARGE);
    t_serial = fmin(t_serial, now() - start);
  }
  double t_parallel = run_map(0, big, N_LARGE, 3);
  printf("%d samples (fastest of 3 runs): sequential %.3f s, parallel (%d workers) %.3f s, "
         "speedup %.2fx\n", N_LARGE, t_serial, parc_cpu_count(), t_parallel,
         t_serial / t_parallel);
  note_if_busy();
  free(big);
  return 0;
}
