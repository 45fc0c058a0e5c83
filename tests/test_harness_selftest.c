/* The harness checks itself: a test that leaks fails under ASan. The
   leaking bodies below are not TESTs (the suite would fail); they run
   through harness_run, the path every TEST takes, and the real tests
   assert that the run failed and that LeakSanitizer's report says why.
   Without ASan there is no leak check, and the leak tests skip. */
#include <parc.h>

#include "fixture.h"
#include "harness.h"

/* Kept out of line so that no register or live stack slot of the caller
   still holds the block when the harness looks. */
__attribute__((noinline)) static void drop_a_block(void) {
  char *volatile block = malloc(4096);
  if (block) memset(block, 0x5a, 4096);
  block = NULL;
}

static void leaks_a_block(void) { drop_a_block(); }

/* A test that forgets parc_pool_destroy: a serial pool has no threads
   whose stacks would still reach it. */
__attribute__((noinline)) static void forget_a_pool(void) {
  (void)test_pool(PARC_SERIAL, 1);
}

static void leaks_a_pool(void) { forget_a_pool(); }

static void frees_what_it_allocates(void) {
  char *volatile block = malloc(4096);
  free(block);
  parc_pool_destroy(test_pool(PARC_SERIAL, 1));
}

/* Runs fn as harness_main runs a TEST, its stderr into a file; returns
   harness_run's result and leaves what the test wrote in report. */
static int run_captured(const char *name, void (*fn)(void), char *report, size_t size) {
  FILE *f = tmpfile();
  CHECK(f != NULL);
  fflush(stderr);
  int saved = dup(2);
  CHECK(saved >= 0);
  CHECK(dup2(fileno(f), 2) == 2);
  int rc = harness_run(&(harness_test){name, fn, 30});
  fflush(stderr);
  dup2(saved, 2);
  close(saved);
  rewind(f);
  size_t n = fread(report, 1, size - 1, f);
  report[n] = '\0';
  fclose(f);
  return rc;
}

static void check_fails_with_leak_report(const char *name, void (*fn)(void)) {
#ifndef HARNESS_LSAN
  (void)name, (void)fn;
  SKIP("not an ASan build: the harness has no leak check to test");
#else
  static char report[1 << 16];
  int rc = run_captured(name, fn, report, sizeof report);
  if (rc != 1) FAIL_AT("%s: expected harness_run to fail (1), got %d; its stderr:\n%s", name, rc, report);
  if (!strstr(report, "detected memory leaks"))
    FAIL_AT("%s: failed, but not for the leak; its stderr:\n%s", name, report);
  char expected[128];
  snprintf(expected, sizeof expected, "%s leaked memory", name);
  if (!strstr(report, expected)) FAIL_AT("%s: no \"%s\" in its stderr:\n%s", name, expected, report);
#endif
}

TEST(a_test_that_leaks_a_block_fails) { check_fails_with_leak_report("leaks_a_block", leaks_a_block); }

TEST(a_test_that_forgets_a_pool_fails) { check_fails_with_leak_report("leaks_a_pool", leaks_a_pool); }

/* The control: the same work, freed, passes, on every build. */
TEST(a_test_that_frees_what_it_allocates_passes) {
  static char report[1 << 16];
  int rc = run_captured("frees_what_it_allocates", frees_what_it_allocates, report, sizeof report);
  if (rc != 0) FAIL_AT("expected 0, got %d; its stderr:\n%s", rc, report);
}

int main(int argc, char **argv) { return harness_main(argc, argv); }
