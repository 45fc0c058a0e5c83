/*
 * mpi_wire.h — what rank 0 (backend_mpi.c) and the other ranks (mpi_join.c, mpi_serve.c)
 * of a PARC_MPI pool say to each other: the start-up record, the tags and
 * the layout of each message. Private to those two files; compiled only
 * when CMake found MPI (PARC_HAVE_MPI).
 *
 * Who talks. Rank 0 talks to leaders only: one rank per node (or every
 * rank, PARC_MPI_LEADERS=rank), each running a local pool of forked
 * workers. Every message goes over parc's own communicator (a duplicate of
 * MPI_COMM_WORLD), so the program's own MPI traffic never matches ours.
 *
 *   rank 0 -> leader   CONTEXT  slot's new context bytes (once per change)
 *                      RUN      a batch: function, task indices, inputs
 *                      CANCEL   the slot's batch: cancel what has not started
 *                      QUIT     the pool is being destroyed
 *   leader -> rank 0   DONE + slot: each task's status, outputs, messages
 *
 * A slot is one batch in flight: rank 0 has several per leader (one proxy
 * thread each). MPI keeps messages between two ranks in order, so a
 * CONTEXT always arrives before the RUN that needs it.
 */
#ifndef PARC_MPI_WIRE_H
#define PARC_MPI_WIRE_H

#include "parc_internal.h"

#include <mpi.h>

enum {
  PARC__MPI_TAG_CONTEXT = 1,
  PARC__MPI_TAG_RUN = 2,
  PARC__MPI_TAG_CANCEL = 3,
  PARC__MPI_TAG_QUIT = 4,
  PARC__MPI_TAG_DONE = 16,     /* + the slot */
};

/* Bytes of one RUN or DONE message at most: a chunk is split into rounds. */
#define PARC__MPI_ROUND_BYTES ((size_t)64 << 20)

/* Broadcast by rank 0 at start: what every leader's local pool needs. */
typedef struct parc__mpi_setup {
  double timeout;
  int32_t retries;
  uint32_t max_tasks_per_worker;
  int32_t workers;             /* rank 0's config.workers: per leader */
  int32_t threads;             /* 1: local pools are PARC_THREADS (PARC_MPI_LOCAL) */
  int32_t per_rank;            /* 1: every rank leads (PARC_MPI_LEADERS=rank) */
  int32_t start;               /* local PROCESSES pools' start method */
  uint64_t init_offset;        /* worker_init as (object, offset), or PARC__FN_UNKNOWN */
  char init_object[PARC__PATH_MAX];
} parc__mpi_setup;

/* The head of RUN; then the function's object name (object_len bytes,
   padded to 8), the inputs (count * in_size, padded to 8; with
   PARC__MPI_BUFS count sizes (uint64_t) then each input's bytes, padded
   to 8), and for a graph node ndeps sizes then each dependency's bytes. */
typedef struct parc__mpi_run {
  uint64_t slot;
  uint64_t fn_offset;
  uint64_t index_base;         /* parc_task_index of the first task */
  uint64_t count, in_size, out_size;
  uint64_t seed;
  uint64_t ndeps;
  uint32_t object_len;
  uint32_t stop_on_error;
  uint64_t flags;              /* PARC__MPI_BUFS, PARC__MPI_OUTPUTS */
} parc__mpi_run;

enum {
  PARC__MPI_BUFS = 1,          /* inputs of any size (parc_group_map_bufs) */
  PARC__MPI_OUTPUTS = 2,       /* results of any size (parc_task_output) come back */
};

/* CONTEXT: this head, then size bytes. CANCEL and QUIT: the head alone. */
typedef struct parc__mpi_context {
  uint64_t slot;
  uint64_t size;
} parc__mpi_context;

/* The head of DONE; then count status bytes (PARC_* values, padded to 8),
   the outputs (count * out_size, padded to 8), then nmessages records of
   (uint64_t offset, uint64_t length, length bytes padded to 8); with
   results, then one (uint64_t size, UINT64_MAX: none) and its bytes
   (padded to 8) per task. */
typedef struct parc__mpi_done {
  uint64_t count;
  uint64_t busy_ns;            /* the tasks' summed run time */
  uint64_t nmessages;
  uint64_t used_index;
  uint64_t results;            /* 1: the per-task results follow */
} parc__mpi_done;

static inline size_t parc__mpi_pad(size_t n) { return (n + 7) & ~(size_t)7; }

/* How a polling loop (rank 0's progress thread, a leader) waits for MPI
   and its batches: a few hundred yields after activity when the node has a
   core per rank, none when it is oversubscribed (the spinning would take
   the cores the workers need); then naps that double from 10 us up to
   `longest_ns`. Timer slack is set to 1 us for the thread, so that a nap
   is not stretched to the kernel's default 50 us. */
typedef struct parc__mpi_backoff {
  unsigned idle;
  bool spin;
} parc__mpi_backoff;
void parc__mpi_backoff_init(parc__mpi_backoff *b, bool oversubscribed);
static inline void parc__mpi_backoff_reset(parc__mpi_backoff *b) { b->idle = 0; }
void parc__mpi_backoff_wait(parc__mpi_backoff *b, uint64_t longest_ns);
/* The same step without the nap: it yields and returns 0, or returns how
   long to nap (the caller naps some other way: on a group's completion). */
uint64_t parc__mpi_backoff_next(parc__mpi_backoff *b, uint64_t longest_ns);

/* What rank 0 knows once every rank has joined (mpi_join.c fills it,
   backend_mpi.c's start takes it over). */
typedef struct parc__mpi_world {
  MPI_Comm comm;               /* parc's duplicate of MPI_COMM_WORLD */
  bool ours;                   /* parc called MPI_Init_thread: it finalizes */
  int size;                    /* ranks */
  int nleaders;
  int *leaders;                /* their ranks (heap) */
  int *workers;                /* each one's local pool size; -1: it has none */
  bool oversubscribed;         /* rank 0's node has more ranks than CPUs */
} parc__mpi_world;
extern parc__mpi_world parc__mpi_joined;

/* The backend's prepare (mpi_join.c), on every rank: starts MPI if the
   program has not, picks the leaders, starts their local pools. Rank 0
   returns (PARC_OK with parc__mpi_joined filled, or an error); every other
   rank serves until rank 0 destroys the pool, then calls MPI_Finalize and
   exit(0): it never returns. Outside mpirun, or with one rank, *ops
   becomes the process backend's: the pool runs on this machine. */
int parc__mpi_join(parc_config *cfg, const parc__backend_ops **ops);
/* A serving rank's life after joining (mpi_serve.c): leads with pool (or,
   NULL, waits for QUIT), then MPI_Finalize and exit(0). */
void parc__mpi_serve(MPI_Comm comm, parc_pool *pool, bool oversubscribed) __attribute__((noreturn));
/* Rank 0's end of the pool: QUIT to every leader, the closing barrier,
   the communicator freed, MPI_Finalize if parc started MPI. */
void parc__mpi_leave(parc__mpi_world *world);

#endif /* PARC_MPI_WIRE_H */
