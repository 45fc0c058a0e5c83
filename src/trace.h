/*
 * trace.h — a leaf of parc_internal.h: a pool's task timeline (trace.c),
 * Chrome trace event JSON. Included by parc_internal.h only.
 */
#ifndef PARC_TRACE_H
#define PARC_TRACE_H

#include <stdbool.h>
#include <stdint.h>

/* ---- trace.c: a pool's task timeline (Chrome trace event JSON) -------- */
typedef struct parc__trace parc__trace;
typedef struct parc__trace_buffer parc__trace_buffer;
enum { PARC__TRACE_TASK, PARC__TRACE_CRASH, PARC__TRACE_TIMEOUT, PARC__TRACE_RETRY,
       PARC__TRACE_REPLACE, PARC__TRACE_CANCEL };
/* What a task event says besides its times: its chunk (claim), worker,
   try (1, 2, ... for retries) and label (parc__trace_name). */
typedef struct parc__trace_task_info {
  uint64_t chunk;
  int worker;
  unsigned try_number;
  uint16_t name;
} parc__trace_task_info;
/* Opens path (truncated; never through a symlink) and starts the writer.
   PARC_ESYS or PARC_ENOMEM with a message. close writes the rest and the
   closing line; NULL is fine. */
int parc__trace_open(parc__trace **t, const char *path, const char *pool_name, int workers);
void parc__trace_close(parc__trace *t);
/* The id of a label (interned once per trace). */
uint16_t parc__trace_name(parc__trace *t, const char *label);
/* Records into this thread's buffer (no lock): a task's try, an instant
   event (PARC__TRACE_CRASH ...; count: tasks cancelled), counter deltas. */
void parc__trace_task(parc__trace *t, const parc__trace_task_info *info, size_t index,
                      uint64_t start_ns, uint64_t end_ns, int status, bool cached);
void parc__trace_instant(parc__trace *t, int kind, int worker, size_t index, uint64_t count,
                         const char *message);
void parc__trace_count(parc__trace *t, int64_t submitted, int64_t running, int64_t done);
/* This thread lets go of its buffer (a worker letting go of a job, a
   thread leaving); flush also writes everything handed over. */
void parc__trace_hand_over(parc__trace *t);
void parc__trace_flush(parc__trace *t);
/* hand_over, then wakes the writer to write now (not in this thread). */
void parc__trace_kick(parc__trace *t);

#endif /* PARC_TRACE_H */
