/*
 * process_server.c — the fork server of a process pool, and the worker
 * processes it forks.
 *
 * Why a server: the caller may have many threads (OpenMP, BLAS, its own)
 * holding locks at any moment; a child forked from it later could inherit
 * a lock that no thread will ever release. So at pool creation, while the
 * caller has just called us, one child is forked: the server. It stays
 * single-threaded and does nothing but fork workers on request, reap them,
 * report their deaths and kill them on request, so every worker — the
 * first ones and every replacement — is a copy of a quiet process.
 *
 * The server reads requests from a SOCK_SEQPACKET socket (parc__request)
 * and child deaths from a signalfd. When the caller's end of the socket
 * closes (the caller died, even of SIGKILL) or its parent changes, the
 * server kills its workers and exits. Workers die with the server through
 * PR_SET_PDEATHSIG. Everything else — commands, inputs, outputs, statuses,
 * messages — travels through the slots in shared memory (parc__slot).
 *
 * A task's whole process tree is the task's. Each worker leads its own
 * process group (so a task's kill(0, ...) never reaches the caller), and
 * kills for a timeout or at shutdown go to the group; the server is a
 * child subreaper, so what a task left behind in another group (setsid,
 * a daemon) is reparented to it, and killed and reaped when it shuts down.
 *
 * Replacing a worker fast: a worker that crashes on a signal it can catch
 * reports its own death in its slot (no wait for the reap), and once a
 * pool has needed a replacement the server keeps one spare worker, forked
 * and through worker_init, which it hands the next slot that needs one.
 */
#include "process.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdio_ext.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define WORKER_SPIN 30        /* polls of `command` before a worker sleeps (~5 us) */
#define WORKER_SLEEP_NS 1000000000ull  /* a sleeping worker rechecks this often */
#define REGISTRY_SIZE 256
#define LEAVING_MAX 256       /* replaced workers the server has not reaped yet */

/* Bumps slot->reply and wakes the proxy if it sleeps. */
static void notify_proxy(parc__slot *slot) {
  atomic_fetch_add(&slot->reply, 1);
  if (atomic_load(&slot->proxy_sleeping)) parc__futex_wake(&slot->reply);
}

/* ---- the registry of sockets a new server must not keep ------------------ */
/* Lock-free, because the server reads it right after fork, when another
   thread of the caller may have held any lock. */

static _Atomic int registry[REGISTRY_SIZE];

void parc__server_register_fd(int fd) {
  for (int i = 0; i < REGISTRY_SIZE; i++) {
    int expected = 0;
    if (atomic_compare_exchange_strong(&registry[i], &expected, fd + 1)) return;
  }
}

void parc__server_unregister_fd(int fd) {
  for (int i = 0; i < REGISTRY_SIZE; i++) {
    int expected = fd + 1;
    if (atomic_compare_exchange_strong(&registry[i], &expected, 0)) return;
  }
}

static void close_registered(int keep) {
  for (int i = 0; i < REGISTRY_SIZE; i++) {
    int fd = atomic_load(&registry[i]) - 1;
    if (fd >= 0 && fd != keep) close(fd);
  }
}

/* ---- the worker ---------------------------------------------------------- */

static uint32_t wait_command(parc__slot *slot, uint32_t seen) {
  for (int i = 0; i < WORKER_SPIN; i++) {
    uint32_t c = atomic_load_explicit(&slot->command, memory_order_acquire);
    if (c != seen) return c;
    __builtin_ia32_pause();
  }
  /* A counter, not a flag: a retired worker still leaving may sleep on
     the same word as its replacement. */
  for (;;) {
    atomic_fetch_add(&slot->worker_sleeping, 1);
    uint32_t c = atomic_load(&slot->command);
    if (c == seen) parc__futex_wait(&slot->command, seen, WORKER_SLEEP_NS);
    atomic_fetch_sub(&slot->worker_sleeping, 1);
    if (c != seen) return c;
  }
}

/* Exec start: the caller's fn, resolved here once per change. */
static bool exec_mode;
static parc_fn exec_key, exec_fn;

static parc_fn command_fn(parc__slot *slot) {
  if (!exec_mode) return slot->fn;
  if (slot->fn != exec_key || !exec_fn) {
    exec_fn = (parc_fn)parc__fn_resolve(slot->fn_object, slot->fn_offset);
    exec_key = slot->fn;
  }
  return exec_fn;
}

/* Output a task wrote with printf must reach the caller's stdout even when
   it is a file or a pipe (fully buffered): flushed after every task that
   left something in a buffer, so a later crash loses nothing of it. */
static void flush_output(void) {
  /* glibc's FILE fields, read in place: __fpending is a call per stream
     per task, a quarter of a trivial task's cost on PROCESSES. */
  if (stdout->_IO_write_ptr != stdout->_IO_write_base ||
      stderr->_IO_write_ptr != stderr->_IO_write_base)
    fflush(NULL);
}

/* A failure stops the command: its message goes back in the slot. */
static bool stop_at_failure(void *arg, size_t offset, int status, parc_task *t) {
  parc__slot *slot = arg;
  (void)offset;
  snprintf(slot->message, sizeof slot->message, "%s", t->message ? t->message : "");
  parc__free(t->message);
  t->message = NULL;
  slot->last_status = status;
  return true;
}

/* ---- results of any size, in the worker ------------------------------------ */

/* Where a round's small results are carved from: the slot's arena, then
   chunks the proxy hands out. */
typedef struct result_arena {
  parc__slot *slot;
  char *next;
  size_t left;
} result_arena;

#define CHUNK_BYTES ((size_t)1 << 20)

/* Asks the proxy for `size` bytes of shared memory and waits for them. */
static void *ask_proxy(parc__slot *slot, size_t size) {
  slot->alloc_size = size;
  uint32_t asked = atomic_fetch_add_explicit(&slot->alloc_asked, 1, memory_order_release) + 1;
  notify_proxy(slot);
  for (;;) {
    uint32_t answered = atomic_load_explicit(&slot->alloc_answered, memory_order_acquire);
    if (answered == asked) return slot->alloc_result;
    parc__futex_wait(&slot->alloc_answered, answered, WORKER_SLEEP_NS);
  }
}

static void *result_alloc(void *arg, size_t size) {
  result_arena *a = arg;
  size_t need = (size + 15) & ~(size_t)15;
  if (need < size) return NULL;
  /* Large results get memory of their own: the caller keeps it in place. */
  if (need >= PARC__RESULT_IN_PLACE) return ask_proxy(a->slot, size);
  if (need > a->left) {
    char *chunk = ask_proxy(a->slot, CHUNK_BYTES);
    if (!chunk) return NULL;
    a->next = chunk;
    a->left = CHUNK_BYTES;
  }
  void *data = a->next;
  a->next += need;
  a->left -= need;
  return data;
}

/* Runs the posted tasks through the one routine (parc__tasks_run), as a
   thread worker does; stops at the first failure, which the proxy records
   (it may cancel the rest under stop_on_error) before posting the rest. */
static void run_command(parc__slot *slot) {
  uint64_t start = parc__now_ns();
  slot->last_status = PARC_OK;
  slot->used_index = false;
  /* Read the command once: the slot is shared memory the parent wrote. */
  parc_task t = slot->task;
  const size_t count = slot->count;
  parc__tasks d = {.fn = command_fn(slot), .in = slot->in, .in_size = slot->in_size,
                   .out = slot->out, .out_size = slot->out_size, .index_base = t.index,
                   .bufs = slot->bufs};
  /* The parent's pointers in the template mean nothing here. */
  result_arena arena = {slot, slot->arena, slot->arena_size};
  parc__outputs outputs = {.count = count, .alloc = result_alloc, .arg = &arena};
  atomic_init(&outputs.table, slot->outputs);
  if (slot->outputs) d.outputs = &outputs;
  t.outputs = d.outputs;
  t.index_base = t.index;
  t.forced = 0;
  if (!d.fn) {
    snprintf(slot->message, sizeof slot->message,
             "exec start: the task's function is not in the program or a library it loads at "
             "startup%s%.512s",
             slot->fn_object[0] ? ": " : "", slot->fn_object);
    slot->last_status = PARC_EINVAL;
    atomic_store_explicit(&slot->done, 1, memory_order_release);
    slot->elapsed_ns = 0;
    return;
  }
  parc__task_watch watch = {.done = &slot->done,
                            .started_ns = slot->timed ? &slot->started_ns : NULL,
                            .times = slot->times};
  t.message = NULL;
  t.used_index = false;
  /* One task per call: each task's output is flushed before the next runs. */
  for (size_t k = 0; k < count; k++) {
    size_t end = parc__tasks_run(&d, &t, k, k + 1, NULL, &watch, stop_at_failure, slot);
    flush_output();
    if (end == k + 1 && slot->last_status != PARC_OK) break;
  }
  slot->used_index = t.used_index;
  slot->elapsed_ns = parc__now_ns() - start;
}

static void set_thread_env(int threads) {
  static const char *const names[] = {"OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"};
  char value[16];
  snprintf(value, sizeof value, "%d", threads);
  for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
    if (!getenv(names[i])) setenv(names[i], value, 0);
}

/* A worker that crashes (SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT) says so
   in its slot before it dies, so that its proxy need not wait for the
   server to reap it: the slot's generation moves on (the server will then
   not report the death again), the status is what waitpid would give, and
   the signal is raised again with its default action. Deaths that cannot
   be caught (SIGKILL, exit) are reported by the server's waitpid. Only a
   signal whose disposition is still the default (the caller's handlers,
   a sanitizer's, are kept) is caught. */
static parc__slot *volatile crash_slot;   /* NULL until the worker owns a slot */
static volatile uint32_t crash_generation;
static volatile pid_t crash_pid;          /* the worker: not a child a task forked */
static const int crash_signals[] = {SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT};

static void on_crash(int sig) {
  parc__slot *slot = crash_slot;
  uint32_t generation = crash_generation;
  if (slot && getpid() == crash_pid &&
      atomic_compare_exchange_strong(&slot->generation, &generation, generation + 1)) {
    atomic_store(&slot->pid, 0);
    atomic_store(&slot->wait_status, sig); /* WIFSIGNALED, WTERMSIG == sig */
    atomic_store(&slot->state, PARC__SLOT_DEAD);
    notify_proxy(slot);
  }
  /* The default action: a fault recurs on return, and a raised signal,
     blocked in here, is delivered then. */
  struct sigaction dfl;
  memset(&dfl, 0, sizeof dfl);
  dfl.sa_handler = SIG_DFL;
  sigemptyset(&dfl.sa_mask);
  sigaction(sig, &dfl, NULL);
  raise(sig);
}

static void catch_crashes(void) {
  for (size_t i = 0; i < sizeof crash_signals / sizeof crash_signals[0]; i++) {
    struct sigaction old, sa;
    if (sigaction(crash_signals[i], NULL, &old) != 0 || old.sa_handler != SIG_DFL ||
        (old.sa_flags & SA_SIGINFO))
      continue;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_crash;
    sa.sa_flags = SA_RESETHAND;
    sigemptyset(&sa.sa_mask);
    sigaction(crash_signals[i], &sa, NULL);
  }
}

/* exit() in a task ends the worker, never runs the caller's atexit
   handlers (fork start inherits them: one that deletes the caller's output
   file would delete it). on_exit handlers run in reverse order of
   registration, so this one, registered last, runs first; it flushes what
   the task printed and leaves with exit()'s status. */
static void leave_without_handlers(int status, void *arg) {
  (void)arg;
  fflush(NULL);
  _exit(status);
}

/* What every worker does first, fresh from fork. */
static void worker_setup(const parc__server_config *cfg, int signal_fd, pid_t server) {
  /* Its own process group, led by itself (the server sets it too, so that
     neither side races the other): the task's tree, killed as one. */
  setpgid(0, 0);
  /* Die with the server; it may have died before the prctl took effect. */
  prctl(PR_SET_PDEATHSIG, SIGKILL);
  if (getppid() != server) _exit(1);
  prctl(PR_SET_NAME, "parc-worker");
  close(cfg->sock);
  close(signal_fd);
  /* The caller's buffered output belongs to the caller: a task that calls
     exit() must not print it again. */
  __fpurge(stdout);
  __fpurge(stderr);
  /* Ctrl-C is for the caller; the workers die with the pool. */
  signal(SIGINT, SIG_IGN);
  signal(SIGCHLD, SIG_DFL);
  crash_pid = getpid();
  catch_crashes();
  on_exit(leave_without_handlers, NULL);
  sigprocmask(SIG_SETMASK, &cfg->worker_mask, NULL);
}

/* A worker that has run worker_init takes its slot. `seen`: the slot's
   command count when the worker was made for it (so it cannot obey an
   EXIT meant for the worker it replaces). */
static void __attribute__((noreturn)) worker_serve(parc__slot *slot, uint32_t generation,
                                                   uint32_t seen) {
  if (atomic_load(&slot->generation) == generation) atomic_store(&slot->state, PARC__SLOT_READY);
  notify_proxy(slot);
  for (;;) {
    seen = wait_command(slot, seen);
    /* Retired (a replacement may already own the slot), or told to exit. */
    if (atomic_load(&slot->generation) != generation || slot->op != PARC__OP_RUN) {
      fflush(NULL);
      _exit(0);
    }
    atomic_store(&slot->taken, seen);
    run_command(slot);
    atomic_store_explicit(&slot->finished, seen, memory_order_release);
    notify_proxy(slot);
  }
}

static void __attribute__((noreturn))
worker_main(const parc__server_config *cfg, parc__slot *slot, uint32_t generation, int signal_fd,
            pid_t server) {
  worker_setup(cfg, signal_fd, server);
  uint32_t seen = atomic_load(&slot->command);
  crash_generation = generation;
  crash_slot = slot;
  if (cfg->worker_init) cfg->worker_init(cfg->worker_init_arg);
  worker_serve(slot, generation, seen);
}

/* The spare: runs worker_init, then waits until the server gives it a
   slot (cfg->spare: count = the slot, generation = its generation). */
static void __attribute__((noreturn)) spare_main(const parc__server_config *cfg, uint32_t assigned,
                                                 int signal_fd, pid_t server) {
  worker_setup(cfg, signal_fd, server);
  if (cfg->worker_init) cfg->worker_init(cfg->worker_init_arg);
  wait_command(cfg->spare, assigned);
  parc__slot *slot = &cfg->slots[cfg->spare->count];
  uint32_t generation = atomic_load(&cfg->spare->generation);
  atomic_store(&cfg->spare->taken, assigned + 1);
  uint32_t seen = atomic_load(&slot->command);
  crash_generation = generation;
  crash_slot = slot;
  worker_serve(slot, generation, seen);
}

/* ---- the server ---------------------------------------------------------- */

/* The server's own state (it is a process of its own). Once a worker has
   had to be replaced, one spare worker is kept forked and initialised, so
   that the next replacement is handed over instead of forked on demand.
   A spare that dies before it is used turns spares off for good (a
   worker_init that crashes must not make the server fork forever). */
static struct {
  pid_t spare;                /* 0 when none */
  pid_t handed;               /* the spare last handed over, until it has read its
                                 slot: no new spare may read the same mailbox before */
  int handed_polls;           /* polls since (a long worker_init: poll less often) */
  bool want_spare;            /* a worker has been replaced */
  bool no_spare;
  int spawns;
  int nleaving;
  pid_t leaving[LEAVING_MAX]; /* replaced workers not reaped yet */
} server_state;

/* A worker and every process of its group (what its tasks started). */
static void kill_tree(pid_t pid, int sig) {
  kill(-pid, sig);
  kill(pid, sig);   /* before its setpgid took effect */
}

static void forget_leaving(pid_t pid) {
  for (int i = 0; i < server_state.nleaving; i++) {
    if (server_state.leaving[i] != pid) continue;
    server_state.leaving[i] = server_state.leaving[--server_state.nleaving];
    return;
  }
}

static void report_death(const parc__server_config *cfg, int i, int status) {
  parc__slot *slot = &cfg->slots[i];
  cfg->pids[i] = 0;
  atomic_store(&slot->pid, 0);
  atomic_store(&slot->wait_status, status);
  atomic_store(&slot->state, PARC__SLOT_DEAD);
  notify_proxy(slot);
}

static void reap(const parc__server_config *cfg) {
  int status;
  pid_t pid;
  while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
    /* What its tasks left running in its group goes with it (a pid stays
       taken while it names a live process group, so this hits no one else). */
    kill(-pid, SIGKILL);
    forget_leaving(pid);
    if (pid == server_state.handed) server_state.handed = 0;
    if (pid == server_state.spare) {
      server_state.spare = 0;
      server_state.no_spare = true;
    }
    /* A worker retired by max_tasks_per_worker may already have been
       replaced in its slot: its pid is no longer in the table. */
    for (int i = 0; i < cfg->nslots; i++) {
      if (cfg->pids[i] != pid) continue;
      cfg->pids[i] = 0;
      /* A worker whose slot has moved on (retired) dies unreported. */
      if (cfg->generations[i] == atomic_load(&cfg->slots[i].generation))
        report_death(cfg, i, status);
    }
  }
}

static void spawn(const parc__server_config *cfg, int i, int signal_fd) {
  parc__slot *slot = &cfg->slots[i];
  pid_t server = getpid();
  /* Read once, before fork: a fast child may be ready, run its tasks and be
     retired (the generation moving on) before fork returns here. */
  uint32_t generation = atomic_load(&slot->generation);
  atomic_store(&slot->spawn_errno, 0);
  if (++server_state.spawns > cfg->nslots) server_state.want_spare = true;
  /* The worker it replaces may not be reaped yet (it reported its own
     crash, or was retired): shut_down must still find it. */
  if (cfg->pids[i] > 0 && server_state.nleaving < LEAVING_MAX)
    server_state.leaving[server_state.nleaving++] = cfg->pids[i];
  pid_t pid = server_state.spare;
  if (pid > 0) {
    parc__slot *spare = cfg->spare;
    spare->count = (size_t)i;
    atomic_store(&spare->generation, generation);
    atomic_fetch_add_explicit(&spare->command, 1, memory_order_release);
    if (atomic_load(&spare->worker_sleeping)) parc__futex_wake(&spare->command);
    server_state.handed = pid;
    server_state.handed_polls = 0;
    server_state.spare = 0;
  } else {
    pid = fork();
    if (pid == 0) worker_main(cfg, slot, generation, signal_fd, server);
    if (pid > 0) setpgid(pid, pid);
  }
  if (pid < 0) {
    cfg->pids[i] = 0;
    atomic_store(&slot->spawn_errno, errno ? errno : EAGAIN);
    atomic_store(&slot->state, PARC__SLOT_DEAD);
    notify_proxy(slot);
    return;
  }
  cfg->pids[i] = pid;
  cfg->generations[i] = generation;
  atomic_store(&slot->pid, pid);
}

static void fork_spare(const parc__server_config *cfg, int signal_fd) {
  pid_t server = getpid();
  uint32_t assigned = atomic_load(&cfg->spare->command);
  pid_t pid = fork();
  if (pid == 0) spare_main(cfg, assigned, signal_fd, server);
  if (pid > 0) setpgid(pid, pid);
  if (pid < 0) server_state.no_spare = true;
  else server_state.spare = pid;
}

/* Kills every child the server has (orphans of tasks reparented to it as
   the subreaper, with their groups) and reaps them, until none is left or
   two seconds pass (an orphan's own children keep arriving while it dies). */
static void kill_orphans(void) {
  uint64_t until = parc__now_ns() + 2000000000ull;
  while (parc__now_ns() < until) {
    char path[64], list[4096];
    snprintf(path, sizeof path, "/proc/self/task/%d/children", (int)getpid());
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    ssize_t n = fd >= 0 ? read(fd, list, sizeof list - 1) : -1;
    if (fd >= 0) close(fd);
    if (n <= 0) break;   /* none left (or no /proc: the groups were killed) */
    list[n] = '\0';
    for (char *p = list, *end; *p; p = end) {
      long pid = strtol(p, &end, 10);
      if (end == p) break;
      if (pid > 0) kill_tree((pid_t)pid, SIGKILL);
    }
    while (waitpid(-1, NULL, WNOHANG) > 0) {
    }
    struct timespec pause = {0, 1000000};
    nanosleep(&pause, NULL);
  }
}

static void __attribute__((noreturn)) shut_down(const parc__server_config *cfg) {
  /* Unreaped children only: their pids cannot have been reused. */
  pid_t others[LEAVING_MAX + 1];
  int nothers = 0;
  for (int i = 0; i < server_state.nleaving; i++) others[nothers++] = server_state.leaving[i];
  if (server_state.spare > 0) others[nothers++] = server_state.spare;
  for (int i = 0; i < nothers; i++) kill_tree(others[i], SIGKILL);
  for (int i = 0; i < cfg->nslots; i++)
    if (cfg->pids[i] > 0) kill_tree(cfg->pids[i], SIGKILL);
  for (int i = 0; i < nothers; i++) {
    while (waitpid(others[i], NULL, 0) < 0 && errno == EINTR) {
    }
  }
  for (int i = 0; i < cfg->nslots; i++) {
    int status = 0;
    if (cfg->pids[i] > 0) {
      while (waitpid(cfg->pids[i], &status, 0) < 0 && errno == EINTR) {
      }
    }
    report_death(cfg, i, status);
  }
  kill_orphans();
  _exit(0);
}

static void handle_request(const parc__server_config *cfg, int signal_fd) {
  parc__request req;
  ssize_t n = recv(cfg->sock, &req, sizeof req, 0);
  if (n < 0 && (errno == EINTR || errno == EAGAIN)) return;
  if (n != (ssize_t)sizeof req || req.op == PARC__REQ_QUIT) shut_down(cfg);
  if (req.slot < 0 || req.slot >= cfg->nslots) return;
  if (req.op == PARC__REQ_SPAWN) spawn(cfg, req.slot, signal_fd);
  /* Only a child not yet reaped: its pid cannot have been reused. */
  if (req.op == PARC__REQ_KILL && cfg->pids[req.slot] > 0) kill_tree(cfg->pids[req.slot], req.sig);
}

void parc__server_main(const parc__server_config *cfg) {
  pid_t caller = getppid();
  parc__in_worker = true;
  /* Fresh state, even in a server forked by a worker of another pool. */
  memset(&server_state, 0, sizeof server_state);
  crash_slot = NULL;
  exec_mode = cfg->exec;
  exec_key = exec_fn = NULL;
  prctl(PR_SET_NAME, "parc-server");
  /* Orphans of tasks (daemons, setsid) are reparented here, not to init. */
  prctl(PR_SET_CHILD_SUBREAPER, 1);
  close_registered(cfg->sock);
  set_thread_env(cfg->threads_per_worker);
  /* Every signal stays blocked here (the caller blocked them around fork):
     the server ends only by request, by its caller's death, or SIGKILL. */
  sigset_t chld;
  sigemptyset(&chld);
  sigaddset(&chld, SIGCHLD);
  int signal_fd = signalfd(-1, &chld, SFD_CLOEXEC | SFD_NONBLOCK);
  if (signal_fd < 0) shut_down(cfg);
  for (;;) {
    struct pollfd fds[2] = {{cfg->sock, POLLIN, 0}, {signal_fd, POLLIN, 0}};
    /* A spare is forked only when nothing else is waiting. */
    if (server_state.handed &&
        atomic_load(&cfg->spare->taken) == atomic_load(&cfg->spare->command))
      server_state.handed = 0;
    bool spare_due = server_state.want_spare && !server_state.no_spare && !server_state.spare &&
                     !server_state.handed;
    /* ... and a spare handed over reads its slot at once: look again soon. */
    int timeout = 1000;
    if (spare_due) timeout = 0;
    else if (server_state.handed) timeout = server_state.handed_polls++ < 50 ? 1 : 50;
    int ready = poll(fds, 2, timeout);
    if (getppid() != caller) shut_down(cfg);
    if (ready <= 0) {
      reap(cfg); /* belt and braces: a SIGCHLD is never needed to reap */
      if (ready == 0 && spare_due) fork_spare(cfg, signal_fd);
      continue;
    }
    if (fds[1].revents) {
      struct signalfd_siginfo info;
      while (read(signal_fd, &info, sizeof info) > 0) {
      }
      reap(cfg);
    }
    if (fds[0].revents & (POLLIN | POLLHUP | POLLERR)) handle_request(cfg, signal_fd);
  }
}
