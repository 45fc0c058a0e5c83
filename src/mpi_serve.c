/*
 * mpi_serve.c — what the ranks other than 0 do in a PARC_MPI pool, once
 * they have joined it (mpi_join.c).
 *
 * A leader's loop: RUN messages become tasks of a group on its local pool
 * (through the public API: a batch is a parc_group_map, or one submit per
 * record of any size, with the batch's task indices), so a segfault,
 * abort, timeout or OOM kill in a task costs that task alone, retried as
 * config.retries says, as on one machine. Several batches are in flight at
 * once (one per rank-0 slot); a finished one goes back as DONE. The loop
 * polls MPI and its groups, napping (on the oldest batch's completion
 * while one runs), so an idle leader costs little. Ranks that lead
 * nothing wait, napping, for rank 0's QUIT.
 *
 * This file is layer 10: it runs over groups, like graphs.
 */
#ifdef PARC_HAVE_MPI
#include "mpi_wire.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define NAP_MAX_NS 50000              /* the longest nap while batches run */
#define IDLE_NAP_NS 1000000           /* a nap while nothing runs ... */
#define ACTIVE_NS 100000000ull        /* ... for this long */

static void nap(long ns) {
  struct timespec t = {0, ns};
  nanosleep(&t, NULL);
}

/* MPI_Wait without spinning a core: a rank waiting for the end naps. */
static void wait_napping(MPI_Request *req) {
  int done = 0;
  while (MPI_Test(req, &done, MPI_STATUS_IGNORE) == MPI_SUCCESS && !done) nap(IDLE_NAP_NS);
}

/* ---- a leader's batches -------------------------------------------------- */

typedef struct batch {
  uint64_t slot;
  size_t count;
  parc_group *g;               /* its slot's group while it runs, then NULL */
  size_t base;                 /* the group index of its first task */
  bool retire;                 /* cancelled: the group is not reused */
  uint64_t flags;              /* the RUN's PARC__MPI_* */
  char *run;                   /* the RUN message: inputs are read in place */
  parc__dep *deps;
  char *reply;                 /* DONE: head, statuses, outputs (written in place), messages */
  size_t reply_size;
  enum { RUNNING, READY, SENT } state;
  MPI_Request req;
  struct batch *next;
} batch;

/* What a leader keeps per rank-0 slot: its context, and a group reused
   batch after batch while the context, seed and stop_on_error stay the
   same (making and destroying a group costs more than a one-task batch's
   round trip). A slot has one batch in flight at a time. */
typedef struct slot_state {
  char *context;               /* the CONTEXT message; the bytes follow its head */
  size_t context_size;
  parc_group *g;
  uint64_t seed;
  uint32_t stop_on_error;
  size_t tasks;                /* tasks submitted to g */
  double busy;                 /* g's busy seconds so far */
} slot_state;

#define GROUP_TASKS_MAX ((size_t)1 << 20)   /* then a fresh group: records stay small */

typedef struct server {
  MPI_Comm comm;
  parc_pool *pool;
  int rank;
  slot_state *slots;
  size_t nslots;
  batch *batches;
  bool quit;
} server;

static bool grow_slots(server *s, uint64_t slot) {
  if (slot < s->nslots) return true;
  size_t n = s->nslots ? s->nslots : 16;
  while (n <= slot) n *= 2;
  slot_state *grown = parc__realloc(s->slots, n * sizeof *grown);
  if (!grown) return false;
  memset(grown + s->nslots, 0, (n - s->nslots) * sizeof *grown);
  s->slots = grown;
  s->nslots = n;
  return true;
}

static void drop_group(slot_state *st) {
  parc_group_destroy(st->g);
  st->g = NULL;
  st->tasks = 0;
  st->busy = 0;
}

static void set_context(server *s, char *msg, size_t size) {
  parc__mpi_context h;
  memcpy(&h, msg, sizeof h);
  if (size < sizeof h + h.size || !grow_slots(s, h.slot)) return;
  slot_state *st = &s->slots[h.slot];
  drop_group(st);              /* its tasks read the old bytes */
  parc__free(st->context);
  st->context = msg;
  st->context_size = h.size;
}

/* A batch that cannot run: every task gets status and text. */
static void refuse(batch *b, size_t out_size, int status, const char *text) {
  size_t head = sizeof(parc__mpi_done), statuses = parc__mpi_pad(b->count);
  size_t out = parc__mpi_pad(b->count * out_size), len = strlen(text);
  size_t size = head + statuses + out + b->count * (16 + parc__mpi_pad(len));
  char *reply = parc__realloc(b->reply, size);
  if (!reply) return;   /* the reply stays as calloc'ed: every task PARC_OK with zeros */
  b->reply = reply;
  b->reply_size = size;
  parc__mpi_done d = {b->count, 0, b->count, 1, 0};
  memcpy(reply, &d, sizeof d);
  char *p = reply + head + statuses + out;
  for (size_t i = 0; i < b->count; i++) {
    reply[head + i] = (char)status;
    uint64_t rec[2] = {i, len};
    memcpy(p, rec, sizeof rec);
    memcpy(p + 16, text, len);
    p += 16 + parc__mpi_pad(len);
  }
}

static void start_run(server *s, char *msg, size_t size) {
  parc__mpi_run h;
  if (size < sizeof h) {
    parc__free(msg);
    return;
  }
  memcpy(&h, msg, sizeof h);
  batch *b = parc__calloc(1, sizeof *b);
  if (!b) {
    parc__free(msg);
    return;   /* rank 0 waits for this slot forever: out of memory here is fatal */
  }
  b->slot = h.slot;
  b->count = h.count;
  b->state = READY;            /* until a group runs it */
  b->req = MPI_REQUEST_NULL;
  b->run = msg;
  size_t head = sizeof(parc__mpi_done), statuses = parc__mpi_pad(h.count);
  b->reply_size = head + statuses + parc__mpi_pad(h.count * h.out_size);
  b->reply = parc__calloc(1, b->reply_size);
  b->next = s->batches;
  s->batches = b;
  if (!b->reply) return;
  char object[PARC__PATH_MAX];
  const char *p = msg + sizeof h;
  size_t len = h.object_len < PARC__PATH_MAX ? h.object_len : PARC__PATH_MAX - 1;
  memcpy(object, p, len);
  object[len] = '\0';
  p += parc__mpi_pad(h.object_len);
  parc_fn fn = (parc_fn)parc__fn_resolve(object, h.fn_offset);
  if (!fn) {
    char text[PARC__PATH_MAX + 128];
    snprintf(text, sizeof text, "MPI rank %d: the task's function (%s+%#lx) is not loaded here "
             "(every rank must run the same binary)", s->rank, object[0] ? object : "the program",
             (unsigned long)h.fn_offset);
    refuse(b, h.out_size, PARC_EINVAL, text);
    return;
  }
  const char *in = h.in_size ? p : NULL;
  p += parc__mpi_pad(h.count * h.in_size);
  const uint64_t *in_sizes = NULL;   /* PARC__MPI_BUFS: each input's size, then the bytes */
  const char *in_data = NULL;
  if (h.flags & PARC__MPI_BUFS) {
    in_sizes = (const uint64_t *)p;
    in_data = p + h.count * sizeof(uint64_t);
    p = in_data;
    for (size_t i = 0; i < h.count; i++) p += parc__mpi_pad(in_sizes[i]);
  }
  b->flags = h.flags;
  /* Results of any size are the group's until it goes: it goes with the batch. */
  if (h.flags & PARC__MPI_OUTPUTS) b->retire = true;
  char *out = h.out_size ? b->reply + head + statuses : NULL;
  int rc = grow_slots(s, h.slot) ? PARC_OK : PARC_ENOMEM;
  slot_state *st = rc ? NULL : &s->slots[h.slot];
  if (st && st->g && (st->seed != h.seed || st->stop_on_error != h.stop_on_error ||
                      st->tasks + h.count > GROUP_TASKS_MAX))
    drop_group(st);
  if (st && !st->g) {
    parc_options opt = {0};
    if (st->context && st->context_size) {
      opt.context = st->context + sizeof(parc__mpi_context);
      opt.context_size = st->context_size;
    }
    opt.seed = h.seed;
    opt.stop_on_error = (int)h.stop_on_error;
    rc = parc_group_create(&st->g, s->pool, &opt);
    st->seed = h.seed;
    st->stop_on_error = h.stop_on_error;
  }
  if (rc == PARC_OK) {
    b->g = st->g;
    b->base = st->tasks;
    st->tasks += h.ndeps ? 1 : h.count;
  }
  if (rc == PARC_OK && h.ndeps) {
    b->deps = parc__calloc(h.ndeps, sizeof *b->deps);
    const uint64_t *sizes = (const uint64_t *)p;
    const char *data = p + h.ndeps * sizeof(uint64_t);
    for (size_t i = 0; b->deps && i < h.ndeps; i++) {
      b->deps[i].size = sizes[i];
      b->deps[i].data = sizes[i] ? data : NULL;
      data += parc__mpi_pad(sizes[i]);
    }
    rc = !b->deps ? PARC_ENOMEM
                  : parc__group_submit_node(b->g, fn, in, h.in_size, out, h.out_size, b->deps,
                                            h.ndeps, h.index_base, NULL, NULL, NULL);
  } else if (rc == PARC_OK && in_sizes) {
    /* Inputs of any size: one submit each (it copies), with its own index. */
    const char *data = in_data;
    for (size_t i = 0; rc == PARC_OK && i < h.count; i++) {
      rc = parc__group_submit_node(b->g, fn, in_sizes[i] ? data : NULL, in_sizes[i], NULL, 0, NULL,
                                   0, h.index_base + i, NULL, NULL, NULL);
      data += parc__mpi_pad(in_sizes[i]);
    }
  } else if (rc == PARC_OK) {
    rc = parc__group_map_at(b->g, fn, in, h.in_size, out, h.out_size, h.count, h.index_base);
  }
  if (rc == PARC_OK) b->state = RUNNING;
  if (rc != PARC_OK) {
    char text[PARC__MESSAGE_MAX];
    snprintf(text, sizeof text, "MPI rank %d: %s", s->rank, parc_errmsg());
    if (st) drop_group(st);
    b->g = NULL;
    refuse(b, h.out_size, rc, text);
  }
}

/* True when every task of b's group has an outcome (b is its only batch). */
static bool finished(const batch *b) {
  parc_group_info info;
  parc_group_stats(b->g, &info);
  return info.done + info.failed + info.canceled >= info.submitted;
}

/* Statuses and messages into the reply. The slot's group is kept for the
   next batch unless this one was cancelled or stopped at a failure (a
   group remembers both). */
static void complete(server *s, batch *b) {
  slot_state *st = &s->slots[b->slot];
  parc_group_wait(b->g, -1);
  parc_group_info info;
  parc_group_stats(b->g, &info);
  size_t head = sizeof(parc__mpi_done);
  parc__mpi_done d = {b->count, (uint64_t)((info.busy_seconds - st->busy) * 1e9), 0, 1, 0};
  st->busy = info.busy_seconds;
  size_t at = b->reply_size;
  for (size_t i = 0; i < b->count; i++) {
    int status = parc_group_status(b->g, b->base + i);
    b->reply[head + i] = (char)status;
    if (status != PARC_OK && st->stop_on_error) b->retire = true;
    const char *text = status == PARC_OK ? NULL : parc_group_message(b->g, b->base + i);
    if (!text) continue;
    char where[PARC__MESSAGE_MAX];
    if (status == PARC_ECRASH || status == PARC_ETIMEDOUT) {
      snprintf(where, sizeof where, "%s (on MPI rank %d)", text, s->rank);
      text = where;
    }
    size_t len = strlen(text);
    char *reply = parc__realloc(b->reply, at + 16 + parc__mpi_pad(len));
    if (!reply) continue;
    b->reply = reply;
    uint64_t rec[2] = {i, len};
    memcpy(reply + at, rec, sizeof rec);
    memcpy(reply + at + 16, text, len);
    at += 16 + parc__mpi_pad(len);
    d.nmessages++;
  }
  size_t results_at = at;
  d.results = (b->flags & PARC__MPI_OUTPUTS) != 0;
  for (size_t i = 0; d.results && i < b->count; i++) {
    size_t size = 0;
    const void *data = parc_group_output(b->g, b->base + i, &size);
    uint64_t head_size = data ? size : UINT64_MAX;
    char *reply = parc__realloc(b->reply, at + 8 + (data ? parc__mpi_pad(size) : 0));
    if (!reply) {   /* out of memory: no results at all (rank 0 sees none) */
      d.results = 0;
      at = results_at;
      break;
    }
    b->reply = reply;
    memcpy(b->reply + at, &head_size, 8);
    if (data && size) memcpy(b->reply + at + 8, data, size);
    at += 8 + (data ? parc__mpi_pad(size) : 0);
  }
  b->reply_size = at;
  memcpy(b->reply, &d, sizeof d);
  if (b->retire) drop_group(st);
  b->g = NULL;
}

static void send_reply(server *s, batch *b) {
  if (!b->reply) {
    /* Out of memory: a bare head still ends the slot's wait on rank 0. */
    static parc__mpi_done none;
    MPI_Isend(&none, (int)sizeof none, MPI_BYTE, 0, PARC__MPI_TAG_DONE + (int)b->slot, s->comm, &b->req);
    return;
  }
  MPI_Isend(b->reply, (int)b->reply_size, MPI_BYTE, 0, PARC__MPI_TAG_DONE + (int)b->slot, s->comm,
            &b->req);
}

static void cancel_slot(server *s, uint64_t slot) {
  for (batch *b = s->batches; b; b = b->next)
    if (b->slot == slot && b->g) {
      parc_group_cancel(b->g);
      b->retire = true;
    }
}

/* One message from rank 0, if one is there. */
static bool receive(server *s) {
  int flag = 0;
  MPI_Status st;
  if (MPI_Iprobe(0, MPI_ANY_TAG, s->comm, &flag, &st) != MPI_SUCCESS || !flag) return false;
  int n = 0;
  MPI_Get_count(&st, MPI_BYTE, &n);
  char *msg = parc__malloc(n > 0 ? (size_t)n : 1);
  MPI_Recv(msg, n, MPI_BYTE, 0, st.MPI_TAG, s->comm, MPI_STATUS_IGNORE);
  if (!msg) return true;
  parc__mpi_context h = {0, 0};
  if ((size_t)n >= sizeof h) memcpy(&h, msg, sizeof h);
  switch (st.MPI_TAG) {
    case PARC__MPI_TAG_CONTEXT: set_context(s, msg, (size_t)n); return true;
    case PARC__MPI_TAG_RUN: start_run(s, msg, (size_t)n); return true;
    case PARC__MPI_TAG_CANCEL: cancel_slot(s, h.slot); break;
    case PARC__MPI_TAG_QUIT: s->quit = true; break;
    default: break;
  }
  parc__free(msg);
  return true;
}

/* Finished groups become replies; sent replies are freed. */
static bool progress(server *s) {
  bool moved = false;
  for (batch **link = &s->batches; *link;) {
    batch *b = *link;
    if (b->state == RUNNING && finished(b)) {
      complete(s, b);
      b->state = READY;
    }
    if (b->state == READY) {
      send_reply(s, b);
      b->state = SENT;
      moved = true;
    }
    int done = 0;
    if (b->state == SENT) MPI_Test(&b->req, &done, MPI_STATUS_IGNORE);
    if (done) {
      *link = b->next;
      parc__free(b->run);
      parc__free(b->deps);
      parc__free(b->reply);
      parc__free(b);
      moved = true;
      continue;
    }
    link = &b->next;
  }
  return moved;
}

/* The batch that has been running longest (the list is newest first). */
static batch *oldest_running(const server *s) {
  batch *found = NULL;
  for (batch *b = s->batches; b; b = b->next)
    if (b->state == RUNNING) found = b;
  return found;
}

/* A serving rank always finalizes MPI, whoever started it: it leaves the
   process. */
void parc__mpi_serve(MPI_Comm comm, parc_pool *pool, bool oversubscribed) {
  server s = {.comm = comm, .pool = pool};
  MPI_Comm_rank(comm, &s.rank);
  parc__mpi_backoff backoff;
  parc__mpi_backoff_init(&backoff, oversubscribed);
  parc__mpi_backoff waiting;
  parc__mpi_backoff_init(&waiting, true);
  uint64_t active_ns = parc__now_ns();
  while (pool && !(s.quit && !s.batches)) {
    /* QUIT comes after the last reply rank 0 waits for: nothing is in flight. */
    bool moved = receive(&s);
    moved |= progress(&s);
    /* Rank 0 sends the next batch soon after a reply: short naps for a
       while after the last activity, long ones once the leader is idle. */
    uint64_t now = parc__now_ns();
    if (moved) {
      parc__mpi_backoff_reset(&backoff);
      parc__mpi_backoff_reset(&waiting);
      active_ns = now;
    } else {
      bool recent = s.batches || now - active_ns < ACTIVE_NS;
      batch *running = oldest_running(&s);
      /* While a batch runs, no spinning (the cores are its workers'): a nap
         that ends when it finishes, so that its reply leaves at once. */
      uint64_t ns = parc__mpi_backoff_next(running ? &waiting : &backoff,
                                           recent ? NAP_MAX_NS : IDLE_NAP_NS);
      if (ns && running) parc_group_wait(running->g, (double)ns * 1e-9);
      else if (ns) nap((long)ns);
    }
  }
  /* The end: without a pool, wait for rank 0's QUIT all the same. */
  while (!pool && !s.quit) {
    if (!receive(&s)) nap(IDLE_NAP_NS);
  }
  for (size_t i = 0; i < s.nslots; i++) {
    drop_group(&s.slots[i]);
    parc__free(s.slots[i].context);
  }
  parc__free(s.slots);
  parc_pool_destroy(pool);
  MPI_Request req;
  MPI_Ibarrier(comm, &req);
  wait_napping(&req);
  MPI_Comm_free(&comm);
  MPI_Finalize();
  exit(0);
}

#endif /* PARC_HAVE_MPI */