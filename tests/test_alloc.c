/* Allocation failure: make the Nth allocation fail, for every N a call
   makes, and check the call returns PARC_ENOMEM (or succeeds) and leaves
   nothing behind (under ASan the harness runs LeakSanitizer after each
   test, and a leak fails it: test_harness_selftest proves that). Linked
   statically to reach the internal hook parc__alloc_fail_after. */
#include <parc.h>

#include "harness.h"
#include "parc_internal.h"

static int square(const void *in, void *out, parc_task *t) {
  double x = *(const double *)in;
  *(double *)out = x * x;
  return parc_task_index(t) == 3 ? parc_fail(t, "three") : 0;
}

/* Runs scenario with the nth allocation failing, n = 1, 2, ... until it
   runs clean; every failure must be PARC_ENOMEM. */
static void every_failure_point(int (*scenario)(void)) {
  for (long n = 1; n < 1000; n++) {
    parc__alloc_fail_after(n);
    int rc = scenario();
    parc__alloc_fail_after(0);
    if (rc == PARC_OK) return;
    if (rc != PARC_ENOMEM) FAIL_AT("failure point %ld: got %d (%s)", n, rc, parc_errmsg());
  }
  FAIL_AT("scenario never succeeded");
}

static int pool_and_map(void) {
  parc_config cfg;
  parc_config_default(&cfg);
  cfg.workers = 2;
  cfg.verbose = 1;
  parc_pool *pool;
  int rc = parc_pool_create(&pool, &cfg);
  if (rc) return rc;
  double x[8] = {1, 2, 3, 4, 5, 6, 7, 8}, y[8];
  parc_options opt = {.label = "alloc"};
  rc = parc_map(pool, square, x, sizeof x[0], y, sizeof y[0], 8, &opt, NULL);
  parc_pool_destroy(pool);
  /* The task failure is not an allocation failure. */
  return rc == PARC_ETASK ? PARC_OK : rc;
}

static int group_submits(void) {
  parc_config cfg;
  parc_config_default(&cfg);
  cfg.backend = PARC_SERIAL;
  parc_pool *pool;
  int rc = parc_pool_create(&pool, &cfg);
  if (rc) return rc;
  parc_group *g;
  rc = parc_group_create(&g, pool, NULL);
  double x[40], y[40];
  for (int i = 0; i < 40 && rc == PARC_OK; i++) {
    x[i] = i;
    rc = parc_group_submit(g, square, &x[i], sizeof x[i], &y[i], sizeof y[i], NULL);
  }
  if (rc == PARC_OK) parc_group_wait(g, -1);
  parc_group_destroy(g);
  parc_pool_destroy(pool);
  return rc;
}

TEST(pool_and_map_unwind_on_every_allocation_failure) { every_failure_point(pool_and_map); }

TEST(group_submit_unwinds_on_every_allocation_failure) { every_failure_point(group_submits); }

int main(int argc, char **argv) { return harness_main(argc, argv); }
