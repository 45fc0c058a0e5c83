/* A task calls exit(3). */
#include "fault.h"

static int fault(void *out, parc_task *t) {
  (void)out, (void)t;
  exit(3);
}

FAULT_PROGRAM(.status = PARC_ECRASH, .message = "exited with status 3")
