/*
 * globals_helper.c — a program whose globals change, or not, around
 * PROCESSES pools; tests/test_globals.c runs it and reads its stderr for
 * the warning (src/globals.c, backend_process.c). Built three times: with
 * no large array, and with BIG_BSS bytes of .bss (1 MiB, 100 MiB) for
 * `measure`, which times maps of one task.
 *
 * Usage: globals_helper fork|exec SCENARIO
 *   none     nothing changes: two maps, no warning
 *   after    pool A; g_value changes; two maps on A (one warning, the
 *            workers see the old value); pool B; a map on B (none: B's
 *            image has the new value, on fork start); g_value changes
 *            again; a map on B (a warning), one on A (none: A warned)
 *   global   the pool kept in a global, which parc_pool_create writes:
 *            no warning
 *   arrays   static input, output and status arrays written after the
 *            pool (the inputs by the program, the rest by parc), crossing
 *            as records: no warning
 *   strdup   a record holding a pointer strdup'ed after the pool: on
 *            THREADS it reads 19 bytes; here the warning says why not
 *   measure N  N maps of one task; prints microseconds per map
 * Each map prints "map PARC_OK worker saw V" on stdout.
 */
#include "parc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static int g_value = 1;
static parc_pool *g_pool;
#ifdef BIG_BSS
static char g_big[BIG_BSS];
#endif

static int read_global(const void *in, void *out, parc_task *t) {
  (void)in, (void)t;
  *(int *)out = g_value;
  return 0;
}

static int twice(const void *in, void *out, parc_task *t) {
  (void)t;
  *(int *)out = 2 * *(const int *)in;
  return 0;
}

static int measure_length(const void *in, void *out, parc_task *t) {
  (void)t;
  const char *s = *(char *const *)in;
  *(int *)out = s ? (int)strnlen(s, 64) : -1;
  return 0;
}

static void map(parc_pool *pool) {
  int seen = -1;
  int rc = parc_map(pool, read_global, NULL, 0, &seen, sizeof seen, 1, NULL, NULL);
  printf("map %s worker saw %d\n", parc_status_name(rc), seen);
  fflush(stdout);
}

static parc_pool *make(const char *start, parc_pool **where) {
  parc_config cfg;
  parc_config_default(&cfg);
  cfg.backend = PARC_PROCESSES;
  cfg.workers = 1;
  cfg.start = strcmp(start, "exec") == 0 ? PARC_START_EXEC : PARC_START_FORK;
  parc_pool *local = NULL;
  if (!where) where = &local;
  if (parc_pool_create(where, &cfg) != PARC_OK) {
    fprintf(stderr, "globals_helper: parc_pool_create: %s\n", parc_errmsg());
    exit(2);
  }
  return *where;
}

int main(int argc, char **argv) {
  if (argc < 3) {
    fprintf(stderr, "usage: globals_helper fork|exec none|after|global|strdup|measure N\n");
    return 2;
  }
  const char *start = argv[1], *what = argv[2];
  if (strcmp(what, "none") == 0) {
    parc_pool *a = make(start, NULL);
    map(a);
    map(a);
    parc_pool_destroy(a);
  } else if (strcmp(what, "after") == 0) {
    parc_pool *a = make(start, NULL);
    g_value = 2;
    map(a);
    map(a);
    parc_pool *b = make(start, NULL);
    map(b);
    g_value = 3;
    map(b);
    map(a);
    parc_pool_destroy(b);
    parc_pool_destroy(a);
  } else if (strcmp(what, "global") == 0) {
    make(start, &g_pool);
    map(g_pool);
    map(g_pool);
    parc_pool_destroy(g_pool);
  } else if (strcmp(what, "arrays") == 0) {
    enum { N = 5000 };   /* several pages each */
    static int in[N], out[N], status[N];
    parc_pool *a = make(start, NULL);
    for (int round = 1; round <= 3; round++) {
      for (int i = 0; i < N; i++) in[i] = i * round;
      int rc = parc_map(a, twice, in, sizeof in[0], out, sizeof out[0], N, NULL, status);
      int bad = 0;
      for (int i = 0; i < N; i++) bad += out[i] != 2 * i * round || status[i] != PARC_OK;
      printf("map %s wrong %d\n", parc_status_name(rc), bad);
    }
    parc_pool_destroy(a);
  } else if (strcmp(what, "strdup") == 0) {
    static char *g_name;
    parc_pool *a = make(start, NULL);
    g_name = strdup("nineteen characters");   /* 20 bytes: 19 + NUL */
    char *records[1] = {g_name};
    int length = 0;
    int rc = parc_map(a, measure_length, records, sizeof records[0], &length, sizeof length, 1,
                      NULL, NULL);
    printf("map %s length %d\n", parc_status_name(rc), length);
    parc_pool_destroy(a);
    free(g_name);
  } else if (strcmp(what, "measure") == 0 && argc > 3) {
    int n = atoi(argv[3]);
#ifdef BIG_BSS
    memset(g_big, 1, sizeof g_big);   /* pages present, as in a program that uses them */
#endif
    parc_pool *a = make(start, NULL);
    map(a);
    /* Wall time, and the calling thread's CPU time, which is where the
       check runs and which other load on the machine does not inflate. */
    struct timespec t0, t1, c0, c1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &c0);
    int seen;
    for (int i = 0; i < n; i++)
      if (parc_map(a, read_global, NULL, 0, &seen, sizeof seen, 1, NULL, NULL) != PARC_OK) return 1;
    clock_gettime(CLOCK_MONOTONIC, &t1);
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &c1);
    printf("%.1f us per map, %.1f us of the caller's CPU\n",
           ((double)(t1.tv_sec - t0.tv_sec) * 1e9 + (double)(t1.tv_nsec - t0.tv_nsec)) / n / 1e3,
           ((double)(c1.tv_sec - c0.tv_sec) * 1e9 + (double)(c1.tv_nsec - c0.tv_nsec)) / n / 1e3);
    parc_pool_destroy(a);
  } else {
    fprintf(stderr, "globals_helper: unknown scenario %s\n", what);
    return 2;
  }
  return 0;
}
