/* Records of any size and streams (DESIGN.md section 7), alike on every
   backend: parc_group_map_bufs, parc_task_output, parc_group_output,
   parc_group_pending, opt.stream, opt.total. Runs once per backend (env
   PARC_TEST_BACKEND and PARC_START, see records.cmake). */
#include <parc.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "fixture.h"
#include "harness.h"

/* A task asks for more memory than exists: the sanitizers' allocators must
   answer NULL, as malloc does, rather than stop the program. */
const char *__asan_default_options(void);
const char *__asan_default_options(void) { return "allocator_may_return_null=1"; }
const char *__tsan_default_options(void);
const char *__tsan_default_options(void) { return "allocator_may_return_null=1"; }

/* The bytes of record i: a pattern of i's own, so misplaced bytes show. */
static unsigned char pattern(size_t i, size_t k) { return (unsigned char)(i * 31 + k * 7 + 1); }

/* Output: a 8-byte header (the input's size), then the input reversed and
   one byte more per 16 input bytes (so sizes differ from the inputs'). */
static size_t output_size(size_t in_size) { return 8 + in_size + in_size / 16; }

static int reverse_record(const void *in, void *out, parc_task *t) {
  (void)out;
  size_t n = parc_task_input_size(t);
  unsigned char *o = parc_task_output(t, output_size(n));
  if (!o) return 1;
  uint64_t size = n;
  memcpy(o, &size, 8);
  for (size_t k = 0; k < n; k++) o[8 + k] = ((const unsigned char *)in)[n - 1 - k];
  memset(o + 8 + n, 0xAB, n / 16);
  return 0;
}

static void check_reversed(const parc_group *g, size_t index, const unsigned char *in, size_t n) {
  size_t size = 0;
  const unsigned char *o = parc_group_output(g, index, &size);
  if (!o) FAIL_AT("task %zu: no output (status %d)", index, parc_group_status(g, index));
  if (size != output_size(n)) FAIL_AT("task %zu: output of %zu bytes, want %zu", index, size, output_size(n));
  uint64_t header;
  memcpy(&header, o, 8);
  if (header != n) FAIL_AT("task %zu: saw %llu input bytes, want %zu", index, (unsigned long long)header, n);
  for (size_t k = 0; k < n; k++)
    if (o[8 + k] != in[n - 1 - k]) FAIL_AT("task %zu: byte %zu wrong", index, k);
  for (size_t k = 0; k < n / 16; k++)
    if (o[8 + n + k] != 0xAB) FAIL_AT("task %zu: tail byte %zu wrong", index, k);
}

TEST(map_bufs_gives_every_task_its_record_and_keeps_its_output) {
  parc_pool *pool = test_pool(test_backend(), 3);
  enum { N = 3000 };
  static parc_buf in[N];
  static unsigned char *data[N];
  for (size_t i = 0; i < N; i++) {
    size_t n = (i * 37) % 301;   /* 0 .. 300 bytes, zero-size ones included */
    data[i] = malloc(n ? n : 1);
    for (size_t k = 0; k < n; k++) data[i][k] = pattern(i, k);
    in[i] = (parc_buf){n ? data[i] : NULL, n};
  }
  size_t batches[] = {0, 1, 7};
  for (size_t b = 0; b < 3; b++) {
    parc_options opt = {.batch = batches[b]};
    parc_group *g;
    CHECK_OK(parc_group_create(&g, pool, &opt));
    CHECK_OK(parc_group_map_bufs(g, reverse_record, in, N));
    CHECK_OK(parc_group_wait(g, -1));
    for (size_t i = 0; i < N; i++) check_reversed(g, i, data[i], in[i].size);
    /* Indices never submitted have none. */
    size_t size = 99;
    CHECK(parc_group_output(g, N, &size) == NULL);
    CHECK_SIZE(0, size);
    parc_group_destroy(g);
  }
  for (size_t i = 0; i < N; i++) free(data[i]);
  parc_pool_destroy(pool);
}

/* Records in parc_shared_alloc memory are read where they are. */
static int report_address(const void *in, void *out, parc_task *t) {
  (void)out;
  uintptr_t *o = parc_task_output(t, sizeof *o);
  if (!o) return 1;
  *o = (uintptr_t)in;
  return 0;
}

TEST(records_in_shared_memory_are_read_in_place) {
  parc_pool *pool = test_pool(test_backend(), 2);
  enum { N = 64 };
  char *shared = parc_shared_alloc(N * 100);
  CHECK(shared != NULL);
  parc_buf in[N];
  for (size_t i = 0; i < N; i++) in[i] = (parc_buf){shared + i * 100, 10 + i};
  parc_group *g;
  CHECK_OK(parc_group_create(&g, pool, NULL));
  CHECK_OK(parc_group_map_bufs(g, report_address, in, N));
  CHECK_OK(parc_group_wait(g, -1));
  for (size_t i = 0; i < N; i++) {
    const uintptr_t *seen = parc_group_output(g, i, NULL);
    CHECK(seen != NULL);
    if (*seen != (uintptr_t)in[i].data) FAIL_AT("task %zu read a copy", i);
  }
  parc_group_destroy(g);
  parc_shared_free(shared);
  parc_pool_destroy(pool);
}

TEST(map_bufs_rejects_bad_arguments) {
  parc_pool *pool = test_pool(test_backend(), 1);
  parc_group *g;
  CHECK_OK(parc_group_create(&g, pool, NULL));
  parc_buf bad[2] = {{"ab", 2}, {NULL, 5}};
  CHECK_ERROR(PARC_EINVAL, "in[1].data is NULL", parc_group_map_bufs(g, reverse_record, bad, 2));
  CHECK_ERROR(PARC_EINVAL, "in is NULL", parc_group_map_bufs(g, reverse_record, NULL, 3));
  CHECK_ERROR(PARC_EINVAL, "fn is NULL", parc_group_map_bufs(g, NULL, bad, 1));
  CHECK_OK(parc_group_map_bufs(g, reverse_record, NULL, 0));
  CHECK_SIZE(0, parc_group_pending(g));
  parc_group_destroy(g);
  CHECK_INT(PARC_EINVAL, parc_group_map_bufs(NULL, reverse_record, bad, 1));
  parc_pool_destroy(pool);
}

/* Task i: an output of i bytes, replaced once (the first is dropped), or
   none at all for multiples of 5. */
static int replace_output(const void *in, void *out, parc_task *t) {
  (void)in;
  (void)out;
  size_t i = parc_task_index(t);
  if (i % 5 == 0) return 0;
  unsigned char *first = parc_task_output(t, 1000);
  if (!first) return 1;
  memset(first, 0xEE, 1000);
  unsigned char *o = parc_task_output(t, i);
  if (!o) return 1;
  for (size_t k = 0; k < i; k++) o[k] = (unsigned char)(i + k);
  return 0;
}

TEST(submit_without_out_gets_outputs_and_a_second_call_replaces_the_first) {
  parc_pool *pool = test_pool(test_backend(), 2);
  parc_group *g;
  CHECK_OK(parc_group_create(&g, pool, NULL));
  enum { N = 200 };
  for (size_t i = 0; i < N; i++) CHECK_OK(parc_group_submit(g, replace_output, &i, sizeof i, NULL, 0, NULL));
  CHECK_OK(parc_group_wait(g, -1));
  for (size_t i = 0; i < N; i++) {
    size_t size = 77;
    const unsigned char *o = parc_group_output(g, i, &size);
    if (i % 5 == 0) {
      CHECK(o == NULL);
      CHECK_SIZE(0, size);
      continue;
    }
    CHECK(o != NULL);
    CHECK_SIZE(i, size);
    for (size_t k = 0; k < i; k++) CHECK(o[k] == (unsigned char)(i + k));
  }
  parc_group_destroy(g);
  parc_pool_destroy(pool);
}

static int empty_outputs(const void *in, void *out, parc_task *t) {
  (void)in;
  (void)out;
  return parc_task_output(t, 0) ? 0 : 1;
}

TEST(an_empty_output_is_a_unique_pointer_of_size_zero) {
  parc_pool *pool = test_pool(test_backend(), 2);
  parc_group *g;
  CHECK_OK(parc_group_create(&g, pool, NULL));
  CHECK_OK(parc_group_map(g, empty_outputs, NULL, 0, NULL, 0, 50));
  CHECK_OK(parc_group_wait(g, -1));
  const void *seen[50];
  for (size_t i = 0; i < 50; i++) {
    size_t size = 5;
    seen[i] = parc_group_output(g, i, &size);
    CHECK(seen[i] != NULL);
    CHECK_SIZE(0, size);
    for (size_t j = 0; j < i; j++) CHECK(seen[j] != seen[i]);
  }
  parc_group_destroy(g);
  parc_pool_destroy(pool);
}

static int output_with_fixed_out(const void *in, void *out, parc_task *t) {
  (void)in;
  *(int *)out = 7;
  return parc_task_output(t, 8) ? 0 : 0;   /* NULL: the task ends PARC_EINVAL anyway */
}

static int huge_output(const void *in, void *out, parc_task *t) {
  (void)out;
  int i = *(const int *)in;
  if (i == 3) {
    if (parc_task_output(t, SIZE_MAX / 2)) return 0;
    return parc_fail(t, "this text is not the one kept");
  }
  int *o = parc_task_output(t, sizeof *o);
  if (!o) return 1;
  *o = i * i;
  return 0;
}

static int output_then_fail(const void *in, void *out, parc_task *t) {
  (void)in;
  (void)out;
  char *o = parc_task_output(t, 100000);   /* large: in place on PROCESSES */
  if (!o) return 1;
  memset(o, 1, 100000);
  return parc_fail(t, "failed after its output");
}

TEST(task_output_failures_are_the_tasks_alone) {
  parc_pool *pool = test_pool(test_backend(), 2);
  parc_group *g;
  CHECK_OK(parc_group_create(&g, pool, NULL));
  int x = 0, y[6] = {0};
  /* A fixed output: parc_task_output is PARC_EINVAL for the task. */
  CHECK_OK(parc_group_map(g, output_with_fixed_out, &x, 0, y, sizeof y[0], 1));
  int v[6] = {0, 1, 2, 3, 4, 5};
  CHECK_OK(parc_group_map(g, huge_output, v, sizeof v[0], NULL, 0, 6));
  CHECK_OK(parc_group_submit(g, output_then_fail, NULL, 0, NULL, 0, NULL));
  CHECK_INT(PARC_EINVAL, parc_group_wait(g, -1));
  CHECK_INT(PARC_EINVAL, parc_group_status(g, 0));
  CHECK(strstr(parc_group_message(g, 0), "fixed-size output") != NULL);
  CHECK(parc_group_output(g, 0, NULL) == NULL);
  for (size_t i = 0; i < 6; i++) {
    if (i == 3) {
      CHECK_INT(PARC_ENOMEM, parc_group_status(g, 1 + i));
      CHECK(strstr(parc_group_message(g, 1 + i), "parc_task_output: cannot allocate") != NULL);
      CHECK(parc_group_output(g, 1 + i, NULL) == NULL);
      continue;
    }
    CHECK_INT(PARC_OK, parc_group_status(g, 1 + i));
    const int *o = parc_group_output(g, 1 + i, NULL);
    CHECK(o && *o == (int)(i * i));
  }
  CHECK_INT(PARC_ETASK, parc_group_status(g, 7));
  CHECK_STR("failed after its output", parc_group_message(g, 7));
  size_t size = 1;
  CHECK(parc_group_output(g, 7, &size) == NULL);
  CHECK_SIZE(0, size);
  parc_group_destroy(g);
  parc_pool_destroy(pool);
}

/* A gibibyte (or `bytes`) of output: word k holds k ^ index. */
static int big_output(const void *in, void *out, parc_task *t) {
  (void)out;
  size_t bytes = *(const size_t *)in;
  uint64_t *o = parc_task_output(t, bytes);
  if (!o) return 1;
  uint64_t key = parc_task_index(t) * 0x9E3779B97F4A7C15ull;
  for (size_t k = 0; k < bytes / 8; k++) o[k] = k ^ key;
  return 0;
}

static void check_big(const parc_group *g, size_t index, size_t bytes) {
  size_t size = 0;
  const uint64_t *o = parc_group_output(g, index, &size);
  if (!o) FAIL_AT("task %zu: no output (%s)", index, parc_group_message(g, index));
  CHECK_SIZE(bytes, size);
  uint64_t key = index * 0x9E3779B97F4A7C15ull;
  for (size_t k = 0; k < bytes / 8; k++)
    if (o[k] != (k ^ key)) FAIL_AT("task %zu: word %zu wrong", index, k);
}

TEST_WITH_LIMIT(outputs_of_a_gibibyte_arrive_intact, 300) {
  parc_pool *pool = test_pool(test_backend(), 2);
  parc_group *g;
  CHECK_OK(parc_group_create(&g, pool, NULL));
  /* Around the in-place threshold and the arena's size, then 1 GiB. */
  size_t sizes[] = {8, 65528, 65536, 300000, (size_t)3 << 20, (size_t)1 << 30};
  size_t n = sizeof sizes / sizeof sizes[0];
  for (size_t i = 0; i < n; i++) CHECK_OK(parc_group_submit(g, big_output, &sizes[i], sizeof sizes[i], NULL, 0, NULL));
  CHECK_OK(parc_group_wait(g, -1));
  for (size_t i = 0; i < n; i++) check_big(g, i, sizes[i]);
  parc_group_destroy(g);
  parc_pool_destroy(pool);
}

/* Many small outputs in one round: more than the arena holds. */
TEST(small_outputs_beyond_one_arena_arrive_intact) {
  parc_pool *pool = test_pool(test_backend(), 2);
  enum { N = 20000 };
  static size_t sizes[N];
  for (size_t i = 0; i < N; i++) sizes[i] = 8 * (1 + i % 64);
  parc_options opt = {.batch = N / 2};
  parc_group *g;
  CHECK_OK(parc_group_create(&g, pool, &opt));
  CHECK_OK(parc_group_map(g, big_output, sizes, sizeof sizes[0], NULL, 0, N));
  CHECK_OK(parc_group_wait(g, -1));
  for (size_t i = 0; i < N; i++) check_big(g, i, sizes[i]);
  parc_group_destroy(g);
  parc_pool_destroy(pool);
}

/* ---- the cache --------------------------------------------------------------- */

/* Variable inputs are keys, variable results are values: a second run
   answers every task from the cache with the same bytes, results that
   were absent stay absent, and a changed record is a miss. */
static int reverse_or_nothing(const void *in, void *out, parc_task *t) {
  if (parc_task_input_size(t) % 10 == 3) return 0;   /* no result at all */
  return reverse_record(in, out, t);
}

static void run_cached(parc_pool *pool, parc_cache *cache, const parc_buf *in, size_t n,
                       size_t want_cached, unsigned char *const *data) {
  parc_options opt = {.cache = cache, .cache_name = "reverse"};
  parc_group *g;
  CHECK_OK(parc_group_create(&g, pool, &opt));
  CHECK_OK(parc_group_map_bufs(g, reverse_or_nothing, in, n));
  CHECK_OK(parc_group_wait(g, -1));
  for (size_t i = 0; i < n; i++) {
    if (in[i].size % 10 == 3) {
      CHECK(parc_group_output(g, i, NULL) == NULL);
      continue;
    }
    check_reversed(g, i, data[i], in[i].size);
  }
  parc_group_info info;
  CHECK_OK(parc_group_stats(g, &info));
  CHECK_SIZE(want_cached, info.cached);
  parc_group_destroy(g);
}

TEST(the_cache_keeps_variable_records_and_results) {
  char dir[64], path[128];
  test_fresh_dir(dir, "records-cache");
  snprintf(path, sizeof path, "%s/cache.db", dir);
  parc_pool *pool = test_pool(test_backend(), 2);
  enum { N = 300 };
  static parc_buf in[N];
  static unsigned char *data[N];
  for (size_t i = 0; i < N; i++) {
    size_t n = i % 10 == 9 ? 200000 : 1 + (i * 13) % 97;   /* distinct; some beyond the in-place size */
    data[i] = malloc(n ? n : 1);
    for (size_t k = 0; k < n; k++) data[i][k] = pattern(i, k);
    in[i] = (parc_buf){n ? data[i] : NULL, n};
  }
  parc_cache *cache;
  CHECK_OK(parc_cache_open(&cache, path, NULL));
  run_cached(pool, cache, in, N, 0, data);
  parc_cache_close(cache);
  /* A new handle: from the database. */
  CHECK_OK(parc_cache_open(&cache, path, NULL));
  run_cached(pool, cache, in, N, N, data);
  /* One record changed by one byte: that task alone runs. */
  data[7][0] ^= 1;
  run_cached(pool, cache, in, N, N - 1, data);
  parc_cache_close(cache);
  for (size_t i = 0; i < N; i++) free(data[i]);
  parc_pool_destroy(pool);
  test_remove_dir(dir);
}

/* ---- graphs ---------------------------------------------------------------- */

static int greet(const void *in, void *out, parc_task *t) {
  (void)out;
  const char *name = in;
  char *o = parc_task_output(t, strlen("hello, ") + strlen(name) + 1);
  if (!o) return 1;
  sprintf(o, "hello, %s", name);
  return 0;
}

static int shout(const void *in, void *out, parc_task *t) {
  (void)in;
  (void)out;
  size_t total = 0;
  for (size_t k = 0; k < parc_task_ndeps(t); k++) {
    size_t size;
    parc_task_dep(t, k, &size);
    total += size;
  }
  char *o = parc_task_output(t, total + 1);
  if (!o) return 1;
  size_t at = 0;
  for (size_t k = 0; k < parc_task_ndeps(t); k++) {
    size_t size;
    const char *d = parc_task_dep(t, k, &size);
    for (size_t i = 0; i < size; i++) o[at++] = d[i] >= 'a' && d[i] <= 'z' ? (char)(d[i] - 32) : d[i];
  }
  o[at] = 0;
  return 0;
}

TEST(a_graph_nodes_variable_output_is_its_dependants_input) {
  parc_pool *pool = test_pool(test_backend(), 2);
  parc_graph *graph;
  CHECK_OK(parc_graph_create(&graph, pool, NULL));
  parc_node a, b, c;
  CHECK_OK(parc_graph_add(graph, greet, "ada", 4, 0, NULL, 0, &a));
  CHECK_OK(parc_graph_add(graph, greet, "grace hopper", 13, 0, NULL, 0, &b));
  parc_node ab[2] = {a, b};
  CHECK_OK(parc_graph_add(graph, shout, NULL, 0, 0, ab, 2, &c));
  CHECK_OK(parc_graph_run(graph));
  const void *out;
  size_t size;
  CHECK_OK(parc_graph_result(graph, a, &out, &size));
  CHECK_SIZE(11, size);
  CHECK_STR("hello, ada", out);
  CHECK_OK(parc_graph_result(graph, c, &out, &size));
  /* The dependencies' sizes include their NULs: "HELLO, ADA\0HELLO, GRACE HOPPER\0\0". */
  CHECK_SIZE(11 + 20 + 1, size);
  CHECK(memcmp(out, "HELLO, ADA\0HELLO, GRACE HOPPER\0", 31) == 0);
  parc_graph_destroy(graph);
  parc_pool_destroy(pool);
}

/* ---- streams ---------------------------------------------------------------- */

static int number_text(const void *in, void *out, parc_task *t) {
  (void)out;
  size_t i = *(const size_t *)in;
  if (i % 1000 == 999) return parc_fail(t, "input %zu refused", i);
  char text[32];
  int n = snprintf(text, sizeof text, "<%zu>", i);
  char *o = parc_task_output(t, (size_t)n);
  if (!o) return 1;
  memcpy(o, text, (size_t)n);
  return 0;
}

/* Reports one task of a stream and checks it; returns its index. */
static size_t take_checked(parc_group *g, const size_t *inputs) {
  size_t index;
  int rc = parc_group_next(g, -1, &index);
  size_t i = inputs[index];
  if (i % 1000 == 999) {
    CHECK_INT(PARC_ETASK, rc);
    char want[64];
    snprintf(want, sizeof want, "input %zu refused", i);
    CHECK_STR(want, parc_group_message(g, index));
    return index;
  }
  CHECK_INT(PARC_OK, rc);
  char want[32];
  int n = snprintf(want, sizeof want, "<%zu>", i);
  size_t size;
  const char *o = parc_group_output(g, index, &size);
  if (!o || size != (size_t)n || memcmp(o, want, size) != 0)
    FAIL_AT("task %zu: output \"%.*s\" (%zu bytes), want \"%s\"", index, o ? (int)size : 6,
            o ? o : "(null)", size, want);
  return index;
}

TEST(a_stream_forgets_what_it_reported_at_the_next_call) {
  parc_pool *pool = test_pool(test_backend(), 2);
  parc_options opt = {.stream = 1};
  parc_group *g;
  CHECK_OK(parc_group_create(&g, pool, &opt));
  enum { N = 5000, IN_FLIGHT = 32 };
  static size_t inputs[N];   /* the input of each index */
  size_t taken = 0, reported_before = SIZE_MAX;
  for (size_t i = 0; i < N; i++) {
    size_t index;
    CHECK_OK(parc_group_submit(g, number_text, &i, sizeof i, NULL, 0, &index));
    CHECK_SIZE(i, index);
    inputs[index] = i;
    CHECK_SIZE(i + 1 - taken, parc_group_pending(g));
    while (parc_group_pending(g) >= IN_FLIGHT) {
      size_t r = take_checked(g, inputs);
      /* The one reported before this call is gone now. */
      if (reported_before != SIZE_MAX) {
        CHECK_INT(PARC_EINVAL, parc_group_status(g, reported_before));
        CHECK(parc_group_message(g, reported_before) == NULL);
        CHECK(parc_group_output(g, reported_before, NULL) == NULL);
      }
      /* The one just reported is still there. */
      CHECK(parc_group_status(g, r) != PARC_EINVAL);
      reported_before = r;
      taken++;
    }
  }
  while (taken < N) {
    take_checked(g, inputs);
    taken++;
  }
  size_t index;
  CHECK_INT(PARC_DONE, parc_group_next(g, -1, &index));
  CHECK_SIZE(0, parc_group_pending(g));
  CHECK_SIZE(N / 1000, parc_group_failed(g));
  parc_group_destroy(g);
  parc_pool_destroy(pool);
}

/* A stream of maps: each map's tasks are forgotten one by one, the job once
   all are. */
static int copy_int(const void *in, void *out, parc_task *t) {
  (void)t;
  *(int *)out = *(const int *)in + 1;
  return 0;
}

TEST(a_stream_of_maps_reports_every_task_once) {
  parc_pool *pool = test_pool(test_backend(), 2);
  parc_options opt = {.stream = 1};
  parc_group *g;
  CHECK_OK(parc_group_create(&g, pool, &opt));
  enum { N = 100 };
  int x[3][N], y[3][N];
  for (int m = 0; m < 3; m++) {
    for (int i = 0; i < N; i++) x[m][i] = m * N + i;
    CHECK_OK(parc_group_map(g, copy_int, x[m], sizeof(int), y[m], sizeof(int), N));
  }
  static bool seen[3 * N];
  size_t index, count = 0;
  int rc;
  while ((rc = parc_group_next(g, -1, &index)) != PARC_DONE) {
    CHECK_INT(PARC_OK, rc);
    CHECK(index < 3 * N && !seen[index]);
    seen[index] = true;
    count++;
  }
  CHECK_SIZE(3 * N, count);
  for (int m = 0; m < 3; m++)
    for (int i = 0; i < N; i++) CHECK_INT(m * N + i + 1, y[m][i]);
  parc_group_cancel(g);
  parc_group_destroy(g);
  parc_pool_destroy(pool);
}

/* Peak memory of a long stream stays flat after warm-up. */
static long rss_kib(void) {
  FILE *f = fopen("/proc/self/status", "r");
  if (!f) return -1;
  char line[256];
  long kib = -1;
  while (fgets(line, sizeof line, f))
    if (sscanf(line, "VmHWM: %ld kB", &kib) == 1) break;
  fclose(f);
  return kib;
}

static int small_result(const void *in, void *out, parc_task *t) {
  (void)out;
  size_t i = *(const size_t *)in;
  size_t n = 8 + i % 57;
  unsigned char *o = parc_task_output(t, n);
  if (!o) return 1;
  memset(o, (int)(i & 0xFF), n);
  return 0;
}

TEST_WITH_LIMIT(a_stream_of_a_million_tasks_holds_flat_memory, 300) {
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
  SKIP("sanitizers keep freed memory in quarantine: peak RSS says nothing there");
#endif
  parc_pool *pool = test_pool(test_backend(), 2);
  parc_options opt = {.stream = 1, .total = 1000000};
  parc_group *g;
  CHECK_OK(parc_group_create(&g, pool, &opt));
  const size_t n = 1000000, warm = 100000;
  long after_warm_up = 0;
  size_t taken = 0;
  for (size_t i = 0; i < n; i++) {
    CHECK_OK(parc_group_submit(g, small_result, &i, sizeof i, NULL, 0, NULL));
    while (parc_group_pending(g) >= 64 || (i + 1 == n && taken < n)) {
      size_t index, size;
      CHECK_INT(PARC_OK, parc_group_next(g, -1, &index));
      const unsigned char *o = parc_group_output(g, index, &size);
      CHECK(o && size == 8 + index % 57 && o[size - 1] == (unsigned char)(index & 0xFF));
      taken++;
    }
    if (i == warm) after_warm_up = rss_kib();
  }
  long at_end = rss_kib();
  printf("  peak RSS: %ld KiB after %zu tasks, %ld KiB after %zu\n", after_warm_up, warm, at_end, n);
  /* A group that kept every task would hold some 200 MiB more by now. */
  if (at_end - after_warm_up > 16 * 1024)
    FAIL_AT("peak RSS grew from %ld to %ld KiB over the stream", after_warm_up, at_end);
  parc_group_destroy(g);
  parc_pool_destroy(pool);
}

/* opt.total: progress counts against the tasks expected, not those
   submitted so far. */
static int quick(const void *in, void *out, parc_task *t) {
  (void)in;
  (void)out;
  (void)t;
  return 0;
}

TEST(progress_counts_against_opt_total) {
  char path[] = "/tmp/parc-test-progress-XXXXXX";
  int fd = mkstemp(path);
  CHECK(fd >= 0);
  fflush(stderr);
  int saved = dup(2);
  dup2(fd, 2);
  parc_config cfg = test_config(test_backend(), 2);
  cfg.verbose = 1;
  parc_pool *pool = test_pool_config(&cfg);
  parc_options opt = {.total = 60, .label = "fed"};
  parc_group *g;
  CHECK_OK(parc_group_create(&g, pool, &opt));
  for (int i = 0; i < 30; i++) {
    size_t index;
    CHECK_OK(parc_group_submit(g, quick, NULL, 0, NULL, 0, NULL));
    CHECK_OK(parc_group_next(g, -1, &index));
  }
  parc_group_destroy(g);
  parc_pool_destroy(pool);
  fflush(stderr);
  dup2(saved, 2);
  close(saved);
  char text[4096] = {0};
  ssize_t got = pread(fd, text, sizeof text - 1, 0);
  close(fd);
  unlink(path);
  CHECK(got > 0);
  if (!strstr(text, "30/60")) FAIL_AT("progress output lacks 30/60: %s", text);
}

int main(int argc, char **argv) { return harness_main(argc, argv); }
