/* A task raises SIGINT (as Ctrl-C reaches the whole foreground group):
   workers ignore it (parc.h, Lifecycle), so the task goes on and succeeds. */
#include "fault.h"

static int fault(void *out, parc_task *t) {
  (void)t;
  raise(SIGINT);
  *(int *)out = 2 * FAULT_AT;
  return 0;
}

FAULT_PROGRAM(.status = PARC_OK, .message = NULL)
