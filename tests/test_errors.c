/* Bad input: every misuse is PARC_EINVAL (or the documented code) with a
   message that names the problem, never a crash. Also the environment,
   CPU counting and status names. */
#include <parc.h>
#include <pthread.h>
#include <math.h>
#include <sched.h>
#include <time.h>

#include "fixture.h"
#include "harness.h"

static int noop(const void *in, void *out, parc_task *t) {
  (void)in, (void)out, (void)t;
  return 0;
}

TEST(pool_create_rejects_bad_configs) {
  parc_config cfg;
  parc_pool *pool = (parc_pool *)&cfg;
  CHECK_ERROR(PARC_EINVAL, "pool is NULL", parc_pool_create(NULL, NULL));
  parc_config_default(&cfg);
  cfg.workers = 4097;
  CHECK_ERROR(PARC_EINVAL, "workers = 4097", parc_pool_create(&pool, &cfg));
  CHECK(pool == NULL);
  cfg.workers = -4097;
  CHECK_ERROR(PARC_EINVAL, "workers = -4097", parc_pool_create(&pool, &cfg));
  parc_config_default(&cfg);
  cfg.timeout = 1.0;
  CHECK_ERROR(PARC_EINVAL, "timeout needs PARC_PROCESSES", parc_pool_create(&pool, &cfg));
  cfg.backend = PARC_SERIAL;
  CHECK_ERROR(PARC_EINVAL, "timeout needs PARC_PROCESSES", parc_pool_create(&pool, &cfg));
  parc_config_default(&cfg);
  cfg.timeout = -1;
  CHECK_ERROR(PARC_EINVAL, "timeout must be >= 0", parc_pool_create(&pool, &cfg));
  parc_config_default(&cfg);
  cfg.retries = -2;
  CHECK_ERROR(PARC_EINVAL, "retries", parc_pool_create(&pool, &cfg));
  parc_config_default(&cfg);
  cfg.backend = (parc_backend)17;
  CHECK_ERROR(PARC_EINVAL, "unknown backend", parc_pool_create(&pool, &cfg));
  parc_config_default(&cfg);
  cfg.verbose = 3;
  CHECK_ERROR(PARC_EINVAL, "verbose", parc_pool_create(&pool, &cfg));
}

static int twice(const void *in, void *out, parc_task *t) {
  (void)t;
  *(int *)out = 2 * *(const int *)in;
  return 0;
}

/* timeout = INFINITY is no limit, on every backend (stored as 0); what
   cannot be counted in nanoseconds (beyond 1e9 s) is refused. */
TEST(an_infinite_timeout_is_no_limit_and_one_beyond_1e9_s_is_refused) {
  int in[8] = {1, 2, 3, 4, 5, 6, 7, 8}, out[8], status[8];
  parc_backend backends[] = {PARC_PROCESSES, PARC_THREADS, PARC_SERIAL};
  for (size_t b = 0; b < sizeof backends / sizeof backends[0]; b++) {
    parc_config cfg = test_config(backends[b], 2);
    cfg.timeout = INFINITY;
    parc_pool *pool = test_pool_if_built(&cfg);
    if (!pool) continue;
    memset(out, 0, sizeof out);
    int rc = parc_map(pool, twice, in, sizeof in[0], out, sizeof out[0], 8, NULL, status);
    printf("  %s, timeout INFINITY: parc_map returned %s, task 0 %s\n",
           test_backend_name(backends[b]), parc_status_name(rc), parc_status_name(status[0]));
    CHECK_OK(rc);
    for (int i = 0; i < 8; i++) CHECK_INT(2 * in[i], out[i]);
    parc_pool_destroy(pool);
  }
  /* The longest timeout there is still counts. */
  parc_config longest = test_config(PARC_PROCESSES, 1);
  longest.timeout = 1e9;
  parc_pool *pool = test_pool_if_built(&longest);
  if (pool) {
    CHECK_OK(parc_map(pool, twice, in, sizeof in[0], out, sizeof out[0], 8, NULL, status));
    parc_pool_destroy(pool);
  }
  pool = (parc_pool *)in;
  double huge[] = {1e11, 1e300, 2e9};
  for (size_t i = 0; i < sizeof huge / sizeof huge[0]; i++) {
    parc_config cfg = test_config(PARC_PROCESSES, 1);
    cfg.timeout = huge[i];
    CHECK_ERROR(PARC_EINVAL, "beyond 1e+09 s", parc_pool_create(&pool, &cfg));
    CHECK(pool == NULL);
  }
  parc_config cfg = test_config(PARC_PROCESSES, 1);
  cfg.timeout = -INFINITY;
  CHECK_ERROR(PARC_EINVAL, "timeout must be >= 0", parc_pool_create(&pool, &cfg));
  cfg.timeout = NAN;
  CHECK_ERROR(PARC_EINVAL, "timeout must be >= 0", parc_pool_create(&pool, &cfg));
}

static int slow(const void *in, void *out, parc_task *t) {
  (void)in, (void)out, (void)t;
  struct timespec ts = {0, 20000000};
  nanosleep(&ts, NULL);
  return 0;
}

/* A NaN timeout is a mistake, not "forever". */
TEST(nan_timeouts_of_next_and_wait_are_refused) {
  parc_pool *pool = test_pool(PARC_THREADS, 1);
  parc_group *g;
  CHECK_OK(parc_group_create(&g, pool, NULL));
  int in[2] = {0}, out[2];
  CHECK_OK(parc_group_map(g, slow, in, sizeof in[0], out, sizeof out[0], 2));
  size_t index = 99;
  CHECK_ERROR(PARC_EINVAL, "parc_group_next: timeout is NaN", parc_group_next(g, NAN, &index));
  CHECK_SIZE(99, index);
  CHECK_ERROR(PARC_EINVAL, "parc_group_wait: timeout is NaN", parc_group_wait(g, NAN));
  CHECK_ERROR(PARC_EINVAL, "parc_group_wait: timeout is NaN", parc_group_wait(g, -NAN));
  /* Infinity still waits, and both tasks are there to be reported. */
  CHECK_OK(parc_group_wait(g, INFINITY));
  CHECK_OK(parc_group_next(g, INFINITY, &index));
  CHECK_OK(parc_group_next(g, -1, &index));
  CHECK_INT(PARC_DONE, parc_group_next(g, 0, &index));
  parc_group_destroy(g);
  parc_pool_destroy(pool);
}

TEST(worker_count_rules) {
  int cpus = parc_cpu_count();
  int requested[] = {0, -1, -2, -4096, 3, 4096};
  int expected[] = {cpus, cpus, cpus - 1 > 1 ? cpus - 1 : 1, 1, 3, 4096};
  for (int i = 0; i < 6; i++) {
    if (requested[i] == 4096) continue; /* 4096 threads is legal but slow to start here */
    parc_pool *pool = test_pool(PARC_THREADS, requested[i]);
    CHECK_INT(expected[i], parc_pool_size(pool));
    parc_pool_destroy(pool);
  }
  CHECK_INT(0, parc_pool_size(NULL));
}

TEST(serial_has_one_worker) {
  parc_config cfg = test_config(PARC_SERIAL, 8);
  parc_pool *pool = test_pool_config(&cfg);
  CHECK_INT(1, parc_pool_size(pool));
  CHECK_INT(PARC_SERIAL, parc_pool_backend(pool));
  parc_pool_destroy(pool);
}

TEST(mpi_without_mpi_says_what_to_install) {
  parc_config cfg;
  parc_config_default(&cfg);
  cfg.backend = PARC_MPI;
  parc_pool *pool;
  int rc = parc_pool_create(&pool, &cfg);
  if (rc == PARC_OK) {
    parc_pool_destroy(pool);
    return;
  }
  CHECK_ERROR(PARC_EBACKEND, "libopenmpi-dev", rc);
}

TEST(group_and_map_reject_bad_arguments) {
  parc_pool *pool = test_pool(PARC_THREADS, 2);
  parc_group *g;
  double x[4] = {0}, y[4];
  CHECK_ERROR(PARC_EINVAL, "g is NULL", parc_group_create(NULL, pool, NULL));
  CHECK_ERROR(PARC_EINVAL, "pool is NULL", parc_group_create(&g, NULL, NULL));
  parc_options bad_context = {.context = NULL, .context_size = 8};
  CHECK_ERROR(PARC_EINVAL, "context is NULL", parc_group_create(&g, pool, &bad_context));
  CHECK_OK(parc_group_create(&g, pool, NULL));
  CHECK_ERROR(PARC_EINVAL, "fn is NULL", parc_group_submit(g, NULL, x, 8, y, 8, NULL));
  CHECK_ERROR(PARC_EINVAL, "g is NULL", parc_group_submit(NULL, noop, x, 8, y, 8, NULL));
  CHECK_ERROR(PARC_EINVAL, "in is NULL but in_size is 8", parc_group_submit(g, noop, NULL, 8, y, 8, NULL));
  CHECK_ERROR(PARC_EINVAL, "out is NULL but out_size is 8", parc_group_submit(g, noop, x, 8, NULL, 8, NULL));
  CHECK_ERROR(PARC_EINVAL, "fn is NULL", parc_group_map(g, NULL, x, 8, y, 8, 4));
  CHECK_ERROR(PARC_EINVAL, "in is NULL", parc_group_map(g, noop, NULL, 8, y, 8, 4));
  CHECK_ERROR(PARC_EINVAL, "overflows", parc_group_map(g, noop, x, SIZE_MAX / 2, y, 8, 4));
  CHECK_ERROR(PARC_EINVAL, "overflows", parc_group_map(g, noop, x, 8, y, SIZE_MAX / 3, 4));
  CHECK_ERROR(PARC_EINVAL, "g is NULL", parc_group_next(NULL, 0, NULL));
  CHECK_ERROR(PARC_EINVAL, "g is NULL", parc_group_wait(NULL, 0));
  /* Nothing was submitted by the failed calls. */
  size_t index;
  CHECK_INT(PARC_DONE, parc_group_next(g, 0, &index));
  CHECK_INT(PARC_EINVAL, parc_group_status(g, 0));
  CHECK_INT(PARC_EINVAL, parc_group_status(NULL, 0));
  CHECK(parc_group_message(g, 0) == NULL);
  CHECK(parc_group_message(NULL, 0) == NULL);
  CHECK_SIZE(0, parc_group_failed(NULL));
  parc_group_cancel(NULL);
  parc_group_destroy(NULL);
  parc_group_destroy(g);
  CHECK_ERROR(PARC_EINVAL, "pool is NULL", parc_map(NULL, noop, x, 8, y, 8, 4, NULL, NULL));
  CHECK_ERROR(PARC_EINVAL, "fn is NULL", parc_map(pool, NULL, x, 8, y, 8, 4, NULL, NULL));
  CHECK_ERROR(PARC_EINVAL, "overflows", parc_map(pool, noop, x, 16, y, 8, SIZE_MAX / 8, NULL, NULL));
  parc_pool_destroy(pool);
  parc_pool_destroy(NULL);
}

static void *other_thread_error(void *arg) {
  (void)arg;
  parc_pool *pool;
  parc_config cfg;
  parc_config_default(&cfg);
  cfg.workers = 9999;
  parc_pool_create(&pool, &cfg);
  return NULL;
}

TEST(errmsg_is_per_thread) {
  CHECK_STR("", parc_errmsg());
  parc_group *g;
  CHECK_INT(PARC_EINVAL, parc_group_create(&g, NULL, NULL));
  pthread_t t;
  pthread_create(&t, NULL, other_thread_error, NULL);
  pthread_join(t, NULL);
  CHECK_STR("parc_group_create: pool is NULL", parc_errmsg());
}

TEST(status_names) {
  int codes[] = {PARC_OK, PARC_DONE, PARC_PENDING, PARC_EINVAL, PARC_ENOMEM, PARC_ESYS,
                 PARC_ETASK, PARC_ECRASH, PARC_ETIMEDOUT, PARC_ECANCELED, PARC_EDEPENDENCY,
                 PARC_EBACKEND};
  const char *names[] = {"PARC_OK", "PARC_DONE", "PARC_PENDING", "PARC_EINVAL", "PARC_ENOMEM",
                         "PARC_ESYS", "PARC_ETASK", "PARC_ECRASH", "PARC_ETIMEDOUT",
                         "PARC_ECANCELED", "PARC_EDEPENDENCY", "PARC_EBACKEND"};
  for (int i = 0; i < 12; i++) {
    CHECK(strncmp(parc_strerror(codes[i]), names[i], strlen(names[i])) == 0);
    CHECK_STR(names[i], parc_status_name(codes[i]));
  }
  CHECK_STR("unknown parc status", parc_strerror(12345));
  CHECK_STR("PARC_UNKNOWN", parc_status_name(12345));
  CHECK_STR("PARC_UNKNOWN", parc_status_name(-10));
}

/* A misspelled variable must not silently run with the default. */
TEST(misspelled_environment_variables_fail_pool_create) {
  static const char *const cases[][3] = {
      {"PARC_BACKEND", "proceses", "PARC_BACKEND=proceses"},
      {"PARC_WORKERS", "two", "PARC_WORKERS=two"},
      {"PARC_WORKERS", "5000", "PARC_WORKERS=5000"},
      {"PARC_VERBOSE", "3", "PARC_VERBOSE=3"},
      {"PARC_START", "spawn", "PARC_START=spawn"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    setenv(cases[i][0], cases[i][1], 1);
    parc_pool *pool = (parc_pool *)cases;
    CHECK_ERROR(PARC_EINVAL, cases[i][2], parc_pool_create(&pool, NULL));
    CHECK(pool == NULL);
    parc_config cfg;
    parc_config_default(&cfg);
    CHECK_ERROR(PARC_EINVAL, cases[i][2], parc_pool_create(&pool, &cfg));
    unsetenv(cases[i][0]);
  }
  setenv("PARC_START", "EXEC", 1);
  setenv("PARC_BACKEND", "serial", 1);
  parc_pool *pool;
  CHECK_OK(parc_pool_create(&pool, NULL));
  parc_pool_destroy(pool);
}

TEST(environment_overrides_defaults) {
  parc_config cfg;
  setenv("PARC_BACKEND", "serial", 1);
  setenv("PARC_WORKERS", "-1", 1);
  setenv("PARC_VERBOSE", "2", 1);
  parc_config_default(&cfg);
  CHECK_INT(PARC_SERIAL, cfg.backend);
  CHECK_INT(-1, cfg.workers);
  CHECK_INT(2, cfg.verbose);
  setenv("PARC_BACKEND", "Processes", 1);
  setenv("PARC_WORKERS", "7", 1);
  setenv("PARC_VERBOSE", "0", 1);
  parc_config_default(&cfg);
  CHECK_INT(PARC_PROCESSES, cfg.backend);
  CHECK_INT(7, cfg.workers);
  CHECK_INT(0, cfg.verbose);
  /* Garbage is ignored, leaving the defaults. */
  setenv("PARC_BACKEND", "gpu", 1);
  setenv("PARC_WORKERS", "many", 1);
  setenv("PARC_VERBOSE", "9", 1);
  parc_config_default(&cfg);
  CHECK_INT(PARC_THREADS, cfg.backend);
  CHECK_INT(0, cfg.workers);
  CHECK_INT(0, cfg.verbose);
  CHECK_INT(0, cfg.timeout);
  CHECK_INT(0, cfg.retries);
  CHECK(cfg.worker_init == NULL);
}

TEST(cpu_count_follows_the_affinity_mask) {
  int all = parc_cpu_count();
  CHECK(all >= 1);
  cpu_set_t one;
  CPU_ZERO(&one);
  CPU_SET(sched_getcpu() >= 0 ? sched_getcpu() : 0, &one);
  CHECK_INT(0, sched_setaffinity(0, sizeof one, &one));
  CHECK_INT(1, parc_cpu_count());
  parc_config cfg;
  parc_config_default(&cfg);
  parc_pool *pool;
  CHECK_OK(parc_pool_create(&pool, &cfg));
  CHECK_INT(1, parc_pool_size(pool));
  parc_pool_destroy(pool);
}

int main(int argc, char **argv) { return harness_main(argc, argv); }
