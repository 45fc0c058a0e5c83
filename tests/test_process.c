/* PARC_PROCESSES: fault injection, lifecycle and shared memory. The
   behaviours every backend shares run in test_conformance (registered for
   processes in process.cmake). */
#include <dirent.h>
#include <errno.h>
#include <parc.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <time.h>

#include "census.h"
#include "faults.h"
#include "fixture.h"
#include "harness.h"

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* ---- what is left behind ------------------------------------------------ */

static bool alive(pid_t pid) {
  char path[64], state = 0;
  snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
  FILE *f = fopen(path, "r");
  if (!f) return false;
  int scanned = fscanf(f, "%*d (%*[^)]) %c", &state);
  fclose(f);
  return scanned == 1 && state != 'Z';
}

/* ---- tasks ---------------------------------------------------------------- */

enum { N_FAULTS = 3000 };

static void check_faults(parc_pool *pool, size_t batch) {
  static int in[N_FAULTS], out[N_FAULTS], status[N_FAULTS];
  for (int i = 0; i < N_FAULTS; i++) in[i] = i, out[i] = -1;
  parc_group *g;
  parc_options opt = {.batch = batch};
  CHECK_OK(parc_group_create(&g, pool, &opt));
  CHECK_OK(parc_group_map(g, faulty, in, sizeof in[0], out, sizeof out[0], N_FAULTS));
  CHECK_INT(PARC_ETASK, parc_group_wait(g, 60)); /* the lowest failing index is 7 */
  for (int i = 0; i < N_FAULTS; i++) status[i] = parc_group_status(g, (size_t)i);
  CHECK_INT(PARC_ECRASH, status[SEGV_AT]);
  CHECK_STR("killed by signal 11 (Segmentation fault)", parc_group_message(g, SEGV_AT));
  CHECK_INT(PARC_ECRASH, status[ABORT_AT]);
  CHECK_STR("killed by signal 6 (Aborted)", parc_group_message(g, ABORT_AT));
  CHECK_INT(PARC_ECRASH, status[EXIT_AT]);
  CHECK_STR("exited with status 3", parc_group_message(g, EXIT_AT));
  CHECK_INT(PARC_ECRASH, status[KILL_AT]);
  CHECK_STR("killed by signal 9 (Killed)", parc_group_message(g, KILL_AT));
  CHECK_INT(PARC_ETIMEDOUT, status[HANG_AT]);
  CHECK_STR("ran past the timeout of 0.3 s", parc_group_message(g, HANG_AT));
  size_t failed = 5;
  for (int i = 0; i < N_FAULTS; i++) {
    if (i == SEGV_AT || i == ABORT_AT || i == EXIT_AT || i == KILL_AT || i == HANG_AT) continue;
    if (i % 500 == 7) {
      failed++;
      CHECK_INT(PARC_ETASK, status[i]);
      char expected[64];
      snprintf(expected, sizeof expected, "x=%d refused", i);
      CHECK_STR(expected, parc_group_message(g, (size_t)i));
      continue;
    }
    if (status[i] != PARC_OK || out[i] != 2 * i)
      FAIL_AT("task %d: status %d, out %d (expected 0, %d)", i, status[i], out[i], 2 * i);
  }
  CHECK_SIZE(failed, parc_group_failed(g));
  parc_group_destroy(g);
}

static int twice(const void *in, void *out, parc_task *t) {
  (void)t;
  *(int *)out = 2 * *(const int *)in;
  return 0;
}

static void check_clean_map(parc_pool *pool) {
  enum { N = 20000 };
  static int in[N], out[N];
  for (int i = 0; i < N; i++) in[i] = i, out[i] = -1;
  CHECK_OK(parc_map(pool, twice, in, sizeof in[0], out, sizeof out[0], N, NULL, NULL));
  for (int i = 0; i < N; i++)
    if (out[i] != 2 * i) FAIL_AT("out[%d] = %d", i, out[i]);
}

TEST(every_kind_of_death_costs_one_task_and_the_pool_goes_on) {
  parc_config cfg = test_config(PARC_PROCESSES, 2);
  cfg.timeout = 0.3;
  parc_pool *pool = test_pool_config(&cfg);
  check_faults(pool, 0);
  check_clean_map(pool);
  check_faults(pool, 64);
  check_clean_map(pool);
  parc_pool_destroy(pool);
}

/* ---- retries ---------------------------------------------------------------- */

static _Atomic int *attempts;   /* parc_shared_alloc: counted across workers */

static int crash_early(const void *in, void *out, parc_task *t) {
  (void)t;
  int x = *(const int *)in;
  int attempt = atomic_fetch_add(&attempts[x], 1);
  if (x % 50 == 0 && attempt < 2) raise(SIGKILL);          /* heals on the third try */
  if (x == 777) {                                           /* never heals */
    signal(SIGSEGV, SIG_DFL); /* not a sanitizer's slow report: the plain death */
    raise(SIGSEGV);
  }
  if (x == 778 && attempt == 0) for (;;) sleep_ms(10);     /* times out once */
  *(int *)out = x + 1;
  return 0;
}

TEST(retries_heal_crashes_and_give_up_after_retries_plus_one) {
  enum { N = 2000 };
  attempts = parc_shared_alloc(N * sizeof *attempts);
  CHECK(attempts != NULL);
  parc_config cfg = test_config(PARC_PROCESSES, 2);
  cfg.timeout = 0.25;
  cfg.retries = 2;
  parc_pool *pool = test_pool_config(&cfg);
  static int in[N], out[N], status[N];
  for (int i = 0; i < N; i++) in[i] = i;
  CHECK_INT(PARC_ECRASH, parc_map(pool, crash_early, in, sizeof in[0], out, sizeof out[0], N,
                                  NULL, status));
  for (int i = 0; i < N; i++) {
    int expected_attempts = i == 777 ? 3 : i % 50 == 0 ? 3 : i == 778 ? 2 : 1;
    if (atomic_load(&attempts[i]) != expected_attempts)
      FAIL_AT("task %d ran %d times, expected %d", i, atomic_load(&attempts[i]), expected_attempts);
    if (i == 777) {
      CHECK_INT(PARC_ECRASH, status[i]);
      continue;
    }
    if (status[i] != PARC_OK || out[i] != i + 1)
      FAIL_AT("task %d: status %d, out %d", i, status[i], out[i]);
  }
  parc_pool_destroy(pool);
  parc_shared_free((void *)attempts);
}

/* ---- recycling and worker_init ---------------------------------------------- */

static _Atomic int *init_count;
static pid_t *init_pids;        /* shared: every worker that ran worker_init */
static int initialised;         /* per worker process */

static void init_worker(void *arg) {
  CHECK(arg == (void *)&init_count);
  initialised++;
  int k = atomic_fetch_add(init_count, 1);
  if (k < 4096) init_pids[k] = getpid();
}

static int report_pid(const void *in, void *out, parc_task *t) {
  (void)in;
  (void)t;
  if (initialised != 1) return parc_fail(t, "worker_init ran %d times here", initialised);
  *(pid_t *)out = getpid();
  return 0;
}

TEST(recycling_caps_tasks_per_worker_and_each_new_worker_runs_init) {
  init_count = parc_shared_alloc(sizeof *init_count);
  init_pids = parc_shared_alloc(4096 * sizeof *init_pids);
  parc_config cfg = test_config(PARC_PROCESSES, 2);
  cfg.max_tasks_per_worker = 7;
  cfg.worker_init = init_worker;
  cfg.worker_init_arg = &init_count;
  parc_pool *pool = test_pool_config(&cfg);
  enum { N = 300 };
  static pid_t pids[N];
  for (size_t batch = 0; batch <= 5; batch += 5) {
    parc_options opt = {.batch = batch};
    parc_group *g;
    CHECK_OK(parc_group_create(&g, pool, &opt));
    CHECK_OK(parc_group_map(g, report_pid, NULL, 0, pids, sizeof pids[0], N));
    if (parc_group_wait(g, 30) != PARC_OK) {
      for (int i = 0; i < N; i++)
        if (parc_group_status(g, (size_t)i) != PARC_OK)
          FAIL_AT("batch %zu, task %d: %d %s", batch, i, parc_group_status(g, (size_t)i),
                  parc_group_message(g, (size_t)i));
    }
    parc_group_destroy(g);
    for (int i = 0; i < N; i++) {
      int same = 0;
      for (int j = 0; j < N; j++) same += pids[j] == pids[i];
      if (same > 7) FAIL_AT("pid %d ran %d tasks, max_tasks_per_worker is 7", (int)pids[i], same);
      int inits = 0;
      for (int j = 0; j < atomic_load(init_count) && j < 4096; j++) inits += init_pids[j] == pids[i];
      if (inits != 1) FAIL_AT("pid %d ran worker_init %d times", (int)pids[i], inits);
    }
  }
  CHECK(atomic_load(init_count) >= 2 * N / 7);
  parc_pool_destroy(pool);
}

/* ---- shared memory ------------------------------------------------------------ */

typedef struct span {
  double *data;
  size_t first, count;
} span;

static int fill_span(const void *in, void *out, parc_task *t) {
  (void)out;
  const span *s = in;
  for (size_t i = s->first; i < s->first + s->count; i++) {
    if (s->data[i] != 0) return parc_fail(t, "data[%zu] = %g, not zero-filled", i, s->data[i]);
    s->data[i] = (double)i * 0.5;
  }
  return 0;
}

static void fill_and_check(parc_pool *pool, double *data, size_t n) {
  enum { PARTS = 64 };
  span spans[PARTS];
  for (size_t p = 0; p < PARTS; p++) spans[p] = (span){data, p * n / PARTS, n / PARTS};
  CHECK_OK(parc_map(pool, fill_span, spans, sizeof spans[0], NULL, 0, PARTS, NULL, NULL));
  for (size_t i = 0; i < n; i++)
    if (data[i] != (double)i * 0.5) FAIL_AT("data[%zu] = %g", i, data[i]);
}

TEST(shared_memory_made_before_or_after_the_pool_is_seen_by_workers) {
  const size_t n = 1 << 20;
  double *before = parc_shared_alloc(n * sizeof *before);
  CHECK(before != NULL);
  parc_pool *pool = test_pool(PARC_PROCESSES, 2);
  double *after = parc_shared_alloc(n * sizeof *after);
  CHECK(after != NULL);
  for (size_t i = 0; i < n; i += 4096) CHECK(before[i] == 0 && after[i] == 0);
  fill_and_check(pool, before, n);
  fill_and_check(pool, after, n);
  /* Freed memory comes back zero-filled. */
  parc_shared_free(after);
  double *again = parc_shared_alloc(n * sizeof *again);
  CHECK(again != NULL);
  fill_and_check(pool, again, n);
  parc_shared_free(again);
  parc_shared_free(before);
  parc_shared_free(NULL);
  parc_pool_destroy(pool);
}

static int alloc_in_worker(const void *in, void *out, parc_task *t) {
  (void)in;
  (void)t;
  *(int *)out = parc_shared_alloc(16) == NULL;
  return 0;
}

TEST(shared_alloc_inside_a_worker_is_refused) {
  parc_pool *pool = test_pool(PARC_PROCESSES, 1);
  int refused = 0;
  CHECK_OK(parc_map(pool, alloc_in_worker, NULL, 0, &refused, sizeof refused, 1, NULL, NULL));
  CHECK_INT(1, refused);
  parc_pool_destroy(pool);
}

/* Records in shared memory are read and written in place. */
TEST(map_over_shared_arrays) {
  enum { N = 100000 };
  int *in = parc_shared_alloc(N * sizeof *in), *out = parc_shared_alloc(N * sizeof *out);
  for (int i = 0; i < N; i++) in[i] = i;
  parc_pool *pool = test_pool(PARC_PROCESSES, 2);
  CHECK_OK(parc_map(pool, twice, in, sizeof *in, out, sizeof *out, N, NULL, NULL));
  for (int i = 0; i < N; i++)
    if (out[i] != 2 * i) FAIL_AT("out[%d] = %d", i, out[i]);
  parc_pool_destroy(pool);
  parc_shared_free(in);
  parc_shared_free(out);
}

/* ---- fork safety --------------------------------------------------------------- */

static pthread_mutex_t busy_lock = PTHREAD_MUTEX_INITIALIZER;
static atomic_bool busy_stop;

static void *busy(void *arg) {
  (void)arg;
  while (!atomic_load(&busy_stop)) {
    pthread_mutex_lock(&busy_lock);
    for (int i = 0; i < 64; i++) free(malloc((size_t)(16 + i * 64)));
    pthread_mutex_unlock(&busy_lock);
  }
  return NULL;
}

static int allocate_and_maybe_crash(const void *in, void *out, parc_task *t) {
  (void)t;
  int x = *(const int *)in;
  char *p = malloc(1000);
  snprintf(p, 1000, "task %d", x);
  if (x % 97 == 3) raise(SIGKILL); /* each crash forks a replacement */
  *(int *)out = (int)strlen(p);
  free(p);
  return 0;
}

TEST_WITH_LIMIT(replacements_are_forked_safely_beside_a_busy_locking_thread, 60) {
  pthread_t threads[2];
  for (int i = 0; i < 2; i++) pthread_create(&threads[i], NULL, busy, NULL);
  sleep_ms(20);
  parc_pool *pool = test_pool(PARC_PROCESSES, 2);
  enum { N = 1000 };
  static int in[N], out[N], status[N];
  for (int i = 0; i < N; i++) in[i] = i;
  parc_options opt = {.batch = 1};
  for (int round = 0; round < 3; round++) {
    CHECK_INT(PARC_ECRASH,
              parc_map(pool, allocate_and_maybe_crash, in, sizeof in[0], out, sizeof out[0], N,
                       &opt, status));
    for (int i = 0; i < N; i++) {
      char expected[32];
      int len = snprintf(expected, sizeof expected, "task %d", i);
      CHECK_INT(i % 97 == 3 ? PARC_ECRASH : PARC_OK, status[i]);
      if (i % 97 != 3) CHECK_INT(len, out[i]);
    }
  }
  atomic_store(&busy_stop, true);
  for (int i = 0; i < 2; i++) pthread_join(threads[i], NULL);
  parc_pool_destroy(pool);
}

/* ---- lifecycle -------------------------------------------------------------------- */

static _Atomic int *started;

static int hang(const void *in, void *out, parc_task *t) {
  (void)in;
  (void)out;
  (void)t;
  atomic_fetch_add(started, 1);
  for (;;) sleep_ms(10);
  return 0;
}

/* The group this test leaves alive past its pool (the caller bug it commits
   on purpose) can never be destroyed; kept here, it is memory the test
   holds, not a leak for the harness's leak check to report. */
static parc_group *orphan;

TEST_WITH_LIMIT(destroy_kills_a_hung_task_and_leaves_nothing_behind, 30) {
  started = parc_shared_alloc(sizeof *started);
  int fds = count_fds(), shm = count_dev_shm();
  CHECK_INT(0, count_children());
  parc_pool *pool = test_pool(PARC_PROCESSES, 2);
  CHECK(count_children() >= 1);
  check_clean_map(pool);
  CHECK_OK(parc_group_create(&orphan, pool, NULL));
  parc_group *g = orphan;
  CHECK_OK(parc_group_submit(g, hang, NULL, 0, NULL, 0, NULL));
  while (atomic_load(started) == 0) sleep_ms(1);
  double t0 = now();
  parc_pool_destroy(pool); /* the group is left alive: it can no longer be destroyed */
  double took = now() - t0;
  if (took > 5) FAIL_AT("parc_pool_destroy took %.2f s with a hung task", took);
  CHECK_INT(PARC_ECRASH, parc_group_status(g, 0));
  CHECK_STR("stopped by parc_pool_destroy", parc_group_message(g, 0));
  CHECK_INT(0, count_children());
  CHECK_INT(fds, count_fds());
  CHECK_INT(shm, count_dev_shm());
  CHECK_INT(-1, waitpid(-1, NULL, WNOHANG));
  CHECK_INT(ECHILD, errno);
}

TEST(many_pools_leave_no_descriptors_or_processes) {
  parc_shared_free(parc_shared_alloc(1)); /* the region's memfd lives as long as the program */
  int fds = count_fds();
  for (int i = 0; i < 5; i++) {
    parc_config cfg = test_config(PARC_PROCESSES, 1);
    cfg.timeout = 0.5;
    cfg.retries = 1;
    cfg.max_tasks_per_worker = 300;
    parc_pool *a = test_pool(PARC_PROCESSES, 2), *b = test_pool_config(&cfg);
    check_clean_map(a);
    check_clean_map(b);
    parc_pool_destroy(a);
    parc_pool_destroy(b);
  }
  CHECK_INT(fds, count_fds());
  CHECK_INT(0, count_children());
}

/* The caller dies (SIGKILL, or SIGINT's default action) with workers busy:
   they must all go. This test process adopts orphans (subreaper), so it sees
   and reaps whatever the dead caller leaves. */
static pid_t *worker_pids;

static int record_and_hang(const void *in, void *out, parc_task *t) {
  (void)in;
  (void)out;
  worker_pids[parc_task_index(t)] = getpid();
  for (;;) sleep_ms(10);
  return 0;
}

static void caller_dies_by(int sig) {
  CHECK_INT(0, prctl(PR_SET_CHILD_SUBREAPER, 1));
  worker_pids = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  pid_t caller = fork();
  if (caller == 0) {
    parc_pool *pool = test_pool(PARC_PROCESSES, 2);
    parc_group *g;
    parc_group_create(&g, pool, NULL);
    int x[2] = {0, 1};
    parc_options one = {.batch = 1};
    (void)one;
    parc_group_map(g, record_and_hang, x, sizeof x[0], NULL, 0, 2);
    parc_group_wait(g, -1);
    _exit(0);
  }
  while (!worker_pids[0] || !worker_pids[1]) sleep_ms(1);
  kill(caller, sig);
  int status;
  CHECK_INT(caller, waitpid(caller, &status, 0));
  CHECK(WIFSIGNALED(status) && WTERMSIG(status) == sig);
  /* The server and workers were orphaned to us; they must exit by themselves. */
  double deadline = now() + 10;
  while (count_children() > 0 && now() < deadline) {
    while (waitpid(-1, NULL, WNOHANG) > 0) {
    }
    sleep_ms(5);
  }
  while (waitpid(-1, NULL, WNOHANG) > 0) {
  }
  CHECK_INT(0, count_children());
  CHECK(!alive(worker_pids[0]));
  CHECK(!alive(worker_pids[1]));
}

TEST_WITH_LIMIT(workers_die_when_the_caller_is_killed, 30) { caller_dies_by(SIGKILL); }

TEST_WITH_LIMIT(sigint_in_the_caller_leaves_no_workers, 30) { caller_dies_by(SIGINT); }

/* ---- configuration ------------------------------------------------------------------ */

static int read_env(const void *in, void *out, parc_task *t) {
  (void)in;
  (void)t;
  const char *v = getenv("OMP_NUM_THREADS");
  *(int *)out = v ? atoi(v) : -1;
  return 0;
}

TEST(workers_get_a_thread_count_unless_the_user_set_one) {
  unsetenv("OMP_NUM_THREADS");
  int cpus = parc_cpu_count();
  int workers = cpus > 1 ? 2 : 1;
  parc_pool *pool = test_pool(PARC_PROCESSES, workers);
  int v = 0;
  CHECK_OK(parc_map(pool, read_env, NULL, 0, &v, sizeof v, 1, NULL, NULL));
  CHECK_INT(cpus / workers > 1 ? cpus / workers : 1, v);
  parc_pool_destroy(pool);
  setenv("OMP_NUM_THREADS", "5", 1);
  pool = test_pool(PARC_PROCESSES, workers);
  CHECK_OK(parc_map(pool, read_env, NULL, 0, &v, sizeof v, 1, NULL, NULL));
  CHECK_INT(5, v);
  parc_pool_destroy(pool);
}

/* Exec start itself: test_process_exec. */
TEST(an_unknown_start_method_is_refused) {
  parc_config cfg;
  parc_config_default(&cfg);
  cfg.backend = PARC_PROCESSES;
  parc_pool *pool = (parc_pool *)&cfg;
  cfg.start = 42;
  CHECK_ERROR(PARC_EINVAL, "start", parc_pool_create(&pool, &cfg));
  CHECK_INT(0, count_children());
}

/* ---- replacements: the process tree after many deaths ------------------------ */

/* The children of `parent`: *live of them running, *zombies not reaped;
   their pids go to pids[0..*live) (at most max). */
static void children_of(pid_t parent, int *live, int *zombies, pid_t *pids, int max) {
  *live = *zombies = 0;
  DIR *d = opendir("/proc");
  char path[300];
  for (struct dirent *e; (e = readdir(d));) {
    if (e->d_name[0] < '0' || e->d_name[0] > '9') continue;
    snprintf(path, sizeof path, "/proc/%s/stat", e->d_name);
    FILE *f = fopen(path, "r");
    if (!f) continue;
    int pid, ppid;
    char state;
    if (fscanf(f, "%d (%*[^)]) %c %d", &pid, &state, &ppid) == 3 && ppid == parent) {
      if (state == 'Z') {
        ++*zombies;
      } else {
        if (*live < max) pids[*live] = pid;
        ++*live;
      }
    }
    fclose(f);
  }
  closedir(d);
}

/* The only child of this test process: the pool's fork server. */
static pid_t fork_server_pid(void) {
  int live, zombies;
  pid_t pid = 0;
  children_of(getpid(), &live, &zombies, &pid, 1);
  CHECK_INT(1, live);
  CHECK_INT(0, zombies);
  return pid;
}

static int die_often(const void *in, void *out, parc_task *t) {
  (void)t;
  int x = *(const int *)in;
  /* The signals a worker reports itself (default action still in place),
     and one it cannot catch. */
  if (x % 10 == 1) raise(SIGSEGV);
  if (x % 10 == 4) abort();
  if (x % 10 == 6) raise(SIGFPE);
  if (x % 10 == 8) raise(SIGKILL);
  *(int *)out = x + 1;
  return 0;
}

TEST_WITH_LIMIT(many_deaths_leave_the_workers_and_at_most_one_spare, 60) {
  enum { N = 120, WORKERS = 2 };
  parc_pool *pool = test_pool(PARC_PROCESSES, WORKERS);
  pid_t server = fork_server_pid();
  static int in[N], out[N], status[N];
  for (int i = 0; i < N; i++) in[i] = i, out[i] = -1;
  parc_group *g;
  parc_options opt = {.batch = 1};
  CHECK_OK(parc_group_create(&g, pool, &opt));
  CHECK_OK(parc_group_map(g, die_often, in, sizeof in[0], out, sizeof out[0], N));
  CHECK_INT(PARC_ECRASH, parc_group_wait(g, 60));
  for (int i = 0; i < N; i++) {
    status[i] = parc_group_status(g, (size_t)i);
    const char *expected = i % 10 == 1   ? "killed by signal 11 (Segmentation fault)"
                           : i % 10 == 4 ? "killed by signal 6 (Aborted)"
                           : i % 10 == 6 ? "killed by signal 8 (Floating point exception)"
                           : i % 10 == 8 ? "killed by signal 9 (Killed)"
                                         : NULL;
    if (!expected) {
      if (status[i] != PARC_OK || out[i] != i + 1)
        FAIL_AT("task %d: status %d, out %d", i, status[i], out[i]);
      continue;
    }
    CHECK_INT(PARC_ECRASH, status[i]);
    CHECK_STR(expected, parc_group_message(g, (size_t)i));
  }
  parc_group_destroy(g);
  /* The last deaths may still be reaped: wait (a bound against a hang,
     not a timing) for the tree to settle. */
  enum { MAX_PIDS = 16 };
  pid_t pids[MAX_PIDS];
  int live = 0, zombies = 0;
  for (double deadline = now() + 10; now() < deadline; sleep_ms(5)) {
    children_of(server, &live, &zombies, pids, MAX_PIDS);
    if (zombies == 0 && live >= WORKERS && live <= WORKERS + 1) break;
  }
  if (zombies != 0 || live < WORKERS || live > WORKERS + 1)
    FAIL_AT("the fork server has %d live children and %d zombies; expected %d or %d live, none "
            "dead", live, zombies, WORKERS, WORKERS + 1);
  check_clean_map(pool);
  parc_pool_destroy(pool);
  CHECK_INT(0, count_children());
  for (int i = 0; i < live && i < MAX_PIDS; i++)
    if (alive(pids[i])) FAIL_AT("worker %d outlived parc_pool_destroy", (int)pids[i]);
}

static void crash_in_init(void *arg) {
  (void)arg;
  raise(SIGSEGV);
}

TEST_WITH_LIMIT(a_worker_init_that_crashes_fails_each_task_and_leaves_nothing, 60) {
  parc_config cfg = test_config(PARC_PROCESSES, 2);
  cfg.retries = 1;
  cfg.worker_init = crash_in_init;
  parc_pool *pool = test_pool_config(&cfg);
  enum { N = 12 };
  static int in[N], out[N], status[N];
  for (int i = 0; i < N; i++) in[i] = i;
  parc_group *g;
  CHECK_OK(parc_group_create(&g, pool, NULL));
  CHECK_OK(parc_group_map(g, twice, in, sizeof in[0], out, sizeof out[0], N));
  CHECK_INT(PARC_ECRASH, parc_group_wait(g, 60));
  for (int i = 0; i < N; i++) {
    status[i] = parc_group_status(g, (size_t)i);
    CHECK_INT(PARC_ECRASH, status[i]);
    CHECK_STR("worker_init: killed by signal 11 (Segmentation fault)",
              parc_group_message(g, (size_t)i));
  }
  parc_group_destroy(g);
  parc_pool_destroy(pool);
  CHECK_INT(0, count_children());
  CHECK_INT(-1, waitpid(-1, NULL, WNOHANG));
  CHECK_INT(ECHILD, errno);
}

/* ---- task output -------------------------------------------------------- */

static int prints_a_line(const void *in, void *out, parc_task *t) {
  (void)in, (void)out;
  size_t i = parc_task_index(t);
  printf("task %zu says hello\n", i);
  if (i == 7) {
    raise(SIGSEGV);   /* before parc flushes its line */
  }
  return 0;
}

/* stdout a file (fully buffered, as for `./prog > out.txt`): every line
   a task printed arrives, also from the worker that crashed afterwards on
   the next task, and from workers stopped by parc_pool_destroy. */
TEST(task_output_reaches_stdout_when_it_is_a_file) {
  char path[] = "/tmp/parc-test-stdout-XXXXXX";
  int fd = mkstemp(path);
  CHECK(fd >= 0);
  fflush(stdout);
  int saved = dup(1);
  CHECK(dup2(fd, 1) == 1);
  close(fd);
  parc_pool *pool = test_pool(PARC_PROCESSES, 2);
  enum { N = 20 };
  int status[N];
  int rc = parc_map(pool, prints_a_line, NULL, 0, NULL, 0, N, NULL, status);
  parc_pool_destroy(pool);
  printf("the caller's own line\n");
  fflush(stdout);
  dup2(saved, 1);
  close(saved);
  CHECK_INT(PARC_ECRASH, rc);
  CHECK_INT(PARC_ECRASH, status[7]);
  FILE *f = fopen(path, "r");
  CHECK(f != NULL);
  bool seen[N] = {false};
  int caller = 0;
  char line[128];
  while (fgets(line, sizeof line, f)) {
    unsigned i;
    if (sscanf(line, "task %u says hello", &i) == 1 && i < N) seen[i] = true;
    if (strcmp(line, "the caller's own line\n") == 0) caller++;
  }
  fclose(f);
  unlink(path);
  CHECK_INT(1, caller);
  /* Task 7 printed, then crashed before its line was flushed: the one
     line a crash may lose. Every other task's line is there. */
  for (int i = 0; i < N; i++)
    if (i != 7 && !seen[i]) FAIL_AT("task %d's line is missing from the file", i);
}

/* ---- the task's process tree ---------------------------------------------- */

static int sleeps_in_a_child(const void *in, void *out, parc_task *t) {
  (void)out;
  const char *command = in;
  return system(command) == 0 ? 0 : parc_fail(t, "%s failed", command);
}

TEST_WITH_LIMIT(a_timed_out_task_takes_its_children_with_it, 30) {
  parc_config cfg = test_config(PARC_PROCESSES, 1);
  cfg.timeout = 0.3;
  parc_pool *pool = test_pool_config(&cfg);
  char command[64] = "exec sleep 313.5";
  int status;
  CHECK_INT(PARC_ETIMEDOUT, parc_map(pool, sleeps_in_a_child, command, sizeof command, NULL, 0, 1,
                                     NULL, &status));
  CHECK_INT(0, sleepers_after_a_while("313.5"));
  /* A daemon the task leaves (another session, reparented to the server)
     lives while the pool does, and ends with it. */
  snprintf(command, sizeof command, "setsid sleep 317.5 >/dev/null 2>&1 &");
  CHECK_OK(parc_map(pool, sleeps_in_a_child, command, sizeof command, NULL, 0, 1, NULL, NULL));
  for (int i = 0; i < 200 && count_sleepers("317.5") == 0; i++) usleep(10000);
  CHECK_INT(1, count_sleepers("317.5"));
  parc_pool_destroy(pool);
  CHECK_INT(0, sleepers_after_a_while("317.5"));
}

/* A group that ran n tasks of fn (no records) and whose wait returned
   `expected`; the caller destroys it. */
static parc_group *ran_group(parc_pool *pool, parc_fn fn, size_t n, int expected) {
  parc_group *g;
  CHECK_OK(parc_group_create(&g, pool, NULL));
  CHECK_OK(parc_group_map(g, fn, NULL, 0, NULL, 0, n));
  CHECK_INT(expected, parc_group_wait(g, -1));
  return g;
}

static int kills_its_group(const void *in, void *out, parc_task *t) {
  (void)in, (void)out;
  if (parc_task_index(t) == 1) kill(0, SIGTERM);
  return 0;
}

/* kill(0, ...) in a task reaches the task's own process group, never the
   caller's: only that task fails. */
TEST(kill_zero_in_a_task_kills_its_worker_not_the_caller) {
  parc_pool *pool = test_pool(PARC_PROCESSES, 2);
  parc_group *g = ran_group(pool, kills_its_group, 4, PARC_ECRASH);
  CHECK_STR("killed by signal 15 (Terminated)", parc_group_message(g, 1));
  for (size_t i = 0; i < 4; i++)
    if (i != 1) CHECK_INT(PARC_OK, parc_group_status(g, i));
  parc_group_destroy(g);
  parc_pool_destroy(pool);
}

static char marker[64];
static void delete_marker(void) { unlink(marker); }

static int exits_three(const void *in, void *out, parc_task *t) {
  (void)in, (void)out, (void)t;
  exit(3);
}

/* exit() in a task must not run the caller's atexit handlers in the worker
   (here: one that deletes the caller's output file). */
TEST(exit_in_a_task_never_runs_the_callers_atexit_handlers) {
  snprintf(marker, sizeof marker, "/tmp/parc-test-marker-%d", (int)getpid());
  FILE *f = fopen(marker, "w");
  CHECK(f != NULL);
  fclose(f);
  atexit(delete_marker);
  parc_pool *pool = test_pool(PARC_PROCESSES, 1);
  parc_group *g = ran_group(pool, exits_three, 1, PARC_ECRASH);
  CHECK_STR("exited with status 3", parc_group_message(g, 0));
  parc_group_destroy(g);
  parc_pool_destroy(pool);
  bool kept = access(marker, F_OK) == 0;
  unlink(marker);
  CHECK(kept);
}

/* ---- limits ------------------------------------------------------------------ */

static int makes_a_process_pool(const void *in, void *out, parc_task *t) {
  (void)in, (void)out;
  parc_config cfg;
  parc_config_default(&cfg);
  cfg.backend = PARC_PROCESSES;
  cfg.workers = 2;
  parc_pool *inner;
  int rc = parc_pool_create(&inner, &cfg);
  if (rc == PARC_OK) {
    parc_pool_destroy(inner);
    return parc_fail(t, "a process pool was made inside a worker");
  }
  return parc_fail(t, "%d %s", rc, parc_errmsg());
}

/* A PROCESSES pool inside a process worker fails with the real reason. */
TEST(a_process_pool_inside_a_worker_says_why_it_cannot_be) {
  parc_pool *pool = test_pool(PARC_PROCESSES, 1);
  parc_group *g = ran_group(pool, makes_a_process_pool, 1, PARC_ETASK);
  const char *m = parc_group_message(g, 0);
  CHECK(m && strstr(m, "-9 parc_pool_create: a PROCESSES pool cannot be created inside a process "
                       "worker") == m);
  parc_group_destroy(g);
  parc_pool_destroy(pool);
}

/* Under a pids limit (cgroup v1 pids controller, as root) that lets only
   a few of 20 workers and their proxy threads start, the pool runs on the
   workers it has, says so once, and every task succeeds. */
TEST_WITH_LIMIT(a_pool_under_a_pids_limit_runs_on_the_workers_it_has, 60) {
  char group[128], file[160];
  snprintf(group, sizeof group, "/sys/fs/cgroup/pids/parc-test-%d", (int)getpid());
  if (mkdir(group, 0755) != 0) SKIP("no cgroup v1 pids controller to limit (%s)", strerror(errno));
  char log[] = "/tmp/parc-test-pids-XXXXXX";
  int fd = mkstemp(log);
  CHECK(fd >= 0);
  pid_t child = fork();
  if (child == 0) {
    /* The child alone is limited: itself, the server, then 4 workers and
       their proxy threads fit in 10. */
    snprintf(file, sizeof file, "%s/pids.max", group);
    FILE *f = fopen(file, "w");
    if (!f || fprintf(f, "10\n") < 0 || fclose(f) != 0) _exit(2);
    snprintf(file, sizeof file, "%s/cgroup.procs", group);
    f = fopen(file, "w");
    if (!f || fprintf(f, "%d\n", (int)getpid()) < 0 || fclose(f) != 0) _exit(3);
    dup2(fd, 2);
    parc_config cfg = test_config(PARC_PROCESSES, 20);
    parc_pool *pool;
    if (parc_pool_create(&pool, &cfg) != PARC_OK) _exit(4);
    int n = parc_pool_size(pool);
    if (n < 1 || n >= 20) _exit(5);
    int in[64], out[64];
    for (int i = 0; i < 64; i++) in[i] = i;
    if (parc_map(pool, twice, in, sizeof in[0], out, sizeof out[0], 64, NULL, NULL) != PARC_OK) _exit(6);
    for (int i = 0; i < 64; i++)
      if (out[i] != 2 * i) _exit(7);
    parc_pool_destroy(pool);
    _exit(0);
  }
  int status = 0;
  waitpid(child, &status, 0);
  close(fd);
  rmdir(group);
  char text[512] = "";
  FILE *f = fopen(log, "r");
  size_t len = f ? fread(text, 1, sizeof text - 1, f) : 0;
  text[len] = '\0';
  if (f) fclose(f);
  unlink(log);
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
    FAIL_AT("the limited child ended with status 0x%x; its stderr: %s", status, text);
  CHECK(strstr(text, " of 20 worker processes started (") != NULL);
  CHECK(strstr(text, "the pool runs on") != NULL);
}

/* ---- the fork server's death ---------------------------------------------- */

static int kills_the_server_at_three(const void *in, void *out, parc_task *t) {
  int x = *(const int *)in;
  (void)t;
  /* A worker's parent is the fork server; the worker dies with it (the
     kernel's parent-death signal, late under ASan: the sleep outlasts it). */
  if (x == 3) {
    kill(getppid(), SIGKILL);
    sleep(10);
  }
  usleep(1000);
  *(int *)out = x + 1;
  return 0;
}

/* The fork server killed: a new one starts, the task that killed it (and
   any other that was running then) ends PARC_ECRASH, nothing else is lost,
   and the pool goes on. */
static void check_server_restart(int workers) {
  parc_pool *pool = test_pool(PARC_PROCESSES, workers);
  enum { N = 40 };
  int in[N], out[N];
  for (int i = 0; i < N; i++) in[i] = i, out[i] = -1;
  parc_group *g;
  CHECK_OK(parc_group_create(&g, pool, &(parc_options){.batch = 1}));
  CHECK_OK(parc_group_map(g, kills_the_server_at_three, in, sizeof in[0], out, sizeof out[0], N));
  CHECK_INT(PARC_ECRASH, parc_group_wait(g, -1));
  CHECK_STR("the pool's fork server died while it ran", parc_group_message(g, 3));
  /* With retries 0 task 3 is blamed; with one worker it alone ran then. */
  if (workers == 1) CHECK_SIZE(1, parc_group_failed(g));
  CHECK(parc_group_failed(g) <= (size_t)workers);
  for (int i = 0; i < N; i++) {
    int status = parc_group_status(g, (size_t)i);
    if (status == PARC_OK) CHECK_INT(i + 1, out[i]);
    else CHECK_STR("the pool's fork server died while it ran", parc_group_message(g, (size_t)i));
  }
  parc_group_destroy(g);
  /* Later maps run on the new server. */
  int again[N];
  int x[N];
  for (int i = 0; i < N; i++) x[i] = 100 + i;
  CHECK_OK(parc_map(pool, kills_the_server_at_three, x, sizeof x[0], again, sizeof again[0], N,
                    NULL, NULL));
  for (int i = 0; i < N; i++) CHECK_INT(101 + i, again[i]);
  parc_pool_destroy(pool);
}

TEST_WITH_LIMIT(a_killed_fork_server_is_replaced_one_worker, 60) { check_server_restart(1); }
TEST_WITH_LIMIT(a_killed_fork_server_is_replaced_two_workers, 60) { check_server_restart(2); }

/* ---- outputs a task leaves unwritten -------------------------------------- */

static int skips_thirteen(const void *in, void *out, parc_task *t) {
  (void)t;
  int x = *(const int *)in;
  if (x != 13) *(int *)out = 2 * x;
  return 0;
}

/* The round buffer is reused: a task that writes nothing must never get
   another task's result (it gets zeros, parc.h). */
TEST(an_unwritten_output_is_zero_never_another_tasks_result) {
  parc_pool *pool = test_pool(PARC_PROCESSES, 2);
  int in[40], out[40];
  for (int round = 0; round < 3; round++) {
    for (int i = 0; i < 40; i++) in[i] = i, out[i] = -1;
    CHECK_OK(parc_map(pool, skips_thirteen, in, sizeof in[0], out, sizeof out[0], 40, NULL, NULL));
    CHECK_INT(0, out[13]);
    for (int i = 0; i < 40; i++)
      if (i != 13) CHECK_INT(2 * i, out[i]);
  }
  parc_pool_destroy(pool);
}

int main(int argc, char **argv) { return harness_main(argc, argv); }
