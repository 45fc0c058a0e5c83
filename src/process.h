/*
 * process.h — the process backend's private parts: the slot layout in
 * shared memory, the fork server's configuration and requests, exec start.
 * Only backend_process.c, process_server.c and process_exec.c include it.
 */
#ifndef PARC_PROCESS_H
#define PARC_PROCESS_H

#include "parc_internal.h"

#include <stddef.h>


/* One worker slot of a process pool, in shared memory: the proxy thread
   (parent) posts a command, the worker (child) runs it and replies, the
   fork server reports the worker's death. `command` and `reply` are futex
   words; *_sleeping count the sleepers, so a wake is skipped when none. */
enum { PARC__SLOT_STARTING, PARC__SLOT_READY, PARC__SLOT_DEAD };
enum { PARC__OP_RUN = 1, PARC__OP_EXIT = 2 };

typedef struct parc__slot {
  _Atomic uint32_t command;       /* bumped by the proxy after writing a command */
  _Atomic uint32_t reply;         /* bumped by the worker (ready, finished) or server (death) */
  _Atomic uint32_t worker_sleeping;
  _Atomic uint32_t proxy_sleeping;
  _Atomic int32_t state;          /* PARC__SLOT_*: STARTING set by the proxy, READY by
                                     the worker, DEAD by the server */
  _Atomic int32_t wait_status;    /* the dead worker's waitpid status */
  _Atomic int32_t spawn_errno;    /* fork failed: its errno, and state DEAD */
  _Atomic int32_t pid;            /* the live worker, 0 when none */
  _Atomic uint32_t taken;         /* the command number the worker started */
  _Atomic uint32_t finished;      /* the command number whose reply is complete */
  _Atomic uint32_t generation;    /* bumped by the proxy for each new worker: a worker
                                     whose generation is stale exits on its next wake */
  /* The command, written before `command` is bumped. */
  int op;
  parc_fn fn;                     /* the caller's address */
  /* Exec start: fn as an offset in an object (PARC__FN_UNKNOWN: in none),
     written by the proxy when fn changes; the worker adds its own base. */
  uintptr_t fn_offset;
  char fn_object[PARC__PATH_MAX]; /* dl_iterate_phdr's name, "" = the program */
  parc_task task;                 /* template: index of the first task, context, seed, deps */
  const char *in;                 /* task i reads in + i * in_size (shared memory) */
  size_t in_size;
  char *out;                      /* task i writes out + i * out_size (shared memory) */
  size_t out_size;
  size_t count;
  const parc_buf *bufs;           /* NULL, or task i reads bufs[i] (shared memory) */
  parc_buf *outputs;              /* NULL: fixed outputs; else task i's parc_task_output
                                     result goes to outputs[i] (shared memory) */
  char *arena;                    /* small results are carved from here ... */
  size_t arena_size;
  /* ... and a result that does not fit asks the proxy for shared memory:
     the worker writes alloc_size, bumps alloc_asked and the reply; the
     proxy writes alloc_result (NULL: none to be had), bumps alloc_answered
     (a futex word the worker sleeps on). */
  _Atomic uint32_t alloc_asked;
  _Atomic uint32_t alloc_answered;
  size_t alloc_size;
  void *alloc_result;
  bool timed;                     /* record started_ns before each task */
  uint64_t *times;                /* NULL, or (shared memory) task i's start and end at
                                     times[2i], times[2i + 1]: timed jobs, traces */
  /* The reply: tasks [0, done) finished; all PARC_OK but the last, whose
     status is last_status (the worker stops after a failure). */
  _Atomic size_t done;
  _Atomic uint64_t started_ns;    /* when task `done` started (timed commands) */
  int last_status;
  uint64_t elapsed_ns;            /* time spent in the tasks */
  bool used_index;                /* a task called parc_task_index or parc_task_rng */
  char message[PARC__MESSAGE_MAX];
} parc__slot;

/* What a fork server needs, set up by the caller before fork. */
typedef struct parc__server_config {
  parc__slot *slots;
  int nslots;
  int sock;                       /* the server's end of the request socket */
  pid_t *pids;                    /* nslots entries, the server's own table ... */
  uint32_t *generations;          /* ... and the slot generation each was forked for */
  parc__slot *spare;              /* shared: the server hands its spare worker a slot
                                     here (count: the slot, generation: its generation) */
  void (*worker_init)(void *arg);
  void *worker_init_arg;
  int threads_per_worker;         /* OMP/OPENBLAS/MKL_NUM_THREADS unless set */
  sigset_t worker_mask;           /* the caller's signal mask, restored in workers */
  bool exec;                      /* exec start: fns arrive as (object, offset) */
} parc__server_config;

/* ---- exec start (process_exec.c) ---------------------------------------- */
/* An exec'd fork server: the child of fork execs /proc/self/exe, whose
   libparc constructor maps the shared region at the same address and runs
   parc__server_main with a copy of *cfg (cfg->sock: the server's end, kept
   open across exec; cfg->worker_init travels as an offset). prepare (before
   fork: allocates, locates worker_init): PARC_OK, or PARC_EINVAL/ENOMEM/ESYS
   with a message. fork: the child's pid, or -1 with errno (only async-signal-
   safe calls in the child). await: waits until the server runs; on failure
   reaps it, PARC_ESYS with a message. free: NULL is fine. */
typedef struct parc__exec parc__exec;
int parc__exec_prepare(const parc__server_config *cfg, parc__exec **e);
pid_t parc__exec_fork(parc__exec *e);
int parc__exec_await(parc__exec *e, pid_t pid);
void parc__exec_free(parc__exec *e);

/* A request to the fork server (one SOCK_SEQPACKET message). */
enum { PARC__REQ_SPAWN = 1, PARC__REQ_KILL = 2, PARC__REQ_QUIT = 3 };
typedef struct parc__request {
  int op;
  int slot;
  int sig;
} parc__request;

/* The fork server's main: never returns. Called in the child of fork. */
void parc__server_main(const parc__server_config *cfg) __attribute__((noreturn));
/* File descriptors every new fork server closes (other pools' sockets). */
void parc__server_register_fd(int fd);
void parc__server_unregister_fd(int fd);


/* ---- the backend's state (backend_process.c, process_proxy.c) ----------- */

#define PARC__ROUND_BYTES ((size_t)8 << 20)   /* at most this much copied per round */

typedef struct process_backend process_backend;

typedef struct proxy {
  process_backend *backend;
  parc__slot *slot;
  char *buffer;               /* shared: inputs, outputs and dependencies of a round */
  size_t capacity;
  char *context;              /* shared: the worker's copy of the group context */
  size_t context_capacity, context_size;
  const void *context_source; /* what `context` is a copy of */
  bool ready;                 /* the worker in the slot is READY */
  bool starting;              /* a spawn was requested */
  unsigned tasks;             /* tasks run by the current worker */
  parc_fn exec_fn;            /* exec start: the fn whose (object, offset) is in the slot */
  uint32_t epoch;             /* the fork server its worker was asked of */
  /* The shared memory the worker asked for in this round (variable-size
     results that did not fit the arena): kept where a result lies in it,
     freed after the round otherwise. */
  parc_buf *allocs;
  size_t nallocs, allocs_capacity;
} proxy;

struct process_backend {
  parc_pool *pool;
  int sock;                   /* our end of the server's request socket */
  pid_t server;
  int nslots;
  bool exec;                  /* exec start: fns travel as (object, offset) */
  parc__slot *slots;          /* shared: nslots, then the spare's */
  pid_t *pids;                /* the server's tables (its copies are the ones in use) */
  uint32_t *generations;
  proxy *proxies;
  pthread_t *threads;
  int started;
  _Atomic bool stopping;
  _Atomic bool server_gone;
  /* A fork server that dies (kill -9, the OOM killer, a task killing its
     parent) is replaced: `sock` and `server` are read under server_lock
     (requests, polls) and written under it by the restart, which
     restart_lock makes one at a time; epoch counts the restarts, so each
     proxy knows its worker belonged to a server that is gone. */
  pthread_rwlock_t server_lock;
  pthread_mutex_t restart_lock;
  _Atomic uint32_t epoch;
  char broken[PARC__MESSAGE_MAX];   /* a restart failed: why (restart_lock) */
  /* The globals check (globals.c): a picture of the image the workers
     have (NULL: off), replaced when a fork-start server is restarted, and
     whether this pool has warned already. */
  pthread_mutex_t globals_lock;       /* guards globals */
  parc__globals_image *globals;
  _Atomic bool globals_warned;
};


enum { ROUND_COMPLETE, ROUND_DIED, ROUND_GONE, ROUND_NOMEM };

typedef struct round {
  int kind;
  size_t done;                /* tasks finished: [0, done) */
  int last_status;
  int wait_status;            /* ROUND_DIED */
  bool taken;                 /* the worker had started this round */
  bool killed;                /* we killed it for a timeout ... */
  size_t killed_at;           /* ... of this task of the round */
  uint64_t elapsed_ns;
  bool used_index;            /* a task called parc_task_index or parc_task_rng */
  char *out;                  /* where the worker wrote outputs */
} round;

enum { WORKER_READY, WORKER_DIED, SERVER_GONE };

/* process_proxy.c: one proxy thread's side of its worker slot. */
bool parc__proxy_server_lost(process_backend *b);
void parc__proxy_request(process_backend *b, int op, int slot, int sig);
/* Asks the server for a worker in p's slot (a new generation). */
void parc__proxy_spawn(process_backend *b, proxy *p);
/* 0 once the server forked p's worker, else fork's errno. */
int parc__proxy_await_forked(process_backend *b, proxy *p);
/* WORKER_READY, WORKER_DIED (in worker_init, or not forked: *wait_status,
   *spawn_errno say how) or SERVER_GONE. */
int parc__proxy_await_ready(process_backend *b, proxy *p, int *wait_status, int *spawn_errno);
/* Retires p's worker (max_tasks_per_worker) and asks for its replacement. */
void parc__proxy_retire(process_backend *b, proxy *p);
/* "killed by signal 11 (Segmentation fault)" / "exited with status 3". */
char *parc__proxy_death_message(const char *prefix, int status);
/* Posts tasks [k, k + n) of job to p's worker and waits for the outcome. */
void parc__proxy_run_round(process_backend *b, proxy *p, const parc__job *job, size_t k, size_t n,
                           int worker, round *r);
/* After a round of a job with variable results: tasks [k, k + done) that
   succeeded get their results (small ones copied to the heap, large ones
   taken in place); failed(arg, offset, message) for a result that cannot
   be copied (out of memory). The round's other shared memory is freed. */
void parc__proxy_collect(proxy *p, parc__job *job, size_t k, size_t done, int last_status,
                         void (*failed)(void *arg, size_t offset, char *message), void *arg);
/* Results of at least this size are asked for one by one and handed over
   in place; smaller ones come from the round's arena. */
#define PARC__RESULT_IN_PLACE ((size_t)64 << 10)
#define PARC__ARENA_BYTES ((size_t)256 << 10)

/* The slot's futex words are 32-bit words in memory shared between
   processes: lock-free atomics of exactly that size. */
_Static_assert(sizeof(_Atomic uint32_t) == 4 && ATOMIC_INT_LOCK_FREE == 2,
               "futex words are lock-free 32-bit atomics");
_Static_assert(offsetof(parc__slot, command) % 4 == 0 && offsetof(parc__slot, reply) % 4 == 0,
               "futex words are 4-byte aligned");

#endif /* PARC_PROCESS_H */
