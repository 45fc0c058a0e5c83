/* A task calls exit(3) where the caller registered an atexit handler that
   deletes its output file: the handler never runs in the worker. */
#include "fault.h"

static char marker[64];
static void delete_marker(void) { unlink(marker); }

static int fault(void *out, parc_task *t) {
  (void)out, (void)t;
  exit(3);
}

static void make_marker(void) {
  snprintf(marker, sizeof marker, "/tmp/parc-fault-marker-%d", (int)getpid());
  FILE *f = fopen(marker, "w");
  CHECK(f != NULL);
  fclose(f);
  atexit(delete_marker);
}

static void marker_kept(void) {
  int kept = access(marker, F_OK) == 0;
  unlink(marker);
  CHECK(kept);
}

FAULT_PROGRAM(.status = PARC_ECRASH, .message = "exited with status 3", .before = make_marker,
              .after = marker_kept)
