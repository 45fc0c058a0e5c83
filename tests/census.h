/* census.h — what a process-backend test counts: its own descriptors and
   child processes, read from /proc. Each harness test runs in a fresh
   process, so every child it finds is one the test made. */
#ifndef PARC_TEST_CENSUS_H
#define PARC_TEST_CENSUS_H

#include <dirent.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static void sleep_ms(int ms) {
  struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
  nanosleep(&ts, NULL);
}

static int count_fds(void) {
  DIR *d = opendir("/proc/self/fd");
  int n = 0;
  /* Open MPI's shared-memory transport (the MPI suite, run beside this one
     by ctest -j) names its segments vader_segment.*: they are not ours. */
  for (struct dirent *e; (e = readdir(d));)
    n += e->d_name[0] != '.' && strncmp(e->d_name, "vader_segment", 13) != 0;
  closedir(d);
  return n - 1; /* the directory's own descriptor */
}

/* Processes whose parent is this one. */
static int count_children(void) {
  DIR *d = opendir("/proc");
  int n = 0;
  char path[300], line[256];
  for (struct dirent *e; (e = readdir(d));) {
    if (e->d_name[0] < '0' || e->d_name[0] > '9') continue;
    snprintf(path, sizeof path, "/proc/%s/status", e->d_name);
    FILE *f = fopen(path, "r");
    if (!f) continue;
    while (fgets(line, sizeof line, f)) {
      int ppid;
      if (sscanf(line, "PPid: %d", &ppid) == 1) {
        n += ppid == getpid();
        break;
      }
    }
    fclose(f);
  }
  closedir(d);
  return n;
}

/* Names in /dev/shm (the pool makes none: its region is a memfd). */
static inline int count_dev_shm(void) {
  DIR *d = opendir("/dev/shm");
  if (!d) return 0;
  int n = 0;
  /* Open MPI's shared-memory transport (the MPI suite, run beside this one
     by ctest -j) names its segments vader_segment.*: they are not ours. */
  for (struct dirent *e; (e = readdir(d));)
    n += e->d_name[0] != '.' && strncmp(e->d_name, "vader_segment", 13) != 0;
  closedir(d);
  return n;
}

/* How many processes run `sleep SECONDS` (their /proc/PID/cmdline). */
static inline int count_sleepers(const char *seconds) {
  DIR *d = opendir("/proc");
  if (!d) return 0;
  char want[64];
  int want_len = snprintf(want, sizeof want, "sleep%c%s", '\0', seconds) + 1;
  int n = 0;
  for (struct dirent *e; (e = readdir(d));) {
    if (e->d_name[0] < '1' || e->d_name[0] > '9') continue;
    char path[300], cmd[64];
    snprintf(path, sizeof path, "/proc/%s/cmdline", e->d_name);
    FILE *f = fopen(path, "r");
    if (!f) continue;
    size_t len = fread(cmd, 1, sizeof cmd, f);
    fclose(f);
    if ((int)len == want_len && memcmp(cmd, want, (size_t)want_len) == 0) n++;
  }
  closedir(d);
  return n;
}

/* Waits (up to 3 s) until no `sleep SECONDS` runs; returns how many do. */
static inline int sleepers_after_a_while(const char *seconds) {
  for (int i = 0; i < 300 && count_sleepers(seconds) > 0; i++) usleep(10000);
  return count_sleepers(seconds);
}

#endif
