/* A task calls exit(0): a worker that ends is a crash, whatever its status. */
#include "fault.h"

static int fault(void *out, parc_task *t) {
  (void)out, (void)t;
  exit(0);
}

FAULT_PROGRAM(.status = PARC_ECRASH, .message = "exited with status 0")
