/*
 * reaction.h — the chapter's workload: a first-order reaction A -> B,
 * dC/dt = -k C, C(0) = 1, solved on t in [0, 10] for one rate constant k.
 */
#ifndef PARC_EXAMPLE_REACTION_H
#define PARC_EXAMPLE_REACTION_H

#include "parc.h"

/* Final conversion X = (C0 - C(10)) / C0 by GSL's gsl_odeiv2 driver with
   the rkf45 stepper, rtol 1e-3 and atol 1e-6 (solve_ivp's defaults). The
   solver of every sweep. */
double conversion_gsl(double k);

/* The same conversion by solve_ivp's own method, ported: Dormand-Prince
   5(4) with scipy's initial step, error norm and step-size rule. It is what
   printed the chapter's "conversion = 0.9932"; GSL's rkf45 lands on the
   other side of the exact 1 - e^-5 = 0.99326 and prints 0.9933. */
double conversion_rk45(double k);

/* A parc task: in is one double k, out is one reaction_result. */
typedef struct reaction_result {
  double k;
  double conversion;
} reaction_result;
int solve_reaction(const void *in, void *out, parc_task *task);

/* n values from lo to hi inclusive, like numpy.linspace. */
void linspace(double *x, double lo, double hi, size_t n);

#endif
