/*
 * run_output.c — what a finished job leaves: its output on stdout and stderr
 * (whole, so jobs never interleave; each line tagged under --tag) or, under
 * --results DIR, files in GNU parallel's layout:
 *
 *   DIR/1/<value of source 1>/2/<value of source 2>/{seq,stdout,stderr}
 *
 * where a value's "\" becomes "\\" and its "/" becomes "\_", so any value is
 * one directory name.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "run.h"

static int write_all(int fd, const char *data, size_t n) {
  while (n > 0) {
    ssize_t w = write(fd, data, n);
    if (w < 0 && errno == EINTR) continue;
    if (w < 0 && errno == EPIPE) return 0; /* the reader left: nothing to tell it */
    if (w <= 0) {
      fprintf(stderr, "parc run: cannot write output: %s\n", w < 0 ? strerror(errno) : "short write");
      return -1;
    }
    data += w;
    n -= (size_t)w;
  }
  return 0;
}

int run_write(int fd, const char *tag, const char *data, size_t n, int *line_start) {
  if (!tag) return write_all(fd, data, n);
  while (n > 0) {
    if (*line_start && (write_all(fd, tag, strlen(tag)) || write_all(fd, "\t", 1))) return -1;
    const char *nl = memchr(data, '\n', n);
    size_t len = nl ? (size_t)(nl - data) + 1 : n;
    if (write_all(fd, data, len)) return -1;
    *line_start = nl != NULL;
    data += len;
    n -= len;
  }
  return 0;
}

char *run_tag(const run_inputs *in, const char **values) {
  run_str s = {0};
  int rc = run_str_add(&s, "", 0);
  for (size_t i = 0; rc == 0 && i < in->nsources; i++)
    rc = (i && run_str_add(&s, " ", 1)) || run_str_add(&s, values[i], strlen(values[i]));
  if (rc == 0) return s.p;
  free(s.p);
  return NULL;
}

static int add_escaped(run_str *s, const char *v) {
  for (; *v; v++) {
    int rc = *v == '\\' ? run_str_add(s, "\\\\", 2)
             : *v == '/' ? run_str_add(s, "\\_", 2)
                         : run_str_add(s, v, 1);
    if (rc) return -1;
  }
  return 0;
}

static int make_dir(const char *path) {
  if (mkdir(path, 0777) == 0 || errno == EEXIST) return 0;
  fprintf(stderr, "parc run: cannot make %s: %s\n", path, strerror(errno));
  return -1;
}

static int write_file(const char *dir, const char *name, run_spool *spool, const char *text) {
  char *path = malloc(strlen(dir) + strlen(name) + 2);
  if (!path) return -1;
  sprintf(path, "%s/%s", dir, name);
  int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
  int rc = -1;
  if (fd < 0) fprintf(stderr, "parc run: cannot write %s: %s\n", path, strerror(errno));
  else rc = spool ? run_spool_copy(spool, fd, NULL) : write_all(fd, text, strlen(text));
  if (fd >= 0 && close(fd) != 0 && rc == 0) {
    fprintf(stderr, "parc run: cannot write %s: %s\n", path, strerror(errno));
    rc = -1;
  }
  free(path);
  return rc;
}

int run_results_write(const char *dir, const run_result *r) {
  run_str path = {0};
  int rc = run_str_add(&path, dir, strlen(dir)) || make_dir(path.p);
  for (size_t i = 0; rc == 0 && i < r->nvalues; i++) {
    char num[32];
    snprintf(num, sizeof num, "/%zu", i + 1);
    rc = run_str_add(&path, num, strlen(num)) || make_dir(path.p) || run_str_add(&path, "/", 1) ||
         add_escaped(&path, r->values[i]) || make_dir(path.p);
  }
  char seq[32];
  snprintf(seq, sizeof seq, "%zu", r->seq);
  rc = rc || write_file(path.p, "seq", NULL, seq) || write_file(path.p, "stdout", r->out, NULL) ||
       write_file(path.p, "stderr", r->err, NULL);
  free(path.p);
  return rc ? -1 : 0;
}
