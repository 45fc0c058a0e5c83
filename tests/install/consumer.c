/* A program that only knows the installed parc: header, library, and
   either pkg-config or find_package(parc). */
#include <parc.h>
#include <stdio.h>

static int twice(const void *in, void *out, parc_task *t) {
  (void)t;
  *(int *)out = 2 * *(const int *)in;
  return 0;
}

int main(void) {
  parc_pool *pool;
  if (parc_pool_create(&pool, NULL) != PARC_OK) return 1;
  int in[100], out[100];
  for (int i = 0; i < 100; i++) in[i] = i;
  int rc = parc_map(pool, twice, in, sizeof in[0], out, sizeof out[0], 100, NULL, NULL);
  parc_pool_destroy(pool);
  if (rc != PARC_OK || out[99] != 198) return 1;
  printf("consumer ok\n");
  return 0;
}
