/* The scaling table (parc_scaling, parc_scaling_print) and `parc bench`.
   Times are never asserted: only the table's shape, statuses, the speedup
   arithmetic, the outputs, and the errors. The tool tests find the parc
   binary through the environment variable PARC_TOOL (ctest sets it). */
#include <parc.h>
#include <stdatomic.h>
#include <stdbool.h>

#include "harness.h"

/* A CPU-bound task: a few thousand steps of an LCG seeded by the input. */
static int spin(const void *in, void *out, parc_task *t) {
  (void)t;
  uint64_t x = *(const uint64_t *)in;
  for (int i = 0; i < 5000; i++) x = x * 6364136223846793005ull + 1442695040888963407ull;
  *(uint64_t *)out = x;
  return 0;
}

static uint64_t spin_expected(uint64_t x) {
  for (int i = 0; i < 5000; i++) x = x * 6364136223846793005ull + 1442695040888963407ull;
  return x;
}

static int fail_three(const void *in, void *out, parc_task *t) {
  (void)in, (void)out;
  if (parc_task_index(t) == 3) return parc_fail(t, "three is bad");
  return 0;
}

/* Writes the task's first random number to out, and the first call for
   each index (the baseline loop runs before any pool) also to first[]. */
enum { N = 200 };
static uint64_t first[N];
static _Atomic int called[N];

static int draw(const void *in, void *out, parc_task *t) {
  (void)in;
  uint64_t x = parc_rng_u64(parc_task_rng(t));
  size_t i = parc_task_index(t);
  if (atomic_fetch_add(&called[i], 1) == 0) first[i] = x;
  *(uint64_t *)out = x;
  return 0;
}

static int noop(const void *in, void *out, parc_task *t) {
  (void)in, (void)out, (void)t;
  return 0;
}

TEST(table_for_cpu_bound_map) {
  uint64_t in[N], out[N];
  for (int i = 0; i < N; i++) in[i] = (uint64_t)i * 7 + 1;
  parc_backend backends[] = {PARC_THREADS};
  int workers[] = {1, 2};
  parc_scaling_plan plan = {backends, 1, workers, 2, 2, NULL};
  parc_scaling_row rows[8];
  size_t nrows = 0;
  CHECK_OK(parc_scaling(spin, in, sizeof in[0], out, sizeof out[0], N, NULL, &plan, rows, 8, &nrows));
  CHECK_SIZE(3, nrows);
  CHECK_INT(PARC_SERIAL, rows[0].backend);
  CHECK_INT(1, rows[0].workers);
  CHECK_INT(PARC_THREADS, rows[1].backend);
  CHECK_INT(1, rows[1].workers);
  CHECK_INT(PARC_THREADS, rows[2].backend);
  CHECK_INT(2, rows[2].workers);
  for (size_t i = 0; i < nrows; i++) {
    CHECK_INT(PARC_OK, rows[i].status);
    CHECK_STR("", rows[i].message);
    CHECK(rows[i].seconds > 0);
    CHECK(rows[i].speedup == rows[0].seconds / rows[i].seconds);
  }
  CHECK(rows[0].speedup == 1.0);
  for (int i = 0; i < N; i++) CHECK(out[i] == spin_expected(in[i]));
}

/* Duplicate worker counts (after the workers rule) and backends collapse;
   SERIAL is one row; order is kept. */
TEST(plan_deduplicates) {
  int cpus = parc_cpu_count();
  parc_backend backends[] = {PARC_THREADS, PARC_SERIAL, PARC_THREADS};
  int workers[] = {1, 1, 0, -1, 3};
  parc_scaling_plan plan = {backends, 3, workers, 5, 1, NULL};
  parc_scaling_row rows[16];
  size_t nrows = 0;
  CHECK_OK(parc_scaling(noop, NULL, 0, NULL, 0, 10, NULL, &plan, rows, 16, &nrows));
  /* threads: 1, cpus, then 3 unless it equals one of them; serial: 1. */
  int expect[3] = {1, cpus, 3};
  size_t distinct = 1 + (cpus != 1) + (cpus != 3);
  CHECK_SIZE(1 + distinct + 1, nrows);
  size_t k = 0;
  for (int i = 0; i < 3; i++) {
    bool seen = false;
    for (int j = 0; j < i; j++) seen |= expect[j] == expect[i];
    if (seen) continue;
    CHECK_INT(PARC_THREADS, rows[1 + k].backend);
    CHECK_INT(expect[i], rows[1 + k].workers);
    k++;
  }
  CHECK_INT(PARC_SERIAL, rows[nrows - 1].backend);
  CHECK_INT(1, rows[nrows - 1].workers);
  for (size_t i = 0; i < nrows; i++) CHECK_INT(PARC_OK, rows[i].status);
}

/* Defaults: THREADS and PROCESSES x 1, 2, 4, ... below the CPU count, then
   the CPU count. rows NULL only counts. PROCESSES may not be built in:
   then its rows say PARC_EBACKEND, and the table is still made. */
TEST(defaults_and_unavailable_backend) {
  int cpus = parc_cpu_count();
  size_t counts = 1;
  for (int w = 1; w < cpus; w *= 2) counts++;
  size_t nrows = 0;
  CHECK_OK(parc_scaling(noop, NULL, 0, NULL, 0, 100, NULL, NULL, NULL, 0, &nrows));
  CHECK_SIZE(1 + 2 * counts, nrows);
  parc_scaling_row rows[64];
  CHECK_OK(parc_scaling(noop, NULL, 0, NULL, 0, 100, NULL, NULL, rows, 64, &nrows));
  CHECK_SIZE(1 + 2 * counts, nrows);
  for (size_t i = 0; i < counts; i++) {
    const parc_scaling_row *t = &rows[1 + i], *p = &rows[1 + counts + i];
    CHECK_INT(PARC_THREADS, t->backend);
    CHECK_INT(PARC_PROCESSES, p->backend);
    int w = i + 1 < counts ? 1 << i : cpus;
    CHECK_INT(w, t->workers);
    CHECK_INT(w, p->workers);
    CHECK_INT(PARC_OK, t->status);
    if (p->status == PARC_EBACKEND) {
      CHECK(strstr(p->message, "PARC_PROCESSES") != NULL);
      CHECK(p->speedup == 0);
      CHECK(p->seconds == 0);
    } else {
      CHECK_INT(PARC_OK, p->status);
    }
  }
}

/* A failing map is its rows' status and message, never the call's. */
TEST(failing_map_is_a_row_status) {
  parc_backend backends[] = {PARC_THREADS};
  int workers[] = {2};
  parc_scaling_plan plan = {backends, 1, workers, 1, 2, NULL};
  parc_scaling_row rows[4];
  size_t nrows;
  CHECK_OK(parc_scaling(fail_three, NULL, 0, NULL, 0, 10, NULL, &plan, rows, 4, &nrows));
  CHECK_SIZE(2, nrows);
  for (size_t i = 0; i < nrows; i++) {
    CHECK_INT(PARC_ETASK, rows[i].status);
    CHECK(strstr(rows[i].message, "three is bad") != NULL);
    CHECK(rows[i].speedup == 0);
  }
  char *text = NULL;
  size_t size = 0;
  FILE *f = open_memstream(&text, &size);
  CHECK_OK(parc_scaling_print(f, rows, nrows));
  fclose(f);
  CHECK(strstr(text, "PARC_ETASK: ") != NULL);
  CHECK(strstr(text, "three is bad") != NULL);
  free(text);
}

/* The baseline loop gives each index the stream a pool gives it. */
TEST(loop_and_pools_draw_the_same_streams) {
  uint64_t pooled[N];
  parc_backend backends[] = {PARC_THREADS};
  int workers[] = {2};
  parc_scaling_plan plan = {backends, 1, workers, 1, 1, NULL};
  parc_scaling_row rows[4];
  size_t nrows;
  parc_options opt = {.seed = 1234};
  CHECK_OK(parc_scaling(draw, NULL, 0, pooled, sizeof pooled[0], N, &opt, &plan, rows, 4, &nrows));
  CHECK_SIZE(2, nrows);
  for (int i = 0; i < N; i++) {
    CHECK_INT(2, atomic_load(&called[i]));
    CHECK(first[i] == pooled[i]);
  }
  parc_rng r;
  parc_rng_init(&r, 1234, 7);
  CHECK(pooled[7] == parc_rng_u64(&r));
}

/* A config with a timeout still times THREADS (timeout is cleared there). */
TEST(config_timeout_cleared_for_threads) {
  parc_config cfg;
  parc_config_default(&cfg);
  cfg.timeout = 5;
  parc_backend backends[] = {PARC_THREADS};
  int workers[] = {2};
  parc_scaling_plan plan = {backends, 1, workers, 1, 1, &cfg};
  parc_scaling_row rows[2];
  size_t nrows;
  CHECK_OK(parc_scaling(noop, NULL, 0, NULL, 0, 100, NULL, &plan, rows, 2, &nrows));
  CHECK_INT(PARC_OK, rows[1].status);
}

TEST(bad_arguments) {
  uint64_t in[4] = {0}, out[4];
  parc_scaling_row rows[8];
  size_t nrows;
  parc_backend threads[] = {PARC_THREADS};
  int one[] = {1};
#define SCALE(fn_, in_, out_, n_, opt_, plan_, rows_, max_, nrows_) \
  parc_scaling(fn_, in_, sizeof in[0], out_, sizeof out[0], n_, opt_, plan_, rows_, max_, nrows_)
  CHECK_ERROR(PARC_EINVAL, "fn is NULL", SCALE(NULL, in, out, 4, NULL, NULL, rows, 8, &nrows));
  CHECK_ERROR(PARC_EINVAL, "nrows is NULL", SCALE(spin, in, out, 4, NULL, NULL, rows, 8, NULL));
  CHECK_ERROR(PARC_EINVAL, "n is 0", SCALE(spin, in, out, 0, NULL, NULL, rows, 8, &nrows));
  CHECK_ERROR(PARC_EINVAL, "in is NULL", SCALE(spin, NULL, out, 4, NULL, NULL, rows, 8, &nrows));
  CHECK_ERROR(PARC_EINVAL, "out is NULL", SCALE(spin, in, NULL, 4, NULL, NULL, rows, 8, &nrows));
  CHECK_ERROR(PARC_EINVAL, "rows is NULL", SCALE(spin, in, out, 4, NULL, NULL, NULL, 8, &nrows));
  CHECK_ERROR(PARC_EINVAL, "overflows",
              parc_scaling(spin, in, 16, out, 8, SIZE_MAX / 8, NULL, NULL, rows, 8, &nrows));
  int dummy;
  parc_options cached = {.cache = (parc_cache *)&dummy};
  CHECK_ERROR(PARC_EINVAL, "cache", SCALE(spin, in, out, 4, &cached, NULL, rows, 8, &nrows));

  parc_scaling_plan plan = {NULL, 2, one, 1, 1, NULL};
  CHECK_ERROR(PARC_EINVAL, "backends is NULL", SCALE(spin, in, out, 4, NULL, &plan, rows, 8, &nrows));
  plan = (parc_scaling_plan){threads, 1, NULL, 3, 1, NULL};
  CHECK_ERROR(PARC_EINVAL, "workers is NULL", SCALE(spin, in, out, 4, NULL, &plan, rows, 8, &nrows));
  parc_backend bogus[] = {(parc_backend)42};
  plan = (parc_scaling_plan){bogus, 1, one, 1, 1, NULL};
  CHECK_ERROR(PARC_EINVAL, "backends[0] is 42", SCALE(spin, in, out, 4, NULL, &plan, rows, 8, &nrows));
  parc_backend mpi[] = {PARC_THREADS, PARC_MPI};
  plan = (parc_scaling_plan){mpi, 2, one, 1, 1, NULL};
  CHECK_ERROR(PARC_EINVAL, "mpirun", SCALE(spin, in, out, 4, NULL, &plan, rows, 8, &nrows));
  int huge[] = {1, 5000};
  plan = (parc_scaling_plan){threads, 1, huge, 2, 1, NULL};
  CHECK_ERROR(PARC_EINVAL, "workers[1] = 5000", SCALE(spin, in, out, 4, NULL, &plan, rows, 8, &nrows));
  plan = (parc_scaling_plan){threads, 1, one, 1, -1, NULL};
  CHECK_ERROR(PARC_EINVAL, "repeats", SCALE(spin, in, out, 4, NULL, &plan, rows, 8, &nrows));
  plan.repeats = 1001;
  CHECK_ERROR(PARC_EINVAL, "repeats", SCALE(spin, in, out, 4, NULL, &plan, rows, 8, &nrows));
  int two[] = {1, 2};
  plan = (parc_scaling_plan){threads, 1, two, 2, 1, NULL};
  CHECK_ERROR(PARC_EINVAL, "rows holds 2 rows but the plan makes 3",
              SCALE(spin, in, out, 4, NULL, &plan, rows, 2, &nrows));
#undef SCALE
  CHECK_ERROR(PARC_EINVAL, "f is NULL", parc_scaling_print(NULL, rows, 1));
  CHECK_ERROR(PARC_EINVAL, "rows is NULL", parc_scaling_print(stdout, NULL, 1));
  CHECK_OK(parc_scaling_print(fopen("/dev/null", "w"), NULL, 0));
}

TEST(print_table_layout) {
  parc_scaling_row rows[3] = {
      {PARC_SERIAL, 1, 0.5, 1.0, PARC_OK, ""},
      {PARC_THREADS, 2, 0.25, 2.0, PARC_OK, ""},
      {PARC_PROCESSES, 2, 0, 0, PARC_EBACKEND, "PARC_PROCESSES is not built into this libparc"},
  };
  char *text = NULL;
  size_t size = 0;
  FILE *f = open_memstream(&text, &size);
  CHECK_OK(parc_scaling_print(f, rows, 3));
  fclose(f);
  const char *expect =
      "backend    workers     seconds   speedup  efficiency\n"
      "sequential       1      0.5000     1.00x        100%\n"
      "threads          2      0.2500     2.00x        100%\n"
      "processes        2           -         -           -  PARC_EBACKEND: PARC_PROCESSES is "
      "not built into this libparc\n";
  CHECK_STR(expect, text);
  free(text);
}

/* ---- parc bench ----------------------------------------------------------- */

typedef struct tool_run {
  int exit_code;
  char out[1 << 15];
  char err[1 << 12];
} tool_run;

static void read_all(int fd, char *buf, size_t cap) {
  size_t used = 0;
  ssize_t n;
  while (used < cap - 1 && (n = read(fd, buf + used, cap - 1 - used)) > 0) used += (size_t)n;
  buf[used] = '\0';
}

/* Runs the parc tool with args; stdout and stderr captured (small). */
static void run_tool(tool_run *r, const char *const *args) {
  const char *tool = getenv("PARC_TOOL");
  if (!tool) FAIL_AT("PARC_TOOL is not set: point it at the parc binary (ctest does)");
  char *argv[32];
  int argc = 0;
  argv[argc++] = (char *)tool;
  for (; args[argc - 1] && argc < 31; argc++) argv[argc] = (char *)args[argc - 1];
  argv[argc] = NULL;
  int out[2], err[2];
  CHECK(pipe(out) == 0 && pipe(err) == 0);
  fflush(NULL);
  pid_t pid = fork();
  CHECK(pid >= 0);
  if (pid == 0) {
    dup2(out[1], STDOUT_FILENO);
    dup2(err[1], STDERR_FILENO);
    close(out[0]), close(out[1]), close(err[0]), close(err[1]);
    alarm(100);   /* survives execv: a hung tool dies instead of outliving the test */
    execv(tool, argv);
    _exit(127);
  }
  close(out[1]);
  close(err[1]);
  read_all(out[0], r->out, sizeof r->out);
  read_all(err[0], r->err, sizeof r->err);
  close(out[0]);
  close(err[0]);
  int status;
  waitpid(pid, &status, 0);
  r->exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

TEST(bench_cli_prints_a_table) {
  static tool_run r;
  run_tool(&r, (const char *[]){"bench", "--n", "1000", "--workload", "empty", NULL});
  if (r.exit_code != 0) FAIL_AT("exit %d, stderr: %s", r.exit_code, r.err);
  CHECK(strstr(r.out, "backend    workers     seconds   speedup  efficiency\n") != NULL);
  CHECK(strstr(r.out, "\nsequential       1 ") != NULL);
  CHECK(strstr(r.out, "\nthreads          1 ") != NULL);
  CHECK(strstr(r.out, "\nprocesses        1 ") != NULL);
  CHECK(strstr(r.out, "empty: 1000 tasks") != NULL);
  CHECK(strstr(r.out, "reaction") == NULL);
  CHECK_STR("", r.err);
}

TEST(bench_cli_workloads_check_their_numbers) {
  static tool_run r;
  run_tool(&r, (const char *[]){"bench", "--n", "2000", "--workload", "reaction,montecarlo",
                                "--workers", "1,2", "--backend", "threads", "--repeats", "1",
                                NULL});
  if (r.exit_code != 0) FAIL_AT("exit %d, stderr: %s", r.exit_code, r.err);
  /* The chapter's numbers: conversion 0.9932 at k = 0.5, nominal 73.60 C. */
  CHECK(strstr(r.out, "conversion at k = 0.5 is 0.9932") != NULL);
  CHECK(strstr(r.out, "nominal 73.60 C") != NULL);
  CHECK(strstr(r.out, "\nthreads          2 ") != NULL);
  CHECK(strstr(r.out, "\nprocesses") == NULL);
}

TEST(bench_cli_csv) {
  static tool_run r;
  run_tool(&r, (const char *[]){"bench", "--n", "500", "--workload", "empty", "--workers", "2",
                                "--backend", "threads", "--repeats", "1", "--csv", NULL});
  if (r.exit_code != 0) FAIL_AT("exit %d, stderr: %s", r.exit_code, r.err);
  char workload[32], backend[32];
  int workers, status;
  double seconds, speedup;
  const char *line = strchr(r.out, '\n');
  CHECK(strncmp(r.out, "workload,backend,workers,seconds,speedup,status\n", 48) == 0);
  const char *expect[] = {"sequential", "threads"};
  for (int i = 0; i < 2; i++) {
    CHECK(line != NULL);
    line++;
    if (sscanf(line, "%31[^,],%31[^,],%d,%lf,%lf,%d", workload, backend, &workers, &seconds,
               &speedup, &status) != 6)
      FAIL_AT("bad csv row: %s", line);
    CHECK_STR("empty", workload);
    CHECK_STR(expect[i], backend);
    CHECK_INT(i == 0 ? 1 : 2, workers);
    CHECK_INT(0, status);
    line = strchr(line, '\n');
  }
  CHECK(line && line[1] == '\0');
}

/* Bad flags: exit 2 and exactly one line on stderr, nothing on stdout. */
TEST(bench_cli_bad_flags) {
  const char *const cases[][5] = {
      {"bench", "--frobnicate", NULL},
      {"bench", "--n", NULL},
      {"bench", "--n", "0", NULL},
      {"bench", "--n", "12x", NULL},
      {"bench", "--workload", "nope", NULL},
      {"bench", "--workers", "1,,x", NULL},
      {"bench", "--workers", "5000", NULL},
      {"bench", "--backend", "mpi", NULL},
      {"bench", "--repeats", "-3", NULL},
      {"bench", "--verbose=7", NULL},
  };
  static tool_run r;
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    run_tool(&r, cases[i]);
    if (r.exit_code != 2) FAIL_AT("%s %s: exit %d", cases[i][1], cases[i][2] ? cases[i][2] : "", r.exit_code);
    CHECK_STR("", r.out);
    CHECK(strncmp(r.err, "parc bench: ", 12) == 0);
    size_t len = strlen(r.err);
    if (len == 0 || r.err[len - 1] != '\n' || strchr(r.err, '\n') != r.err + len - 1)
      FAIL_AT("not one line: \"%s\"", r.err);
  }
  run_tool(&r, (const char *[]){"bench", "--help", NULL});
  CHECK_INT(0, r.exit_code);
  CHECK(strstr(r.out, "usage: parc bench") != NULL);
}

int main(int argc, char **argv) { return harness_main(argc, argv); }
