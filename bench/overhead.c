/*
 * overhead.c — what one task costs to dispatch, by backend, against OpenMP,
 * a plain mutex-queue pool, fork-per-task and Python's pools; and how well
 * automatic batching balances uneven tasks. One run, one table, the ratios
 * computed from the numbers printed beside them.
 *
 * Fairness. Every C row calls the same task function (copy one 8-byte
 * record) through the same function pointer, loaded from a volatile so no
 * compiler can inline it, on the same in/out arrays: the OpenMP loops call
 * fn(&in[i], &out[i], NULL) exactly as a parc worker calls fn(in, out, t).
 * The arrays are allocated and touched before the clock starts, pools and
 * OpenMP threads are started and warmed up before it too: a row measures
 * dispatch, not page faults or thread creation. Each measurement runs in a
 * fresh child process (bench_util.h says why), the cases are interleaved
 * repeat by repeat so slow drifts of a noisy machine hit them all alike,
 * and each row is the median of the repeats. ns/task is wall time divided
 * by tasks, with every worker busy: a throughput cost, not CPU time.
 *
 * Usage: bench_overhead [--quick] [--repeats N] [--workers N] [--peers FILE]
 *                       [--only KEY,KEY...]
 *   --peers FILE  merges Python results (bench/peers/empty_tasks.py) into
 *                 the table.
 *   --only KEYS   runs only these cases (keys as in `cases` below, e.g.
 *                 threads_b1): for profiling one, e.g. under perf record.
 */
#include "bench_util.h"
#include "mutex_pool.h"
#include "parc.h"

#include <stdbool.h>
#include <sys/mman.h>

#ifdef _OPENMP
#include <omp.h>
#endif

/* ---- the tasks ----------------------------------------------------------- */

static int empty_task(const void *in, void *out, parc_task *t) {
  (void)t;
  memcpy(out, in, sizeof(uint64_t));
  return 0;
}

/* Spins for *in nanoseconds of wall time; writes how long it really took.
   Wall time, not a loop count: a preempted task still ends on time, so the
   ideal makespan is known exactly. */
static int spin_task(const void *in, void *out, parc_task *t) {
  (void)t;
  uint64_t want;
  memcpy(&want, in, sizeof want);
  uint64_t start = bench_now_ns(), now;
  do now = bench_now_ns();
  while (now - start < want);
  uint64_t took = now - start;
  memcpy(out, &took, sizeof took);
  return 0;
}

static parc_fn volatile empty_fn = empty_task;
static parc_fn volatile spin_fn = spin_task;

/* parc_shared_alloc comes with the process backend; declared weak here so
   that this file also builds and runs against a libparc without it. */
extern void *parc_shared_alloc(size_t size) __attribute__((weak));
extern void parc_shared_free(void *p) __attribute__((weak));

/* ---- cases --------------------------------------------------------------- */

typedef enum {
  K_SERIAL, K_OMP_STATIC, K_OMP_DYNAMIC, K_THREADS, K_SUBMIT, K_MUTEX, K_PROCESSES, K_FORK,
  K_LB_PARC, K_LB_OMP
} kind;

typedef struct bench_case {
  const char *key;
  const char *label;
  kind kind;
  size_t n;
  size_t batch;
  bool balance;       /* load-balance table: value is makespan / ideal */
  bool arrays_first;  /* allocate and fill the arrays before the pool is made */
  bool shared;        /* arrays from parc_shared_alloc: workers use them in place */
} bench_case;

static int g_workers;

/* n records, every page written (so no page fault lands on the clock):
   distinct values for inputs, zeros for outputs. */
static uint64_t *fill_records(uint64_t *a, size_t n, bool fill) {
  if (!a) return NULL;
  for (size_t i = 0; i < n; i++) a[i] = fill ? i * 2654435761u : 0;
  return a;
}

static uint64_t *records(size_t n, bool fill) {
  return fill_records(malloc((n ? n : 1) * sizeof(uint64_t)), n, fill);
}

static uint64_t *shared_records(size_t n, bool fill) {
  if (!parc_shared_alloc) return NULL;
  return fill_records(parc_shared_alloc((n ? n : 1) * sizeof(uint64_t)), n, fill);
}

static bench_result fail_result(const char *fmt, const char *detail) {
  bench_result r = BENCH_NO_RESULT;
  snprintf(r.note, sizeof r.note, fmt, detail);
  return r;
}

/* The clock of one measurement: wall time, and CPU time of every thread of
   this process (worker processes of PARC_PROCESSES are not counted). */
typedef struct stopwatch {
  uint64_t ns;
  double cpu;
} stopwatch;

static stopwatch watch_start(void) {
  stopwatch w = {0, bench_cpu_seconds()};
  w.ns = bench_now_ns();
  return w;
}

static stopwatch watch_stop(stopwatch w) {
  stopwatch d;
  d.ns = bench_now_ns() - w.ns;
  d.cpu = bench_cpu_seconds() - w.cpu;
  return d;
}

/* ns per task (value), wall seconds (check), CPU seconds (cpu), after
   checking every output. */
static bench_result per_task(stopwatch took, size_t n, const uint64_t *in, const uint64_t *out) {
  for (size_t i = 0; i < n; i++)
    if (out[i] != in[i]) return fail_result("wrong output%s", "");
  bench_result r = {(double)took.ns / (double)n, (double)took.ns * 1e-9, took.cpu, ""};
  return r;
}

static int make_pool(parc_pool **pool, parc_backend backend) {
  parc_config cfg;
  parc_config_default(&cfg);
  cfg.backend = backend;
  cfg.workers = g_workers;
  return parc_pool_create(pool, &cfg);
}

static bench_result run_omp(const bench_case *c, const uint64_t *in, uint64_t *out) {
#ifdef _OPENMP
  parc_fn fn = empty_fn;
  size_t n = c->n;
  long failures = 0;
#pragma omp parallel num_threads(g_workers)
  { (void)0; }   /* start the team before the clock */
  stopwatch w = watch_start();
  if (c->kind == K_OMP_STATIC) {
#pragma omp parallel for schedule(static) num_threads(g_workers) reduction(+ : failures)
    for (size_t i = 0; i < n; i++)
      if (fn(&in[i], &out[i], NULL)) failures++;
  } else {
#pragma omp parallel for schedule(dynamic, 1) num_threads(g_workers) reduction(+ : failures)
    for (size_t i = 0; i < n; i++)
      if (fn(&in[i], &out[i], NULL)) failures++;
  }
  stopwatch took = watch_stop(w);
  if (failures) return fail_result("task failed%s", "");
  return per_task(took, n, in, out);
#else
  (void)c, (void)in, (void)out;
  return fail_result("not built: %s", "no OpenMP compiler support");
#endif
}

/* A parc_map of empty tasks. The pool is made before the arrays unless
   arrays_first: a PROCESSES pool forks its helper from this process, which
   then shares every page it had copy-on-write, and the first write to each
   such page afterwards costs a page copy (a cost users meet too, so the
   arrays_first row shows it apart, on the first map). */
static bench_result run_parc(const bench_case *c, parc_backend backend) {
  uint64_t *in = NULL, *out = NULL;
  if (c->arrays_first) {
    in = records(c->n, true);
    out = records(c->n, false);
  }
  parc_pool *pool;
  int rc = make_pool(&pool, backend);
  if (rc) {
    free(in);
    free(out);
    return fail_result(rc == PARC_EBACKEND ? "not built: %s" : "parc_pool_create: %s",
                       parc_errmsg());
  }
  if (c->shared) {
    in = shared_records(c->n, true);
    out = shared_records(c->n, false);
  } else if (!c->arrays_first) {
    in = records(c->n, true);
    out = records(c->n, false);
  }
  bench_result r = fail_result("out of memory%s", "");
  if (c->shared && !parc_shared_alloc) r = fail_result("not built: %s", "no parc_shared_alloc");
  if (in && out) {
    parc_options opt = {.batch = c->batch};
    parc_fn fn = empty_fn;
    /* Batched rows measure the steady state: a first full map has faulted
       in every page in every worker (costly in a VM, and paid once). The
       COW row measures that first map; batch-1 rows warm up on a part. */
    size_t warm = c->n < 10000 ? c->n : 10000;
    if (c->batch != 1 && !c->arrays_first) warm = c->n;
    rc = parc_map(pool, fn, in, sizeof in[0], out, sizeof out[0], warm, &opt, NULL);
    stopwatch w = watch_start();
    if (rc == PARC_OK)
      rc = parc_map(pool, fn, in, sizeof in[0], out, sizeof out[0], c->n, &opt, NULL);
    stopwatch took = watch_stop(w);
    if (backend == PARC_PROCESSES) took.cpu = NAN;   /* workers' CPU is not ours */
    r = rc ? fail_result("parc_map: %s", parc_errmsg()) : per_task(took, c->n, in, out);
  }
  parc_pool_destroy(pool);
  if (c->shared && parc_shared_free) {
    parc_shared_free(in);
    parc_shared_free(out);
  } else if (!c->shared) {
    free(in);
    free(out);
  }
  return r;
}

/* Task by task through parc_group_submit, the way one submits futures. */
static bench_result run_submit(const bench_case *c, const uint64_t *in, uint64_t *out) {
  parc_pool *pool;
  int rc = make_pool(&pool, PARC_THREADS);
  if (rc) return fail_result("parc_pool_create: %s", parc_errmsg());
  parc_options opt = {.batch = c->batch};
  parc_fn fn = empty_fn;
  parc_group *g = NULL;
  stopwatch w = watch_start();
  rc = parc_group_create(&g, pool, &opt);
  for (size_t i = 0; rc == PARC_OK && i < c->n; i++)
    rc = parc_group_submit(g, fn, &in[i], sizeof in[i], &out[i], sizeof out[i], NULL);
  if (rc == PARC_OK) rc = parc_group_wait(g, -1);
  stopwatch took = watch_stop(w);
  parc_group_destroy(g);
  parc_pool_destroy(pool);
  if (rc) return fail_result("parc_group_submit: %s", parc_errmsg());
  return per_task(took, c->n, in, out);
}

static bench_result run_mutex(const bench_case *c, const uint64_t *in, uint64_t *out) {
  mutex_pool *p = mutex_pool_create(g_workers);
  if (!p) return fail_result("mutex_pool_create failed%s", "");
  parc_fn fn = empty_fn;
  /* Warm up: workers running. */
  for (size_t i = 0; i < c->n && i < 10000; i++) mutex_pool_submit(p, fn, &in[i], &out[i]);
  mutex_pool_wait(p);
  memset(out, 0, c->n * sizeof out[0]);
  stopwatch w = watch_start();
  int rc = 0;
  for (size_t i = 0; i < c->n && rc == 0; i++) rc = mutex_pool_submit(p, fn, &in[i], &out[i]);
  mutex_pool_wait(p);
  stopwatch took = watch_stop(w);
  mutex_pool_destroy(p);
  if (rc) return fail_result("mutex_pool_submit: out of memory%s", "");
  return per_task(took, c->n, in, out);
}

/* One forked child per task, up to `workers` alive at once; outputs come
   back through a shared mapping. */
static bench_result run_fork(const bench_case *c, const uint64_t *in) {
  uint64_t *out = mmap(NULL, c->n * sizeof *out, PROT_READ | PROT_WRITE,
                       MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  if (out == MAP_FAILED) return fail_result("mmap: %s", strerror(errno));
  parc_fn fn = empty_fn;
  stopwatch w = watch_start();
  size_t launched = 0, reaped = 0;
  bool failed = false;
  while (reaped < c->n && !failed) {
    while (launched < c->n && launched - reaped < (size_t)g_workers) {
      pid_t pid = fork();
      if (pid == 0) _exit(fn(&in[launched], &out[launched], NULL) ? 1 : 0);
      if (pid < 0) {
        failed = true;
        break;
      }
      launched++;
    }
    int status;
    if (waitpid(-1, &status, 0) < 0) break;
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) failed = true;
    reaped++;
  }
  while (reaped < launched && waitpid(-1, NULL, 0) > 0) reaped++;
  stopwatch took = watch_stop(w);
  took.cpu = NAN;   /* the children's CPU is not ours */
  bench_result r = failed ? fail_result("fork per task failed%s", "") : per_task(took, c->n, in, out);
  munmap(out, c->n * sizeof *out);
  return r;
}

static bench_result run_empty_case(const void *arg) {
  const bench_case *c = arg;
  if (c->kind == K_THREADS) return run_parc(c, PARC_THREADS);
  if (c->kind == K_PROCESSES) return run_parc(c, PARC_PROCESSES);
  if (c->kind == K_FORK) {
    uint64_t *in = records(c->n, true);
    if (!in) return fail_result("out of memory%s", "");
    bench_result r = run_fork(c, in);
    free(in);
    return r;
  }
  uint64_t *in = records(c->n, true), *out = records(c->n, false);
  bench_result r = fail_result("out of memory%s", "");
  if (in && out) {
    switch (c->kind) {
      case K_SERIAL: {
        parc_fn fn = empty_fn;
        stopwatch w = watch_start();
        long failures = 0;
        for (size_t i = 0; i < c->n; i++)
          if (fn(&in[i], &out[i], NULL)) failures++;
        stopwatch took = watch_stop(w);
        r = failures ? fail_result("task failed%s", "") : per_task(took, c->n, in, out);
        break;
      }
      case K_OMP_STATIC:
      case K_OMP_DYNAMIC: r = run_omp(c, in, out); break;
      case K_SUBMIT: r = run_submit(c, in, out); break;
      case K_MUTEX: r = run_mutex(c, in, out); break;
      default: break;
    }
  }
  free(in);
  free(out);
  return r;
}

/* ---- load balance -------------------------------------------------------- */

/* Durations 10 us .. 1 ms, evenly spread, in a fixed pseudo-random order. */
static void uneven_durations(uint64_t *d, size_t n) {
  for (size_t i = 0; i < n; i++) d[i] = 10000 + (990000 * i) / (n > 1 ? n - 1 : 1);
  uint64_t x = 0x9E3779B97F4A7C15u;
  for (size_t i = n; i > 1; i--) {
    x ^= x << 13, x ^= x >> 7, x ^= x << 17;   /* xorshift64 */
    size_t j = (size_t)(x % i);
    uint64_t tmp = d[i - 1];
    d[i - 1] = d[j];
    d[j] = tmp;
  }
}

static bench_result run_balance_case(const void *arg) {
  const bench_case *c = arg;
  uint64_t *in = records(c->n, false), *took = records(c->n, false);
  if (!in || !took) {
    free(in);
    free(took);
    return fail_result("out of memory%s", "");
  }
  uneven_durations(in, c->n);
  parc_fn fn = spin_fn;
  uint64_t makespan = 0;
  int rc = PARC_OK;
  if (c->kind == K_LB_PARC) {
    parc_pool *pool;
    rc = make_pool(&pool, PARC_THREADS);
    if (rc == PARC_OK) {
      parc_options opt = {.batch = c->batch};
      uint64_t start = bench_now_ns();
      rc = parc_map(pool, fn, in, sizeof in[0], took, sizeof took[0], c->n, &opt, NULL);
      makespan = bench_now_ns() - start;
      parc_pool_destroy(pool);
    }
  } else {
#ifdef _OPENMP
#pragma omp parallel num_threads(g_workers)
    { (void)0; }
    uint64_t start = bench_now_ns();
#pragma omp parallel for schedule(dynamic, 1) num_threads(g_workers)
    for (size_t i = 0; i < c->n; i++) fn(&in[i], &took[i], NULL);
    makespan = bench_now_ns() - start;
#else
    rc = PARC_EBACKEND;
#endif
  }
  bench_result r = BENCH_NO_RESULT;
  if (rc == PARC_OK) {
    uint64_t total = 0, longest = 0;
    for (size_t i = 0; i < c->n; i++) {
      total += took[i];
      if (took[i] > longest) longest = took[i];
    }
    double ideal = (double)total / g_workers;
    if ((double)longest > ideal) ideal = (double)longest;
    r.value = (double)makespan / ideal;
    r.check = ideal * 1e-9;
  } else {
    snprintf(r.note, sizeof r.note, "failed: %s", rc == PARC_EBACKEND ? "no OpenMP" : parc_errmsg());
  }
  free(in);
  free(took);
  return r;
}

/* ---- the run and the tables ---------------------------------------------- */

enum {
  C_SERIAL, C_OMP_STATIC, C_OMP_DYNAMIC, C_AUTO, C_B1, C_SUBMIT, C_MUTEX, C_PROC_B1, C_PROC_AUTO,
  C_PROC_COW, C_PROC_SHARED, C_FORK, C_LB_AUTO, C_LB_B1, C_LB_OMP, NCASES
};

static bench_case cases[NCASES] = {
    [C_SERIAL] = {"serial", "serial loop, 1 core (same fn pointer)", K_SERIAL, 10000000, 0, false,
                  false, false},
    [C_OMP_STATIC] = {"omp_static", "OpenMP schedule(static)", K_OMP_STATIC, 10000000, 0, false,
                      false, false},
    [C_OMP_DYNAMIC] = {"omp_dynamic", "OpenMP schedule(dynamic,1)", K_OMP_DYNAMIC, 10000000, 0,
                       false, false, false},
    [C_AUTO] = {"threads_auto", "parc THREADS batch auto (parc_map)", K_THREADS, 10000000, 0,
                false, false, false},
    [C_B1] = {"threads_b1", "parc THREADS batch 1 (parc_map)", K_THREADS, 1000000, 1, false, false,
              false},
    [C_SUBMIT] = {"threads_submit", "parc THREADS parc_group_submit each", K_SUBMIT, 100000, 0,
                  false, false, false},
    [C_MUTEX] = {"mutex", "mutex-queue pool, fed task by task", K_MUTEX, 1000000, 0, false, false,
                 false},
    [C_PROC_B1] = {"proc_b1", "parc PROCESSES batch 1 (parc_map)", K_PROCESSES, 100000, 1, false,
                   false, false},
    [C_PROC_AUTO] = {"proc_auto", "parc PROCESSES batch auto (parc_map)", K_PROCESSES, 10000000, 0,
                     false, false, false},
    [C_PROC_COW] = {"proc_auto_cow", "  batch auto, first map, arrays made before pool",
                    K_PROCESSES, 1000000, 0, false, true, false},
    [C_PROC_SHARED] = {"proc_auto_shared", "  batch auto, arrays in parc_shared_alloc",
                       K_PROCESSES, 1000000, 0, false, false, true},
    [C_FORK] = {"fork", "fork + waitpid per task", K_FORK, 100, 0, false, false, false},
    [C_LB_AUTO] = {"lb_auto", "parc THREADS batch auto", K_LB_PARC, 1000, 0, true, false, false},
    [C_LB_B1] = {"lb_b1", "parc THREADS batch 1", K_LB_PARC, 1000, 1, true, false, false},
    [C_LB_OMP] = {"lb_omp", "OpenMP schedule(dynamic,1)", K_LB_OMP, 1000, 0, true, false, false},
};

static double median_of[NCASES];
static double check_of[NCASES];
static double cpu_of[NCASES];   /* CPU ns per task, NAN where not measured */
static char note_of[NCASES][200];

/* 10000000 as "1e7", 200000 as "2e5", 300 as "300". */
static void format_count(char *buf, size_t size, double n) {
  int e = 0;
  double m = n;
  while (m >= 10 && fmod(m, 10) == 0) m /= 10, e++;
  if (n >= 100000 && m < 10) snprintf(buf, size, "%.0fe%d", m, e);
  else snprintf(buf, size, "%.0f", n);
}

static void format_ns(char *buf, size_t size, double ns) {
  if (!isfinite(ns)) snprintf(buf, size, "-");
  else if (ns < 10) snprintf(buf, size, "%.2f", ns);
  else if (ns < 100) snprintf(buf, size, "%.1f", ns);
  else snprintf(buf, size, "%.0f", ns);
}

static void print_row(const char *label, double n, double ns, double cpu_ns, const char *note) {
  char count[32], value[32], cpu[32];
  format_count(count, sizeof count, n);
  format_ns(value, sizeof value, ns);
  format_ns(cpu, sizeof cpu, cpu_ns);
  printf("  %-52s %9s %11s %11s  %s\n", label, count, value, cpu, note);
}

/* One line of the targets table. ratio NAN: a side is missing. */
static int missed;
static void print_target(const char *what, double ratio, const char *unit, const char *target,
                         bool met) {
  char value[32];
  if (isfinite(ratio)) snprintf(value, sizeof value, "%.2f%s", ratio, unit);
  else snprintf(value, sizeof value, "-");
  const char *verdict = !isfinite(ratio) ? "n/a (not measured)" : met ? "met" : "MISSED";
  if (isfinite(ratio) && !met) missed++;
  printf("  %-58s %10s  %-10s %s\n", what, value, target, verdict);
}

int main(int argc, char **argv) {
  bench_args args = {.repeats = 5, .workers = parc_cpu_count()};
  if (!bench_parse_args(argc, argv, &args, "KEY,...")) return 2;
  int repeats = args.repeats;
  bool quick = args.quick;
  const char *peers_path = args.peers_path;
  const char *only = args.only;
  g_workers = args.workers;
  if (quick)
    for (int c = 0; c < NCASES; c++)
      if (!cases[c].balance && cases[c].n >= 100000) cases[c].n /= 10;

  /* Interleaved: repeat r of every case before repeat r + 1 of any. */
  static double values[NCASES][64], checks[NCASES][64], cpus[NCASES][64], shares[64];
  for (int r = 0; r < 64; r++) shares[r] = NAN;
  if (repeats > 64) repeats = 64;
  for (int r = 0; r < repeats; r++) {
    for (int c = 0; c < NCASES; c++) {
      if ((r > 0 && strncmp(note_of[c], "not built", 9) == 0) || !bench_selected(only, cases[c].key)) {
        values[c][r] = checks[c][r] = NAN;
        continue;
      }
      bench_result res = bench_in_child(cases[c].balance ? run_balance_case : run_empty_case,
                                        &cases[c], 300);
      values[c][r] = res.value;
      checks[c][r] = res.check;
      cpus[c][r] = res.cpu * 1e9 / (double)cases[c].n;
      if (c == C_SERIAL) shares[r] = res.cpu / res.check;
      if (res.note[0]) snprintf(note_of[c], sizeof note_of[c], "%s", res.note);
    }
  }
  for (int c = 0; c < NCASES; c++) {
    median_of[c] = bench_median(values[c], repeats);
    check_of[c] = bench_median(checks[c], repeats);
    cpu_of[c] = cases[c].balance ? NAN : bench_median(cpus[c], repeats);
  }
  double share = bench_median(shares, repeats);

  bench_peer peers[32];
  int npeers = bench_read_peers(peers_path, peers, 32);

  printf("bench/overhead: %d workers, median of %d runs, each case in a fresh process%s\n",
         g_workers, repeats, quick ? " (--quick: 1/10 of the tasks)" : "");
  printf("ns/task = wall time / tasks, all workers busy (the targets use it). CPU ns/task =\n"
         "CPU time of this process's threads / tasks, spinning included (a check on a busy\n"
         "machine). C rows call one task (copy an 8-byte record) through the same function\n"
         "pointer on the same arrays.\n\n");
  printf("  %-52s %9s %11s %11s\n", "empty tasks", "tasks", "ns/task", "CPU ns/task");
  for (int c = 0; c < NCASES; c++) {
    if (cases[c].balance || !bench_selected(only, cases[c].key)) continue;
    print_row(cases[c].label, (double)cases[c].n, median_of[c], cpu_of[c],
              isfinite(median_of[c]) ? "" : note_of[c]);
  }
  for (int i = 0; i < npeers; i++) {
    char label[128];
    snprintf(label, sizeof label, "Python %s", peers[i].label);
    print_row(label, peers[i].extra, peers[i].value, NAN, "");
  }

  printf("\n  %-52s %9s %11s %11s\n", "uneven tasks: 1,000 spins of 10 us..1 ms", "ms", "ideal ms",
         "makespan/ideal");
  for (int c = 0; c < NCASES; c++) {
    if (!cases[c].balance || !bench_selected(only, cases[c].key)) continue;
    double ideal_ms = check_of[c] * 1e3;
    printf("  %-52s %9.1f %11.1f %11.3f  %s\n", cases[c].label, median_of[c] * ideal_ms, ideal_ms,
           median_of[c], isfinite(median_of[c]) ? "" : note_of[c]);
  }
  printf("  (ideal = max(total task time / workers, longest task), from the times the tasks "
         "measured)\n");

  double m[NCASES];
  memcpy(m, median_of, sizeof m);
  const bench_peer *ppe1 = bench_find_peer(peers, npeers, "ppe_chunk1");
  double ppe1_ns = ppe1 ? ppe1->value : NAN;
  printf("\n  %-58s %10s  %-10s %s\n", "targets (ratios from the rows above)", "measured", "target",
         "verdict");
  double r;
  r = m[C_OMP_DYNAMIC] / m[C_AUTO];
  print_target("batch auto throughput vs OpenMP dynamic,1 (dyn1 / auto)", r, "x", ">= 1x", r >= 1);
  r = m[C_AUTO] / m[C_OMP_STATIC];
  print_target("batch auto cost vs OpenMP static (auto / static)", r, "x", "<= 2x", r <= 2);
  r = m[C_B1] / m[C_OMP_DYNAMIC];
  print_target("batch 1 cost vs OpenMP dynamic,1 (b1 / dyn1)", r, "x", "<= 2x", r <= 2);
  r = m[C_MUTEX] / m[C_B1];
  print_target("batch 1 vs mutex-queue pool (mutex / b1)", r, "x", ">= 2x", r >= 2);
  r = m[C_LB_AUTO];
  print_target("uneven tasks, batch auto: makespan / ideal", r, "", "<= 1.10", r <= 1.10);
  r = m[C_PROC_B1] / 1000;
  print_target("PROCESSES batch 1 per task", r, " us", "<= 20 us", r <= 20);
  r = ppe1_ns / m[C_PROC_B1];
  print_target("PROCESSES batch 1 vs ProcessPoolExecutor chunksize 1", r, "x", ">= 10x", r >= 10);
  r = m[C_PROC_AUTO] / m[C_AUTO];
  print_target("PROCESSES batch auto vs THREADS batch auto (proc / thr)", r, "x", "<= 3x", r <= 3);
  if (isfinite(share) && share < 0.9)
    printf("\nWarning: the serial loop got only %.0f%% of a CPU while it ran: the machine is busy\n"
           "and every ratio above is suspect. Rerun on an idle machine.\n",
           100 * share);
  printf("\n%s\n", missed ? "Some targets were missed: see bench/README.md for how to read them."
                          : "Every measured target was met.");
  return 0;
}
