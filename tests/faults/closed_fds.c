/* A task closes every descriptor its worker has (0 to 1023: its socket to
   the pool, stdio), then writes its output and returns 0. The worker
   reports through shared memory, so the task succeeds; later tasks on that
   worker run without descriptors, and succeed too. */
#include "fault.h"

static int fault(void *out, parc_task *t) {
  (void)t;
  for (int fd = 0; fd < 1024; fd++) close(fd);
  *(int *)out = 2 * FAULT_AT;
  return 0;
}

FAULT_PROGRAM(.status = PARC_OK, .message = NULL)
