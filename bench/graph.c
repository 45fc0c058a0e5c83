/*
 * bench/graph.c — what a task graph's bookkeeping costs per node on
 * THREADS (2 workers), against the same graph on SERIAL (the caller runs
 * every node: bookkeeping with no hand-off at all) in the same run.
 *
 *   chain   N trivial nodes, each depending on the one before: every node
 *           is a hand-off from one finished task to the next.
 *   dag     N trivial nodes, each depending on up to 3 random nodes among
 *           the 64 before it (a fixed seed): many nodes ready at once.
 *
 * Targets (issue 8): chain <= 5 us per node, dag <= 1 us per node.
 * Prints microseconds per node, the median of --repeats runs (5).
 *   bench_graph [--quick] [--repeats N]
 */
#include <parc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench_util.h"

static int add_deps(const void *in, void *out, parc_task *t) {
  int64_t sum = *(const int64_t *)in;
  for (size_t k = 0; k < parc_task_ndeps(t); k++) sum += *(const int64_t *)parc_task_dep(t, k, NULL);
  *(int64_t *)out = sum;
  return 0;
}

/* Builds and runs one graph; returns microseconds per node (run only). */
static double run_graph(parc_backend backend, size_t n, bool chain) {
  parc_config cfg;
  parc_config_default(&cfg);
  cfg.backend = backend;
  cfg.workers = 2;
  parc_pool *pool;
  if (parc_pool_create(&pool, &cfg) != PARC_OK) {
    fprintf(stderr, "bench_graph: parc_pool_create: %s\n", parc_errmsg());
    exit(1);
  }
  parc_graph *g;
  if (parc_graph_create(&g, pool, NULL) != PARC_OK) exit(1);
  uint64_t state = 0x9e3779b97f4a7c15ull;
  for (size_t i = 0; i < n; i++) {
    int64_t one = 1;
    parc_node deps[3];
    size_t ndeps = 0;
    if (chain && i > 0) deps[ndeps++] = i - 1;
    for (size_t k = 0; !chain && i > 0 && k < 3; k++) {
      state = state * 6364136223846793005ull + 1442695040888963407ull;
      size_t back = 1 + (size_t)(state >> 33) % (i < 64 ? i : 64);
      deps[ndeps++] = i - back;
    }
    if (parc_graph_add(g, add_deps, &one, sizeof one, sizeof(int64_t), deps, ndeps, NULL) != PARC_OK)
      exit(1);
  }
  uint64_t t0 = bench_now_ns();
  int rc = parc_graph_run(g);
  double us = (double)(bench_now_ns() - t0) / 1e3 / (double)n;
  const void *last;
  if (rc != PARC_OK || parc_graph_result(g, n - 1, &last, NULL) != PARC_OK) {
    fprintf(stderr, "bench_graph: parc_graph_run: %s\n", parc_errmsg());
    exit(1);
  }
  if (chain && *(const int64_t *)last != (int64_t)n) {
    fprintf(stderr, "bench_graph: the chain summed to %lld, not %zu\n", (long long)*(const int64_t *)last, n);
    exit(1);
  }
  parc_graph_destroy(g);
  parc_pool_destroy(pool);
  return us;
}

int main(int argc, char **argv) {
  bool quick = false;
  int repeats = 5;
  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "--quick") == 0) quick = true, repeats = 3;
    else if (strcmp(argv[i], "--repeats") == 0 && i + 1 < argc) repeats = atoi(argv[++i]);
    else {
      fprintf(stderr, "usage: bench_graph [--quick] [--repeats N]\n");
      return 2;
    }
  }
  if (repeats < 1 || repeats > 99) repeats = 5;
  size_t chain_n = quick ? 2000 : 20000, dag_n = quick ? 10000 : 100000;
  double v[4][99];
  for (int r = 0; r < repeats; r++) {
    v[0][r] = run_graph(PARC_SERIAL, chain_n, true);
    v[1][r] = run_graph(PARC_THREADS, chain_n, true);
    v[2][r] = run_graph(PARC_SERIAL, dag_n, false);
    v[3][r] = run_graph(PARC_THREADS, dag_n, false);
  }
  printf("task graphs: microseconds per node, median of %d (trivial nodes)\n", repeats);
  printf("%-34s %10s %10s %10s\n", "", "serial", "threads x2", "target");
  printf("%-34s %10.3f %10.3f %10s\n", "chain (each node waits for the last)",
         bench_median(v[0], repeats), bench_median(v[1], repeats), "<= 5");
  printf("%-34s %10.3f %10.3f %10s\n", "random DAG (3 deps among last 64)",
         bench_median(v[2], repeats), bench_median(v[3], repeats), "<= 1");
  return 0;
}
