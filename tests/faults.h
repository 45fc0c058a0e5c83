/* faults.h — one task that dies in every way a worker can: the process
   suites map it over thousands of inputs and check each death by name. */
#ifndef PARC_TEST_FAULTS_H
#define PARC_TEST_FAULTS_H

#include <parc.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/mman.h>

#include "census.h"

/* A real invalid access, with SIGSEGV's default action. */
static inline void segv_now(void) {
  /* Sanitizers catch SIGSEGV to print a report; the default action is
     what a plain program gets. */
  signal(SIGSEGV, SIG_DFL);
  /* A page with no access rights. */
  volatile int *page = mmap(NULL, 4096, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (page != MAP_FAILED && page != NULL) *page = 1;
  raise(SIGSEGV); /* should the store not fault */
}

/* Inputs that die; x % 500 == 7 fails with a message; the rest double. */
enum { SEGV_AT = 101, ABORT_AT = 702, EXIT_AT = 1303, KILL_AT = 1504, HANG_AT = 1805 };

__attribute__((unused)) static int faulty(const void *in, void *out, parc_task *t) {
  int x = *(const int *)in;
  switch (x) {
    case SEGV_AT:
      segv_now();
      break;
    case ABORT_AT: abort();
    case EXIT_AT: exit(3);
    case KILL_AT: raise(SIGKILL); break;
    case HANG_AT:
      for (;;) sleep_ms(10);
    default: break;
  }
  if (x % 500 == 7) return parc_fail(t, "x=%d refused", x);
  *(int *)out = 2 * x;
  return 0;
}

#endif
