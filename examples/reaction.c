/*
 * reaction.c — dC/dt = -k C two ways: GSL's rkf45 (the sweeps) and a port
 * of scipy's solve_ivp RK45 (to reproduce the chapter's printed digits).
 */
#include "reaction.h"

#include <math.h>

#include <gsl/gsl_errno.h>
#include <gsl/gsl_odeiv2.h>

#define T_FINAL 10.0
#define RTOL 1e-3
#define ATOL 1e-6

static int rate(double t, const double y[], double dydt[], void *params) {
  (void)t;
  dydt[0] = -*(const double *)params * y[0];
  return GSL_SUCCESS;
}

double conversion_gsl(double k) {
  gsl_odeiv2_system sys = {rate, NULL, 1, &k};
  gsl_odeiv2_driver *d =
      gsl_odeiv2_driver_alloc_y_new(&sys, gsl_odeiv2_step_rkf45, 1e-3, ATOL, RTOL);
  if (!d) return NAN;
  double t = 0, c[1] = {1.0};
  int rc = gsl_odeiv2_driver_apply(d, &t, T_FINAL, c);
  gsl_odeiv2_driver_free(d);
  return rc == GSL_SUCCESS ? 1.0 - c[0] : NAN;
}

/* scipy.integrate.RK45 for one scalar equation: the Dormand-Prince tableau,
   select_initial_step, the RMS error norm against atol + rtol*max(|y|,
   |y_new|), and factors of 0.9 * err^(-1/5) clipped to [0.2, 10]. */
double conversion_rk45(double k) {
  static const double a[6][5] = {
      {0},
      {1.0 / 5},
      {3.0 / 40, 9.0 / 40},
      {44.0 / 45, -56.0 / 15, 32.0 / 9},
      {19372.0 / 6561, -25360.0 / 2187, 64448.0 / 6561, -212.0 / 729},
      {9017.0 / 3168, -355.0 / 33, 46732.0 / 5247, 49.0 / 176, -5103.0 / 18656}};
  static const double b[6] = {35.0 / 384, 0, 500.0 / 1113, 125.0 / 192, -2187.0 / 6784, 11.0 / 84};
  static const double e[7] = {-71.0 / 57600, 0,   71.0 / 16695, -71.0 / 1920,
                              17253.0 / 339200, -22.0 / 525, 1.0 / 40};
  double t = 0, y = 1.0, f = -k * y;
  /* Initial step, as select_initial_step(order = 4). */
  double scale = ATOL + fabs(y) * RTOL;
  double d0 = fabs(y) / scale, d1 = fabs(f) / scale;
  double h0 = (d0 < 1e-5 || d1 < 1e-5) ? 1e-6 : 0.01 * d0 / d1;
  double d2 = fabs(-k * (y + h0 * f) - f) / scale / h0;
  double h1 = (d1 <= 1e-15 && d2 <= 1e-15) ? fmax(1e-6, h0 * 1e-3) : pow(0.01 / fmax(d1, d2), 0.2);
  double h = fmin(100 * h0, h1);
  while (t < T_FINAL) {
    int rejected = 0;
    for (;;) {
      double t_new = fmin(t + h, T_FINAL), step = t_new - t, K[7];
      K[0] = f;
      for (int s = 1; s < 6; s++) {
        double dy = 0;
        for (int j = 0; j < s; j++) dy += a[s][j] * K[j];
        K[s] = -k * (y + step * dy);
      }
      double y_new = y;
      for (int s = 0; s < 6; s++) y_new += step * b[s] * K[s];
      K[6] = -k * y_new;
      double err = 0;
      for (int s = 0; s < 7; s++) err += e[s] * K[s];
      err = fabs(err * step) / (ATOL + fmax(fabs(y), fabs(y_new)) * RTOL);
      h = step;
      if (err < 1) {
        double factor = err == 0 ? 10 : fmin(10, 0.9 * pow(err, -0.2));
        h *= rejected ? fmin(1, factor) : factor;
        t = t_new, y = y_new, f = K[6];
        break;
      }
      h *= fmax(0.2, 0.9 * pow(err, -0.2));
      rejected = 1;
    }
  }
  return 1.0 - y;
}

int solve_reaction(const void *in, void *out, parc_task *task) {
  double k = *(const double *)in;
  reaction_result *r = out;
  r->k = k;
  r->conversion = conversion_gsl(k);
  if (isnan(r->conversion)) return parc_fail(task, "GSL could not solve k = %g", k);
  return 0;
}

void linspace(double *x, double lo, double hi, size_t n) {
  for (size_t i = 0; i < n; i++) x[i] = n == 1 ? lo : lo + (hi - lo) * (double)i / (double)(n - 1);
}
