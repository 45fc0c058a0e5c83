/*
 * alloc.c — the one allocation pair of the library.
 *
 * Everything parc allocates goes through here so that a test can make the
 * Nth allocation fail and check that each constructor unwinds cleanly
 * (curl's test mode does the same).
 */
#include "parc_internal.h"

#include <stdlib.h>
#include <string.h>

/* 0: never fail. n > 0: n-1 more allocations succeed, then all fail. */
static _Atomic long fail_countdown;

void parc__alloc_fail_after(long n) { atomic_store(&fail_countdown, n); }

static bool should_fail(void) {
  long n = atomic_load_explicit(&fail_countdown, memory_order_relaxed);
  if (n == 0) return false;
  if (n == 1) return true;
  atomic_store(&fail_countdown, n - 1);
  return false;
}

void *parc__malloc(size_t size) {
  if (should_fail()) return NULL;
  return malloc(size ? size : 1);
}

void *parc__calloc(size_t count, size_t size) {
  if (should_fail()) return NULL;
  return calloc(count ? count : 1, size ? size : 1);
}

void *parc__realloc(void *p, size_t size) {
  if (should_fail()) return NULL;
  return realloc(p, size ? size : 1);
}

void parc__free(void *p) { free(p); }

char *parc__strdup(const char *s) {
  if (!s) return NULL;
  size_t n = strlen(s) + 1;
  char *copy = parc__malloc(n);
  if (copy) memcpy(copy, s, n);
  return copy;
}
