/* A task calls _exit(5): no atexit handlers, no stdio flush. */
#include "fault.h"

static int fault(void *out, parc_task *t) {
  (void)out, (void)t;
  _exit(5);
}

FAULT_PROGRAM(.status = PARC_ECRASH, .message = "exited with status 5")
