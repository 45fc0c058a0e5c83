/*
 * harness.h — the test harness every suite shares.
 *
 * Each TEST runs in its own forked process with a time limit, so a test
 * that crashes or hangs fails alone and is named. Assertions print both
 * sides. A suite's main is one line: return harness_main(argc, argv);
 * `suite NAME` runs one test only; `suite --list` prints the test names,
 * one a line, which is how CMake registers one ctest per TEST
 * (cmake/parc_test_cases.cmake). Under ASan, LeakSanitizer checks each test's process
 * when the test returns: the _exit that ends it would skip the check at
 * exit, and a test that leaks fails. A test that calls SKIP() exits 77,
 * which ctest reports as skipped.
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

/* HARNESS_LSAN: LeakSanitizer is linked in (ASan builds, GCC or clang). */
#if defined(__SANITIZE_ADDRESS__)
#define HARNESS_LSAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define HARNESS_LSAN 1
#endif
#endif
#ifdef HARNESS_LSAN
#include <sanitizer/lsan_interface.h>
/* Nonzero when memory this process allocated is no longer reachable; the
   report goes to stderr. */
#define harness_leaks() __lsan_do_recoverable_leak_check()
#else
#define harness_leaks() 0
#endif

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

/* A test that cannot run here: reported as skipped, not passed. */
#define HARNESS_SKIP_CODE 77
#define SKIP(...)                                               \
  do {                                                          \
    printf("  skipped: ");                                      \
    printf(__VA_ARGS__);                                        \
    printf("\n");                                               \
    fflush(NULL);                                               \
    _exit(HARNESS_SKIP_CODE);                                   \
  } while (0)

/* Nothing allocated so far is unreachable (a no-op without ASan). The
   harness does this after every test; a test may check earlier. */
#define CHECK_NO_LEAKS() CHECK_INT(0, harness_leaks())

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

/* Runs t in a child: 0 passed, 1 failed, HARNESS_SKIP_CODE skipped. */
static int harness_run(const harness_test *t) {
  fflush(NULL);
  pid_t pid = fork();
  if (pid == 0) {
    alarm((unsigned)t->seconds);
    t->fn();
    fflush(NULL);
    if (harness_leaks()) {
      fprintf(stderr, "  %s leaked memory (LeakSanitizer's report above)\n", t->name);
      _exit(1);
    }
    _exit(0);
  }
  int status = 0;
  waitpid(pid, &status, 0);
  if (WIFEXITED(status) && WEXITSTATUS(status) == 0) return 0;
  if (WIFEXITED(status) && WEXITSTATUS(status) == HARNESS_SKIP_CODE) return HARNESS_SKIP_CODE;
  if (WIFSIGNALED(status))
    fprintf(stderr, "  killed by signal %d (%s)%s\n", WTERMSIG(status), strsignal(WTERMSIG(status)),
            WTERMSIG(status) == SIGALRM ? ": time limit" : "");
  return 1;
}

/* No argument: every test. NAME: that one. --list: the names. Exits 0 when
   every test that ran passed, 77 when all were skipped, 1 otherwise (also
   when NAME names no test). */
static inline int harness_main(int argc, char **argv) {
  if (argc > 1 && strcmp(argv[1], "--list") == 0) {
    for (int i = 0; i < harness_count; i++) printf("%s\n", harness_tests[i].name);
    return 0;
  }
  int failed = 0, skipped = 0, ran = 0;
  for (int i = 0; i < harness_count; i++) {
    if (argc > 1 && strcmp(argv[1], harness_tests[i].name) != 0) continue;
    ran++;
    int rc = harness_run(&harness_tests[i]);
    printf("%s %s\n", rc == 0 ? "ok  " : rc == HARNESS_SKIP_CODE ? "skip" : "FAIL",
           harness_tests[i].name);
    failed += rc == 1;
    skipped += rc == HARNESS_SKIP_CODE;
  }
  if (ran == 0) fprintf(stderr, "no test named %s\n", argc > 1 ? argv[1] : "(any)");
  printf("%d/%d passed", ran - failed - skipped, ran);
  if (skipped) printf(", %d skipped", skipped);
  printf("\n");
  if (failed || ran == 0) return 1;
  return skipped == ran ? HARNESS_SKIP_CODE : 0;
}

#endif
