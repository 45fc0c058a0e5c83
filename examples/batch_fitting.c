/*
 * batch_fitting — the chapter's "Batch processing experimental data": 100
 * synthetic first-order decay experiments, each fitted by nonlinear least
 * squares (GSL's gsl_multifit_nlinear, Levenberg-Marquardt) on the pool,
 * with progress output; then the fitting statistics and their plots.
 */
#include <math.h>
#include <stdio.h>

#include <gsl/gsl_blas.h>
#include <gsl/gsl_errno.h>
#include <gsl/gsl_multifit_nlinear.h>

#include "example.h"

#define N_EXPERIMENTS 100
#define N_POINTS 20
#define NOISE_LEVEL 0.05

typedef struct dataset {
  double t[N_POINTS], c[N_POINTS];
  double true_k, true_c0;
} dataset;

typedef struct fit_result {
  double true_k, fitted_k, true_c0, fitted_c0;
} fit_result;

/* Bounds (0, [10, 10]) as in the chapter's curve_fit call. GSL's LM has no
   bounds, so it works on unbounded u and the model sees p = hi (1 + sin u)
   / 2, always inside [0, hi] (the transform MINUIT and lmfit use). */
static const double HI[2] = {10.0, 10.0};
static double to_p(double u, int j) { return HI[j] * (1 + sin(u)) / 2; }
static double to_u(double p, int j) { return asin(2 * p / HI[j] - 1); }

/* Residuals C0 exp(-k t_i) - C_i and their Jacobian with respect to u. */
static int residuals(const gsl_vector *u, void *data, gsl_vector *r) {
  const dataset *d = data;
  double k = to_p(gsl_vector_get(u, 0), 0), c0 = to_p(gsl_vector_get(u, 1), 1);
  for (int i = 0; i < N_POINTS; i++) gsl_vector_set(r, i, c0 * exp(-k * d->t[i]) - d->c[i]);
  return GSL_SUCCESS;
}

static int jacobian(const gsl_vector *u, void *data, gsl_matrix *J) {
  const dataset *d = data;
  double u0 = gsl_vector_get(u, 0), u1 = gsl_vector_get(u, 1);
  double k = to_p(u0, 0), c0 = to_p(u1, 1);
  for (int i = 0; i < N_POINTS; i++) {
    double e = exp(-k * d->t[i]);
    gsl_matrix_set(J, i, 0, -d->t[i] * c0 * e * HI[0] * cos(u0) / 2);
    gsl_matrix_set(J, i, 1, e * HI[1] * cos(u1) / 2);
  }
  return GSL_SUCCESS;
}

/* A task: one data set in, the fitted k and C0 out (p0 = [0.5, 1.0]). */
static int fit_kinetic_model(const void *in, void *out, parc_task *task) {
  const dataset *d = in;
  gsl_multifit_nlinear_parameters params = gsl_multifit_nlinear_default_parameters();
  params.trs = gsl_multifit_nlinear_trs_lm;
  gsl_multifit_nlinear_workspace *w =
      gsl_multifit_nlinear_alloc(gsl_multifit_nlinear_trust, &params, N_POINTS, 2);
  if (!w) return parc_fail(task, "out of memory");
  gsl_multifit_nlinear_fdf fdf = {residuals, jacobian, NULL, N_POINTS, 2, (void *)d, 0, 0, 0};
  double u0[2] = {to_u(0.5, 0), to_u(1.0, 1)};
  gsl_vector_view x0 = gsl_vector_view_array(u0, 2);
  int info, rc = gsl_multifit_nlinear_init(&x0.vector, &fdf, w);
  if (rc == GSL_SUCCESS)
    rc = gsl_multifit_nlinear_driver(200, 1e-10, 1e-10, 0, NULL, NULL, &info, w);
  gsl_vector *u = gsl_multifit_nlinear_position(w);
  *(fit_result *)out = (fit_result){d->true_k, to_p(gsl_vector_get(u, 0), 0), d->true_c0,
                                    to_p(gsl_vector_get(u, 1), 1)};
  gsl_multifit_nlinear_free(w);
  return rc == GSL_SUCCESS ? 0 : parc_fail(task, "%s", gsl_strerror(rc));
}

/* 100 experiments: true k ~ U(0.1, 2), C0 ~ U(0.5, 2) from stream 0 of
   seed 123; experiment i's noise, N(0, 5% of C0), from stream i + 1. */
static void generate_datasets(dataset *d, size_t n) {
  parc_rng params;
  parc_rng_init(&params, 123, 0);
  for (size_t i = 0; i < n; i++) d[i].true_k = 0.1 + 1.9 * parc_rng_uniform(&params);
  for (size_t i = 0; i < n; i++) d[i].true_c0 = 0.5 + 1.5 * parc_rng_uniform(&params);
  for (size_t i = 0; i < n; i++) {
    parc_rng noise;
    parc_rng_init(&noise, 123, i + 1);
    for (int j = 0; j < N_POINTS; j++) {
      d[i].t[j] = 10.0 * j / (N_POINTS - 1);
      double c = d[i].true_c0 * exp(-d[i].true_k * d[i].t[j]);
      c += parc_rng_normal(&noise, 0, NOISE_LEVEL * d[i].true_c0);
      d[i].c[j] = c > 0 ? c : 0;   /* concentration can't be negative */
    }
  }
}

static void plot_fits(const fit_result *r, const double *rel, size_t n) {
  char path[4096];
  FILE *gp = plot_open("batch_fitting.png", 1200, 500, path, sizeof path);
  if (!gp) return;
  fprintf(gp, "set multiplot layout 1,2\nset size ratio -1\nset key top left\n"
              "set title 'Parity Plot: True vs Fitted Rate Constants'\n"
              "set xlabel 'True k (1/s)'\nset ylabel 'Fitted k (1/s)'\n"
              "plot '-' with points pt 7 ps 0.8 lc rgb '#401f77b4' notitle, "
              "'-' with lines dt 2 lw 2 lc rgb 'red' title 'Perfect fit'\n");
  for (size_t i = 0; i < n; i++) fprintf(gp, "%g %g\n", r[i].true_k, r[i].fitted_k);
  fprintf(gp, "e\n0 0\n2 2\ne\n");
  /* The relative-error histogram: 30 bins over the data's range. */
  double lo = INFINITY, hi = -INFINITY;
  int count[30] = {0};
  for (size_t i = 0; i < n; i++) lo = fmin(lo, rel[i]), hi = fmax(hi, rel[i]);
  double width = (hi - lo) / 30;
  for (size_t i = 0; i < n; i++) {
    int b = (int)((rel[i] - lo) / width);
    count[b < 30 ? b : 29]++;
  }
  fprintf(gp, "set size noratio\nset title 'Fitting Error Distribution (n=%zu)'\n"
              "set xlabel 'Relative Error (%%)'\nset ylabel 'Count'\n"
              "set style fill solid 0.7 border rgb 'black'\nset yrange [0:*]\n"
              "set arrow from 0, graph 0 to 0, graph 1 nohead dt 2 lw 2 lc rgb 'red'\n"
              "plot '-' using 1:2:3 with boxes lc rgb 'steelblue' notitle\n", n);
  for (int b = 0; b < 30; b++) fprintf(gp, "%g %d %g\n", lo + (b + 0.5) * width, count[b], width);
  fprintf(gp, "e\nunset multiplot\n");
  plot_close(gp, path);
}

int main(void) {
  setvbuf(stdout, NULL, _IOLBF, 0);   /* progress goes to stderr: keep the two in order */
  gsl_set_error_handler_off();
  static dataset datasets[N_EXPERIMENTS];
  static fit_result fits[N_EXPERIMENTS];
  int status[N_EXPERIMENTS];
  generate_datasets(datasets, N_EXPERIMENTS);

  parc_pool *pool = pool_or_null(PARC_THREADS, 0, 1);   /* verbose = 1: progress */
  printf("[parc] Using backend PARC_THREADS with %d concurrent workers.\n", parc_pool_size(pool));
  parc_options opt = {.label = "fitting"};
  double start = now();
  int rc = parc_map(pool, fit_kinetic_model, datasets, sizeof datasets[0], fits, sizeof fits[0],
                    N_EXPERIMENTS, &opt, status);
  double elapsed = now() - start;
  parc_pool_destroy(pool);
  printf("\nFitted %d experiments in %.3f seconds%s\n", N_EXPERIMENTS, elapsed,
         rc == PARC_OK ? "" : " (some failed)");

  /* Keep the successful fits, as the chapter does. */
  static fit_result ok[N_EXPERIMENTS];
  static double rel[N_EXPERIMENTS];
  size_t n = 0;
  double abs_sum = 0, rel_sum = 0, rel_sq = 0;
  for (size_t i = 0; i < N_EXPERIMENTS; i++) {
    if (status[i] != PARC_OK) continue;
    ok[n] = fits[i];
    rel[n] = (fits[i].fitted_k - fits[i].true_k) / fits[i].true_k * 100;
    abs_sum += fabs(fits[i].fitted_k - fits[i].true_k);
    rel_sum += rel[n];
    n++;
  }
  double rel_mean = rel_sum / (double)n;
  for (size_t i = 0; i < n; i++) rel_sq += (rel[i] - rel_mean) * (rel[i] - rel_mean);
  printf("\nFitting Statistics:\n");
  printf("  Mean absolute error: %.4f 1/s\n", abs_sum / (double)n);
  printf("  Mean relative error: %.2f%%\n", rel_mean);
  printf("  Std of relative error: %.2f%%\n", sqrt(rel_sq / (double)n));
  plot_fits(ok, rel, n);
  return 0;
}
