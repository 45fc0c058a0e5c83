/*
 * harness.h — the test harness every suite shares.
 *
 * Each TEST runs in its own forked process with a time limit, so a test
 * that crashes or hangs fails alone and is named. Assertions print both
 * sides. A suite's main is one line: return harness_main(argc, argv);
 * `suite NAME` runs one test only.
 */
#ifndef PARC_TEST_HARNESS_H
#define PARC_TEST_HARNESS_H

#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

typedef struct harness_test {
  const char *name;
  void (*fn)(void);
  int seconds;
} harness_test;

#define HARNESS_MAX 256
static harness_test harness_tests[HARNESS_MAX];
static int harness_count;

#define TEST_WITH_LIMIT(name, limit)                                                  \
  static void test_##name(void);                                                    \
  __attribute__((constructor)) static void register_##name(void) {                  \
    if (harness_count < HARNESS_MAX)                                                \
      harness_tests[harness_count++] = (harness_test){#name, test_##name, (limit)}; \
  }                                                                                 \
  static void test_##name(void)
#define TEST(name) TEST_WITH_LIMIT(name, 60)

#define FAIL_AT(...)                                            \
  do {                                                          \
    fprintf(stderr, "  %s:%d: ", __FILE__, __LINE__);           \
    fprintf(stderr, __VA_ARGS__);                               \
    fprintf(stderr, "\n");                                      \
    _exit(1);                                                   \
  } while (0)

#define CHECK(cond) \
  do { if (!(cond)) FAIL_AT("check failed: %s", #cond); } while (0)
#define CHECK_INT(expected, actual)                                                   \
  do {                                                                                \
    long long e_ = (long long)(expected), a_ = (long long)(actual);                  \
    if (e_ != a_) FAIL_AT("%s: expected %lld, got %lld", #actual, e_, a_);           \
  } while (0)
#define CHECK_SIZE(expected, actual)                                                  \
  do {                                                                                \
    size_t e_ = (size_t)(expected), a_ = (size_t)(actual);                           \
    if (e_ != a_) FAIL_AT("%s: expected %zu, got %zu", #actual, e_, a_);             \
  } while (0)
#define CHECK_NEAR(expected, actual, tolerance)                                       \
  do {                                                                                \
    double e_ = (expected), a_ = (actual);                                           \
    if (!(fabs(e_ - a_) <= (tolerance)))                                             \
      FAIL_AT("%s: expected %.6g, got %.6g (tolerance %g)", #actual, e_, a_,         \
              (double)(tolerance));                                                 \
  } while (0)
#define CHECK_STR(expected, actual)                                                   \
  do {                                                                                \
    const char *e_ = (expected), *a_ = (actual);                                     \
    if (!a_ || strcmp(e_, a_) != 0)                                                  \
      FAIL_AT("%s: expected \"%s\", got \"%s\"", #actual, e_, a_ ? a_ : "(null)");   \
  } while (0)
/* A parc call that must succeed; on failure prints its parc_errmsg(). */
#define CHECK_OK(call)                                                                \
  do {                                                                                \
    int rc_ = (call);                                                                \
    if (rc_ != 0) FAIL_AT("%s returned %d (%s)", #call, rc_, parc_errmsg());         \
  } while (0)
/* A parc call that must fail with code and leave a message containing needle. */
#define CHECK_ERROR(code, needle, call)                                               \
  do {                                                                                \
    int rc_ = (call);                                                                \
    if (rc_ != (code)) FAIL_AT("%s: expected %d, got %d", #call, (int)(code), rc_);  \
    if (!strstr(parc_errmsg(), (needle)))                                            \
      FAIL_AT("%s: message \"%s\" lacks \"%s\"", #call, parc_errmsg(), (needle));    \
  } while (0)

static int harness_run(const harness_test *t) {
  fflush(NULL);
  pid_t pid = fork();
  if (pid == 0) {
    alarm((unsigned)t->seconds);
    t->fn();
    fflush(NULL);
    _exit(0);
  }
  int status = 0;
  waitpid(pid, &status, 0);
  if (WIFEXITED(status) && WEXITSTATUS(status) == 0) return 0;
  if (WIFSIGNALED(status))
    fprintf(stderr, "  killed by signal %d (%s)%s\n", WTERMSIG(status), strsignal(WTERMSIG(status)),
            WTERMSIG(status) == SIGALRM ? ": time limit" : "");
  return 1;
}

static inline int harness_main(int argc, char **argv) {
  int failed = 0, ran = 0;
  for (int i = 0; i < harness_count; i++) {
    if (argc > 1 && strcmp(argv[1], harness_tests[i].name) != 0) continue;
    ran++;
    int bad = harness_run(&harness_tests[i]);
    printf("%s %s\n", bad ? "FAIL" : "ok  ", harness_tests[i].name);
    failed += bad;
  }
  printf("%d/%d passed\n", ran - failed, ran);
  return failed || ran == 0 ? 1 : 0;
}

#endif
