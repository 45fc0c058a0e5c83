/*
 * bench/records.c — records of any size and streams (issue 11's targets).
 *
 *   bufs      parc_group_map_bufs over N small records of 8-64 bytes, each
 *             task copying its record into a parc_task_output of the same
 *             size, against parc_map of fixed 64-byte records (the peer,
 *             measured in the same run), on THREADS and PROCESSES: ns per
 *             task and the ratio (targets: 2x on THREADS, 3x on PROCESSES).
 *   stream    M cycles of submit + next (an 8-64 byte result per task, at
 *             most 64 in flight) with opt.stream = 1, against today's loop
 *             (stream = 0, the same tasks): ns per cycle, the ratio (target
 *             1.5x) and the peak RSS of each (target: under 64 MiB).
 *
 * Each measurement runs in a fresh child (bench_util.h); medians of the
 * repeats. Usage: bench_records [--quick] [--repeats N] [--workers N]
 *                               [--tasks N] [--cycles M]
 */
#include <parc.h>

#include "bench_util.h"

typedef struct bench_case {
  parc_backend backend;
  int workers;
  size_t n;
  bool bufs;      /* map_bufs (else parc_map of fixed records) */
  bool stream;    /* the stream case: stream flag */
  bool streaming; /* a submit + next loop instead of a map */
} bench_case;

static size_t record_size(size_t i) { return 8 + (i * 7919) % 57; }

static int copy_fixed(const void *in, void *out, parc_task *t) {
  (void)t;
  memcpy(out, in, 64);
  return 0;
}

static int copy_variable(const void *in, void *out, parc_task *t) {
  (void)out;
  size_t n = parc_task_input_size(t);
  void *o = parc_task_output(t, n);
  if (!o) return 1;
  memcpy(o, in, n);
  return 0;
}

/* c's pool, or NULL with the reason in r's note. */
static parc_pool *make_pool(const bench_case *c, bench_result *r) {
  parc_config cfg;
  parc_config_default(&cfg);
  cfg.backend = c->backend;
  cfg.workers = c->workers;
  cfg.verbose = 0;
  parc_pool *pool = NULL;
  if (parc_pool_create(&pool, &cfg) == PARC_OK) return pool;
  snprintf(r->note, sizeof r->note, "pool: %s", parc_errmsg());
  return NULL;
}

static bench_result run_map(const void *arg) {
  const bench_case *c = arg;
  bench_result r = BENCH_NO_RESULT;
  parc_pool *pool = make_pool(c, &r);
  if (!pool) return r;
  size_t n = c->n;
  char *data = malloc(n * 64), *out = c->bufs ? NULL : malloc(n * 64);
  parc_buf *in = c->bufs ? malloc(n * sizeof *in) : NULL;
  for (size_t i = 0; i < n * 64; i++) data[i] = (char)(i * 131);
  for (size_t i = 0; c->bufs && i < n; i++) in[i] = (parc_buf){data + i * 64, record_size(i)};
  /* Workers started and warm before the clock, as in bench_overhead. */
  parc_map(pool, copy_fixed, data, 64, out ? out : data, 64, n < 1000 ? n : 1000, NULL, NULL);
  /* Twice, the second timed: the steady state of a program that maps
     again and again, whose results' memory (the fixed case's out array,
     the variable case's table and chunks, freed with the first group) is
     no longer fresh from the kernel. */
  int rc = PARC_OK;
  double sum = 0;
  uint64_t t0 = 0;
  for (int round = 0; round < 2 && rc == PARC_OK; round++) {
    parc_group *g = NULL;
    t0 = bench_now_ns();
    if (c->bufs) {
      rc = parc_group_create(&g, pool, NULL);
      if (rc == PARC_OK) rc = parc_group_map_bufs(g, copy_variable, in, n);
      if (rc == PARC_OK) rc = parc_group_wait(g, -1);
    } else {
      rc = parc_map(pool, copy_fixed, data, 64, out, 64, n, NULL, NULL);
    }
    sum = 0;
    for (size_t i = 0; rc == PARC_OK && i < n; i += 997) {
      size_t size = 64;
      const char *o = c->bufs ? parc_group_output(g, i, &size) : out + i * 64;
      sum += o ? (double)(unsigned char)o[size - 1] : -1e9;
    }
    /* The results' release is part of a map of variable records. */
    parc_group_destroy(g);
  }
  uint64_t t2 = bench_now_ns();
  if (rc == PARC_OK) r.value = (double)(t2 - t0) / (double)n, r.check = sum;
  else snprintf(r.note, sizeof r.note, "failed: %s", parc_errmsg());
  free(data), free(out), free(in);
  parc_pool_destroy(pool);
  return r;
}

static long peak_rss_kib(void) {
  FILE *f = fopen("/proc/self/status", "r");
  long kib = -1;
  char line[256];
  while (f && fgets(line, sizeof line, f))
    if (sscanf(line, "VmHWM: %ld kB", &kib) == 1) break;
  if (f) fclose(f);
  return kib;
}

static bench_result run_stream(const void *arg) {
  const bench_case *c = arg;
  bench_result r = BENCH_NO_RESULT;
  parc_pool *pool = make_pool(c, &r);
  if (!pool) return r;
  char record[64];
  memset(record, 7, sizeof record);
  parc_options opt = {.stream = c->stream, .total = c->n};
  parc_group *g;
  if (parc_group_create(&g, pool, &opt) != PARC_OK) return r;
  size_t taken = 0;
  double sum = 0;
  uint64_t t0 = bench_now_ns();
  for (size_t i = 0; i < c->n; i++) {
    if (parc_group_submit(g, copy_variable, record, record_size(i), NULL, 0, NULL) != PARC_OK) break;
    while (parc_group_pending(g) >= 64 || (i + 1 == c->n && taken < c->n)) {
      size_t index, size;
      if (parc_group_next(g, -1, &index) != PARC_OK) break;
      const char *o = parc_group_output(g, index, &size);
      sum += o ? (double)size : -1e9;
      taken++;
    }
  }
  uint64_t t1 = bench_now_ns();
  if (taken == c->n) {
    r.value = (double)(t1 - t0) / (double)c->n;
    r.check = sum;
  }
  r.cpu = (double)peak_rss_kib() / 1024.0;   /* peak RSS, MiB */
  parc_group_destroy(g);
  parc_pool_destroy(pool);
  return r;
}

static double median_of(bench_case_fn fn, const bench_case *c, int repeats, double *rss) {
  double v[32], m[32];
  if (repeats > 32) repeats = 32;
  for (int i = 0; i < repeats; i++) {
    bench_result r = bench_in_child(fn, c, 600);
    v[i] = r.value;
    m[i] = r.cpu;
    if (!isfinite(r.value) && r.note[0]) fprintf(stderr, "  (%s)\n", r.note);
  }
  if (rss) *rss = bench_median(m, repeats);
  return bench_median(v, repeats);
}

int main(int argc, char **argv) {
  bool quick = false;
  int repeats = 5, workers = 2;
  size_t tasks = 1000000, cycles = 1000000;
  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "--quick") == 0) quick = true;
    else if (strcmp(argv[i], "--repeats") == 0 && i + 1 < argc) repeats = atoi(argv[++i]);
    else if (strcmp(argv[i], "--workers") == 0 && i + 1 < argc) workers = atoi(argv[++i]);
    else if (strcmp(argv[i], "--tasks") == 0 && i + 1 < argc) tasks = strtoul(argv[++i], NULL, 10);
    else if (strcmp(argv[i], "--cycles") == 0 && i + 1 < argc) cycles = strtoul(argv[++i], NULL, 10);
    else {
      fprintf(stderr, "usage: bench_records [--quick] [--repeats N] [--workers N] [--tasks N] [--cycles M]\n");
      return 2;
    }
  }
  if (quick) repeats = 3, tasks /= 10, cycles /= 10;
  printf("records of any size: %zu tasks, %d workers, median of %d\n", tasks, workers, repeats);
  parc_backend backends[] = {PARC_THREADS, PARC_PROCESSES};
  const char *names[] = {"THREADS", "PROCESSES"};
  for (int b = 0; b < 2; b++) {
    bench_case fixed = {backends[b], workers, tasks, false, false, false};
    bench_case bufs = fixed;
    bufs.bufs = true;
    double f = median_of(run_map, &fixed, repeats, NULL);
    double v = median_of(run_map, &bufs, repeats, NULL);
    printf("  %-9s parc_map fixed 64 B %7.1f ns/task | map_bufs 8-64 B %7.1f ns/task | ratio %.2fx (target %s)\n",
           names[b], f, v, v / f, b == 0 ? "2x" : "3x");
  }
  printf("streams: %zu submit + next cycles, at most 64 in flight, %d workers\n", cycles, workers);
  for (int b = 0; b < 2; b++) {
    size_t m = backends[b] == PARC_PROCESSES ? cycles / 10 : cycles;
    bench_case kept = {backends[b], workers, m, false, false, true};
    bench_case stream = kept;
    stream.stream = true;
    double kept_rss, stream_rss;
    double k = median_of(run_stream, &kept, repeats, &kept_rss);
    double s = median_of(run_stream, &stream, repeats, &stream_rss);
    printf("  %-9s %zu cycles: stream = 0 %7.0f ns/cycle, peak %6.1f MiB | stream = 1 %7.0f ns/cycle, "
           "peak %6.1f MiB | ratio %.2fx (target 1.5x, < 64 MiB)\n",
           names[b], m, k, kept_rss, s, stream_rss, s / k);
  }
  return 0;
}
