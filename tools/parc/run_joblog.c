/*
 * run_joblog.c — the joblog, in GNU parallel's exact format, and --resume.
 *
 *   Seq Host Starttime JobRuntime Send Receive Exitval Signal Command
 *
 * tab-separated, Host ":", Starttime "%.3f", JobRuntime "%10.3f". Each line
 * goes out in one write() to a file opened O_APPEND as its job finishes, so
 * a run killed at any moment leaves a log of whole lines: the jobs that
 * finished, and only those.
 *
 * GNU parallel resumes by sequence number, which reruns or skips the wrong
 * job once the inputs or the template change. parc matches jobs by their
 * command line instead: a job is done if the log holds its exact command
 * (as often as the inputs repeat it). --resume-by-seq keeps GNU's way.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "run.h"

typedef struct entry {
  char *key;
  size_t count;
} entry;

struct run_joblog {
  int fd;        /* -1: no joblog is written */
  int by_seq;
  entry *table;  /* open addressing, a power of two */
  size_t size, used;
};

static const char header[] = "Seq\tHost\tStarttime\tJobRuntime\tSend\tReceive\tExitval\tSignal\tCommand\n";

static uint64_t hash(const char *s) {
  uint64_t h = 1469598103934665603ull;
  for (; *s; s++) h = (h ^ (unsigned char)*s) * 1099511628211ull;
  return h;
}

static entry *slot_of(run_joblog *log, const char *key) {
  size_t i = (size_t)hash(key) & (log->size - 1);
  while (log->table[i].key && strcmp(log->table[i].key, key) != 0) i = (i + 1) & (log->size - 1);
  return &log->table[i];
}

static int grow(run_joblog *log) {
  size_t old = log->size;
  entry *was = log->table;
  log->size = old ? old * 2 : 1024;
  if (!(log->table = calloc(log->size, sizeof *log->table))) return -1;
  for (size_t i = 0; i < old; i++)
    if (was[i].key) *slot_of(log, was[i].key) = was[i];
  free(was);
  return 0;
}

static int remember(run_joblog *log, const char *key) {
  if ((log->used + 1) * 2 > log->size && grow(log)) return -1;
  entry *e = slot_of(log, key);
  if (!e->key) {
    if (!(e->key = strdup(key))) return -1;
    log->used++;
  }
  e->count++;
  return 0;
}

/* A record's first eight fields; *command points into line. */
static int parse_record(char *line, size_t *seq, int *exitval, int *sig, char **command) {
  char *field[9], *p = line;
  for (int i = 0; i < 8; i++) {
    field[i] = p;
    if (!(p = strchr(p, '\t'))) return -1;
    *p++ = '\0';
  }
  char *end;
  unsigned long long s = strtoull(field[0], &end, 10);
  if (*end || end == field[0]) return -1;
  long ev = strtol(field[6], &end, 10);
  if (*end) return -1;
  long sg = strtol(field[7], &end, 10);
  if (*end) return -1;
  *seq = (size_t)s;
  *exitval = (int)ev;
  *sig = (int)sg;
  *command = p;
  return 0;
}

/* Lines that are not records continue the command before them: a value
   with a newline (-0 input) is written as is, as GNU parallel does. */
static int load(run_joblog *log, char *data, int resume) {
  run_str cmd = {0};
  size_t seq = 0;
  int exitval = 0, sig = 0, have = 0, rc = 0;
  for (char *line = data, *next; rc == 0 && line && *line; line = next) {
    next = strchr(line, '\n');
    if (next) *next++ = '\0';
    else break; /* a last line without its newline was cut off: not finished */
    size_t s;
    int ev, sg;
    char *command;
    if (strncmp(line, "Seq\t", 4) == 0) continue;
    if (parse_record(line, &s, &ev, &sg, &command) != 0) {
      if (have) rc = run_str_add(&cmd, "\n", 1) || run_str_add(&cmd, line, strlen(line));
      continue;
    }
    if (have && (resume == 1 || (exitval == 0 && sig == 0))) {
      char key[32];
      snprintf(key, sizeof key, "%zu", seq);
      rc = remember(log, log->by_seq ? key : cmd.p);
    }
    cmd.len = 0;
    rc = rc || run_str_add(&cmd, command, strlen(command));
    seq = s, exitval = ev, sig = sg, have = 1;
  }
  if (rc == 0 && have && (resume == 1 || (exitval == 0 && sig == 0))) {
    char key[32];
    snprintf(key, sizeof key, "%zu", seq);
    rc = remember(log, log->by_seq ? key : cmd.p);
  }
  free(cmd.p);
  return rc;
}

static char *read_all(int fd, size_t *len) {
  run_str s = {0};
  char buf[65536];
  ssize_t r;
  if (run_str_add(&s, "", 0)) return NULL;
  while ((r = read(fd, buf, sizeof buf)) != 0) {
    if (r < 0 && errno == EINTR) continue;
    if (r < 0 || run_str_add(&s, buf, (size_t)r)) {
      free(s.p);
      return NULL;
    }
  }
  *len = s.len;
  return s.p;
}

static int write_all(int fd, const char *p, size_t n) {
  while (n > 0) {
    ssize_t w = write(fd, p, n);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return -1;
    p += w;
    n -= (size_t)w;
  }
  return 0;
}

run_joblog *run_joblog_open(const char *path, int resume, int by_seq, int dry_run) {
  run_joblog *log = calloc(1, sizeof *log);
  if (!log) return NULL;
  log->fd = -1;
  log->by_seq = by_seq;
  if (!path) return log;
  int flags = O_RDWR | O_CREAT | O_CLOEXEC | (resume ? O_APPEND : O_TRUNC);
  if (dry_run && (log->fd = open(path, O_RDONLY | O_CLOEXEC)) < 0 && errno == ENOENT) return log;
  if (!dry_run && (log->fd = open(path, flags, 0666)) < 0) {
    fprintf(stderr, "parc run: cannot open joblog %s: %s\n", path, strerror(errno));
    goto fail;
  }
  size_t len = 0;
  char *data = resume ? read_all(log->fd, &len) : NULL;
  if (resume && !data) {
    fprintf(stderr, "parc run: cannot read joblog %s\n", path);
    goto fail;
  }
  /* A line cut off by a kill gets its end, so the next record starts clean. */
  int cut_off = len > 0 && data[len - 1] != '\n';
  int rc = data ? load(log, data, resume) : 0;
  if (rc == 0 && cut_off && !dry_run) rc = write_all(log->fd, "\n", 1);
  if (rc == 0 && len == 0 && !dry_run) rc = write_all(log->fd, header, sizeof header - 1);
  free(data);
  if (dry_run && log->fd >= 0) {
    close(log->fd); /* --dry-run reads the log, writes nothing */
    log->fd = -1;
  }
  if (rc == 0) return log;
  fprintf(stderr, "parc run: cannot use joblog %s: %s\n", path, strerror(errno));
fail:
  run_joblog_close(log);
  return NULL;
}

int run_joblog_skip(run_joblog *log, size_t seq, const char *command) {
  if (!log || !log->table) return 0;
  char key[32];
  snprintf(key, sizeof key, "%zu", seq);
  entry *e = slot_of(log, log->by_seq ? key : command);
  if (!e->key || e->count == 0) return 0;
  e->count--;
  return 1;
}

int run_joblog_add(run_joblog *log, size_t seq, double start, double runtime, size_t received,
                   int exitval, int sig, const char *command) {
  if (!log || log->fd < 0) return 0;
  char head[160];
  int n = snprintf(head, sizeof head, "%zu\t:\t%.3f\t%10.3f\t0\t%zu\t%d\t%d\t", seq, start, runtime,
                   received, exitval, sig);
  size_t len = (size_t)n + strlen(command) + 1;
  char *line = malloc(len);
  if (!line) return -1;
  memcpy(line, head, (size_t)n);
  memcpy(line + n, command, strlen(command));
  line[len - 1] = '\n';
  int rc = write_all(log->fd, line, len);
  free(line);
  if (rc) fprintf(stderr, "parc run: cannot write the joblog: %s\n", strerror(errno));
  return rc;
}

void run_joblog_close(run_joblog *log) {
  if (!log) return;
  if (log->fd >= 0) close(log->fd);
  for (size_t i = 0; i < log->size; i++) free(log->table[i].key);
  free(log->table);
  free(log);
}
