/*
 * bench/crash — what a crash costs on PARC_PROCESSES: issue 3's target is a
 * replacement worker ready within 5 ms of a death.
 *
 * Two workers, batch 1, retries 0. Every EVERY-th task dies (SIGSEGV, or
 * SIGKILL, which only the fork server's waitpid can see); the others spin
 * for 2 ms. Each task records when it started and, on the way out, when it
 * ended, in parc_shared_alloc memory; "death to next task" is the time from
 * a crashing task's start to the start of the next task on the same worker
 * slot, minus nothing: an upper bound on death-to-replacement-ready. The
 * median of all deaths of all repeats is printed, with a crash-free map as
 * the peer measured in the same run.
 *
 *   bench_crash [--quick] [--repeats N]
 */
#include <parc.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench_util.h"

enum { EVERY = 20 };

typedef struct slot_time { _Atomic uint64_t start_ns; _Atomic int worker; } slot_time;
static slot_time *times;   /* shared: one per task */

static int task(const void *in, void *out, parc_task *t) {
  (void)in;
  (void)out;
  size_t i = parc_task_index(t);
  /* The signal comes in the context: workers were forked before main set
     anything after the pool's creation. */
  int dying_signal = *(const int *)parc_task_context(t, NULL);
  atomic_store(&times[i].worker, parc_task_worker(t));
  atomic_store(&times[i].start_ns, bench_now_ns());
  if (dying_signal && i % EVERY == EVERY / 2) raise(dying_signal);
  uint64_t until = bench_now_ns() + 2000000;
  while (bench_now_ns() < until) {
  }
  return 0;
}

/* Deaths' "to next task on the same slot" times of one map, appended to d. */
static int collect(size_t n, double *d, int nd) {
  for (size_t i = EVERY / 2; i < n; i += EVERY) {
    int w = atomic_load(&times[i].worker);
    uint64_t died = atomic_load(&times[i].start_ns), next = 0;
    for (size_t j = 0; j < n; j++) {
      uint64_t s = atomic_load(&times[j].start_ns);
      if (j != i && atomic_load(&times[j].worker) == w && s > died && (next == 0 || s < next)) next = s;
    }
    if (next) d[nd++] = (double)(next - died) * 1e-6;
  }
  return nd;
}

static double one_map(parc_pool *pool, size_t n, int sig, double *d, int *nd) {
  memset(times, 0, n * sizeof *times);
  parc_options opt = {.batch = 1, .context = &sig, .context_size = sizeof sig};
  uint64_t t0 = bench_now_ns();
  parc_map(pool, task, NULL, 0, NULL, 0, n, &opt, NULL);
  double ms = (double)(bench_now_ns() - t0) * 1e-6;
  if (sig) *nd = collect(n, d, *nd);
  return ms;
}

int main(int argc, char **argv) {
  bench_args args = {.repeats = 3, .workers = 2};
  if (!bench_parse_args(argc, argv, &args, "(none)")) return 2;
  size_t n = args.quick ? 100 : 400;
  times = parc_shared_alloc(n * sizeof *times);
  parc_config cfg;
  parc_config_default(&cfg);
  cfg.backend = PARC_PROCESSES;
  cfg.workers = args.workers;
  parc_pool *pool;
  if (!times || parc_pool_create(&pool, &cfg) != PARC_OK) {
    printf("  PARC_PROCESSES not available: %s\n", parc_errmsg());
    return 0;
  }
  static double deaths[2][4096], clean[64], crashed[2][64];
  int nd[2] = {0, 0};
  const int signals[2] = {SIGSEGV, SIGKILL};
  for (int r = 0; r < args.repeats && r < 64; r++) {
    clean[r] = one_map(pool, n, 0, NULL, NULL);
    for (int s = 0; s < 2; s++) crashed[s][r] = one_map(pool, n, signals[s], deaths[s], &nd[s]);
  }
  parc_pool_destroy(pool);
  int reps = args.repeats < 64 ? args.repeats : 64;
  printf("  %zu tasks of 2 ms on %d worker processes, batch 1; 1 in %d dies; median of %d maps\n",
         n, args.workers, EVERY, reps);
  printf("  %-34s %10s %22s\n", "", "map ms", "death -> next task ms");
  printf("  %-34s %10.1f %22s\n", "no crashes", bench_median(clean, reps), "-");
  const char *names[2] = {"SIGSEGV (reported by the worker)", "SIGKILL (seen by waitpid)"};
  for (int s = 0; s < 2; s++)
    printf("  %-34s %10.1f %22.2f\n", names[s], bench_median(crashed[s], reps),
           nd[s] ? bench_median(deaths[s], nd[s]) : NAN);
  double worst = nd[0] && nd[1] ? fmax(bench_median(deaths[0], nd[0]), bench_median(deaths[1], nd[1])) : NAN;
  printf("  target: death to replacement ready <= 5 ms: %.2f ms, %s\n", worst,
         worst <= 5 ? "met" : "MISSED");
  parc_shared_free(times);
  return 0;
}
