/* bench_mpi — PARC_MPI through rank 0, run under mpirun (bench/run --only mpi).
 *
 *   mpirun -n N bench_mpi throughput   empty tasks (8-byte in and out) through rank
 *                                      0: tasks/s with batch auto; batch 1: tasks/s
 *                                      and the one-task round trip (submit, wait) in us
 *   mpirun -n 3 bench_mpi reaction     the 20,000-k reaction sweep (examples/reaction.c):
 *                                      bit-identical to SERIAL?
 *   mpirun -n 3 bench_mpi crashstorm   1 task in 20 segfaults: every other result intact?
 *
 * Every rank creates the pool; only rank 0 returns from parc_pool_create and
 * prints. One line per measurement, "key value", for bench/run and
 * docs/scaling.md's model. Exit 1 when a check fails. */
#include <parc.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#ifdef BENCH_MPI_REACTION
#include "reaction.h"
#endif

static double now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

static int empty(const void *in, void *out, parc_task *t) {
  (void)t;
  *(uint64_t *)out = *(const uint64_t *)in;
  return 0;
}

static int crash_one_in_20(const void *in, void *out, parc_task *t) {
  (void)t;
  int x = *(const int *)in;
  if (x % 20 == 7) raise(SIGSEGV);
  *(int *)out = x * 7 - 3;
  return 0;
}

static parc_pool *make(parc_backend backend) {
  parc_config cfg;
  parc_config_default(&cfg);
  cfg.backend = backend;
  cfg.verbose = 0;
  parc_pool *pool;
  if (parc_pool_create(&pool, &cfg) != PARC_OK) {
    fprintf(stderr, "bench_mpi: parc_pool_create: %s\n", parc_errmsg());
    exit(1);
  }
  return pool;
}

static double map_rate(parc_pool *pool, size_t n, size_t batch, uint64_t *in, uint64_t *out) {
  parc_options opt = {.batch = batch};
  double best = 0;
  for (int rep = 0; rep < 3; rep++) {
    double t0 = now();
    if (parc_map(pool, empty, in, sizeof *in, out, sizeof *out, n, &opt, NULL) != PARC_OK) {
      fprintf(stderr, "bench_mpi: parc_map: %s\n", parc_errmsg());
      exit(1);
    }
    double rate = (double)n / (now() - t0);
    if (rate > best) best = rate;
  }
  for (size_t i = 0; i < n; i++)
    if (out[i] != in[i]) {
      fprintf(stderr, "bench_mpi: output %zu is wrong\n", i);
      exit(1);
    }
  return best;
}

static int throughput(void) {
  parc_pool *pool = make(PARC_MPI);
  const size_t n = 10000000, n1 = 20000;
  uint64_t *in = malloc(n * sizeof *in), *out = malloc(n * sizeof *out);
  for (size_t i = 0; i < n; i++) in[i] = i * 2654435761u;
  printf("workers %d\n", parc_pool_size(pool));
  printf("auto_tasks_per_s %.0f\n", map_rate(pool, n, 0, in, out));
  printf("batch1_tasks_per_s %.0f\n", map_rate(pool, n1, 1, in, out));
  /* One task at a time: the whole round trip, rank 0 to a forked worker and back. */
  parc_group *g;
  parc_group_create(&g, pool, &(parc_options){.batch = 1});
  const int trips = 2000;
  double best = 1e9;
  for (int rep = 0; rep < 3; rep++) {
    double t0 = now();
    for (int i = 0; i < trips; i++) {
      parc_group_submit(g, empty, &in[i], sizeof *in, &out[i], sizeof *out, NULL);
      size_t index;
      parc_group_next(g, -1, &index);
    }
    double us = (now() - t0) / trips * 1e6;
    if (us < best) best = us;
  }
  parc_group_destroy(g);
  printf("round_trip_us %.1f\n", best);
  free(in);
  free(out);
  parc_pool_destroy(pool);
  return 0;
}

static int crashstorm(void) {
  parc_pool *pool = make(PARC_MPI);
  enum { N = 2000 };
  static int x[N], y[N], st[N];
  for (int i = 0; i < N; i++) x[i] = i;
  double t0 = now();
  int rc = parc_map(pool, crash_one_in_20, x, sizeof x[0], y, sizeof y[0], N, NULL, st);
  double s = now() - t0;
  int crashed = 0, intact = 0;
  for (int i = 0; i < N; i++) {
    if (i % 20 == 7) crashed += st[i] == PARC_ECRASH;
    else intact += st[i] == PARC_OK && y[i] == i * 7 - 3;
  }
  printf("crashstorm_seconds %.3f\ncrashstorm_crashed %d of %d\ncrashstorm_intact %d of %d\n", s,
         crashed, N / 20, intact, N - N / 20);
  printf("crashstorm_status %s\n", parc_status_name(rc));
  parc_pool_destroy(pool);
  return crashed == N / 20 && intact == N - N / 20 ? 0 : 1;
}

#ifdef BENCH_MPI_REACTION
static int reaction(void) {
  parc_pool *pool = make(PARC_MPI), *serial = make(PARC_SERIAL);
  enum { N = 20000 };
  static double k[N];
  static reaction_result a[N], b[N];
  linspace(k, 0.01, 2.0, N);
  double t0 = now();
  int ra = parc_map(pool, solve_reaction, k, sizeof k[0], a, sizeof a[0], N, NULL, NULL);
  double t1 = now();
  int rb = parc_map(serial, solve_reaction, k, sizeof k[0], b, sizeof b[0], N, NULL, NULL);
  double t2 = now();
  int same = ra == PARC_OK && rb == PARC_OK && memcmp(a, b, sizeof a) == 0;
  printf("reaction_mpi_seconds %.3f\nreaction_serial_seconds %.3f\nreaction_bit_identical %s\n",
         t1 - t0, t2 - t1, same ? "yes" : "NO");
  parc_pool_destroy(serial);
  parc_pool_destroy(pool);
  return same ? 0 : 1;
}
#endif

int main(int argc, char **argv) {
  const char *what = argc > 1 ? argv[1] : "throughput";
  setvbuf(stdout, NULL, _IOLBF, 0);
  if (strcmp(what, "throughput") == 0) return throughput();
  if (strcmp(what, "crashstorm") == 0) return crashstorm();
#ifdef BENCH_MPI_REACTION
  if (strcmp(what, "reaction") == 0) return reaction();
#endif
  fprintf(stderr, "usage: mpirun -n N bench_mpi throughput|reaction|crashstorm\n");
  return 2;
}
