/*
 * parc.h — embarrassingly parallel work in C: the whole public API.
 *
 * parc runs a task function over many input records on a pool of workers:
 * threads (the default), forked processes (a crash or hang costs one task),
 * the caller itself (serial, the reference), or MPI ranks. One function runs
 * unchanged on every backend because data crosses the API as bytes.
 *
 *     static int square(const void *in, void *out, parc_task *t) {
 *         (void)t; *(double *)out = *(const double *)in * *(const double *)in;
 *         return 0;
 *     }
 *     parc_pool *pool; parc_pool_create(&pool, NULL);
 *     parc_map(pool, square, x, sizeof x[0], y, sizeof y[0], n, NULL, NULL);
 *     parc_pool_destroy(pool);
 *
 * Conventions, everywhere below:
 *  - Functions that can fail return a PARC_* status; 0 is success. The
 *    calling thread's parc_errmsg() then says what went wrong. Codes are
 *    stable; messages are for people and may change.
 *  - Destructors accept NULL (a harmless no-op), return void, never fail.
 *  - "borrowed" means parc keeps the pointer for the time stated and the
 *    caller must keep it valid; "copied" means the caller may reuse it at once.
 *  - Every function is thread-safe unless its comment says otherwise.
 *
 * Order of this file: status codes, pools (and what is particular to process
 * pools), groups and map, inside a task, random streams, shared memory, task
 * graphs, cache, scaling table.
 */
#ifndef PARC_H
#define PARC_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__)
#define PARC_EXPORT __attribute__((visibility("default")))
#define PARC_PRINTF(f, a) __attribute__((format(printf, f, a)))
#else
#define PARC_EXPORT
#define PARC_PRINTF(f, a)
#endif

/* ------------------------------------------------------------------------ */
/* Status codes                                                             */
/* ------------------------------------------------------------------------ */

/* Every status code, from one list (libuv's UV_ERRNO_MAP): the enum,
   parc_strerror and parc_status_name are generated from it, so they never
   disagree. XX(name, value, text). */
#define PARC_STATUS_MAP(XX)                                                        \
  XX(PARC_OK, 0, "success")                                                        \
  XX(PARC_DONE, 1, "every task has been reported")      /* parc_group_next */     \
  XX(PARC_PENDING, 2, "not finished yet")               /* parc_group_status */   \
  XX(PARC_EINVAL, -1, "invalid argument")    /* parc_errmsg() says which, why */  \
  XX(PARC_ENOMEM, -2, "out of memory")       /* nothing was changed */            \
  XX(PARC_ESYS, -3, "a system call failed")  /* parc_errmsg() has errno's text */ \
  XX(PARC_ETASK, -4, "the task failed")      /* returned non-zero or parc_fail */ \
  XX(PARC_ECRASH, -5, "the worker died running the task") /* message names how */ \
  XX(PARC_ETIMEDOUT, -6, "timed out")        /* the task, or a wait */            \
  XX(PARC_ECANCELED, -7, "cancelled before it started")                           \
  XX(PARC_EDEPENDENCY, -8, "a dependency failed")        /* graphs */             \
  XX(PARC_EBACKEND, -9, "backend not available")  /* not built in or unusable */

#define PARC_STATUS_ENUM_(name, value, text) name = value,
enum { PARC_STATUS_MAP(PARC_STATUS_ENUM_) };
#undef PARC_STATUS_ENUM_

/* A constant, static English name for a status ("PARC_EINVAL: invalid
   argument"); never NULL, also for unknown codes ("unknown parc status"). */
PARC_EXPORT const char *parc_strerror(int status);

/* The status's symbol ("PARC_EINVAL"); "PARC_UNKNOWN" for other values. */
PARC_EXPORT const char *parc_status_name(int status);

/* Detail of the last error returned to this thread by any parc function
   ("parc_group_map: in is NULL but in_size is 8"). Thread-local: other
   threads' errors never overwrite it. The string stays valid until this
   thread's next failing parc call. "" when nothing has failed yet. At most
   1023 bytes: a long path in it is shortened ("..."), errno's text never. */
PARC_EXPORT const char *parc_errmsg(void);

/* Usable CPUs: the smaller of the affinity mask (sched_getaffinity, so
   `taskset -c 0` gives 1) and the cgroup CPU quota (v2 cpu.max, v1
   cfs_quota_us/cfs_period_us, rounded up). At least 1. */
PARC_EXPORT int parc_cpu_count(void);

/* ------------------------------------------------------------------------ */
/* Version                                                                  */
/* ------------------------------------------------------------------------ */
/* The version of this header. CMake's project(VERSION) is the one source:
   configuring fails unless these four agree with it, and the library, the
   pkg-config file, the CMake package, the .deb and the man pages take their
   version from it. Semantic versioning: a program built against MAJOR.x
   runs with any library of the same MAJOR and a MINOR at least as high. */
#define PARC_VERSION_MAJOR 0
#define PARC_VERSION_MINOR 1
#define PARC_VERSION_PATCH 0
#define PARC_VERSION_STRING "0.1.0"

/* The library's version at run time, "MAJOR.MINOR.PATCH": the
   PARC_VERSION_STRING libparc was built with, which differs from this
   header's when a program runs against another build. Static string. */
PARC_EXPORT const char *parc_version(void);

/* ------------------------------------------------------------------------ */
/* Pools                                                                    */
/* ------------------------------------------------------------------------ */

typedef struct parc_pool parc_pool;
typedef struct parc_group parc_group;
typedef struct parc_task parc_task;
typedef struct parc_graph parc_graph;
typedef struct parc_cache parc_cache;

/* A task: reads one input record, writes one output record. Returns 0 on
   success; any other value, or `return parc_fail(task, "...")`, marks this
   task failed while the others go on. `in` is NULL when in_size is 0, `out`
   NULL when out_size is 0. On the thread backend `in` points into the
   caller's array; it must be treated as read-only. */
typedef int (*parc_fn)(const void *in, void *out, parc_task *task);

/* On THREADS and SERIAL a task shares the caller's process: a task that
   crashes (SIGSEGV, abort) ends the whole program, and one that calls
   pthread_exit() (or is cancelled) takes its worker thread with it and
   leaves its tasks unfinished, so waiting on them never returns: both are
   undefined. Use PARC_PROCESSES where a task may crash. */
typedef enum {
  PARC_THREADS,    /* worker threads: the default, cheapest per task */
  PARC_PROCESSES,  /* forked workers: crash and hang isolation */
  PARC_SERIAL,     /* the caller runs each task, in index order: the reference */
  PARC_MPI         /* MPI ranks: the same program under mpirun (see "MPI pools") */
} parc_backend;

typedef struct parc_config {
  parc_backend backend;      /* default PARC_THREADS */
  int workers;               /* 0 or -1: parc_cpu_count(); -k: max(1, cpus+1-k);
                                k > 0: k; beyond +-4096: PARC_EINVAL.
                                SERIAL always has 1 worker. */
  double timeout;            /* seconds per task, 0 or INFINITY = none; at most
                                1e9 s (31 years): beyond, NaN or negative, PARC_EINVAL.
                                PROCESSES and MPI only: with THREADS or SERIAL
                                parc_pool_create says PARC_EINVAL (a thread
                                cannot be killed safely) */
  int retries;               /* further tries of a task that crashed or timed out
                                (PROCESSES, MPI); 0..1000 */
  uint64_t seed;             /* base of every task's random stream; default 0 */
  int verbose;               /* 0 quiet, 1 progress, 2 progress + per-worker detail */
  void (*worker_init)(void *arg);   /* run once in each worker before its first
                                       task; on SERIAL in the caller at create */
  void *worker_init_arg;     /* borrowed until parc_pool_destroy */
  unsigned max_tasks_per_worker;    /* PROCESSES: replace a worker after this
                                       many tasks, 0 = never */
  int start;                 /* PROCESSES: how workers start, PARC_START_FORK (0,
                                the default) or PARC_START_EXEC; see "Process
                                pools" below. Env PARC_START=fork|exec. */
  const char *trace;         /* NULL, or a path: write a task timeline there
                                (Chrome trace event JSON; see "Traces" below).
                                Env PARC_TRACE=FILE. Borrowed during
                                parc_pool_create only. */
} parc_config;

/* Fills *cfg with the defaults above, then applies the environment:
   PARC_BACKEND (threads|processes|serial|mpi), PARC_WORKERS (an integer, as
   for `workers`), PARC_VERBOSE (0|1|2), PARC_START (fork|exec), PARC_TRACE
   (a path, as for `trace`; the string is the environment's). A value
   that does not parse leaves its field (and those read after it) at the
   default here; parc_pool_create then fails on it (see below), so a
   misspelled PARC_BACKEND=proceses never runs silently on threads. */
PARC_EXPORT void parc_config_default(parc_config *cfg);

/* Creates a pool and starts its workers. cfg NULL: parc_config_default().
   cfg is copied. Errors: PARC_EINVAL (NULL pool, workers out of range,
   timeout with THREADS/SERIAL, negative timeout or retries, unknown
   backend; or one of PARC_BACKEND, PARC_WORKERS, PARC_VERBOSE, PARC_START
   is set to a value that does not parse, whoever built cfg: the message
   names the variable and its value), PARC_EBACKEND (PROCESSES or MPI not
   built in or unusable here; the message says what to install),
   PARC_ENOMEM, PARC_ESYS. On failure *pool is NULL and nothing is left
   running. *pool is stored before any worker or fork server starts, so a
   pool kept in a global (parc_pool_create(&global, ...)) is seen there by
   the workers too, and tasks may map on it (see "Nesting" below). */
PARC_EXPORT int parc_pool_create(parc_pool **pool, const parc_config *cfg);

/* Number of workers; 0 for NULL. On PROCESSES it can be fewer than asked
   for: where a limit (a pids cgroup, memory) stops parc_pool_create from
   starting every worker process or its thread, the pool runs on those it
   started and says so once on stderr ("parc: 4 of 20 worker processes
   started (fork: Resource temporarily unavailable); the pool runs on 4");
   only when none starts does parc_pool_create fail (PARC_ESYS). A PROCESSES
   pool cannot be made inside a process worker: PARC_EBACKEND. */
PARC_EXPORT int parc_pool_size(const parc_pool *pool);

/* Which backend the pool runs on (after environment overrides). */
PARC_EXPORT parc_backend parc_pool_backend(const parc_pool *pool);

/* Waits for every task of every group, stops the workers and frees the
   pool. Groups must have been destroyed first; a group still alive is a
   caller bug, and its tasks are waited for anyway. In a process that did
   not create the pool (a fork-start worker, a child the caller forked) it
   frees that process's copy only and stops nothing. NULL: no-op.
   Undefined (not detected): destroying a pool twice, or while another
   thread is still in a call on it (parc_map, parc_group_create,
   parc_group_wait of one of its groups...): the caller must join its own
   threads' calls first. */
PARC_EXPORT void parc_pool_destroy(parc_pool *pool);

/* ------------------------------------------------------------------------ */
/* Traces                                                                   */
/* ------------------------------------------------------------------------ */
/* config.trace = "run.json" (or env PARC_TRACE=run.json) makes a pool write
   its task timeline as Chrome trace event JSON: open it in
   https://ui.perfetto.dev or chrome://tracing, or read it with
   `parc trace summary run.json` / `parc trace plot run.json -o run.png`.
   One track per worker (tid = worker + 1; pid the caller's); one complete
   event ("ph":"X", ts and dur in microseconds since the pool was created)
   per try of a task, named by the group's label, with args index (the
   task's index in its group) and chunk (the claim it came in), and status,
   try and cached where they are not PARC_OK, 1 and false; instant events
   for crashes, timeouts, retries, worker replacements and cancellations;
   a counter track "tasks" (queued, running, done). Events are buffered per
   worker thread (no lock per task) and written by a background thread
   every 100 ms, and when a group or the pool ends; the file ends with
   "complete": true. A program killed meanwhile leaves a file cut at a
   line, which `parc trace` reads and calls incomplete. Tracing times every
   task (two clock reads) and costs about 100 bytes of file per task; off,
   it costs one predictable branch per chunk. Which file: the first pool of
   a process to name a path writes it, the Nth one "path.N". A pool whose
   trace file cannot be created fails parc_pool_create with PARC_ESYS. */

/* ------------------------------------------------------------------------ */
/* Nesting                                                                  */
/* ------------------------------------------------------------------------ */
/* A task may call parc_map, or use a group or a graph, on the pool that
   runs it (through the context, or a pool kept in a global). This never
   deadlocks, on any backend:
   - THREADS: the waiting task's worker runs the inner tasks itself (work
     helping) while the other workers may take some too; it sleeps only for
     inner tasks another worker is running.
   - SERIAL: the inner tasks run in the caller, inside the outer task.
   - PROCESSES, fork start: the inner map runs inline, in the worker
     process of the outer task (the pool's workers belong to the caller).
   - PROCESSES, exec start: a worker is a fresh program image and cannot
     read the caller's pool: parc_map and parc_group_create fail
     PARC_EINVAL ("not a pool of this process"), and a pool kept in a
     global is NULL there. A task may create a pool of its own.
   A child process forked by the caller (not a parc worker) cannot use the
   caller's pools: groups fail PARC_EINVAL there; create a pool in the
   child. */

/* ------------------------------------------------------------------------ */
/* MPI pools                                                                */
/* ------------------------------------------------------------------------ */
/* PARC_MPI runs the same program on a cluster: `mpirun -n 64 ./sweep` or
   `srun -n 64 ./sweep` with cfg.backend = PARC_MPI or PARC_BACKEND=mpi.
   Nothing else in the code changes. Built into libparc.so when CMake finds
   MPI (Debian: libopenmpi-dev openmpi-bin); otherwise, and in the static
   libparc.a (Debian ships no static Open MPI), parc_pool_create says
   PARC_EBACKEND and names those packages.

   SPMD, no MPI_Comm_spawn. Every rank must run the same binary and call
   parc_pool_create with PARC_MPI. On rank 0 it returns the pool; on every
   other rank it never returns: the rank serves tasks until rank 0
   destroys the pool, then calls MPI_Finalize and exit(0) (atexit handlers
   run). So code after parc_pool_create runs on rank 0 alone. A program
   has one MPI pool (MPI cannot start twice: a second parc_pool_create
   with PARC_MPI is PARC_EBACKEND); other pools may exist beside it on rank 0.
   MPI may be started by the program (MPI_Init_thread with at least
   MPI_THREAD_SERIALIZED; it then calls MPI_Finalize itself on rank 0, after
   parc_pool_destroy, and makes no MPI calls on parc's behalf meanwhile) or
   by parc (MPI_Init_thread in parc_pool_create, MPI_Finalize in
   parc_pool_destroy). Outside mpirun/srun, or with one rank, the pool runs
   as PARC_PROCESSES on this machine (parc_pool_backend still says PARC_MPI).

   Functions travel as (object, offset), as for exec start: a task function
   must be in the program or a library it loads at startup. Inputs (fixed
   records and parc_group_map_bufs records), the context (sent once per rank
   and slot, again only when its bytes change), graph dependencies, outputs
   and parc_task_output results travel as bytes; streams work as anywhere; the task's pointers into
   rank 0's memory (globals changed after start, heap) are not there.
   worker_init runs in each forked worker of every leader; worker_init_arg
   must be NULL (PARC_EINVAL otherwise). A task cannot map on the MPI pool.

   Two levels. Per node (MPI_Comm_split_type SHARED) the lowest rank other
   than 0 is the leader: it runs a local PROCESSES pool with one forked
   worker per rank of its node (rank 0 not counted; cfg.workers > 0: that
   many per leader), and the node's other ranks wait, napping, for the end.
   Rank 0 talks to leaders only, with PARC_MPI_INFLIGHT (default 2, up to
   64) batches in flight per leader; automatic batches are sized from the
   measured time (about 10 ms of work per batch). parc_pool_size is the
   sum of the leaders' workers; parc_task_worker is the worker's index in
   its leader's local pool. Environment: PARC_MPI_LEADERS=rank makes every
   rank but 0 a leader of one worker (what a node of one core would do);
   PARC_MPI_LOCAL=threads makes the local pools PARC_THREADS (no crash
   isolation; only without a timeout).

   Faults. A task's crash, timeout (cfg.timeout) or OOM kill happens in a
   forked worker of its leader: that task alone ends PARC_ECRASH or
   PARC_ETIMEDOUT (retried as cfg.retries says), its message names the
   signal and the MPI rank ("killed by signal 11 (Segmentation fault) (on
   MPI rank 1)"). An MPI error on a leader's link fails the tasks it held
   and every later task with PARC_ECRASH naming the rank. When a rank
   process itself dies, Open MPI 4.1 ends the whole job (mpirun names the
   rank); rank 0, told to stop by SIGTERM (when the program left SIGTERM at
   its default), first writes to stderr which tasks each leader held. With
   a cache, rerunning the job recomputes only what is missing.
   The cache, progress output and traces live on rank 0 (a trace shows a
   batch's tasks sharing out its round trip: leaders send no per-task times). */

/* ------------------------------------------------------------------------ */
/* Process pools                                                            */
/* ------------------------------------------------------------------------ */
/* PARC_PROCESSES runs each worker in its own process, so a task that
   crashes or hangs costs that task, never the run.

   Start. parc_pool_create forks one helper, the fork server, from the
   calling thread; the server stays single-threaded and forks every worker,
   the first ones and every replacement. So threads the caller starts later
   (OpenMP, BLAS, its own, holding locks) cannot deadlock a new worker.
   With fork start (the default) workers see, copy-on-write, the caller's
   memory as it was when the pool was created: globals, heap, and functions
   of libraries loaded by then (a library dlopen()ed later is not in the
   workers). Memory written by the
   caller after that is not seen by the workers, except parc_shared_alloc
   memory (below) and what crosses the API: each task's input, the group's
   context, graph dependencies. Bytes of its output record a task does not
   write are zero on PROCESSES (the caller's own bytes on THREADS and
   SERIAL): write the whole record. Output bytes are copied back into the
   caller's `out` before the task is reported; records in parc_shared_alloc
   memory are read and written in place, without a copy. A context outside
   parc_shared_alloc memory is copied into each worker once per group and
   compared with that copy before each dispatch: put a context of many
   megabytes in parc_shared_alloc memory to avoid both.

   Pointers in records and in the context. The bytes of a record cross;
   what a pointer in them points to crosses only if the worker has it:
     - THREADS, SERIAL: one process; any pointer the caller could follow
       is valid in a task.
     - PROCESSES, fork start: pointers into memory that existed when the
       pool was created (globals, heap, mappings; read as they were then),
       and into parc_shared_alloc memory (read live, at the same address).
       A pointer to memory allocated, or to bytes written, after the pool
       was created reads stale or unrelated bytes, or crashes the task.
     - PROCESSES, exec start: pointers into parc_shared_alloc memory
       only. A worker has the program's globals (string literals, tables,
       initialised data) with their values at program start, but at its
       own addresses: each process loads a position-independent program
       at a random address, so a caller's pointer to a global (even a
       string literal) points elsewhere in the worker (measured: caller
       0x562d1286b008, worker 0x55ac588c7008). A task may use its own
       globals by name; records should carry values or indices. Nothing of
       the caller's heap is there.
     - MPI: values only.
   Values (numbers, fixed arrays, offsets into a parc_shared_alloc block)
   are valid everywhere.

   The globals check. A program that writes a global after creating a
   PROCESSES pool, and reads it in tasks, gets the old value with PARC_OK
   (a port from threads produces an all-zero image, say). So as each
   group ends (parc_group_destroy; parc_map before it returns), in the
   caller, parc hashes the executable's .data and .bss page by page and
   compares with the workers' image: the caller's globals when the pool
   was created (fork start; or when a replacement fork server was forked),
   or at program start (exec start). Pages holding buffers that crossed
   the API are left out from then on: map input and output arrays, the
   status array of parc_map, contexts and submitted records that are
   static arrays (the program writes its inputs, parc its outputs; the
   workers get those bytes anyway). When the rest differs it prints, once
   per pool, on stderr:
     fork start: "parc: the program's globals changed after this PROCESSES
       pool was created; workers see the globals as they were when the pool
       was created; pass them as context or create the pool later"
     exec start: "parc: the program's globals have changed since it
       started; workers of a PROCESSES pool with exec start see them as
       they were at program start: pass them as context or in
       parc_shared_alloc memory"
   and the map's status is what it would have been (parc cannot know
   whether the tasks read those globals: a global the tasks never read
   counts too). The pointer parc_pool_create stores the pool in does not
   count; a copy of it made later does. What is looked at:
   the executable's own .data and .bss, not shared libraries' (nor the
   .got, which lazy binding writes, nor objects the C library owns through
   copy relocations: environ, optind, stdout). Cost: a hash at memory
   speed, under a microsecond per map for a few KiB of globals, about
   40 us for 1 MiB; beyond 2 MiB a sample of about 2 MiB is hashed (64 KiB
   runs spread evenly, plus each section's last), about 75 us per map with
   a 100 MiB .bss, so a change confined to the runs left out is not seen.
   Off (no hash, no warning) when libparc is linked statically (its own
   globals would then live among the program's and change as it works),
   when /proc/self/exe cannot be read as the running ELF file, or with
   the environment PARC_GLOBALS_WARNING=0 when the program is started.

   Output. What a task writes with printf or fprintf reaches the caller's
   stdout and stderr as on THREADS, whether they are a terminal, a pipe or
   a file: a worker flushes its stdio buffers after every task that left
   something in them, and before it exits. A task that crashes loses only
   what it wrote and did not flush itself.

   Exec start. Some runtimes do not survive fork at all: GCC's libgomp
   hangs when a forked child uses OpenMP after its parent did. With
   config.start = PARC_START_EXEC (or env PARC_START=exec) the fork server
   is instead a fresh copy of the program: parc_pool_create forks a child
   that execs /proc/self/exe; before main runs, libparc's constructor maps
   the shared region at the caller's address and makes that process the
   fork server (it never reaches main), and the workers are forked from it.
   Use it when the caller used OpenMP (or another fork-unsafe runtime)
   before creating the pool and tasks use it too. What changes:
   - Workers inherit no memory of the caller: globals and heap are as at
     program start (libparc's constructors have run, main has not). Only
     what crosses the API (inputs, outputs, the context, dependencies) and
     parc_shared_alloc memory is shared; a global the caller has changed
     since it started is warned about (see "The globals check" above).
     worker_init_arg must be NULL or point into parc_shared_alloc memory
     (else PARC_EINVAL).
   - Task functions and worker_init travel as (object, offset): they must
     be in the executable or in a shared library loaded at startup, not in
     one dlopen()ed later (such a task fails PARC_EINVAL, "exec start: the
     task's function is not in the program or a library it loads at
     startup"). The program must link libparc (the constructor), and
     /proc/self/exe must be the program (not started through ld.so).
   - Creating the pool costs an exec and the program's startup (a few ms);
     tasks then cost the same as with fork start. The shared region is
     asked for at a fixed address that a fresh process leaves free; when
     the exec'd server cannot map it there, parc_pool_create fails
     PARC_ESYS ("cannot map the shared region at the same address in the
     exec'd server").
   - OMP_NUM_THREADS etc. (below) are set in the exec'd environment, so
     runtimes that read them when loaded see them.

   Faults. A worker that dies while running a task (any signal, exit(),
   _exit(), SIGKILL from outside, the OOM killer) is reaped and replaced at
   once; that task ends PARC_ECRASH with the message "killed by signal 11
   (Segmentation fault)" (strsignal's text) or "exited with status 3". A
   task running longer than config.timeout gets SIGTERM, then SIGKILL 0.25 s
   later, and ends PARC_ETIMEDOUT ("ran past the timeout of 0.5 s"). With
   config.retries = r, such a task is run again, on a fresh worker, up to r
   more times; it fails only when it has killed r + 1 workers. Tasks of the
   same dispatch that finished before the death keep their results, and the
   ones not yet started run on the replacement: nothing else is lost and
   the pool stays usable. A task's whole process tree is its own: each
   worker leads a process group of its own (a task's kill(0, sig) reaches
   that group, never the caller), a timeout or parc_pool_destroy kills the
   group, and what a task left running elsewhere (setsid, a daemon) is
   reparented to the fork server and killed when the pool ends. exit() in a
   task ends its worker without running the caller's atexit handlers. When
   the fork server itself dies (kill -9, the OOM killer, a task killing its
   parent), a new one is started: tasks running then end PARC_ECRASH ("the
   pool's fork server died while it ran", or are retried), the rest run on
   the new workers. With fork start the new server is a copy of the caller
   as it is then. Only if no new server can start do tasks fail, at once,
   with "the pool is broken: ...". A worker that dies in worker_init fails the task
   it was started for ("worker_init: killed by signal ...") under the same
   retry rule.

   Lifecycle. worker_init runs once in each worker process, replacements
   included. max_tasks_per_worker retires a worker after that many tasks
   (for libraries that leak). Workers ignore SIGINT: Ctrl-C is the caller's
   to handle, and if it kills the caller, or anything kills the caller, the
   server notices, kills the workers and exits; workers also die with the
   server (PR_SET_PDEATHSIG). parc_pool_destroy stops the server, which
   kills every worker: a task still running then (a group not destroyed
   first) ends PARC_ECRASH "stopped by parc_pool_destroy", tasks not started
   PARC_ECANCELED. After it returns no process, file descriptor or
   shared-memory name of the pool is left; while the pool lives it holds one
   socket descriptor. The shared region (first pool or parc_shared_alloc)
   holds one close-on-exec memfd descriptor for the rest of the program.

   Threads in workers. Unless the environment already sets them, each
   worker gets OMP_NUM_THREADS, OPENBLAS_NUM_THREADS and MKL_NUM_THREADS =
   max(1, parc_cpu_count() / workers), so that BLAS or OpenMP inside tasks
   does not oversubscribe the CPUs (joblib does the same). */

enum {
  PARC_START_FORK = 0,   /* fork from the pool's fork server (the default) */
  PARC_START_EXEC = 1    /* exec a fresh copy of the program as the fork server */
};

/* ------------------------------------------------------------------------ */
/* Groups: submit, as_completed, map                                        */
/* ------------------------------------------------------------------------ */

typedef struct parc_options {
  const void *context;       /* read-only data every task may read
                                (parc_task_context); borrowed until the group
                                is destroyed; copied once per worker where
                                memory is not shared */
  size_t context_size;
  size_t batch;              /* tasks per dispatch, 0 = automatic (see below) */
  int stop_on_error;         /* 1: after the first failure, cancel tasks not yet started */
  uint64_t seed;             /* this group's streams; 0 = the pool's seed */
  const char *label;         /* names the work in progress output; copied */
  parc_cache *cache;         /* memoize through this cache, NULL = none */
  const char *cache_name;    /* NULL: the function's symbol name */
  const char *cache_version; /* bump to invalidate */
  int stream;                /* 1: a group fed forever. Once parc_group_next has
                                reported a task and is called again, that task's
                                record (status, message, parc_task_output result)
                                is freed: memory follows the tasks in flight, not
                                the tasks ever submitted (see parc_group_pending) */
  size_t total;              /* the number of tasks expected, when they are
                                submitted one by one: progress counts against it
                                (0: the tasks submitted so far) */
} parc_options;              /* zero-initialised = all defaults */

/* A record of any size: `size` bytes at `data` (parc_group_map_bufs). */
typedef struct parc_buf {
  const void *data;
  size_t size;
} parc_buf;

/* Automatic batching (batch = 0). Each worker claims a run of consecutive
   tasks at a time. The first claims are small (1, then doubling; x8 on
   PROCESSES), and each
   worker times its runs: the size aims at about 50 microseconds of work per
   claim on THREADS (500 on PROCESSES, where a claim is a round trip to the
   worker process), so that dispatch costs little however small the task, but
   never exceeds remaining / (2 x workers) tasks, so the last claims shrink
   and uneven tasks still balance (guided self-scheduling). With batch = k,
   claims are exactly k tasks (fewer at the end); batch = 1 starts every
   task as soon as a worker is free. */

/* Creates an empty group on pool. opt NULL: defaults; opt is copied (label
   too; context is borrowed). Errors: PARC_EINVAL (NULL g or pool),
   PARC_ENOMEM. */
PARC_EXPORT int parc_group_create(parc_group **g, parc_pool *pool, const parc_options *opt);

/* Submits one task: fn(in, out). `in` is copied (in_size bytes); `out` is
   borrowed until the task is reported (the worker writes out_size bytes
   there). *index, if not NULL, receives the task's index: 0, 1, 2... in
   submission order within the group. Returns at once. Errors: PARC_EINVAL
   (NULL g or fn, NULL in/out with a non-zero size), PARC_ENOMEM. */
PARC_EXPORT int parc_group_submit(parc_group *g, parc_fn fn, const void *in, size_t in_size,
                                  void *out, size_t out_size, size_t *index);

/* Submits n tasks: task i runs fn(in + i*in_size, out + i*out_size). Both
   arrays are borrowed, not copied, until the group has finished. Indices
   continue the group's numbering. Returns at once. n = 0 is a no-op.
   Errors: PARC_EINVAL (NULL g or fn, NULL array with non-zero size, n *
   size overflows), PARC_ENOMEM. */
PARC_EXPORT int parc_group_map(parc_group *g, parc_fn fn, const void *in, size_t in_size,
                               void *out, size_t out_size, size_t n);

/* Submits n tasks with records of any size: task i runs fn(in[i].data,
   NULL) and reads in[i].size bytes there (parc_task_input_size). `in` and
   the bytes it points to are borrowed until the group has finished (on
   PROCESSES they are copied into shared memory per round, or read in place
   when they lie in parc_shared_alloc memory). `out` is NULL: a task gives
   its result with parc_task_output, of the size it chooses, and the caller
   reads it with parc_group_output. Indices continue the group's numbering.
   n = 0 is a no-op. Errors: PARC_EINVAL (NULL g or fn, NULL in with n > 0,
   in[i].data NULL with in[i].size > 0), PARC_ENOMEM. */
PARC_EXPORT int parc_group_map_bufs(parc_group *g, parc_fn fn, const parc_buf *in, size_t n);

/* Task index's parc_task_output result: its bytes, and *size (if not NULL)
   their count. NULL (and *size 0) when the task has not finished, did not
   succeed, made no output, was never submitted, or its record was freed
   (opt.stream). Owned by the group: valid until parc_group_destroy, or on
   a stream until parc_group_next is called again after reporting it. Safe
   to call from any thread once next or wait has reported the task. */
PARC_EXPORT const void *parc_group_output(const parc_group *g, size_t index, size_t *size);

/* Tasks submitted and not yet reported by parc_group_next (0 for NULL):
   what a producer loop bounds to keep memory flat,
   `while (parc_group_pending(g) >= 64) take_one(g);`. */
PARC_EXPORT size_t parc_group_pending(const parc_group *g);

/* Reports one finished task in completion order (as_completed): *index
   receives it; returns that task's status (PARC_OK or an error code: the
   task's failure, not a failure of this call). PARC_DONE when every task
   submitted so far has been reported. PARC_ETIMEDOUT when timeout seconds
   pass first (timeout < 0 or INFINITY waits forever, 0 polls). Each task
   is reported once, to one caller. Errors: PARC_EINVAL (NULL g, a group
   made by parc_map, a NaN timeout).
   Memory: a group that keeps its tasks for parc_group_next costs about 9
   bytes per task until it is destroyed (a status byte and an 8-byte entry
   of the completion log: 88 MB for 10^7 tasks, measured), and a submitted
   task its job (about 200 bytes); parc_map keeps neither (its failures
   only). With opt.stream = 1 a task's record is freed at the next call
   after the one that reported it: a loop of submit + next holds memory
   for the tasks in flight only, however many pass through. */
PARC_EXPORT int parc_group_next(parc_group *g, double timeout, size_t *index);

/* Waits until every task submitted so far has finished. Returns PARC_OK,
   or the status of the failed task with the lowest index (a real failure
   preferred over PARC_ECANCELED), and then parc_errmsg() names that task
   and its message ("parc_group_wait: task 5 failed: Cannot process x=5");
   PARC_ETIMEDOUT if tasks remain when timeout seconds pass (timeout < 0 or
   INFINITY: forever). Does not consume parc_group_next's reports. Errors:
   PARC_EINVAL (NULL g, a NaN timeout). */
PARC_EXPORT int parc_group_wait(parc_group *g, double timeout);

/* Status of one task: PARC_OK, PARC_PENDING, or its error. PARC_EINVAL for
   NULL g or an index never submitted (no message is set: this is a query).
   A task can also fail PARC_EINVAL itself (exec start: its function is in a
   library the worker does not load): then parc_group_message has its text,
   while for an index never submitted it is NULL; that tells the two apart. */
PARC_EXPORT int parc_group_status(const parc_group *g, size_t index);

/* The failure text of a task ("Cannot process x=5", "killed by signal 11
   (Segmentation fault)"), or NULL if it has not failed (or was never
   submitted, or g is NULL). Every failure has a text, PARC_EINVAL
   included. Owned by the group, valid until parc_group_destroy. */
PARC_EXPORT const char *parc_group_message(const parc_group *g, size_t index);

/* Number of tasks that have finished with an error, cancelled ones included. */
PARC_EXPORT size_t parc_group_failed(const parc_group *g);

/* Tasks not yet started become PARC_ECANCELED (reported by next like any
   other); running ones finish. Later submissions run normally. NULL: no-op. */
PARC_EXPORT void parc_group_cancel(parc_group *g);

/* Cancels what has not started, waits for what is running, frees the
   group. After it returns, no worker touches the group's buffers. NULL:
   no-op. Undefined (not detected): destroying a group twice, or while
   another thread is in a call on it (next, wait, submit). */
PARC_EXPORT void parc_group_destroy(parc_group *g);

/* What a group has done so far (joblib's and Dask's progress counts, and
   the timing that says whether the workers were busy). */
typedef struct parc_group_info {
  size_t submitted, done, failed, canceled, cached;  /* task counts: done = finished
                     successfully (cache hits included), failed = finished with an error
                     other than canceled, cached = of done, answered by the cache */
  double wall_seconds;      /* first submission to last completion (so far: to now) */
  double busy_seconds;      /* sum over tasks of their run time */
  double longest_seconds;   /* the slowest task's run time */
  size_t longest_index;     /* and its index; SIZE_MAX when not timed */
} parc_group_info;

/* Fills *info. Timing: busy_seconds is measured per chunk under automatic
   batching (batch = 0, the default) and per task when the pool traces
   (config.trace) or has verbose = 2; only the latter time each task, so
   longest_seconds and longest_index are set (else 0 and SIZE_MAX), and
   with a fixed batch and neither, busy_seconds is 0. verbose = 2 prints
   these figures when the group ends. Safe while tasks run (a snapshot).
   Errors: PARC_EINVAL (NULL g or info). */
PARC_EXPORT int parc_group_stats(const parc_group *g, parc_group_info *info);

/* One call: map fn over n records, wait, return what parc_group_wait would.
   On a task's failure parc_errmsg() says which and why ("parc_map: task 5
   failed: Cannot process x=5", the lowest failed index). status, if not
   NULL, receives every task's status (n entries); parc_group_message's
   texts need a group (parc_group_map). opt NULL: defaults. Errors as
   parc_group_map. */
PARC_EXPORT int parc_map(parc_pool *pool, parc_fn fn, const void *in, size_t in_size,
                         void *out, size_t out_size, size_t n, const parc_options *opt,
                         int *status);

/* Map and fold: runs fn over the n records of `in` (as parc_map: task i
   reads in + i * in_size, writes an out_size-byte output, and sees index i,
   stream i and the group's context) and folds every output into *result
   with combine(acc, part, arg), in an order fixed by n alone, so that a
   floating-point sum gives the same bits on every backend, worker count and
   batch size (OpenMP's reduction does not).

   The order, exactly. *result holds the identity on entry (0 for a sum;
   every partial starts as a copy of it). The indices fall into blocks of B
   consecutive ones, B = 1 for n <= 4096, else the smallest power of two
   with ceil(n / B) <= 4096: block k is [kB, min(n, (k+1)B)), only the last
   may be shorter. Block k's partial is the left fold of its outputs from
   the identity, P_k = combine(...combine(combine(id, out_kB), out_kB+1)...,
   out_last), and the result is the left fold of the partials in block
   order, *result = combine(...combine(combine(id, P_0), P_1)..., P_m-1).
   For a sum from 0 and n <= 4096 that is the plain left fold; n = 4097
   gives B = 2 and (((out_0 + out_1) + (out_2 + out_3)) + ...) + out_4096.

   Where combine runs. Each block is folded by the worker that runs it, in
   its own memory; the partials by the caller. So combine is called from
   several threads (or processes) at once, on different accumulators: it
   may read arg, never write what another call reads. On PROCESSES the
   workers call it with arg as given when arg is NULL or in
   parc_shared_alloc memory; with any other arg, with config.timeout or
   max_tasks_per_worker set (they count fn's tasks), under exec start with
   a fn or combine that cannot be located, with opt->cache, and on MPI,
   fn's tasks run one by one and the caller does every fold, in the same
   order: the same bits, slower.

   Memory: O(workers x out_size), never n outputs: two windows in flight,
   each of about 16 MiB of partials (of fn's outputs where the caller
   folds) but at least one per worker, and a few outputs per worker
   (fn's, a chunk at a time, and its partials). Where the workers fold, progress, traces, batch and
   stop_on_error count their tasks (runs of 1 to 4 whole blocks), not fn's.
   opt as for parc_map; opt->context reaches fn (copied once per worker
   process on PROCESSES, as for a map).

   Returns PARC_OK, or the lowest failed task's status with parc_errmsg()
   naming it ("parc_map_reduce: task 5 failed: Cannot process x=5"); on
   PROCESSES a worker that died is named by the run of tasks it was folding
   ("parc_map_reduce: tasks 4096..8191 failed: killed by signal 11 ...").
   On failure *result is unchanged. n = 0: PARC_OK, *result unchanged.
   Errors: PARC_EINVAL (NULL pool, fn, combine or result, out_size 0, in
   NULL with in_size > 0, n x in_size overflows), PARC_ENOMEM. */
PARC_EXPORT int parc_map_reduce(parc_pool *pool, parc_fn fn, const void *in, size_t in_size,
                                size_t n, size_t out_size,
                                void (*combine)(void *acc, const void *part, void *arg),
                                void *arg, void *result, const parc_options *opt);

/* ------------------------------------------------------------------------ */
/* Inside a task                                                            */
/* ------------------------------------------------------------------------ */
/* These take the task pointer a task function was given; it is valid only
   during that call. */

/* The task's index in its group; in a graph node, the node id. */
PARC_EXPORT size_t parc_task_index(const parc_task *t);

/* The group's context bytes; *size (if not NULL) receives context_size.
   NULL when the group has none. */
PARC_EXPORT const void *parc_task_context(const parc_task *t, size_t *size);

/* Bytes at `in` for this task: the map's in_size, the size this task's
   parc_group_submit passed (each submit may pass another), or its record's
   size in parc_group_map_bufs. 0 for NULL. */
PARC_EXPORT size_t parc_task_input_size(const parc_task *t);

/* A result of the size the task chooses, for tasks without a fixed output
   (parc_group_map_bufs, or parc_group_submit / parc_group_map with
   out_size 0, graph nodes with out_size 0): returns `size` writable bytes
   owned by the group (the caller reads them with parc_group_output, a
   graph's dependants with parc_task_dep); calling again replaces the
   earlier result. size 0 gives a unique non-NULL pointer and an empty
   result. On PROCESSES the bytes are in shared memory: small results are
   copied out after the task, large ones (64 KiB and more) are handed over
   in place; any size up to what memory holds (1 GiB tested). NULL when
   the task has a fixed output (out_size > 0: the task then ends PARC_EINVAL)
   or the memory cannot be had (the task then ends PARC_ENOMEM with the
   message "parc_task_output: cannot allocate N bytes", whatever it
   returns; the other tasks go on). A task that fails keeps no result. */
PARC_EXPORT void *parc_task_output(parc_task *t, size_t size);

/* Which worker runs this task: 0 .. workers-1. */
PARC_EXPORT int parc_task_worker(const parc_task *t);

/* Marks the task failed with a printf-style message and returns
   PARC_ETASK, so `return parc_fail(t, "x=%d out of range", x);` ends it.
   The message is copied (at most 1 KiB is kept). */
PARC_EXPORT int parc_fail(parc_task *t, const char *fmt, ...) PARC_PRINTF(2, 3);

/* ------------------------------------------------------------------------ */
/* Random streams                                                           */
/* ------------------------------------------------------------------------ */
/* Philox4x32-10 (Salmon et al., SC'11, via Random123): counter-based, so a
   stream is a pure function of (seed, stream) and the position in it.
   parc_task_rng(t) is a stream initialised with (the group's seed, the
   task's index): the numbers a task draws depend only on those, never on
   the backend, worker count, batching or timing. */

typedef struct parc_rng { uint64_t opaque[6]; } parc_rng;   /* stack-allocatable */

/* r NULL: init does nothing, and the three draws return 0. A stream is
   not thread-safe: one thread draws from it at a time. */
PARC_EXPORT void parc_rng_init(parc_rng *r, uint64_t seed, uint64_t stream);
PARC_EXPORT uint64_t parc_rng_u64(parc_rng *r);
/* Uniform on [0, 1) with 53 random bits. */
PARC_EXPORT double parc_rng_uniform(parc_rng *r);
/* Normal(mean, sd) by the Box-Muller transform; consumes two u64 per call. */
PARC_EXPORT double parc_rng_normal(parc_rng *r, double mean, double sd);

/* This task's stream, initialised on first use; owned by the task. */
PARC_EXPORT parc_rng *parc_task_rng(parc_task *t);

/* ------------------------------------------------------------------------ */
/* Shared memory                                                            */
/* ------------------------------------------------------------------------ */
/* The joblib memmapping counterpart: a large array is stored once, and
   tasks on every backend read it (or write disjoint parts of it) without
   copies. */

/* Returns size bytes of zero-filled memory, aligned to 64 bytes, at the
   same address in the caller and in every worker of every process pool on
   this host, whether the pool was created before or after this call.
   Writes by any of them are seen by all. Thread-safe. size 0 gives a unique
   pointer, as malloc(0) may. The memory comes from one region of address
   space reserved per process at first use (64 GiB, or the largest power of
   two the kernel grants, at least 256 MiB), backed by an anonymous memfd:
   pages cost memory only once written, and nothing appears in /dev/shm.
   Returns NULL with parc_errmsg() set when the region is exhausted, when it
   cannot be mapped, or when called inside a process worker (allocate in
   the caller). Free with parc_shared_free. */
PARC_EXPORT void *parc_shared_alloc(size_t size);

/* Frees memory from parc_shared_alloc; its pages go back to the system.
   NULL, or a pointer parc_shared_alloc did not return, is a no-op; so is a
   call inside a process worker. Must not be called while a task may still
   use the memory. */
PARC_EXPORT void parc_shared_free(void *p);

/* ------------------------------------------------------------------------ */
/* Task graphs                                                              */
/* ------------------------------------------------------------------------ */
/* dask.delayed in C. A graph is a set of nodes; each node is a task fn(in,
   out) that may also read the outputs of earlier nodes (its dependencies)
   through parc_task_dep. A node may depend only on nodes added before it, so
   every graph is acyclic by construction. parc_graph_run runs the graph on
   its pool: a node starts as soon as all its dependencies have finished.
   When a node fails, every node that depends on it, directly or through
   others, becomes PARC_EDEPENDENCY without running; independent branches
   still finish.

       parc_node a, b, sum;
       parc_graph_add(g, load, &x, sizeof x, sizeof(double), NULL, 0, &a);
       parc_graph_add(g, load, &y, sizeof y, sizeof(double), NULL, 0, &b);
       parc_graph_add(g, add2, NULL, 0, sizeof(double), (parc_node[]){a, b}, 2, &sum);
       parc_graph_run(g);
       const void *r; parc_graph_result(g, sum, &r, NULL);

   Inside a node, parc_task_index() is the node id, so parc_task_rng() gives
   each node the stream (the graph's seed, its node id): a graph draws the
   same numbers on every backend and worker count.

   A graph is not thread-safe: call its functions from one thread at a time
   (tasks run in parallel; the graph's bookkeeping runs in the caller of
   parc_graph_run). */

typedef size_t parc_node;   /* node ids: 0, 1, 2... in the order of parc_graph_add */

/* Creates an empty graph whose nodes will run on pool. opt NULL: defaults.
   opt is copied; label, cache_name and cache_version are copied too,
   context is borrowed until parc_graph_destroy. Every parc_graph_run runs
   its nodes as one group with these options (context, seed, label, cache;
   batch does not matter, a node is one task). With stop_on_error, after
   the first failure no further node starts: nodes not yet started become
   PARC_ECANCELED, and so do the nodes that depend on them. With a cache,
   a node's key includes its dependencies' outputs (section Cache), so a
   rerun after one input changed recomputes exactly the nodes downstream of
   it. pool is borrowed: destroy the graph before the pool. Errors:
   PARC_EINVAL (NULL g
   or pool, NULL context with a non-zero context_size), PARC_ENOMEM; on
   failure *g is NULL. */
PARC_EXPORT int parc_graph_create(parc_graph **g, parc_pool *pool, const parc_options *opt);

/* Adds a node: fn(in, out) with out_size bytes of output, to run after
   every node in deps[0 .. n_deps-1]. Inside fn, parc_task_dep(t, k) is the
   output of deps[k], in this order (a node listed twice appears twice).
   `in` is copied (in_size bytes); deps is copied. The output buffer
   (out_size bytes, zero-filled, aligned for any type) is owned by the graph.
   *node, if not NULL, receives the new node's id. Adding does not run
   anything. Errors: PARC_EINVAL (NULL g or fn, NULL in with a non-zero
   in_size, NULL deps with a non-zero n_deps, a dependency that is not an
   earlier node of this graph: the message names it), PARC_ENOMEM. On
   failure the graph is unchanged. */
PARC_EXPORT int parc_graph_add(parc_graph *g, parc_fn fn, const void *in, size_t in_size,
                               size_t out_size, const parc_node *deps, size_t n_deps,
                               parc_node *node);

/* Runs every node that has not run yet and returns when all of them have
   finished. Nodes that ran in an earlier call keep their results and are
   not run again, so a graph may grow between runs: add nodes that depend
   on finished ones, run again, and only the new nodes run (a new node that
   depends on a node that failed earlier is PARC_EDEPENDENCY at once).
   Returns PARC_OK when every node of the graph (this run's and earlier
   ones') has succeeded; otherwise the status of the lowest-id node that
   failed by itself (a real failure preferred over PARC_ECANCELED), with
   parc_errmsg() set to "parc_graph_run: node N failed: <its message>".
   A node's own failure is PARC_ETASK, PARC_ECRASH, PARC_ETIMEDOUT (as for
   any task), or PARC_ENOMEM when it could not be submitted. Errors of the
   call itself: PARC_EINVAL (NULL g), PARC_ENOMEM (nothing ran: the nodes
   stay unrun for a later call). */
PARC_EXPORT int parc_graph_run(parc_graph *g);

/* The output of a node that has run: *out (if not NULL) receives a pointer
   to its out_size bytes, owned by the graph and valid until
   parc_graph_destroy (NULL when out_size is 0); *size (if not NULL)
   receives out_size. Returns PARC_OK for a node that succeeded; the node's
   failure status (PARC_ETASK, PARC_EDEPENDENCY, ...) for one that failed,
   and PARC_PENDING for a node added but not run yet: then *out is NULL,
   *size 0, and parc_errmsg() says why. Errors: PARC_EINVAL (NULL g, a node
   id never added), with a message. */
PARC_EXPORT int parc_graph_result(const parc_graph *g, parc_node node, const void **out,
                                  size_t *size);

/* The failure text of a node ("Cannot process x=5"; for a dependant:
   "dependency node 3 failed: Cannot process x=5", naming the node whose own
   failure started it however deep the chain; with two failed ancestors,
   the one reported first), or NULL when the node has not
   failed, has not run, or g is NULL or node unknown. Owned by the graph,
   valid until parc_graph_destroy. */
PARC_EXPORT const char *parc_graph_message(const parc_graph *g, parc_node node);

/* Number of nodes added so far; 0 for NULL. */
PARC_EXPORT size_t parc_graph_size(const parc_graph *g);

/* Frees the graph, its copies of inputs and every node's output. Must not
   be called while parc_graph_run runs. NULL: no-op. */
PARC_EXPORT void parc_graph_destroy(parc_graph *g);

/* Inside a graph node: how many dependencies it has (0 for a task that is
   not a graph node, or NULL t). */
PARC_EXPORT size_t parc_task_ndeps(const parc_task *t);

/* Inside a graph node: the output of its k-th dependency (deps[k] of
   parc_graph_add), read-only, valid during this call; *size (if not NULL)
   receives its size. NULL, with *size 0, when k >= parc_task_ndeps(t) or t
   is NULL; also NULL, with *size 0, for a dependency whose out_size is 0. */
PARC_EXPORT const void *parc_task_dep(const parc_task *t, size_t k, size_t *size);

/* ------------------------------------------------------------------------ */
/* Cache: on-disk memoization (joblib.Memory for C)                         */
/* ------------------------------------------------------------------------ */
/* A cache is a directory holding one SQLite file (parc-cache.sqlite, WAL
   mode). Give a group or parc_map `opt.cache` and every task is first
   looked up: a hit copies the stored output bytes and is reported PARC_OK
   without running; a task that succeeds is stored. So a sweep killed with
   kill -9 and run again recomputes only what had not been committed, and a
   sweep rerun after one parameter changed computes only what is new.

   The key of a result is exact, never approximate:
     - the function's name (opt.cache_name; NULL: its symbol name, found
       through the dynamic symbol table or the ELF .symtab of the file it
       lives in; a stripped binary without either makes submission fail
       with PARC_EINVAL: name it yourself then),
     - the version string (opt.cache_version; NULL = ""): bump it to
       invalidate. It is YOUR lever for what parc cannot see: the fingerprint
       below covers the function's own machine code only, never the
       functions it calls, the data it reads through pointers, files or
       globals,
     - a 128-bit fingerprint of the function's machine code when the symbol
       table gives its size (nearly always: .symtab or .dynsym); without a
       size the fingerprint is left out. Any rebuild that changes the code
       bytes, even one that only moves callees, is a miss, never a stale hit,
     - the context bytes (opt.context), byte for byte: a context that holds
       pointers misses in every new process (addresses change), so put
       values in it, not pointers,
     - the input bytes (and a graph node's dependency outputs),
     - the group's seed and the task's index, but only for a function that
       called parc_task_rng or parc_task_index in some task: its result
       depends on them. Other functions hit by input alone, whatever the
       task's position.
   How a key is found, and why a hit is never another key's result. A
   task's key bytes are its input, its dependencies' outputs and a trailer
   of at most 17 bytes (seed and index when they count, a mode byte).
     - Keys of up to 4096 bytes (inputs up to 4095 bytes, the common case)
       are hashed with SipHash-2-4-128 (Aumasson and Bernstein) for the
       lookup, and stored and compared byte for byte on every hit: a hash
       collision gives a miss, never a wrong result, whatever the input.
     - Longer keys are hashed with XXH3-128 (xxHash 0.8, at memory speed:
       a hit on a 1 MiB input costs about what reading it once does, not
       SipHash's 3 GB/s plus a comparison with a stored copy) under a
       secret derived from the function's scope (name, version, code,
       context), and stored as their length only: the hash IS the key.
       A hit needs the row found by the first 64 bits, of this scope, with
       this key length and output size, and whose other 64 bits (kept
       beside the row and checked on every hit) agree: two different keys
       of one length whose 128-bit XXH3 agree. On data that nobody built
       for the purpose, XXH3-128 behaves as a random function (it passes
       SMHasher's tests, collisions included), so the chance that any of Q
       lookups meets such a collision among N stored large keys is below
       Q x N / 2^128: for 10^12 lookups against 10^9 entries, 3 x 10^-18,
       far below the odds of undetected memory or disk errors.
     - Adversarial input: XXH3 is not a cryptographic hash, and the scope's
       secret is derived from public things, so someone who chooses the
       input bytes and knows the function can construct two large inputs
       of one length with the same XXH3-128. Given both, the cache answers
       the second with the first one's stored output, as a hit (PARC_OK).
       Where inputs over 4095 bytes come from someone who may gain from
       that, do not cache that function on them, or pass a cryptographic
       digest of the data (say its SHA-256, 32 bytes, with the data in
       parc_shared_alloc memory or a file) as the input, so that its key
       is compared in full.
   The file's format does not change with this: caches written by a parc
   that stored every key in full keep answering keys of up to 4096 bytes;
   their entries for longer keys are no longer found (misses, recomputed
   once and stored anew; parc_cache_clear or max_bytes reclaims the old
   ones), and such a parc finds the new stubs to be misses too.
   A context over 1 MiB is identified by its size and 128-bit SipHash
   only. Each stored output carries a 64-bit hash, checked on every hit,
   so bytes damaged on disk are a miss too.

   Durability: stores are buffered and committed in batches at least every
   0.5 s (a background thread commits a pending batch when no task comes to
   do it), with synchronous=NORMAL: a kill -9 of the process loses at most
   the last half second of results and never corrupts the file (WAL). A
   power loss may also lose the last batches, not more. Several processes
   (and any number of threads) may use one cache directory at once.

   Only successful tasks are stored. Output size is part of the check: a
   stored output of another size is a miss. A cache with broken storage (a
   write that fails, a database damaged while in use) stops being used for
   this handle: everything is a miss, the work still runs, and the problem
   is printed once on stderr when opt->verbose > 0.

   If parc_cache_open fails (the directory cannot be created or written,
   the file is foreign), leave opt.cache NULL: the same map runs uncached. */

typedef struct parc_cache_options {
  uint64_t max_bytes;   /* 0: unbounded. Else, after a batch pushes the
                           accounted size past it, least recently used
                           entries are evicted down to 90% of it. Accounted
                           size = stored key bytes (the input and trailer
                           up to 4096 bytes, 9 for a longer key) + output
                           bytes + 32 per entry; the file itself is larger
                           (SQLite pages, free pages). */
  int verbose;          /* 1: print rebuilds and storage failures on stderr */
} parc_cache_options;   /* zero-initialised = defaults */

typedef struct parc_cache_info {
  uint64_t entries;     /* results stored (committed) */
  uint64_t bytes;       /* their accounted size (see max_bytes) */
  uint64_t hits;        /* lookups answered from the cache, every process, all time */
  uint64_t misses;      /* lookups that found nothing, every process, all time */
  uint64_t file_bytes;  /* size of the SQLite file and its WAL on disk */
  uint64_t functions;   /* distinct (name, version, code, context) scopes */
} parc_cache_info;

/* Opens the cache in directory `path`, creating it (mode 0700, parents
   too) and the file (mode 0600) when missing. `path` is copied; opt NULL:
   defaults. Opening checks the file: it must be an SQLite database with
   parc's application_id and schema, and pass PRAGMA quick_check.
   Errors:
     PARC_EINVAL  NULL c or path, empty path; the file exists but is not a
                  parc cache (not SQLite, or SQLite of another application):
                  it is left untouched, move it away yourself; a cache
                  written by a newer parc; the file, its -wal or -shm is not
                  a regular file (a symbolic link, a FIFO, a directory: never
                  followed, opened or read); the directory is writable by
                  other users (others, or a group other than the caller's
                  primary group) or owned by another user and not sticky, or it
                  is sticky (like /tmp) and one of those files is another
                  user's (or has other hard links).
     PARC_ESYS    the directory cannot be created or the file cannot be
                  created/opened for writing (the message names the path and
                  errno's text); the disk is full, the file system or
                  directory is read-only, an I/O error, or the database stays
                  locked by another process beyond the 30 s busy timeout: the
                  message names the file and the cause, and the file is left
                  as it was (only damage, below, rebuilds).
     PARC_ENOMEM
   Memory: the handle's writing connection caches up to 256 MiB of the file
   (SQLite's page cache, filled as pages are read); lookups read the file
   through a memory map shared with the operating system's page cache, on
   up to 16 reading connections (one per thread looking up at that moment,
   up to 16 MiB of cache each); plus the results of the batch not yet
   committed. Threads: one handle serves any number of threads, and their
   hits do not wait for each other; do not use it in a child forked while
   it was open.
   Files written by an older parc whose layout differs (schema 1) are
   treated as damaged (below): renamed and rebuilt empty.
   A parc cache that fails its checks (truncated, damaged pages: SQLite
   says SQLITE_CORRUPT or SQLITE_NOTADB, or quick_check finds a fault) is
   never trusted: it is renamed to parc-cache.sqlite.damaged (replacing an
   older one, or a link there: rename never follows it) and a fresh, empty
   cache is created in its place.
   On failure *c is NULL. */
PARC_EXPORT int parc_cache_open(parc_cache **c, const char *path, const parc_cache_options *opt);

/* Commits what is pending, stops the background thread, closes the file
   and frees the handle. Groups using the cache must have been destroyed
   first. NULL: no-op. */
PARC_EXPORT void parc_cache_close(parc_cache *c);

/* Deletes the results of every function called `name` (every version and
   context), or all results when name is NULL. Also resets the hit and miss
   counters when name is NULL. Other processes sharing the cache see the
   deletion at their next batch. Errors: PARC_EINVAL (NULL c), PARC_ESYS
   (the database could not be written; message says why). */
PARC_EXPORT int parc_cache_clear(parc_cache *c, const char *name);

/* Commits what is pending, then fills *info. Errors: PARC_EINVAL (NULL c
   or info), PARC_ESYS (the database could not be read). */
PARC_EXPORT int parc_cache_stats(parc_cache *c, parc_cache_info *info);

/* joblib's @memory.cache for one call, in the caller's thread: looks up
   (name, version, fn's code, context, in); on a hit copies out_size bytes
   into out and returns PARC_OK without calling fn; on a miss calls fn(in,
   out, task) (task index 0, seed 0, parc_task_context gives `context`),
   stores the output if it succeeded, and returns PARC_OK or PARC_ETASK
   (parc_errmsg() has the task's message). name NULL: fn's symbol name.
   Every buffer is borrowed for the call only. Errors: PARC_EINVAL (NULL c
   or fn, NULL buffer with a non-zero size, no name found), PARC_ETASK. */
PARC_EXPORT int parc_cache_call(parc_cache *c, const char *name, const char *version, parc_fn fn,
                                const void *in, size_t in_size, void *out, size_t out_size,
                                const void *context, size_t context_size);

/* ------------------------------------------------------------------------ */
/* Scaling table                                                            */
/* ------------------------------------------------------------------------ */
/* The chapter's benchmark_parallel: how much faster does my map run on N
   workers? parc_scaling times your function called in a plain loop in the
   calling thread (the baseline, "sequential": serial C with no pool at
   all), then parc_map of it on each backend x worker count of a plan, and
   parc_scaling_print writes the table:

       parc_scaling_row rows[16];
       size_t nrows;
       parc_scaling(solve, k, sizeof k[0], x, sizeof x[0], n, NULL, NULL, rows, 16, &nrows);
       parc_scaling_print(stdout, rows, nrows);

       backend    workers     seconds   speedup  efficiency
       sequential       1      0.2101     1.00x        100%
       threads          1      0.2113     0.99x         99%
       threads          2      0.1069     1.97x         98%
       processes        1           -         -           -  PARC_EBACKEND: ...

   Each row creates its own pool (not timed), then runs parc_map `repeats`
   times and keeps the fastest run: the first run warms caches and page
   tables, later ones show the steady state. Speedup is the baseline's
   seconds over the row's; efficiency is speedup / workers. The function
   runs repeats x rows times over all n records, so it must give the same
   result each time (out is rewritten by each run and holds the last one's
   output). In the loop each call sees what it would see in a pool: its
   index, the context, the group's seed and stream, worker 0; worker_init
   runs once before it. */

typedef struct parc_scaling_plan {
  const parc_backend *backends; /* backends to time after the baseline loop,
                                   in this order, repeats skipped (PARC_SERIAL
                                   shows the cost of a pool over the loop);
                                   PARC_MPI is PARC_EINVAL (time MPI with
                                   mpirun -np N). NULL or none: PARC_THREADS,
                                   PARC_PROCESSES */
  size_t nbackends;
  const int *workers;           /* worker counts, each by parc_config's rule
                                   (0: every CPU, -1: every CPU, -k: all but
                                   k-1); counts that come out equal are timed
                                   once. NULL or none: 1, 2, 4, ... below
                                   parc_cpu_count(), then parc_cpu_count() */
  size_t nworkers;
  int repeats;                  /* timed runs per row, the fastest kept;
                                   0: 3; at most 1000 */
  const parc_config *config;    /* the other pool settings (seed, retries,
                                   worker_init, verbose; timeout for
                                   PROCESSES only); backend and workers are
                                   the row's. NULL: parc_config_default()
                                   with verbose 0 */
} parc_scaling_plan;            /* zero-initialised = all defaults */

typedef struct parc_scaling_row {
  parc_backend backend;         /* row 0, the baseline loop: PARC_SERIAL */
  int workers;                  /* the pool's worker count; 1 for the loop */
  double seconds;               /* fastest run, wall clock; 0 if none ran */
  double speedup;               /* rows[0].seconds / seconds; 0 when this row
                                   or the baseline did not succeed */
  int status;                   /* PARC_OK; PARC_EBACKEND (backend not usable
                                   here) or another parc_pool_create error;
                                   or what the failing parc_map returned */
  char message[160];            /* the error's parc_errmsg(), "" when OK */
} parc_scaling_row;

/* Times fn over the n records in a plain loop, then parc_map(pool, fn,
   in, in_size, out, out_size, n, opt, NULL) on each backend x worker count
   of plan (NULL: defaults), and fills rows: row 0 is the loop, the
   baseline, then for each backend in order, its worker counts in order.
   *nrows receives the number of rows the plan makes: 1, plus for each
   distinct backend the distinct worker counts (PARC_SERIAL: one row, a
   serial pool has one worker); rows must hold that many (max_rows). With rows NULL and max_rows 0, only *nrows is set and
   nothing runs: a way to size the array. The arguments of the map are
   borrowed for the call, as by parc_map; opt may be NULL.
   Returns PARC_OK when the table is filled, even if some rows failed: a
   backend that is not available here, or a map that failed, is that row's
   status and message, never the call's. Errors: PARC_EINVAL (NULL nrows
   or fn; n 0; NULL in or out with a non-zero size; n x size overflows;
   opt->cache set, which would time cache hits; a bad plan: NULL list with
   a non-zero count, an unknown backend or PARC_MPI, a worker count beyond
   +-4096, repeats outside 0..1000; max_rows smaller than the plan; each
   message names which), PARC_ENOMEM. Runs in the caller's thread and
   blocks until every row is timed. */
PARC_EXPORT int parc_scaling(parc_fn fn, const void *in, size_t in_size, void *out,
                             size_t out_size, size_t n, const parc_options *opt,
                             const parc_scaling_plan *plan, parc_scaling_row *rows,
                             size_t max_rows, size_t *nrows);

/* Writes rows as the table shown above: one header line, then one line per
   row with seconds, speedup and efficiency, or "-" and the status name and
   message for a row that did not succeed. Row 0 with backend PARC_SERIAL
   is named "sequential" (the loop), other PARC_SERIAL rows "serial".
   Errors: PARC_EINVAL (NULL f, NULL rows with nrows > 0), PARC_ESYS
   (writing to f failed). */
PARC_EXPORT int parc_scaling_print(FILE *f, const parc_scaling_row *rows, size_t nrows);

#ifdef __cplusplus
}
#endif

#endif /* PARC_H */
