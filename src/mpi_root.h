/*
 * mpi_root.h — rank 0's side of a PARC_MPI pool, shared by backend_mpi.c
 * (the executor, start and stop) and mpi_progress.c (the progress thread,
 * the only poller of MPI when no proxy is). Private to those two files.
 */
#ifndef PARC_MPI_ROOT_H
#define PARC_MPI_ROOT_H

#include "mpi_wire.h"


enum { SLOT_IDLE, SLOT_QUEUED, SLOT_SENT, SLOT_REPLIED };

typedef struct slot {
  struct mpi_backend *b;
  int id, leader;               /* the leader's rank */
  _Atomic uint32_t state;       /* SLOT_*: the proxy moves IDLE -> QUEUED, the progress
                                   thread QUEUED -> SENT -> REPLIED, the proxy -> IDLE */
  struct slot *queue_next;      /* b->lock */
  _Atomic size_t first, count;  /* the group indices in flight (SIGTERM's report) */
  /* Written by the proxy before QUEUED: */
  parc__job *job;
  char *run;
  size_t run_size, run_capacity;
  char *context;                /* the CONTEXT message: what the leader holds after it */
  size_t context_size, context_capacity;
  bool context_pending;
  bool has_context;             /* the leader holds this slot's context */
  parc_fn fn;                   /* the last function located, and where */
  char object[PARC__PATH_MAX];
  uintptr_t offset;
  /* The progress thread's, until REPLIED: */
  MPI_Request req[2];
  bool cancel_sent;
  int error;                    /* an MPI error code, 0 = none */
  char *reply;
  size_t reply_size, reply_capacity;
} slot;

typedef struct mpi_backend {
  parc_pool *pool;
  parc__mpi_world world;
  int nslots;
  slot *slots;
  pthread_t *threads;
  int started;
  pthread_t progress;
  bool progress_started;
  pthread_mutex_t lock;         /* guards the queue */
  pthread_mutex_t mpi;          /* held around every MPI call after start */
  slot *queue_head, *queue_tail;
  _Atomic uint32_t wake;        /* bumped when a slot is queued */
  _Atomic uint32_t sleeping;
  _Atomic bool quit;
  _Atomic bool lost;            /* a leader's link failed: every later chunk fails */
  char lost_message[PARC__MESSAGE_MAX];
} mpi_backend;


/* mpi_progress.c. Every MPI call after start is made with b->mpi held. */
/* Posts the slot's CONTEXT (if pending) and RUN; SLOT_SENT, or
   SLOT_REPLIED with s->error on an MPI error. */
void parc__mpi_post(mpi_backend *b, slot *s);
/* One DONE from source with tag (MPI_ANY_*: any), if one is there: into
   its slot's reply, SLOT_REPLIED, the proxy woken. */
bool parc__mpi_receive_reply(mpi_backend *b, int source, int tag);
/* Grows a heap buffer to at least need bytes. */
bool parc__mpi_ensure(char **buffer, size_t *capacity, size_t need);
/* The progress thread (arg: the backend). */
void *parc__mpi_progress_main(void *arg);

#endif /* PARC_MPI_ROOT_H */
