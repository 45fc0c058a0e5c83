/*
 * error_handling — the chapter's "Error handling in parallel code": one of
 * ten tasks fails; the other nine results arrive, and the failure is data
 * (a status and a message), not a crash. `--check`: exit 1 unless the
 * output is exactly the chapter's.
 */
#include <stdio.h>

#include "example.h"

/* A task: x in, x^2 out, but x = 5 cannot be processed. */
static int risky_computation(const void *in, void *out, parc_task *task) {
  int x = *(const int *)in;
  if (x == 5) return parc_fail(task, "Cannot process x=%d", x);
  *(int *)out = x * x;
  return 0;
}

int main(int argc, char **argv) {
  enum { N = 10 };
  int values[N], squares[N];
  parc_pool *pool = pool_threads(4);
  parc_group *group;
  check(parc_group_create(&group, pool, NULL), "parc_group_create");
  for (int v = 0; v < N; v++) {
    values[v] = v;
    check(parc_group_submit(group, risky_computation, &values[v], sizeof values[v], &squares[v],
                            sizeof squares[v], NULL), "parc_group_submit");
  }
  int n_results = 0, n_errors = 0;
  char errors[512] = "";
  size_t i;
  int rc;
  while ((rc = parc_group_next(group, -1, &i)) != PARC_DONE) {
    if (rc == PARC_OK) {
      n_results++;
      continue;
    }
    size_t used = strlen(errors);
    snprintf(errors + used, sizeof errors - used, "%s(%d, '%s')", n_errors ? ", " : "", values[i],
             parc_group_message(group, i));
    n_errors++;
  }
  char report[1024];
  snprintf(report, sizeof report, "Successful: %d tasks\nFailed: %d tasks\n%s%s%s", n_results,
           n_errors, n_errors ? "Errors: [" : "", errors, n_errors ? "]\n" : "");
  fputs(report, stdout);
  parc_group_destroy(group);
  parc_pool_destroy(pool);
  if (has_flag(argc, argv, "--check"))
    return strcmp(report, "Successful: 9 tasks\nFailed: 1 tasks\n"
                          "Errors: [(5, 'Cannot process x=5')]\n") != 0;
  return 0;
}
