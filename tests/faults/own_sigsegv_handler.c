/* A task installs its own SIGSEGV handler (a crash reporter's: write a
   line, restore the default action, re-raise), then faults. */
#include "fault.h"

static void reporter(int sig) {
  static const char line[] = "own handler: SIGSEGV\n";
  ssize_t written = write(2, line, sizeof line - 1);
  (void)written;
  signal(sig, SIG_DFL);
  raise(sig);
}

static int fault(void *out, parc_task *t) {
  (void)out, (void)t;
  struct sigaction sa = {0};
  sa.sa_handler = reporter;
  sigaction(SIGSEGV, &sa, NULL);
  volatile int *page = mmap(NULL, 4096, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  *page = 1;
  return 0;
}

FAULT_PROGRAM(.status = PARC_ECRASH, .message = "killed by signal 11 (Segmentation fault)")
