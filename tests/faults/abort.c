/* A task calls abort(). */
#include "fault.h"

static int fault(void *out, parc_task *t) {
  (void)out, (void)t;
  abort();
}

FAULT_PROGRAM(.status = PARC_ECRASH, .message = "killed by signal 6 (Aborted)")
