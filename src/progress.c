/*
 * progress.c — what a group with verbose > 0 prints on stderr while it runs.
 *
 * On a terminal, a live bar on one line, redrawn in place ("\r", then
 * erase-to-end-of-line) at most ten times a second:
 *   [parc] sweep [######            ] 35/100 35% | 0 failed | 70.0 tasks/s | 0.5 s, ETA 0.9 s
 * (with "elapsed" after the time when the terminal is wide enough).
 * The bar is erased when every task submitted so far has finished, and the
 * group's destruction prints one summary line in its place.
 *
 * Elsewhere (a pipe, a file, TERM=dumb), joblib-like lines, one each time
 * the work passes another tenth of the total but at most one a second, a
 * heartbeat after a minute without one, and the summary at the end:
 *   [parc] sweep: 40/100 done, 0 failed | 2.0 s elapsed | 20.0 tasks/s, ETA 3.0 s
 *   [parc] sweep: 100/100 done, 0 failed | 5.1 s elapsed | finished
 * "done" counts every finished task, failed (and cancelled) ones included.
 * verbose = 2 appends to the summary how many tasks each worker thread
 * completed.
 *
 * Why it costs nothing measurable: workers call parc__progress_update after
 * each chunk (tens of microseconds of work with automatic batching). When
 * nothing is due, that is one coarse clock read (a few nanoseconds through
 * the vDSO, no system call) and one relaxed atomic load; the thread that
 * finds output due wins one compare-and-swap and alone takes the lock. The
 * bar is redrawn only when a chunk completes, so during tasks longer than a
 * tenth of a second the elapsed time on it stands still.
 *
 * One lock for all groups serialises output, so two groups' lines never
 * mix, and a line printed while another group's bar is shown erases that
 * bar first.
 */
#include "parc_internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#define NS 1000000000ull
#define REDRAW_NS (NS / 10)       /* the bar: at most ten redraws a second */
#define FIRST_BAR_NS (NS / 5)     /* no bar for work that ends within 0.2 s */
#define LINE_NS NS                /* lines: at most one a second */
#define CHECK_NS (NS / 10)        /* lines: how often a due line is considered */
#define HEARTBEAT_NS (60 * NS)    /* lines: one after a minute of silence */
#define LINE_MAX_BYTES 512
#define LIST_WORKERS 16           /* verbose 2 lists up to this many, else min/mean/max */

struct parc__progress {
  char *label;
  int verbose;
  bool tty;                   /* a live bar, else lines */
  int columns;                /* terminal width, tty only */
  uint64_t id;                /* names this progress in threads' slot caches */
  uint64_t start_ns;          /* precise clock, for the printed times */
  _Atomic uint64_t next_ns;   /* coarse clock: nothing is due before this */
  _Atomic bool bar_shown;     /* tty: our bar is on the screen */
  bool open_ended;            /* a stream with no opt.total: no ETA to give */

  /* verbose 2: tasks completed by each thread that completed chunks. */
  _Atomic size_t *per_thread; /* PARC__MAX_WORKERS + 1 counters; the last takes overflow */
  char stats[160];            /* verbose 2: the group's figures, for the summary line */
  _Atomic unsigned threads;   /* slots handed out */

  /* Guarded by out_lock: what was last shown, so output never goes back. */
  size_t shown_done, shown_failed, shown_total;
  size_t line_decile;         /* lines: tenths of the total already announced */
  uint64_t line_ns;           /* lines: precise time of the last line */
};

static pthread_mutex_t out_lock = PTHREAD_MUTEX_INITIALIZER;
static parc__progress *bar_owner;     /* guarded by out_lock: whose bar is shown */
static _Atomic uint64_t next_id = 1;

/* verbose 2: each thread remembers its slot in the progress it last fed. */
static _Thread_local uint64_t slot_owner;
static _Thread_local unsigned slot_index;

static uint64_t coarse_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
  return (uint64_t)ts.tv_sec * NS + (uint64_t)ts.tv_nsec;
}

static size_t max_size(size_t a, size_t b) { return a > b ? a : b; }

/* ---- creation ----------------------------------------------------------- */

static int terminal_columns(void) {
  struct winsize ws;
  if (ioctl(STDERR_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0) return ws.ws_col;
  const char *s = getenv("COLUMNS");
  int n = s ? atoi(s) : 0;
  return n > 0 ? n : 80;
}

static bool stderr_is_terminal(void) {
  const char *term = getenv("TERM");
  return isatty(STDERR_FILENO) && !(term && strcmp(term, "dumb") == 0);
}

parc__progress *parc__progress_create(const char *label, int verbose) {
  parc__progress *p = parc__calloc(1, sizeof *p);
  if (!p) return NULL;
  p->label = parc__strdup(label ? label : "parc");
  if (verbose >= 2) p->per_thread = parc__calloc(PARC__MAX_WORKERS + 1, sizeof(size_t));
  if (!p->label || (verbose >= 2 && !p->per_thread)) {
    parc__progress_destroy(p);
    return NULL;
  }
  p->verbose = verbose;
  p->tty = stderr_is_terminal();
  p->columns = p->tty ? terminal_columns() : 0;
  p->id = atomic_fetch_add(&next_id, 1);
  p->start_ns = parc__now_ns();
  p->line_ns = p->start_ns;
  atomic_init(&p->next_ns, coarse_ns() + (p->tty ? FIRST_BAR_NS : CHECK_NS));
  return p;
}

/* ---- formatting --------------------------------------------------------- */

static void format_duration(char *buf, size_t size, double seconds) {
  if (seconds < 60) {
    snprintf(buf, size, "%.1f s", seconds);
  } else if (seconds < 3600) {
    long s = (long)seconds;
    snprintf(buf, size, "%ldm%02lds", s / 60, s % 60);
  } else {
    long m = (long)(seconds / 60);
    snprintf(buf, size, "%ldh%02ldm", m / 60, m % 60);
  }
}

static void format_rate(char *buf, size_t size, double rate) {
  if (rate >= 1e6) snprintf(buf, size, "%.1fM tasks/s", rate / 1e6);
  else if (rate >= 1e4) snprintf(buf, size, "%.1fk tasks/s", rate / 1e3);
  else snprintf(buf, size, "%.1f tasks/s", rate);
}

/* "ETA 3.0 s", or "ETA ?" before the first task has finished. */
static void format_eta(char *buf, size_t size, const parc__progress *p, size_t done,
                       size_t total, double elapsed) {
  if (p->open_ended) {
    snprintf(buf, size, "ETA unknown (a stream: opt.total gives one)");
    return;
  }
  if (done == 0 || elapsed <= 0) {
    snprintf(buf, size, "ETA ?");
    return;
  }
  char d[32];
  format_duration(d, sizeof d, (double)(total - done) * elapsed / (double)done);
  snprintf(buf, size, "ETA %s", d);
}

/* Appends to buf (of size `size`, holding `used` bytes); returns the new
   length, never beyond size - 1. */
static size_t append(char *buf, size_t size, size_t used, const char *fmt, ...)
    PARC_PRINTF(4, 5);
static size_t append(char *buf, size_t size, size_t used, const char *fmt, ...) {
  if (used >= size - 1) return used;
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(buf + used, size - used, fmt, ap);
  va_end(ap);
  if (n < 0) return used;
  return used + (size_t)n < size - 1 ? used + (size_t)n : size - 1;
}

/* verbose 2: " | tasks per worker: 50 50", or min/mean/max for many. */
static size_t append_workers(const parc__progress *p, char *buf, size_t size, size_t used) {
  unsigned n = atomic_load(&p->threads);
  if (n > PARC__MAX_WORKERS + 1) n = PARC__MAX_WORKERS + 1;
  if (n == 0) return used;
  if (n <= LIST_WORKERS) {
    used = append(buf, size, used, " | tasks per worker:");
    for (unsigned i = 0; i < n; i++)
      used = append(buf, size, used, " %zu", atomic_load(&p->per_thread[i]));
    return used;
  }
  size_t lo = SIZE_MAX, hi = 0, sum = 0;
  for (unsigned i = 0; i < n; i++) {
    size_t v = atomic_load(&p->per_thread[i]);
    lo = v < lo ? v : lo;
    hi = v > hi ? v : hi;
    sum += v;
  }
  return append(buf, size, used, " | tasks per worker: min %zu, mean %.1f, max %zu over %u",
                lo, (double)sum / n, hi, n);
}

/* ---- output (out_lock held) --------------------------------------------- */

static void write_all(const char *s, size_t len) {
  while (len > 0) {
    ssize_t n = write(STDERR_FILENO, s, len);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;    /* stderr closed or broken: progress is best effort */
    s += n;
    len -= (size_t)n;
  }
}

/* Erases whichever bar is on the screen. */
static void erase_bar(void) {
  if (!bar_owner) return;
  write_all("\r\033[K", 4);
  atomic_store_explicit(&bar_owner->bar_shown, false, memory_order_relaxed);
  bar_owner = NULL;
}

/* The bar's text after the bar itself, in three lengths: `level` 0 says
   everything, 1 drops the word "elapsed", 2 also drops the rate. */
static size_t bar_tail(char *buf, size_t size, const parc__progress *p, size_t done,
                       size_t failed, size_t total, int level) {
  double elapsed = (double)(parc__now_ns() - p->start_ns) * 1e-9;
  char rate[40] = "", eta[48], took[32];
  if (level < 2) {
    format_rate(rate + 3, sizeof rate - 3, elapsed > 0 ? (double)done / elapsed : 0);
    memcpy(rate, " | ", 3);
  }
  format_eta(eta, sizeof eta, p, done, total, elapsed);
  format_duration(took, sizeof took, elapsed);
  unsigned percent = (unsigned)(100.0 * (double)done / (double)total);
  int n = snprintf(buf, size, " %zu/%zu %u%% | %zu failed%s | %s%s, %s", done, total, percent,
                   failed, rate, took, level == 0 ? " elapsed" : "", eta);
  return n < 0 ? 0 : (size_t)n < size ? (size_t)n : size - 1;
}

/* "\r", erase, then the bar. What does not fit goes, in this order: the
   word "elapsed", the bar itself (it needs MIN_CELLS), the rate; the line
   never reaches the last column, where it would wrap and break the next
   "\r". */
#define MIN_CELLS 10
#define MAX_CELLS 30
static void draw_bar(parc__progress *p, size_t done, size_t failed, size_t total) {
  size_t width = p->columns > 1 ? (size_t)p->columns - 1 : 79;
  char head[LINE_MAX_BYTES / 2], tail[256];
  snprintf(head, sizeof head, "[parc] %s", p->label);
  size_t visible = strlen(head);
  size_t tail_len = bar_tail(tail, sizeof tail, p, done, failed, total, 0);
  size_t cells = 0;
  if (visible + tail_len + 3 + MIN_CELLS > width)
    tail_len = bar_tail(tail, sizeof tail, p, done, failed, total, 1);
  if (visible + tail_len + 3 + MIN_CELLS <= width) cells = width - visible - tail_len - 3;
  else if (visible + tail_len > width)
    tail_len = bar_tail(tail, sizeof tail, p, done, failed, total, 2);
  if (cells > MAX_CELLS) cells = MAX_CELLS;
  char line[LINE_MAX_BYTES];
  size_t used = append(line, sizeof line, 0, "\r\033[K%s", head);
  if (cells) {
    size_t filled = (size_t)((double)cells * (double)done / (double)total);
    used = append(line, sizeof line, used, " [");
    for (size_t i = 0; i < cells; i++) line[used++] = i < filled ? '#' : ' ';
    used = append(line, sizeof line, used, "]");
  }
  used = append(line, sizeof line, used, "%s", tail);
  if (used - 4 > width) used = 4 + width;
  if (bar_owner && bar_owner != p) erase_bar();
  write_all(line, used);
  bar_owner = p;
  atomic_store_explicit(&p->bar_shown, true, memory_order_relaxed);
}

/* One line: "[parc] label: D/T done, F failed | E elapsed | what". */
static void print_line(parc__progress *p, size_t done, size_t failed, size_t total, bool final) {
  uint64_t now = parc__now_ns();
  double elapsed = (double)(now - p->start_ns) * 1e-9;
  char took[32];
  format_duration(took, sizeof took, elapsed);
  char line[LINE_MAX_BYTES];
  size_t used = append(line, sizeof line, 0, "[parc] %s: %zu/%zu done, %zu failed | %s elapsed | ",
                       p->label, done, total, failed, took);
  if (final) {
    used = append(line, sizeof line, used, "finished");
    if (p->per_thread) used = append_workers(p, line, sizeof line, used);
    if (p->stats[0]) used = append(line, sizeof line, used, "%s", p->stats);
  } else {
    char rate[32], eta[48];
    format_rate(rate, sizeof rate, elapsed > 0 ? (double)done / elapsed : 0);
    format_eta(eta, sizeof eta, p, done, total, elapsed);
    used = append(line, sizeof line, used, "%s, %s", rate, eta);
  }
  if (used >= sizeof line - 1) used = sizeof line - 2;
  line[used++] = '\n';
  erase_bar();
  write_all(line, used);
  p->line_ns = now;
}

/* Folds a worker's possibly stale view into what was shown. */
static void catch_up(parc__progress *p, size_t *done, size_t *failed, size_t *total) {
  p->shown_done = *done = max_size(*done, p->shown_done);
  p->shown_failed = *failed = max_size(*failed, p->shown_failed);
  p->shown_total = *total = max_size(*total, p->shown_total);
}

/* Lines: one per tenth of the total passed, at most one a second, and a
   heartbeat after a minute of silence. */
static void maybe_line(parc__progress *p, size_t done, size_t failed, size_t total) {
  uint64_t now = parc__now_ns();
  if (now - p->line_ns < LINE_NS) return;
  size_t decile = (size_t)(10.0 * (double)done / (double)total);
  /* An open-ended stream's total is what came so far: a line each time
     the count doubles instead (line_decile holds the count last shown). */
  if (p->open_ended) decile = done >= 2 * p->line_decile ? done : p->line_decile;
  if (decile > p->line_decile || now - p->line_ns >= HEARTBEAT_NS) {
    p->line_decile = decile;
    print_line(p, done, failed, total, false);
  }
}

/* ---- the calls completion.c makes --------------------------------------- */

static void count_for_thread(parc__progress *p, size_t count) {
  if (slot_owner != p->id) {
    unsigned slot = atomic_fetch_add(&p->threads, 1);
    slot_index = slot < PARC__MAX_WORKERS ? slot : PARC__MAX_WORKERS;
    slot_owner = p->id;
  }
  atomic_fetch_add_explicit(&p->per_thread[slot_index], count, memory_order_relaxed);
}

void parc__progress_open_ended(parc__progress *p) { p->open_ended = true; }

void parc__progress_update(parc__progress *p, size_t count, size_t done, size_t failed,
                           size_t total) {
  if (p->per_thread) count_for_thread(p, count);
  /* An open-ended stream is never finished for now: more tasks may come. */
  if (done >= total && !p->open_ended) {
    /* All finished for now: take the bar off the screen, so whatever the
       program prints next starts on a clean line. */
    if (!p->tty || !atomic_load_explicit(&p->bar_shown, memory_order_relaxed)) return;
    pthread_mutex_lock(&out_lock);
    catch_up(p, &done, &failed, &total);
    if (bar_owner == p) erase_bar();
    pthread_mutex_unlock(&out_lock);
    return;
  }
  uint64_t now = coarse_ns();
  uint64_t due = atomic_load_explicit(&p->next_ns, memory_order_relaxed);
  if (now < due) return;
  if (!atomic_compare_exchange_strong(&p->next_ns, &due, now + (p->tty ? REDRAW_NS : CHECK_NS)))
    return;
  pthread_mutex_lock(&out_lock);
  catch_up(p, &done, &failed, &total);
  if (done < total || p->open_ended) {
    if (p->tty) draw_bar(p, done, failed, total);
    else maybe_line(p, done, failed, total);
  } else if (bar_owner == p) {
    erase_bar();
  }
  pthread_mutex_unlock(&out_lock);
}

void parc__progress_finish(parc__progress *p, size_t done, size_t failed, size_t total) {
  if (!p) return;
  pthread_mutex_lock(&out_lock);
  catch_up(p, &done, &failed, &total);
  if (bar_owner == p) erase_bar();
  if (total > 0) print_line(p, done, failed, total, true);
  pthread_mutex_unlock(&out_lock);
}

void parc__progress_report(parc__progress *p, const parc_group_info *info) {
  if (!p || p->verbose < 2) return;
  /* Appended to the summary line that finish prints. */
  int n = snprintf(p->stats, sizeof p->stats, " | busy %.3g s of %.3g s wall, %zu cached",
                   info->busy_seconds, info->wall_seconds, info->cached);
  if (info->longest_index != SIZE_MAX && n > 0 && (size_t)n < sizeof p->stats)
    snprintf(p->stats + n, sizeof p->stats - (size_t)n, ", longest task %zu: %.3g s",
             info->longest_index, info->longest_seconds);
}

void parc__progress_destroy(parc__progress *p) {
  if (!p) return;
  pthread_mutex_lock(&out_lock);
  if (bar_owner == p) erase_bar();
  pthread_mutex_unlock(&out_lock);
  parc__free((void *)p->per_thread);
  parc__free(p->label);
  parc__free(p);
}
