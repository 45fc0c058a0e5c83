/*
 * run_cmd.c — `parc run`: GNU parallel's job control for shell commands.
 *
 *   parc run [OPTIONS] COMMAND [ARG...] ::: INPUTS... [:::+ INPUTS...] [:::: FILE...]
 *
 * This file reads the options and the input sources, then hands over to the
 * event loop (run_jobs.c). Options mean what they mean in GNU parallel, with
 * three differences, all deliberate: --resume matches jobs by command line
 * (GNU's sequence numbers stay behind --resume-by-seq), a job killed by a
 * signal says which on stderr, and no citation notice is ever printed.
 * Bad usage is one line on stderr and exit status 255.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "commands.h"
#include "parc.h"
#include "run.h"

#define MAX_JOBS 4096

static void usage(FILE *to) {
  fputs(
          "usage: parc run [OPTIONS] COMMAND [ARG...] ::: INPUT... [:::+ INPUT...] [:::: FILE...]\n"
          "       parc run [OPTIONS] COMMAND [ARG...] < INPUTS\n"
          "Runs COMMAND once per input (shell code; every input value is quoted, never\n"
          "interpreted). Replacement strings: {} {.} {/} {//} {/.} {#} {%} and {1} {2} ...\n"
          "per source ({1.} {2/} ...); with none, the input is appended.\n"
          "Sources: ::: words, :::: files ('-' is stdin), :::+ / ::::+ linked to the one\n"
          "before; several sources combine as a cartesian product. No source: stdin.\n"
          "\n"
          "  -j, --jobs N        jobs at once: N, 0 (as many as possible), N% of CPUs,\n"
          "                      +N or -N CPUs (default: the number of CPUs)\n"
          "  -0, --null          inputs are NUL-separated\n"
          "  -a, --arg-file FILE read inputs from FILE (like :::: FILE)\n"
          "  -k, --keep-order    print output in input order\n"
          "      --tag           prefix each output line with the input and a TAB\n"
          "      --line-buffer   print whole lines as they come (default: per job)\n"
          "  -u, --ungroup       jobs write straight to stdout and stderr\n"
          "      --timeout S     kill a job after S seconds, or N% of the median runtime\n"
          "      --retries N     run a failing job up to N times\n"
          "      --halt WHEN,fail=N|N%|success=N|N%|done=N  WHEN: now or soon\n"
          "      --joblog FILE   one line per job in GNU parallel's format\n"
          "      --resume        skip jobs the joblog holds (matched by command line)\n"
          "      --resume-failed skip only jobs the joblog holds as succeeded\n"
          "      --resume-by-seq match by sequence number, as GNU parallel does\n"
          "      --results DIR   output in DIR/1/<input>/{seq,stdout,stderr}\n"
          "      --bar, --eta    progress on stderr\n"
          "      --dry-run       print the commands, run nothing\n"
          "\n"
          "Exit status: 0, the number of failed jobs up to 100, 101 beyond, 255 for errors.\n"
          "Jobs run in $PARALLEL_SHELL, else $SHELL, else /bin/sh. See parc-run(1).\n",
        to);
}

static int bad(const char *what, const char *value) {
  fprintf(stderr, "parc run: %s '%s' (try parc run --help)\n", what, value);
  return -1;
}

/* -j: N, 0, N%, +N, -N. */
static int parse_jobs(const char *s, int *jobs) {
  int cpus = parc_cpu_count(); /* first: it may leave errno set */
  char *end;
  errno = 0;
  double v = strtod(s, &end);
  if (end == s || errno || !isfinite(v)) return bad("bad number of jobs", s);
  if (*end == '%' && end[1] == '\0' && v >= 0) v = floor(cpus * v / 100);
  else if (*end != '\0' || v != floor(v)) return bad("bad number of jobs", s);
  else if (s[0] == '+' || s[0] == '-') v = cpus + v;
  else if (v == 0) v = MAX_JOBS;
  if (v > MAX_JOBS) return bad("too many jobs", s);
  *jobs = v < 1 ? 1 : (int)v;
  return 0;
}

static int parse_timeout(const char *s, run_options *o) {
  char *end;
  errno = 0;
  double v = strtod(s, &end);
  if (end == s || errno || !isfinite(v) || v <= 0) return bad("bad timeout", s);
  double unit = 0;
  if (strcmp(end, "%") == 0) {
    o->timeout_pct = v / 100;
    return 0;
  }
  const char *units = "smhd";
  const double scale[] = {1, 60, 3600, 86400};
  if (*end == '\0') unit = 1;
  else if (end[1] == '\0' && strchr(units, *end)) unit = scale[strchr(units, *end) - units];
  if (unit == 0) return bad("bad timeout", s);
  o->timeout = v * unit;
  return 0;
}

/* GNU parallel's --halt forms, its shorthands included. */
static int parse_halt(const char *s, run_options *o) {
  static const char *const shorthand[][2] = {{"0", "never"},         {"1", "soon,fail=1"},
                                             {"2", "now,fail=1"},    {"-1", "soon,success=1"},
                                             {"-2", "now,success=1"}};
  char buf[128];
  snprintf(buf, sizeof buf, "%s", s);
  for (size_t i = 0; i < 5; i++)
    if (strcmp(s, shorthand[i][0]) == 0) snprintf(buf, sizeof buf, "%s", shorthand[i][1]);
  char *end;
  if (buf[0] >= '0' && buf[0] <= '9' && strtod(buf, &end) >= 0 && strcmp(end, "%") == 0) {
    char copy[128];
    snprintf(copy, sizeof copy, "%s", buf);
    snprintf(buf, sizeof buf, "soon,fail=%.100s", copy);
  }
  if (strcmp(buf, "never") == 0) {
    o->halt_when = RUN_HALT_NEVER;
    return 0;
  }
  char *comma = strchr(buf, ','), *eq = comma ? strchr(comma, '=') : NULL;
  if (!comma || !eq) return bad("--halt wants now|soon,fail|success|done=N|N%, not", s);
  *comma = *eq = '\0';
  if (strcmp(buf, "now") == 0) o->halt_when = RUN_HALT_NOW;
  else if (strcmp(buf, "soon") == 0) o->halt_when = RUN_HALT_SOON;
  else return bad("--halt must start with never, soon or now, not", s);
  if (strcmp(comma + 1, "fail") == 0) o->halt_on = RUN_HALT_FAIL;
  else if (strcmp(comma + 1, "success") == 0) o->halt_on = RUN_HALT_SUCCESS;
  else if (strcmp(comma + 1, "done") == 0) o->halt_on = RUN_HALT_DONE;
  else return bad("--halt wants fail=, success= or done=, not", s);
  double v = strtod(eq + 1, &end);
  if (end == eq + 1 || v < 0 || (*end && strcmp(end, "%") != 0)) return bad("bad --halt count", s);
  if (*end == '%') o->halt_pct = v / 100;
  else o->halt_count = v;
  return 0;
}

static int parse_count(const char *s, int *out) {
  char *end;
  errno = 0;
  long v = strtol(s, &end, 10);
  if (end == s || *end || errno || v < 0 || v > 1000000) return bad("bad count", s);
  *out = (int)v;
  return 0;
}

typedef struct parsed {
  run_options opt;
  run_inputs in;
  int nul;
  char **command;
  size_t ncommand;
  const char *arg_files[64];
  size_t narg_files;
} parsed;

/* Options that take a value; *value is the next word or the text after '='. */
static int option_value(int argc, char **argv, int *i, const char *name, const char **value) {
  const char *arg = argv[*i];
  size_t n = strlen(name);
  if (strncmp(arg, name, n) != 0) return 0;
  if (arg[n] == '=' && name[1] == '-') {
    *value = arg + n + 1;
    return 1;
  }
  if (arg[n] == '\0') {
    if (*i + 1 >= argc) return bad("option needs a value:", name), -1;
    *value = argv[++*i];
    return 1;
  }
  if (name[1] != '-' && arg[n] != '\0') { /* -j4 */
    *value = arg + n;
    return 1;
  }
  return 0;
}

static int parse_option(parsed *p, int argc, char **argv, int *i) {
  run_options *o = &p->opt;
  const char *a = argv[*i], *v;
  static const struct {
    const char *name;
    size_t offset;
  } flags[] = {
      {"-k", offsetof(run_options, keep_order)},     {"--keep-order", offsetof(run_options, keep_order)},
      {"--tag", offsetof(run_options, tag)},         {"--bar", offsetof(run_options, bar)},
      {"--eta", offsetof(run_options, eta)},         {"--dry-run", offsetof(run_options, dry_run)},
      {"--resume-by-seq", offsetof(run_options, resume_by_seq)},
  };
  for (size_t f = 0; f < sizeof flags / sizeof flags[0]; f++)
    if (strcmp(a, flags[f].name) == 0) {
      *(int *)((char *)o + flags[f].offset) = 1;
      return 0;
    }
  if (strcmp(a, "-0") == 0 || strcmp(a, "--null") == 0) return p->nul = 1, 0;
  if (strcmp(a, "--resume") == 0) return o->resume = o->resume ? o->resume : 1, 0;
  if (strcmp(a, "--resume-failed") == 0) return o->resume = 2, 0;
  if (strcmp(a, "--line-buffer") == 0 || strcmp(a, "--lb") == 0) return o->group = RUN_LINES, 0;
  if (strcmp(a, "-u") == 0 || strcmp(a, "--ungroup") == 0) return o->group = RUN_UNGROUPED, 0;
  if (strcmp(a, "--group") == 0) return o->group = RUN_GROUPED, 0;
  if (strcmp(a, "--will-cite") == 0) return 0; /* parc never asks for one */
  int r;
  if ((r = option_value(argc, argv, i, "--jobs", &v)) || (r = option_value(argc, argv, i, "-j", &v)) ||
      (r = option_value(argc, argv, i, "-P", &v)))
    return r < 0 ? -1 : parse_jobs(v, &o->jobs);
  if ((r = option_value(argc, argv, i, "--timeout", &v))) return r < 0 ? -1 : parse_timeout(v, o);
  if ((r = option_value(argc, argv, i, "--retries", &v))) return r < 0 ? -1 : parse_count(v, &o->retries);
  if ((r = option_value(argc, argv, i, "--halt-on-error", &v)) || (r = option_value(argc, argv, i, "--halt", &v)))
    return r < 0 ? -1 : parse_halt(v, o);
  if ((r = option_value(argc, argv, i, "--joblog", &v))) return r < 0 ? -1 : (o->joblog = v, 0);
  if ((r = option_value(argc, argv, i, "--results", &v)) || (r = option_value(argc, argv, i, "--res", &v)))
    return r < 0 ? -1 : (o->results = v, 0);
  if ((r = option_value(argc, argv, i, "--arg-file", &v)) || (r = option_value(argc, argv, i, "-a", &v))) {
    if (r < 0) return -1;
    if (p->narg_files == 64) return bad("too many", "--arg-file");
    p->arg_files[p->narg_files++] = v;
    return 0;
  }
  return bad("unknown option", a);
}

static int is_separator(const char *a) {
  return strcmp(a, ":::") == 0 || strcmp(a, ":::+") == 0 || strcmp(a, "::::") == 0 ||
         strcmp(a, "::::+") == 0;
}

/* The sources after the command: ::: words, :::: files, + for linked. */
static int parse_sources(parsed *p, int argc, char **argv, int i) {
  while (i < argc) {
    const char *sep = argv[i++];
    int linked = sep[strlen(sep) - 1] == '+', files = strncmp(sep, "::::", 4) == 0;
    int start = i;
    while (i < argc && !is_separator(argv[i])) i++;
    if (!files) {
      if (run_inputs_add_words(&p->in, argv + start, (size_t)(i - start), linked)) return -1;
      continue;
    }
    if (start == i) return bad("no file after", sep);
    for (int f = start; f < i; f++)
      if (run_inputs_add_file(&p->in, argv[f], p->nul, linked && f == start)) return -1;
  }
  return 0;
}

static int parse(parsed *p, int argc, char **argv) {
  int i = 1;
  for (; i < argc && argv[i][0] == '-' && argv[i][1] != '\0' && !is_separator(argv[i]); i++) {
    if (strcmp(argv[i], "--") == 0) {
      i++;
      break;
    }
    if (parse_option(p, argc, argv, &i)) return -1;
  }
  p->command = argv + i;
  while (i < argc && !is_separator(argv[i])) i++;
  p->ncommand = (size_t)(argv + i - p->command);
  for (size_t f = 0; f < p->narg_files; f++)
    if (run_inputs_add_file(&p->in, p->arg_files[f], p->nul, 0)) return -1;
  if (parse_sources(p, argc, argv, i)) return -1;
  if (p->in.nsources == 0 && run_inputs_add_file(&p->in, "-", p->nul, 0)) return -1;
  if (p->opt.resume && !p->opt.joblog) return bad("--resume needs --joblog FILE, as in", "--joblog jobs.log");
  return run_inputs_finish(&p->in, p->command, p->ncommand);
}

/* Each running job holds two pipes: raise the file limit to its ceiling and
   run no more jobs than it allows (GNU parallel says so, too). */
static int fit_file_limit(int jobs, int asked) {
  struct rlimit rl;
  if (getrlimit(RLIMIT_NOFILE, &rl) != 0) return jobs;
  if (rl.rlim_cur < rl.rlim_max) {
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
    getrlimit(RLIMIT_NOFILE, &rl);
  }
  rlim_t room = rl.rlim_cur > 64 ? (rl.rlim_cur - 32) / 2 : 16;
  if ((rlim_t)jobs <= room) return jobs;
  if (asked)
    fprintf(stderr, "parc run: only enough file handles to run %d jobs at once\n", (int)room);
  return (int)room;
}

int parc_cmd_run(int argc, char **argv) {
  for (int i = 1; i < argc && !is_separator(argv[i]) && argv[i][0] == '-'; i++)
    if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
      usage(stdout);
      return 0;
    }
  parsed p = {0};
  p.opt.jobs = parc_cpu_count();
  p.opt.retries = 1;
  const char *shell = getenv("PARALLEL_SHELL");
  if (!shell || !*shell) shell = getenv("SHELL");
  p.opt.shell = shell && *shell ? shell : "/bin/sh";
  int status = RUN_EXIT_ERROR;
  if (parse(&p, argc, argv) == 0) {
    if (p.opt.retries < 1) p.opt.retries = 1;
    int asked = p.opt.jobs != MAX_JOBS; /* not -j 0 */
    if (p.in.total > 0 && (size_t)p.opt.jobs > p.in.total) p.opt.jobs = (int)p.in.total;
    p.opt.jobs = fit_file_limit(p.opt.jobs, asked);
    run_joblog *log = run_joblog_open(p.opt.joblog, p.opt.resume, p.opt.resume_by_seq, p.opt.dry_run);
    if (log) status = run_jobs(&p.opt, &p.in, log);
    run_joblog_close(log);
  }
  run_spool_cleanup();
  run_inputs_free(&p.in);
  return status;
}
