/* A task lowers its address-space limit (RLIMIT_AS) to 64 MiB above what
   it has mapped, then asks for 512 MiB: the allocation fails and the task
   says so. The worker keeps the limit for its later tasks, which still
   run. (mmap, not malloc: ASan's allocator would abort instead.) */
#include <sys/mman.h>
#include <sys/resource.h>

#include "fault.h"

static unsigned long long mapped_bytes(void) {
  unsigned long long pages = 0;
  FILE *f = fopen("/proc/self/statm", "r");
  if (f) {
    if (fscanf(f, "%llu", &pages) != 1) pages = 0;
    fclose(f);
  }
  return pages * (unsigned long long)sysconf(_SC_PAGESIZE);
}

static int fault(void *out, parc_task *t) {
  (void)out;
  struct rlimit limit = {mapped_bytes() + (64u << 20), RLIM_INFINITY};
  if (setrlimit(RLIMIT_AS, &limit) != 0) return parc_fail(t, "setrlimit: %s", strerror(errno));
  void *p = mmap(NULL, 512u << 20, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) return parc_fail(t, "512 MiB: %s", strerror(errno));
  munmap(p, 512u << 20);
  return parc_fail(t, "512 MiB were mapped under RLIMIT_AS");
}

FAULT_PROGRAM(.status = PARC_ETASK, .message = "512 MiB: Cannot allocate memory")
