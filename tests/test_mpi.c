/* PARC_MPI under mpirun: the same results as SERIAL, in one program.
 *
 * Run as `mpirun -n N test_mpi CASE` (tests/mpi.cmake registers each CASE
 * under -n 3 and -n 5). Every rank creates the one MPI pool; ranks other
 * than 0 serve inside parc_pool_create and leave the process when rank 0
 * destroys it. Rank 0 runs the case against that pool and against a SERIAL
 * pool made beside it, and compares. A case fails with _exit(1) on rank 0
 * (FAIL_AT), which makes mpirun end the job with a non-zero status.
 * PARC_MPI_LOCAL=threads: leaders' pools are threads (no timeout; the crash
 * and hang cases pass without checking). PARC_TEST_MPI_INIT=1: the program calls MPI_Init_thread itself first
 * (and MPI_Finalize at the end), the other way a program may start.
 * Without MPI in libparc or mpirun on the machine the suite is skipped. */
#include <parc.h>
#include <math.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <time.h>
#include <unistd.h>
#ifdef PARC_TEST_HAVE_MPI
#include <mpi.h>
#endif

#include "fixture.h"
#include "harness.h"

static parc_pool *mpi_pool, *serial_pool;

/* PARC_MPI_LOCAL=threads: leaders run tasks on threads, which contain
   neither crashes nor hangs: those cases have nothing to check there. */
static bool local_threads(void) {
  const char *s = getenv("PARC_MPI_LOCAL");
  return s && strcmp(s, "threads") == 0;
}

static void sleep_ms(int ms) {
  struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
  nanosleep(&ts, NULL);
}

/* ---- tasks ----------------------------------------------------------------- */

typedef struct draw { double x, u, n; size_t index; } draw;

/* Reads its input and the context, draws from its stream. */
static int mix(const void *in, void *out, parc_task *t) {
  size_t size = 0;
  const double *scale = parc_task_context(t, &size);
  draw *d = out;
  d->x = *(const double *)in * (size == sizeof(double) ? *scale : 1.0);
  d->u = parc_rng_uniform(parc_task_rng(t));
  d->n = parc_rng_normal(parc_task_rng(t), 0, 1);
  d->index = parc_task_index(t);
  return 0;
}

static int fail_some(const void *in, void *out, parc_task *t) {
  int x = *(const int *)in;
  if (x % 97 == 0) return parc_fail(t, "x=%d is a multiple of 97", x);
  if (x % 89 == 0) return 3;
  *(int *)out = 2 * x;
  return 0;
}

static int crash_one_in_20(const void *in, void *out, parc_task *t) {
  (void)t;
  int x = *(const int *)in;
  if (x % 20 == 7) raise(SIGSEGV);
  *(int *)out = x * 3 + 1;
  return 0;
}

static int sleep_task(const void *in, void *out, parc_task *t) {
  sleep_ms(*(const int *)in);
  *(size_t *)out = parc_task_index(t);
  return 0;
}

/* ---- helpers --------------------------------------------------------------- */

static void map_both(parc_fn fn, const void *in, size_t in_size, void *out_mpi, void *out_serial,
                     size_t out_size, size_t n, const parc_options *opt, int *st_mpi,
                     int *st_serial, int *rc_mpi, int *rc_serial) {
  *rc_mpi = parc_map(mpi_pool, fn, in, in_size, out_mpi, out_size, n, opt, st_mpi);
  *rc_serial = parc_map(serial_pool, fn, in, in_size, out_serial, out_size, n, opt, st_serial);
}

/* ---- cases ----------------------------------------------------------------- */

TEST(map_gives_serial_bits_for_every_batch_size) {
  enum { N = 20011 };
  static double x[N];
  static draw a[N], b[N];
  for (int i = 0; i < N; i++) x[i] = i * 0.25 - 7;
  size_t batches[] = {0, 1, 7, 1000, 100000};
  for (size_t k = 0; k < sizeof batches / sizeof batches[0]; k++) {
    memset(a, 0, sizeof a);
    memset(b, 0xff, sizeof b);
    parc_options opt = {.batch = batches[k], .seed = 42 + k};
    int ra, rb;
    size_t n = batches[k] == 1 ? 2000 : N;
    map_both(mix, x, sizeof x[0], a, b, sizeof a[0], n, &opt, NULL, NULL, &ra, &rb);
    CHECK_OK(ra);
    CHECK_OK(rb);
    for (size_t i = 0; i < n; i++)
      if (memcmp(&a[i], &b[i], sizeof a[i]) != 0)
        FAIL_AT("batch %zu: task %zu: mpi (%g, %.17g, %zu) serial (%g, %.17g, %zu)", batches[k], i,
                a[i].x, a[i].u, a[i].index, b[i].x, b[i].u, b[i].index);
  }
  CHECK(parc_pool_size(mpi_pool) >= 1);
  CHECK_INT(PARC_MPI, parc_pool_backend(mpi_pool));
}

TEST(failures_and_messages_match_serial) {
  enum { N = 5000 };
  static int x[N], ya[N], yb[N], sa[N], sb[N];
  for (int i = 0; i < N; i++) x[i] = i + 1;
  int ra, rb;
  map_both(fail_some, x, sizeof x[0], ya, yb, sizeof ya[0], N, NULL, sa, sb, &ra, &rb);
  CHECK_INT(rb, ra);
  CHECK_INT(PARC_ETASK, ra);
  CHECK(strstr(parc_errmsg(), "task 88 failed") != NULL);
  for (int i = 0; i < N; i++) {
    CHECK_INT(sb[i], sa[i]);
    if (sa[i] == PARC_OK) CHECK_INT(yb[i], ya[i]);
  }
  /* The messages, through a group. */
  parc_group *g;
  CHECK_OK(parc_group_create(&g, mpi_pool, NULL));
  CHECK_OK(parc_group_map(g, fail_some, x, sizeof x[0], ya, sizeof ya[0], N));
  CHECK_INT(PARC_ETASK, parc_group_wait(g, -1));
  size_t failed = 0;
  for (int i = 0; i < N; i++) {
    int v = i + 1;
    if (v % 97 == 0) {
      char want[64];
      snprintf(want, sizeof want, "x=%d is a multiple of 97", v);
      CHECK_STR(want, parc_group_message(g, (size_t)i));
      failed++;
    } else if (v % 89 == 0) {
      CHECK_STR("task returned 3", parc_group_message(g, (size_t)i));
      failed++;
    } else {
      CHECK(parc_group_message(g, (size_t)i) == NULL);
    }
  }
  CHECK_SIZE(failed, parc_group_failed(g));
  parc_group_destroy(g);
}

TEST(next_reports_completion_order_across_ranks) {
  parc_group *g;
  parc_options opt = {.batch = 1};
  CHECK_OK(parc_group_create(&g, mpi_pool, &opt));
  int slow = 1500, fast = 1;
  size_t out[8];
  size_t index;
  CHECK_OK(parc_group_submit(g, sleep_task, &slow, sizeof slow, &out[0], sizeof out[0], NULL));
  for (int i = 1; i < 8; i++)
    CHECK_OK(parc_group_submit(g, sleep_task, &fast, sizeof fast, &out[i], sizeof out[i], NULL));
  bool seen[8] = {false};
  size_t first = SIZE_MAX;
  for (int i = 0; i < 8; i++) {
    CHECK_OK(parc_group_next(g, -1, &index));
    CHECK(index < 8 && !seen[index]);
    seen[index] = true;
    if (i == 0) first = index;
  }
  CHECK_INT(PARC_DONE, parc_group_next(g, -1, &index));
  CHECK(first != 0);   /* a fast task on another slot came back before the slow one */
  for (size_t i = 0; i < 8; i++) CHECK_SIZE(i, out[i]);
  parc_group_destroy(g);
}

TEST(context_reaches_every_rank_and_changes_with_the_group) {
  enum { N = 3000 };
  static double x[N];
  static draw a[N], b[N];
  for (int i = 0; i < N; i++) x[i] = i;
  double scale = 3.0;
  for (int round = 0; round < 3; round++) {
    parc_options opt = {.context = &scale, .context_size = sizeof scale};
    int ra, rb;
    map_both(mix, x, sizeof x[0], a, b, sizeof a[0], N, &opt, NULL, NULL, &ra, &rb);
    CHECK_OK(ra);
    for (int i = 0; i < N; i++) CHECK(a[i].x == x[i] * scale && a[i].x == b[i].x);
    scale += 1.5;   /* the same buffer, new bytes: every rank must see them */
  }
  /* No context at all after one. */
  int ra, rb;
  map_both(mix, x, sizeof x[0], a, b, sizeof a[0], N, NULL, NULL, NULL, &ra, &rb);
  for (int i = 0; i < N; i++) CHECK(a[i].x == x[i]);
}

TEST(stop_on_error_and_cancel_reach_tasks_not_started) {
  enum { N = 400 };
  static int ms[N];
  static size_t out[N];
  for (int i = 0; i < N; i++) ms[i] = 20;
  parc_group *g;
  parc_options opt = {.batch = 1};
  CHECK_OK(parc_group_create(&g, mpi_pool, &opt));
  CHECK_OK(parc_group_map(g, sleep_task, ms, sizeof ms[0], out, sizeof out[0], N));
  sleep_ms(100);
  parc_group_cancel(g);
  CHECK_INT(PARC_ECANCELED, parc_group_wait(g, -1));
  size_t canceled = 0, ok = 0;
  for (int i = 0; i < N; i++) {
    int s = parc_group_status(g, (size_t)i);
    canceled += s == PARC_ECANCELED;
    ok += s == PARC_OK;
    if (s == PARC_OK) CHECK_SIZE((size_t)i, out[i]);
  }
  CHECK_SIZE((size_t)N, canceled + ok);
  CHECK(canceled > N / 2);
  parc_group_destroy(g);

  static int x[N], y[N], st[N];
  for (int i = 0; i < N; i++) x[i] = 97 * (i + 1);   /* every task fails */
  parc_options stop = {.stop_on_error = 1, .batch = 4};
  int rc = parc_map(mpi_pool, fail_some, x, sizeof x[0], y, sizeof y[0], N, &stop, st);
  CHECK_INT(PARC_ETASK, rc);
  size_t failed = 0;
  for (int i = 0; i < N; i++) failed += st[i] == PARC_ETASK;
  CHECK(failed >= 1 && failed < N);
  /* The next stop_on_error map, with the same options, starts afresh on
     every leader: nothing of the stop above is left. */
  for (int i = 0; i < N; i++) x[i] = 1 + i % 50;   /* no multiple of 89 or 97 */
  for (int i = 0; i < N; i++) CHECK(x[i] % 89 != 0 && x[i] % 97 != 0);
  CHECK_OK(parc_map(mpi_pool, fail_some, x, sizeof x[0], y, sizeof y[0], N, &stop, st));
  for (int i = 0; i < N; i++) CHECK_INT(2 * x[i], y[i]);
}

/* One batch holds every task, so rank 0 has nothing left to cancel itself:
   the cancellation must travel to the leader running it. */
TEST(cancel_reaches_a_batch_already_on_a_leader) {
  enum { N = 200 };
  static int ms[N];
  static size_t out[N];
  for (int i = 0; i < N; i++) ms[i] = 20;
  parc_group *g;
  parc_options opt = {.batch = N};
  CHECK_OK(parc_group_create(&g, mpi_pool, &opt));
  CHECK_OK(parc_group_map(g, sleep_task, ms, sizeof ms[0], out, sizeof out[0], N));
  sleep_ms(150);
  parc_group_cancel(g);
  CHECK_INT(PARC_ECANCELED, parc_group_wait(g, -1));
  size_t canceled = 0;
  for (int i = 0; i < N; i++) canceled += parc_group_status(g, (size_t)i) == PARC_ECANCELED;
  if (canceled < N / 2) FAIL_AT("only %zu of %d tasks were cancelled", canceled, N);
  parc_group_destroy(g);
}

TEST(a_segfaulting_task_is_one_failed_task) {
  if (local_threads()) return;
  enum { N = 2000 };
  static int x[N], y[N], st[N];
  for (int i = 0; i < N; i++) x[i] = i;
  int rc = parc_map(mpi_pool, crash_one_in_20, x, sizeof x[0], y, sizeof y[0], N, NULL, st);
  CHECK_INT(PARC_ECRASH, rc);
  CHECK(strstr(parc_errmsg(), "signal 11") != NULL);
  CHECK(strstr(parc_errmsg(), "MPI rank") != NULL);
  for (int i = 0; i < N; i++) {
    if (i % 20 == 7) {
      CHECK_INT(PARC_ECRASH, st[i]);
    } else {
      CHECK_INT(PARC_OK, st[i]);
      CHECK_INT(i * 3 + 1, y[i]);
    }
  }
}

/* Crashes on its first try only: a file per index (in the directory the
   context names) says it has been tried. */
static int crash_on_first_try(const void *in, void *out, parc_task *t) {
  size_t size;
  const char *dir = parc_task_context(t, &size);
  char path[256];
  snprintf(path, sizeof path, "%s/%d", dir, *(const int *)in);
  FILE *f = fopen(path, "wx");
  if (f) {
    fclose(f);
    raise(SIGSEGV);
  }
  *(int *)out = *(const int *)in + 1;
  return 0;
}

TEST(a_task_that_crashes_once_is_retried_on_its_leader) {
  if (local_threads()) return;
  char dir[] = "/tmp/parc-test-mpi-retry-XXXXXX";
  CHECK(mkdtemp(dir) != NULL);
  enum { N = 6 };
  int x[N], y[N], st[N];
  for (int i = 0; i < N; i++) x[i] = i;
  parc_options opt = {.context = dir, .context_size = sizeof dir, .batch = 1};
  CHECK_OK(parc_map(mpi_pool, crash_on_first_try, x, sizeof x[0], y, sizeof y[0], N, &opt, st));
  for (int i = 0; i < N; i++) CHECK_INT(i + 1, y[i]);
  char cmd[128];
  snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
  CHECK_INT(0, system(cmd));
}

TEST(a_hung_task_times_out_alone) {
  if (local_threads()) return;
  int ms[4] = {5, 60000, 5, 5};
  size_t out[4] = {0};
  int st[4];
  int rc = parc_map(mpi_pool, sleep_task, ms, sizeof ms[0], out, sizeof out[0], 4,
                    &(parc_options){.batch = 1}, st);
  CHECK_INT(PARC_ETIMEDOUT, rc);
  CHECK_INT(PARC_ETIMEDOUT, st[1]);
  CHECK_INT(PARC_OK, st[0]);
  CHECK_INT(PARC_OK, st[2]);
  CHECK_INT(PARC_OK, st[3]);
  CHECK_SIZE(3, out[3]);
}

static int add_deps(const void *in, void *out, parc_task *t) {
  double sum = *(const double *)in;
  for (size_t k = 0; k < parc_task_ndeps(t); k++) {
    size_t size;
    const double *d = parc_task_dep(t, k, &size);
    sum = sum * 1.5 + *d;
  }
  *(double *)out = sum + parc_rng_uniform(parc_task_rng(t));
  return 0;
}

static void run_graph(parc_pool *pool, double *results, size_t n) {
  parc_graph *g;
  CHECK_OK(parc_graph_create(&g, pool, NULL));
  for (size_t i = 0; i < n; i++) {
    double v = (double)i;
    parc_node deps[2] = {i / 2, i > 2 ? i - 3 : 0};
    size_t nd = i == 0 ? 0 : i < 3 ? 1 : 2;
    parc_node node;
    CHECK_OK(parc_graph_add(g, add_deps, &v, sizeof v, sizeof(double), deps, nd, &node));
  }
  CHECK_OK(parc_graph_run(g));
  for (size_t i = 0; i < n; i++) {
    const void *out;
    size_t size;
    CHECK_OK(parc_graph_result(g, i, &out, &size));
    results[i] = *(const double *)out;
  }
  parc_graph_destroy(g);
}

TEST(graphs_give_serial_bits) {
  enum { N = 60 };
  double a[N], b[N];
  run_graph(mpi_pool, a, N);
  run_graph(serial_pool, b, N);
  for (int i = 0; i < N; i++)
    if (memcmp(&a[i], &b[i], sizeof a[i]) != 0) FAIL_AT("node %d: mpi %.17g serial %.17g", i, a[i], b[i]);
}

static void add_double(void *acc, const void *part, void *arg) {
  (void)arg;
  *(double *)acc += *(const double *)part;
}

static int draw_one(const void *in, void *out, parc_task *t) {
  (void)in;
  *(double *)out = parc_rng_normal(parc_task_rng(t), 1, 2);
  return 0;
}

TEST(map_reduce_gives_serial_bits) {
  double a = 0, b = 0;
  CHECK_OK(parc_map_reduce(mpi_pool, draw_one, NULL, 0, 100000, sizeof(double), add_double, NULL,
                           &a, NULL));
  CHECK_OK(parc_map_reduce(serial_pool, draw_one, NULL, 0, 100000, sizeof(double), add_double,
                           NULL, &b, NULL));
  if (memcmp(&a, &b, sizeof a) != 0) FAIL_AT("mpi %.17g serial %.17g", a, b);
}

static int count_calls(const void *in, void *out, parc_task *t) {
  (void)t;
  *(int *)out = *(const int *)in + 1000;
  return 0;
}

TEST(the_cache_answers_on_rank_0_before_dispatch) {
  char dir[] = "/tmp/parc-test-mpi-XXXXXX";
  CHECK(mkdtemp(dir) != NULL);
  parc_cache *cache;
  CHECK_OK(parc_cache_open(&cache, dir, NULL));
  enum { N = 3000 };
  static int x[N], y[N];
  for (int i = 0; i < N; i++) x[i] = i;
  parc_options opt = {.cache = cache, .cache_name = "count_calls"};
  CHECK_OK(parc_map(mpi_pool, count_calls, x, sizeof x[0], y, sizeof y[0], N / 2, &opt, NULL));
  parc_group *g;
  CHECK_OK(parc_group_create(&g, mpi_pool, &opt));
  CHECK_OK(parc_group_map(g, count_calls, x, sizeof x[0], y, sizeof y[0], N));
  CHECK_OK(parc_group_wait(g, -1));
  parc_group_info info;
  CHECK_OK(parc_group_stats(g, &info));
  CHECK_SIZE(N / 2, info.cached);   /* the first half resumes from the cache */
  for (int i = 0; i < N; i++) CHECK_INT(i + 1000, y[i]);
  parc_group_destroy(g);
  parc_cache_close(cache);
  char cmd[128];
  snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
  CHECK_INT(0, system(cmd));
}

#ifdef PARC_TEST_HAVE_MPI
/* --lose-a-rank (tests/mpi.cmake's mpi_lost_rank): a task kills its leader
   (the parent of its worker's fork server). Open MPI ends the job; rank 0
   must say which tasks each leader held rather than hang. */
static int kill_leader(const void *in, void *out, parc_task *t) {
  (void)out;
  (void)t;
  if (*(const int *)in != 5) {
    sleep_ms(50);
    return 0;
  }
  char path[64];
  snprintf(path, sizeof path, "/proc/%d/stat", (int)getppid());
  FILE *f = fopen(path, "r");
  int pid = 0, ppid = 0;
  char comm[256], state;
  if (f && fscanf(f, "%d %255s %c %d", &pid, comm, &state, &ppid) == 4 && ppid > 1) kill(ppid, SIGKILL);
  if (f) fclose(f);
  sleep_ms(60000);
  return 0;
}

static void lose_a_rank(void) {
  enum { N = 100 };
  static int x[N], y[N];
  for (int i = 0; i < N; i++) x[i] = i;
  parc_map(mpi_pool, kill_leader, x, sizeof x[0], y, sizeof y[0], N, &(parc_options){.batch = 1}, NULL);
  FAIL_AT("the map returned although a leader was killed");
}

/* Records of any size: task i reads i % 37 * 13 bytes and returns twice as
   many (its input, then the input reversed), sized by the task. */
static int mirror(const void *in, void *out, parc_task *t) {
  (void)out;
  size_t n = parc_task_input_size(t);
  char *r = parc_task_output(t, 2 * n);
  if (!r) return parc_fail(t, "no memory for %zu bytes", 2 * n);
  for (size_t i = 0; i < n; i++) r[i] = r[2 * n - 1 - i] = ((const char *)in)[i];
  if (n == 13 * 5) return parc_fail(t, "input of %zu bytes refused", n);
  return 0;
}

static void map_mirrors(parc_pool *pool, parc_group **g, const parc_buf *in, size_t n, int stream) {
  parc_options opt = {.stream = stream, .batch = stream ? 3 : 0};
  CHECK_OK(parc_group_create(g, pool, &opt));
  CHECK_OK(parc_group_map_bufs(*g, mirror, in, n));
}

TEST(records_of_any_size_and_streams_give_serial_results) {
  enum { N = 500 };
  static parc_buf in[N];
  static char bytes[N][37 * 13];
  for (int i = 0; i < N; i++) {
    for (int j = 0; j < 37 * 13; j++) bytes[i][j] = (char)(i * 7 + j);
    in[i] = (parc_buf){bytes[i], (size_t)(i % 37) * 13};
  }
  parc_group *a, *b;
  map_mirrors(mpi_pool, &a, in, N, 0);
  map_mirrors(serial_pool, &b, in, N, 0);
  CHECK_INT(parc_group_wait(b, -1), parc_group_wait(a, -1));
  for (size_t i = 0; i < N; i++) {
    CHECK_INT(parc_group_status(b, i), parc_group_status(a, i));
    size_t sa = 0, sb = 0;
    const void *oa = parc_group_output(a, i, &sa), *ob = parc_group_output(b, i, &sb);
    CHECK_SIZE(sb, sa);
    CHECK((oa == NULL) == (ob == NULL));
    if (oa && sa) CHECK(memcmp(oa, ob, sa) == 0);
    if (parc_group_status(a, i) != PARC_OK) CHECK_STR(parc_group_message(b, i), parc_group_message(a, i));
  }
  parc_group_destroy(a);
  parc_group_destroy(b);
  /* A stream: each result readable when next reports it, freed after. */
  map_mirrors(mpi_pool, &a, in, N, 1);
  size_t seen = 0, index;
  int rc;
  while ((rc = parc_group_next(a, -1, &index)) != PARC_DONE) {
    CHECK(index < N);
    size_t size = 0;
    const char *o = parc_group_output(a, index, &size);
    if (parc_group_status(a, index) == PARC_OK) {
      CHECK_SIZE(2 * in[index].size, size);
      if (size) CHECK(o[0] == bytes[index][0] && o[size - 1] == bytes[index][0]);
    }
    seen++;
  }
  CHECK_SIZE((size_t)N, seen);
  parc_group_destroy(a);
}
#endif

/* ---- main: the one MPI pool, then the cases on rank 0 ---------------------- */

int main(int argc, char **argv) {
  if (argc > 1 && strcmp(argv[1], "--list") == 0) return harness_main(argc, argv);
#ifndef PARC_TEST_HAVE_MPI
  printf("  skipped: libparc has no PARC_MPI here\n");
  return HARNESS_SKIP_CODE;
#else
  const char *init = getenv("PARC_TEST_MPI_INIT");
  bool ours = init && strcmp(init, "1") == 0;
  if (ours) {
    int provided;
    MPI_Init_thread(&argc, &argv, MPI_THREAD_SERIALIZED, &provided);
  }
  parc_config cfg = test_config(PARC_MPI, 0);
  cfg.timeout = local_threads() ? 0 : 3;
  cfg.retries = 1;   /* a crash or timeout is tried once more, on its leader */
  CHECK_OK(parc_pool_create(&mpi_pool, &cfg));   /* ranks other than 0 stay inside */
  if (argc > 1 && strcmp(argv[1], "--lose-a-rank") == 0) lose_a_rank();
  serial_pool = test_pool(PARC_SERIAL, 1);
  int failed = 0, ran = 0;
  for (int i = 0; i < harness_count; i++) {
    if (argc > 1 && strcmp(argv[1], harness_tests[i].name) != 0) continue;
    ran++;
    alarm((unsigned)harness_tests[i].seconds * 2);
    harness_tests[i].fn();   /* a failure ends rank 0 with _exit(1): mpirun fails the job */
    printf("ok   %s\n", harness_tests[i].name);
    fflush(stdout);
  }
  alarm(0);
  parc_pool_destroy(serial_pool);
  parc_pool_destroy(mpi_pool);
  if (ours) MPI_Finalize();
  if (ran == 0) fprintf(stderr, "no test named %s\n", argc > 1 ? argv[1] : "(any)");
  return failed || ran == 0;
#endif
}
