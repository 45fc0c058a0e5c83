/* Traces (PARC_TRACE / cfg.trace) and parc_group_stats: what the timeline
   file holds, checked by a real JSON parser (tests/check_trace.py, python3),
   and what the statistics count. */
#include <parc.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <time.h>

#include "fixture.h"
#include "harness.h"

static void spin_us(int us) {
  struct timespec t0, t1;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  do clock_gettime(CLOCK_MONOTONIC, &t1);
  while ((t1.tv_sec - t0.tv_sec) * 1000000L + (t1.tv_nsec - t0.tv_nsec) / 1000 < us);
}

/* Runs tests/check_trace.py on a trace; SKIPs without python3. */
static void check_trace(const char *path, const char *options) {
  if (system("python3 -c '' 2>/dev/null") != 0) SKIP("python3 is not installed");
  char command[1024];
  snprintf(command, sizeof command, "python3 %s/tests/check_trace.py %s %s", PARC_SOURCE_DIR, path,
           options);
  int rc = system(command);
  if (rc != 0) FAIL_AT("%s: exit status 0x%x", command, rc);
}

static void temp_path(char *path, size_t size, const char *what) {
  snprintf(path, size, "/tmp/parc-test-trace-%s-%d.json", what, (int)getpid());
}

static int some_fail(const void *in, void *out, parc_task *t) {
  int x = *(const int *)in;
  spin_us(20 + x % 7);
  if (x % 50 == 13) return parc_fail(t, "x=%d is unlucky", x);
  *(int *)out = x;
  return 0;
}

/* One X event per task, on every backend; durations add up to the
   group's busy time; events of a worker never overlap. */
static void check_backend(parc_backend backend) {
  char path[128], options[256];
  temp_path(path, sizeof path, test_backend_name(backend));
  parc_config cfg = test_config(backend, 2);
  cfg.trace = path;
  parc_pool *pool = test_pool_config(&cfg);
  enum { N = 200 };
  int in[N], out[N];
  for (int i = 0; i < N; i++) in[i] = i;
  parc_group *g;
  CHECK_OK(parc_group_create(&g, pool, &(parc_options){.label = "sweep \"one\""}));
  CHECK_OK(parc_group_map(g, some_fail, in, sizeof in[0], out, sizeof out[0], N));
  CHECK_INT(PARC_ETASK, parc_group_wait(g, -1));
  parc_group_info info;
  CHECK_OK(parc_group_stats(g, &info));
  CHECK_SIZE(N, info.submitted);
  CHECK_SIZE(N - 4, info.done);
  CHECK_SIZE(4, info.failed);
  CHECK(info.busy_seconds > N * 20e-6 * 0.9);
  CHECK(info.longest_index < N);
  parc_group_destroy(g);
  parc_pool_destroy(pool);
  snprintf(options, sizeof options, "--tasks %d --failed 4 --busy %.9f", N, info.busy_seconds);
  check_trace(path, options);
  unlink(path);
}

TEST(every_backend_writes_one_event_per_task) {
  check_backend(PARC_THREADS);
  check_backend(PARC_SERIAL);
  check_backend(PARC_PROCESSES);
}

static _Atomic int *tries_of_five;

static int crashes_once(const void *in, void *out, parc_task *t) {
  (void)t;
  int x = *(const int *)in;
  if (x == 5 && atomic_fetch_add(tries_of_five, 1) == 0) raise(SIGSEGV);
  *(int *)out = x;
  return 0;
}

/* A crash, its retry and the worker's replacement appear as such. */
TEST(a_crash_and_its_retry_appear_in_the_trace) {
  char path[128];
  temp_path(path, sizeof path, "retry");
  tries_of_five = parc_shared_alloc(sizeof *tries_of_five);
  CHECK(tries_of_five != NULL);
  parc_config cfg = test_config(PARC_PROCESSES, 2);
  cfg.trace = path;
  cfg.retries = 1;
  parc_pool *pool = test_pool_config(&cfg);
  enum { N = 20 };
  int in[N], out[N];
  for (int i = 0; i < N; i++) in[i] = i;
  CHECK_OK(parc_map(pool, crashes_once, in, sizeof in[0], out, sizeof out[0], N, NULL, NULL));
  parc_pool_destroy(pool);
  CHECK_INT(2, atomic_load(tries_of_five));
  parc_shared_free((void *)tries_of_five);
  check_trace(path, "--tasks 20 --failed 1 --retry 5");
  unlink(path);
}

/* A program killed mid-map leaves a trace whose complete lines parse and
   which says it is incomplete (no closing line). */
TEST_WITH_LIMIT(the_trace_of_a_killed_program_is_readable, 30) {
  char path[128];
  temp_path(path, sizeof path, "killed");
  pid_t child = fork();
  if (child == 0) {
    parc_config cfg = test_config(PARC_THREADS, 2);
    cfg.trace = path;
    parc_pool *pool;
    if (parc_pool_create(&pool, &cfg) != PARC_OK) _exit(1);
    static int in[100000], out[100000];
    parc_map(pool, some_fail, in, sizeof in[0], out, sizeof out[0], 100000, NULL, NULL);
    _exit(0);
  }
  usleep(400000);   /* past the writer's first 100 ms */
  kill(child, SIGKILL);
  waitpid(child, NULL, 0);
  check_trace(path, "--cut");
  unlink(path);
}

static int slow_seven(const void *in, void *out, parc_task *t) {
  (void)out, (void)t;
  spin_us(*(const int *)in == 7 ? 20000 : 100);
  return 0;
}

/* Statistics: counts of every kind, the slowest task when timed. */
TEST(stats_count_what_happened) {
  /* SERIAL with stop_on_error: task 3 fails, 4..19 are cancelled. */
  parc_pool *serial = test_pool(PARC_SERIAL, 1);
  enum { N = 20 };
  int in[N], out[N];
  for (int i = 0; i < N; i++) in[i] = i == 3 ? 13 : i;
  parc_group *g;
  CHECK_OK(parc_group_create(&g, serial, &(parc_options){.stop_on_error = 1, .batch = 1}));
  CHECK_OK(parc_group_map(g, some_fail, in, sizeof in[0], out, sizeof out[0], N));
  CHECK_INT(PARC_ETASK, parc_group_wait(g, -1));
  parc_group_info info;
  CHECK_OK(parc_group_stats(g, &info));
  CHECK_SIZE(N, info.submitted);
  CHECK_SIZE(3, info.done);
  CHECK_SIZE(1, info.failed);
  CHECK_SIZE(16, info.canceled);
  CHECK_SIZE(0, info.cached);
  CHECK(info.wall_seconds > 0);
  CHECK_SIZE(SIZE_MAX, info.longest_index);   /* not traced: tasks not timed one by one */
  parc_group_destroy(g);
  parc_pool_destroy(serial);
  CHECK_ERROR(PARC_EINVAL, "g is NULL", parc_group_stats(NULL, &info));

  /* A traced pool times each task: the slow one is named. */
  char path[128];
  temp_path(path, sizeof path, "stats");
  parc_config cfg = test_config(PARC_THREADS, 2);
  cfg.trace = path;
  parc_pool *pool = test_pool_config(&cfg);
  CHECK_OK(parc_group_create(&g, pool, NULL));
  CHECK_OK(parc_group_map(g, slow_seven, in, sizeof in[0], NULL, 0, N));
  CHECK_OK(parc_group_wait(g, -1));
  CHECK_OK(parc_group_stats(g, &info));
  CHECK_SIZE(N, info.done);
  CHECK_SIZE(7, info.longest_index);
  CHECK(info.longest_seconds >= 0.019 && info.busy_seconds >= info.longest_seconds);
  parc_group_destroy(g);

  /* The cache answers a second map: cached counts it. */
  char dir[] = "/tmp/parc-test-trace-cache-XXXXXX";
  CHECK(mkdtemp(dir) != NULL);
  parc_cache *cache;
  CHECK_OK(parc_cache_open(&cache, dir, NULL));
  parc_options opt = {.cache = cache, .cache_name = "slow_seven"};
  for (int i = 0; i < N; i++) in[i] = 100 + i;
  for (int pass = 0; pass < 2; pass++) {
    CHECK_OK(parc_group_create(&g, pool, &opt));
    CHECK_OK(parc_group_map(g, slow_seven, in, sizeof in[0], NULL, 0, N));
    CHECK_OK(parc_group_wait(g, -1));
    CHECK_OK(parc_group_stats(g, &info));
    CHECK_SIZE(N, info.done);
    CHECK_SIZE(pass == 0 ? 0 : N, info.cached);
    parc_group_destroy(g);
  }
  parc_cache_close(cache);
  parc_pool_destroy(pool);
  char command[128];
  snprintf(command, sizeof command, "rm -rf %s", dir);
  CHECK_INT(0, system(command));
  unlink(path);
}

/* PARC_TRACE names the file; a second traced pool of the process writes
   FILE.2, never over the first. */
TEST(parc_trace_names_the_file_and_pools_do_not_collide) {
  char path[128], second[140];
  temp_path(path, sizeof path, "env");
  snprintf(second, sizeof second, "%s.2", path);
  setenv("PARC_TRACE", path, 1);
  parc_pool *a = test_pool(PARC_THREADS, 1), *b = test_pool(PARC_THREADS, 1);
  int in[4] = {1, 2, 3, 4};
  CHECK_OK(parc_map(a, slow_seven, in, sizeof in[0], NULL, 0, 4, NULL, NULL));
  CHECK_OK(parc_map(b, slow_seven, in, sizeof in[0], NULL, 0, 2, NULL, NULL));
  parc_pool_destroy(a);
  parc_pool_destroy(b);
  unsetenv("PARC_TRACE");
  check_trace(path, "--tasks 4");
  check_trace(second, "--tasks 2");
  unlink(path);
  unlink(second);
  parc_config cfg = test_config(PARC_THREADS, 1);
  cfg.trace = "/nonexistent-dir/trace.json";
  parc_pool *pool;
  CHECK_ERROR(PARC_ESYS, "trace file /nonexistent-dir/trace.json", parc_pool_create(&pool, &cfg));
}

int main(int argc, char **argv) { return harness_main(argc, argv); }
