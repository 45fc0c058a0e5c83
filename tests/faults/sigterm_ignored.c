/* A task that ignores SIGTERM spins (no system calls): the timeout's
   SIGKILL, 0.25 s after the SIGTERM, ends it. */
#include "fault.h"

static int fault(void *out, parc_task *t) {
  (void)out, (void)t;
  signal(SIGTERM, SIG_IGN);
  for (volatile unsigned long i = 0;; i++) {
  }
  return 0;
}

FAULT_PROGRAM(.status = PARC_ETIMEDOUT, .message = "ran past the timeout of 0.3 s", .timeout = 0.3)
