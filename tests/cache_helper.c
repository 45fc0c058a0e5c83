/*
 * cache_helper.c — a program the cache tests run as a child, built twice:
 * cache_helper_a (VARIANT 1) and cache_helper_b (VARIANT 2) differ only in
 * the body of `work`, so running both against one cache directory shows
 * that a rebuilt function misses. It prints one line:
 *   executed E checksum C ok|bad
 * E counts the task bodies that ran (hits do not run), C sums the outputs,
 * and ok says every output equals a direct computation.
 *
 *   cache_helper DIR work LO HI            map `work` over LO..HI-1
 *   cache_helper DIR slow LO HI MICROS     the same with a sleep per task
 */
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "parc.h"

#ifndef VARIANT
#define VARIANT 1
#endif

static _Atomic long executed;
static long sleep_micros;

/* The function whose body differs between the two builds. Not static and
   not exported: its name comes from the ELF .symtab. */
int work(const void *in, void *out, parc_task *t);
int work(const void *in, void *out, parc_task *t) {
  (void)t;
  atomic_fetch_add(&executed, 1);
  int64_t x = *(const int64_t *)in;
  *(int64_t *)out = x * x + VARIANT;
  return 0;
}

static int slow(const void *in, void *out, parc_task *t) {
  (void)t;
  atomic_fetch_add(&executed, 1);
  struct timespec ts = {0, sleep_micros * 1000};
  nanosleep(&ts, NULL);
  int64_t x = *(const int64_t *)in;
  *(int64_t *)out = 3 * x + 7;
  return 0;
}

int main(int argc, char **argv) {
  if (argc < 5) {
    fprintf(stderr, "usage: cache_helper DIR work|slow LO HI [MICROS]\n");
    return 2;
  }
  bool is_slow = strcmp(argv[2], "slow") == 0;
  long lo = atol(argv[3]), hi = atol(argv[4]);
  if (is_slow && argc > 5) sleep_micros = atol(argv[5]);
  size_t n = (size_t)(hi - lo);
  int64_t *in = malloc(n * sizeof *in), *out = calloc(n, sizeof *out);
  for (size_t i = 0; i < n; i++) in[i] = lo + (int64_t)i;
  parc_cache *cache;
  if (parc_cache_open(&cache, argv[1], NULL) != 0) {
    fprintf(stderr, "cache_helper: %s\n", parc_errmsg());
    return 1;
  }
  parc_config cfg;
  parc_config_default(&cfg);
  cfg.workers = 2;
  parc_pool *pool;
  if (parc_pool_create(&pool, &cfg) != 0) return 1;
  parc_options opt = {0};
  opt.cache = cache;
  int rc = parc_map(pool, is_slow ? slow : work, in, sizeof *in, out, sizeof *out, n, &opt, NULL);
  parc_pool_destroy(pool);
  parc_cache_close(cache);
  if (rc != 0) {
    fprintf(stderr, "cache_helper: parc_map: %s\n", parc_errmsg());
    return 1;
  }
  int64_t checksum = 0;
  bool ok = true;
  for (size_t i = 0; i < n; i++) {
    int64_t x = in[i];
    int64_t want = is_slow ? 3 * x + 7 : x * x + VARIANT;
    ok &= out[i] == want;
    checksum += out[i];
  }
  printf("executed %ld checksum %lld %s\n", atomic_load(&executed), (long long)checksum,
         ok ? "ok" : "bad");
  free(in);
  free(out);
  return ok ? 0 : 1;
}
