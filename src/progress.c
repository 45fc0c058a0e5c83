/*
 * progress.c — what a group with verbose > 0 prints while it runs.
 *
 * Not on a terminal: joblib-like summary lines on stderr,
 *   [parc] sweep: 100/100 done, 0 failed | 0.1 s elapsed | finished
 * at most one every second while running, and one when all are done.
 * Workers call parc__progress_update after each chunk; when nothing is due
 * it costs two atomic loads and no lock.
 */
#include "parc_internal.h"

#include <stdio.h>

struct parc__progress {
  char *label;
  int verbose;
  uint64_t start_ns;
  _Atomic uint64_t next_print_ns;
  _Atomic size_t finished_printed;  /* total last printed as finished, +1 */
  pthread_mutex_t lock;             /* one line at a time */
};

parc__progress *parc__progress_create(const char *label, int verbose) {
  parc__progress *p = parc__calloc(1, sizeof *p);
  if (!p) return NULL;
  p->label = parc__strdup(label);
  if (!p->label) {
    parc__free(p);
    return NULL;
  }
  p->verbose = verbose;
  p->start_ns = parc__now_ns();
  atomic_init(&p->next_print_ns, p->start_ns + 1000000000u);
  pthread_mutex_init(&p->lock, NULL);
  return p;
}

static void print_line(parc__progress *p, size_t done, size_t failed, size_t total, bool final) {
  double elapsed = (double)(parc__now_ns() - p->start_ns) * 1e-9;
  pthread_mutex_lock(&p->lock);
  fprintf(stderr, "[parc] %s: %zu/%zu done, %zu failed | %.1f s elapsed | %s\n", p->label, done,
          total, failed, elapsed, final ? "finished" : "running");
  pthread_mutex_unlock(&p->lock);
}

void parc__progress_update(parc__progress *p, size_t done, size_t failed, size_t total) {
  if (done >= total) {
    size_t printed = atomic_load(&p->finished_printed);
    if (printed != total + 1 &&
        atomic_compare_exchange_strong(&p->finished_printed, &printed, total + 1))
      print_line(p, done, failed, total, true);
    return;
  }
  uint64_t now = parc__now_ns();
  uint64_t due = atomic_load_explicit(&p->next_print_ns, memory_order_relaxed);
  if (now < due) return;
  if (!atomic_compare_exchange_strong(&p->next_print_ns, &due, now + 1000000000u)) return;
  print_line(p, done, failed, total, false);
}

void parc__progress_finish(parc__progress *p, size_t done, size_t failed, size_t total) {
  if (p) parc__progress_update(p, done, failed, total);
}

void parc__progress_destroy(parc__progress *p) {
  if (!p) return;
  pthread_mutex_destroy(&p->lock);
  parc__free(p->label);
  parc__free(p);
}
