/*
 * fault.h — the standing fault suite's one check (tests/faults/, one
 * program per fault, registered by tests/faults.cmake).
 *
 * A program defines fault(out, t), what task FAULT_AT does instead of its
 * work (if it returns, its return is the task's), then ends with
 * FAULT_PROGRAM(.status = ..., .message = ...): two harness TESTs,
 * fork_start and exec_start, each in its own process with a time limit,
 * each building a PROCESSES pool with that start method and asserting:
 *   - a map of FAULT_N tasks returns the fault's status; task FAULT_AT
 *     ends with that status and exactly that message, no other task
 *     failed, and every other output is right (with .status PARC_OK, a
 *     fault the task survives: no task failed, every output right);
 *   - a second map on the same pool succeeds;
 *   - after parc_pool_destroy: no child process (or unreaped one), no
 *     extra descriptor, no new /dev/shm name, no file in TMPDIR (a private
 *     directory, set for the pool and its workers);
 *   - with .cached: the faulty map ran with a cache; reopened, the cache
 *     holds the FAULT_N - 1 results and answers each as a hit (the file
 *     intact: not renamed .damaged, nothing but the database beside it).
 * Env PARC_FAULT_EXPECT replaces the expected message (faults.cmake uses it
 * to show that a wrong expectation fails).
 */
#ifndef PARC_TEST_FAULT_H
#define PARC_TEST_FAULT_H

#include <dirent.h>
#include <errno.h>
#include <parc.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "census.h"
#include "faults.h"
#include "fixture.h"
#include "harness.h"

enum { FAULT_N = 40, FAULT_AT = 13, FAULT_AGAIN = 100 };

typedef struct fault_spec {
  int status;           /* task FAULT_AT's status, and the map's; PARC_OK: a
                           fault the task survives (its output checked too) */
  const char *message;  /* its parc_group_message, exactly; NULL: none */
  double timeout;       /* config.timeout; 0: none */
  int workers;          /* 0: 2 */
  int cached;           /* the faulty map uses a cache, checked afterwards */
  void (*before)(void); /* in the caller, before the pool */
  void (*after)(void);  /* in the caller, after the checks */
} fault_spec;

/* What task FAULT_AT does: the program's fault (out: its output record). */
static int fault(void *out, parc_task *t);

static int fault_task(const void *in, void *out, parc_task *t) {
  int x = *(const int *)in;
  if (x == FAULT_AT) return fault(out, t);
  *(int *)out = 2 * x;
  return 0;
}

/* For faults that leave `sleep SECONDS` running: SECONDS unique to this
   test process (ctest runs others at once), in env FAULT_SLEEP, which the
   pool's workers inherit with either start method. */
static inline void fault_name_sleeper(void) {
  char seconds[32];
  snprintf(seconds, sizeof seconds, "%d.5", 400000 + (int)getpid());
  CHECK_INT(0, setenv("FAULT_SLEEP", seconds, 1));
}

/* In a task: runs `sleep FAULT_SLEEP` through system(), prefix before
   it and suffix after ("exec ", ""; "setsid ", " &"). */
static inline int fault_run_sleeper(parc_task *t, const char *prefix, const char *suffix) {
  char command[128];
  snprintf(command, sizeof command, "%ssleep %s%s", prefix, getenv("FAULT_SLEEP"), suffix);
  return system(command) == 0 ? 0 : parc_fail(t, "%s failed", command);
}

static inline void fault_no_sleeper_left(void) {
  CHECK_INT(0, sleepers_after_a_while(getenv("FAULT_SLEEP")));
}

/* Files in directory dir, other than those whose name starts with keep
   (NULL: none kept); -1 when it cannot be read. */
static int fault_files(const char *dir, const char *keep) {
  DIR *d = opendir(dir);
  if (!d) return -1;
  int n = 0;
  for (struct dirent *e; (e = readdir(d));) {
    if (e->d_name[0] == '.') continue;
    if (keep && strncmp(e->d_name, keep, strlen(keep)) == 0 && !strstr(e->d_name, "damaged"))
      continue;
    fprintf(stderr, "  left in %s: %s\n", dir, e->d_name);
    n++;
  }
  closedir(d);
  return n;
}

/* Maps fault_task over inputs first, first + 1, ... (skipping FAULT_AT
   when skip_fault) on pool, with cache c (may be NULL); every task must
   succeed, with the right output. */
static void fault_clean_map(parc_pool *pool, int first, int skip_fault, parc_cache *c) {
  int in[FAULT_N], out[FAULT_N], n = 0;
  for (int x = first; n < FAULT_N - skip_fault; x++)
    if (!skip_fault || x != FAULT_AT) in[n++] = x;
  parc_options opt = {.cache = c};
  CHECK_OK(parc_map(pool, fault_task, in, sizeof in[0], out, sizeof out[0], (size_t)n, &opt, NULL));
  for (int i = 0; i < n; i++)
    if (out[i] != 2 * in[i]) FAIL_AT("second map: task %d: out %d, expected %d", i, out[i], 2 * in[i]);
}

static void fault_check(const fault_spec *s, int start) {
  const char *message = getenv("PARC_FAULT_EXPECT") ? getenv("PARC_FAULT_EXPECT") : s->message;
  parc_shared_free(parc_shared_alloc(1)); /* the region's memfd lives as long as the program */
  char dir[] = "/tmp/parc-fault-XXXXXX", tmp[64], cache_dir[64];
  CHECK(mkdtemp(dir) != NULL);
  snprintf(tmp, sizeof tmp, "%s/tmp", dir);
  snprintf(cache_dir, sizeof cache_dir, "%s/cache", dir);
  CHECK_INT(0, mkdir(tmp, 0700));
  CHECK_INT(0, setenv("TMPDIR", tmp, 1));
  int fds = count_fds(), shm = count_dev_shm();
  CHECK_INT(0, count_children());

  parc_cache *cache = NULL;
  if (s->cached) CHECK_OK(parc_cache_open(&cache, cache_dir, NULL));
  if (s->before) s->before();
  parc_config cfg = test_config(PARC_PROCESSES, s->workers ? s->workers : 2);
  cfg.start = start;
  cfg.timeout = s->timeout;
  parc_pool *pool = test_pool_config(&cfg);

  int in[FAULT_N], out[FAULT_N];
  for (int i = 0; i < FAULT_N; i++) in[i] = i, out[i] = -1;
  parc_group *g;
  CHECK_OK(parc_group_create(&g, pool, &(parc_options){.cache = cache}));
  CHECK_OK(parc_group_map(g, fault_task, in, sizeof in[0], out, sizeof out[0], FAULT_N));
  int rc = parc_group_wait(g, 60);
  const char *got = parc_group_message(g, FAULT_AT);
  printf("  %s start: task %d: %s \"%s\"\n", start == PARC_START_EXEC ? "exec" : "fork", FAULT_AT,
         parc_status_name(parc_group_status(g, FAULT_AT)), got ? got : "");
  CHECK_INT(s->status, rc);
  CHECK_INT(s->status, parc_group_status(g, FAULT_AT));
  if (message) CHECK_STR(message, parc_group_message(g, FAULT_AT));
  else CHECK(parc_group_message(g, FAULT_AT) == NULL);
  for (int i = 0; i < FAULT_N; i++) {
    if (i == FAULT_AT && s->status != PARC_OK) continue;
    int status = parc_group_status(g, (size_t)i);
    if (status != PARC_OK || out[i] != 2 * i)
      FAIL_AT("task %d: status %d (%s), out %d; expected 0, %d", i, status,
              parc_group_message(g, (size_t)i) ? parc_group_message(g, (size_t)i) : "", out[i],
              2 * i);
  }
  CHECK_SIZE(s->status != PARC_OK, parc_group_failed(g));
  parc_group_destroy(g);
  fault_clean_map(pool, FAULT_AGAIN, 0, NULL);
  parc_pool_destroy(pool);

  CHECK_INT(0, count_children());
  CHECK_INT(-1, waitpid(-1, NULL, WNOHANG));
  CHECK_INT(ECHILD, errno);
  if (cache) {
    parc_cache_close(cache);
    CHECK_OK(parc_cache_open(&cache, cache_dir, NULL));
    parc_cache_info before, after;
    CHECK_OK(parc_cache_stats(cache, &before));
    CHECK_INT(FAULT_N - (s->status != PARC_OK), before.entries);
    parc_pool *serial = test_pool(PARC_SERIAL, 1);
    fault_clean_map(serial, 0, 1, cache);
    parc_pool_destroy(serial);
    CHECK_OK(parc_cache_stats(cache, &after));
    CHECK_INT(FAULT_N - 1, after.hits - before.hits);
    CHECK_INT(0, after.misses - before.misses);
    parc_cache_close(cache);
    CHECK_INT(0, fault_files(cache_dir, "parc-cache.sqlite"));
  }
  CHECK_INT(fds, count_fds());
  CHECK_INT(shm, count_dev_shm());
  CHECK_INT(0, fault_files(tmp, NULL));
  if (s->after) s->after();
  char rm[96];
  snprintf(rm, sizeof rm, "rm -rf %s", dir);
  CHECK_INT(0, system(rm));
}

#define FAULT_PROGRAM(...)                                                          \
  static const fault_spec fault_spec_ = {__VA_ARGS__};                              \
  TEST_WITH_LIMIT(fork_start, 30) { fault_check(&fault_spec_, PARC_START_FORK); }   \
  TEST_WITH_LIMIT(exec_start, 30) { fault_check(&fault_spec_, PARC_START_EXEC); }   \
  int main(int argc, char **argv) { return harness_main(argc, argv); }

#endif
