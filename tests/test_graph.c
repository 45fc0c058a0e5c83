/*
 * test_graph.c — task graphs: values, scheduling, failure propagation,
 * determinism across backends, bad arguments, allocation failures.
 *
 * Graph tests run on SERIAL, on THREADS with several worker counts, and on
 * PROCESSES when that backend is built (otherwise a note is printed and
 * that configuration is skipped).
 */
#include "fixture.h"
#include "harness.h"
#include "parc.h"
#include "parc_internal.h"

#include <inttypes.h>
#include <stdatomic.h>

/* ---- configurations -------------------------------------------------------- */

typedef struct config {
  parc_backend backend;
  int workers;
  const char *name;
  bool rng_only;            /* only the determinism test uses it (keeps the suite fast) */
} config;

static const config configs[] = {
    {PARC_SERIAL, 1, "serial", false},          {PARC_THREADS, 1, "threads x1", false},
    {PARC_THREADS, 3, "threads x3", false},     {PARC_PROCESSES, 2, "processes x2", false},
    {PARC_THREADS, 2, "threads x2", true},      {PARC_THREADS, 8, "threads x8", true},
    {PARC_PROCESSES, 3, "processes x3", true},
};
#define NCONFIGS (sizeof configs / sizeof configs[0])
#define SERIAL (&configs[0])
#define THREADS3 (&configs[2])
#define PROCESSES2 (&configs[3])

/* A pool for c, or NULL (with a note) when its backend is not built. */
static parc_pool *make_pool(const config *c) {
  parc_config cfg = test_config(c->backend, c->workers);
  return test_pool_if_built(&cfg);
}

/* Memory of this process is seen by the tasks (not so for forked workers). */
static bool shares_memory(const config *c) { return c->backend != PARC_PROCESSES; }

static int64_t result_i64(const parc_graph *g, parc_node node) {
  const void *out = NULL;
  size_t size = 0;
  int rc = parc_graph_result(g, node, &out, &size);
  if (rc != PARC_OK) FAIL_AT("node %zu: status %d (%s)", node, rc, parc_errmsg());
  if (size != sizeof(int64_t) || !out) FAIL_AT("node %zu: size %zu", node, size);
  int64_t v;
  memcpy(&v, out, sizeof v);
  return v;
}

/* ---- node functions ---------------------------------------------------------- */

static atomic_int runs[64];   /* how often node i ran (threads and serial only) */

/* out = in; a root node. */
static int leaf(const void *in, void *out, parc_task *t) {
  size_t i = parc_task_index(t);
  if (i < 64) atomic_fetch_add(&runs[i], 1);
  if (parc_task_ndeps(t) != 0) return parc_fail(t, "leaf has %zu deps", parc_task_ndeps(t));
  memcpy(out, in, sizeof(int64_t));
  return 0;
}

static int64_t dep_i64(parc_task *t, size_t k) {
  size_t size = 0;
  const void *p = parc_task_dep(t, k, &size);
  int64_t v = 0;
  if (p && size == sizeof v) memcpy(&v, p, sizeof v);
  return v;
}

/* out = dep0 + in */
static int plus(const void *in, void *out, parc_task *t) {
  size_t i = parc_task_index(t);
  if (i < 64) atomic_fetch_add(&runs[i], 1);
  int64_t x;
  memcpy(&x, in, sizeof x);
  int64_t v = dep_i64(t, 0) + x;
  memcpy(out, &v, sizeof v);
  return 0;
}

/* out = dep0 * in */
static int times(const void *in, void *out, parc_task *t) {
  int64_t x;
  memcpy(&x, in, sizeof x);
  int64_t v = dep_i64(t, 0) * x;
  memcpy(out, &v, sizeof v);
  return 0;
}

/* out = 10 * dep0 + dep1: shows the order of the deps. */
static int combine(const void *in, void *out, parc_task *t) {
  (void)in;
  size_t i = parc_task_index(t);
  if (i < 64) atomic_fetch_add(&runs[i], 1);
  if (parc_task_ndeps(t) != 2) return parc_fail(t, "expected 2 deps, got %zu", parc_task_ndeps(t));
  int64_t v = 10 * dep_i64(t, 0) + dep_i64(t, 1);
  memcpy(out, &v, sizeof v);
  return 0;
}

/* Sum of all deps; fails unless it runs with its node id as task index. */
static int sum_deps(const void *in, void *out, parc_task *t) {
  size_t expect_index;
  memcpy(&expect_index, in, sizeof expect_index);
  if (parc_task_index(t) != expect_index)
    return parc_fail(t, "task index %zu, node id %zu", parc_task_index(t), expect_index);
  int64_t v = 0;
  for (size_t k = 0; k < parc_task_ndeps(t); k++) v += dep_i64(t, k);
  memcpy(out, &v, sizeof v);
  return 0;
}

/* Squares its node id (in); fails unless the task index is the node id. */
static int square_id(const void *in, void *out, parc_task *t) {
  size_t id;
  memcpy(&id, in, sizeof id);
  if (parc_task_index(t) != id)
    return parc_fail(t, "task index %zu, node id %zu", parc_task_index(t), id);
  int64_t v = (int64_t)(id * id);
  memcpy(out, &v, sizeof v);
  return 0;
}

static int boom(const void *in, void *out, parc_task *t) {
  (void)in;
  (void)out;
  size_t i = parc_task_index(t);
  if (i < 64) atomic_fetch_add(&runs[i], 1);
  return parc_fail(t, "boom at %zu", i);
}

static int returns_seven(const void *in, void *out, parc_task *t) {
  (void)in;
  (void)out;
  size_t i = parc_task_index(t);
  if (i < 64) atomic_fetch_add(&runs[i], 1);
  return 7;
}

static void reset_runs(void) {
  for (int i = 0; i < 64; i++) atomic_store(&runs[i], 0);
}

static parc_node add_leaf(parc_graph *g, int64_t value) {
  parc_node n;
  CHECK_OK(parc_graph_add(g, leaf, &value, sizeof value, sizeof(int64_t), NULL, 0, &n));
  return n;
}

static parc_node add_i64(parc_graph *g, parc_fn fn, int64_t in, const parc_node *deps,
                         size_t ndeps) {
  parc_node n;
  CHECK_OK(parc_graph_add(g, fn, &in, sizeof in, sizeof(int64_t), deps, ndeps, &n));
  return n;
}

/* ---- values and shapes --------------------------------------------------------- */

TEST(diamond) {
  for (size_t c = 0; c < NCONFIGS; c++) {
    if (configs[c].rng_only) continue;
    parc_pool *pool = make_pool(&configs[c]);
    if (!pool) continue;
    parc_graph *g;
    CHECK_OK(parc_graph_create(&g, pool, NULL));
    parc_node a = add_leaf(g, 3);
    parc_node b = add_i64(g, plus, 1, &a, 1);
    parc_node cc = add_i64(g, times, 2, &a, 1);
    parc_node d = add_i64(g, combine, 0, (parc_node[]){b, cc}, 2);
    CHECK_SIZE(0, a);
    CHECK_SIZE(3, d);
    CHECK_SIZE(4, parc_graph_size(g));
    CHECK_OK(parc_graph_run(g));
    CHECK_INT(3, result_i64(g, a));
    CHECK_INT(4, result_i64(g, b));
    CHECK_INT(6, result_i64(g, cc));
    CHECK_INT(46, result_i64(g, d));
    CHECK(parc_graph_message(g, d) == NULL);
    parc_graph_destroy(g);
    parc_pool_destroy(pool);
  }
  CHECK_NO_LEAKS();
}

TEST(fan_in_1000) {
  enum { N = 1000 };
  for (size_t c = 0; c < NCONFIGS; c++) {
    if (configs[c].rng_only) continue;
    parc_pool *pool = make_pool(&configs[c]);
    if (!pool) continue;
    parc_graph *g;
    CHECK_OK(parc_graph_create(&g, pool, NULL));
    static parc_node leaves[N];
    for (size_t i = 0; i < N; i++)
      CHECK_OK(parc_graph_add(g, square_id, &i, sizeof i, sizeof(int64_t), NULL, 0, &leaves[i]));
    size_t sink_id = N;
    parc_node sink;
    CHECK_OK(parc_graph_add(g, sum_deps, &sink_id, sizeof sink_id, sizeof(int64_t), leaves, N,
                            &sink));
    CHECK_SIZE(N, sink);
    CHECK_OK(parc_graph_run(g));
    int64_t expected = (int64_t)(N - 1) * N * (2 * N - 1) / 6;
    CHECK_INT(expected, result_i64(g, sink));
    CHECK_INT(999 * 999, result_i64(g, leaves[999]));
    parc_graph_destroy(g);
    parc_pool_destroy(pool);
  }
  CHECK_NO_LEAKS();
}

/* out = dep0 + 1; fails unless its task index is in: the node id, not the
   order in which the run submitted it. */
static int chain_step(const void *in, void *out, parc_task *t) {
  size_t id;
  memcpy(&id, in, sizeof id);
  if (parc_task_index(t) != id)
    return parc_fail(t, "task index %zu, node id %zu", parc_task_index(t), id);
  int64_t v = dep_i64(t, 0) + 1;
  memcpy(out, &v, sizeof v);
  return 0;
}

/* Under a sanitizer a hand-off to a worker costs up to a millisecond, so
   the pools walk a shorter chain there; serial (the same bookkeeping in
   graph.c) always walks 10,000. */
#if defined(__SANITIZE_THREAD__) || defined(__SANITIZE_ADDRESS__)
#define POOL_CHAIN 1000
#else
#define POOL_CHAIN 10000
#endif

TEST(chain_10000) {
  for (size_t c = 0; c < NCONFIGS; c++) {
    const size_t N = configs[c].backend == PARC_SERIAL ? 10000 : POOL_CHAIN;
    /* A chain is sequential: one thread worker adds nothing to serial. */
    if (configs[c].rng_only || (configs[c].backend == PARC_THREADS && configs[c].workers == 1))
      continue;
    parc_pool *pool = make_pool(&configs[c]);
    if (!pool) continue;
    parc_graph *g;
    CHECK_OK(parc_graph_create(&g, pool, NULL));
    parc_node prev = add_leaf(g, 0);
    /* deps and node may be the same variable: deps are read first. */
    for (size_t i = 1; i < N; i++)
      CHECK_OK(parc_graph_add(g, chain_step, &i, sizeof i, sizeof(int64_t), &prev, 1, &prev));
    CHECK_SIZE(N - 1, prev);
    CHECK_OK(parc_graph_run(g));
    CHECK_INT(N - 1, result_i64(g, prev));
    CHECK_INT(N / 2, result_i64(g, N / 2));
    parc_graph_destroy(g);
    parc_pool_destroy(pool);
  }
  CHECK_NO_LEAKS();
}

/* Node 2 becomes ready only after node 0, so it is submitted after node 1
   (a root): its position in the run's group is not its node id. */
static int write_index(const void *in, void *out, parc_task *t) {
  (void)in;
  int64_t v = (int64_t)parc_task_index(t);
  memcpy(out, &v, sizeof v);
  return 0;
}

TEST(task_index_is_node_id) {
  for (size_t c = 0; c < NCONFIGS; c++) {
    if (configs[c].rng_only) continue;
    parc_pool *pool = make_pool(&configs[c]);
    if (!pool) continue;
    parc_graph *g;
    CHECK_OK(parc_graph_create(&g, pool, NULL));
    parc_node n0, n1, n2, n3;
    CHECK_OK(parc_graph_add(g, write_index, NULL, 0, 8, NULL, 0, &n0));
    CHECK_OK(parc_graph_add(g, write_index, NULL, 0, 8, &n0, 1, &n1));
    CHECK_OK(parc_graph_add(g, write_index, NULL, 0, 8, NULL, 0, &n2));
    CHECK_OK(parc_graph_add(g, write_index, NULL, 0, 8, (parc_node[]){n1, n2}, 2, &n3));
    CHECK_OK(parc_graph_run(g));
    CHECK_INT(0, result_i64(g, n0));
    CHECK_INT(1, result_i64(g, n1));
    CHECK_INT(2, result_i64(g, n2));
    CHECK_INT(3, result_i64(g, n3));
    parc_graph_destroy(g);
    parc_pool_destroy(pool);
  }
  CHECK_NO_LEAKS();
}

/* ---- failures ---------------------------------------------------------------- */

TEST(failure_propagation) {
  for (size_t c = 0; c < NCONFIGS; c++) {
    if (configs[c].rng_only) continue;
    parc_pool *pool = make_pool(&configs[c]);
    if (!pool) continue;
    reset_runs();
    parc_graph *g;
    CHECK_OK(parc_graph_create(&g, pool, NULL));
    parc_node n0 = add_leaf(g, 10);                       /* 0: ok */
    parc_node n1;                                          /* 1: fails */
    CHECK_OK(parc_graph_add(g, boom, NULL, 0, 8, NULL, 0, &n1));
    parc_node n2 = add_i64(g, plus, 1, &n1, 1);            /* 2: depends on 1 */
    parc_node n3 = add_i64(g, plus, 1, &n2, 1);            /* 3: through 2 */
    parc_node n4 = add_i64(g, combine, 0, (parc_node[]){n0, n1}, 2);   /* 4: on 0 and 1 */
    parc_node n5 = add_i64(g, plus, 1, &n0, 1);            /* 5: independent */
    parc_node n6 = add_leaf(g, 7);                         /* 6: independent root */
    parc_node n7 = add_i64(g, combine, 0, (parc_node[]){n5, n6}, 2);   /* 7: on 5 and 6 */
    parc_node n8;                                          /* 8: fails by return value */
    CHECK_OK(parc_graph_add(g, returns_seven, NULL, 0, 8, NULL, 0, &n8));
    parc_node n9 = add_i64(g, combine, 0, (parc_node[]){n8, n3}, 2);   /* 9: two roots */

    CHECK_ERROR(PARC_ETASK, "parc_graph_run: node 1 failed: boom at 1", parc_graph_run(g));

    CHECK_INT(10, result_i64(g, n0));
    CHECK_INT(11, result_i64(g, n5));
    CHECK_INT(7, result_i64(g, n6));
    CHECK_INT(117, result_i64(g, n7));

    const void *out = (const void *)1;
    size_t size = 99;
    CHECK_ERROR(PARC_ETASK, "node 1 failed: boom at 1", parc_graph_result(g, n1, &out, &size));
    CHECK(out == NULL);
    CHECK_SIZE(0, size);
    CHECK_STR("boom at 1", parc_graph_message(g, n1));
    CHECK_INT(PARC_ETASK, parc_graph_result(g, n8, NULL, NULL));
    CHECK_STR("task returned 7", parc_graph_message(g, n8));
    parc_node dependants[] = {n2, n3, n4};
    for (size_t k = 0; k < 3; k++) {
      CHECK_INT(PARC_EDEPENDENCY, parc_graph_result(g, dependants[k], &out, NULL));
      CHECK(out == NULL);
      CHECK_STR("dependency node 1 failed: boom at 1", parc_graph_message(g, dependants[k]));
    }
    /* Node 9 has two failed roots; which it names depends on which failed first. */
    CHECK_INT(PARC_EDEPENDENCY, parc_graph_result(g, n9, NULL, NULL));
    const char *m9 = parc_graph_message(g, n9);
    CHECK(m9 && (strcmp(m9, "dependency node 1 failed: boom at 1") == 0 ||
                 strcmp(m9, "dependency node 8 failed: task returned 7") == 0));
    CHECK(parc_graph_message(g, n0) == NULL);

    if (shares_memory(&configs[c])) {
      CHECK_INT(1, atomic_load(&runs[n1]));
      CHECK_INT(1, atomic_load(&runs[n8]));
      CHECK_INT(1, atomic_load(&runs[n5]));
      CHECK_INT(1, atomic_load(&runs[n7]));
      CHECK_INT(0, atomic_load(&runs[n2]));
      CHECK_INT(0, atomic_load(&runs[n3]));
      CHECK_INT(0, atomic_load(&runs[n4]));
      CHECK_INT(0, atomic_load(&runs[n9]));
    }
    parc_graph_destroy(g);
    parc_pool_destroy(pool);
  }
  CHECK_NO_LEAKS();
}

TEST(failure_deep_chain) {
  /* A failure at the head of a 10,000-node chain fails everything after it,
     each message naming the head. */
  parc_pool *pool = make_pool(THREADS3);
  parc_graph *g;
  CHECK_OK(parc_graph_create(&g, pool, NULL));
  parc_node prev;
  CHECK_OK(parc_graph_add(g, boom, NULL, 0, 8, NULL, 0, &prev));
  for (int i = 1; i < 10000; i++) prev = add_i64(g, plus, 1, &prev, 1);
  parc_node other = add_leaf(g, 5);
  CHECK_ERROR(PARC_ETASK, "node 0 failed: boom at 0", parc_graph_run(g));
  CHECK_INT(PARC_EDEPENDENCY, parc_graph_result(g, prev, NULL, NULL));
  CHECK_STR("dependency node 0 failed: boom at 0", parc_graph_message(g, prev));
  CHECK_INT(5, result_i64(g, other));
  parc_graph_destroy(g);
  parc_pool_destroy(pool);
  CHECK_NO_LEAKS();
}

TEST(stop_on_error) {
  /* SERIAL runs submitted nodes in order, so the outcome is exact. */
  parc_pool *pool = make_pool(SERIAL);
  parc_options opt = {.stop_on_error = 1};
  parc_graph *g;
  CHECK_OK(parc_graph_create(&g, pool, &opt));
  parc_node n0, n1, n2;
  CHECK_OK(parc_graph_add(g, boom, NULL, 0, 8, NULL, 0, &n0));
  n1 = add_leaf(g, 1);
  n2 = add_i64(g, plus, 1, &n1, 1);
  /* A real failure is reported over the cancellations it caused. */
  CHECK_ERROR(PARC_ETASK, "node 0 failed: boom at 0", parc_graph_run(g));
  CHECK_INT(PARC_ECANCELED, parc_graph_result(g, n1, NULL, NULL));
  CHECK_INT(PARC_ECANCELED, parc_graph_result(g, n2, NULL, NULL));
  CHECK_STR("dependency node 1 was cancelled", parc_graph_message(g, n2));
  parc_graph_destroy(g);
  parc_pool_destroy(pool);
  CHECK_NO_LEAKS();
}

/* Forked workers: a node that kills its worker fails alone (PARC_ECRASH),
   its dependants are PARC_EDEPENDENCY, the rest finish, and the pool still
   serves the next run. SIGKILL, because no sanitizer can intercept it. */
static int die(const void *in, void *out, parc_task *t) {
  (void)in;
  (void)out;
  (void)t;
  raise(SIGKILL);
  return 0;
}

TEST(crash_in_process_node) {
  parc_pool *pool = make_pool(PROCESSES2);
  if (!pool) return;
  parc_graph *g;
  CHECK_OK(parc_graph_create(&g, pool, NULL));
  parc_node dead, after, other, other2;
  CHECK_OK(parc_graph_add(g, die, NULL, 0, 8, NULL, 0, &dead));
  after = add_i64(g, plus, 1, &dead, 1);
  other = add_leaf(g, 4);
  other2 = add_i64(g, plus, 1, &other, 1);
  CHECK_ERROR(PARC_ECRASH, "node 0 failed: killed by signal 9", parc_graph_run(g));
  CHECK_INT(PARC_ECRASH, parc_graph_result(g, dead, NULL, NULL));
  CHECK_INT(PARC_EDEPENDENCY, parc_graph_result(g, after, NULL, NULL));
  const char *m = parc_graph_message(g, after);
  CHECK(m && strncmp(m, "dependency node 0 failed: killed by signal 9", 44) == 0);
  CHECK_INT(5, result_i64(g, other2));
  parc_node more = add_i64(g, plus, 10, &other2, 1);
  CHECK_INT(PARC_ECRASH, parc_graph_run(g));   /* the old failure is still the graph's */
  CHECK_INT(15, result_i64(g, more));
  parc_graph_destroy(g);
  parc_pool_destroy(pool);
  CHECK_NO_LEAKS();
}

/* ---- arguments ----------------------------------------------------------------- */

TEST(deps_must_be_earlier) {
  parc_pool *pool = make_pool(THREADS3);
  parc_graph *g;
  CHECK_OK(parc_graph_create(&g, pool, NULL));
  parc_node a = add_leaf(g, 1);
  parc_node b = add_leaf(g, 2);
  parc_node self = 2, node = 77;
  CHECK_ERROR(PARC_EINVAL, "deps[0] is 2, not an earlier node",
              parc_graph_add(g, plus, &a, 8, 8, &self, 1, &node));
  CHECK_SIZE(77, node);
  CHECK_ERROR(PARC_EINVAL, "deps[1] is 5, not an earlier node",
              parc_graph_add(g, combine, NULL, 0, 8, (parc_node[]){a, 5}, 2, &node));
  CHECK_ERROR(PARC_EINVAL, "deps[1] is",
              parc_graph_add(g, combine, NULL, 0, 8, (parc_node[]){b, SIZE_MAX}, 2, NULL));
  CHECK_SIZE(2, parc_graph_size(g));
  /* The graph is unchanged: the next node is 2 and everything runs. */
  parc_node c = add_i64(g, combine, 0, (parc_node[]){a, b}, 2);
  CHECK_SIZE(2, c);
  CHECK_OK(parc_graph_run(g));
  CHECK_INT(12, result_i64(g, c));
  parc_graph_destroy(g);
  parc_pool_destroy(pool);
  CHECK_NO_LEAKS();
}

TEST(null_arguments) {
  parc_pool *pool = make_pool(THREADS3);
  parc_graph *g = (parc_graph *)1;
  CHECK_ERROR(PARC_EINVAL, "parc_graph_create: g is NULL", parc_graph_create(NULL, pool, NULL));
  CHECK_ERROR(PARC_EINVAL, "parc_graph_create: pool is NULL", parc_graph_create(&g, NULL, NULL));
  CHECK(g == NULL);
  parc_options bad = {.context = NULL, .context_size = 4};
  CHECK_ERROR(PARC_EINVAL, "context is NULL", parc_graph_create(&g, pool, &bad));
  CHECK(g == NULL);
  CHECK_OK(parc_graph_create(&g, pool, NULL));
  int64_t x = 1;
  parc_node a = add_leaf(g, 1);
  CHECK_ERROR(PARC_EINVAL, "parc_graph_add: g is NULL",
              parc_graph_add(NULL, leaf, &x, 8, 8, NULL, 0, NULL));
  CHECK_ERROR(PARC_EINVAL, "parc_graph_add: fn is NULL",
              parc_graph_add(g, NULL, &x, 8, 8, NULL, 0, NULL));
  CHECK_ERROR(PARC_EINVAL, "in is NULL but in_size is 8",
              parc_graph_add(g, leaf, NULL, 8, 8, NULL, 0, NULL));
  CHECK_ERROR(PARC_EINVAL, "deps is NULL but n_deps is 1",
              parc_graph_add(g, leaf, &x, 8, 8, NULL, 1, NULL));
  CHECK_ERROR(PARC_EINVAL, "overflow",
              parc_graph_add(g, leaf, &x, 8, SIZE_MAX - 3, NULL, 0, NULL));
  CHECK_SIZE(1, parc_graph_size(g));
  CHECK_ERROR(PARC_EINVAL, "parc_graph_run: g is NULL", parc_graph_run(NULL));
  const void *out = (const void *)1;
  size_t size = 5;
  CHECK_ERROR(PARC_EINVAL, "parc_graph_result: g is NULL", parc_graph_result(NULL, 0, &out, &size));
  CHECK(out == NULL);
  CHECK_SIZE(0, size);
  CHECK_ERROR(PARC_PENDING, "node 0 has not run yet", parc_graph_result(g, a, &out, &size));
  CHECK(out == NULL);
  CHECK(parc_graph_message(g, a) == NULL);
  CHECK_OK(parc_graph_run(g));
  CHECK_ERROR(PARC_EINVAL, "node 1 does not exist", parc_graph_result(g, 1, &out, NULL));
  CHECK_OK(parc_graph_result(g, a, NULL, NULL));
  CHECK(parc_graph_message(NULL, 0) == NULL);
  CHECK(parc_graph_message(g, 1) == NULL);
  CHECK_SIZE(0, parc_graph_size(NULL));
  CHECK_SIZE(0, parc_task_ndeps(NULL));
  CHECK(parc_task_dep(NULL, 0, &size) == NULL);
  CHECK_SIZE(0, size);
  parc_graph_destroy(NULL);
  parc_graph_destroy(g);
  parc_pool_destroy(pool);
  CHECK_NO_LEAKS();
}

/* ---- zero sizes and parc_task_dep ------------------------------------------------ */

typedef struct dep_probe {
  int64_t ndeps;
  int64_t null_beyond;      /* parc_task_dep(t, ndeps) is NULL with size 0 */
  int64_t null_far;         /* parc_task_dep(t, SIZE_MAX) is NULL */
  int64_t dep0_null;        /* dep 0 is NULL */
  int64_t dep0_size;
  int64_t in_null, value;
} dep_probe;

static int probe(const void *in, void *out, parc_task *t) {
  dep_probe p = {0};
  size_t n = parc_task_ndeps(t), size = 99;
  p.ndeps = (int64_t)n;
  p.null_beyond = parc_task_dep(t, n, &size) == NULL && size == 0;
  size = 99;
  p.null_far = parc_task_dep(t, SIZE_MAX, &size) == NULL && size == 0;
  size = 99;
  const void *d0 = n ? parc_task_dep(t, 0, &size) : NULL;
  p.dep0_null = d0 == NULL;
  p.dep0_size = n ? (int64_t)size : -1;
  p.in_null = in == NULL;
  if (n >= 2) {
    size_t s1;
    const void *d1 = parc_task_dep(t, 1, &s1);
    if (d1 && s1 == sizeof(int64_t)) memcpy(&p.value, d1, sizeof p.value);
  }
  memcpy(out, &p, sizeof p);
  return 0;
}

static int nothing(const void *in, void *out, parc_task *t) {
  if (in || out) return parc_fail(t, "expected NULL in and out, got %p and %p", in, out);
  return 0;
}

TEST(zero_sizes_and_dep_bounds) {
  for (size_t c = 0; c < NCONFIGS; c++) {
    if (configs[c].rng_only) continue;
    parc_pool *pool = make_pool(&configs[c]);
    if (!pool) continue;
    parc_graph *g;
    CHECK_OK(parc_graph_create(&g, pool, NULL));
    parc_node z, v, p, q;
    CHECK_OK(parc_graph_add(g, nothing, NULL, 0, 0, NULL, 0, &z));
    v = add_leaf(g, 42);
    CHECK_OK(parc_graph_add(g, probe, NULL, 0, sizeof(dep_probe), (parc_node[]){z, v}, 2, &p));
    CHECK_OK(parc_graph_add(g, nothing, NULL, 0, 0, (parc_node[]){z, p}, 2, &q));
    CHECK_OK(parc_graph_run(g));
    const void *out = (const void *)1;
    size_t size = 99;
    CHECK_OK(parc_graph_result(g, z, &out, &size));
    CHECK(out == NULL);
    CHECK_SIZE(0, size);
    CHECK_OK(parc_graph_result(g, q, &out, &size));
    CHECK_SIZE(0, size);
    CHECK_OK(parc_graph_result(g, p, &out, &size));
    CHECK_SIZE(sizeof(dep_probe), size);
    dep_probe r;
    memcpy(&r, out, sizeof r);
    CHECK_INT(2, r.ndeps);
    CHECK_INT(1, r.null_beyond);
    CHECK_INT(1, r.null_far);
    CHECK_INT(1, r.dep0_null);
    CHECK_INT(0, r.dep0_size);
    CHECK_INT(1, r.in_null);
    CHECK_INT(42, r.value);
    parc_graph_destroy(g);

    /* A task of a plain group has no deps. */
    parc_group *grp;
    CHECK_OK(parc_group_create(&grp, pool, NULL));
    dep_probe pr;
    CHECK_OK(parc_group_submit(grp, probe, NULL, 0, &pr, sizeof pr, NULL));
    CHECK_OK(parc_group_wait(grp, -1));
    CHECK_INT(0, pr.ndeps);
    CHECK_INT(1, pr.null_beyond);
    CHECK_INT(1, pr.null_far);
    parc_group_destroy(grp);
    parc_pool_destroy(pool);
  }
  CHECK_NO_LEAKS();
}

/* ---- running again -------------------------------------------------------------- */

TEST(run_again_runs_only_new_nodes) {
  parc_pool *pool = make_pool(THREADS3);
  reset_runs();
  parc_graph *g;
  CHECK_OK(parc_graph_create(&g, pool, NULL));
  parc_node a = add_leaf(g, 2);
  parc_node b = add_i64(g, plus, 3, &a, 1);
  CHECK_OK(parc_graph_run(g));
  CHECK_OK(parc_graph_run(g));   /* nothing new: nothing runs */
  CHECK_INT(1, atomic_load(&runs[a]));
  CHECK_INT(1, atomic_load(&runs[b]));
  parc_node c = add_i64(g, combine, 0, (parc_node[]){b, a}, 2);
  parc_node d = add_i64(g, plus, 1, &c, 1);
  CHECK_INT(PARC_PENDING, parc_graph_result(g, c, NULL, NULL));
  CHECK_OK(parc_graph_run(g));
  CHECK_INT(52, result_i64(g, c));
  CHECK_INT(53, result_i64(g, d));
  CHECK_INT(1, atomic_load(&runs[a]));
  CHECK_INT(1, atomic_load(&runs[b]));
  CHECK_INT(1, atomic_load(&runs[c]));
  CHECK_INT(1, atomic_load(&runs[d]));

  /* A failure persists: later runs report it, and new dependants of the
     failed node fail at once without running. */
  parc_node f;
  CHECK_OK(parc_graph_add(g, boom, NULL, 0, 8, NULL, 0, &f));
  CHECK_ERROR(PARC_ETASK, "node 4 failed: boom at 4", parc_graph_run(g));
  parc_node h = add_i64(g, plus, 1, &f, 1);
  parc_node k = add_i64(g, plus, 1, &d, 1);
  CHECK_ERROR(PARC_ETASK, "node 4 failed: boom at 4", parc_graph_run(g));
  CHECK_INT(PARC_EDEPENDENCY, parc_graph_result(g, h, NULL, NULL));
  CHECK_STR("dependency node 4 failed: boom at 4", parc_graph_message(g, h));
  CHECK_INT(0, atomic_load(&runs[h]));
  CHECK_INT(54, result_i64(g, k));
  parc_graph_destroy(g);
  parc_pool_destroy(pool);
  CHECK_NO_LEAKS();
}

/* ---- determinism ------------------------------------------------------------------ */

typedef struct rng_out {
  uint64_t first;     /* the first draw of the node's stream */
  uint64_t mixed;     /* a draw folded with every dependency's output */
  double normal;
} rng_out;

static int random_node(const void *in, void *out, parc_task *t) {
  (void)in;
  parc_rng *r = parc_task_rng(t);
  rng_out o;
  o.first = parc_rng_u64(r);
  o.mixed = parc_rng_u64(r);
  for (size_t k = 0; k < parc_task_ndeps(t); k++) {
    size_t size;
    const rng_out *d = parc_task_dep(t, k, &size);
    if (!d || size != sizeof *d) return parc_fail(t, "dep %zu has size %zu", k, size);
    o.mixed = (o.mixed ^ d->mixed) * 0x9E3779B97F4A7C15ull + d->first;
  }
  o.normal = parc_rng_normal(r, 0.0, 1.0);
  memcpy(out, &o, sizeof o);
  return 0;
}

enum { RNG_NODES = 300 };

/* Builds and runs the same graph; writes every node's output to outs. */
static bool run_random_graph(const config *c, uint64_t seed, rng_out *outs) {
  parc_pool *pool = make_pool(c);
  if (!pool) return false;
  parc_options opt = {.seed = seed};
  parc_graph *g;
  CHECK_OK(parc_graph_create(&g, pool, &opt));
  for (size_t i = 0; i < RNG_NODES; i++) {
    parc_node deps[3];
    size_t n = 0;
    if (i % 5 != 0) deps[n++] = i - 1;
    if (i >= 2 && i % 3 == 0) deps[n++] = i / 2;
    if (i >= 7 && i % 4 == 1) deps[n++] = i / 7;
    CHECK_OK(parc_graph_add(g, random_node, NULL, 0, sizeof(rng_out), deps, n, NULL));
  }
  CHECK_OK(parc_graph_run(g));
  for (size_t i = 0; i < RNG_NODES; i++) {
    const void *out;
    size_t size;
    CHECK_OK(parc_graph_result(g, i, &out, &size));
    CHECK_SIZE(sizeof(rng_out), size);
    memcpy(&outs[i], out, sizeof outs[i]);
  }
  parc_graph_destroy(g);
  parc_pool_destroy(pool);
  return true;
}

TEST(rng_identical_across_backends) {
  static rng_out reference[RNG_NODES], other[RNG_NODES];
  const uint64_t seed = 20240611;
  CHECK(run_random_graph(SERIAL, seed, reference));
  for (size_t i = 0; i < RNG_NODES; i++) {
    parc_rng r;
    parc_rng_init(&r, seed, i);
    uint64_t expected = parc_rng_u64(&r);
    if (reference[i].first != expected)
      FAIL_AT("node %zu: first draw %" PRIx64 ", stream (seed, %zu) gives %" PRIx64, i,
              reference[i].first, i, expected);
  }
  for (size_t c = 1; c < NCONFIGS; c++) {
    if (!run_random_graph(&configs[c], seed, other)) continue;
    for (size_t i = 0; i < RNG_NODES; i++) {
      if (memcmp(&reference[i], &other[i], sizeof other[i]) != 0)
        FAIL_AT("%s: node %zu differs from serial (mixed %" PRIx64 " vs %" PRIx64 ")",
                configs[c].name, i, other[i].mixed, reference[i].mixed);
    }
  }
  /* Another seed gives other numbers. */
  CHECK(run_random_graph(THREADS3, seed + 1, other));
  CHECK(memcmp(reference, other, sizeof other) != 0);
  CHECK_NO_LEAKS();
}

/* ---- context and options ------------------------------------------------------------ */

static int read_context(const void *in, void *out, parc_task *t) {
  (void)in;
  size_t size;
  const int64_t *c = parc_task_context(t, &size);
  if (!c || size != sizeof *c) return parc_fail(t, "no context");
  int64_t v = *c + dep_i64(t, 0);
  memcpy(out, &v, sizeof v);
  return 0;
}

TEST(context_and_label) {
  for (size_t c = 0; c < NCONFIGS; c++) {
    if (configs[c].rng_only) continue;
    parc_pool *pool = make_pool(&configs[c]);
    if (!pool) continue;
    int64_t context = 1000;
    char label[] = "graph label";
    parc_options opt = {.context = &context, .context_size = sizeof context, .label = label};
    parc_graph *g;
    CHECK_OK(parc_graph_create(&g, pool, &opt));
    label[0] = 'X';   /* copied at create */
    parc_node a = add_leaf(g, 5);
    parc_node b;
    CHECK_OK(parc_graph_add(g, read_context, NULL, 0, 8, &a, 1, &b));
    CHECK_OK(parc_graph_run(g));
    CHECK_INT(1005, result_i64(g, b));
    parc_graph_destroy(g);
    parc_pool_destroy(pool);
  }
  CHECK_NO_LEAKS();
}

/* ---- cache ------------------------------------------------------------------------ */

/* Builds a(in_a) -> b = a + 1;  c(2) -> d = c + 1;  e = 10 b + d, runs it
   through cache, and returns e. */
static int64_t cached_graph(parc_pool *pool, parc_cache *cache, int64_t in_a) {
  parc_options opt = {.cache = cache};
  parc_graph *g;
  CHECK_OK(parc_graph_create(&g, pool, &opt));
  parc_node a = add_leaf(g, in_a);
  parc_node b = add_i64(g, plus, 1, &a, 1);
  parc_node c = add_leaf(g, 2);
  parc_node d = add_i64(g, plus, 1, &c, 1);
  parc_node e = add_i64(g, combine, 0, (parc_node[]){b, d}, 2);
  CHECK_OK(parc_graph_run(g));
  int64_t v = result_i64(g, e);
  parc_graph_destroy(g);
  return v;
}

TEST(cache_keys_include_dependencies) {
  char dir[] = "/tmp/parc-test-graph-XXXXXX";
  CHECK(mkdtemp(dir) != NULL);
  parc_pool *pool = make_pool(THREADS3);
  parc_cache *cache;
  CHECK_OK(parc_cache_open(&cache, dir, NULL));
  reset_runs();
  CHECK_INT(10 * 2 + 3, cached_graph(pool, cache, 1));
  for (int i = 0; i < 5; i++) CHECK_INT(1, atomic_load(&runs[i]));
  /* The same graph again: every node is a hit. */
  CHECK_INT(23, cached_graph(pool, cache, 1));
  for (int i = 0; i < 5; i++) CHECK_INT(1, atomic_load(&runs[i]));
  /* a's input changes: a, and b and e whose dependency outputs changed,
     run again; c and d are still hits. */
  CHECK_INT(10 * 6 + 3, cached_graph(pool, cache, 5));
  CHECK_INT(2, atomic_load(&runs[0]));
  CHECK_INT(2, atomic_load(&runs[1]));
  CHECK_INT(1, atomic_load(&runs[2]));
  CHECK_INT(1, atomic_load(&runs[3]));
  CHECK_INT(2, atomic_load(&runs[4]));
  parc_cache_close(cache);
  parc_pool_destroy(pool);
  char command[128];
  snprintf(command, sizeof command, "rm -rf '%s'", dir);
  CHECK_INT(0, system(command));
  CHECK_NO_LEAKS();
}

/* ---- allocation failures ---------------------------------------------------------- */

/* Fails the nth allocation (and all later ones) while building and running
   a small graph, for every n until one pass sees no failure. Each call must
   fail cleanly, later calls must work once memory is back, and nothing may
   leak. SERIAL: the hook is not thread-aware. */
TEST(allocation_failures) {
  parc_pool *pool = make_pool(SERIAL);
  bool clean = false;
  for (long n = 1; n < 500 && !clean; n++) {
    clean = true;
    parc__alloc_fail_after(n);
    parc_graph *g = NULL;
    int rc = parc_graph_create(&g, pool, &(parc_options){.label = "alloc"});
    if (rc != PARC_OK) {
      parc__alloc_fail_after(0);
      CHECK_INT(PARC_ENOMEM, rc);
      CHECK(g == NULL);
      clean = false;
      continue;
    }
    /* n0 = 1, n1 = 2, then n_i = 10 * n_(i-1) + n_(i-2). */
    const int64_t expected[6] = {1, 2, 21, 212, 2141, 21622};
    size_t added = 0;
    for (size_t i = 0; i < 6; i++) {
      parc_node deps[2] = {i - 1, i - 2};
      rc = i < 2 ? parc_graph_add(g, leaf, &expected[i], 8, 8, NULL, 0, NULL)
                 : parc_graph_add(g, combine, NULL, 0, 8, deps, 2, NULL);
      if (rc != PARC_OK) {
        CHECK_INT(PARC_ENOMEM, rc);
        clean = false;
        break;   /* a failed add leaves the graph unchanged */
      }
      added++;
    }
    CHECK_SIZE(added, parc_graph_size(g));
    rc = parc_graph_run(g);
    if (rc != PARC_OK) clean = false;
    parc__alloc_fail_after(0);
    /* With memory back, a run finishes whatever the failed one left unrun;
       a node whose submission failed stays PARC_ENOMEM. */
    rc = parc_graph_run(g);
    for (size_t i = 0; i < added; i++) {
      int st = parc_graph_result(g, i, NULL, NULL);
      if (st == PARC_OK) CHECK_INT(expected[i], result_i64(g, i));
      else if (st != PARC_ENOMEM && st != PARC_EDEPENDENCY)
        FAIL_AT("n=%ld: node %zu has status %d (%s)", n, i, st, parc_errmsg());
    }
    if (clean) {
      CHECK_SIZE(6, added);
      CHECK_INT(PARC_OK, rc);
    }
    parc_graph_destroy(g);
  }
  CHECK(clean);
  parc_pool_destroy(pool);
  CHECK_NO_LEAKS();
}

int main(int argc, char **argv) { return harness_main(argc, argv); }
