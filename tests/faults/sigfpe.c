/* A task raises SIGFPE (default action). */
#include "fault.h"

static int fault(void *out, parc_task *t) {
  (void)out, (void)t;
  signal(SIGFPE, SIG_DFL);
  raise(SIGFPE);
  return 0;
}

FAULT_PROGRAM(.status = PARC_ECRASH, .message = "killed by signal 8 (Floating point exception)")
