/* A task leaves a daemon behind (`setsid sleep ... &`) and succeeds: the
   daemon, reparented to the fork server, ends with the pool. */
#include "fault.h"

static int fault(void *out, parc_task *t) {
  if (fault_run_sleeper(t, "setsid ", " >/dev/null 2>&1 &") != 0) return -1;
  for (int i = 0; i < 200 && count_sleepers(getenv("FAULT_SLEEP")) == 0; i++) sleep_ms(10);
  if (count_sleepers(getenv("FAULT_SLEEP")) != 1) return parc_fail(t, "the daemon did not start");
  *(int *)out = 2 * FAULT_AT;
  return 0;
}

FAULT_PROGRAM(.status = PARC_OK, .message = NULL, .before = fault_name_sleeper,
              .after = fault_no_sleeper_left)
