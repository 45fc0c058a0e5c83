/* dl_task.c — a task function in a library the test program dlopen()s
   (tests/process.cmake): exec-started workers do not load it, so its tasks
   fail PARC_EINVAL with a message of their own (test_process_exec.c). */
#include <parc.h>

PARC_EXPORT int dl_task_double(const void *in, void *out, parc_task *t);

int dl_task_double(const void *in, void *out, parc_task *t) {
  (void)t;
  *(int *)out = 2 * *(const int *)in;
  return 0;
}
