/* crash_isolation — what processes buy you: tasks that segfault, abort,
   exit or hang cost exactly themselves. The same map on PARC_THREADS would
   take the whole program down with the first segfault. */
#include <signal.h>
#include <stdlib.h>
#include <unistd.h>

#include "example.h"

static int fragile(const void *in, void *out, parc_task *t) {
  int x = *(const int *)in;
  if (x == 3) raise(SIGSEGV);              /* a bug in a library */
  if (x == 5) abort();                     /* a failed assert */
  if (x == 7) exit(2);                     /* a library that calls exit */
  if (x == 9) for (;;) pause();            /* a hang */
  if (x == 11) return parc_fail(t, "x=%d is out of range", x);
  *(int *)out = x * x;
  return 0;
}

int main(void) {
  parc_config cfg;
  parc_config_default(&cfg);
  cfg.backend = PARC_PROCESSES;
  cfg.workers = 2;
  cfg.timeout = 0.5;   /* seconds per task */
  parc_pool *pool;
  check(parc_pool_create(&pool, &cfg), "parc_pool_create");
  enum { N = 12 };
  int in[N], out[N] = {0};
  for (int i = 0; i < N; i++) in[i] = i;
  parc_group *g;
  check(parc_group_create(&g, pool, NULL), "parc_group_create");
  check(parc_group_map(g, fragile, in, sizeof in[0], out, sizeof out[0], N), "parc_group_map");
  double start = now();
  int rc = parc_group_wait(g, -1);
  printf("12 tasks on 2 worker processes, %.2f s: %s\n", now() - start, parc_strerror(rc));
  for (size_t i = 0; i < N; i++) {
    if (parc_group_status(g, i) == PARC_OK) printf("  task %2zu: %d\n", i, out[i]);
    else printf("  task %2zu: %s\n", i, parc_group_message(g, i));
  }
  parc_group_destroy(g);
  /* The pool is still whole: a clean map runs on the replaced workers. */
  rc = parc_map(pool, fragile, in, sizeof in[0], out, sizeof out[0], 3, NULL, NULL);
  printf("next map on the same pool: %s, 2*2 = %d\n", parc_strerror(rc), out[2]);
  parc_pool_destroy(pool);
  return 0;
}
