/*
 * cpu.c — how many CPUs this process may really use.
 *
 * sysconf(_SC_NPROCESSORS_ONLN) counts the machine's CPUs; a container or a
 * `taskset` may allow far fewer. We take the affinity mask, then cap it by
 * the cgroup CPU quota (v2 cpu.max, else v1 cfs_quota_us / cfs_period_us),
 * rounding a fractional quota up: 1.5 CPUs of quota keeps 2 workers busy.
 */
#include "parc_internal.h"

#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static int affinity_count(void) {
  cpu_set_t set;
  if (sched_getaffinity(0, sizeof set, &set) == 0) {
    int n = CPU_COUNT(&set);
    if (n > 0) return n;
  }
  long n = sysconf(_SC_NPROCESSORS_ONLN);
  return n > 0 ? (int)n : 1;
}

/* Quota / period rounded up, or 0 when unlimited or unreadable. */
static int quota_cpus(long long quota, long long period) {
  if (quota <= 0 || period <= 0) return 0;
  return (int)((quota + period - 1) / period);
}

static int cgroup2_cpus(void) {
  FILE *f = fopen("/sys/fs/cgroup/cpu.max", "r");
  if (!f) return 0;
  char quota[32] = {0};
  long long period = 0;
  int fields = fscanf(f, "%31s %lld", quota, &period);
  fclose(f);
  if (fields != 2 || strcmp(quota, "max") == 0) return 0;
  long long q = 0;
  if (sscanf(quota, "%lld", &q) != 1) return 0;
  return quota_cpus(q, period);
}

static long long read_number(const char *path) {
  FILE *f = fopen(path, "r");
  if (!f) return -1;
  long long value = -1;
  if (fscanf(f, "%lld", &value) != 1) value = -1;
  fclose(f);
  return value;
}

static int cgroup1_cpus(void) {
  long long quota = read_number("/sys/fs/cgroup/cpu/cpu.cfs_quota_us");
  long long period = read_number("/sys/fs/cgroup/cpu/cpu.cfs_period_us");
  if (quota < 0) {
    quota = read_number("/sys/fs/cgroup/cpu,cpuacct/cpu.cfs_quota_us");
    period = read_number("/sys/fs/cgroup/cpu,cpuacct/cpu.cfs_period_us");
  }
  return quota_cpus(quota, period);
}

int parc_cpu_count(void) {
  int cpus = affinity_count();
  int quota = cgroup2_cpus();
  if (quota == 0) quota = cgroup1_cpus();
  if (quota > 0 && quota < cpus) cpus = quota;
  return cpus > 0 ? cpus : 1;
}
