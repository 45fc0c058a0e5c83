/*
 * futex.c — futexes on shared memory. Not FUTEX_PRIVATE: a process pool's
 * proxy threads, workers and fork server wait on words of one shared
 * region, each in its own process.
 */
#include "parc_internal.h"

#include <linux/futex.h>
#include <stdint.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

void parc__futex_wait(_Atomic uint32_t *word, uint32_t old, uint64_t timeout_ns) {
  struct timespec ts = {(time_t)(timeout_ns / 1000000000u), (long)(timeout_ns % 1000000000u)};
  syscall(SYS_futex, (uint32_t *)word, FUTEX_WAIT, old, timeout_ns ? &ts : NULL, NULL, 0);
}

void parc__futex_wake(_Atomic uint32_t *word) {
  syscall(SYS_futex, (uint32_t *)word, FUTEX_WAKE, INT32_MAX, NULL, NULL, 0);
}
