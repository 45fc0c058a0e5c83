/* sweep_intro — parc's first example: the chapter's reaction sweep in C. */
#include <gsl/gsl_errno.h>
#include <gsl/gsl_odeiv2.h>
#include <parc.h>
#include <stdio.h>

static int rate(double t, const double c[], double dcdt[], void *k) {
  (void)t;
  dcdt[0] = -*(double *)k * c[0];   /* dC/dt = -k C */
  return GSL_SUCCESS;
}

/* A task: one rate constant in, the conversion after 10 s out. */
static int solve_reaction(const void *in, void *out, parc_task *task) {
  double k = *(const double *)in, t = 0, c[1] = {1.0};
  gsl_odeiv2_system sys = {rate, NULL, 1, &k};
  gsl_odeiv2_driver *d =
      gsl_odeiv2_driver_alloc_y_new(&sys, gsl_odeiv2_step_rkf45, 1e-3, 1e-6, 1e-3);
  int rc = gsl_odeiv2_driver_apply(d, &t, 10.0, c);
  gsl_odeiv2_driver_free(d);
  if (rc != GSL_SUCCESS) return parc_fail(task, "k = %g: %s", k, gsl_strerror(rc));
  *(double *)out = 1.0 - c[0];
  return 0;
}

int main(void) {
  enum { N = 200 };
  double k[N], x[N];   /* rate constants, conversions */
  for (int i = 0; i < N; i++) k[i] = 0.01 + (2.0 - 0.01) * i / (N - 1);   /* linspace */
  gsl_set_error_handler_off();
  parc_pool *pool;
  parc_pool_create(&pool, NULL);   /* threads, one per core (NULL on failure: map says why) */
  int rc = parc_map(pool, solve_reaction, k, sizeof k[0], x, sizeof x[0], N, NULL, NULL);
  printf("%d rate constants on %d workers: %s\n", N, parc_pool_size(pool), parc_strerror(rc));
  parc_pool_destroy(pool);
  for (int i = 49; !rc && i < N; i += 50) printf("k = %.2f, conversion = %.4f\n", k[i], x[i]);
  return rc == PARC_OK ? 0 : 1;
}
