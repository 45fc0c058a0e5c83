/*
 * run_spool.c — a job's captured output until it may be printed.
 *
 * Output is grouped per job, so it waits somewhere. The first 64 KiB wait in
 * memory (most jobs print less, and 5,000 `echo` jobs should not touch the
 * disk); the rest goes to a file in a private directory (0700, made on first
 * need under $TMPDIR). The file is created unnamed (O_TMPFILE, or unlinked
 * at once where that is missing), so it vanishes with its descriptor even if
 * parc is killed with SIGKILL; only the empty directory needs removing, at
 * exit or on a signal. A failed write — a full disk above all — is reported:
 * output is never dropped silently.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "run.h"

#define SPOOL_MEMORY (64 * 1024)

static char spool_dir[PATH_MAX];

static int make_dir(void) {
  if (spool_dir[0]) return 0;
  const char *tmp = getenv("TMPDIR");
  if (!tmp || !*tmp) tmp = "/tmp";
  if (snprintf(spool_dir, sizeof spool_dir, "%s/parc-run.XXXXXX", tmp) >= (int)sizeof spool_dir ||
      !mkdtemp(spool_dir)) {
    fprintf(stderr, "parc run: cannot make a spool directory in %s: %s\n", tmp, strerror(errno));
    spool_dir[0] = '\0';
    return -1;
  }
  return 0;
}

static int open_spill(void) {
  if (make_dir()) return -1;
  int fd = open(spool_dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
  if (fd < 0 && (errno == EOPNOTSUPP || errno == EISDIR || errno == EINVAL)) {
    char path[PATH_MAX + 16];
    snprintf(path, sizeof path, "%s/out.XXXXXX", spool_dir);
    fd = mkostemp(path, O_CLOEXEC);
    if (fd >= 0) unlink(path);
  }
  if (fd < 0) fprintf(stderr, "parc run: cannot spool output in %s: %s\n", spool_dir, strerror(errno));
  return fd;
}

static int spill(run_spool *s, const char *data, size_t n) {
  if (s->fd < 0 && (s->fd = open_spill()) < 0) return -1;
  while (n > 0) {
    ssize_t w = pwrite(s->fd, data, n, (off_t)s->spilled);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) {
      fprintf(stderr, "parc run: cannot spool output in %s: %s\n", spool_dir,
              w < 0 ? strerror(errno) : "short write");
      return -1;
    }
    s->spilled += (size_t)w;
    data += w;
    n -= (size_t)w;
  }
  return 0;
}

int run_spool_write(run_spool *s, const char *data, size_t n) {
  if (s->fd < 0 && s->len + n <= SPOOL_MEMORY) {
    if (s->len + n > s->cap) {
      size_t cap = s->cap ? s->cap : 4096;
      while (cap < s->len + n) cap *= 2;
      char *p = realloc(s->mem, cap);
      if (!p) return spill(s, data, n); /* memory short: the disk will do */
      s->mem = p;
      s->cap = cap;
    }
    memcpy(s->mem + s->len, data, n);
    s->len += n;
    return 0;
  }
  return spill(s, data, n);
}

size_t run_spool_size(const run_spool *s) { return s->len + s->spilled; }

int run_spool_copy(run_spool *s, int fd, const char *tag) {
  int line_start = 1;
  if (run_write(fd, tag, s->mem, s->len, &line_start)) return -1;
  char buf[65536];
  for (size_t off = 0; off < s->spilled;) {
    ssize_t r = pread(s->fd, buf, sizeof buf, (off_t)off);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) {
      fprintf(stderr, "parc run: cannot read spooled output: %s\n", r < 0 ? strerror(errno) : "short");
      return -1;
    }
    if (run_write(fd, tag, buf, (size_t)r, &line_start)) return -1;
    off += (size_t)r;
  }
  return 0;
}

void run_spool_reset(run_spool *s) {
  free(s->mem);
  if (s->fd >= 0) close(s->fd);
  *s = (run_spool){NULL, 0, 0, -1, 0};
}

void run_spool_cleanup(void) {
  if (spool_dir[0]) rmdir(spool_dir);
  spool_dir[0] = '\0';
}
