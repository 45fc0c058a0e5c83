/* What every backend must do alike: the shared conformance suite. Runs once
   per backend (env PARC_TEST_BACKEND, see fixture.h and core.cmake). */
#include <parc.h>
#include <math.h>
#include <pthread.h>
#include <stdbool.h>
#include <time.h>

#include "fixture.h"
#include "harness.h"

static void sleep_ms(int ms) {
  struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
  nanosleep(&ts, NULL);
}

static int square(const void *in, void *out, parc_task *t) {
  (void)t;
  double x = *(const double *)in;
  *(double *)out = x * x;
  return 0;
}

TEST(map_squares_a_million) {
  parc_pool *pool = test_pool(test_backend(), 0);
  const size_t n = 1000000;
  double *x = malloc(n * sizeof *x), *y = malloc(n * sizeof *y);
  for (size_t i = 0; i < n; i++) x[i] = (double)i, y[i] = -1;
  CHECK_OK(parc_map(pool, square, x, sizeof *x, y, sizeof *y, n, NULL, NULL));
  for (size_t i = 0; i < n; i++)
    if (y[i] != (double)i * (double)i) FAIL_AT("y[%zu] = %g", i, y[i]);
  free(x);
  free(y);
  parc_pool_destroy(pool);
}

TEST(map_with_every_batch_size_gives_the_same_outputs) {
  parc_pool *pool = test_pool(test_backend(), 3);
  const size_t n = 10007;
  double x[10007], y[10007];
  size_t batches[] = {0, 1, 7, 64, 100000};
  for (size_t b = 0; b < sizeof batches / sizeof batches[0]; b++) {
    for (size_t i = 0; i < n; i++) x[i] = (double)i + 0.5, y[i] = 0;
    parc_options opt = {.batch = batches[b]};
    CHECK_OK(parc_map(pool, square, x, sizeof x[0], y, sizeof y[0], n, &opt, NULL));
    for (size_t i = 0; i < n; i++) CHECK(y[i] == x[i] * x[i]);
  }
  parc_pool_destroy(pool);
}

static int fail_multiples_of_97(const void *in, void *out, parc_task *t) {
  int x = *(const int *)in;
  if (x % 97 == 0) return parc_fail(t, "x=%d is a multiple of 97", x);
  if (x % 89 == 0) return 3; /* a bare non-zero return */
  *(int *)out = 2 * x;
  return 0;
}

TEST(failures_with_messages_amid_thousands_of_good_tasks) {
  parc_pool *pool = test_pool(test_backend(), 0);
  enum { N = 5000 };
  static int x[N], y[N], status[N];
  for (int i = 0; i < N; i++) x[i] = i + 1, y[i] = 0;
  int rc = parc_map(pool, fail_multiples_of_97, x, sizeof x[0], y, sizeof y[0], N, NULL, status);
  /* The lowest failing index is x = 89 (index 88), a bare return. */
  CHECK_INT(PARC_ETASK, rc);
  parc_group *g;
  CHECK_OK(parc_group_create(&g, pool, NULL));
  CHECK_OK(parc_group_map(g, fail_multiples_of_97, x, sizeof x[0], y, sizeof y[0], N));
  CHECK_INT(PARC_ETASK, parc_group_wait(g, -1));
  size_t expected_failed = 0;
  for (int i = 0; i < N; i++) {
    int v = i + 1;
    if (v % 97 == 0) {
      char want[64];
      snprintf(want, sizeof want, "x=%d is a multiple of 97", v);
      CHECK_INT(PARC_ETASK, status[i]);
      CHECK_INT(PARC_ETASK, parc_group_status(g, (size_t)i));
      CHECK_STR(want, parc_group_message(g, (size_t)i));
      expected_failed++;
    } else if (v % 89 == 0) {
      CHECK_INT(PARC_ETASK, status[i]);
      CHECK_STR("task returned 3", parc_group_message(g, (size_t)i));
      expected_failed++;
    } else {
      CHECK_INT(PARC_OK, status[i]);
      CHECK_INT(PARC_OK, parc_group_status(g, (size_t)i));
      CHECK(parc_group_message(g, (size_t)i) == NULL);
      CHECK_INT(2 * v, y[i]);
    }
  }
  CHECK_SIZE(expected_failed, parc_group_failed(g));
  parc_group_destroy(g);
  parc_pool_destroy(pool);
}

static int sleep_for(const void *in, void *out, parc_task *t) {
  int ms = *(const int *)in;
  sleep_ms(ms);
  *(size_t *)out = parc_task_index(t);
  return 0;
}

TEST(next_reports_a_fast_task_before_an_earlier_slow_one) {
  if (test_backend() == PARC_SERIAL) return; /* SERIAL runs in index order by contract */
  parc_pool *pool = test_pool(test_backend(), 2);
  parc_group *g;
  parc_options opt = {.batch = 1};
  CHECK_OK(parc_group_create(&g, pool, &opt));
  int slow = 400, fast = 1;
  size_t out[2], index = 99;
  CHECK_OK(parc_group_submit(g, sleep_for, &slow, sizeof slow, &out[0], sizeof out[0], &index));
  CHECK_SIZE(0, index);
  CHECK_OK(parc_group_submit(g, sleep_for, &fast, sizeof fast, &out[1], sizeof out[1], &index));
  CHECK_SIZE(1, index);
  CHECK_INT(PARC_OK, parc_group_next(g, 10, &index));
  CHECK_SIZE(1, index);
  CHECK_SIZE(1, out[1]);
  CHECK_INT(PARC_PENDING, parc_group_status(g, 0));
  CHECK_INT(PARC_OK, parc_group_next(g, 10, &index));
  CHECK_SIZE(0, index);
  CHECK_SIZE(0, out[0]);
  CHECK_INT(PARC_DONE, parc_group_next(g, 10, &index));
  parc_group_destroy(g);
  parc_pool_destroy(pool);
}

TEST(next_reports_every_task_exactly_once) {
  parc_pool *pool = test_pool(test_backend(), 0);
  parc_group *g;
  CHECK_OK(parc_group_create(&g, pool, NULL));
  enum { N = 3000 };
  static double x[N], y[N];
  static int seen[N];
  for (int i = 0; i < N; i++) x[i] = i;
  CHECK_OK(parc_group_map(g, square, x, sizeof x[0], y, sizeof y[0], N / 2));
  for (int i = N / 2; i < N; i++)
    CHECK_OK(parc_group_submit(g, square, &x[i], sizeof x[i], &y[i], sizeof y[i], NULL));
  size_t index;
  int rc, reported = 0;
  while ((rc = parc_group_next(g, 30, &index)) != PARC_DONE) {
    CHECK_INT(PARC_OK, rc);
    CHECK(index < N);
    CHECK_INT(0, seen[index]);
    seen[index] = 1;
    CHECK(y[index] == x[index] * x[index]);
    reported++;
  }
  CHECK_INT(N, reported);
  parc_group_destroy(g);
  parc_pool_destroy(pool);
}

TEST(next_and_wait_time_out) {
  if (test_backend() == PARC_SERIAL) return; /* the caller itself would run it */
  parc_pool *pool = test_pool(test_backend(), 1);
  parc_group *g;
  CHECK_OK(parc_group_create(&g, pool, NULL));
  int ms = 300;
  size_t out, index;
  CHECK_OK(parc_group_submit(g, sleep_for, &ms, sizeof ms, &out, sizeof out, NULL));
  CHECK_ERROR(PARC_ETIMEDOUT, "parc_group_next", parc_group_next(g, 0.02, &index));
  CHECK_ERROR(PARC_ETIMEDOUT, "1 tasks unfinished", parc_group_wait(g, 0));
  CHECK_INT(PARC_OK, parc_group_wait(g, 10));
  parc_group_destroy(g);
  parc_pool_destroy(pool);
}

typedef struct context_data { double scale; char tag[16]; } context_data;

static int use_context(const void *in, void *out, parc_task *t) {
  size_t size = 0;
  const context_data *c = parc_task_context(t, &size);
  if (!c || size != sizeof *c || strcmp(c->tag, "ctx") != 0) return parc_fail(t, "bad context");
  *(double *)out = *(const double *)in * c->scale;
  return 0;
}

TEST(tasks_read_the_group_context) {
  parc_pool *pool = test_pool(test_backend(), 0);
  context_data c = {2.5, "ctx"};
  parc_options opt = {.context = &c, .context_size = sizeof c};
  double x[100], y[100];
  for (int i = 0; i < 100; i++) x[i] = i;
  CHECK_OK(parc_map(pool, use_context, x, sizeof x[0], y, sizeof y[0], 100, &opt, NULL));
  for (int i = 0; i < 100; i++) CHECK(y[i] == 2.5 * i);
  parc_pool_destroy(pool);
}

static int count_calls(const void *in, void *out, parc_task *t) {
  CHECK(in == NULL);
  CHECK(out == NULL);
  return parc_task_index(t) == 5 ? parc_fail(t, "five") : 0;
}

TEST(zero_size_records_and_zero_tasks) {
  parc_pool *pool = test_pool(test_backend(), 0);
  int status[10];
  CHECK_INT(PARC_ETASK, parc_map(pool, count_calls, NULL, 0, NULL, 0, 10, NULL, status));
  for (int i = 0; i < 10; i++) CHECK_INT(i == 5 ? PARC_ETASK : PARC_OK, status[i]);
  CHECK_OK(parc_map(pool, square, NULL, 8, NULL, 8, 0, NULL, NULL));
  parc_group *g;
  size_t index;
  CHECK_OK(parc_group_create(&g, pool, NULL));
  CHECK_INT(PARC_DONE, parc_group_next(g, 0, &index));
  CHECK_INT(PARC_OK, parc_group_wait(g, 0));
  CHECK_OK(parc_group_submit(g, count_calls, NULL, 0, NULL, 0, &index));
  CHECK_INT(PARC_OK, parc_group_next(g, 10, &index));
  CHECK_SIZE(0, index);
  parc_group_destroy(g);
  parc_pool_destroy(pool);
}

static int fill_page(const void *in, void *out, parc_task *t) {
  (void)in;
  unsigned char *page = out;
  for (int i = 0; i < 4096; i++) page[i] = (unsigned char)(parc_task_index(t) * 31 + (size_t)i);
  return 0;
}

TEST(four_kib_outputs) {
  parc_pool *pool = test_pool(test_backend(), 0);
  enum { N = 500 };
  unsigned char *out = malloc((size_t)N * 4096);
  CHECK_OK(parc_map(pool, fill_page, NULL, 0, out, 4096, N, NULL, NULL));
  for (size_t k = 0; k < N; k++)
    for (int i = 0; i < 4096; i++) CHECK(out[k * 4096 + (size_t)i] == (unsigned char)(k * 31 + (size_t)i));
  free(out);
  parc_pool_destroy(pool);
}

static int fail_at_ten(const void *in, void *out, parc_task *t) {
  (void)in;
  (void)out;
  if (parc_task_index(t) == 10) return parc_fail(t, "stop here");
  sleep_ms(2);
  return 0;
}

TEST(stop_on_error_cancels_what_has_not_started) {
  parc_pool *pool = test_pool(test_backend(), 2);
  enum { N = 2000 };
  static int status[N];
  parc_options opt = {.stop_on_error = 1, .batch = 1};
  CHECK_INT(PARC_ETASK, parc_map(pool, fail_at_ten, NULL, 0, NULL, 0, N, &opt, status));
  CHECK_INT(PARC_ETASK, status[10]);
  int canceled = 0, ok = 0;
  for (int i = 0; i < N; i++) {
    if (status[i] == PARC_ECANCELED) canceled++;
    else if (status[i] == PARC_OK) ok++;
    else CHECK(i == 10);
  }
  CHECK(canceled > N - 100); /* at most a few ran beside the failure */
  CHECK_INT(N - 1, canceled + ok);
  parc_pool_destroy(pool);
}

TEST(cancel_turns_unstarted_tasks_into_ECANCELED) {
  parc_pool *pool = test_pool(test_backend(), 1);
  parc_group *g;
  parc_options opt = {.batch = 1};
  CHECK_OK(parc_group_create(&g, pool, &opt));
  int ms = 50;
  size_t out[50];
  for (int i = 0; i < 50; i++)
    CHECK_OK(parc_group_submit(g, sleep_for, &ms, sizeof ms, &out[i], sizeof out[i], NULL));
  if (test_backend() != PARC_SERIAL) sleep_ms(20);
  parc_group_cancel(g);
  int rc = parc_group_wait(g, 30);
  CHECK_INT(PARC_ECANCELED, rc);
  size_t canceled = 0;
  for (size_t i = 0; i < 50; i++) {
    int s = parc_group_status(g, i);
    CHECK(s == PARC_OK || s == PARC_ECANCELED);
    if (s == PARC_ECANCELED) {
      canceled++;
      CHECK(parc_group_message(g, i) != NULL);
    }
  }
  CHECK(canceled >= 45);
  CHECK_SIZE(canceled, parc_group_failed(g));
  /* Later submissions run normally. */
  size_t index;
  ms = 1;
  CHECK_OK(parc_group_submit(g, sleep_for, &ms, sizeof ms, &out[0], sizeof out[0], &index));
  CHECK_SIZE(50, index);
  CHECK_INT(PARC_ECANCELED, parc_group_wait(g, 30));
  CHECK_INT(PARC_OK, parc_group_status(g, 50));
  CHECK_INT(PARC_EINVAL, parc_group_status(g, 51));
  parc_group_destroy(g);
  parc_pool_destroy(pool);
}

TEST(destroy_with_queued_tasks_returns_promptly) {
  parc_pool *pool = test_pool(test_backend(), 1);
  parc_group *g;
  parc_options opt = {.batch = 1};
  CHECK_OK(parc_group_create(&g, pool, &opt));
  int ms = 100;
  size_t out[100];
  for (int i = 0; i < 100; i++)
    CHECK_OK(parc_group_submit(g, sleep_for, &ms, sizeof ms, &out[i], sizeof out[i], NULL));
  parc_group_destroy(g); /* cancels 99 or 100, waits for at most one */
  parc_pool_destroy(pool);
}

/* Monte Carlo draws: bit-identical whatever the backend and worker count. */
static int monte_carlo(const void *in, void *out, parc_task *t) {
  (void)in;
  parc_rng *r = parc_task_rng(t);
  double sum = 0;
  for (int i = 0; i < 100; i++) sum += parc_rng_normal(r, 50, 5) + parc_rng_uniform(r);
  ((double *)out)[0] = sum;
  ((double *)out)[1] = (double)(parc_rng_u64(r) >> 11);
  return 0;
}

static void monte_carlo_on(parc_backend backend, int workers, size_t batch, double *out, size_t n) {
  parc_config cfg = test_config(backend, workers);
  cfg.seed = 1234;
  parc_pool *pool = test_pool_config(&cfg);
  parc_options opt = {.batch = batch};
  CHECK_OK(parc_map(pool, monte_carlo, NULL, 0, out, 2 * sizeof(double), n, &opt, NULL));
  parc_pool_destroy(pool);
}

TEST(monte_carlo_bits_match_serial_for_any_worker_count) {
  enum { N = 4000 };
  static double reference[2 * N], other[2 * N];
  monte_carlo_on(PARC_SERIAL, 1, 0, reference, N);
  int counts[] = {1, 2, 3, 7};
  for (size_t i = 0; i < 4; i++) {
    memset(other, 0, sizeof other);
    monte_carlo_on(test_backend(), counts[i], i == 2 ? 1 : 0, other, N);
    if (memcmp(reference, other, sizeof other) != 0)
      FAIL_AT("outputs with %d workers differ from SERIAL", counts[i]);
  }
  /* A different seed gives different draws. */
  parc_config cfg = test_config(test_backend(), 0);
  cfg.seed = 1234;
  parc_pool *pool = test_pool_config(&cfg);
  parc_options opt = {.seed = 99};
  CHECK_OK(parc_map(pool, monte_carlo, NULL, 0, other, 2 * sizeof(double), N, &opt, NULL));
  CHECK(memcmp(reference, other, sizeof other) != 0);
  parc_pool_destroy(pool);
}

static int report_worker(const void *in, void *out, parc_task *t) {
  (void)in;
  sleep_ms(1);
  *(int *)out = parc_task_worker(t);
  return 0;
}

TEST(task_worker_is_in_range) {
  parc_pool *pool = test_pool(test_backend(), 3);
  int workers = parc_pool_size(pool);
  CHECK_INT(test_backend() == PARC_SERIAL ? 1 : 3, workers);
  int out[60];
  parc_options opt = {.batch = 1};
  CHECK_OK(parc_map(pool, report_worker, NULL, 0, out, sizeof out[0], 60, &opt, NULL));
  for (int i = 0; i < 60; i++) CHECK(out[i] >= 0 && out[i] < workers);
  parc_pool_destroy(pool);
}

static int init_calls;
static void count_init(void *arg) { __atomic_fetch_add((int *)arg, 1, __ATOMIC_SEQ_CST); }

TEST(worker_init_runs_once_per_worker) {
  if (test_backend() == PARC_PROCESSES) return; /* counted across processes in its own suite */
  parc_config cfg = test_config(test_backend(), 3);
  cfg.worker_init = count_init;
  cfg.worker_init_arg = &init_calls;
  parc_pool *pool = test_pool_config(&cfg);
  double x[10] = {0}, y[10];
  CHECK_OK(parc_map(pool, square, x, sizeof x[0], y, sizeof y[0], 10, NULL, NULL));
  parc_pool_destroy(pool);
  CHECK_INT(test_backend() == PARC_SERIAL ? 1 : 3, init_calls);
}

/* Three caller threads share one pool, each with its own groups. */
static parc_pool *shared_pool;

static void *caller(void *arg) {
  int id = (int)(intptr_t)arg;
  enum { N = 20000 };
  double *x = malloc(N * sizeof *x), *y = malloc(N * sizeof *y);
  for (int round = 0; round < 5; round++) {
    for (int i = 0; i < N; i++) x[i] = id * 1000000.0 + i + round;
    parc_options opt = {.batch = (size_t)(round % 3)};
    if (parc_map(shared_pool, square, x, sizeof *x, y, sizeof *y, N, &opt, NULL) != PARC_OK)
      return (void *)1;
    for (int i = 0; i < N; i++)
      if (y[i] != x[i] * x[i]) return (void *)2;
    parc_group *g;
    if (parc_group_create(&g, shared_pool, NULL) != PARC_OK) return (void *)3;
    for (int i = 0; i < 100; i++)
      parc_group_submit(g, square, &x[i], sizeof x[i], &y[i], sizeof y[i], NULL);
    size_t index;
    int reported = 0;
    while (parc_group_next(g, 30, &index) == PARC_OK) reported++;
    parc_group_destroy(g);
    if (reported != 100) return (void *)4;
  }
  free(x);
  free(y);
  return NULL;
}

TEST(three_caller_threads_share_one_pool) {
  shared_pool = test_pool(test_backend(), 2);
  pthread_t threads[3];
  for (int i = 0; i < 3; i++) pthread_create(&threads[i], NULL, caller, (void *)(intptr_t)(i + 1));
  for (int i = 0; i < 3; i++) {
    void *result;
    pthread_join(threads[i], &result);
    CHECK_INT(0, (intptr_t)result);
  }
  parc_pool_destroy(shared_pool);
}

/* Sleeps rather than spins, so that the test does not depend on the two
   workers getting CPUs at once (valgrind runs one thread at a time). */
static int uneven(const void *in, void *out, parc_task *t) {
  int us = *(const int *)in;
  struct timespec ts = {0, (long)us * 1000L};
  nanosleep(&ts, NULL);
  *(int *)out = parc_task_worker(t);
  return 0;
}

TEST(uneven_tasks_are_shared_between_workers) {
  if (test_backend() == PARC_SERIAL) return;
  parc_pool *pool = test_pool(test_backend(), 2);
  enum { N = 200 };
  int us[N], worker[N];
  /* The expensive tasks all sit at the start: a static split would give
     them all to one worker. */
  for (int i = 0; i < N; i++) us[i] = i < 20 ? 5000 : 20;
  CHECK_OK(parc_map(pool, uneven, us, sizeof us[0], worker, sizeof worker[0], N, NULL, NULL));
  int expensive_on[2] = {0, 0};
  for (int i = 0; i < 20; i++) expensive_on[worker[i]]++;
  CHECK(expensive_on[0] > 0 && expensive_on[1] > 0);
  parc_pool_destroy(pool);
}

/* ---- nesting: a task maps on the pool that runs it --------------------- */

static parc_pool *global_pool;   /* filled by parc_pool_create(&global_pool, ...) */

static int inner_square(const void *in, void *out, parc_task *t) {
  (void)t;
  int x = *(const int *)in;
  *(int *)out = x * x;
  return 0;
}

/* Maps 4 inner tasks on the pool (the context's, else the global one) and
   writes their sum; odd outer tasks use a group and parc_group_next. */
static int outer_maps(const void *in, void *out, parc_task *t) {
  size_t size;
  parc_pool *const *context = parc_task_context(t, &size);
  parc_pool *pool = context ? *context : global_pool;
  int base = *(const int *)in, xs[4], ys[4] = {0};
  for (int i = 0; i < 4; i++) xs[i] = base * 10 + i;
  int rc;
  if (base % 2 == 0) {
    rc = parc_map(pool, inner_square, xs, sizeof xs[0], ys, sizeof ys[0], 4, NULL, NULL);
  } else {
    parc_group *g;
    rc = parc_group_create(&g, pool, NULL);
    for (int i = 0; rc == PARC_OK && i < 4; i++)
      rc = parc_group_submit(g, inner_square, &xs[i], sizeof xs[i], &ys[i], sizeof ys[i], NULL);
    size_t index;
    int seen = 0;
    while (rc == PARC_OK && parc_group_next(g, -1, &index) == PARC_OK) seen++;
    if (rc == PARC_OK && seen != 4) rc = parc_fail(t, "inner next reported %d of 4", seen);
    parc_group_destroy(g);
  }
  if (rc) return parc_fail(t, "inner map: %s", parc_errmsg());
  *(int *)out = ys[0] + ys[1] + ys[2] + ys[3];
  return 0;
}

static bool exec_start(void) {
  const char *s = getenv("PARC_START");
  return test_backend() == PARC_PROCESSES && s && strcmp(s, "exec") == 0;
}

/* 8 outer tasks, each mapping 4 inner ones, on 2 workers: every worker is
   busy with an outer task that waits on inner ones. */
static void check_nested(parc_pool *pool, const parc_options *opt) {
  enum { N = 8 };
  int in[N], out[N], status[N];
  for (int i = 0; i < N; i++) in[i] = i, out[i] = -1;
  for (size_t batch = 0; batch <= 1; batch++) {
    parc_options o = *opt;
    o.batch = batch;
    int rc = parc_map(pool, outer_maps, in, sizeof in[0], out, sizeof out[0], N, &o, status);
    if (exec_start()) {
      /* Workers started by exec inherit no memory: a clear failure. */
      CHECK_INT(PARC_ETASK, rc);
      CHECK(strstr(parc_errmsg(), "task 0 failed: inner map:") != NULL);
      continue;
    }
    CHECK_OK(rc);
    for (int i = 0; i < N; i++) {
      int expected = 0;
      for (int k = 0; k < 4; k++) expected += (i * 10 + k) * (i * 10 + k);
      CHECK_INT(expected, out[i]);
    }
  }
}

TEST_WITH_LIMIT(a_task_maps_on_the_pool_that_runs_it, 30) {
  parc_pool *pool = test_pool(test_backend(), 2);
  parc_options opt = {.context = &pool, .context_size = sizeof pool};
  check_nested(pool, &opt);
  parc_pool_destroy(pool);
}

TEST_WITH_LIMIT(a_task_maps_on_a_pool_kept_in_a_global, 30) {
  parc_config cfg = test_config(test_backend(), 2);
  CHECK_OK(parc_pool_create(&global_pool, &cfg));
  parc_options opt = {0};
  check_nested(global_pool, &opt);
  parc_pool_destroy(global_pool);
  global_pool = NULL;
}

/* ---- what parc_map and parc_group_wait say ------------------------------ */

static int fails_at_five(const void *in, void *out, parc_task *t) {
  int x = *(const int *)in;
  if (x == 5 || x == 8) return parc_fail(t, "Cannot process x=%d", x);
  *(int *)out = x;
  return 0;
}

TEST(map_and_wait_name_the_lowest_failed_task_and_its_message) {
  parc_pool *pool = test_pool(test_backend(), 2);
  enum { N = 10 };
  int in[N], out[N];
  for (int i = 0; i < N; i++) in[i] = i;
  /* An unrelated earlier error must not be what the map leaves. */
  CHECK_INT(PARC_EINVAL, parc_pool_create(NULL, NULL));
  CHECK_INT(PARC_ETASK, parc_map(pool, fails_at_five, in, sizeof in[0], out, sizeof out[0], N,
                                 NULL, NULL));
  CHECK(strstr(parc_errmsg(), "task 5 failed: Cannot process x=5") != NULL);
  parc_group *g;
  CHECK_OK(parc_group_create(&g, pool, NULL));
  CHECK_OK(parc_group_map(g, fails_at_five, in, sizeof in[0], out, sizeof out[0], N));
  CHECK_INT(PARC_EINVAL, parc_pool_create(NULL, NULL));
  CHECK_INT(PARC_ETASK, parc_group_wait(g, -1));
  CHECK(strstr(parc_errmsg(), "parc_group_wait: task 5 failed: Cannot process x=5") != NULL);
  CHECK_STR("Cannot process x=8", parc_group_message(g, 8));
  parc_group_destroy(g);
  parc_pool_destroy(pool);
}

/* ---- parc_map_reduce: the same bits whatever runs it ---------------------- */

/* A value whose floating-point sum depends on the order it is added in:
   magnitudes over twenty decades, from the task's own random stream. */
static int draw(const void *in, void *out, parc_task *t) {
  (void)in;
  size_t i = parc_task_index(t);
  if (i == 77777) return parc_fail(t, "task %zu refuses", i);
  double u = parc_rng_uniform(parc_task_rng(t));
  *(double *)out = (u - 0.5) * pow(10.0, (double)(i % 20) - 10.0);
  return 0;
}

static void add(void *acc, const void *part, void *arg) {
  (void)arg;
  *(double *)acc += *(const double *)part;
}

/* parc.h's order, written out again: blocks of B indices (B = 1 for n <=
   4096, else the smallest power of two with ceil(n / B) <= 4096), each
   folded left to right from the identity, then the partials left to right. */
TEST(map_reduce_gives_the_block_fold_bits_for_any_workers_and_batch) {
  enum { N = 60001, B = 16 };
  double expected = 0, partial = 0;
  for (size_t i = 0; i < N; i++) {
    parc_rng r;
    parc_rng_init(&r, 99, i);
    partial += (parc_rng_uniform(&r) - 0.5) * pow(10.0, (double)(i % 20) - 10.0);
    if ((i + 1) % B == 0 || i + 1 == N) expected += partial, partial = 0;
  }
  int workers[] = {1, 2, 3};
  size_t batches[] = {0, 1, 7};
  for (size_t w = 0; w < 3; w++) {
    parc_pool *pool = test_pool(test_backend(), workers[w]);
    for (size_t b = 0; b < 3; b++) {
      double sum = 0;
      parc_options opt = {.seed = 99, .batch = batches[b]};
      CHECK_OK(parc_map_reduce(pool, draw, NULL, 0, N, sizeof(double), add, NULL, &sum, &opt));
      if (memcmp(&sum, &expected, sizeof sum) != 0)
        FAIL_AT("%d workers, batch %zu: %.17g, the block fold gives %.17g", workers[w], batches[b],
                sum, expected);
    }
    parc_pool_destroy(pool);
  }
}

TEST(map_reduce_names_a_failure_and_refuses_bad_arguments) {
  parc_pool *pool = test_pool(test_backend(), 2);
  double sum = 0;
  CHECK_ERROR(PARC_ETASK, "parc_map_reduce: task 77777 failed: task 77777 refuses",
              parc_map_reduce(pool, draw, NULL, 0, 100000, sizeof(double), add, NULL, &sum, NULL));
  CHECK_ERROR(PARC_EINVAL, "combine is NULL",
              parc_map_reduce(pool, draw, NULL, 0, 10, sizeof(double), NULL, NULL, &sum, NULL));
  CHECK_ERROR(PARC_EINVAL, "out_size is 0",
              parc_map_reduce(pool, draw, NULL, 0, 10, 0, add, NULL, &sum, NULL));
  CHECK_ERROR(PARC_EINVAL, "result is NULL",
              parc_map_reduce(pool, draw, NULL, 0, 10, sizeof(double), add, NULL, NULL, NULL));
  CHECK_ERROR(PARC_EINVAL, "pool is NULL",
              parc_map_reduce(NULL, draw, NULL, 0, 10, sizeof(double), add, NULL, &sum, NULL));
  sum = 5;
  CHECK_OK(parc_map_reduce(pool, draw, NULL, 0, 0, sizeof(double), add, NULL, &sum, NULL));
  CHECK(sum == 5);   /* n = 0: the identity stays */
  parc_pool_destroy(pool);
}

/* ---- parc_task_input_size ------------------------------------------------ */

static int input_size(const void *in, void *out, parc_task *t) {
  size_t n = parc_task_input_size(t);
  const char *text = in;
  if (n && text[n - 1] != 'z') return parc_fail(t, "the last of %zu bytes is '%c'", n, text[n - 1]);
  *(size_t *)out = n;
  return 0;
}

TEST(task_input_size_is_each_submits_own_and_the_maps_record_size) {
  parc_pool *pool = test_pool(test_backend(), 2);
  parc_group *g;
  CHECK_OK(parc_group_create(&g, pool, NULL));
  char text[32];
  size_t got[20];
  for (size_t n = 0; n < 20; n++) {
    memset(text, 'a', sizeof text);
    if (n) text[n - 1] = 'z';
    CHECK_OK(parc_group_submit(g, input_size, n ? text : NULL, n, &got[n], sizeof got[n], NULL));
  }
  CHECK_OK(parc_group_wait(g, -1));
  for (size_t n = 0; n < 20; n++) CHECK_SIZE(n, got[n]);
  parc_group_destroy(g);
  char records[10][8];
  memset(records, 'z', sizeof records);
  size_t sizes[10];
  CHECK_OK(parc_map(pool, input_size, records, sizeof records[0], sizes, sizeof sizes[0], 10, NULL,
                    NULL));
  for (int i = 0; i < 10; i++) CHECK_SIZE(8, sizes[i]);
  CHECK_SIZE(0, parc_task_input_size(NULL));
  parc_pool_destroy(pool);
}

int main(int argc, char **argv) { return harness_main(argc, argv); }
