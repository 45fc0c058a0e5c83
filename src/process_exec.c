/*
 * process_exec.c — the exec start of a process pool (PARC_START_EXEC).
 *
 * Why: some runtimes do not survive fork at all — GCC's libgomp hangs in a
 * forked child that uses OpenMP after its parent did. With exec start the
 * fork server is a fresh copy of the program: the caller forks a child that
 * at once execs /proc/self/exe with PARC__EXEC_SERVER in its environment
 * and two descriptors left open (the server's socket, the shared region's
 * memfd). Before main, the constructor below finds the variable, maps the
 * shared region at the caller's address, copies the server's configuration
 * out of it and becomes the fork server; it never returns to main. Workers
 * are forked from that quiet server as with fork start, so they inherit no
 * memory of the caller: only the shared region crosses.
 *
 * Functions cannot cross as addresses (each process loads its objects
 * elsewhere): they travel as (object name from dl_iterate_phdr, offset from
 * its load address), as for MPI. The proxy translates a job's fn once per
 * change (backend_process.c); a worker resolves it once per change.
 */
#include "process.h"

#include <errno.h>
#include <fcntl.h>
#include <link.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define EXEC_ENV "PARC__EXEC_SERVER"
#define STATUS_NO_MAP 121      /* the server cannot map the region at the same address */
#define STATUS_NO_INIT 122     /* worker_init is not in the server's objects */
#define STATUS_NO_EXEC 123     /* execve failed */
#define START_LIMIT_NS 60000000000ull

/* In shared memory: what the server needs, and its answer. */
typedef struct exec_block {
  parc__server_config cfg;
  uintptr_t init_offset;
  char init_object[PARC__PATH_MAX];
  _Atomic uint32_t ready;
} exec_block;

struct parc__exec {
  exec_block *block;
  int memfd, sock;
  int report[2];              /* close-on-exec pipe: the child writes execve's errno;
                                 EOF means the exec happened (libuv's pattern) */
  char **envp;
  char *argv[2];
  char variable[160];
  char threads[3][48];        /* OMP/OPENBLAS/MKL_NUM_THREADS: set before exec, since
                                 a runtime reads them when it is loaded */
};

static const char *const thread_names[3] = {"OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS",
                                            "MKL_NUM_THREADS"};

/* ---- the caller's side --------------------------------------------------- */

static void close_report(parc__exec *e, int end) {
  if (e->report[end] < 0) return;
  parc__server_unregister_fd(e->report[end]);
  close(e->report[end]);
  e->report[end] = -1;
}

void parc__exec_free(parc__exec *e) {
  if (!e) return;
  close_report(e, 0);
  close_report(e, 1);
  parc_shared_free(e->block);
  parc__free(e->envp);
  parc__free(e);
}

extern char **environ;

int parc__exec_prepare(const parc__server_config *cfg, parc__exec **out) {
  *out = NULL;
  void *base;
  size_t size;
  int memfd = parc__shared_fd(&base, &size);
  if (memfd < 0) return parc__error(PARC_ESYS, "parc_pool_create: exec start: no shared region");
  if (cfg->worker_init_arg && !parc__shared_contains(cfg->worker_init_arg, 1))
    return parc__error(PARC_EINVAL, "parc_pool_create: with exec start, worker_init_arg must be "
                                    "NULL or point into parc_shared_alloc memory");
  parc__exec *e = parc__calloc(1, sizeof *e);
  if (!e) return parc__error(PARC_ENOMEM, "parc_pool_create: out of memory");
  e->report[0] = e->report[1] = -1;
  if (pipe2(e->report, O_CLOEXEC) != 0) {
    int rc = parc__error_errno("parc_pool_create: exec start: pipe");
    parc__exec_free(e);
    return rc;
  }
  /* A fork server of another pool, forked meanwhile by another thread,
     must not keep the write end open: our read would wait for its exit. */
  parc__server_register_fd(e->report[0]);
  parc__server_register_fd(e->report[1]);
  e->block = parc_shared_alloc(sizeof *e->block);
  size_t nenv = 0;
  while (environ && environ[nenv]) nenv++;
  e->envp = parc__calloc(nenv + 5, sizeof(char *));
  if (!e->block || !e->envp) {
    parc__exec_free(e);
    return parc__error(PARC_ENOMEM, "parc_pool_create: out of memory");
  }
  e->block->cfg = *cfg;
  e->block->cfg.pids = NULL;
  e->block->cfg.generations = NULL;
  e->block->cfg.exec = true;
  e->block->init_offset = PARC__FN_UNKNOWN;
  if (cfg->worker_init &&
      !parc__fn_locate((const void *)cfg->worker_init, e->block->init_object, &e->block->init_offset)) {
    parc__exec_free(e);
    return parc__error(PARC_EINVAL, "parc_pool_create: with exec start, worker_init must be a "
                                    "function of the program or of a library it loads at startup");
  }
  e->memfd = memfd;
  e->sock = cfg->sock;
  snprintf(e->variable, sizeof e->variable, EXEC_ENV "=%d:%d:%lx:%zx:%lx", cfg->sock, memfd,
           (unsigned long)(uintptr_t)base, size, (unsigned long)(uintptr_t)e->block);
  size_t n = 0;
  for (size_t i = 0; i < nenv; i++)
    if (strncmp(environ[i], EXEC_ENV "=", sizeof EXEC_ENV) != 0) e->envp[n++] = environ[i];
  e->envp[n++] = e->variable;
  for (int i = 0; i < 3; i++) {
    if (getenv(thread_names[i])) continue;
    snprintf(e->threads[i], sizeof e->threads[i], "%s=%d", thread_names[i], cfg->threads_per_worker);
    e->envp[n++] = e->threads[i];
  }
  e->envp[n] = NULL;
  e->argv[0] = "parc-server";
  e->argv[1] = NULL;
  *out = e;
  return PARC_OK;
}

pid_t parc__exec_fork(parc__exec *e) {
  pid_t pid = fork();
  if (pid != 0) {
    int saved = errno;
    close_report(e, 1);
    errno = saved;
    return pid;
  }
  /* The child of a possibly multithreaded caller: async-signal-safe only. */
  if (fcntl(e->sock, F_SETFD, 0) == 0 && fcntl(e->memfd, F_SETFD, 0) == 0)
    execve("/proc/self/exe", e->argv, e->envp);
  int err = errno;
  while (write(e->report[1], &err, sizeof err) < 0 && errno == EINTR) {
  }
  _exit(STATUS_NO_EXEC);
}

/* execve's errno from the child, or 0 once the exec has happened. */
static int exec_errno(parc__exec *e) {
  int err = 0;
  ssize_t n;
  while ((n = read(e->report[0], &err, sizeof err)) < 0 && errno == EINTR) {
  }
  close_report(e, 0);
  return n == (ssize_t)sizeof err ? err : 0;
}

int parc__exec_await(parc__exec *e, pid_t pid) {
  int err = exec_errno(e);
  if (err) {
    while (waitpid(pid, NULL, 0) < 0 && errno == EINTR) {
    }
    return parc__error(PARC_ESYS, "parc_pool_create: exec start: cannot exec /proc/self/exe: %s",
                       strerror(err));
  }
  uint64_t start = parc__now_ns();
  for (;;) {
    if (atomic_load(&e->block->ready)) return PARC_OK;
    int status = 0;
    pid_t r = waitpid(pid, &status, WNOHANG);
    if (r == pid || (r < 0 && errno != EINTR)) {
      if (r == pid && WIFEXITED(status) && WEXITSTATUS(status) == STATUS_NO_MAP)
        return parc__error(PARC_ESYS, "parc_pool_create: cannot map the shared region at the same "
                                      "address in the exec'd server");
      if (r == pid && WIFEXITED(status) && WEXITSTATUS(status) == STATUS_NO_INIT)
        return parc__error(PARC_ESYS, "parc_pool_create: worker_init is not in the exec'd server's "
                                      "program or its startup libraries");
      if (r == pid && WIFEXITED(status) && WEXITSTATUS(status) == STATUS_NO_EXEC)
        return parc__error(PARC_ESYS, "parc_pool_create: cannot exec /proc/self/exe");
      if (r == pid && WIFSIGNALED(status))
        return parc__error(PARC_ESYS, "parc_pool_create: the exec'd server was killed by signal %d",
                           WTERMSIG(status));
      return parc__error(PARC_ESYS, "parc_pool_create: the exec'd server exited with status %d "
                                    "before it started (does the program link libparc?)",
                         WIFEXITED(status) ? WEXITSTATUS(status) : -1);
    }
    if (parc__now_ns() - start > START_LIMIT_NS) {
      kill(pid, SIGKILL);
      while (waitpid(pid, NULL, 0) < 0 && errno == EINTR) {
      }
      return parc__error(PARC_ESYS, "parc_pool_create: the exec'd server did not start in 60 s");
    }
    parc__futex_wait(&e->block->ready, 0, 2000000);
  }
}

/* ---- the exec'd server's side -------------------------------------------- */

static parc__server_config server_cfg;

/* Before main: in a program exec'd as a fork server, become the server. */
__attribute__((constructor)) static void exec_server_entry(void) {
  const char *s = getenv(EXEC_ENV);
  if (!s) return;
  int sock, memfd;
  unsigned long base, block_address;
  size_t size;
  if (sscanf(s, "%d:%d:%lx:%zx:%lx", &sock, &memfd, &base, &size, &block_address) != 5) _exit(1);
  /* Not for the programs a task may run. */
  unsetenv(EXEC_ENV);
  if (parc__shared_attach(memfd, (void *)(uintptr_t)base, size) != 0) _exit(STATUS_NO_MAP);
  close(memfd);
  exec_block *block = (exec_block *)(uintptr_t)block_address;
  server_cfg = block->cfg;
  server_cfg.sock = sock;
  server_cfg.exec = true;
  server_cfg.worker_init = NULL;
  if (block->init_offset != PARC__FN_UNKNOWN) {
    void *init = parc__fn_resolve(block->init_object, block->init_offset);
    if (!init) _exit(STATUS_NO_INIT);
    server_cfg.worker_init = (void (*)(void *))init;
  }
  server_cfg.pids = parc__calloc((size_t)server_cfg.nslots, sizeof(pid_t));
  server_cfg.generations = parc__calloc((size_t)server_cfg.nslots, sizeof(uint32_t));
  if (!server_cfg.pids || !server_cfg.generations) _exit(1);
  atomic_store(&block->ready, 1);
  parc__futex_wake(&block->ready);
  parc__server_main(&server_cfg);
}
