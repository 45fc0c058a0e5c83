/*
 * mpi_progress.c — rank 0's progress thread in a PARC_MPI pool: it posts
 * the batches proxies queued (when MPI was busy), receives every reply
 * (a proxy polls for its own only briefly), and forwards the cancellation
 * of a batch in flight (group cancel, stop_on_error) to its leader. It
 * naps while batches are out and sleeps on a futex when none is, so rank
 * 0's progress never depends on the caller calling in. Also the backoff
 * every MPI poller of parc uses (leaders too).
 */
#ifdef PARC_HAVE_MPI
#include "mpi_root.h"

#include <sched.h>
#include <string.h>
#include <sys/prctl.h>
#include <time.h>

#define NAP_MAX_NS 50000              /* the longest nap while batches are out */
#define SLEEP_NS 100000000ull         /* the sleep while none is */
#define SPIN_YIELDS 300               /* parc__mpi_backoff: yields before the first nap */


/* ---- the progress thread: every MPI call of rank 0 after start --------- */

/* Posts the slot's CONTEXT (if pending) and RUN. b->mpi held. */
void parc__mpi_post(mpi_backend *b, slot *s) {
  MPI_Comm comm = b->world.comm;
  s->req[0] = s->req[1] = MPI_REQUEST_NULL;
  s->cancel_sent = false;
  int rc = MPI_SUCCESS;
  if (s->context_pending)
    rc = MPI_Isend(s->context, (int)s->context_size, MPI_BYTE, s->leader, PARC__MPI_TAG_CONTEXT,
                   comm, &s->req[0]);
  s->context_pending = false;
  if (rc == MPI_SUCCESS)
    rc = MPI_Isend(s->run, (int)s->run_size, MPI_BYTE, s->leader, PARC__MPI_TAG_RUN, comm, &s->req[1]);
  if (rc == MPI_SUCCESS) {
    atomic_store_explicit(&s->state, SLOT_SENT, memory_order_release);
    return;
  }
  s->error = rc;
  atomic_store_explicit(&s->state, SLOT_REPLIED, memory_order_release);
  parc__futex_wake(&s->state);
}

static void post_queued(mpi_backend *b, bool *moved) {
  pthread_mutex_lock(&b->lock);
  slot *s = b->queue_head;
  b->queue_head = b->queue_tail = NULL;
  pthread_mutex_unlock(&b->lock);
  for (slot *next; s; s = next) {
    next = s->queue_next;
    *moved = true;
    parc__mpi_post(b, s);
  }
}

bool parc__mpi_ensure(char **buffer, size_t *capacity, size_t need) {
  if (need <= *capacity) return true;
  size_t c = *capacity ? *capacity : 4096;
  while (c < need) c *= 2;
  char *p = parc__realloc(*buffer, c);
  if (!p) return false;
  *buffer = p;
  *capacity = c;
  return true;
}

/* One DONE from source with tag (MPI_ANY_*: any), if one is there. b->mpi held. */
bool parc__mpi_receive_reply(mpi_backend *b, int source, int tag) {
  int flag = 0;
  MPI_Status st;
  if (MPI_Iprobe(source, tag, b->world.comm, &flag, &st) != MPI_SUCCESS || !flag) return false;
  int n = 0;
  MPI_Get_count(&st, MPI_BYTE, &n);
  int id = st.MPI_TAG - PARC__MPI_TAG_DONE;
  slot *s = id >= 0 && id < b->nslots ? &b->slots[id] : NULL;
  char scratch[64];
  bool room = s && parc__mpi_ensure(&s->reply, &s->reply_capacity, n > 0 ? (size_t)n : 1);
  MPI_Recv(room ? s->reply : scratch, room ? n : 0, MPI_BYTE, st.MPI_SOURCE, st.MPI_TAG,
           b->world.comm, MPI_STATUS_IGNORE);
  if (!s) return true;
  s->reply_size = room ? (size_t)n : 0;
  MPI_Waitall(2, s->req, MPI_STATUSES_IGNORE);
  atomic_store_explicit(&s->state, SLOT_REPLIED, memory_order_release);
  parc__futex_wake(&s->state);
  return true;
}

/* A batch whose job was cancelled (parc_group_cancel, stop_on_error) is
   cancelled on its leader too: tasks not started there end ECANCELED. */
static void send_cancels(mpi_backend *b) {
  for (int i = 0; i < b->nslots; i++) {
    slot *s = &b->slots[i];
    if (atomic_load_explicit(&s->state, memory_order_acquire) != SLOT_SENT || s->cancel_sent) continue;
    if (!parc__job_canceled(s->job)) continue;
    parc__mpi_context head = {(uint64_t)s->id, 0};
    MPI_Send(&head, (int)sizeof head, MPI_BYTE, s->leader, PARC__MPI_TAG_CANCEL, b->world.comm);
    s->cancel_sent = true;
  }
}

static int inflight(mpi_backend *b) {
  int n = 0;
  for (int i = 0; i < b->nslots; i++) n += atomic_load(&b->slots[i].state) == SLOT_SENT;
  return n;
}

void parc__mpi_backoff_init(parc__mpi_backoff *b, bool oversubscribed) {
  b->idle = 0;
  b->spin = !oversubscribed;
  prctl(PR_SET_TIMERSLACK, 1000UL, 0, 0, 0);
}

uint64_t parc__mpi_backoff_next(parc__mpi_backoff *b, uint64_t longest_ns) {
  unsigned spins = b->spin ? SPIN_YIELDS : 0;
  if (b->idle++ < spins) {
    sched_yield();
    return 0;
  }
  unsigned naps = b->idle - spins;
  uint64_t ns = naps >= 16 ? longest_ns : (uint64_t)2000 << (naps / 2);
  return ns < longest_ns ? ns : longest_ns;
}

void parc__mpi_backoff_wait(parc__mpi_backoff *b, uint64_t longest_ns) {
  uint64_t ns = parc__mpi_backoff_next(b, longest_ns);
  if (!ns) return;
  struct timespec t = {(time_t)(ns / 1000000000u), (long)(ns % 1000000000u)};
  nanosleep(&t, NULL);
}

void *parc__mpi_progress_main(void *arg) {
  mpi_backend *b = arg;
  parc__mpi_backoff backoff;
  parc__mpi_backoff_init(&backoff, b->world.oversubscribed);
  unsigned polls = 0;
  while (!atomic_load(&b->quit)) {
    uint32_t seen = atomic_load(&b->wake);
    bool moved = false;
    pthread_mutex_lock(&b->mpi);
    post_queued(b, &moved);
    while (parc__mpi_receive_reply(b, MPI_ANY_SOURCE, MPI_ANY_TAG)) moved = true;
    if ((polls++ & 15) == 0) send_cancels(b);
    pthread_mutex_unlock(&b->mpi);
    if (moved) {
      parc__mpi_backoff_reset(&backoff);
      continue;
    }
    if (inflight(b)) {
      parc__mpi_backoff_wait(&backoff, NAP_MAX_NS);
      continue;
    }
    atomic_store(&b->sleeping, 1);
    if (!b->queue_head) parc__futex_wait(&b->wake, seen, SLEEP_NS);
    atomic_store(&b->sleeping, 0);
    parc__mpi_backoff_reset(&backoff);
  }
  return NULL;
}

#endif /* PARC_HAVE_MPI */
