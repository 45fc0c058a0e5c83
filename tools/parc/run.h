/*
 * run.h — what the files of `parc run` share (private to the tool).
 *
 *   run_cmd.c     options, --help, the driver
 *   run_inputs.c  input sources, their combination, replacement strings, quoting
 *   run_spool.c   a job's captured output: memory first, then a private temp dir
 *   run_jobs.c    the event loop: spawn, process groups, timeouts, signals
 *   run_output.c  printing finished jobs: grouping, --keep-order, --tag, --results
 *   run_joblog.c  the joblog (GNU parallel's format) and --resume
 *
 * Errors are values: functions return 0 or -1 after printing one line that
 * starts with "parc run: ". The exit status for such errors is 255.
 */
#ifndef PARC_TOOL_RUN_H
#define PARC_TOOL_RUN_H

#include <stddef.h>
#include <stdio.h>
#include <sys/types.h>

#define RUN_EXIT_ERROR 255

/* ---- inputs (run_inputs.c) ---------------------------------------------- */

/* One input source: ::: words, :::: file lines, or stdin. A linked source
   (:::+, ::::+) advances together with the one before it. */
typedef struct run_source {
  char **values;
  size_t n;
  int linked;
} run_source;

/* A piece of the command template: literal text, or a replacement string. */
enum run_token_kind {
  RUN_TEXT,      /* literal shell text */
  RUN_ARG,       /* {} or {n} */
  RUN_NOEXT,     /* {.} */
  RUN_BASE,      /* {/} */
  RUN_DIR,       /* {//} */
  RUN_BASENOEXT, /* {/.} */
  RUN_SEQ,       /* {#} */
  RUN_SLOT,      /* {%} */
};

typedef struct run_token {
  enum run_token_kind kind;
  size_t source; /* 0: every source; n: the n-th */
  char *text;    /* RUN_TEXT only */
} run_token;

typedef struct run_inputs {
  run_source *sources;
  size_t nsources;
  size_t *group_of;   /* source -> its group of linked sources */
  size_t *group_size; /* per group: the shortest source's length */
  size_t ngroups;
  size_t total;       /* jobs: the product of the group sizes */

  run_token *tokens;  /* the template, parsed */
  size_t ntokens;
  int has_replacement; /* else the arguments are appended */
  int no_command;      /* no template: the input is the command */
  int direct;          /* the template may run without a shell */
} run_inputs;

int run_inputs_add_words(run_inputs *in, char **words, size_t n, int linked);
int run_inputs_add_file(run_inputs *in, const char *path, int nul, int linked);
int run_inputs_finish(run_inputs *in, char **command, size_t ncommand);
void run_inputs_free(run_inputs *in);

/* The values of job seq (1-based): values[s] for each source s. */
void run_inputs_values(const run_inputs *in, size_t seq, const char **values);

/* The shell command line of a job, every value quoted. Caller frees. */
char *run_inputs_command(const run_inputs *in, const char **values, size_t seq, int slot);

/* The argv of a job run without a shell, or NULL where only a shell gives
   the same result. Caller frees with run_argv_free. */
char **run_inputs_argv(const run_inputs *in, const char **values, size_t seq, int slot);
void run_argv_free(char **argv);

/* Appends s to a growing string, single-quoted where the shell would
   otherwise interpret it. */
typedef struct run_str {
  char *p;
  size_t len, cap;
} run_str;
int run_str_add(run_str *s, const char *text, size_t n);
int run_str_quoted(run_str *s, const char *value);

/* ---- spool (run_spool.c) -------------------------------------------------- */

/* Captured output: the first bytes in memory, the rest in an unnamed file in
   a private 0700 directory under $TMPDIR that is removed at exit. */
typedef struct run_spool {
  char *mem;
  size_t len, cap;
  int fd;           /* spill file, -1 while everything fits in memory */
  size_t spilled;   /* bytes in the file */
} run_spool;

int run_spool_write(run_spool *s, const char *data, size_t n);
/* Copies everything to fd (prefixing each line with tag where tag != NULL). */
int run_spool_copy(run_spool *s, int fd, const char *tag);
void run_spool_reset(run_spool *s);
size_t run_spool_size(const run_spool *s);
void run_spool_cleanup(void);   /* removes the private directory; async-safe enough */

/* ---- options and the run (run_cmd.c, run_jobs.c) ------------------------- */

enum run_group { RUN_GROUPED, RUN_LINES, RUN_UNGROUPED };
enum run_halt_when { RUN_HALT_NEVER, RUN_HALT_SOON, RUN_HALT_NOW };
enum run_halt_on { RUN_HALT_FAIL, RUN_HALT_SUCCESS, RUN_HALT_DONE };

typedef struct run_options {
  int jobs;
  double timeout;       /* seconds, 0 = none */
  double timeout_pct;   /* of the median successful runtime, 0 = none */
  int retries;          /* total tries, GNU's meaning */
  enum run_halt_when halt_when;
  enum run_halt_on halt_on;
  double halt_count;    /* N, or 0 with halt_pct */
  double halt_pct;      /* fraction, 0 = count */
  const char *joblog;
  int resume;           /* 1 --resume, 2 --resume-failed */
  int resume_by_seq;
  int keep_order;
  int tag;
  enum run_group group;
  const char *results;
  int bar, eta, dry_run;
  const char *shell;
} run_options;

typedef struct run_joblog run_joblog;

/* Runs every job; returns the exit status (GNU parallel's rules). */
int run_jobs(const run_options *opt, const run_inputs *in, run_joblog *log);

/* ---- output (run_output.c) ---------------------------------------------- */

typedef struct run_result {
  size_t seq;
  const char **values;
  size_t nvalues;
  run_spool *out, *err;
} run_result;

/* Writes data to fd, each line prefixed with tag and a TAB where tag is not
   NULL; *line_start carries "the next byte starts a line" across calls. */
int run_write(int fd, const char *tag, const char *data, size_t n, int *line_start);
char *run_tag(const run_inputs *in, const char **values);
/* --results: DIR/1/<value>/2/<value>/{seq,stdout,stderr}, made as needed. */
int run_results_write(const char *dir, const run_result *r);

/* ---- joblog and resume (run_joblog.c) -------------------------------------- */

/* Opens (truncates, or with resume reads and appends to) the joblog at path;
   NULL path: no joblog. dry_run: read for --resume, write nothing. */
run_joblog *run_joblog_open(const char *path, int resume, int by_seq, int dry_run);
/* Whether a job is done already and --resume skips it. */
int run_joblog_skip(run_joblog *log, size_t seq, const char *command);
int run_joblog_add(run_joblog *log, size_t seq, double start, double runtime,
                   size_t received, int exitval, int sig, const char *command);
void run_joblog_close(run_joblog *log);

double run_now(void);

#endif
