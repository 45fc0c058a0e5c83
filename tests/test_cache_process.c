/* The cache on the process backend: a hit is never shipped to a worker,
   a miss computed in a worker is stored, and both give the same bytes as
   threads. Executions are counted in parc_shared_alloc memory, which every
   forked worker shares. */
#include <parc.h>
#include <stdatomic.h>
#include <stdlib.h>

#include "fixture.h"
#include "harness.h"

static _Atomic int *executions;

static void remove_dir(const char *dir) { test_remove_dir(dir); }

static int cube(const void *in, void *out, parc_task *t) {
  (void)t;
  atomic_fetch_add(executions, 1);
  double x = *(const double *)in;
  *(double *)out = x * x * x;
  return x == 13 ? parc_fail(t, "thirteen") : 0;
}

TEST(process_pool_hits_are_not_shipped_and_misses_are_stored) {
  char dir[] = "/tmp/parc-cache-process-XXXXXX";
  CHECK(mkdtemp(dir) != NULL);
  executions = parc_shared_alloc(sizeof *executions);
  CHECK(executions != NULL);
  parc_cache *cache;
  CHECK_OK(parc_cache_open(&cache, dir, NULL));
  enum { N = 200 };
  double in[N], first[N], second[N];
  int status[N];
  for (int i = 0; i < N; i++) in[i] = i;
  parc_options opt = {.cache = cache, .cache_name = "cube", .cache_version = "1"};

  parc_pool *processes = test_pool(PARC_PROCESSES, 2);
  CHECK_INT(PARC_ETASK, parc_map(processes, cube, in, sizeof in[0], first, sizeof first[0], N, &opt, status));
  CHECK_INT(N, atomic_load(executions));
  CHECK_INT(PARC_ETASK, status[13]);
  atomic_store(executions, 0);
  /* Second run: every success is a hit; only the failure runs again. */
  CHECK_INT(PARC_ETASK, parc_map(processes, cube, in, sizeof in[0], second, sizeof second[0], N, &opt, status));
  CHECK_INT(1, atomic_load(executions));
  for (int i = 0; i < N; i++) {
    if (i == 13) continue;
    CHECK_INT(PARC_OK, status[i]);
    CHECK(second[i] == first[i] && first[i] == (double)i * i * i);
  }
  parc_pool_destroy(processes);

  /* Threads read what the process workers stored. */
  atomic_store(executions, 0);
  parc_pool *threads = test_pool(PARC_THREADS, 2);
  for (int i = 0; i < N; i++) second[i] = -1;
  CHECK_INT(PARC_ETASK, parc_map(threads, cube, in, sizeof in[0], second, sizeof second[0], N, &opt, status));
  CHECK_INT(1, atomic_load(executions));
  CHECK(memcmp(first, second, sizeof first) == 0 || second[13] != first[13]);
  for (int i = 0; i < N; i++)
    if (i != 13) CHECK(second[i] == first[i]);
  parc_pool_destroy(threads);

  parc_cache_close(cache);
  parc_shared_free((void *)executions);
  remove_dir(dir);
}

static int doubles(const void *in, void *out, parc_task *t) {
  (void)t;
  atomic_fetch_add(executions, 1);
  *(double *)out = 2 * *(const double *)in;
  return 0;
}

/* A function that never reads its index has one key on every backend: a
   map on PROCESSES must not re-key it (the worker says whether a task
   read its index), so the threads' results stay hits. */
TEST(keys_do_not_change_with_the_backend) {
  char dir[] = "/tmp/parc-cache-process-XXXXXX";
  CHECK(mkdtemp(dir) != NULL);
  executions = parc_shared_alloc(sizeof *executions);
  parc_cache *cache;
  CHECK_OK(parc_cache_open(&cache, dir, NULL));
  enum { N = 100 };
  double in[N + 1], out[N + 1];
  for (int i = 0; i <= N; i++) in[i] = i;
  parc_options opt = {.cache = cache};
  parc_pool *threads = test_pool(PARC_THREADS, 2);
  parc_pool *processes = test_pool(PARC_PROCESSES, 2);
  CHECK_OK(parc_map(threads, doubles, in, sizeof in[0], out, sizeof out[0], N, &opt, NULL));
  CHECK_INT(N, atomic_load(executions));
  atomic_store(executions, 0);
  CHECK_OK(parc_map(threads, doubles, in, sizeof in[0], out, sizeof out[0], N, &opt, NULL));
  CHECK_INT(0, atomic_load(executions));
  /* One new input, on processes. */
  CHECK_OK(parc_map(processes, doubles, in, sizeof in[0], out, sizeof out[0], N + 1, &opt, NULL));
  CHECK_INT(1, atomic_load(executions));
  atomic_store(executions, 0);
  CHECK_OK(parc_map(threads, doubles, in, sizeof in[0], out, sizeof out[0], N, &opt, NULL));
  CHECK_INT(0, atomic_load(executions));
  for (int i = 0; i < N; i++) CHECK(out[i] == 2.0 * i);
  parc_pool_destroy(processes);
  parc_pool_destroy(threads);
  parc_cache_close(cache);
  parc_shared_free((void *)executions);
  remove_dir(dir);
}

int main(int argc, char **argv) { return harness_main(argc, argv); }
