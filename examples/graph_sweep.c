/*
 * graph_sweep.c — the chapter's dask.delayed example as a parc task graph.
 *
 * Python (dask):
 *     tasks = [delayed_solve_reaction(k) for k in k_values[:50]]
 *     results = compute(*tasks)
 *     print(f"Computed {len(results)} results")
 *
 * Here: 50 nodes solve the first-order reaction dC_A/dt = -k C_A for one k
 * each (a hand-written RK4, no libraries), and one "summary" node depends on
 * all 50 and reads their results through parc_task_dep. Adding nodes builds
 * the graph; parc_graph_run computes it, each node as soon as its
 * dependencies are done. PARC_BACKEND and PARC_WORKERS choose the pool.
 */
#include <math.h>
#include <stdio.h>

#include "example.h"

#define N_K 50
#define C_A0 1.0
#define T_FINAL 10.0
#define STEPS 2000

typedef struct reaction { double k, conversion; } reaction;

typedef struct summary {
  int n;
  double mean_conversion;
  double k_half;        /* smallest k with conversion >= 0.5 */
  double max_error;     /* against the closed form 1 - exp(-k t) */
} summary;

/* One node: the conversion X = (C_A0 - C_A(t_final)) / C_A0 for rate constant k. */
static int solve_reaction(const void *in, void *out, parc_task *t) {
  (void)t;
  double k = *(const double *)in;
  double c = C_A0, h = T_FINAL / STEPS;
  for (int i = 0; i < STEPS; i++) {
    double k1 = -k * c, k2 = -k * (c + h / 2 * k1);
    double k3 = -k * (c + h / 2 * k2), k4 = -k * (c + h * k3);
    c += h / 6 * (k1 + 2 * k2 + 2 * k3 + k4);
  }
  *(reaction *)out = (reaction){k, (C_A0 - c) / C_A0};
  return 0;
}

/* The summary node: reads every solve_reaction result it depends on. */
static int summarize(const void *in, void *out, parc_task *t) {
  (void)in;
  summary s = {0, 0.0, NAN, 0.0};
  for (size_t i = 0; i < parc_task_ndeps(t); i++) {
    size_t size;
    const reaction *r = parc_task_dep(t, i, &size);
    if (!r || size != sizeof *r) return parc_fail(t, "dependency %zu has no result", i);
    s.n++;
    s.mean_conversion += r->conversion;
    if (r->conversion >= 0.5 && isnan(s.k_half)) s.k_half = r->k;
    double error = fabs(r->conversion - (1.0 - exp(-r->k * T_FINAL)));
    if (error > s.max_error) s.max_error = error;
  }
  if (s.n) s.mean_conversion /= s.n;
  *(summary *)out = s;
  return 0;
}

int main(void) {
  parc_pool *pool;
  check(parc_pool_create(&pool, NULL), "parc_pool_create");
  parc_graph *graph;
  check(parc_graph_create(&graph, pool, &(parc_options){.label = "reactions"}),
        "parc_graph_create");

  /* Build the task graph (no computation yet): k_values = linspace(0.01, 2.0, 200)[:50]. */
  parc_node solves[N_K];
  for (int i = 0; i < N_K; i++) {
    double k = 0.01 + (2.0 - 0.01) * i / 199.0;
    check(parc_graph_add(graph, solve_reaction, &k, sizeof k, sizeof(reaction), NULL, 0,
                         &solves[i]),
          "parc_graph_add");
  }
  parc_node total;
  check(parc_graph_add(graph, summarize, NULL, 0, sizeof(summary), solves, N_K, &total),
        "parc_graph_add");

  /* Execute in parallel. */
  double start = now();
  check(parc_graph_run(graph), "parc_graph_run");
  double elapsed = now() - start;

  const void *out;
  check(parc_graph_result(graph, total, &out, NULL), "parc_graph_result");
  const summary *s = out;
  printf("parc graph parallel: %.3fs (%d workers)\n", elapsed, parc_pool_size(pool));
  printf("Computed %d results\n", s->n);
  printf("Summary node: mean conversion %.4f, first k with X >= 0.5: %.3f, "
         "largest RK4 error %.1e\n",
         s->mean_conversion, s->k_half, s->max_error);
  parc_graph_destroy(graph);
  parc_pool_destroy(pool);
  return 0;
}
