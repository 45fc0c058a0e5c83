/* A task dereferences a page it may not touch (SIGSEGV, default action);
   the map runs with a cache, which must stay intact. */
#include "fault.h"

static int fault(void *out, parc_task *t) {
  (void)out, (void)t;
  segv_now();
  return 0;
}

FAULT_PROGRAM(.status = PARC_ECRASH, .message = "killed by signal 11 (Segmentation fault)",
              .cached = 1)
