/*
 * run_jobs.c — the event loop of `parc run`: start jobs, collect their
 * output, reap them, enforce timeouts, stop cleanly on a signal.
 *
 * Why its own loop and not the library's pool: a job is a process already,
 * so a worker thread per job would only wait on it. One thread polls every
 * job's stdout and stderr pipes and a signalfd (SIGCHLD, SIGINT, SIGTERM,
 * SIGHUP, blocked in parc and unblocked in each child), which keeps the cost
 * per job at one posix_spawn, two pipes and one waitpid.
 *
 * Each job is spawned in its own process group (POSIX_SPAWN_SETPGROUP), so a
 * timeout or Ctrl-C kills what the job started too: TERM to the group, then
 * KILL 200 ms later. A job is finished when it has been reaped and both its
 * pipes are at EOF; only then is it printed, logged and its slot reused.
 * Jobs stopped by parc itself (Ctrl-C, --halt now) are not logged, so
 * --resume runs them again.
 */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <spawn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "run.h"

extern char **environ;

#define KILL_GRACE 0.2 /* seconds between TERM and KILL */

typedef struct job {
  size_t seq;
  int tries, slot;
  char *command, *tag;
  const char **values;
  pid_t pid;          /* 0 once reaped */
  pid_t pgid;         /* its process group, which outlives a reaped leader */
  int status;
  int fds[2];         /* stdout and stderr pipes, -1 at EOF */
  int line_start[2];  /* --line-buffer: the next byte starts a line */
  run_spool out, err;
  double start, kill_at, limit;
  int timed_out, stopped, finished, kills;
  struct job *next;   /* --keep-order: the next job in seq order */
} job;

typedef struct runner {
  const run_options *opt;
  const run_inputs *in;
  run_joblog *log;
  job **running;
  size_t nrunning;
  char *slot_busy;          /* slots 1..jobs */
  size_t next_seq;          /* the next job to consider */
  job *held_head, *held_tail; /* --keep-order: started jobs, in seq order */
  size_t started, completed, failed;
  int stop_new, halt_now, halt_status, have_halt_status;
  int signal_seen, error;
  double *runtimes;         /* successful runtimes, sorted: --timeout N% */
  size_t nruntimes;
  double first_start, last_progress;
  int sigfd, devnull;
  posix_spawnattr_t attr;
  char *program;            /* direct jobs: the template's program, found on PATH once */
  char **envp;              /* environ and PARALLEL_SEQ, PARALLEL_JOBSLOT, PARALLEL_PID */
  size_t nenv;
  char env_seq[48], env_slot[48], env_pid[48];
} runner;

double run_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* ---- setting up ------------------------------------------------------------ */

static int make_env(runner *r) {
  size_t n = 0;
  for (char **e = environ; *e; e++) n++;
  if (!(r->envp = calloc(n + 4, sizeof *r->envp))) return -1;
  for (char **e = environ; *e; e++)
    if (strncmp(*e, "PARALLEL_SEQ=", 13) && strncmp(*e, "PARALLEL_JOBSLOT=", 17) &&
        strncmp(*e, "PARALLEL_PID=", 13))
      r->envp[r->nenv++] = *e;
  snprintf(r->env_pid, sizeof r->env_pid, "PARALLEL_PID=%ld", (long)getpid());
  r->envp[r->nenv] = r->env_seq;
  r->envp[r->nenv + 1] = r->env_slot;
  r->envp[r->nenv + 2] = r->env_pid;
  return 0;
}

/* The template's first word looked up on PATH as execvp would, once for the
   run rather than once per job (a PATH of ten directories is ten failed
   execs per job otherwise). NULL: not found, and the shell will say so. */
static char *find_program(const char *name) {
  if (strchr(name, '/')) return access(name, X_OK) == 0 ? strdup(name) : NULL;
  const char *path = getenv("PATH");
  if (!path) path = "/bin:/usr/bin";
  for (const char *p = path;; p++) {
    const char *end = strchr(p, ':');
    size_t n = end ? (size_t)(end - p) : strlen(p);
    char *full = malloc(n + strlen(name) + 3);
    if (!full) return NULL;
    sprintf(full, "%.*s/%s", (int)n, n ? p : ".", name);
    struct stat st;
    if (access(full, X_OK) == 0 && stat(full, &st) == 0 && S_ISREG(st.st_mode)) return full;
    free(full);
    if (!end) return NULL;
    p = end;
  }
}

static int setup(runner *r) {
  sigset_t mask, none;
  sigemptyset(&mask);
  sigemptyset(&none);
  int handled[] = {SIGCHLD, SIGINT, SIGTERM, SIGHUP};
  for (size_t i = 0; i < 4; i++) sigaddset(&mask, handled[i]);
  sigprocmask(SIG_BLOCK, &mask, NULL);
  signal(SIGPIPE, SIG_IGN); /* a closed stdout is an error value, not a death */
  signal(SIGXFSZ, SIG_IGN); /* a file size limit is a write error, reported */
  r->sigfd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
  r->devnull = open("/dev/null", O_RDONLY | O_CLOEXEC);
  if (r->sigfd < 0 || r->devnull < 0) {
    fprintf(stderr, "parc run: cannot set up: %s\n", strerror(errno));
    return -1;
  }
  /* Children start with parc's blocked and ignored signals undone; only
     those two, since each costs the child a system call before its exec,
     and a signal parc's own parent ignored (nohup) stays ignored. */
  sigset_t defaults;
  sigemptyset(&defaults);
  sigaddset(&defaults, SIGPIPE);
  sigaddset(&defaults, SIGXFSZ);
  posix_spawnattr_init(&r->attr);
  posix_spawnattr_setflags(&r->attr, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
  posix_spawnattr_setpgroup(&r->attr, 0);
  posix_spawnattr_setsigmask(&r->attr, &none);
  posix_spawnattr_setsigdefault(&r->attr, &defaults);
  r->running = calloc((size_t)r->opt->jobs, sizeof *r->running);
  r->slot_busy = calloc((size_t)r->opt->jobs + 1, 1);
  if (r->in->direct) {
    const char *w = r->in->tokens[0].text + strspn(r->in->tokens[0].text, " ");
    char *name = strndup(w, strcspn(w, " "));
    r->program = name ? find_program(name) : NULL;
    free(name);
  }
  if (!r->running || !r->slot_busy || make_env(r)) {
    fprintf(stderr, "parc run: out of memory\n");
    return -1;
  }
  return 0;
}

static void teardown(runner *r) {
  if (r->sigfd >= 0) close(r->sigfd);
  if (r->devnull >= 0) close(r->devnull);
  posix_spawnattr_destroy(&r->attr);
  free(r->running);
  free(r->slot_busy);
  free(r->envp);
  free(r->program);
  free(r->runtimes);
}

/* ---- one job ---------------------------------------------------------------- */

static void job_free(job *j) {
  if (!j) return;
  for (int i = 0; i < 2; i++)
    if (j->fds[i] >= 0) close(j->fds[i]);
  run_spool_reset(&j->out);
  run_spool_reset(&j->err);
  free(j->command);
  free(j->tag);
  free(j->values);
  free(j);
}

static int spawn_job(runner *r, job *j) {
  int out[2] = {-1, -1}, err[2] = {-1, -1};
  int grouped = r->opt->group != RUN_UNGROUPED;
  if (grouped && (pipe2(out, O_CLOEXEC) || pipe2(err, O_CLOEXEC))) {
    fprintf(stderr, "parc run: cannot make a pipe: %s\n", strerror(errno));
    goto fail;
  }
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_adddup2(&fa, r->devnull, 0);
  if (grouped) {
    posix_spawn_file_actions_adddup2(&fa, out[1], 1);
    posix_spawn_file_actions_adddup2(&fa, err[1], 2);
  }
  snprintf(r->env_seq, sizeof r->env_seq, "PARALLEL_SEQ=%zu", j->seq);
  snprintf(r->env_slot, sizeof r->env_slot, "PARALLEL_JOBSLOT=%d", j->slot);
  /* Without shell syntax the program runs directly; where that fails (not
     found, say) the shell runs it, so its message and 127 are the shell's. */
  char **argv = r->program ? run_inputs_argv(r->in, j->values, j->seq, j->slot) : NULL;
  int rc = argv ? posix_spawn(&j->pid, r->program, &fa, &r->attr, argv, r->envp) : -1;
  run_argv_free(argv);
  if (rc != 0) {
    char *sh_argv[] = {(char *)r->opt->shell, "-c", j->command, NULL};
    rc = posix_spawn(&j->pid, r->opt->shell, &fa, &r->attr, sh_argv, r->envp);
  }
  posix_spawn_file_actions_destroy(&fa);
  if (rc != 0) {
    fprintf(stderr, "parc run: cannot run %s: %s\n", r->opt->shell, strerror(rc));
    goto fail;
  }
  if (grouped) close(out[1]), close(err[1]);
  j->fds[0] = out[0];
  j->fds[1] = err[0];
  j->line_start[0] = j->line_start[1] = 1;
  j->pgid = j->pid;
  j->start = run_now();
  j->tries++;
  return 0;
fail:
  for (int i = 0; i < 2; i++) {
    if (out[i] >= 0) close(out[i]);
    if (err[i] >= 0) close(err[i]);
  }
  j->fds[0] = j->fds[1] = -1;
  return -1;
}

static int free_slot(runner *r) {
  for (int s = 1; s <= r->opt->jobs; s++)
    if (!r->slot_busy[s]) {
      r->slot_busy[s] = 1;
      return s;
    }
  return 1; /* unreachable: a slot is free whenever a job may start */
}

/* Builds job seq; NULL with *skip set where --resume finds it done. */
static job *make_job(runner *r, size_t seq, int *skip) {
  job *j = calloc(1, sizeof *j);
  const run_inputs *in = r->in;
  *skip = 0;
  if (!j || !(j->values = calloc(in->nsources ? in->nsources : 1, sizeof *j->values))) goto nomem;
  j->seq = seq;
  j->fds[0] = j->fds[1] = -1;
  j->out.fd = j->err.fd = -1;
  run_inputs_values(in, seq, j->values);
  /* The slot is not known yet: set_slot_command fills in {%} at the start.
     (So a template with {%} logs commands that --resume cannot match.) */
  j->slot = 0;
  if (!(j->command = run_inputs_command(in, j->values, seq, 0))) goto nomem;
  if (run_joblog_skip(r->log, seq, j->command)) {
    *skip = 1;
    job_free(j);
    return NULL;
  }
  if (r->opt->tag && !(j->tag = run_tag(in, j->values))) goto nomem;
  return j;
nomem:
  fprintf(stderr, "parc run: out of memory\n");
  job_free(j);
  r->error = 1;
  return NULL;
}

static int set_slot_command(runner *r, job *j) {
  j->slot = free_slot(r);
  for (size_t i = 0; i < r->in->ntokens; i++)
    if (r->in->tokens[i].kind == RUN_SLOT) {
      free(j->command);
      if (!(j->command = run_inputs_command(r->in, j->values, j->seq, j->slot))) return -1;
      break;
    }
  return 0;
}

static void start_next(runner *r) {
  while (r->next_seq <= r->in->total) {
    int skip;
    size_t seq = r->next_seq++;
    job *j = make_job(r, seq, &skip);
    if (skip) continue;
    if (!j) return;
    if (r->opt->dry_run) {
      int line_start = 1;
      run_write(1, NULL, j->command, strlen(j->command), &line_start);
      run_write(1, NULL, "\n", 1, &line_start);
      job_free(j);
      continue;
    }
    if (set_slot_command(r, j) || spawn_job(r, j)) {
      r->slot_busy[j->slot] = 0;
      job_free(j);
      r->error = 1;
      return;
    }
    if (r->started++ == 0) r->first_start = j->start;
    r->running[r->nrunning++] = j;
    if (r->opt->keep_order) {
      if (r->held_tail) r->held_tail->next = j;
      else r->held_head = j;
      r->held_tail = j;
    }
    return;
  }
}

/* ---- output ---------------------------------------------------------------- */

/* Both pipes at EOF: the job is exiting, but the kernel closes a dying
   process's files before it becomes a zombie, so a waitpid now usually
   finds nothing and the loop would sleep once more until SIGCHLD. Yielding
   a few times gives the exit its microseconds and saves that sleep, which
   on a busy machine costs more than the job. */
static void reap_exiting(job *j) {
  for (int i = 0; i < 50 && j->pid > 0; i++) {
    if (waitpid(j->pid, &j->status, WNOHANG) == j->pid) j->pid = 0;
    else sched_yield();
  }
}

static void read_output(runner *r, job *j, int which) {
  char buf[65536];
  ssize_t n = read(j->fds[which], buf, sizeof buf);
  if (n < 0 && (errno == EINTR || errno == EAGAIN)) return;
  if (n <= 0) {
    close(j->fds[which]);
    j->fds[which] = -1;
    if (j->fds[0] < 0 && j->fds[1] < 0) reap_exiting(j);
    return;
  }
  /* Under -k lines wait for their job's turn: --line-buffer then only
     changes when output appears, never its order. */
  if (r->opt->group == RUN_LINES && !r->opt->results && !r->opt->keep_order) {
    /* Complete lines go out now; a partial line waits for its end. */
    run_spool *s = which ? &j->err : &j->out;
    char *last_nl = NULL;
    for (ssize_t i = n; i-- > 0;)
      if (buf[i] == '\n') {
        last_nl = buf + i;
        break;
      }
    if (last_nl) {
      if (run_spool_size(s) > 0) {
        if (run_spool_copy(s, which ? 2 : 1, j->tag)) r->error = 1;
        run_spool_reset(s);
        j->line_start[which] = 0;
      }
      run_write(which ? 2 : 1, j->tag, buf, (size_t)(last_nl + 1 - buf), &j->line_start[which]);
      memmove(buf, last_nl + 1, (size_t)(buf + n - last_nl - 1));
      n = buf + n - last_nl - 1;
    }
  }
  if (n > 0 && run_spool_write(which ? &j->err : &j->out, buf, (size_t)n)) r->error = 1;
}

static void print_job(runner *r, job *j) {
  if (j->stopped) return;
  if (r->opt->results) {
    run_result res = {j->seq, j->values, r->in->nsources, &j->out, &j->err};
    if (run_results_write(r->opt->results, &res)) r->error = 1;
    return;
  }
  if (run_spool_copy(&j->out, 1, j->tag) || run_spool_copy(&j->err, 2, j->tag)) r->error = 1;
}

static void flush_held(runner *r) {
  while (r->held_head && r->held_head->finished) {
    job *j = r->held_head;
    r->held_head = j->next;
    if (!r->held_head) r->held_tail = NULL;
    print_job(r, j);
    job_free(j);
  }
}

/* ---- finishing ------------------------------------------------------------- */

static double median_runtime(const runner *r) {
  return r->nruntimes ? r->runtimes[(r->nruntimes - 1) / 2] : 0;
}

static void add_runtime(runner *r, double t) {
  double *v = realloc(r->runtimes, (r->nruntimes + 1) * sizeof *v);
  if (!v) return;
  r->runtimes = v;
  size_t i = r->nruntimes++;
  while (i > 0 && v[i - 1] > t) v[i] = v[i - 1], i--;
  v[i] = t;
}

/* GNU parallel's should_we_halt, decision for decision. */
static void consider_halt(runner *r, int failed, int exitval, int sig) {
  const run_options *o = r->opt;
  if (o->halt_when == RUN_HALT_NEVER) return;
  double limit;
  if (o->halt_on == RUN_HALT_FAIL && failed) limit = (double)r->failed;
  else if (o->halt_on == RUN_HALT_SUCCESS && !failed) limit = (double)(r->completed - r->failed);
  else if (o->halt_on == RUN_HALT_DONE) limit = (double)r->completed;
  else return;
  double count = o->halt_pct > 0 ? (double)r->in->total * o->halt_pct : o->halt_count;
  if (limit < count) return;
  if (o->halt_on == RUN_HALT_SUCCESS) {
    r->halt_status = 0;
    r->have_halt_status = 1;
  } else if (!r->have_halt_status) {
    if (o->halt_pct > 0) r->halt_status = (int)ceil((double)r->failed / (double)r->in->total * 100);
    else r->halt_status = r->failed > 101 ? 101 : (int)r->failed;
    if (o->halt_pct == 0 && o->halt_count == 1) r->halt_status = exitval ? exitval : sig ? sig + 128 : 0;
    r->have_halt_status = 1;
  }
  r->stop_new = 1;
  if (o->halt_when == RUN_HALT_NOW) r->halt_now = 1;
}

static void report_death(const job *j, int sig) {
  if (j->timed_out)
    fprintf(stderr, "parc run: job %zu timed out after %g s, killed by signal %d (%s): %s\n", j->seq,
            j->limit, sig, strsignal(sig), j->command);
  else if (sig)
    fprintf(stderr, "parc run: job %zu killed by signal %d (%s): %s\n", j->seq, sig, strsignal(sig),
            j->command);
}

/* Returns 1 where the job was started again (--retries). */
static int finish_job(runner *r, job *j) {
  double end = run_now(), runtime = end - j->start;
  int sig = WIFSIGNALED(j->status) ? WTERMSIG(j->status) : 0;
  int exitval = WIFEXITED(j->status) ? WEXITSTATUS(j->status) : 0;
  if (j->timed_out) exitval = -1;
  int failed = exitval != 0 || sig != 0;
  if (j->stopped) return 0;
  if (failed && j->tries < r->opt->retries && !r->stop_new && !r->signal_seen) {
    run_spool_reset(&j->out);
    run_spool_reset(&j->err);
    j->timed_out = 0;
    j->kill_at = 0;
    j->kills = 0;
    j->pid = 0;
    if (spawn_job(r, j) == 0) return 1;
    r->error = 1;
  }
  report_death(j, sig);
  if (run_joblog_add(r->log, j->seq, j->start, runtime, run_spool_size(&j->out), exitval, sig,
                     j->command))
    r->error = 1;
  r->completed++;
  if (failed) r->failed++;
  else if (r->opt->timeout_pct > 0) add_runtime(r, runtime);
  consider_halt(r, failed, exitval, sig);
  return 0;
}

static void retire(runner *r, size_t i) {
  job *j = r->running[i];
  r->running[i] = r->running[--r->nrunning];
  r->slot_busy[j->slot] = 0;
  j->finished = 1;
  if (r->opt->keep_order) {
    flush_held(r);
    return;
  }
  print_job(r, j);
  job_free(j);
}

/* Sends TERM to the job's group now and KILL after the grace period. */
static void stop_job(job *j, double now, int timed_out) {
  if (j->kill_at > 0) return;
  j->timed_out = timed_out;
  j->stopped = !timed_out;
  kill(-j->pgid, SIGTERM);
  j->kill_at = now + KILL_GRACE;
}

static void stop_all(runner *r) {
  double now = run_now();
  for (size_t i = 0; i < r->nrunning; i++) stop_job(r->running[i], now, 0);
}

/* ---- the loop ---------------------------------------------------------------- */

static void reap(runner *r) {
  int status;
  pid_t pid;
  while ((pid = waitpid(-1, &status, WNOHANG)) > 0)
    for (size_t i = 0; i < r->nrunning; i++)
      if (r->running[i]->pid == pid) {
        r->running[i]->status = status;
        r->running[i]->pid = 0;
        break;
      }
}

static void read_signals(runner *r) {
  struct signalfd_siginfo si;
  while (read(r->sigfd, &si, sizeof si) == (ssize_t)sizeof si) {
    if (si.ssi_signo == SIGCHLD) continue;
    if (!r->signal_seen) r->signal_seen = (int)si.ssi_signo;
    r->stop_new = 1;
    stop_all(r);
  }
  reap(r);
}

static double current_timeout(const runner *r) {
  if (r->opt->timeout_pct > 0) return r->nruntimes ? r->opt->timeout_pct * median_runtime(r) : 0;
  return r->opt->timeout;
}

/* Timeouts and the KILL after a TERM; returns ms until the next one is due. */
static int check_clocks(runner *r) {
  double now = run_now(), next = now + 1.0, timeout = current_timeout(r);
  for (size_t i = 0; i < r->nrunning; i++) {
    job *j = r->running[i];
    if (j->kill_at > 0) {
      if (now >= j->kill_at) {
        /* The leader may be gone with its group still holding the pipes. */
        kill(-j->pgid, SIGKILL);
        j->kill_at = now + 1.0;
        /* A second round and the pipes still open: a process that left the
           group holds them. Its output is not worth hanging for. */
        if (j->kills++ > 0 && j->pid == 0)
          for (int w = 0; w < 2; w++)
            if (j->fds[w] >= 0) close(j->fds[w]), j->fds[w] = -1;
      }
      if (j->kill_at < next) next = j->kill_at;
    } else if (timeout > 0 && j->pid > 0) {
      double due = j->start + timeout;
      if (now >= due) {
        j->limit = timeout;
        stop_job(j, now, 1);
        due = j->kill_at;
      }
      if (due < next) next = due;
    }
  }
  double ms = (next - now) * 1000 + 1;
  return ms < 0 ? 0 : ms > 1000 ? 1000 : (int)ms;
}

static void show_progress(runner *r, int final) {
  if (!r->opt->bar && !r->opt->eta) return;
  double now = run_now();
  if (!final && now - r->last_progress < 0.1) return;
  r->last_progress = now;
  size_t total = r->in->total, done = r->completed;
  double elapsed = r->started ? now - r->first_start : 0;
  double avg = done ? elapsed / (double)done : 0;
  double eta = avg * (double)(total > done ? total - done : 0);
  int pct = total ? (int)(100.0 * (double)done / (double)total) : 100;
  if (r->opt->eta)
    fprintf(stderr, "\rETA: %.0fs Left: %zu AVG: %.2fs  local:%zu/%zu/100%%/%.1fs ", eta, total - done,
            avg, r->nrunning, done, avg);
  else
    fprintf(stderr, "\r%3d%% %zu:%zu=%.0fs %zu ", pct, done, total - done, eta, r->next_seq - 1);
  if (final) fputc('\n', stderr);
}

static int poll_once(runner *r) {
  struct pollfd fds[1 + 2 * r->nrunning];
  job *owner[1 + 2 * r->nrunning];
  int which[1 + 2 * r->nrunning];
  int wait_ms = check_clocks(r); /* first: it may close a job's pipes */
  nfds_t n = 0;
  fds[n++] = (struct pollfd){r->sigfd, POLLIN, 0};
  for (size_t i = 0; i < r->nrunning; i++)
    for (int w = 0; w < 2; w++)
      if (r->running[i]->fds[w] >= 0) {
        owner[n] = r->running[i];
        which[n] = w;
        fds[n++] = (struct pollfd){r->running[i]->fds[w], POLLIN, 0};
      }
  if ((r->opt->bar || r->opt->eta) && wait_ms > 100) wait_ms = 100;
  if (poll(fds, n, wait_ms) < 0 && errno != EINTR) {
    fprintf(stderr, "parc run: poll: %s\n", strerror(errno));
    return -1;
  }
  for (nfds_t i = 1; i < n; i++)
    if (fds[i].revents) read_output(r, owner[i], which[i]);
  if (fds[0].revents) read_signals(r);
  return 0;
}

static void retire_finished(runner *r) {
  for (size_t i = r->nrunning; i-- > 0;) {
    job *j = r->running[i];
    if (j->pid != 0 || j->fds[0] >= 0 || j->fds[1] >= 0) continue;
    if (finish_job(r, j)) continue;
    retire(r, i);
  }
  if (r->halt_now) stop_all(r);
}

static int exit_status(const runner *r) {
  const run_options *o = r->opt;
  if (o->halt_when != RUN_HALT_NEVER) {
    if (r->have_halt_status) return r->halt_status & 0xff;
    if (o->halt_pct > 0) return (int)ceil((double)r->failed / (double)(r->started ? r->started : 1) * 100);
    return r->failed > 101 ? 101 : (int)r->failed;
  }
  return r->failed > 101 ? 101 : (int)r->failed;
}

int run_jobs(const run_options *opt, const run_inputs *in, run_joblog *log) {
  runner r = {.opt = opt, .in = in, .log = log, .next_seq = 1, .sigfd = -1, .devnull = -1};
  int rc = setup(&r);
  while (rc == 0) {
    while (!r.stop_new && !r.error && r.nrunning < (size_t)opt->jobs && r.next_seq <= in->total)
      start_next(&r);
    if (r.error && !r.stop_new) {
      r.stop_new = 1;
      stop_all(&r);
    }
    if (r.nrunning == 0) break;
    if (poll_once(&r)) break;
    retire_finished(&r);
    show_progress(&r, 0);
  }
  show_progress(&r, 1);
  while (r.held_head) { /* jobs stopped before they finished print nothing */
    job *j = r.held_head;
    r.held_head = j->next;
    job_free(j);
  }
  int status = rc || r.error ? RUN_EXIT_ERROR : exit_status(&r);
  int sig = r.signal_seen;
  teardown(&r);
  if (sig) {
    /* Die of the same signal, so a calling shell sees it. */
    run_spool_cleanup();
    signal(sig, SIG_DFL);
    sigset_t s;
    sigemptyset(&s);
    sigaddset(&s, sig);
    sigprocmask(SIG_UNBLOCK, &s, NULL);
    raise(sig);
    return 128 + sig;
  }
  return status;
}
