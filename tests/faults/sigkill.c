/* A task's worker gets SIGKILL (as from the OOM killer or kill -9); the map
   runs with a cache, which must stay intact. */
#include "fault.h"

static int fault(void *out, parc_task *t) {
  (void)out, (void)t;
  raise(SIGKILL);
  return 0;
}

FAULT_PROGRAM(.status = PARC_ECRASH, .message = "killed by signal 9 (Killed)", .cached = 1)
