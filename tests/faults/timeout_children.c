/* A task that runs a child process (`sleep 313.5` through system()) runs
   past the timeout: the task and its child both go. */
#include "fault.h"

static int fault(void *out, parc_task *t) {
  (void)out;
  return system("exec sleep 313.5") == 0 ? 0 : parc_fail(t, "sleep failed");
}

static void no_sleeper_left(void) { CHECK_INT(0, sleepers_after_a_while("313.5")); }

FAULT_PROGRAM(.status = PARC_ETIMEDOUT, .message = "ran past the timeout of 0.3 s", .timeout = 0.3,
              .after = no_sleeper_left)
