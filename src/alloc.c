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
#include <sys/mman.h>

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

/* Large zeroed arrays (a map's table of results, the completion log's big
   segments) get a mapping of their own, asked to be backed by huge pages:
   a 16 MiB table then costs a few page faults instead of 4096, each
   several microseconds on a VM, which for a map of small records was most
   of its time. Below LARGE_BYTES, calloc. */
#define LARGE_BYTES ((size_t)2 << 20)

void *parc__calloc_large(size_t count, size_t size) {
  if (count && size > SIZE_MAX / count) return NULL;
  size_t bytes = count * size;
  if (bytes < LARGE_BYTES) return parc__calloc(count, size);
  if (should_fail()) return NULL;
  void *p = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) return NULL;
  madvise(p, bytes, MADV_HUGEPAGE);   /* advice: without THP, plain pages */
  return p;
}

void parc__free_large(void *p, size_t count, size_t size) {
  if (!p) return;
  size_t bytes = count * size;
  if (bytes < LARGE_BYTES) parc__free(p);
  else munmap(p, bytes);
}
