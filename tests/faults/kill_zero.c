/* A task sends SIGTERM to its process group (kill(0, ...)): its worker
   dies, the caller (and the other workers) never see it. */
#include "fault.h"

static int fault(void *out, parc_task *t) {
  (void)out, (void)t;
  kill(0, SIGTERM);
  return 0;
}

FAULT_PROGRAM(.status = PARC_ECRASH, .message = "killed by signal 15 (Terminated)")
