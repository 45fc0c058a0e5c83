/* PARC_PROCESSES with exec start (PARC_START_EXEC): workers are fresh copies
   of this program. Built with -fopenmp (process.cmake) for the case exec
   start exists for: OpenMP in the caller before the pool, then in tasks. The
   shared conformance suite also runs on exec start (process.cmake). */
#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <omp.h>
#include <parc.h>
#include <signal.h>
#include <stdatomic.h>
#include <sys/mman.h>
#include <time.h>

#include "census.h"
#include "faults.h"
#include "fixture.h"
#include "harness.h"

/* ---- outputs and faults ---------------------------------------------------- */

enum { N_FAULTS = 2000 };

TEST(exec_start_maps_correctly_and_isolates_crashes) {
  parc_config cfg = test_config(PARC_PROCESSES, 2);
  cfg.start = PARC_START_EXEC;
  cfg.timeout = 0.3;
  parc_pool *pool = test_pool_config(&cfg);
  static int in[N_FAULTS], out[N_FAULTS];
  for (int i = 0; i < N_FAULTS; i++) in[i] = i, out[i] = -1;
  parc_group *g;
  CHECK_OK(parc_group_create(&g, pool, NULL));
  CHECK_OK(parc_group_map(g, faulty, in, sizeof in[0], out, sizeof out[0], N_FAULTS));
  CHECK_INT(PARC_ETASK, parc_group_wait(g, 60));
  CHECK_INT(PARC_ECRASH, parc_group_status(g, SEGV_AT));
  CHECK_STR("killed by signal 11 (Segmentation fault)", parc_group_message(g, SEGV_AT));
  CHECK_INT(PARC_ECRASH, parc_group_status(g, ABORT_AT));
  CHECK_STR("killed by signal 6 (Aborted)", parc_group_message(g, ABORT_AT));
  CHECK_INT(PARC_ECRASH, parc_group_status(g, EXIT_AT));
  CHECK_STR("exited with status 3", parc_group_message(g, EXIT_AT));
  CHECK_INT(PARC_ECRASH, parc_group_status(g, KILL_AT));
  CHECK_STR("killed by signal 9 (Killed)", parc_group_message(g, KILL_AT));
  CHECK_INT(PARC_ETIMEDOUT, parc_group_status(g, HANG_AT));
  CHECK_STR("ran past the timeout of 0.3 s", parc_group_message(g, HANG_AT));
  for (int i = 0; i < N_FAULTS; i++) {
    if (i == SEGV_AT || i == ABORT_AT || i == EXIT_AT || i == KILL_AT || i == HANG_AT) continue;
    int status = parc_group_status(g, (size_t)i);
    if (i % 500 == 7) {
      char expected[64];
      snprintf(expected, sizeof expected, "x=%d refused", i);
      CHECK_INT(PARC_ETASK, status);
      CHECK_STR(expected, parc_group_message(g, (size_t)i));
    } else if (status != PARC_OK || out[i] != 2 * i) {
      FAIL_AT("task %d: status %d, out %d", i, status, out[i]);
    }
  }
  parc_group_destroy(g);
  /* The pool goes on, with a second function. */
  for (int i = 0; i < N_FAULTS; i++) in[i] = i % 500 == 7 ? 8 : i, out[i] = -1;
  CHECK_OK(parc_map(pool, faulty, in, sizeof in[0], out, sizeof out[0], 100, NULL, NULL));
  for (int i = 0; i < 100; i++) CHECK_INT(2 * in[i], out[i]);
  parc_pool_destroy(pool);
  CHECK_INT(0, count_children());
}

/* ---- OpenMP in the caller first, then in tasks ------------------------------ */

/* libgomp is not built for TSan, whose reports on its barriers are false:
   the OpenMP code is left uninstrumented. */
#ifdef __SANITIZE_THREAD__
#define NO_TSAN __attribute__((no_sanitize_thread))
#else
#define NO_TSAN
#endif

NO_TSAN static long omp_sum(long n, int threads, int *team) {
  long sum = 0;
  int seen = 0;
#pragma omp parallel for num_threads(threads) reduction(+ : sum) reduction(max : seen)
  for (long i = 0; i < n; i++) {
    sum += i % 7;
    seen = omp_get_num_threads();
  }
  *team = seen;
  return sum;
}

static int omp_task(const void *in, void *out, parc_task *t) {
  (void)t;
  long n = *(const long *)in;
  int team = 0;
  long sum = omp_sum(n, 2, &team);
  if (team != 2) return parc_fail(t, "OpenMP team of %d threads, wanted 2", team);
  *(long *)out = sum;
  return 0;
}

static long expected_sum(long n) {
  long sum = 0;
  for (long i = 0; i < n; i++) sum += i % 7;
  return sum;
}

TEST_WITH_LIMIT(openmp_in_the_caller_then_in_exec_workers_does_not_hang, 120) {
  int team = 0;
  CHECK(omp_sum(100000, 2, &team) == expected_sum(100000)); /* libgomp's pool now exists */
  CHECK_INT(2, team);
  parc_config cfg = test_config(PARC_PROCESSES, 2);
  cfg.start = PARC_START_EXEC;
  parc_pool *pool = test_pool_config(&cfg);
  enum { N = 40 };
  long in[N], out[N];
  for (int i = 0; i < N; i++) in[i] = 10000 + 1000 * i, out[i] = -1;
  parc_group *g;
  CHECK_OK(parc_group_create(&g, pool, NULL));
  CHECK_OK(parc_group_map(g, omp_task, in, sizeof in[0], out, sizeof out[0], N));
  /* A hang (fork start) is caught here, well inside the test's limit. */
  int rc = parc_group_wait(g, 60);
  if (rc != PARC_OK) FAIL_AT("wait: %d (%s), task 0: %s", rc, parc_errmsg(), parc_group_message(g, 0));
  for (int i = 0; i < N; i++) CHECK(out[i] == expected_sum(in[i]));
  parc_group_destroy(g);
  parc_pool_destroy(pool);
  CHECK_INT(0, count_children());
}

/* ---- memory is fresh ---------------------------------------------------------- */

static int marker = 1;

static int read_marker(const void *in, void *out, parc_task *t) {
  (void)in;
  (void)t;
  *(int *)out = marker;
  return 0;
}

static _Atomic int *init_runs;

/* In the worker, init_runs is NULL as at program start: the count arrives
   through the argument, which is in parc_shared_alloc memory. */
static void count_init(void *arg) {
  CHECK(init_runs == NULL);
  atomic_fetch_add((_Atomic int *)arg, 1);
  marker = 7;
}

TEST(exec_workers_see_globals_as_at_program_start) {
  marker = 42;
  int out[4] = {0};
  parc_config cfg = test_config(PARC_PROCESSES, 2);
  cfg.start = PARC_START_EXEC;
  parc_pool *pool = test_pool_config(&cfg);
  CHECK_OK(parc_map(pool, read_marker, NULL, 0, out, sizeof out[0], 4, NULL, NULL));
  for (int i = 0; i < 4; i++) CHECK_INT(1, out[i]);
  parc_pool_destroy(pool);
  /* A fork start sees the caller's value: the difference is the point. */
  cfg = test_config(PARC_PROCESSES, 2);
  cfg.start = PARC_START_FORK;
  pool = test_pool_config(&cfg);
  CHECK_OK(parc_map(pool, read_marker, NULL, 0, out, sizeof out[0], 4, NULL, NULL));
  for (int i = 0; i < 4; i++) CHECK_INT(42, out[i]);
  parc_pool_destroy(pool);
}

TEST(exec_worker_init_runs_in_each_worker_with_a_shared_argument) {
  init_runs = parc_shared_alloc(sizeof *init_runs);
  parc_config cfg;
  parc_config_default(&cfg);
  cfg.backend = PARC_PROCESSES;
  cfg.start = PARC_START_EXEC;
  cfg.workers = 2;
  cfg.worker_init = count_init;
  static int local;
  cfg.worker_init_arg = &local;
  parc_pool *pool = (parc_pool *)&cfg;
  CHECK_ERROR(PARC_EINVAL, "worker_init_arg must be NULL or point into parc_shared_alloc",
              parc_pool_create(&pool, &cfg));
  CHECK(pool == NULL);
  CHECK_INT(0, count_children());
  cfg.worker_init_arg = (void *)init_runs;
  CHECK_OK(parc_pool_create(&pool, &cfg));
  int out[8] = {0};
  CHECK_OK(parc_map(pool, read_marker, NULL, 0, out, sizeof out[0], 8, NULL, NULL));
  for (int i = 0; i < 8; i++) CHECK_INT(7, out[i]);
  /* One worker may run all 8 tasks before the other has finished its
     worker_init: wait for it (each worker runs it once, never more). */
  for (int i = 0; i < 500 && atomic_load(init_runs) < 2; i++) usleep(10000);
  CHECK_INT(2, atomic_load(init_runs));
  parc_pool_destroy(pool);
}

/* A task's own PARC_EINVAL (its function is in a library the caller
   dlopen()ed, which an exec-started worker does not load) has a readable
   message; an index never submitted has none. Both statuses are
   PARC_EINVAL: the message tells them apart (parc.h, parc_group_message). */
TEST(a_task_function_in_a_dlopened_library_fails_einval_with_its_message) {
  void *lib = dlopen(DL_TASK_SO, RTLD_NOW);
  if (!lib) FAIL_AT("dlopen %s: %s", DL_TASK_SO, dlerror());
  parc_fn fn;
  void *symbol = dlsym(lib, "dl_task_double");
  CHECK(symbol != NULL);
  memcpy(&fn, &symbol, sizeof fn);
  parc_config cfg = test_config(PARC_PROCESSES, 1);
  cfg.start = PARC_START_EXEC;
  parc_pool *pool = test_pool_config(&cfg);
  int in[3] = {1, 2, 3}, out[3] = {0};
  parc_group *g;
  CHECK_OK(parc_group_create(&g, pool, NULL));
  CHECK_OK(parc_group_map(g, fn, in, sizeof in[0], out, sizeof out[0], 3));
  CHECK_ERROR(PARC_EINVAL, "exec start: the task's function is not in the program",
              parc_group_wait(g, 60));
  CHECK_INT(PARC_EINVAL, parc_group_status(g, 0));
  const char *message = parc_group_message(g, 0);
  printf("  task 0: %s, message \"%s\"\n", parc_status_name(parc_group_status(g, 0)),
         message ? message : "(null)");
  CHECK(message != NULL);
  CHECK(strstr(message, "exec start: the task's function is not in the program") != NULL);
  CHECK(strstr(message, "dl_task") != NULL);   /* names the library */
  /* Never submitted: the same status, no message. */
  CHECK_INT(PARC_EINVAL, parc_group_status(g, 3));
  CHECK(parc_group_message(g, 3) == NULL);
  parc_group_destroy(g);
  parc_pool_destroy(pool);
  dlclose(lib);
}

/* ---- PARC_START=exec, and nothing left behind ------------------------------------ */

static int read_cmdline(const void *in, void *out, parc_task *t) {
  (void)in;
  (void)t;
  FILE *f = fopen("/proc/self/cmdline", "r");
  if (!f) return parc_fail(t, "no cmdline");
  char *s = out;
  size_t n = fread(s, 1, 31, f);
  s[n] = '\0';
  fclose(f);
  return 0;
}

static int read_env(const void *in, void *out, parc_task *t) {
  (void)in;
  (void)t;
  const char *v = getenv("PARC__EXEC_SERVER");
  *(int *)out = v != NULL;
  return 0;
}

TEST(parc_start_env_selects_exec_and_destroy_leaves_nothing) {
  parc_shared_free(parc_shared_alloc(1)); /* the region's memfd lives as long as the program */
  int fds = count_fds();
  setenv("PARC_START", "exec", 1);
  parc_config cfg;
  parc_config_default(&cfg);
  CHECK_INT(PARC_START_EXEC, cfg.start);
  cfg.backend = PARC_PROCESSES;
  cfg.workers = 2;
  for (int round = 0; round < 3; round++) {
    parc_pool *pool;
    CHECK_OK(parc_pool_create(&pool, &cfg));
    char names[2][32];
    CHECK_OK(parc_map(pool, read_cmdline, NULL, 0, names, sizeof names[0], 2, NULL, NULL));
    CHECK_STR("parc-server", names[0]);
    CHECK_STR("parc-server", names[1]);
    int leaked = -1;
    CHECK_OK(parc_map(pool, read_env, NULL, 0, &leaked, sizeof leaked, 1, NULL, NULL));
    CHECK_INT(0, leaked);
    parc_pool_destroy(pool);
    CHECK_INT(0, count_children());
    CHECK_INT(fds, count_fds());
  }
  CHECK_INT(-1, waitpid(-1, NULL, WNOHANG));
  CHECK_INT(ECHILD, errno);
  setenv("PARC_START", "fork", 1);
  parc_config_default(&cfg);
  CHECK_INT(PARC_START_FORK, cfg.start);
}

/* A failed execve says why (its errno travels back through a close-on-exec
   pipe): an environment string longer than the kernel's MAX_ARG_STRLEN
   (32 pages) makes execve fail with E2BIG. */
TEST(a_failed_exec_says_why) {
  size_t n = 200000;
  char *big = malloc(n + 1);
  CHECK(big != NULL);
  memset(big, 'x', n);
  big[n] = '\0';
  setenv("PARC_TEST_HUGE", big, 1);
  free(big);
  parc_config cfg = test_config(PARC_PROCESSES, 2);
  cfg.start = PARC_START_EXEC;
  parc_pool *pool;
  CHECK_ERROR(PARC_ESYS, "cannot exec /proc/self/exe: Argument list too long",
              parc_pool_create(&pool, &cfg));
  unsetenv("PARC_TEST_HUGE");
  CHECK_OK(parc_pool_create(&pool, &cfg));
  parc_pool_destroy(pool);
}

int main(int argc, char **argv) { return harness_main(argc, argv); }
