/*
 * cache.c — what the result cache costs per task (bench_cache).
 *
 * The workload: 8-byte input, 8-byte output, a trivial body, so the cache's
 * own cost is all there is. For n = 10^4 and 10^6 entries, on a thread pool
 * of every CPU, in a fresh cache directory:
 *   bare        parc_map without a cache (the floor)
 *   miss        every task misses, runs and is stored; the clock includes
 *               parc_cache_close, i.e. the last batch's commit
 *   hit         a new handle, the same map: every task is a hit
 *   hit+lru     the same after the entries were aged by two hours (direct
 *               SQL), so each first hit also rewrites the entry's recency:
 *               what a rerun on another day pays
 *   open        parc_cache_open of the filled cache (quick_check included)
 * and parc_cache_call, the per-call API, against joblib.Memory (the peer
 * rows from bench/peers/joblib_memory.py; joblib keeps a directory per
 * call, so it runs at 10^4 only). Rows are microseconds per task; "added"
 * is the cost over the bare map.
 *
 * Large records (issue 11; also --large alone): 64 tasks, each summing a
 * 1 MiB input of its own into 8 bytes, on one worker thread: the function's
 * own time against a stored miss and a hit, and, as peers timed in this
 * process, what the hashing of a hit costs: SipHash-2-4-128 of the input
 * plus a comparison with a stored copy (the path before XXH3 named large
 * keys), and XXH3-128 alone. Run it with LD_LIBRARY_PATH pointing at an
 * older libparc to get that library's hit row from the same binary.
 *
 * Usage: bench_cache [--quick] [--peers FILE] [--dir DIR] [--instructions] [--large]
 *   --quick  10^3 and 10^5 entries instead of 10^4 and 10^6
 *   --dir    where to make cache directories (default: the current one)
 *   --instructions  instead of timing: instructions per hit and per stored
 *            miss, counted by valgrind's callgrind (Debian valgrind), which
 *            other load on the machine cannot disturb. Each count is one
 *            child `valgrind --tool=callgrind bench_cache --phase ...` whose
 *            instrumentation is on only around the map (and, for misses,
 *            the closing commit): total instructions / tasks.
 */
#include <sqlite3.h>
#include <sys/resource.h>
#if defined(__has_include)
#if __has_include(<valgrind/callgrind.h>)
#include <valgrind/callgrind.h>
#define HAVE_CALLGRIND 1
#endif
#endif
#ifndef HAVE_CALLGRIND
#define CALLGRIND_START_INSTRUMENTATION ((void)0)
#define CALLGRIND_STOP_INSTRUMENTATION ((void)0)
#endif
#include <stdbool.h>
#include <stdatomic.h>

#include "bench_util.h"
#include "parc.h"
#include "parc_internal.h"   /* parc__siphash and parc__xxh128, for the peer rows */
#include "cache_db.h"

static int square(const void *in, void *out, parc_task *t) {
  (void)t;
  int64_t x = *(const int64_t *)in;
  *(int64_t *)out = x * x;
  return 0;
}

static double seconds(void) { return (double)bench_now_ns() * 1e-9; }

/* CPU seconds of this process (all threads): on a shared machine the wall
   clock also counts other processes' time slices, this does not. */
static double cpu_seconds(void) {
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec * 1e-6 +
         (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec * 1e-6;
}

static void die(const char *what) {
  fprintf(stderr, "bench_cache: %s: %s\n", what, parc_errmsg());
  exit(1);
}

static void check(const int64_t *x, const int64_t *y, size_t n) {
  for (size_t i = 0; i < n; i++)
    if (y[i] != x[i] * x[i]) {
      fprintf(stderr, "bench_cache: wrong output at %zu\n", i);
      exit(1);
    }
}

typedef struct row {
  size_t n;
  double bare, miss, hit, hit_lru, open, call_miss, call_hit;
  double cpu_bare, cpu_miss, cpu_hit, cpu_hit_lru;   /* CPU us per task */
  uint64_t file_bytes;
} row;

/* Ages every entry by two hours, so that the next hits refresh recency. */
static void age_entries(const char *dir) {
  char file[4200];
  snprintf(file, sizeof file, "%s/parc-cache.sqlite", dir);
  sqlite3 *db;
  if (sqlite3_open(file, &db) != SQLITE_OK ||
      sqlite3_exec(db, "PRAGMA busy_timeout = 10000; UPDATE results SET used = used - 7200000",
                   NULL, NULL, NULL) != SQLITE_OK) {
    fprintf(stderr, "bench_cache: cannot age entries: %s\n", sqlite3_errmsg(db));
    exit(1);
  }
  sqlite3_close(db);
}

static double timed_map(parc_pool *pool, parc_cache *c, const int64_t *x, int64_t *y, size_t n,
                        bool close_after, double *cpu) {
  parc_options opt = {0};
  opt.cache = c;
  memset(y, 0, n * sizeof *y);
  double t0 = seconds(), c0 = cpu_seconds();
  if (parc_map(pool, square, x, sizeof *x, y, sizeof *y, n, &opt, NULL) != 0) die("parc_map");
  if (close_after) parc_cache_close(c);
  double t = seconds() - t0;
  *cpu = (cpu_seconds() - c0) / (double)n * 1e6;
  check(x, y, n);
  return t / (double)n * 1e6;
}

static row measure(parc_pool *pool, const char *base, size_t n, size_t calls) {
  row r = {.n = n};
  int64_t *x = malloc(n * sizeof *x), *y = malloc(n * sizeof *y);
  for (size_t i = 0; i < n; i++) x[i] = (int64_t)i * 2654435761 % 1000000007;
  char dir[4096];
  snprintf(dir, sizeof dir, "%s/parc-bench-cache-%zu", base, n);
  char command[4200];
  snprintf(command, sizeof command, "rm -rf '%s'", dir);
  if (system(command) != 0) exit(1);

  /* The floor: best of a few bare maps. */
  r.bare = 1e9;
  for (int i = 0; i < 3; i++) {
    double cpu, t = timed_map(pool, NULL, x, y, n, false, &cpu);
    if (t < r.bare) {
      r.bare = t;
      r.cpu_bare = cpu;
    }
  }
  parc_cache *c;
  if (parc_cache_open(&c, dir, NULL) != 0) die("parc_cache_open");
  r.miss = timed_map(pool, c, x, y, n, true, &r.cpu_miss);

  double t0 = seconds();
  if (parc_cache_open(&c, dir, NULL) != 0) die("parc_cache_open");
  r.open = seconds() - t0;
  r.hit = timed_map(pool, c, x, y, n, true, &r.cpu_hit);

  age_entries(dir);
  if (parc_cache_open(&c, dir, NULL) != 0) die("parc_cache_open");
  r.hit_lru = timed_map(pool, c, x, y, n, true, &r.cpu_hit_lru);

  /* The per-call API on a prefix: misses of a new name, then hits. */
  if (parc_cache_open(&c, dir, NULL) != 0) die("parc_cache_open");
  for (int pass = 0; pass < 2; pass++) {
    t0 = seconds();
    for (size_t i = 0; i < calls; i++)
      if (parc_cache_call(c, "square-call", NULL, square, &x[i], sizeof x[i], &y[i], sizeof y[i],
                          NULL, 0) != 0)
        die("parc_cache_call");
    if (pass == 0) parc_cache_stats(c, &(parc_cache_info){0});   /* commit, as close would */
    double t = (seconds() - t0) / (double)calls * 1e6;
    if (pass == 0) r.call_miss = t;
    else r.call_hit = t;
  }
  check(x, y, calls);
  parc_cache_info info;
  if (parc_cache_stats(c, &info) != 0) die("parc_cache_stats");
  r.file_bytes = info.file_bytes;
  parc_cache_close(c);
  if (system(command) != 0) exit(1);
  free(x);
  free(y);
  return r;
}

/* ---- large records ---------------------------------------------------------- */

#define LARGE_BYTES ((size_t)1 << 20)

static uint64_t sum_of(const void *in, size_t bytes) {
  const uint64_t *p = in;
  uint64_t s = 0;
  for (size_t i = 0; i < bytes / 8; i++) s += p[i];
  return s;
}

static int sum_words(const void *in, void *out, parc_task *t) {
  uint64_t s = sum_of(in, parc_task_input_size(t));
  memcpy(out, &s, 8);
  return 0;
}

static double large_map(parc_pool *pool, parc_cache *c, const uint8_t *x, uint64_t *y, size_t n) {
  parc_options opt = {0};
  opt.cache = c;
  memset(y, 0, n * sizeof *y);
  /* The handle's close (its last commit) is left out: it is paid once, not per task. */
  double t0 = seconds();
  if (parc_map(pool, sum_words, x, LARGE_BYTES, y, sizeof *y, n, &opt, NULL) != 0) die("parc_map");
  double t = (seconds() - t0) / (double)n * 1e6;
  if (c) parc_cache_close(c);
  for (size_t i = 0; i < n; i++) {
    if (y[i] != sum_of(x + i * LARGE_BYTES, LARGE_BYTES)) {
      fprintf(stderr, "bench_cache: wrong sum at %zu\n", i);
      exit(1);
    }
  }
  return t;
}

static void large_table(const char *base, bool quick) {
  size_t n = quick ? 16 : 64;   /* 64 MiB: twice this machine's L3, so inputs come from memory */
  int reps = quick ? 2 : 5;
  uint8_t *x = malloc(n * LARGE_BYTES), *copy = malloc(LARGE_BYTES);
  uint64_t *y = malloc(n * sizeof *y);
  if (!x || !y || !copy) die("malloc");
  uint64_t state = 88172645463325252ull;
  for (size_t i = 0; i < n * LARGE_BYTES / 8; i++) {
    state ^= state << 13, state ^= state >> 7, state ^= state << 17;
    memcpy(x + 8 * i, &state, 8);
  }
  parc_config cfg;
  parc_config_default(&cfg);
  cfg.backend = PARC_THREADS;
  cfg.workers = 1;
  parc_pool *pool;
  if (parc_pool_create(&pool, &cfg) != 0) die("parc_pool_create");
  char dir[4096], command[4200];
  snprintf(dir, sizeof dir, "%s/parc-bench-cache-large", base);
  snprintf(command, sizeof command, "rm -rf '%s'", dir);
  double bare = 1e9, miss = 1e9, hit = 1e9, sip = 1e9, xxh = 1e9;
  for (int r = 0; r < reps; r++) {
    double t = large_map(pool, NULL, x, y, n);
    if (t < bare) bare = t;
    if (system(command) != 0) exit(1);
    parc_cache *c;
    if (parc_cache_open(&c, dir, NULL) != 0) die("parc_cache_open");
    t = large_map(pool, c, x, y, n);
    if (t < miss) miss = t;
    if (parc_cache_open(&c, dir, NULL) != 0) die("parc_cache_open");
    t = large_map(pool, c, x, y, n);
    if (t < hit) hit = t;
    /* The peers, over the same inputs in the same order. */
    uint8_t key[16] = {0}, out[16], secret[CACHE_XXH_SECRET_SIZE];
    unsigned sink = 0;
    double t0 = seconds();
    for (size_t i = 0; i < n; i++) {
      parc__siphash h;
      parc__siphash_init(&h, key);
      parc__siphash_update(&h, x + i * LARGE_BYTES, LARGE_BYTES);
      parc__siphash_final(&h, out);
      memcpy(copy, x + i * LARGE_BYTES, 64);   /* the stored key: a copy elsewhere */
      sink += (unsigned)memcmp(copy, x + i * LARGE_BYTES, LARGE_BYTES) + out[0];
    }
    t = (seconds() - t0) / (double)n * 1e6;
    if (t < sip) sip = t;
    parc__xxh128_secret(secret, key);
    t0 = seconds();
    for (size_t i = 0; i < n; i++) {
      parc__xxh128 h;
      parc__xxh128_init(&h, secret);
      parc__xxh128_update(&h, x + i * LARGE_BYTES, LARGE_BYTES);
      parc__xxh128_final(&h, out);
      sink += out[0];
    }
    t = (seconds() - t0) / (double)n * 1e6;
    if (t < xxh) xxh = t;
    if (sink == 0x12345) printf(" ");   /* keeps the peers' work */
  }
  parc_pool_destroy(pool);
  if (system(command) != 0) exit(1);
  printf("\nlarge records: %zu tasks, each sums its own 1 MiB input into 8 bytes; 1 worker thread;"
         " best of %d; microseconds per task\n", n, reps);
  printf("%-44s %9.1f\n", "the function alone (no cache)", bare);
  printf("%-44s %9.1f\n", "miss: hash, run, queue the result", miss);
  printf("%-44s %9.1f   %.2fx the function   (target: <= 100 us)\n", "hit (a new handle)", hit,
         hit / bare);
  printf("%-44s %9.1f\n", "peer: SipHash-2-4-128 + memcmp of 1 MiB", sip);
  printf("%-44s %9.1f\n", "peer: XXH3-128 of 1 MiB", xxh);
  free(x);
  free(y);
  free(copy);
}

/* ---- the cache on each backend --------------------------------------------- */

/* The same cached map on THREADS and PROCESSES (2 workers each): a bare
   map, a map of all misses into a fresh cache, a map of all hits. The
   cache filter runs in dispatch for every backend, so processes should
   cost about what threads do (target: at most 2x, misses and hits). */
static void backends_table(const char *base, bool quick) {
  size_t n = quick ? 5000 : 50000;
  int64_t *x = malloc(n * sizeof *x), *y = malloc(n * sizeof *y);
  if (!x || !y) die("malloc");
  for (size_t i = 0; i < n; i++) x[i] = (int64_t)i * 2654435761 % 1000000007;
  static const parc_backend backends[2] = {PARC_THREADS, PARC_PROCESSES};
  double t[2][3];
  for (int b = 0; b < 2; b++) {
    parc_config cfg;
    parc_config_default(&cfg);
    cfg.backend = backends[b];
    cfg.workers = 2;
    parc_pool *pool;
    if (parc_pool_create(&pool, &cfg) != 0) die("parc_pool_create");
    char dir[4096], command[4200];
    snprintf(dir, sizeof dir, "%s/parc-bench-cache-backend-%d", base, b);
    snprintf(command, sizeof command, "rm -rf '%s'", dir);
    if (system(command) != 0) exit(1);
    double cpu;
    timed_map(pool, NULL, x, y, n, false, &cpu);   /* warm-up */
    t[b][0] = timed_map(pool, NULL, x, y, n, false, &cpu);
    parc_cache *c;
    if (parc_cache_open(&c, dir, NULL) != 0) die("parc_cache_open");
    t[b][1] = timed_map(pool, c, x, y, n, true, &cpu);
    if (parc_cache_open(&c, dir, NULL) != 0) die("parc_cache_open");
    t[b][2] = timed_map(pool, c, x, y, n, true, &cpu);
    parc_pool_destroy(pool);
    if (system(command) != 0) exit(1);
  }
  printf("\nthe cache on each backend: %zu trivial tasks, 2 workers, microseconds per task\n", n);
  printf("%-12s %9s %9s %9s\n", "backend", "bare", "misses", "hits");
  printf("%-12s %9.3f %9.3f %9.3f\n", "threads", t[0][0], t[0][1], t[0][2]);
  printf("%-12s %9.3f %9.3f %9.3f\n", "processes", t[1][0], t[1][1], t[1][2]);
  printf("%-12s %9s %8.2fx %8.2fx   (target: <= 2x)\n", "processes / threads", "",
         t[1][1] / t[0][1], t[1][2] / t[0][2]);
  free(x);
  free(y);
}

/* ---- instruction counts (--instructions) --------------------------------- */

static int64_t *inputs(size_t from, size_t n) {
  int64_t *x = malloc((n ? n : 1) * sizeof *x);
  if (!x) exit(1);
  for (size_t i = 0; i < n; i++) x[i] = (int64_t)(from + i) * 2654435761 % 1000000007;
  return x;
}

/* One phase in this process: "fill" stores inputs [0, n); "hit" maps
   inputs [0, n) again (all hits); "miss" maps [from, from + n), all new;
   "bare" maps [0, n) without a cache. Instrumented: the map, and the
   close that commits the last batch. */
static int run_phase(const char *phase, const char *dir, size_t from, size_t n) {
  parc_config cfg;
  parc_config_default(&cfg);
  cfg.backend = PARC_THREADS;
  parc_pool *pool;
  if (parc_pool_create(&pool, &cfg) != 0) die("parc_pool_create");
  bool bare = strcmp(phase, "bare") == 0;
  int64_t *x = inputs(strcmp(phase, "miss") == 0 ? from : 0, n), *y = malloc(n * sizeof *y);
  parc_cache *c = NULL;
  if (!bare && parc_cache_open(&c, dir, NULL) != 0) die("parc_cache_open");
  parc_options opt = {0};
  opt.cache = c;
  bool measured = strcmp(phase, "fill") != 0;
  if (measured) CALLGRIND_START_INSTRUMENTATION;
  if (parc_map(pool, square, x, sizeof *x, y, sizeof *y, n, &opt, NULL) != 0) die("parc_map");
  parc_cache_close(c);
  if (measured) CALLGRIND_STOP_INSTRUMENTATION;
  check(x, y, n);
  parc_pool_destroy(pool);
  free(x);
  free(y);
  return 0;
}

#ifdef HAVE_CALLGRIND
/* Runs `self --phase ...` under callgrind; instructions it counted. */
static double callgrind_count(const char *self, const char *phase, const char *dir, size_t from,
                              size_t n) {
  char command[8400];
  snprintf(command, sizeof command,
           "valgrind --tool=callgrind --instr-atstart=no --callgrind-out-file=/dev/null "
           "'%s' --phase %s --dir '%s' --from %zu --tasks %zu 2>&1 | "
           "sed -n 's/.*Collected : *\\([0-9]*\\).*/\\1/p'",
           self, phase, dir, from, n);
  FILE *p = popen(command, "r");
  double count = -1;
  if (!p || fscanf(p, "%lf", &count) != 1) count = -1;
  if (p) pclose(p);
  if (count < 0) {
    fprintf(stderr, "bench_cache: callgrind failed (is valgrind installed?): %s\n", command);
    exit(1);
  }
  return count;
}
#endif

static int instructions(const char *self, const char *base, bool quick) {
#ifndef HAVE_CALLGRIND
  (void)self, (void)base, (void)quick;
  fprintf(stderr, "bench_cache: built without <valgrind/callgrind.h> (Debian valgrind)\n");
  return 1;
#else
  size_t sizes[2] = {quick ? 1000 : 10000, quick ? 100000 : 1000000};
  printf("instructions per task (callgrind; map + closing commit; 8-byte records, threads x%d)\n",
         parc_cpu_count());
  printf("%-10s %8s %12s %12s %12s\n", "entries", "tasks", "bare", "hit", "miss");
  for (int i = 0; i < 2; i++) {
    size_t n = sizes[i], tasks = n < 20000 ? n : 20000;
    char dir[4096], command[4200];
    snprintf(dir, sizeof dir, "%s/parc-bench-cache-ir-%zu", base, n);
    snprintf(command, sizeof command, "rm -rf '%s'", dir);
    if (system(command) != 0) exit(1);
    run_phase("fill", dir, 0, n);
    double bare = callgrind_count(self, "bare", dir, 0, tasks);
    double hit = callgrind_count(self, "hit", dir, 0, tasks);
    double miss = callgrind_count(self, "miss", dir, n, tasks);
    printf("%-10zu %8zu %12.0f %12.0f %12.0f\n", n, tasks, bare / (double)tasks,
           hit / (double)tasks, miss / (double)tasks);
    fflush(stdout);
    if (system(command) != 0) exit(1);
  }
  return 0;
#endif
}

int main(int argc, char **argv) {
  bool quick = false, count_instructions = false;
  const char *peers_path = NULL, *base = ".", *phase = NULL;
  size_t from = 0, tasks = 0;
  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "--quick") == 0) quick = true;
    else if (strcmp(argv[i], "--instructions") == 0) count_instructions = true;
    else if (strcmp(argv[i], "--peers") == 0 && i + 1 < argc) peers_path = argv[++i];
    else if (strcmp(argv[i], "--dir") == 0 && i + 1 < argc) base = argv[++i];
    else if (strcmp(argv[i], "--phase") == 0 && i + 1 < argc) phase = argv[++i];
    else if (strcmp(argv[i], "--from") == 0 && i + 1 < argc) from = strtoull(argv[++i], NULL, 10);
    else if (strcmp(argv[i], "--tasks") == 0 && i + 1 < argc) tasks = strtoull(argv[++i], NULL, 10);
    else if (strcmp(argv[i], "--large") == 0) {
      large_table(base, quick);
      return 0;
    } else if (strcmp(argv[i], "--backends") == 0) {
      backends_table(base, quick);
      return 0;
    } else {
      fprintf(stderr, "usage: %s [--quick] [--peers FILE] [--dir DIR] [--instructions] [--large]\n",
              argv[0]);
      return 2;
    }
  }
  if (phase) return run_phase(phase, base, from, tasks);
  if (count_instructions) {
    char self[4096];
    ssize_t len = readlink("/proc/self/exe", self, sizeof self - 1);
    if (len <= 0) return 1;
    self[len] = '\0';
    return instructions(self, base, quick);
  }
  parc_config cfg;
  parc_config_default(&cfg);
  cfg.backend = PARC_THREADS;
  parc_pool *pool;
  if (parc_pool_create(&pool, &cfg) != 0) die("parc_pool_create");
  size_t sizes[2] = {quick ? 1000 : 10000, quick ? 100000 : 1000000};
  size_t calls = quick ? 1000 : 10000;
  row rows[2];
  for (int i = 0; i < 2; i++) rows[i] = measure(pool, base, sizes[i], calls);
  parc_pool_destroy(pool);

  printf("8-byte input -> 8-byte output, trivial body; threads x%d; microseconds per task\n",
         parc_cpu_count());
  printf("%-10s %9s %9s %9s %9s %9s %9s %9s %10s %10s\n", "entries", "bare", "miss", "+added",
         "hit", "+added", "hit+lru", "+added", "open s", "file MiB");
  for (int i = 0; i < 2; i++) {
    const row *r = &rows[i];
    printf("%-10zu %9.3f %9.3f %9.3f %9.3f %9.3f %9.3f %9.3f %10.3f %10.1f\n", r->n, r->bare,
           r->miss, r->miss - r->bare, r->hit, r->hit - r->bare, r->hit_lru,
           r->hit_lru - r->bare, r->open, (double)r->file_bytes / 1048576.0);
  }
  printf("\nthe same runs in CPU time of all threads (us per task; insensitive to other load)\n");
  printf("%-10s %9s %9s %9s %9s\n", "entries", "bare", "miss", "hit", "hit+lru");
  for (int i = 0; i < 2; i++)
    printf("%-10zu %9.3f %9.3f %9.3f %9.3f\n", rows[i].n, rows[i].cpu_bare, rows[i].cpu_miss,
           rows[i].cpu_hit, rows[i].cpu_hit_lru);
  double load[1] = {0};
  FILE *f = fopen("/proc/loadavg", "r");
  if (f && fscanf(f, "%lf", &load[0]) == 1 && load[0] > parc_cpu_count())
    printf("note: load average %.1f on %d CPUs: wall-clock rows are inflated by other work\n",
           load[0], parc_cpu_count());
  if (f) fclose(f);
  printf("targets: hit <= 2 us/task at 10^6 entries; a stored miss adds <= 5 us/task\n");

  bench_peer peers[8];
  int npeers = bench_read_peers(peers_path, peers, 8);
  const bench_peer *jm = bench_find_peer(peers, npeers, "joblib_miss");
  const bench_peer *jh = bench_find_peer(peers, npeers, "joblib_hit");
  printf("\nper-call memoization, one caller thread (%zu calls, cache of %zu entries)\n", calls,
         rows[0].n);
  printf("%-34s %12s %12s\n", "", "miss us", "hit us");
  printf("%-34s %12.3f %12.3f\n", "parc_cache_call", rows[0].call_miss, rows[0].call_hit);
  if (jm && jh) {
    printf("%-34s %12.1f %12.1f   (%.0f calls)\n", "joblib.Memory (Python)", jm->value / 1000,
           jh->value / 1000, jm->extra);
    printf("%-34s %11.0fx %11.0fx\n", "joblib / parc", jm->value / 1000 / rows[0].call_miss,
           jh->value / 1000 / rows[0].call_hit);
  } else {
    printf("joblib.Memory: no peer results (run bench/peers/joblib_memory.py > FILE, then --peers FILE)\n");
  }
  backends_table(base, quick);
  large_table(base, quick);
  return 0;
}
