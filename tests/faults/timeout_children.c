/* A task that runs a child process (`sleep` through system()) runs past
   the timeout: the task and its child both go. */
#include "fault.h"

static int fault(void *out, parc_task *t) {
  (void)out;
  return fault_run_sleeper(t, "exec ", "");
}

FAULT_PROGRAM(.status = PARC_ETIMEDOUT, .message = "ran past the timeout of 0.3 s", .timeout = 0.3,
              .before = fault_name_sleeper, .after = fault_no_sleeper_left)
