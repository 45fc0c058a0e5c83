/*
 * trace.c — a pool's task timeline, as Chrome trace event JSON (opens in
 * Perfetto and chrome://tracing).
 *
 * Why it costs nothing when off and little when on: every thread that
 * records (a worker thread, a proxy thread of a process pool, the caller
 * of a SERIAL pool) appends to a buffer of its own, with no lock; a full
 * buffer, or one a thread lets go of when it lets go of a job, is handed
 * to the writer under the trace's lock, once per thousands of events. A
 * background thread writes handed-over buffers every 100 ms and a counter
 * sample ("tasks": queued, running, done), so a killed program leaves a
 * file cut at most 100 ms before its end; parc_trace_close writes what is
 * left and the closing line ("complete": true). One event per line: a cut
 * file loses at most its last, partial line.
 *
 * The format (tools/parc/trace_cmd.c reads it): pid the caller's, tid =
 * worker + 1 (tid 0: the pool: metadata and counters), ts and dur in
 * microseconds since the pool was created. A task's "X" event has args
 * index and chunk, and status, try and cached only when they are not
 * PARC_OK, 1 and false.
 */
#include "parc_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#define EVENTS_PER_BUFFER 4096
#define WRITE_EVERY_NS 100000000ull      /* the writer's period */
#define NAMES_MAX 256                    /* distinct group labels per trace */

typedef struct trace_event {
  uint64_t start_ns, end_ns;
  uint64_t index;
  uint64_t chunk;
  char *message;              /* instant events: heap, owned; else NULL */
  int32_t status;
  int16_t worker;
  uint8_t kind;               /* PARC__TRACE_* */
  uint8_t try_number;
  uint16_t name;              /* label id */
  bool cached;
} trace_event;

struct parc__trace_buffer {
  parc__trace_buffer *next;   /* the trace's list of buffers to write */
  size_t n;
  uint64_t first_ns;          /* when its first event happened */
  trace_event events[EVENTS_PER_BUFFER];
};

struct parc__trace {
  int fd;                     /* not stdio: a forked worker's fflush(NULL) must never
                                 write a copy of our buffer into the file */
  char out[65536];            /* what has not been written yet (write_lock) */
  size_t nout;
  char *path;
  uint64_t origin_ns;
  pid_t pid;
  pthread_mutex_t write_lock; /* the file: one writer at a time (before `lock`) */
  pthread_mutex_t lock;       /* guards everything below */
  pthread_cond_t wake;
  pthread_t writer;
  bool writer_started, closing;
  parc__trace_buffer *full, *full_tail;   /* handed over, to write */
  parc__trace_buffer *spare;              /* written, to reuse */
  char *names[NAMES_MAX];     /* JSON strings, quotes included */
  size_t name_lengths[NAMES_MAX];
  int nnames;
  bool wrote_first;
  _Atomic uint64_t submitted, running, done;   /* the counter track */
};

/* The buffer this thread writes into, for one trace at a time. */
static _Thread_local __attribute__((tls_model("initial-exec"))) struct {
  parc__trace *trace;
  parc__trace_buffer *buffer;
} mine;

/* ---- writing -------------------------------------------------------------- */

/* ---- output (write_lock held) ------------------------------------------- */

static void drain(parc__trace *t) {
  size_t done = 0;
  while (done < t->nout) {
    ssize_t n = write(t->fd, t->out + done, t->nout - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;   /* a full disk loses trace lines, never the run */
    done += (size_t)n;
  }
  t->nout = 0;
}

static void emit(parc__trace *t, const char *fmt, ...) PARC_PRINTF(2, 3);
static void emit(parc__trace *t, const char *fmt, ...) {
  for (int attempt = 0; attempt < 2; attempt++) {
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(t->out + t->nout, sizeof t->out - t->nout, fmt, ap);
    va_end(ap);
    if (n >= 0 && (size_t)n < sizeof t->out - t->nout) {
      t->nout += (size_t)n;
      return;
    }
    drain(t);   /* no room: write what is there, then try once more */
  }
}

static void write_string(parc__trace *t, const char *s) {
  emit(t, "\"");
  for (; *s; s++) {
    unsigned char c = (unsigned char)*s;
    if (c == '"' || c == '\\') emit(t, "\\%c", c);
    else if (c < 0x20) emit(t, "\\u%04x", c);
    else emit(t, "%c", c);
  }
  emit(t, "\"");
}

static double micros(const parc__trace *t, uint64_t ns) {
  return ns > t->origin_ns ? (double)(ns - t->origin_ns) / 1000.0 : 0.0;
}

/* Starts an event's line: "\n," before every event but the first. */
static void begin_line(parc__trace *t) {
  emit(t, "%s", t->wrote_first ? "\n," : "\n");
  t->wrote_first = true;
}

static const char *const instant_names[] = {
    [PARC__TRACE_CRASH] = "crash", [PARC__TRACE_TIMEOUT] = "timeout",
    [PARC__TRACE_RETRY] = "retry", [PARC__TRACE_REPLACE] = "replace",
    [PARC__TRACE_CANCEL] = "cancel"};

/* Task events are most of a trace: formatted by hand, without printf
   (a million of them in well under a second). */
static char *put_text(char *p, const char *s, size_t n) {
  memcpy(p, s, n);
  return p + n;
}
#define PUT(p, literal) put_text((p), (literal), sizeof(literal) - 1)

static const char digit_pairs[201] =
    "00010203040506070809101112131415161718192021222324252627282930313233343536373839"
    "40414243444546474849505152535455565758596061626364656667686970717273747576777879"
    "8081828384858687888990919293949596979899";

/* Decimal digits, two at a time (half the divisions of one at a time). */
static char *put_u64(char *p, uint64_t v) {
  char digits[20];
  int n = 20;
  while (v >= 100) {
    unsigned pair = (unsigned)(v % 100);
    v /= 100;
    digits[--n] = digit_pairs[2 * pair + 1];
    digits[--n] = digit_pairs[2 * pair];
  }
  if (v >= 10) {
    digits[--n] = digit_pairs[2 * v + 1];
    digits[--n] = digit_pairs[2 * v];
  } else {
    digits[--n] = (char)('0' + v);
  }
  memcpy(p, digits + n, (size_t)(20 - n));
  return p + (20 - n);
}

/* Nanoseconds as microseconds with three decimals. */
static char *put_micros(char *p, uint64_t ns) {
  p = put_u64(p, ns / 1000);
  unsigned frac = (unsigned)(ns % 1000);
  *p++ = '.';
  *p++ = (char)('0' + frac / 100);
  *p++ = (char)('0' + frac / 10 % 10);
  *p++ = (char)('0' + frac % 10);
  return p;
}

static void write_task(parc__trace *t, const trace_event *e) {
  const char *name = e->name < t->nnames ? t->names[e->name] : "\"parc\"";
  size_t name_len = e->name < t->nnames ? t->name_lengths[e->name] : 6;
  /* Room for the longest line: fixed text, numbers, the name. */
  if (sizeof t->out - t->nout < 320 + name_len) drain(t);
  if (sizeof t->out - t->nout < 320 + name_len) return;   /* a name too long to write */
  char *p = t->out + t->nout;
  p = PUT(p, "\n,{\"ph\":\"X\",\"pid\":");
  p = put_u64(p, (uint64_t)t->pid);
  p = PUT(p, ",\"tid\":");
  p = put_u64(p, (uint64_t)(e->worker + 1));
  p = PUT(p, ",\"name\":");
  p = put_text(p, name, name_len);
  p = PUT(p, ",\"ts\":");
  p = put_micros(p, e->start_ns > t->origin_ns ? e->start_ns - t->origin_ns : 0);
  p = PUT(p, ",\"dur\":");
  p = put_micros(p, e->end_ns - e->start_ns);
  p = PUT(p, ",\"args\":{\"index\":");
  p = put_u64(p, e->index);
  p = PUT(p, ",\"chunk\":");
  p = put_u64(p, e->chunk);
  /* Defaults left out (status PARC_OK, try 1, not cached): a million
     tasks make about a hundred megabytes. */
  if (e->status != PARC_OK) {
    const char *status = parc_status_name(e->status);
    p = PUT(p, ",\"status\":\"");
    p = put_text(p, status, strlen(status));
    *p++ = '"';
  }
  if (e->try_number > 1) {
    p = PUT(p, ",\"try\":");
    p = put_u64(p, e->try_number);
  }
  if (e->cached) p = PUT(p, ",\"cached\":true");
  p = PUT(p, "}}");
  t->nout = (size_t)(p - t->out);
}

/* Every line after the first starts with "\n,": the header's events come
   first, so a task's line always does. */
static void write_event(parc__trace *t, const trace_event *e) {
  if (e->kind == PARC__TRACE_TASK) {
    write_task(t, e);
    return;
  }
  begin_line(t);
  emit(t, "{\"ph\":\"i\",\"pid\":%d,\"tid\":%d,\"name\":\"%s\",\"cat\":\"%s\",\"s\":\"t\","
             "\"ts\":%.3f,\"args\":{\"index\":%llu",
          (int)t->pid, e->worker + 1, instant_names[e->kind],
          e->kind == PARC__TRACE_CANCEL ? "dispatch" : "fault", micros(t, e->start_ns),
          (unsigned long long)e->index);
  if (e->kind == PARC__TRACE_CANCEL) emit(t, ",\"count\":%llu", (unsigned long long)e->chunk);
  if (e->message) {
    emit(t, ",\"message\":");
    write_string(t, e->message);
  }
  emit(t, "}}");
}

static void write_counter(parc__trace *t, uint64_t now) {
  uint64_t submitted = atomic_load(&t->submitted), running = atomic_load(&t->running);
  uint64_t done = atomic_load(&t->done);
  uint64_t queued = submitted > done + running ? submitted - done - running : 0;
  begin_line(t);
  emit(t, "{\"ph\":\"C\",\"pid\":%d,\"tid\":0,\"name\":\"tasks\",\"ts\":%.3f,"
                   "\"args\":{\"queued\":%llu,\"running\":%llu,\"done\":%llu}}",
          (int)t->pid, micros(t, now), (unsigned long long)queued, (unsigned long long)running,
          (unsigned long long)done);
}

/* Writes and recycles every handed-over buffer. The writes run without
   `lock` (recording threads hand buffers over meanwhile) but under
   write_lock (the writer thread and a flush never interleave lines). */
static void write_full(parc__trace *t) {
  pthread_mutex_lock(&t->write_lock);
  pthread_mutex_lock(&t->lock);
  parc__trace_buffer *list = t->full;
  t->full = t->full_tail = NULL;
  pthread_mutex_unlock(&t->lock);
  parc__trace_buffer *last = NULL;
  for (parc__trace_buffer *b = list; b; b = b->next) {
    for (size_t i = 0; i < b->n; i++) {
      write_event(t, &b->events[i]);
      parc__free(b->events[i].message);
    }
    b->n = 0;
    last = b;
  }
  write_counter(t, parc__now_ns());
  drain(t);
  pthread_mutex_lock(&t->lock);
  if (last) {
    last->next = t->spare;
    t->spare = list;
  }
  pthread_mutex_unlock(&t->lock);
  pthread_mutex_unlock(&t->write_lock);
}

static void *writer_main(void *arg) {
  parc__trace *t = arg;
  pthread_mutex_lock(&t->lock);
  while (!t->closing) {
    struct timespec ts = parc__time_after(CLOCK_REALTIME, (double)WRITE_EVERY_NS * 1e-9);
    pthread_cond_timedwait(&t->wake, &t->lock, &ts);
    if (t->closing) break;
    pthread_mutex_unlock(&t->lock);
    write_full(t);
    pthread_mutex_lock(&t->lock);
  }
  pthread_mutex_unlock(&t->lock);
  return NULL;
}

/* ---- life ------------------------------------------------------------------ */

int parc__trace_open(parc__trace **out, const char *path, const char *pool_name, int workers) {
  *out = NULL;
  parc__trace *t = parc__calloc(1, sizeof *t);
  if (!t) return parc__error(PARC_ENOMEM, "parc_pool_create: out of memory for the trace");
  t->path = parc__strdup(path);
  t->fd = t->path ? open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0644) : -1;
  if (t->fd < 0) {
    int rc = t->path ? parc__error(PARC_ESYS, "parc_pool_create: trace file %s: %s", path,
                                   strerror(errno))
                     : parc__error(PARC_ENOMEM, "parc_pool_create: out of memory for the trace");
    parc__free(t->path);
    parc__free(t);
    return rc;
  }
  t->origin_ns = parc__now_ns();
  t->pid = getpid();
  pthread_mutex_init(&t->write_lock, NULL);
  pthread_mutex_init(&t->lock, NULL);
  pthread_cond_init(&t->wake, NULL);
  emit(t, "{\"traceEvents\":[");
  begin_line(t);
  emit(t, "{\"ph\":\"M\",\"pid\":%d,\"tid\":0,\"name\":\"process_name\",\"args\":{\"name\":",
          (int)t->pid);
  write_string(t, pool_name);
  emit(t, "}}");
  for (int w = 0; w < workers; w++) {
    begin_line(t);
    emit(t, "{\"ph\":\"M\",\"pid\":%d,\"tid\":%d,\"name\":\"thread_name\","
                     "\"args\":{\"name\":\"worker %d\"}}",
            (int)t->pid, w + 1, w);
  }
  drain(t);
  if (pthread_create(&t->writer, NULL, writer_main, t) == 0) t->writer_started = true;
  *out = t;
  return PARC_OK;
}

static void free_buffers(parc__trace_buffer *b) {
  while (b) {
    parc__trace_buffer *next = b->next;
    for (size_t i = 0; i < b->n; i++) parc__free(b->events[i].message);
    parc__free(b);
    b = next;
  }
}

void parc__trace_close(parc__trace *t) {
  if (!t) return;
  pthread_mutex_lock(&t->lock);
  t->closing = true;
  pthread_cond_broadcast(&t->wake);
  pthread_mutex_unlock(&t->lock);
  if (t->writer_started) pthread_join(t->writer, NULL);
  parc__trace_hand_over(t);
  write_full(t);
  emit(t, "\n],\"otherData\":{\"parc_version\":\"%s\",\"complete\":true}}\n", parc_version());
  drain(t);
  close(t->fd);
  free_buffers(t->spare);
  for (int i = 0; i < t->nnames; i++) parc__free(t->names[i]);
  /* A thread's cached buffer for this trace was handed over by now (every
     recording thread lets go before the pool ends); forget it here too. */
  if (mine.trace == t) mine.trace = NULL, mine.buffer = NULL;
  pthread_cond_destroy(&t->wake);
  pthread_mutex_destroy(&t->lock);
  pthread_mutex_destroy(&t->write_lock);
  parc__free(t->path);
  parc__free(t);
}

/* label as a JSON string, quotes included (heap; NULL when out of memory). */
static char *json_string(const char *label) {
  size_t n = strlen(label);
  char *s = parc__malloc(6 * n + 3), *p = s;
  if (!s) return NULL;
  *p++ = '"';
  for (; *label; label++) {
    unsigned char c = (unsigned char)*label;
    if (c == '"' || c == '\\') *p++ = '\\', *p++ = (char)c;
    else if (c < 0x20) p += sprintf(p, "\\u%04x", c);
    else *p++ = (char)c;
  }
  *p++ = '"';
  *p = '\0';
  return s;
}

uint16_t parc__trace_name(parc__trace *t, const char *label) {
  char *quoted = json_string(label);
  if (!quoted) return NAMES_MAX;
  pthread_mutex_lock(&t->lock);
  int id = 0;
  while (id < t->nnames && strcmp(t->names[id], quoted) != 0) id++;
  if (id == t->nnames && t->nnames < NAMES_MAX) {
    t->name_lengths[t->nnames] = strlen(quoted);
    t->names[t->nnames++] = quoted;
    quoted = NULL;
  }
  pthread_mutex_unlock(&t->lock);
  parc__free(quoted);
  return (uint16_t)(id < t->nnames ? id : NAMES_MAX);
}

/* ---- recording -------------------------------------------------------------- */

void parc__trace_hand_over(parc__trace *t) {
  if (!t || mine.trace != t || !mine.buffer) return;
  parc__trace_buffer *b = mine.buffer;
  mine.buffer = NULL;
  if (b->n == 0) {
    parc__free(b);
    return;
  }
  pthread_mutex_lock(&t->lock);
  b->next = NULL;
  if (t->full_tail) t->full_tail->next = b;
  else t->full = b;
  t->full_tail = b;
  pthread_mutex_unlock(&t->lock);
}

/* A slot in this thread's buffer for t: NULL only when memory runs out
   (the event is then dropped: a trace is advice). */
static trace_event *next_event(parc__trace *t, uint64_t now) {
  if (mine.trace != t) {
    if (mine.trace) parc__trace_hand_over(mine.trace);
    mine.trace = t;
    mine.buffer = NULL;
  }
  parc__trace_buffer *b = mine.buffer;
  if (b && (b->n == EVENTS_PER_BUFFER || now - b->first_ns > WRITE_EVERY_NS)) {
    parc__trace_hand_over(t);
    b = NULL;
  }
  if (!b) {
    pthread_mutex_lock(&t->lock);
    b = t->spare;
    if (b) t->spare = b->next;
    pthread_mutex_unlock(&t->lock);
    if (!b && !(b = parc__malloc(sizeof *b))) return NULL;
    b->n = 0;
    b->next = NULL;
    b->first_ns = now;
    mine.trace = t;
    mine.buffer = b;
  }
  trace_event *e = &b->events[b->n++];
  e->message = NULL;   /* every other field is set by the caller */
  return e;
}

void parc__trace_task(parc__trace *t, const parc__trace_task_info *info, size_t index,
                      uint64_t start_ns, uint64_t end_ns, int status, bool cached) {
  trace_event *e = next_event(t, end_ns);
  if (!e) return;
  e->kind = PARC__TRACE_TASK;
  e->start_ns = start_ns;
  e->end_ns = end_ns;
  e->index = index;
  e->chunk = info->chunk;
  e->status = status;
  e->worker = (int16_t)info->worker;
  e->try_number = (uint8_t)(info->try_number ? info->try_number : 1);
  e->name = info->name;
  e->cached = cached;
}

void parc__trace_instant(parc__trace *t, int kind, int worker, size_t index, uint64_t count,
                         const char *message) {
  uint64_t now = parc__now_ns();
  trace_event *e = next_event(t, now);
  if (!e) return;
  memset(e, 0, sizeof *e);
  e->kind = (uint8_t)kind;
  e->start_ns = e->end_ns = now;
  e->index = index;
  e->chunk = count;
  e->worker = (int16_t)worker;
  e->message = message ? parc__strdup(message) : NULL;
}

void parc__trace_count(parc__trace *t, int64_t submitted, int64_t running, int64_t done) {
  if (submitted) atomic_fetch_add_explicit(&t->submitted, (uint64_t)submitted, memory_order_relaxed);
  if (running) atomic_fetch_add_explicit(&t->running, (uint64_t)running, memory_order_relaxed);
  if (done) atomic_fetch_add_explicit(&t->done, (uint64_t)done, memory_order_relaxed);
}

void parc__trace_flush(parc__trace *t) {
  if (!t) return;
  parc__trace_hand_over(t);
  write_full(t);
}

void parc__trace_kick(parc__trace *t) {
  if (!t) return;
  parc__trace_hand_over(t);
  pthread_mutex_lock(&t->lock);
  pthread_cond_signal(&t->wake);
  pthread_mutex_unlock(&t->lock);
}
