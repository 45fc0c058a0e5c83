/*
 * bench_util.h — what bench/overhead.c and bench/workloads.c share: clocks,
 * medians, one measurement per fresh child process, and peer result files.
 *
 * Why a child per measurement: GCC's OpenMP runtime keeps its threads
 * spinning for a while after a parallel region, and a pool keeps its
 * workers; on a 2-core machine either would steal the CPU from whatever is
 * measured next. A fresh fork of a parent that has never started a thread
 * starts every case from the same clean state (and makes PARC_PROCESSES
 * pools and OpenMP safe to use in the same benchmark).
 */
#ifndef PARC_BENCH_UTIL_H
#define PARC_BENCH_UTIL_H

#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static inline uint64_t bench_now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static int bench_compare_doubles(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

/* Median of the finite values among v[0..n) (sorts them); NAN when none. */
static inline double bench_median(double *v, int n) {
  int k = 0;
  for (int i = 0; i < n; i++)
    if (isfinite(v[i])) v[k++] = v[i];
  if (k == 0) return NAN;
  qsort(v, (size_t)k, sizeof v[0], bench_compare_doubles);
  return k % 2 ? v[k / 2] : (v[k / 2 - 1] + v[k / 2]) / 2;
}

/* What a case reports from its child: a value (NAN when it could not run),
   a check of its outputs, the CPU seconds its process spent on the measured
   part (NAN when not measured), and a short note ("not built: ...", a
   checksum). */
typedef struct bench_result {
  double value;
  double check;
  double cpu;
  char note[200];
} bench_result;

#define BENCH_NO_RESULT ((bench_result){NAN, NAN, NAN, ""})

/* CPU seconds (user + system) of every thread of this process so far. */
static inline double bench_cpu_seconds(void) {
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  return (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
         (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) * 1e-6;
}

typedef bench_result (*bench_case_fn)(const void *arg);

/* Runs fn(arg) in a fresh child with a time limit and returns its result;
   value NAN with a note when the child crashed or ran out of time. */
static inline bench_result bench_in_child(bench_case_fn fn, const void *arg, unsigned limit_s) {
  bench_result r = BENCH_NO_RESULT;
  int fd[2];
  if (pipe(fd) != 0) {
    snprintf(r.note, sizeof r.note, "pipe: %s", strerror(errno));
    return r;
  }
  fflush(NULL);
  pid_t pid = fork();
  if (pid < 0) {
    snprintf(r.note, sizeof r.note, "fork: %s", strerror(errno));
    close(fd[0]);
    close(fd[1]);
    return r;
  }
  if (pid == 0) {
    close(fd[0]);
    alarm(limit_s);
    bench_result mine = fn(arg);
    ssize_t w = write(fd[1], &mine, sizeof mine);
    _exit(w == (ssize_t)sizeof mine ? 0 : 1);
  }
  close(fd[1]);
  ssize_t got = 0;
  while (got < (ssize_t)sizeof r) {
    ssize_t k = read(fd[0], (char *)&r + got, sizeof r - (size_t)got);
    if (k < 0 && errno == EINTR) continue;
    if (k <= 0) break;
    got += k;
  }
  close(fd[0]);
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (got != (ssize_t)sizeof r) {
    r = BENCH_NO_RESULT;
    if (WIFSIGNALED(status))
      snprintf(r.note, sizeof r.note, "failed: killed by signal %d (%s)%s", WTERMSIG(status),
               strsignal(WTERMSIG(status)), WTERMSIG(status) == SIGALRM ? ", time limit" : "");
    else
      snprintf(r.note, sizeof r.note, "failed: exit status %d", WEXITSTATUS(status));
  }
  return r;
}

/* A peer result file, written by the scripts in bench/peers: one result per
   line, "key<TAB>value<TAB>extra<TAB>label", where value is ns per task
   (empty tasks) or seconds (workloads) and extra is the task count (empty
   tasks) or the result's mean (workloads). Lines starting with '#' are
   ignored. */
/* The command line every C benchmark takes:
   [--quick] [--repeats N] [--workers N] [--peers FILE] [--only LIST].
   Fields keep the caller's defaults unless given; false (after printing
   the usage, naming only_what as the --only list) on anything else. */
typedef struct bench_args {
  bool quick;
  int repeats;
  int workers;
  const char *peers_path;
  const char *only;
} bench_args;

static inline bool bench_parse_args(int argc, char **argv, bench_args *a, const char *only_what) {
  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "--quick") == 0) a->quick = true;
    else if (strcmp(argv[i], "--repeats") == 0 && i + 1 < argc) a->repeats = atoi(argv[++i]);
    else if (strcmp(argv[i], "--workers") == 0 && i + 1 < argc) a->workers = atoi(argv[++i]);
    else if (strcmp(argv[i], "--peers") == 0 && i + 1 < argc) a->peers_path = argv[++i];
    else if (strcmp(argv[i], "--only") == 0 && i + 1 < argc) a->only = argv[++i];
    else {
      fprintf(stderr, "usage: %s [--quick] [--repeats N] [--workers N] [--peers FILE] [--only %s]\n",
              argv[0], only_what);
      return false;
    }
  }
  if (a->repeats < 1) a->repeats = 1;
  if (a->workers < 1) a->workers = 1;
  return true;
}

/* Whether key is in the comma-separated list (NULL: every key is). */
static inline bool bench_selected(const char *list, const char *key) {
  if (!list) return true;
  size_t len = strlen(key);
  for (const char *p = list; *p;) {
    const char *end = strchr(p, ',');
    size_t n = end ? (size_t)(end - p) : strlen(p);
    if (n == len && strncmp(p, key, n) == 0) return true;
    if (!end) break;
    p = end + 1;
  }
  return false;
}

typedef struct bench_peer {
  char key[48];
  double value;
  double extra;
  char label[96];
} bench_peer;

/* Reads up to max peers from path; returns how many (0 when path is NULL
   or unreadable). */
static inline int bench_read_peers(const char *path, bench_peer *peers, int max) {
  if (!path) return 0;
  FILE *f = fopen(path, "r");
  if (!f) {
    fprintf(stderr, "bench: cannot read peer results %s: %s\n", path, strerror(errno));
    return 0;
  }
  int n = 0;
  char line[512];
  while (n < max && fgets(line, sizeof line, f)) {
    if (line[0] == '#' || line[0] == '\n') continue;
    bench_peer p;
    memset(&p, 0, sizeof p);
    char *save = NULL;
    char *key = strtok_r(line, "\t\n", &save);
    char *value = strtok_r(NULL, "\t\n", &save);
    char *extra = strtok_r(NULL, "\t\n", &save);
    char *label = strtok_r(NULL, "\t\n", &save);
    if (!key || !value || !extra || !label) continue;
    snprintf(p.key, sizeof p.key, "%s", key);
    p.value = strtod(value, NULL);
    p.extra = strtod(extra, NULL);
    snprintf(p.label, sizeof p.label, "%s", label);
    peers[n++] = p;
  }
  fclose(f);
  return n;
}

static inline const bench_peer *bench_find_peer(const bench_peer *peers, int n, const char *key) {
  for (int i = 0; i < n; i++)
    if (strcmp(peers[i].key, key) == 0) return &peers[i];
  return NULL;
}

#endif /* PARC_BENCH_UTIL_H */
