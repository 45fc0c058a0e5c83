/*
 * completion.c — what became of a group's tasks: status, failure messages,
 * the completion log, waking waiters, progress.
 *
 * Executors write each task's outcome (a status byte, or for a failure a
 * record with its message), then publish a whole chunk with one atomic add
 * on `finished`: that add is the moment the chunk's tasks become visible.
 * When the group may be asked for completion order (parc_group_next), the
 * chunk's indices are also written into a completion log at the positions
 * the add reserved. A caller blocked in next or wait sets `wake_at`; a
 * worker whose add reaches it takes the lock to wake it. Otherwise a
 * publishing worker touches no lock at all.
 *
 * The completion log grows in segments of doubling size, allocated by the
 * submitting thread before the tasks are queued, so workers never allocate.
 */
#include "parc_internal.h"

#include <limits.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>

#define ORDER_FIRST 1024      /* entries in segment 0; segment s has ORDER_FIRST << s */
#define SPIN_NS 20000         /* watch `finished` this long before sleeping */

/* ---- small helpers ------------------------------------------------------ */

static _Atomic size_t *order_slot(const parc__completion *c, size_t position) {
  size_t q = position / ORDER_FIRST + 1;
  int segment = 63 - __builtin_clzll((unsigned long long)q);
  size_t base = (size_t)ORDER_FIRST * (((size_t)1 << segment) - 1);
  return &c->order[segment][position - base];
}

/* Makes sure the completion log has room for `total` entries (lock held). */
static int order_reserve(parc__completion *c, size_t total) {
  for (int s = 0; s < PARC__ORDER_SEGMENTS; s++) {
    size_t base = (size_t)ORDER_FIRST * (((size_t)1 << s) - 1);
    if (base >= total) return PARC_OK;
    if (c->order[s]) continue;
    c->order[s] = parc__calloc_large((size_t)ORDER_FIRST << s, sizeof(size_t));
    if (!c->order[s]) return PARC_ENOMEM;
  }
  return PARC_ENOMEM;
}

/* A stream's log holds what finished and was not reported yet, at most
   total - reported entries: made room for at submission (lock held), so
   that publishing never allocates. */
static int ring_reserve(parc__completion *c, size_t need) {
  if (need <= c->ring_capacity) return PARC_OK;
  size_t capacity = c->ring_capacity ? c->ring_capacity : 64;
  while (capacity < need) capacity *= 2;
  size_t *ring = parc__malloc(capacity * sizeof *ring);
  if (!ring) return PARC_ENOMEM;
  for (size_t i = 0; i < c->ring_count; i++)
    ring[i] = c->ring[(c->ring_head + i) % c->ring_capacity];
  parc__free(c->ring);
  c->ring = ring;
  c->ring_head = 0;
  c->ring_capacity = capacity;
  return PARC_OK;
}

static void atomic_min(_Atomic size_t *target, size_t value) {
  size_t current = atomic_load(target);
  while (value < current && !atomic_compare_exchange_weak(target, &current, value)) {
  }
}

static bool is_failure(int status) { return status < 0; }

/* Status bytes hold PARC_PENDING - status, so that pending is 0 and a job's
   fresh calloc'd memory needs no initialising pass (for a map of 10^7 tasks
   that pass was a quarter of the run time, done by the caller alone). */
_Static_assert(PARC_PENDING - PARC_EBACKEND <= SCHAR_MAX && PARC_PENDING - PARC_DONE >= SCHAR_MIN,
               "every status fits a status byte");
_Static_assert(PARC_PENDING - PARC_PENDING == 0, "a zeroed status byte is pending");
static signed char encode_status(int status) { return (signed char)(PARC_PENDING - status); }
static int decode_status(signed char byte) { return PARC_PENDING - byte; }
/* A stream's forgotten task: no status a task can have. */
#define FORGOTTEN SCHAR_MAX
#define STATUS_FORGOTTEN INT_MIN

static void lock(const parc__completion *c) { pthread_mutex_lock((pthread_mutex_t *)&c->lock); }
static void unlock(const parc__completion *c) { pthread_mutex_unlock((pthread_mutex_t *)&c->lock); }

/* The record holding `index` (lock held), or NULL. Sorted by first. */
static const parc__record *record_of(const parc__completion *c, size_t index) {
  size_t lo = 0, hi = c->nrecords;
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    const parc__record *r = c->records[mid];
    if (index < r->first) hi = mid;
    else if (index >= r->first + r->count) lo = mid + 1;
    else return r;
  }
  return NULL;
}

static int compare_failures(const void *a, const void *b) {
  size_t x = ((const parc__failure *)a)->index, y = ((const parc__failure *)b)->index;
  return (x > y) - (x < y);
}

/* The failure record of `index`, or NULL (lock held; sorts on demand). */
static const parc__failure *find_failure(const parc__completion *c, size_t index) {
  if (c->nfailures == 0) return NULL;
  parc__completion *mutable_c = (parc__completion *)c;
  if (!c->failures_sorted) {
    qsort(mutable_c->failures, c->nfailures, sizeof c->failures[0], compare_failures);
    mutable_c->failures_sorted = true;
  }
  parc__failure key = {index, 0, NULL};
  return bsearch(&key, c->failures, c->nfailures, sizeof c->failures[0], compare_failures);
}

/* A sparse record (parc_map's) keeps no status bytes: its failures are
   records, every other task is OK once the map has finished. */
static int status_raw(const parc__completion *c, size_t index) {
  const parc__record *r = record_of(c, index);
  if (!r) return STATUS_FORGOTTEN;
  if (r->status) {
    signed char byte = atomic_load_explicit(&r->status[index - r->first], memory_order_acquire);
    return byte == FORGOTTEN ? STATUS_FORGOTTEN : decode_status(byte);
  }
  const parc__failure *found = find_failure(c, index);
  return found ? found->status : PARC_OK;
}

/* Never submitted, or forgotten (streams): PARC_EINVAL. */
static int status_locked(const parc__completion *c, size_t index) {
  int status = status_raw(c, index);
  return status == STATUS_FORGOTTEN ? PARC_EINVAL : status;
}

/* ---- life --------------------------------------------------------------- */

int parc__completion_init(parc__completion *c, bool keep_order, const parc_options *opt,
                          const char *label, int verbose) {
  memset(c, 0, sizeof *c);
  c->keep_order = keep_order;
  c->stop_on_error = opt->stop_on_error != 0;
  c->stream = keep_order && opt->stream;
  c->expected = opt->total;
  c->cpus = parc_cpu_count();
  if (verbose > 0 && !(c->progress = parc__progress_create(label, verbose)))
    return parc__error(PARC_ENOMEM, "parc_group_create: out of memory");
  if (c->progress && c->stream && !c->expected) parc__progress_open_ended(c->progress);
  pthread_mutex_init(&c->lock, NULL);
  pthread_cond_init(&c->changed, NULL);
  atomic_init(&c->wake_at, SIZE_MAX);
  atomic_init(&c->first_failure, SIZE_MAX);
  atomic_init(&c->first_cancel, SIZE_MAX);
  atomic_init(&c->longest_index, SIZE_MAX);
  return PARC_OK;
}

void parc__completion_destroy(parc__completion *c) {
  if (c->progress) {
    parc_group_info info;
    parc__completion_stats(c, &info);
    parc__progress_report(c->progress, &info);
    parc__progress_finish(c->progress, atomic_load(&c->finished), atomic_load(&c->failed),
                          c->expected > c->total ? c->expected : c->total);
    parc__progress_destroy(c->progress);
  }
  for (size_t i = 0; i < c->nfailures; i++) parc__free(c->failures[i].text);
  for (int s = 0; s < PARC__ORDER_SEGMENTS; s++)
    parc__free_large((void *)c->order[s], (size_t)ORDER_FIRST << s, sizeof(size_t));
  parc__free(c->ring);
  parc__free(c->failures);
  parc__free(c->records);
  pthread_cond_destroy(&c->changed);
  pthread_mutex_destroy(&c->lock);
}

int parc__completion_add(parc__completion *c, parc__record *r) {
  lock(c);
  if (c->nrecords == c->records_capacity) {
    size_t capacity = c->records_capacity ? c->records_capacity * 2 : 16;
    parc__record **grown = parc__realloc(c->records, capacity * sizeof *grown);
    if (!grown) goto nomem;
    c->records = grown;
    c->records_capacity = capacity;
  }
  if (c->stream ? ring_reserve(c, c->total + r->count - c->reported) != PARC_OK
                : c->keep_order && order_reserve(c, c->total + r->count) != PARC_OK)
    goto nomem;
  r->completion = c;
  r->first = c->total;
  if (c->total == 0) c->first_ns = parc__now_ns();
  if (c->stopped) atomic_store(r->canceled, true);
  c->total += r->count;
  atomic_store(&c->total_seen, c->total);
  c->records[c->nrecords++] = r;
  unlock(c);
  return PARC_OK;
nomem:
  unlock(c);
  return PARC_ENOMEM;
}

/* ---- outcomes ----------------------------------------------------------- */

static void add_failure(parc__completion *c, size_t index, int status, char *text) {
  lock(c);
  if (c->nfailures == c->failures_capacity) {
    size_t capacity = c->failures_capacity ? c->failures_capacity * 2 : 16;
    parc__failure *grown = parc__realloc(c->failures, capacity * sizeof *grown);
    if (!grown) {
      /* The status still says it failed; only the text is lost. */
      unlock(c);
      parc__free(text);
      return;
    }
    c->failures = grown;
    c->failures_capacity = capacity;
  }
  c->failures[c->nfailures++] = (parc__failure){index, status, text};
  c->failures_sorted = false;
  unlock(c);
}

/* stop_on_error: every job of the group, and every later one, is
   cancelled; workers finish their unstarted tasks as such. */
static void stop(parc__completion *c) {
  lock(c);
  c->stopped = true;
  for (size_t i = 0; i < c->nrecords; i++) atomic_store(c->records[i]->canceled, true);
  unlock(c);
}

void parc__completion_fail(const parc__record *r, size_t offset, int status, char *message) {
  parc__completion *c = r->completion;
  assert(offset < r->count && status < 0);
  if (r->status)
    atomic_store_explicit(&r->status[offset], encode_status(status), memory_order_release);
  size_t index = r->first + offset;
  atomic_fetch_add_explicit(&c->failed, 1, memory_order_relaxed);
  if (status == PARC_ECANCELED) {
    atomic_fetch_add_explicit(&c->canceled, 1, memory_order_relaxed);
    atomic_min(&c->first_cancel, index);
    parc__free(message);
    if (!r->status) add_failure(c, index, status, NULL);
    return;
  }
  atomic_min(&c->first_failure, index);
  if (message || !r->status) add_failure(c, index, status, message);
  if (c->stop_on_error) stop(c);
}

/* Publications a worker thread has made but not yet counted. When nobody
   can ask for completion order or progress (parc_map), a worker adds its
   count to `finished` once per job, when it lets go of the job, instead of
   once per chunk: with batch = 1 that halves the shared-cache-line traffic
   per task. Only worker threads defer (they flush before taking the pool
   lock and before any wait); a caller thread never does. */
static _Thread_local __attribute__((tls_model("initial-exec"))) struct {
  bool worker;
  parc__completion *completion;
  size_t count;
} deferred;

void parc__completion_worker_begin(void) { deferred.worker = true; }

static void wake_waiters(parc__completion *c, size_t done) {
  if (done >= atomic_load(&c->wake_at)) {
    lock(c);
    pthread_cond_broadcast(&c->changed);
    unlock(c);
  }
}

/* The moment every task submitted so far has finished, for wall_seconds:
   one clock read per group, not per chunk. */
static void note_end(parc__completion *c, size_t done) {
  if (done >= atomic_load_explicit(&c->total_seen, memory_order_relaxed))
    atomic_store_explicit(&c->last_ns, parc__now_ns(), memory_order_relaxed);
}

/* What progress counts against: opt.total, or what was submitted. */
static size_t progress_total(const parc__completion *c) {
  size_t submitted = atomic_load_explicit(&c->total_seen, memory_order_relaxed);
  return c->expected > submitted ? c->expected : submitted;
}

void parc__completion_flush(void) {
  parc__completion *c = deferred.completion;
  size_t count = deferred.count;
  deferred.completion = NULL;
  deferred.count = 0;
  if (!c || !count) return;
  size_t done = atomic_fetch_add(&c->finished, count) + count;
  note_end(c, done);
  wake_waiters(c, done);
}

/* A stream's publication: into the ring, under the lock (a stream's tasks
   are submitted one at a time, each with a lock turn already). */
static void publish_stream(parc__completion *c, const parc__record *r, size_t offset,
                           size_t count) {
  lock(c);
  assert(c->ring_count + count <= c->ring_capacity);
  for (size_t k = 0; k < count; k++)
    c->ring[(c->ring_head + c->ring_count++) % c->ring_capacity] = r->first + offset + k;
  size_t done = atomic_fetch_add(&c->finished, count) + count;
  note_end(c, done);
  if (c->waiters) pthread_cond_broadcast(&c->changed);
  unlock(c);
  if (c->progress)
    parc__progress_update(c->progress, count, done,
                          atomic_load_explicit(&c->failed, memory_order_relaxed),
                          progress_total(c));
}

void parc__completion_publish(const parc__record *r, size_t offset, size_t count) {
  parc__completion *c = r->completion;
  assert(count > 0 && offset + count <= r->count);
  if (c->stream) {
    publish_stream(c, r, offset, count);
    return;
  }
  if (deferred.worker && !c->keep_order && !c->progress) {
    if (deferred.completion != c) parc__completion_flush();
    deferred.completion = c;
    deferred.count += count;
    return;
  }
  size_t position = atomic_fetch_add(&c->finished, count);
  if (c->keep_order) {
    for (size_t k = 0; k < count; k++)
      atomic_store_explicit(order_slot(c, position + k), r->first + offset + k + 1,
                            memory_order_release);
  }
  size_t done = position + count;
  note_end(c, done);
  wake_waiters(c, done);
  if (c->progress)
    parc__progress_update(c->progress, count, done,
                          atomic_load_explicit(&c->failed, memory_order_relaxed),
                          progress_total(c));
}

/* ---- waiting ------------------------------------------------------------ */

size_t parc__completion_finished(const parc__completion *c) { return atomic_load(&c->finished); }

size_t parc__completion_total(parc__completion *c) {
  return atomic_load_explicit(&c->total_seen, memory_order_acquire);
}

/* Before sleeping, watch `finished` for a few microseconds without the
   lock: a task graph's chain or an as_completed loop over short tasks hands
   off one task at a time, and a futex sleep and wake per hand-off costs
   tens of microseconds. */
static bool spin_briefly(parc__completion *c, size_t target) {
  if (c->cpus < 2) return false;   /* spinning would take the worker's CPU */
  uint64_t until = parc__now_ns() + SPIN_NS;
  bool reached = false;
  while (!(reached = atomic_load(&c->finished) >= target) && parc__now_ns() < until) sched_yield();
  return reached;
}

bool parc__completion_sleep(parc__completion *c, size_t target, double deadline) {
  /* This thread's own deferred publications may be what it waits for. */
  parc__completion_flush();
  if (spin_briefly(c, target)) return true;
  lock(c);
  c->waiters++;
  if (target < atomic_load(&c->wake_at)) atomic_store(&c->wake_at, target);
  bool ok = true;
  while (atomic_load(&c->finished) < target) {
    if (deadline < 0) {
      pthread_cond_wait(&c->changed, &c->lock);
      continue;
    }
    double now = parc__now();
    if (now >= deadline) {
      ok = false;
      break;
    }
    /* Condition variables use CLOCK_REALTIME; wait in short slices so a
       clock jump cannot stretch the timeout. */
    double slice = deadline - now < 0.05 ? deadline - now : 0.05;
    struct timespec ts = parc__time_after(CLOCK_REALTIME, slice);
    pthread_cond_timedwait(&c->changed, &c->lock, &ts);
  }
  if (--c->waiters == 0) atomic_store(&c->wake_at, SIZE_MAX);
  unlock(c);
  return ok;
}

static size_t read_order(const parc__completion *c, size_t position) {
  _Atomic size_t *slot = order_slot(c, position);
  size_t entry;
  /* The worker reserved this position and is about to write it. */
  while ((entry = atomic_load_explicit(slot, memory_order_acquire)) == 0) sched_yield();
  return entry - 1;
}

bool parc__completion_take(parc__completion *c, size_t *index, int *status, bool *all_reported) {
  lock(c);
  *all_reported = c->reported >= c->total;
  if (c->reported >= atomic_load(&c->finished)) {
    unlock(c);
    return false;
  }
  size_t task;
  if (c->stream) {
    assert(c->ring_count > 0);
    task = c->ring[c->ring_head];
    c->ring_head = (c->ring_head + 1) % c->ring_capacity;
    c->ring_count--;
    c->reported++;
  } else {
    task = read_order(c, c->reported++);
  }
  *status = status_locked(c, task);
  unlock(c);
  *index = task;
  return true;
}

/* ---- queries ------------------------------------------------------------ */

int parc__completion_status(const parc__completion *c, size_t index) {
  lock(c);
  int status = status_locked(c, index);
  unlock(c);
  return status;
}

const char *parc__completion_message(const parc__completion *c, size_t index) {
  const char *text = NULL;
  lock(c);
  /* A task's own PARC_EINVAL has its message like any failure; an index
     never submitted (no record) has none. */
  int status = status_raw(c, index);
  if (status != STATUS_FORGOTTEN && is_failure(status)) {
    const parc__failure *found = find_failure(c, index);
    text = found && found->text ? found->text : parc_strerror(status);
  }
  unlock(c);
  return text;
}

size_t parc__completion_failed(const parc__completion *c) { return atomic_load(&c->failed); }

int parc__completion_outcome(const parc__completion *c, const char *who) {
  size_t failed = atomic_load(&c->first_failure);
  size_t index = failed != SIZE_MAX ? failed : atomic_load(&c->first_cancel);
  if (index == SIZE_MAX) return PARC_OK;
  lock(c);
  int status = status_locked(c, index);
  const parc__failure *found = find_failure(c, index);
  const char *text = found && found->text ? found->text : NULL;
  /* A sparse group that could not allocate a failure's record. */
  if (status == PARC_OK) {
    unlock(c);
    return parc__error(PARC_ENOMEM, "%s: out of memory recording task %zu's failure", who, index);
  }
  if (text) parc__error(status, "%s: task %zu failed: %s", who, index, text);
  else parc__error(status, "%s: task %zu failed: %s", who, index, parc_strerror(status));
  unlock(c);
  return status;
}

const parc__failure *parc__completion_failures(const parc__completion *c, size_t *n) {
  *n = c->nfailures;
  return c->failures;
}

size_t parc__completion_pending(const parc__completion *c) {
  lock(c);
  size_t pending = c->total - c->reported;
  unlock(c);
  return pending;
}

/* ---- streams: forgetting what was reported ---------------------------------- */

void parc__completion_forget_task(parc__completion *c, const parc__record *r, size_t offset) {
  lock(c);
  if (r->status) atomic_store_explicit(&r->status[offset], (signed char)FORGOTTEN, memory_order_release);
  const parc__failure *found = find_failure(c, r->first + offset);
  if (found) {
    size_t i = (size_t)(found - c->failures);
    parc__free(c->failures[i].text);
    memmove(&c->failures[i], &c->failures[i + 1], (c->nfailures - i - 1) * sizeof c->failures[0]);
    c->nfailures--;
  }
  unlock(c);
}

void parc__completion_forget(parc__completion *c, const parc__record *r) {
  lock(c);
  size_t lo = 0, hi = c->nrecords;
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    if (c->records[mid]->first < r->first) lo = mid + 1;
    else hi = mid;
  }
  if (lo < c->nrecords && c->records[lo] == r) {
    memmove(&c->records[lo], &c->records[lo + 1], (c->nrecords - lo - 1) * sizeof c->records[0]);
    c->nrecords--;
  }
  unlock(c);
}

/* ---- statistics ------------------------------------------------------------ */

void parc__completion_timing(const parc__record *r, uint64_t busy_ns, uint64_t longest_ns,
                             size_t longest_offset) {
  parc__completion *c = r->completion;
  if (busy_ns) atomic_fetch_add_explicit(&c->busy_ns, busy_ns, memory_order_relaxed);
  if (longest_offset == SIZE_MAX) return;
  uint64_t old = atomic_load_explicit(&c->longest_ns, memory_order_relaxed);
  if (longest_ns <= old && atomic_load(&c->longest_index) != SIZE_MAX) return;
  lock(c);
  if (longest_ns > atomic_load(&c->longest_ns) || atomic_load(&c->longest_index) == SIZE_MAX) {
    atomic_store(&c->longest_ns, longest_ns);
    atomic_store(&c->longest_index, r->first + longest_offset);
  }
  unlock(c);
}

void parc__completion_cached(const parc__record *r, size_t count) {
  if (count) atomic_fetch_add_explicit(&r->completion->cached, count, memory_order_relaxed);
}

void parc__completion_stats(const parc__completion *c, parc_group_info *info) {
  lock(c);
  size_t submitted = c->total;
  uint64_t first = c->first_ns;
  unlock(c);
  size_t finished = atomic_load(&c->finished), failed = atomic_load(&c->failed);
  size_t canceled = atomic_load(&c->canceled);
  uint64_t last = atomic_load(&c->last_ns);
  bool all_done = finished >= submitted;
  uint64_t end = all_done && last ? last : parc__now_ns();
  *info = (parc_group_info){0};
  info->submitted = submitted;
  info->failed = failed - canceled;
  info->canceled = canceled;
  info->done = finished - failed;
  info->cached = atomic_load(&c->cached);
  info->wall_seconds = first && end > first ? (double)(end - first) * 1e-9 : 0;
  info->busy_seconds = (double)atomic_load(&c->busy_ns) * 1e-9;
  info->longest_index = atomic_load(&c->longest_index);
  info->longest_seconds =
      info->longest_index == SIZE_MAX ? 0 : (double)atomic_load(&c->longest_ns) * 1e-9;
}
