/*
 * workloads.c — the seed chapter's two CPU-bound workloads, in C, serial and
 * parallel (parc THREADS, parc PROCESSES, OpenMP), beside the Python peers
 * (bench/peers/workloads.py) in one table of seconds and ratios.
 *
 *  - reaction sweep: dC/dt = -k C, C(0) = 1, to t = 10, for 20,000 k in
 *    linspace(0.01, 2); GSL's gsl_odeiv2 rkf45 with rtol 1e-3, atol 1e-6
 *    (solve_ivp's defaults), one driver per k as a task would; the task's
 *    output is the conversion 1 - C(10).
 *  - Monte Carlo fin: 10^6 samples of h ~ N(50, 5), each the chapter's
 *    fin_tip_temperature(h). Sample i draws from the stream (seed 42, i):
 *    parc_task_rng in a parc task, parc_rng_init(seed, i) in the serial and
 *    OpenMP loops, so every variant must produce the same bits — checked.
 *
 * Every C variant runs the same function on the same records. OpenMP uses
 * schedule(dynamic) for the sweep (a larger k takes more steps) and
 * schedule(static) for the Monte Carlo (every sample costs the same); parc
 * uses automatic batching for both. Each measurement runs in a fresh child
 * process (bench_util.h), interleaved, median of the repeats.
 *
 * Usage: bench_workloads [--quick] [--repeats N] [--workers N] [--peers FILE]
 *                        [--only W:V,...]
 *   --only  runs only these, W in reaction|fin, V in serial|threads|processes|
 *           openmp (e.g. reaction:threads): for profiling one under perf.
 */
#include "bench_util.h"
#include "parc.h"

#include <gsl/gsl_errno.h>
#include <gsl/gsl_odeiv2.h>
#include <inttypes.h>
#include <stdbool.h>

#define MC_SEED 42

/* ---- the two task functions ---------------------------------------------- */

static int reaction_rhs(double t, const double y[], double dydt[], void *params) {
  (void)t;
  dydt[0] = -*(const double *)params * y[0];
  return GSL_SUCCESS;
}

/* Final conversion of a first-order reaction with rate constant k; NAN when
   the solver fails. */
static double reaction_conversion(double k) {
  gsl_odeiv2_system sys = {reaction_rhs, NULL, 1, &k};
  gsl_odeiv2_driver *d = gsl_odeiv2_driver_alloc_y_new(&sys, gsl_odeiv2_step_rkf45, 1e-6, 1e-6,
                                                       1e-3);
  if (!d) return NAN;
  double t = 0, y[1] = {1.0};
  int status = gsl_odeiv2_driver_apply(d, &t, 10.0, y);
  gsl_odeiv2_driver_free(d);
  return status == GSL_SUCCESS ? 1.0 - y[0] : NAN;
}

static int reaction_task(const void *in, void *out, parc_task *t) {
  double k, x;
  memcpy(&k, in, sizeof k);
  x = reaction_conversion(k);
  memcpy(out, &x, sizeof x);
  return isnan(x) ? parc_fail(t, "solver failed for k = %g", k) : 0;
}

static double fin_tip_temperature(double h) {
  const double T0 = 100, T_inf = 25, L = 0.1, k = 200, P = 0.04, A = 1e-4;
  double m = sqrt(h * P / (k * A));
  return T_inf + (T0 - T_inf) / cosh(m * L);
}

static double fin_sample(parc_rng *r) { return fin_tip_temperature(parc_rng_normal(r, 50, 5)); }

static int fin_task(const void *in, void *out, parc_task *t) {
  (void)in;
  double T = fin_sample(parc_task_rng(t));
  memcpy(out, &T, sizeof T);
  return 0;
}

/* ---- variants ------------------------------------------------------------ */

typedef enum { W_REACTION, W_FIN } workload;
typedef enum { V_SERIAL, V_THREADS, V_PROCESSES, V_OPENMP, NVARIANTS } variant;

static const char *workload_key[2] = {"reaction", "fin"};
static const char *variant_key[NVARIANTS] = {"serial", "threads", "processes", "openmp"};
static const char *variant_label[NVARIANTS] = {
    "C serial", "parc THREADS, batch auto", "parc PROCESSES, batch auto", "OpenMP"};

typedef struct run_spec {
  workload w;
  variant v;
  size_t n;
} run_spec;

static int g_workers;

/* FNV-1a over the outputs' bytes: equal bits give equal hashes. */
static uint64_t hash_bytes(const void *p, size_t size) {
  const unsigned char *b = p;
  uint64_t h = 0xcbf29ce484222325u;
  for (size_t i = 0; i < size; i++) h = (h ^ b[i]) * 0x100000001b3u;
  return h;
}

/* One map of the first n records of the workload on pool. */
static int map_workload(parc_pool *pool, workload w, size_t n, const double *in, double *out) {
  parc_options opt = {.seed = MC_SEED};
  if (w == W_REACTION)
    return parc_map(pool, reaction_task, in, sizeof in[0], out, sizeof out[0], n, &opt, NULL);
  return parc_map(pool, fin_task, NULL, 0, out, sizeof out[0], n, &opt, NULL);
}

static bench_result run_parc(const run_spec *s, parc_backend backend, const double *in,
                             double *out) {
  bench_result r = BENCH_NO_RESULT;
  parc_config cfg;
  parc_config_default(&cfg);
  cfg.backend = backend;
  cfg.workers = g_workers;
  parc_pool *pool;
  int rc = parc_pool_create(&pool, &cfg);
  if (rc) {
    snprintf(r.note, sizeof r.note, "%s%s", rc == PARC_EBACKEND ? "not built: " : "",
             parc_errmsg());
    return r;
  }
  /* Warm up as OpenMP and the Python pools are: workers running before the
     clock starts. The timed run overwrites these outputs. */
  rc = map_workload(pool, s->w, s->n < 64 ? s->n : 64, in, out);
  double cpu = bench_cpu_seconds();
  uint64_t start = bench_now_ns();
  if (rc == PARC_OK) rc = map_workload(pool, s->w, s->n, in, out);
  r.value = (double)(bench_now_ns() - start) * 1e-9;
  /* Worker processes' CPU time is not this process's: counted for threads only. */
  if (backend == PARC_THREADS) r.cpu = bench_cpu_seconds() - cpu;
  parc_pool_destroy(pool);
  if (rc) {
    r.value = NAN;
    snprintf(r.note, sizeof r.note, "parc_map: %s", parc_errmsg());
  }
  return r;
}

static bench_result run_variant(const void *arg) {
  const run_spec *s = arg;
  bench_result r = BENCH_NO_RESULT;
  double *in = malloc(s->n * sizeof *in), *out = malloc(s->n * sizeof *out);
  if (out) memset(out, 0, s->n * sizeof *out);   /* fault the pages in before the clock */
  if (!in || !out) {
    free(in);
    free(out);
    snprintf(r.note, sizeof r.note, "out of memory");
    return r;
  }
  for (size_t i = 0; i < s->n; i++) in[i] = 0.01 + (2.0 - 0.01) * (double)i / (double)(s->n - 1);
  double cpu = bench_cpu_seconds();
  uint64_t start = bench_now_ns();
  switch (s->v) {
    case V_SERIAL:
      if (s->w == W_REACTION) {
        for (size_t i = 0; i < s->n; i++) out[i] = reaction_conversion(in[i]);
      } else {
        for (size_t i = 0; i < s->n; i++) {
          parc_rng rng;
          parc_rng_init(&rng, MC_SEED, i);
          out[i] = fin_sample(&rng);
        }
      }
      r.value = (double)(bench_now_ns() - start) * 1e-9;
      r.cpu = bench_cpu_seconds() - cpu;
      break;
    case V_THREADS: r = run_parc(s, PARC_THREADS, in, out); break;
    case V_PROCESSES: r = run_parc(s, PARC_PROCESSES, in, out); break;
    case V_OPENMP:
#ifdef _OPENMP
    {
      size_t n = s->n;
#pragma omp parallel num_threads(g_workers)
      { (void)0; }   /* start the team before the clock */
      cpu = bench_cpu_seconds();
      start = bench_now_ns();
      if (s->w == W_REACTION) {
#pragma omp parallel for schedule(dynamic) num_threads(g_workers)
        for (size_t i = 0; i < n; i++) out[i] = reaction_conversion(in[i]);
      } else {
#pragma omp parallel for schedule(static) num_threads(g_workers)
        for (size_t i = 0; i < n; i++) {
          parc_rng rng;
          parc_rng_init(&rng, MC_SEED, i);
          out[i] = fin_sample(&rng);
        }
      }
      r.value = (double)(bench_now_ns() - start) * 1e-9;
      r.cpu = bench_cpu_seconds() - cpu;
    }
#else
      snprintf(r.note, sizeof r.note, "not built: no OpenMP compiler support");
#endif
      break;
    default: break;
  }
  if (isfinite(r.value)) {
    double sum = 0;
    for (size_t i = 0; i < s->n; i++) sum += out[i];
    r.check = sum / (double)s->n;
    snprintf(r.note, sizeof r.note, "%016" PRIx64, hash_bytes(out, s->n * sizeof *out));
  }
  free(in);
  free(out);
  return r;
}

/* ---- the table ----------------------------------------------------------- */

typedef struct row {
  char label[112];
  double seconds;
  double cpu;         /* CPU seconds of the measured part; NAN: not measured */
  double check;
  char hash[32];      /* C rows: hash of the outputs; "" for peers */
  char note[200];
  double n;
} row;

static void print_table(const char *title, const char *check_name, row *rows, int nrows,
                        double serial) {
  printf("%s\n", title);
  printf("  %-64s %9s %7s %11s %9s %12s\n", "what", "seconds", "CPU s", "vs serial C", "speedup",
         check_name);
  for (int i = 0; i < nrows; i++) {
    row *w = &rows[i];
    if (!isfinite(w->seconds)) {
      printf("  %-64s %9s %7s %11s %9s %12s  %s\n", w->label, "-", "-", "-", "-", "-", w->note);
      continue;
    }
    const char *bits = "";
    if (w->hash[0] && rows[0].hash[0])
      bits = strcmp(w->hash, rows[0].hash) == 0 ? "  same bits as serial C"
                                                 : "  DIFFERENT bits from serial C";
    char cpu[16] = "-";
    if (isfinite(w->cpu)) snprintf(cpu, sizeof cpu, "%.3f", w->cpu);
    printf("  %-64s %9.3f %7s %10.2fx %8.2fx %12.6f%s\n", w->label, w->seconds, cpu,
           w->seconds / serial, serial / w->seconds, w->check, bits);
  }
}

int main(int argc, char **argv) {
  bench_args args = {.repeats = 3, .workers = parc_cpu_count()};
  if (!bench_parse_args(argc, argv, &args, "W:V,...")) return 2;
  int repeats = args.repeats;
  bool quick = args.quick;
  const char *peers_path = args.peers_path;
  const char *only = args.only;
  g_workers = args.workers;
  if (repeats > 32) repeats = 32;
  gsl_set_error_handler_off();
  size_t sizes[2] = {quick ? 2000 : 20000, quick ? 100000 : 1000000};

  row rows[2][NVARIANTS + 16];
  int nrows[2] = {0, 0};
  static double values[2][NVARIANTS][32], cpus[2][NVARIANTS][32];
  for (int r = 0; r < repeats; r++) {
    for (int w = 0; w < 2; w++) {
      for (int v = 0; v < NVARIANTS; v++) {
        row *out = &rows[w][v];
        char key[64];
        snprintf(key, sizeof key, "%s:%s", workload_key[w], variant_key[v]);
        bool skip = !bench_selected(only, key);
        if (skip || (r > 0 && strncmp(out->note, "not built", 9) == 0)) {
          values[w][v][r] = cpus[w][v][r] = NAN;
          if (skip && r == 0) {
            memset(out, 0, sizeof *out);
            snprintf(out->label, sizeof out->label, "%s", variant_label[v]);
            snprintf(out->note, sizeof out->note, "not run (--only)");
          }
          continue;
        }
        run_spec spec = {(workload)w, (variant)v, sizes[w]};
        bench_result res = bench_in_child(run_variant, &spec, 300);
        values[w][v][r] = res.value;
        cpus[w][v][r] = res.cpu;
        if (r == 0) {
          memset(out, 0, sizeof *out);
          snprintf(out->label, sizeof out->label, "%s", variant_label[v]);
          if (v == V_OPENMP)
            snprintf(out->label, sizeof out->label, "OpenMP, %s",
                     w == W_REACTION ? "schedule(dynamic)" : "schedule(static)");
          out->check = res.check;
          out->n = (double)sizes[w];
          if (isfinite(res.value)) snprintf(out->hash, sizeof out->hash, "%.16s", res.note);
          else snprintf(out->note, sizeof out->note, "%s", res.note);
        }
      }
    }
  }
  for (int w = 0; w < 2; w++) {
    for (int v = 0; v < NVARIANTS; v++) {
      rows[w][v].seconds = bench_median(values[w][v], repeats);
      rows[w][v].cpu = bench_median(cpus[w][v], repeats);
    }
    nrows[w] = NVARIANTS;
  }

  bench_peer peers[32];
  int npeers = bench_read_peers(peers_path, peers, 32);
  for (int i = 0; i < npeers; i++) {
    int w = strncmp(peers[i].key, "reaction", 8) == 0 ? 0 : strncmp(peers[i].key, "fin", 3) == 0 ? 1 : -1;
    if (w < 0 || nrows[w] >= NVARIANTS + 16) continue;
    row *out = &rows[w][nrows[w]++];
    memset(out, 0, sizeof *out);
    snprintf(out->label, sizeof out->label, "Python %s", peers[i].label);
    out->seconds = peers[i].value;
    out->cpu = NAN;
    out->check = peers[i].extra;
    if (!isfinite(out->seconds)) snprintf(out->note, sizeof out->note, "failed");
  }

  printf("bench/workloads: %d workers; C rows: median of %d runs, each in a fresh process%s\n\n",
         g_workers, repeats, quick ? " (--quick: 1/10 of the work)" : "");
  char title[256];
  snprintf(title, sizeof title,
           "Reaction sweep: %zu k in [0.01, 2], dC/dt = -kC to t = 10, rkf45 rtol 1e-3 atol 1e-6",
           sizes[0]);
  print_table(title, "mean X", rows[0], nrows[0], rows[0][V_SERIAL].seconds);
  snprintf(title, sizeof title,
           "\nMonte Carlo fin tip temperature: %zu samples of h ~ N(50, 5)", sizes[1]);
  print_table(title, "mean T", rows[1], nrows[1], rows[1][V_SERIAL].seconds);

  double share = rows[0][V_SERIAL].cpu / rows[0][V_SERIAL].seconds;
  if (isfinite(share) && share < 0.9)
    printf("\n  Warning: the serial C run got only %.0f%% of a CPU (CPU s / seconds): the machine is\n"
           "  busy, so wall-clock speedups understate parc. CPU s shows the work each variant did;\n"
           "  rerun on an idle machine for the targets.\n",
           100 * share);
  printf("\n  %-58s %10s  %-10s %s\n", "targets", "measured", "target", "verdict");
  const char *names[2] = {"reaction sweep", "Monte Carlo"};
  for (int w = 0; w < 2; w++) {
    double speedup = rows[w][V_SERIAL].seconds / rows[w][V_THREADS].seconds;
    char what[96];
    snprintf(what, sizeof what, "%s: parc THREADS speedup over serial C", names[w]);
    printf("  %-58s %9.2fx  %-10s %s\n", what, speedup, ">= 1.8x",
           !isfinite(speedup) ? "n/a" : speedup >= 1.8 ? "met" : "MISSED");
  }
  return 0;
}
