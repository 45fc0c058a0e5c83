/*
 * test_reduce.c — parc_map_reduce: the order parc.h writes down (blocks of
 * B indices folded from the identity, then the partials in block order)
 * gives the same bits on SERIAL, THREADS with 1..7 workers, PROCESSES
 * (fork and exec start) and any batch size, for n on either side of a
 * change of B; with inputs, a context and outputs of any size; folded by
 * the workers or, where they cannot see arg, by the caller. A failure
 * names the lowest failed task and leaves *result alone; memory stays a
 * few outputs per worker, not n.
 *
 * The reference is this file's own reading of parc.h (ref_block, ref_fold),
 * not the library's code.
 */
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <unistd.h>

#include "fixture.h"

/* ---- the reference --------------------------------------------------------- */

static size_t ref_block(size_t n) {
  size_t b = 1;
  while (n > 0 && (n + b - 1) / b > 4096) b *= 2;
  return b;
}

/* A value whose floating-point sum depends on the order it is added in:
   magnitudes over twenty decades, from stream (seed, i). */
static double value(uint64_t seed, size_t i) {
  parc_rng r;
  parc_rng_init(&r, seed, i);
  return (parc_rng_uniform(&r) - 0.5) * pow(10.0, (double)(i % 20) - 10.0);
}

/* The sum of value(seed, i) over n, in parc.h's order. */
static double ref_fold(uint64_t seed, size_t n) {
  size_t b = ref_block(n);
  double total = 0, partial = 0;
  for (size_t i = 0; i < n; i++) {
    partial += value(seed, i);
    if ((i + 1) % b == 0 || i + 1 == n) total += partial, partial = 0;
  }
  return total;
}

/* ---- tasks and combines ------------------------------------------------------ */

static int draw(const void *in, void *out, parc_task *t) {
  (void)in;
  double u = parc_rng_uniform(parc_task_rng(t));
  size_t i = parc_task_index(t);
  *(double *)out = (u - 0.5) * pow(10.0, (double)(i % 20) - 10.0);
  return 0;
}

static void add(void *acc, const void *part, void *arg) {
  (void)arg;
  *(double *)acc += *(const double *)part;
}

/* arg: a factor the combine reads, 1 (so that folding partials keeps
   the sum): a combine that runs where arg is not valid reads another
   number, or crashes. */
static void add_scaled(void *acc, const void *part, void *arg) {
  *(double *)acc += *(const double *)part * *(const double *)arg;
}

static void check_bits(double expected, double got, const char *where, size_t n, size_t batch) {
  if (memcmp(&expected, &got, sizeof got) != 0)
    FAIL_AT("%s, n %zu, batch %zu: %a (%.17g), parc.h's order gives %a (%.17g)", where, n, batch,
            got, got, expected, expected);
}

/* ---- the same bits everywhere ---------------------------------------------- */

typedef struct pool_case {
  const char *name;
  parc_pool *pool;
} pool_case;

/* SERIAL, THREADS 1..7, PROCESSES fork (2, 3 workers) and exec (2). */
static int make_pools(pool_case *cases) {
  static char names[16][32];
  int k = 0;
  cases[k++] = (pool_case){"serial", test_pool(PARC_SERIAL, 1)};
  for (int w = 1; w <= 7; w++) {
    snprintf(names[k], sizeof names[k], "threads x%d", w);
    cases[k] = (pool_case){names[k], test_pool(PARC_THREADS, w)};
    k++;
  }
  for (int w = 2; w <= 3; w++) {
    snprintf(names[k], sizeof names[k], "processes (fork) x%d", w);
    parc_config cfg = test_config(PARC_PROCESSES, w);
    cfg.start = PARC_START_FORK;
    cases[k] = (pool_case){names[k], test_pool_config(&cfg)};
    k++;
  }
  parc_config cfg = test_config(PARC_PROCESSES, 2);
  cfg.start = PARC_START_EXEC;
  cases[k++] = (pool_case){"processes (exec) x2", test_pool_config(&cfg)};
  return k;
}

static void destroy_pools(pool_case *cases, int count) {
  for (int k = 0; k < count; k++) parc_pool_destroy(cases[k].pool);
}

TEST_WITH_LIMIT(map_reduce_bits_depend_on_n_alone_on_every_backend, 240) {
  pool_case cases[16];
  int count = make_pools(cases);
  /* B = 1 (n <= 4096), B = 2 from 4097, 4 from 8193; larger B with a
     last block of 31 and of 1. And where the library's own choices turn
     (none may show in the bits): 300 and 301 blocks, which workers fold
     4 blocks a task up to 4 workers and 1 from 5; 4101, whose last task
     holds 3 blocks, the last of them short. */
  size_t ns[] = {1, 2, 300, 301, 4095, 4096, 4097, 4101, 8191, 8192, 8193, 131071, 131073};
  size_t batches[] = {0, 1, 7};
  for (size_t i = 0; i < sizeof ns / sizeof ns[0]; i++) {
    double expected = ref_fold(7, ns[i]);
    for (int k = 0; k < count; k++)
      for (size_t b = 0; b < 3; b++) {
        double sum = 0;
        parc_options opt = {.seed = 7, .batch = batches[b]};
        CHECK_OK(parc_map_reduce(cases[k].pool, draw, NULL, 0, ns[i], sizeof sum, add, NULL, &sum,
                                 &opt));
        check_bits(expected, sum, cases[k].name, ns[i], batches[b]);
      }
  }
  /* n = 0: nothing runs, the identity stays, whatever it is. */
  for (int k = 0; k < count; k++) {
    double sum = -0.0;
    CHECK_OK(parc_map_reduce(cases[k].pool, draw, NULL, 0, 0, sizeof sum, add, NULL, &sum, NULL));
    CHECK(signbit(sum) && sum == 0);
  }
  destroy_pools(cases, count);
}

TEST(map_reduce_of_a_million_gives_the_same_bits_on_1_to_7_threads) {
  enum { N = 1000003 };   /* B = 256, a last block of 67 */
  double expected = ref_fold(11, N);
  for (int w = 1; w <= 7; w++) {
    parc_pool *pool = test_pool(PARC_THREADS, w);
    double sum = 0;
    parc_options opt = {.seed = 11};
    CHECK_OK(parc_map_reduce(pool, draw, NULL, 0, N, sizeof sum, add, NULL, &sum, &opt));
    check_bits(expected, sum, "threads", N, 0);
    parc_pool_destroy(pool);
  }
}

/* ---- inputs, context, outputs of other sizes -------------------------------- */

/* The input is the index as a double; the context a struct; the output
   three numbers (24 bytes: a chunk of fold_block is not a whole number of
   them) folded as a sum, a sum of squares and a count. */
typedef struct stats {
  double sum, squares, count;
} stats;

typedef struct setup {
  double offset;
  uint64_t magic;
} setup;

static int record(const void *in, void *out, parc_task *t) {
  size_t size;
  const setup *s = parc_task_context(t, &size);
  if (size != sizeof *s || !s || s->magic != 0xfeedu)
    return parc_fail(t, "context: %zu bytes, magic %llx", size, s ? (unsigned long long)s->magic : 0);
  if (parc_task_input_size(t) != sizeof(double))
    return parc_fail(t, "input size %zu", parc_task_input_size(t));
  double x = *(const double *)in;
  if (x != (double)parc_task_index(t))
    return parc_fail(t, "task %zu read input %g", parc_task_index(t), x);
  double v = value(3, parc_task_index(t)) + s->offset;
  *(stats *)out = (stats){v, v * v, 1};
  return 0;
}

static void add_stats(void *acc, const void *part, void *arg) {
  (void)arg;
  stats *a = acc;
  const stats *p = part;
  a->sum += p->sum, a->squares += p->squares, a->count += p->count;
}

static stats ref_stats(size_t n, double offset) {
  size_t b = ref_block(n);
  stats total = {0, 0, 0}, partial = {0, 0, 0};
  for (size_t i = 0; i < n; i++) {
    double v = value(3, i) + offset;
    stats one = {v, v * v, 1};
    add_stats(&partial, &one, NULL);
    if ((i + 1) % b == 0 || i + 1 == n) add_stats(&total, &partial, NULL), partial = (stats){0, 0, 0};
  }
  return total;
}

TEST_WITH_LIMIT(map_reduce_reads_inputs_and_context_and_folds_records_of_any_size, 120) {
  pool_case cases[16];
  int count = make_pools(cases);
  enum { MAX = 300007 };
  double *in = malloc(MAX * sizeof *in);
  CHECK(in != NULL);
  for (size_t i = 0; i < MAX; i++) in[i] = (double)i;
  setup s = {0.25, 0xfeed};
  parc_options opt = {.context = &s, .context_size = sizeof s};
  /* Short last blocks of 1 and 2 (B = 4), a B of 128 over chunks of 170. */
  size_t ns[] = {8193, 12290, MAX};
  for (size_t i = 0; i < 3; i++) {
    stats expected = ref_stats(ns[i], s.offset);
    for (int k = 0; k < count; k++) {
      stats got = {0, 0, 0};
      CHECK_OK(parc_map_reduce(cases[k].pool, record, in, sizeof *in, ns[i], sizeof got, add_stats,
                               NULL, &got, &opt));
      if (memcmp(&got, &expected, sizeof got) != 0)
        FAIL_AT("%s, n %zu: {%a, %a, %g}, parc.h's order gives {%a, %a, %g}", cases[k].name,
                ns[i], got.sum, got.squares, got.count, expected.sum, expected.squares,
                expected.count);
    }
  }
  free(in);
  destroy_pools(cases, count);
}

/* An output bigger than fold_block's local buffer: 5000 bytes, the sum
   in its first and last doubles. */
enum { WIDE = 625 };
static int wide(const void *in, void *out, parc_task *t) {
  (void)in;
  double *o = out;
  for (int j = 0; j < WIDE; j++) o[j] = 0;
  o[0] = value(5, parc_task_index(t));
  o[WIDE - 1] = -o[0];
  return 0;
}

static void add_wide(void *acc, const void *part, void *arg) {
  (void)arg;
  double *a = acc;
  const double *p = part;
  for (int j = 0; j < WIDE; j++) a[j] += p[j];
}

TEST(map_reduce_folds_outputs_bigger_than_its_buffer) {
  enum { N = 9001 };
  double expected = ref_fold(5, N);
  parc_backend backends[] = {PARC_SERIAL, PARC_THREADS, PARC_PROCESSES};
  for (int b = 0; b < 3; b++) {
    parc_pool *pool = test_pool(backends[b], 3);
    static double got[WIDE];
    memset(got, 0, sizeof got);
    CHECK_OK(parc_map_reduce(pool, wide, NULL, 0, N, sizeof got, add_wide, NULL, got, NULL));
    check_bits(expected, got[0], test_backend_name(backends[b]), N, 0);
    check_bits(-expected, got[WIDE - 1], test_backend_name(backends[b]), N, 0);
    parc_pool_destroy(pool);
  }
}

/* ---- where combine runs --------------------------------------------------- */

TEST(map_reduce_gives_the_same_bits_whoever_folds) {
  enum { N = 50021 };
  double expected = ref_fold(9, N);
  parc_options opt = {.seed = 9};
  /* THREADS: the workers fold, arg on this stack is theirs too. */
  double scale = 1.0;
  parc_pool *threads = test_pool(PARC_THREADS, 3);
  double sum = 0;
  CHECK_OK(parc_map_reduce(threads, draw, NULL, 0, N, sizeof sum, add_scaled, &scale, &sum, &opt));
  check_bits(expected, sum, "threads, arg on the stack", N, 0);
  parc_pool_destroy(threads);
  /* PROCESSES: arg in shared memory is folded by the workers; arg on this
     stack is invisible to them, so the caller folds. */
  parc_pool *processes = test_pool(PARC_PROCESSES, 3);
  double *shared = parc_shared_alloc(sizeof *shared);
  CHECK(shared != NULL);
  *shared = 1.0;
  sum = 0;
  CHECK_OK(parc_map_reduce(processes, draw, NULL, 0, N, sizeof sum, add_scaled, shared, &sum, &opt));
  check_bits(expected, sum, "processes, arg in shared memory", N, 0);
  sum = 0;
  CHECK_OK(parc_map_reduce(processes, draw, NULL, 0, N, sizeof sum, add_scaled, &scale, &sum, &opt));
  check_bits(expected, sum, "processes, arg on the stack", N, 0);
  parc_shared_free(shared);
  parc_pool_destroy(processes);
  /* A per-task timeout counts fn's tasks: the caller folds. */
  parc_config cfg = test_config(PARC_PROCESSES, 2);
  cfg.timeout = 60;
  parc_pool *timed = test_pool_config(&cfg);
  sum = 0;
  CHECK_OK(parc_map_reduce(timed, draw, NULL, 0, N, sizeof sum, add_scaled, &scale, &sum, &opt));
  check_bits(expected, sum, "processes with a timeout", N, 0);
  parc_pool_destroy(timed);
}

/* Where the workers can fold, they do: combine runs off the caller's thread
   (THREADS) and in the worker processes (PROCESSES, arg in shared memory).
   It only marks that it did, in memory no other call reads. */
typedef struct where {
  pthread_t caller_thread;
  pid_t caller_pid;
  _Atomic int off_thread, off_process;
} where;

static void add_noting(void *acc, const void *part, void *arg) {
  where *w = arg;
  if (!pthread_equal(pthread_self(), w->caller_thread))
    atomic_store_explicit(&w->off_thread, 1, memory_order_relaxed);
  if (getpid() != w->caller_pid) atomic_store_explicit(&w->off_process, 1, memory_order_relaxed);
  *(double *)acc += *(const double *)part;
}

TEST(map_reduce_folds_in_the_workers_where_it_can) {
  enum { N = 100000 };
  double sum = 0;
  where here = {pthread_self(), getpid(), 0, 0};
  parc_pool *threads = test_pool(PARC_THREADS, 2);
  CHECK_OK(parc_map_reduce(threads, draw, NULL, 0, N, sizeof sum, add_noting, &here, &sum, NULL));
  CHECK_INT(1, atomic_load(&here.off_thread));
  check_bits(ref_fold(0, N), sum, "threads", N, 0);
  parc_pool_destroy(threads);
  parc_pool *processes = test_pool(PARC_PROCESSES, 2);
  where *shared = parc_shared_alloc(sizeof *shared);
  CHECK(shared != NULL);
  shared->caller_thread = pthread_self();
  shared->caller_pid = getpid();
  atomic_init(&shared->off_thread, 0);
  atomic_init(&shared->off_process, 0);
  sum = 0;
  CHECK_OK(parc_map_reduce(processes, draw, NULL, 0, N, sizeof sum, add_noting, shared, &sum, NULL));
  CHECK_INT(1, atomic_load(&shared->off_process));
  check_bits(ref_fold(0, N), sum, "processes", N, 0);
  parc_shared_free(shared);
  parc_pool_destroy(processes);
}

/* ---- failures -------------------------------------------------------------- */

typedef struct tally {
  double sum;
  double count;
} tally;

/* The context: two indices that fail (a forked worker would not see a
   global changed after its pool started). */
typedef struct refusal {
  size_t a, b;
} refusal;

static int refuses(const void *in, void *out, parc_task *t) {
  (void)in;
  const refusal *r = parc_task_context(t, NULL);
  size_t i = parc_task_index(t);
  if (i == r->a || i == r->b) return parc_fail(t, "task %zu refuses", i);
  *(tally *)out = (tally){value(1, i), 1};
  return 0;
}

static void add_tally(void *acc, const void *part, void *arg) {
  (void)arg;
  tally *a = acc;
  const tally *p = part;
  a->sum += p->sum, a->count += p->count;
}

TEST_WITH_LIMIT(map_reduce_names_the_lowest_failed_task_and_leaves_result_alone, 120) {
  parc_backend backends[] = {PARC_SERIAL, PARC_THREADS, PARC_PROCESSES};
  /* Two failures in different blocks and windows; one in the first task;
     one in the last (a short last block). */
  struct { size_t n, a, b; } runs[] = {{100000, 5000, 70000}, {100000, 0, 99999},
                                      {100001, 100000, 100000}, {3, 2, 1},
  /* B = 256: tasks 200 and 300 are in blocks 0 and 1, which one worker may
     run side by side, reaching 300 before 200. */
                                      {1000000, 300, 200}};
  char needle[128];
  for (int b = 0; b < 3; b++) {
    parc_pool *pool = test_pool(backends[b], 3);
    for (size_t r = 0; r < sizeof runs / sizeof runs[0]; r++) {
      refusal refused = {runs[r].a, runs[r].b};
      size_t lowest = refused.a < refused.b ? refused.a : refused.b;
      snprintf(needle, sizeof needle, "parc_map_reduce: task %zu failed: task %zu refuses", lowest,
               lowest);
      for (int stop = 0; stop <= 1; stop++) {
        tally result = {0, 0};
        parc_options opt = {.context = &refused, .context_size = sizeof refused,
                            .stop_on_error = stop};
        int rc = parc_map_reduce(pool, refuses, NULL, 0, runs[r].n, sizeof result, add_tally, NULL,
                                 &result, &opt);
        if (rc != PARC_ETASK || strcmp(parc_errmsg(), needle) != 0)
          FAIL_AT("%s, n %zu: returned %d \"%s\", expected %d \"%s\"", test_backend_name(backends[b]),
                  runs[r].n, rc, parc_errmsg(), PARC_ETASK, needle);
        if (result.count != 0 || result.sum != 0)
          FAIL_AT("%s: *result was written on failure: {%g, %g}", test_backend_name(backends[b]),
                  result.sum, result.count);
      }
    }
    parc_pool_destroy(pool);
  }
}

/* A worker that dies is blamed on the block it was running. */
static int dies_at_9003(const void *in, void *out, parc_task *t) {
  (void)in;
  if (parc_task_index(t) == 9003) raise(SIGKILL);
  *(double *)out = 1;
  return 0;
}

TEST(map_reduce_names_the_tasks_of_a_worker_that_died) {
  parc_pool *pool = test_pool(PARC_PROCESSES, 2);
  double sum = 0;
  /* The worker ran a run of consecutive tasks (one or more blocks) for
     the map: the message names that run, and it holds 9003. */
  int rc = parc_map_reduce(pool, dies_at_9003, NULL, 0, 20000, sizeof sum, add, NULL, &sum, NULL);
  size_t first = 0, last = 0;
  if (rc != PARC_ECRASH ||
      sscanf(parc_errmsg(), "parc_map_reduce: tasks %zu..%zu failed: ", &first, &last) != 2 ||
      first > 9003 || last < 9003 || !strstr(parc_errmsg(), "killed by signal 9"))
    FAIL_AT("returned %d \"%s\", expected %d \"parc_map_reduce: tasks A..B failed: killed by "
            "signal 9...\" with A <= 9003 <= B", rc, parc_errmsg(), PARC_ECRASH);
  CHECK(sum == 0);
  /* The pool goes on. */
  CHECK_OK(parc_map_reduce(pool, draw, NULL, 0, 20000, sizeof sum, add, NULL, &sum, NULL));
  check_bits(ref_fold(0, 20000), sum, "processes after a crash", 20000, 0);
  parc_pool_destroy(pool);
}

/* ---- memory --------------------------------------------------------------- */

/* 1 MiB outputs, each page touched: keeping the 4096 outputs would take
   4 GiB of resident memory. */
#define PAGE 4096
#define BIG ((size_t)1 << 20)

static int touch_pages(const void *in, void *out, parc_task *t) {
  (void)in;
  char *o = out;
  for (size_t at = 0; at < BIG; at += PAGE) *(double *)(o + at) = (double)parc_task_index(t);
  return 0;
}

static void add_pages(void *acc, const void *part, void *arg) {
  (void)arg;
  for (size_t at = 0; at < BIG; at += PAGE)
    *(double *)((char *)acc + at) += *(const double *)((const char *)part + at);
}

/* The peak resident set of this process, in MiB (VmHWM). */
static long peak_rss_mib(void) {
  FILE *f = fopen("/proc/self/status", "r");
  char line[256];
  long kib = -1;
  while (f && fgets(line, sizeof line, f))
    if (sscanf(line, "VmHWM: %ld kB", &kib) == 1) break;
  if (f) fclose(f);
  return kib / 1024;
}

/* TSan: its shadow doubles what is resident, and its memcpy moves the 8
   GiB this test copies around (identities, partials) in minutes. The plain
   and ASan builds run it. */
#if defined(__SANITIZE_THREAD__)
#define UNDER_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define UNDER_TSAN 1
#endif
#endif

TEST_WITH_LIMIT(map_reduce_memory_is_a_few_outputs_per_worker_not_n, 240) {
#ifdef UNDER_TSAN
  SKIP("under ThreadSanitizer (shadow memory, slow memcpy); the plain and ASan builds check it");
#endif
  enum { N = 4096 };
  char *result = calloc(1, BIG);
  CHECK(result != NULL);
  parc_backend backends[] = {PARC_THREADS, PARC_PROCESSES};
  for (int b = 0; b < 2; b++) {
    parc_pool *pool = test_pool(backends[b], 2);
    memset(result, 0, BIG);
    CHECK_OK(parc_map_reduce(pool, touch_pages, NULL, 0, N, BIG, add_pages, NULL, result, NULL));
    double expected = (double)N * (N - 1) / 2;
    CHECK(*(double *)result == expected && *(double *)(result + BIG - PAGE) == expected);
    parc_pool_destroy(pool);
  }
  long peak = peak_rss_mib();
  /* Generous: windows of partials, an output per worker, sanitizers'
     quarantines. All 4096 outputs would be 4096 MiB. */
  if (peak < 0 || peak > 1024) FAIL_AT("peak resident memory %ld MiB, expected at most 1024", peak);
  printf("  peak resident memory %ld MiB (4096 outputs of 1 MiB)\n", peak);
  free(result);
}

int main(int argc, char **argv) { return harness_main(argc, argv); }
