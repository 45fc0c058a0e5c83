/* A task hangs: config.timeout ends it (SIGTERM). */
#include "fault.h"

static int fault(void *out, parc_task *t) {
  (void)out, (void)t;
  for (;;) sleep_ms(10);
  return 0;
}

FAULT_PROGRAM(.status = PARC_ETIMEDOUT, .message = "ran past the timeout of 0.3 s", .timeout = 0.3)
