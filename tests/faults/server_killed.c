/* A task kills its worker's parent, the pool's fork server: a new server
   starts, the task fails, the rest run on the new workers. One worker, so
   that no other task was running when the server died. */
#include "fault.h"

static int fault(void *out, parc_task *t) {
  (void)out, (void)t;
  kill(getppid(), SIGKILL);
  sleep(10); /* the worker dies with its server (parent-death signal) */
  return 0;
}

FAULT_PROGRAM(.status = PARC_ECRASH, .message = "the pool's fork server died while it ran",
              .workers = 1)
