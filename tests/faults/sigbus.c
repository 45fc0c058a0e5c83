/* A task raises SIGBUS (default action). */
#include "fault.h"

static int fault(void *out, parc_task *t) {
  (void)out, (void)t;
  signal(SIGBUS, SIG_DFL);
  raise(SIGBUS);
  return 0;
}

FAULT_PROGRAM(.status = PARC_ECRASH, .message = "killed by signal 7 (Bus error)")
