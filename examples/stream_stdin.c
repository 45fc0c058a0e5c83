/*
 * stream_stdin — a stream of unknown length: each line of stdin (an
 * integer) becomes a task that factors it into primes and returns the
 * factors, as many as there are (parc_task_output). The group is a stream
 * (opt.stream = 1, opt.total = 0: the count is not known in advance), the
 * producer keeps at most IN_FLIGHT tasks pending (parc_group_pending), and
 * results are taken in completion order as they come, so memory holds the
 * tasks in flight only, however long the input: the peak RSS (VmHWM) shows
 * it. The totals do not depend on the order results arrive in.
 *
 *   seq 999900001 1000000000 | stream_stdin
 *   stream_stdin < numbers.txt
 *   stream_stdin [--generate] (stdin a terminal, or --generate: 100000
 *                              numbers of its own)
 */
#include <ctype.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>

#include "example.h"

#define IN_FLIGHT 256
#define SHOW_FIRST 8                 /* results printed as they come */
#define GENERATED 100000             /* lines made up when stdin is a terminal */
#define LIMIT (UINT64_C(1) << 40)    /* trial division up to 2^20 per number */

/* ---- the task ----------------------------------------------------------- */

/* The line (NUL-terminated) as a number in [0, LIMIT): 1; else 0 and *why.
   Digits only: strtoull alone would take " 12" and turn "-5" into 2^64 - 5. */
static int parse_line(const char *line, uint64_t *n, const char **why) {
  char *end;
  errno = 0;
  unsigned long long x = strtoull(line, &end, 10);
  *why = "not a number";
  if (!isdigit((unsigned char)line[0]) || *end != '\0' || errno == ERANGE) return 0;
  *why = "too large (the limit is 2^40)";
  if (x >= LIMIT) return 0;
  *n = x;
  return 1;
}

/* Prime factors of n by trial division, smallest first, into f; their count. */
static size_t factor(uint64_t n, uint64_t f[64]) {
  size_t count = 0;
  for (uint64_t p = 2; n > 1 && p * p <= n; p += p == 2 ? 1 : 2)
    while (n % p == 0) f[count++] = p, n /= p;
  if (n > 1) f[count++] = n;
  return count;
}

/* A task: one line in; out, the number and its prime factors (uint64_t
   each), so 8 bytes for 0, 1 and primes' lines less one factor, up to 41
   factors for 2^40 - 1 and below. The task's index is its line's, less 1. */
static int factor_line(const void *in, void *out, parc_task *task) {
  (void)out;
  const char *line = in;
  size_t line_no = parc_task_index(task) + 1;
  uint64_t n, f[64];
  const char *why;
  if (!parse_line(line, &n, &why)) return parc_fail(task, "line %zu: %s: '%s'", line_no, why, line);
  size_t count = factor(n, f);
  uint64_t *result = parc_task_output(task, (count + 1) * sizeof *result);
  if (!result) return parc_fail(task, "line %zu: no memory for the result", line_no);
  result[0] = n;
  memcpy(result + 1, f, count * sizeof *f);
  return 0;
}

/* ---- the caller --------------------------------------------------------- */

/* What the results add up to: sums, counts and maxima, the same whatever
   order the results come in (a tie keeps the earlier line). */
typedef struct tally {
  size_t lines, factored, failed, primes, factors;
  uint64_t largest;        /* the largest prime factor seen */
  size_t largest_line;
  uint64_t factor_sum;     /* of every prime factor, wrapping: a checksum */
} tally;

static long peak_rss_kib(void) {
  FILE *f = fopen("/proc/self/status", "r");
  if (!f) return -1;
  char line[256];
  long kib = -1;
  while (fgets(line, sizeof line, f))
    if (sscanf(line, "VmHWM: %ld kB", &kib) == 1) break;
  fclose(f);
  return kib;
}

static void print_factors(size_t line_no, const uint64_t *r, size_t count) {
  printf("  line %zu: %" PRIu64 " =", line_no, r[0]);
  for (size_t i = 1; i <= count; i++) printf("%s %" PRIu64, i > 1 ? " *" : "", r[i]);
  printf("%s\n", count == 0 ? " (no prime factors)" : count == 1 ? " (prime)" : "");
}

/* Takes the next finished task, whichever it is, and adds it in. Its
   output stays valid until the next call to parc_group_next. */
static void take_one(parc_group *g, tally *t) {
  size_t index, size;
  int rc = parc_group_next(g, -1, &index);
  if (rc == PARC_ETASK) {
    t->failed++;
    printf("  failed: %s\n", parc_group_message(g, index));
    return;
  }
  check(rc, "parc_group_next");
  const uint64_t *r = parc_group_output(g, index, &size);
  size_t count = size / sizeof *r - 1;
  if (t->factored++ < SHOW_FIRST) print_factors(index + 1, r, count);
  t->primes += count == 1;
  t->factors += count;
  for (size_t i = 1; i <= count; i++) {
    t->factor_sum += r[i];
    if (r[i] > t->largest || (r[i] == t->largest && index + 1 < t->largest_line))
      t->largest = r[i], t->largest_line = index + 1;
  }
  if (t->factored % 25000 == 0)
    printf("  ... %zu results so far, %zu in flight, peak RSS %ld KiB\n", t->factored,
           parc_group_pending(g), peak_rss_kib());
}

/* The input: stdin, or when it is a terminal, GENERATED numbers below 10^9
   of our own (a fixed LCG, so every run factors the same ones). */
typedef struct source {
  int generate;
  size_t made;
  uint64_t lcg;
} source;

static ssize_t next_line(source *s, char **line, size_t *cap) {
  if (!s->generate) {
    ssize_t len = getline(line, cap, stdin);
    if (len > 0) (*line)[strcspn(*line, "\r\n")] = '\0';
    return len < 0 ? -1 : (ssize_t)strlen(*line);
  }
  if (s->made == GENERATED) return -1;
  if (*cap < 32) {
    char *bigger = realloc(*line, 32);
    if (!bigger) return -1;
    *line = bigger, *cap = 32;
  }
  s->lcg = s->lcg * 6364136223846793005u + 1442695040888963407u;
  s->made++;
  return snprintf(*line, *cap, "%" PRIu64, (s->lcg >> 24) % 1000000000);
}

int main(int argc, char **argv) {
  setvbuf(stdout, NULL, _IOLBF, 0);
  source src = {.generate = isatty(STDIN_FILENO) || has_flag(argc, argv, "--generate"), .lcg = 42};
  if (src.generate) printf("(no input piped in: factoring %d numbers of our own)\n", GENERATED);
  parc_config cfg;
  parc_config_default(&cfg);   /* PARC_BACKEND and PARC_WORKERS apply */
  parc_pool *pool;
  check(parc_pool_create(&pool, &cfg), "parc_pool_create");
  parc_options opt = {.stream = 1, .total = 0, .label = "lines"};   /* length unknown */
  parc_group *g;
  check(parc_group_create(&g, pool, &opt), "parc_group_create");
  printf("Factoring each line of the input on %d workers, at most %d in flight:\n",
         parc_pool_size(pool), IN_FLIGHT);

  tally t = {0};
  char *line = NULL;
  size_t cap = 0;
  long rss_early = -1;
  double start = now();
  ssize_t len;
  while ((len = next_line(&src, &line, &cap)) >= 0) {
    check(parc_group_submit(g, factor_line, line, (size_t)len + 1, NULL, 0, NULL), "parc_group_submit");
    if (++t.lines == 1000) rss_early = peak_rss_kib();
    while (parc_group_pending(g) >= IN_FLIGHT) take_one(g, &t);
  }
  while (parc_group_pending(g) > 0) take_one(g, &t);
  double elapsed = now() - start;
  free(line);
  parc_group_destroy(g);
  parc_pool_destroy(pool);

  printf("\nSummary: %zu lines, %zu factored, %zu failed\n", t.lines, t.factored, t.failed);
  printf("  primes: %zu; prime factors with multiplicity: %zu; sum of factors: %" PRIu64 "\n",
         t.primes, t.factors, t.factor_sum);
  if (t.factors) printf("  largest prime factor: %" PRIu64 " (line %zu)\n", t.largest, t.largest_line);
  printf("  %.2f s, %.0f lines/s; peak RSS", elapsed, (double)t.lines / elapsed);
  if (rss_early >= 0) printf(" %ld KiB after 1000 lines,", rss_early);
  printf(" %ld KiB at the end\n", peak_rss_kib());
#if defined(__SANITIZE_ADDRESS__)
  printf("  (AddressSanitizer keeps freed memory in quarantine: here the peak RSS grows)\n");
#endif
  return 0;
}
