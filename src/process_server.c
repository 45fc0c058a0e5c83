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
 */
#include "parc_internal.h"

#include <errno.h>
#include <linux/futex.h>
#include <poll.h>
#include <stdio.h>
#include <stdio_ext.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define WORKER_SPIN 30        /* polls of `command` before a worker sleeps (~5 us) */
#define WORKER_SLEEP_NS 1000000000ull  /* a sleeping worker rechecks this often */
#define REGISTRY_SIZE 256

/* ---- futexes ------------------------------------------------------------ */

void parc__futex_wait(_Atomic uint32_t *word, uint32_t old, uint64_t timeout_ns) {
  struct timespec ts = {(time_t)(timeout_ns / 1000000000u), (long)(timeout_ns % 1000000000u)};
  syscall(SYS_futex, (uint32_t *)word, FUTEX_WAIT, old, timeout_ns ? &ts : NULL, NULL, 0);
}

void parc__futex_wake(_Atomic uint32_t *word) {
  syscall(SYS_futex, (uint32_t *)word, FUTEX_WAKE, INT32_MAX, NULL, NULL, 0);
}

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

/* Runs the posted tasks, exactly as parc__chunk_run does in a thread. */
static void run_command(parc__slot *slot) {
  uint64_t start = parc__now_ns();
  slot->last_status = PARC_OK;
  /* Read the command once: the slot is shared memory the parent wrote. */
  parc_task t = slot->task;
  const size_t first = t.index, count = slot->count;
  const size_t in_size = slot->in_size, out_size = slot->out_size;
  const char *const in_base = slot->in;
  char *const out_base = slot->out;
  const parc_fn fn = slot->fn;
  const bool timed = slot->timed;
  for (size_t i = 0; i < count; i++) {
    if (timed) atomic_store_explicit(&slot->started_ns, parc__now_ns(), memory_order_relaxed);
    t.index = first + i;
    t.rng_ready = false;
    t.message = NULL;
    const void *in = in_size ? in_base + i * in_size : NULL;
    void *out = out_size ? out_base + i * out_size : NULL;
    int status = parc__task_call(fn, in, out, &t);
    if (status != PARC_OK) {
      /* Stop at a failure: the proxy records it (which may cancel the
         rest under stop_on_error) before the rest is posted again. */
      snprintf(slot->message, sizeof slot->message, "%s", t.message ? t.message : "");
      parc__free(t.message);
      slot->last_status = status;
      atomic_store_explicit(&slot->done, i + 1, memory_order_release);
      break;
    }
    atomic_store_explicit(&slot->done, i + 1, memory_order_release);
  }
  slot->elapsed_ns = parc__now_ns() - start;
}

static void set_thread_env(int threads) {
  static const char *const names[] = {"OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"};
  char value[16];
  snprintf(value, sizeof value, "%d", threads);
  for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
    if (!getenv(names[i])) setenv(names[i], value, 0);
}

static void worker_main(const parc__server_config *cfg, parc__slot *slot, uint32_t generation,
                        int signal_fd, pid_t server) {
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
  sigprocmask(SIG_SETMASK, &cfg->worker_mask, NULL);
  uint32_t seen = atomic_load(&slot->command);
  if (cfg->worker_init) cfg->worker_init(cfg->worker_init_arg);
  if (atomic_load(&slot->generation) == generation) atomic_store(&slot->state, PARC__SLOT_READY);
  notify_proxy(slot);
  for (;;) {
    seen = wait_command(slot, seen);
    /* Retired (a replacement may already own the slot), or told to exit. */
    if (atomic_load(&slot->generation) != generation || slot->op != PARC__OP_RUN) _exit(0);
    atomic_store(&slot->taken, seen);
    run_command(slot);
    atomic_store_explicit(&slot->finished, seen, memory_order_release);
    notify_proxy(slot);
  }
}

/* ---- the server ---------------------------------------------------------- */

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
  pid_t pid = fork();
  if (pid == 0) worker_main(cfg, slot, generation, signal_fd, server);
  if (pid < 0) {
    atomic_store(&slot->spawn_errno, errno ? errno : EAGAIN);
    atomic_store(&slot->state, PARC__SLOT_DEAD);
    notify_proxy(slot);
    return;
  }
  cfg->pids[i] = pid;
  cfg->generations[i] = generation;
  atomic_store(&slot->pid, pid);
}

static void __attribute__((noreturn)) shut_down(const parc__server_config *cfg) {
  for (int i = 0; i < cfg->nslots; i++)
    if (cfg->pids[i] > 0) kill(cfg->pids[i], SIGKILL);
  for (int i = 0; i < cfg->nslots; i++) {
    int status = 0;
    if (cfg->pids[i] > 0) {
      while (waitpid(cfg->pids[i], &status, 0) < 0 && errno == EINTR) {
      }
    }
    report_death(cfg, i, status);
  }
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
  if (req.op == PARC__REQ_KILL && cfg->pids[req.slot] > 0) kill(cfg->pids[req.slot], req.sig);
}

void parc__server_main(const parc__server_config *cfg) {
  pid_t caller = getppid();
  parc__in_worker = true;
  prctl(PR_SET_NAME, "parc-server");
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
    int ready = poll(fds, 2, 1000);
    if (getppid() != caller) shut_down(cfg);
    if (ready <= 0) {
      reap(cfg); /* belt and braces: a SIGCHLD is never needed to reap */
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
