/*
 * cache_resume — a sweep killed with SIGKILL part-way, then run again:
 * only the missing tasks are computed.
 *
 * A child process runs a 200-task sweep through parc_map with a cache
 * (opt.cache) and is killed with SIGKILL once the cache holds some of its
 * results (the cache commits a batch at least every half second; a kill
 * loses at most the last half second of work and never the file). The
 * parent then runs the same sweep on the same cache: the committed results
 * come from the cache, the rest are computed. Each task draws noise from
 * parc_task_rng, a stream fixed by the task's index, so the resumed
 * outputs equal those of one uncached run bit for bit.
 *
 * --check: exit non-zero unless the second run computed exactly the tasks
 * that were not committed and the outputs equal the uncached run's.
 */
#include "example.h"

#include <signal.h>
#include <stdatomic.h>
#include <sys/mman.h>
#include <sys/wait.h>

#define N 200
#define TASK_SECONDS 0.02

/* Task bodies run, counted across the fork (shared memory). */
static _Atomic long *executed;

static int simulate(const void *in, void *out, parc_task *task) {
  atomic_fetch_add(executed, 1);
  double x = *(const double *)in;
  struct timespec pause = {0, (long)(TASK_SECONDS * 1e9)};
  nanosleep(&pause, NULL);
  *(double *)out = x * x + parc_rng_normal(parc_task_rng(task), 0.0, 0.01);
  return 0;
}

/* The sweep: x = 0, 0.5, 1, ..., with the cache in `dir` or none. */
static void sweep(const char *dir, double *y) {
  double x[N];
  for (int i = 0; i < N; i++) x[i] = 0.5 * i;
  parc_pool *pool;
  check(parc_pool_create(&pool, NULL), "parc_pool_create");
  parc_cache *cache = NULL;
  if (dir) check(parc_cache_open(&cache, dir, NULL), "parc_cache_open");
  parc_options opt = {0};
  opt.cache = cache;
  opt.seed = 2024;
  check(parc_map(pool, simulate, x, sizeof x[0], y, sizeof y[0], N, &opt, NULL), "parc_map");
  parc_cache_close(cache);
  parc_pool_destroy(pool);
}

static uint64_t entries(parc_cache *c) {
  parc_cache_info info;
  check(parc_cache_stats(c, &info), "parc_cache_stats");
  return info.entries;
}

int main(int argc, char **argv) {
  int checking = has_flag(argc, argv, "--check");
  char dir[] = "/tmp/parc-cache-resume-XXXXXX";
  if (!mkdtemp(dir)) {
    perror("mkdtemp");
    return 1;
  }
  executed = mmap(NULL, sizeof *executed, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  if (executed == MAP_FAILED) {
    perror("mmap");
    return 1;
  }

  /* First run, in a child (forked before this process starts any thread). */
  fflush(stdout);
  pid_t child = fork();
  if (child < 0) {
    perror("fork");
    return 1;
  }
  if (child == 0) {
    static double y[N];
    sweep(dir, y);
    _exit(0);
  }
  /* Watch the cache from here and kill the child once results are in. */
  parc_cache *watch;
  check(parc_cache_open(&watch, dir, NULL), "parc_cache_open");
  uint64_t committed = 0;
  for (int i = 0; i < 1500 && committed == 0; i++) {
    usleep(10000);
    committed = entries(watch);
  }
  kill(child, SIGKILL);
  int status;
  waitpid(child, &status, 0);
  long first = atomic_load(executed);
  committed = entries(watch);
  parc_cache_close(watch);
  printf("first run:  killed with SIGKILL after computing %ld of %d tasks; %llu were committed\n",
         first, N, (unsigned long long)committed);
  if (!WIFSIGNALED(status)) printf("  (the child finished before the kill: a fast machine)\n");

  /* Second run: the same sweep, the same cache. */
  static double resumed[N], plain[N];
  atomic_store(executed, 0);
  double start = now();
  sweep(dir, resumed);
  long second = atomic_load(executed);
  printf("second run: recomputed %ld of %d tasks (%.2f s); the other %ld came from the cache\n",
         second, N, now() - start, N - second);
  int only_missing = second == N - (long)committed;
  printf("resume recomputed only the missing tasks: %s\n", only_missing ? "yes" : "no");

  /* The reference: one run without a cache. */
  sweep(NULL, plain);
  int same = memcmp(resumed, plain, sizeof plain) == 0;
  printf("outputs identical to an uncached run: %s (y[100] = %.4f)\n", same ? "yes" : "no",
         plain[100]);

  char command[sizeof dir + 16];
  snprintf(command, sizeof command, "rm -rf '%s'", dir);
  if (system(command) != 0) fprintf(stderr, "cannot remove %s\n", dir);
  munmap((void *)executed, sizeof *executed);
  if (checking && (!only_missing || !same || committed == 0 || second >= N)) return 1;
  return 0;
}
