/*
 * as_completed — the chapter's "submit() and as_completed()": eight tasks
 * of random duration, each result handled as soon as it is ready.
 * Durations are 0.02-0.1 s (the chapter: 0.1-0.5 s) to keep the demo short.
 */
#include <stdio.h>
#include <time.h>

#include "example.h"

typedef struct slow_result {
  int square;
  double slept;
} slow_result;

/* A task: x in, x^2 out, after sleeping a random time from its own stream. */
static int slow_computation(const void *in, void *out, parc_task *task) {
  int x = *(const int *)in;
  double sleep_time = 0.02 + 0.08 * parc_rng_uniform(parc_task_rng(task));
  struct timespec wait = {0, (long)(sleep_time * 1e9)};
  nanosleep(&wait, NULL);
  *(slow_result *)out = (slow_result){x * x, sleep_time};
  return 0;
}

int main(void) {
  enum { N = 8 };
  int values[N];
  slow_result results[N];
  parc_pool *pool = pool_threads(4);   /* max_workers=4, as in the chapter */
  parc_group *group;
  parc_options opt = {.seed = (uint64_t)time(NULL), .batch = 1};   /* new durations each run */
  check(parc_group_create(&group, pool, &opt), "parc_group_create");
  /* Submit all tasks; the index parc returns plays the role of the Future. */
  for (int v = 0; v < N; v++) {
    values[v] = v;
    check(parc_group_submit(group, slow_computation, &values[v], sizeof values[v], &results[v],
                            sizeof results[v], NULL), "parc_group_submit");
  }
  /* Process them as they complete (not in submission order). */
  size_t i;
  int rc;
  while ((rc = parc_group_next(group, -1, &i)) != PARC_DONE) {
    check(rc, "task");
    printf("  %d² = %d (took %.2fs)\n", values[i], results[i].square, results[i].slept);
  }
  parc_group_destroy(group);
  parc_pool_destroy(pool);
  return 0;
}
