/* Progress output (verbose = 1 and 2): summary lines through a pipe, the
   live bar through a pseudo-terminal. Output is read back and parsed; the
   only time-based assertion is the upper bound on the redraw rate. */
#include <errno.h>
#include <fcntl.h>
#include <parc.h>
#include <pty.h>
#include <stdbool.h>
#include <termios.h>
#include <time.h>

#include "fixture.h"
#include "harness.h"

/* ---- tasks -------------------------------------------------------------- */

static int noop(const void *in, void *out, parc_task *t) {
  (void)in, (void)out, (void)t;
  return 0;
}

/* Sleeps *in milliseconds; fails when its index is a multiple of 10. */
static int nap_fail_tenth(const void *in, void *out, parc_task *t) {
  (void)out;
  int ms = *(const int *)in;
  struct timespec ts = {0, (long)ms * 1000000L};
  nanosleep(&ts, NULL);
  if (parc_task_index(t) % 10 == 0) return parc_fail(t, "index %zu fails", parc_task_index(t));
  return 0;
}

static int nap(const void *in, void *out, parc_task *t) {
  (void)out, (void)t;
  struct timespec ts = {0, (long)*(const int *)in * 1000000L};
  nanosleep(&ts, NULL);
  return 0;
}

static double now_seconds(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* ---- stderr through a pipe ---------------------------------------------- */

static int saved_stderr = -1;
static int capture_read = -1;

/* From here on, stderr goes into a pipe (large enough for these tests). */
static void capture_begin(void) {
  int fds[2];
  CHECK(pipe(fds) == 0);
  fcntl(fds[1], F_SETPIPE_SZ, 1 << 20);
  saved_stderr = dup(STDERR_FILENO);
  CHECK(saved_stderr >= 0);
  CHECK(dup2(fds[1], STDERR_FILENO) >= 0);
  close(fds[1]);
  capture_read = fds[0];
}

/* Restores stderr and returns what was written (static buffer). */
static const char *capture_end(void) {
  static char text[1 << 16];
  dup2(saved_stderr, STDERR_FILENO);
  close(saved_stderr);
  size_t used = 0;
  ssize_t n;
  while (used < sizeof text - 1 && (n = read(capture_read, text + used, sizeof text - 1 - used)) > 0)
    used += (size_t)n;
  text[used] = '\0';
  close(capture_read);
  return text;
}

static int count_lines(const char *s) {
  int n = 0;
  for (; *s; s++) n += *s == '\n';
  return n;
}

/* Parses a final line; returns 1 when it has exactly the documented form. */
static int parse_final(const char *line, const char *label, size_t *done, size_t *total,
                       size_t *failed, const char **rest) {
  char prefix[128];
  snprintf(prefix, sizeof prefix, "[parc] %s: ", label);
  if (strncmp(line, prefix, strlen(prefix)) != 0) return 0;
  double elapsed;
  int consumed = 0;
  if (sscanf(line + strlen(prefix), "%zu/%zu done, %zu failed | %lf s elapsed | finished%n", done,
             total, failed, &elapsed, &consumed) != 4 || consumed == 0)
    return 0;
  *rest = line + strlen(prefix) + consumed;
  return elapsed >= 0;
}

/* Lines before the last must be running lines of this label (a loaded
   machine may take over a second for small runs); returns the last line. */
static const char *last_line(const char *out, const char *label) {
  char prefix[128];
  snprintf(prefix, sizeof prefix, "[parc] %s: ", label);
  const char *line = out;
  for (;;) {
    const char *end = strchr(line, '\n');
    if (!end) FAIL_AT("unterminated output: \"%s\"", out);
    if (end[1] == '\0') return line;
    if (strncmp(line, prefix, strlen(prefix)) != 0 || !strstr(line, "tasks/s, ETA") ||
        strstr(line, "tasks/s, ETA") > end)
      FAIL_AT("bad running line: %.*s", (int)(end - line), line);
    line = end + 1;
  }
}

TEST(pipe_final_line_counts_failures) {
  parc_config cfg = test_config(PARC_THREADS, 2);
  cfg.verbose = 1;
  parc_pool *pool = test_pool_config(&cfg);
  int ms[100];
  for (int i = 0; i < 100; i++) ms[i] = 0;
  parc_options opt = {.label = "sweep"};
  capture_begin();
  int rc = parc_map(pool, nap_fail_tenth, ms, sizeof ms[0], NULL, 0, 100, &opt, NULL);
  const char *out = capture_end();
  CHECK_INT(PARC_ETASK, rc);
  CHECK(strchr(out, '\r') == NULL);
  CHECK(strchr(out, '\033') == NULL);
  out = last_line(out, "sweep");
  size_t done, total, failed;
  const char *rest;
  if (!parse_final(out, "sweep", &done, &total, &failed, &rest)) FAIL_AT("bad line: %s", out);
  CHECK_SIZE(100, done);
  CHECK_SIZE(100, total);
  CHECK_SIZE(10, failed);
  CHECK_STR("\n", rest);
  parc_pool_destroy(pool);
}

/* A run longer than a second prints lines while it runs: each in the
   documented form, counts never going back, at most one a second. */
TEST(pipe_lines_while_running) {
  parc_config cfg = test_config(PARC_THREADS, 2);
  cfg.verbose = 1;
  parc_pool *pool = test_pool_config(&cfg);
  enum { N = 60 };
  int ms[N];
  for (int i = 0; i < N; i++) ms[i] = 50;   /* 60 x 50 ms on 2 workers: about 1.5 s */
  parc_options opt = {.label = "slow", .batch = 1};
  capture_begin();
  double start = now_seconds();
  CHECK_OK(parc_map(pool, nap, ms, sizeof ms[0], NULL, 0, N, &opt, NULL));
  double elapsed = now_seconds() - start;
  const char *out = capture_end();
  int lines = count_lines(out);
  if (lines < 2) FAIL_AT("expected a running line and the final one, got:\n%s", out);
  if (lines > 2 + (int)elapsed) FAIL_AT("%d lines in %.2f s:\n%s", lines, elapsed, out);
  const char *line = out;
  size_t last_done = 0;
  for (int i = 0; i < lines - 1; i++) {
    size_t done, total, failed;
    double seconds, rate;
    char eta[32];
    int consumed = 0;
    if (sscanf(line, "[parc] slow: %zu/%zu done, %zu failed | %lf s elapsed | %lf tasks/s, ETA %31[^\n]%n",
               &done, &total, &failed, &seconds, &rate, eta, &consumed) != 6 || line[consumed] != '\n')
      FAIL_AT("bad running line: %.*s", (int)(strchr(line, '\n') - line), line);
    CHECK_SIZE(N, total);
    CHECK_SIZE(0, failed);
    CHECK(done >= last_done && done < N);
    CHECK(seconds >= 1.0);   /* the first line waits a second */
    CHECK(rate > 0);
    last_done = done;
    line = strchr(line, '\n') + 1;
  }
  size_t done, total, failed;
  const char *rest;
  if (!parse_final(line, "slow", &done, &total, &failed, &rest)) FAIL_AT("bad final: %s", line);
  CHECK_SIZE(N, done);
  CHECK_SIZE(0, failed);
  CHECK_STR("\n", rest);
  parc_pool_destroy(pool);
}

/* A stream fed one task at a time: with no opt.total the running lines
   say the ETA is unknown (the total is what has come so far); with it they
   count against it. */
static const char *feed_stream(size_t total, int n) {
  parc_config cfg = test_config(PARC_THREADS, 2);
  cfg.verbose = 1;
  parc_pool *pool = test_pool_config(&cfg);
  parc_options opt = {.label = "fed", .stream = 1, .total = total};
  parc_group *g;
  capture_begin();
  CHECK_OK(parc_group_create(&g, pool, &opt));
  int ms = 40;
  for (int i = 0; i < n; i++) {
    size_t index;
    CHECK_OK(parc_group_submit(g, nap, &ms, sizeof ms, NULL, 0, NULL));
    CHECK_OK(parc_group_next(g, -1, &index));
  }
  parc_group_destroy(g);
  parc_pool_destroy(pool);
  return capture_end();
}

TEST(pipe_stream_without_total_has_no_eta) {
  const char *out = feed_stream(0, 40);   /* 40 x 40 ms one at a time: 1.6 s */
  if (count_lines(out) < 2) FAIL_AT("expected a running line and the final one, got:\n%s", out);
  if (!strstr(out, "ETA unknown")) FAIL_AT("no 'ETA unknown' in:\n%s", out);
  if (strstr(out, "ETA 0")) FAIL_AT("a made-up ETA in:\n%s", out);
}

TEST(pipe_stream_with_total_counts_against_it) {
  const char *out = feed_stream(80, 40);
  if (!strstr(out, "/80 done")) FAIL_AT("no count against opt.total in:\n%s", out);
  if (!strstr(out, "40/80 done")) FAIL_AT("the summary is not 40/80:\n%s", out);
  if (strstr(out, "ETA unknown")) FAIL_AT("an unknown ETA with a total:\n%s", out);
}

/* stop_on_error: cancelled tasks count as failed, and the line says what
   parc_group_failed says. */
TEST(pipe_cancelled_count_as_failed) {
  parc_config cfg = test_config(PARC_THREADS, 2);
  cfg.verbose = 1;
  parc_pool *pool = test_pool_config(&cfg);
  enum { N = 200 };
  int ms[N];
  for (int i = 0; i < N; i++) ms[i] = 1;
  parc_options opt = {.label = "stop", .batch = 1, .stop_on_error = 1};
  capture_begin();
  parc_group *g;
  CHECK_OK(parc_group_create(&g, pool, &opt));
  CHECK_OK(parc_group_map(g, nap_fail_tenth, ms, sizeof ms[0], NULL, 0, N));
  int rc = parc_group_wait(g, -1);
  size_t expect_failed = parc_group_failed(g);
  parc_group_destroy(g);
  const char *out = capture_end();
  CHECK_INT(PARC_ETASK, rc);
  CHECK(expect_failed > 1);   /* task 0 failed, most others were cancelled */
  out = last_line(out, "stop");
  size_t done, total, failed;
  const char *rest;
  if (!parse_final(out, "stop", &done, &total, &failed, &rest)) FAIL_AT("bad line: %s", out);
  CHECK_SIZE(N, done);
  CHECK_SIZE(N, total);
  CHECK_SIZE(expect_failed, failed);
  parc_pool_destroy(pool);
}

/* The total grows with each submission; one final line covers them all. */
TEST(pipe_total_grows_with_submissions) {
  parc_config cfg = test_config(PARC_THREADS, 2);
  cfg.verbose = 1;
  parc_pool *pool = test_pool_config(&cfg);
  int zero = 0;
  int ms[70] = {0};
  parc_options opt = {.label = "grow"};
  capture_begin();
  parc_group *g;
  CHECK_OK(parc_group_create(&g, pool, &opt));
  for (int i = 0; i < 30; i++) CHECK_OK(parc_group_submit(g, nap, &zero, sizeof zero, NULL, 0, NULL));
  CHECK_OK(parc_group_wait(g, -1));
  CHECK_OK(parc_group_map(g, nap, ms, sizeof ms[0], NULL, 0, 70));
  CHECK_OK(parc_group_wait(g, -1));
  parc_group_destroy(g);
  const char *out = capture_end();
  out = last_line(out, "grow");
  size_t done, total, failed;
  const char *rest;
  if (!parse_final(out, "grow", &done, &total, &failed, &rest)) FAIL_AT("bad line: %s", out);
  CHECK_SIZE(100, done);
  CHECK_SIZE(100, total);
  CHECK_SIZE(0, failed);
  parc_pool_destroy(pool);
}

/* verbose 2: the final line also says how many tasks each worker did. */
TEST(pipe_verbose2_tasks_per_worker) {
  parc_config cfg = test_config(PARC_THREADS, 2);
  cfg.verbose = 2;
  parc_pool *pool = test_pool_config(&cfg);
  enum { N = 5000 };
  capture_begin();
  CHECK_OK(parc_map(pool, noop, NULL, 0, NULL, 0, N, &(parc_options){.label = "v2"}, NULL));
  const char *out = capture_end();
  out = last_line(out, "v2");
  size_t done, total, failed;
  const char *rest;
  if (!parse_final(out, "v2", &done, &total, &failed, &rest)) FAIL_AT("bad line: %s", out);
  CHECK_SIZE(N, done);
  const char *tag = " | tasks per worker:";
  if (strncmp(rest, tag, strlen(tag)) != 0) FAIL_AT("no per-worker detail: %s", out);
  const char *p = rest + strlen(tag);
  size_t sum = 0, count = 0, v;
  int used;
  while (sscanf(p, " %zu%n", &v, &used) == 1) {
    sum += v;
    count++;
    p += used;
  }
  /* Then the group's statistics (parc_group_stats): every task timed. */
  double busy, wall, longest;
  size_t cached, longest_index;
  int end = 0;
  if (sscanf(p, " | busy %lf s of %lf s wall, %zu cached, longest task %zu: %lf s%n", &busy, &wall,
             &cached, &longest_index, &longest, &end) != 5 || end == 0)
    FAIL_AT("no statistics after the per-worker detail: %s", out);
  CHECK_STR("\n", p + end);
  CHECK(busy > 0 && wall > 0 && longest > 0 && longest <= busy);
  CHECK_SIZE(0, cached);
  CHECK(longest_index < N);
  CHECK(count >= 1 && count <= 2);
  CHECK_SIZE(N, sum);
  parc_pool_destroy(pool);
}

TEST(verbose0_prints_nothing) {
  parc_pool *pool = test_pool(PARC_THREADS, 2);
  capture_begin();
  CHECK_OK(parc_map(pool, noop, NULL, 0, NULL, 0, 1000, NULL, NULL));
  const char *out = capture_end();
  CHECK_STR("", out);
  parc_pool_destroy(pool);
}

TEST(empty_group_prints_nothing) {
  parc_config cfg = test_config(PARC_THREADS, 2);
  cfg.verbose = 1;
  parc_pool *pool = test_pool_config(&cfg);
  capture_begin();
  parc_group *g;
  CHECK_OK(parc_group_create(&g, pool, NULL));
  parc_group_destroy(g);
  const char *out = capture_end();
  CHECK_STR("", out);
  parc_pool_destroy(pool);
}

/* PARC_VERBOSE reaches the pool through parc_config_default; the default
   label is "parc"; SERIAL reports too. */
TEST(env_verbose_serial_default_label) {
  setenv("PARC_VERBOSE", "1", 1);
  setenv("PARC_BACKEND", "serial", 1);
  parc_config cfg;
  parc_config_default(&cfg);
  CHECK_INT(1, cfg.verbose);
  parc_pool *pool;
  CHECK_OK(parc_pool_create(&pool, &cfg));
  capture_begin();
  CHECK_OK(parc_map(pool, noop, NULL, 0, NULL, 0, 42, NULL, NULL));
  const char *out = capture_end();
  out = last_line(out, "parc");
  size_t done, total, failed;
  const char *rest;
  if (!parse_final(out, "parc", &done, &total, &failed, &rest)) FAIL_AT("bad line: %s", out);
  CHECK_SIZE(42, done);
  CHECK_SIZE(42, total);
  parc_pool_destroy(pool);
}

/* Two groups reporting at once never interleave inside a line: every line
   is whole, and each group ends with one final line. */
TEST(pipe_concurrent_groups_whole_lines) {
  parc_config cfg = test_config(PARC_THREADS, 2);
  cfg.verbose = 1;
  parc_pool *pool = test_pool_config(&cfg);
  capture_begin();
  parc_group *a, *b;
  CHECK_OK(parc_group_create(&a, pool, &(parc_options){.label = "alpha"}));
  CHECK_OK(parc_group_create(&b, pool, &(parc_options){.label = "beta"}));
  CHECK_OK(parc_group_map(a, noop, NULL, 0, NULL, 0, 100000));
  CHECK_OK(parc_group_map(b, noop, NULL, 0, NULL, 0, 100000));
  parc_group_destroy(a);
  parc_group_destroy(b);
  const char *out = capture_end();
  int finals[2] = {0, 0};
  for (const char *line = out; *line; line = strchr(line, '\n') + 1) {
    if (!strchr(line, '\n')) FAIL_AT("unterminated line: %s", line);
    const char *labels[2] = {"alpha", "beta"};
    bool matched = false;
    for (int k = 0; k < 2; k++) {
      size_t done, total, failed;
      const char *rest;
      if (parse_final(line, labels[k], &done, &total, &failed, &rest)) {
        CHECK_SIZE(100000, done);
        CHECK(rest[0] == '\n');
        finals[k]++;
        matched = true;
      } else {
        char prefix[64];
        snprintf(prefix, sizeof prefix, "[parc] %s: ", labels[k]);
        matched |= strncmp(line, prefix, strlen(prefix)) == 0 && strstr(line, "tasks/s, ETA") &&
                   strstr(line, "tasks/s, ETA") < strchr(line, '\n');
      }
    }
    if (!matched) FAIL_AT("mixed or unknown line: %.*s", (int)(strchr(line, '\n') - line), line);
  }
  CHECK_INT(1, finals[0]);
  CHECK_INT(1, finals[1]);
  parc_pool_destroy(pool);
}

/* ---- the live bar through a pseudo-terminal ------------------------------ */

#define ERASE "\r\033[K"

typedef struct pty_run {
  char text[1 << 16];
  size_t len;
  double seconds;   /* from fork to the child's exit, as seen by the parent */
  int exit_status;
} pty_run;

/* Runs child() with stderr (and stdout) on a fresh 80-column raw pty and
   collects everything it writes. */
static void run_on_pty(void (*child)(void), pty_run *r) {
  struct winsize ws = {.ws_row = 24, .ws_col = 80};
  struct termios raw;
  memset(&raw, 0, sizeof raw);
  cfmakeraw(&raw);   /* no "\n" -> "\r\n": bytes arrive as written */
  int master;
  double start = now_seconds();
  pid_t pid = forkpty(&master, NULL, &raw, &ws);
  CHECK(pid >= 0);
  if (pid == 0) {
    setenv("TERM", "xterm", 1);
    child();
    _exit(0);
  }
  r->len = 0;
  for (;;) {
    ssize_t n = read(master, r->text + r->len, sizeof r->text - 1 - r->len);
    if (n > 0) {
      r->len += (size_t)n;
      if (r->len == sizeof r->text - 1) break;
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    break;   /* EIO: the child closed its side */
  }
  int status;
  waitpid(pid, &status, 0);
  r->seconds = now_seconds() - start;
  r->exit_status = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  r->text[r->len] = '\0';
  close(master);
}

enum { PTY_TASKS = 48 };

static void child_bar(void) {
  if (!isatty(STDERR_FILENO)) _exit(3);
  parc_config cfg = test_config(PARC_THREADS, 2);
  cfg.verbose = 1;
  parc_pool *pool = test_pool_config(&cfg);
  int ms[PTY_TASKS];
  for (int i = 0; i < PTY_TASKS; i++) ms[i] = 40;   /* 48 x 40 ms on 2 workers: ~1 s */
  parc_options opt = {.label = "tty", .batch = 1};
  if (parc_map(pool, nap_fail_tenth, ms, sizeof ms[0], NULL, 0, PTY_TASKS, &opt, NULL) != PARC_ETASK)
    _exit(4);
  parc_pool_destroy(pool);
}

static size_t count_of(const char *hay, const char *needle) {
  size_t n = 0;
  for (const char *p = hay; (p = strstr(p, needle)) != NULL; p += strlen(needle)) n++;
  return n;
}

TEST(pty_live_bar) {
  static pty_run r;
  run_on_pty(child_bar, &r);
  CHECK_INT(0, r.exit_status);
  /* Every bar is drawn as ERASE + "[parc] tty [" ...; the summary follows
     the last erase and is the only line. */
  size_t draws = count_of(r.text, ERASE "[parc] tty [");
  if (draws < 2) FAIL_AT("expected at least 2 redraws in %.2f s, got %zu:\n%s", r.seconds, draws, r.text);
  if ((double)draws > 10.0 * r.seconds + 1)
    FAIL_AT("%zu redraws in %.2f s: more than 10 a second", draws, r.seconds);
  CHECK_INT(1, count_lines(r.text));
  const char *last_erase = r.text;
  for (const char *p = r.text; (p = strstr(p, ERASE)) != NULL; p += 4) last_erase = p;
  const char *final = last_erase + 4;
  CHECK(strncmp(final, "[parc] tty:", 11) == 0);
  size_t done, total, failed;
  const char *rest;
  if (!parse_final(final, "tty", &done, &total, &failed, &rest)) FAIL_AT("bad final: %s", final);
  CHECK_SIZE(PTY_TASKS, done);
  CHECK_SIZE(PTY_TASKS, total);
  CHECK_SIZE(5, failed);   /* indices 0, 10, 20, 30, 40 */
  CHECK_STR("\n", rest);
  /* Each drawn bar fits in 79 columns and shows what it promises. */
  for (const char *p = r.text; (p = strstr(p, ERASE "[parc] tty [")) != NULL;) {
    const char *body = p + 4;
    const char *end = strstr(body, "\r");
    size_t len = end ? (size_t)(end - body) : strlen(body);
    char bar[256];
    if (len >= sizeof bar) FAIL_AT("bar of %zu bytes", len);
    memcpy(bar, body, len);
    bar[len] = '\0';
    if (len > 79) FAIL_AT("bar wider than the terminal (%zu): %s", len, bar);
    size_t d, t, f;
    char *counts = strchr(bar + strlen("[parc] tty ["), ']');
    CHECK(counts != NULL);
    if (sscanf(counts + 1, " %zu/%zu", &d, &t) != 2) FAIL_AT("no done/total in: %s", bar);
    CHECK_SIZE(PTY_TASKS, t);
    CHECK(d < t);
    const char *failed_at = strstr(bar, " failed");
    CHECK(failed_at && sscanf(strstr(bar, "| ") + 2, "%zu failed", &f) == 1);
    CHECK(f <= 5);
    /* At 80 columns the elapsed time goes without its word: "0.4 s, ETA 0.6 s". */
    double elapsed;
    char eta[16];
    const char *times = strrchr(bar, '|');
    CHECK(strstr(bar, "tasks/s") != NULL);
    if (!times || sscanf(times, "| %lf s, ETA %15s", &elapsed, eta) != 2)
      FAIL_AT("no elapsed time and ETA in: %s", bar);
    p = body;
  }
}

/* Work that ends within 0.2 s never flashes a bar: only the summary. */
static void child_quick(void) {
  parc_config cfg = test_config(PARC_THREADS, 2);
  cfg.verbose = 1;
  parc_pool *pool = test_pool_config(&cfg);
  if (parc_map(pool, noop, NULL, 0, NULL, 0, 1000, &(parc_options){.label = "quick"}, NULL))
    _exit(4);
  parc_pool_destroy(pool);
}

TEST(pty_quick_work_prints_only_summary) {
  static pty_run r;
  run_on_pty(child_quick, &r);
  CHECK_INT(0, r.exit_status);
  /* On a loaded machine the work may outlast 0.2 s: then the summary
     follows the bar's erasure. */
  const char *final = r.text;
  for (const char *p = r.text; (p = strstr(p, ERASE)) != NULL; p += 4) final = p + 4;
  if (final == r.text) CHECK(strchr(r.text, '\r') == NULL);
  size_t done, total, failed;
  const char *rest;
  if (!parse_final(final, "quick", &done, &total, &failed, &rest)) FAIL_AT("bad: %s", r.text);
  CHECK_SIZE(1000, done);
  CHECK_STR("\n", rest);
}

int main(int argc, char **argv) { return harness_main(argc, argv); }
