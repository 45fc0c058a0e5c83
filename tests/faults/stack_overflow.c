/* A task recurses without end: the stack overflows (SIGSEGV on the guard
   page, with no alternate stack to report on). */
#include "fault.h"

static volatile int deeper = 1; /* always: the compiler cannot know */

static int recurse(volatile char *above, int depth) {
  volatile char frame[512];
  frame[0] = (char)depth;
  frame[511] = above ? above[0] : 0;
  return deeper ? recurse(frame, depth + 1) + frame[1] : frame[1];
}

static int fault(void *out, parc_task *t) {
  (void)out, (void)t;
  signal(SIGSEGV, SIG_DFL);
  return recurse(NULL, 0);
}

FAULT_PROGRAM(.status = PARC_ECRASH, .message = "killed by signal 11 (Segmentation fault)")
