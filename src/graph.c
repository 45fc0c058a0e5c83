/*
 * graph.c — task graphs (dask.delayed): nodes that read earlier nodes' outputs.
 *
 * A graph is a builder and a small scheduler on top of groups.
 * parc_graph_add records a node in one allocation: its output buffer, the
 * {pointer, size} table of its dependencies' outputs (what parc_task_dep
 * returns inside it), the dependency ids, and a copy of its input. Output
 * buffers never move, so those tables stay valid however the graph grows.
 *
 * parc_graph_run runs the nodes that have not run, [ran, count), as one
 * group. It builds the reverse edges (who depends on whom) as one flat
 * array, counts each node's unfinished dependencies, and submits the nodes
 * with none. From then on the bookkeeping runs in the workers, in each
 * node's `then` (parc__job): a success decrements its dependants' counts
 * (atomics) and submits those that reach zero, the first of them as the
 * worker's own next task, so a chain hands off without a wake-up; a
 * failure marks everything downstream PARC_EDEPENDENCY through an explicit
 * worklist (no deep recursion for a chain of a million nodes), under the
 * run's lock, which only failures take. The caller sleeps until every node
 * of the run is done (or, on SERIAL, runs them).
 *
 * Why no node can be submitted twice or failed while it runs: a node's
 * count reaches zero only when every dependency has succeeded, and only
 * then is it submitted; failure propagation reaches a node only through a
 * failed dependency, whose success never comes.
 *
 * A node's task index is its id (parc__group_submit_node), not its position
 * in the run's group, so its random stream does not depend on scheduling.
 */
#include "parc_internal.h"

#include <string.h>

enum { NODE_NEW, NODE_WAITING, NODE_SUBMITTED, NODE_DONE };

typedef struct graph_node {
  parc_fn fn;
  void *block;              /* output, dep table, dep ids, input: one allocation */
  void *out;
  size_t out_size;
  void *result;             /* out_size 0: the node's parc_task_output result, owned */
  size_t result_size;
  parc__dep *depv;          /* what parc_task_dep returns inside this node */
  const parc_node *deps;
  size_t ndeps;
  const void *in;
  size_t in_size;
  int state;
  int status;               /* once NODE_DONE: PARC_OK or the failure */
  size_t root;              /* a failed node: the node whose own failure started it */
  char *message;            /* failure text, NULL if none (or out of memory) */
  _Atomic size_t pending;   /* during a run: dependencies not finished yet */
} graph_node;

struct parc_graph {
  parc_pool *pool;
  parc_options options;     /* label and cache strings point at the copies below */
  char *label, *cache_name, *cache_version;
  graph_node *nodes;
  size_t count, capacity;
  size_t ran;               /* nodes [0, ran) have run; every later one is NODE_NEW */
  size_t first_real;        /* lowest failed node that is not ECANCELED/EDEPENDENCY */
  size_t first_other;       /* lowest cancelled (or dependency-failed) node */
};

/* One call of parc_graph_run: nodes [base, base + n). */
typedef struct graph_run {
  parc_graph *graph;
  parc_group *group;
  size_t base, n;
  size_t *edge_start;       /* dependants of base+i: edges[edge_start[i] .. edge_start[i+1]) */
  parc_node *edges;
  size_t *roots;            /* nodes with nothing to wait for, submitted first */
  size_t nroots;
  pthread_mutex_t lock;     /* failures: node fields, work, first_*, stop_cause */
  pthread_cond_t done;      /* remaining reached 0 */
  size_t *work;             /* worklist of failure propagation */
  _Atomic size_t remaining; /* nodes of this run not NODE_DONE yet */
  _Atomic bool stop;        /* stop_on_error has fired */
  size_t stop_cause;
} graph_run;

static size_t round16(size_t n) { return (n + 15) & ~(size_t)15; }

/* ---- creation ----------------------------------------------------------- */

static char *copy_option(const char *s, bool *failed) {
  if (!s) return NULL;
  char *copy = parc__strdup(s);
  if (!copy) *failed = true;
  return copy;
}

int parc_graph_create(parc_graph **out, parc_pool *pool, const parc_options *opt) {
  if (!out) return parc__error(PARC_EINVAL, "parc_graph_create: g is NULL");
  *out = NULL;
  if (!pool) return parc__error(PARC_EINVAL, "parc_graph_create: pool is NULL");
  if (opt && !opt->context && opt->context_size)
    return parc__error(PARC_EINVAL, "parc_graph_create: context is NULL but context_size is %zu",
                       opt->context_size);
  parc_graph *g = parc__calloc(1, sizeof *g);
  if (!g) return parc__error(PARC_ENOMEM, "parc_graph_create: out of memory");
  g->pool = pool;
  if (opt) g->options = *opt;
  bool failed = false;
  g->label = copy_option(g->options.label, &failed);
  g->cache_name = copy_option(g->options.cache_name, &failed);
  g->cache_version = copy_option(g->options.cache_version, &failed);
  g->options.label = g->label;
  g->options.cache_name = g->cache_name;
  g->options.cache_version = g->cache_version;
  g->first_real = g->first_other = SIZE_MAX;
  if (failed) {
    parc_graph_destroy(g);
    return parc__error(PARC_ENOMEM, "parc_graph_create: out of memory");
  }
  *out = g;
  return PARC_OK;
}

void parc_graph_destroy(parc_graph *g) {
  if (!g) return;
  for (size_t i = 0; i < g->count; i++) {
    parc__free(g->nodes[i].block);
    parc__free(g->nodes[i].message);
    parc__output_free(g->nodes[i].result);
  }
  parc__free(g->nodes);
  parc__free(g->label);
  parc__free(g->cache_name);
  parc__free(g->cache_version);
  parc__free(g);
}

size_t parc_graph_size(const parc_graph *g) { return g ? g->count : 0; }

/* ---- adding nodes ------------------------------------------------------- */

static int check_add(const parc_graph *g, parc_fn fn, const void *in, size_t in_size,
                     const parc_node *deps, size_t n_deps) {
  if (!g) return parc__error(PARC_EINVAL, "parc_graph_add: g is NULL");
  if (!fn) return parc__error(PARC_EINVAL, "parc_graph_add: fn is NULL");
  if (!in && in_size)
    return parc__error(PARC_EINVAL, "parc_graph_add: in is NULL but in_size is %zu", in_size);
  if (!deps && n_deps)
    return parc__error(PARC_EINVAL, "parc_graph_add: deps is NULL but n_deps is %zu", n_deps);
  for (size_t k = 0; k < n_deps; k++) {
    if (deps[k] >= g->count)
      return parc__error(PARC_EINVAL,
                         "parc_graph_add: deps[%zu] is %zu, not an earlier node "
                         "(the new node would be %zu; a node may depend only on nodes added "
                         "before it)",
                         k, deps[k], g->count);
  }
  return PARC_OK;
}

/* Bytes of a node's block, or 0 when they overflow: output (rounded so the
   table after it is aligned), dep table, dep ids, input. */
static size_t block_size(size_t out_size, size_t n_deps, size_t in_size) {
  const size_t per_dep = sizeof(parc__dep) + sizeof(parc_node);
  if (out_size > SIZE_MAX - 15 || n_deps > SIZE_MAX / per_dep) return 0;
  size_t total = round16(out_size);
  if (n_deps * per_dep > SIZE_MAX - total) return 0;
  total += n_deps * per_dep;
  if (in_size > SIZE_MAX - total) return 0;
  return total + in_size;
}

int parc_graph_add(parc_graph *g, parc_fn fn, const void *in, size_t in_size, size_t out_size,
                   const parc_node *deps, size_t n_deps, parc_node *node) {
  int rc = check_add(g, fn, in, in_size, deps, n_deps);
  if (rc) return rc;
  size_t bytes = block_size(out_size, n_deps, in_size);
  if (bytes == 0 && (out_size || n_deps || in_size))
    return parc__error(PARC_EINVAL, "parc_graph_add: out_size %zu, n_deps %zu and in_size %zu "
                       "overflow", out_size, n_deps, in_size);
  if (g->count == g->capacity) {
    size_t capacity = g->capacity ? g->capacity * 2 : 64;
    if (capacity > SIZE_MAX / sizeof(graph_node))
      return parc__error(PARC_ENOMEM, "parc_graph_add: out of memory");
    graph_node *grown = parc__realloc(g->nodes, capacity * sizeof *grown);
    if (!grown) return parc__error(PARC_ENOMEM, "parc_graph_add: out of memory");
    g->nodes = grown;
    g->capacity = capacity;
  }
  char *block = parc__calloc(1, bytes);
  if (!block) return parc__error(PARC_ENOMEM, "parc_graph_add: out of memory for node %zu",
                                 g->count);
  graph_node *n = &g->nodes[g->count];
  memset(n, 0, sizeof *n);
  n->fn = fn;
  n->block = block;
  n->out = out_size ? block : NULL;
  n->out_size = out_size;
  n->depv = (parc__dep *)(block + round16(out_size));
  parc_node *ids = (parc_node *)(n->depv + n_deps);
  n->deps = ids;
  n->ndeps = n_deps;
  for (size_t k = 0; k < n_deps; k++) {
    const graph_node *d = &g->nodes[deps[k]];
    ids[k] = deps[k];
    n->depv[k] = (parc__dep){d->out, d->out_size};
  }
  n->in = in_size ? (const void *)(ids + n_deps) : NULL;
  n->in_size = in_size;
  if (in_size) memcpy(ids + n_deps, in, in_size);
  n->state = NODE_NEW;
  n->root = SIZE_MAX;
  if (node) *node = g->count;
  g->count++;
  return PARC_OK;
}

/* ---- running: failure ---------------------------------------------------- */

static bool is_real_failure(int status) {
  return status != PARC_OK && status != PARC_ECANCELED && status != PARC_EDEPENDENCY;
}

static const char *node_text(const graph_node *n) {
  return n->message ? n->message : parc_strerror(n->status);
}

/* One more node of the run is NODE_DONE; the last one wakes the caller.
   `locked`: the run's lock is held (or nobody can be waiting yet). */
static void node_done(graph_run *r, bool locked) {
  if (atomic_fetch_sub(&r->remaining, 1) != 1) return;
  if (!locked) pthread_mutex_lock(&r->lock);
  pthread_cond_broadcast(&r->done);
  if (!locked) pthread_mutex_unlock(&r->lock);
}

/* Marks node id finished with a failure (message is taken over). The
   run's lock is held (or no worker runs yet). */
static void set_failed(graph_run *r, size_t id, int status, size_t root, char *message) {
  parc_graph *g = r->graph;
  graph_node *n = &g->nodes[id];
  n->state = NODE_DONE;
  n->status = status;
  n->root = root;
  n->message = message;
  if (is_real_failure(status)) {
    if (id < g->first_real) g->first_real = id;
  } else if (id < g->first_other) {
    g->first_other = id;
  }
  node_done(r, true);
}

/* A dependant of a failed node: PARC_EDEPENDENCY naming the root failure,
   or PARC_ECANCELED when the root was cancelled. */
static void fail_dependant(graph_run *r, size_t id, size_t root) {
  const graph_node *cause = &r->graph->nodes[root];
  if (cause->status == PARC_ECANCELED)
    set_failed(r, id, PARC_ECANCELED, root,
               parc__format("dependency node %zu was cancelled", root));
  else
    set_failed(r, id, PARC_EDEPENDENCY, root,
               parc__format("dependency node %zu failed: %s", root, node_text(cause)));
}

/* Node id (of this run) has failed: every node of this run downstream of it
   that has not finished fails too. None of them can be running: a node is
   submitted only once all its dependencies have succeeded. */
static void propagate_failure(graph_run *r, size_t id) {
  graph_node *nodes = r->graph->nodes;
  size_t root = nodes[id].root;
  size_t top = 0;
  r->work[top++] = id;
  while (top > 0) {
    size_t x = r->work[--top] - r->base;
    for (size_t e = r->edge_start[x]; e < r->edge_start[x + 1]; e++) {
      size_t y = r->edges[e];
      if (nodes[y].state == NODE_DONE) continue;
      fail_dependant(r, y, root);
      r->work[top++] = y;   /* each node is pushed once: it is DONE from now on */
    }
  }
}

static void fail_node(graph_run *r, size_t id, int status, char *message) {
  set_failed(r, id, status, id, message);
  propagate_failure(r, id);
}

/* ---- running: submission and completion ---------------------------------- */

static void node_then(void *arg, parc__job *job, size_t offset, size_t count);

/* Submits node id, whose dependencies have all succeeded. */
static void submit(graph_run *r, size_t id) {
  graph_node *n = &r->graph->nodes[id];
  if (atomic_load(&r->stop)) {
    pthread_mutex_lock(&r->lock);
    fail_node(r, id, PARC_ECANCELED,
              parc__format("cancelled: node %zu failed and stop_on_error is set", r->stop_cause));
    pthread_mutex_unlock(&r->lock);
    return;
  }
  n->state = NODE_SUBMITTED;
  /* A dependency without a fixed output gave a result of its own size. */
  for (size_t k = 0; k < n->ndeps; k++) {
    const graph_node *d = &r->graph->nodes[n->deps[k]];
    if (!d->out_size) n->depv[k] = (parc__dep){d->result, d->result_size};
  }
  int rc = parc__group_submit_node(r->group, n->fn, n->in, n->in_size, n->out, n->out_size,
                                   n->depv, n->ndeps, id, node_then, r, NULL);
  if (rc != PARC_OK) {
    char *message = parc__format("could not submit node %zu: %s", id, parc_errmsg());
    pthread_mutex_lock(&r->lock);
    fail_node(r, id, rc, message);
    pthread_mutex_unlock(&r->lock);
  }
}

/* A node that did not succeed: its failure, and everything downstream. */
static void node_failed(graph_run *r, size_t id, size_t index, int status) {
  pthread_mutex_lock(&r->lock);
  char *message;
  if (status == PARC_ECANCELED && atomic_load(&r->stop))
    message = parc__format("cancelled: node %zu failed and stop_on_error is set", r->stop_cause);
  else
    message = parc__strdup(parc_group_message(r->group, index));
  if (r->graph->options.stop_on_error && !atomic_load(&r->stop) && status != PARC_ECANCELED) {
    r->stop_cause = id;
    atomic_store(&r->stop, true);
  }
  fail_node(r, id, status, message);
  pthread_mutex_unlock(&r->lock);
}

/* A node's `then`, in the worker that ran it (its task index is its id). */
static void node_then(void *arg, parc__job *job, size_t offset, size_t count) {
  graph_run *r = arg;
  (void)count;
  size_t id = job->tasks.index_base + offset;
  int status = parc__completion_status_at(&job->record, offset);
  if (status != PARC_OK) {
    node_failed(r, id, job->record.first + offset, status);
    return;
  }
  graph_node *nodes = r->graph->nodes;
  /* The node's variable result moves from its job (freed with the group)
     to the node, before any dependant is submitted. */
  parc_buf *table = atomic_load(&job->outputs.table);
  if (table && !nodes[id].out_size) {
    nodes[id].result = (void *)table[offset].data;
    nodes[id].result_size = table[offset].size;
    table[offset] = (parc_buf){NULL, 0};
  }
  nodes[id].status = PARC_OK;
  nodes[id].state = NODE_DONE;
  size_t x = id - r->base;
  for (size_t e = r->edge_start[x]; e < r->edge_start[x + 1]; e++) {
    size_t y = r->edges[e];
    if (atomic_fetch_sub(&nodes[y].pending, 1) == 1) submit(r, y);
  }
  node_done(r, false);
}

/* ---- running: setup ------------------------------------------------------ */

/* The reverse edges among this run's nodes, as a compressed adjacency. */
static int build_edges(graph_run *r) {
  const graph_node *nodes = r->graph->nodes;
  size_t n = r->n, base = r->base, nedges = 0;
  r->edge_start = parc__calloc(n + 1, sizeof(size_t));
  if (!r->edge_start) return PARC_ENOMEM;
  for (size_t i = base; i < base + n; i++) {
    for (size_t k = 0; k < nodes[i].ndeps; k++) {
      size_t d = nodes[i].deps[k];
      if (d < base) continue;   /* finished in an earlier run */
      r->edge_start[d - base + 1]++;
      nedges++;
    }
  }
  for (size_t i = 0; i < n; i++) r->edge_start[i + 1] += r->edge_start[i];
  r->edges = parc__malloc(nedges * sizeof(parc_node));
  if (!r->edges) return PARC_ENOMEM;
  /* Fill with edge_start[d] as the cursor of d; afterwards edge_start[d]
     holds d+1's start, so shift it back by one. */
  for (size_t i = base; i < base + n; i++) {
    for (size_t k = 0; k < nodes[i].ndeps; k++) {
      size_t d = nodes[i].deps[k];
      if (d >= base) r->edges[r->edge_start[d - base]++] = i;
    }
  }
  for (size_t i = n; i > 0; i--) r->edge_start[i] = r->edge_start[i - 1];
  r->edge_start[0] = 0;
  return PARC_OK;
}

static int run_setup(graph_run *r) {
  parc_graph *g = r->graph;
  pthread_mutex_init(&r->lock, NULL);
  pthread_cond_init(&r->done, NULL);
  atomic_init(&r->remaining, r->n);
  r->roots = parc__malloc(r->n * sizeof(size_t));
  r->work = parc__malloc(r->n * sizeof(size_t));
  if (!r->roots || !r->work || build_edges(r) != PARC_OK)
    return parc__error(PARC_ENOMEM, "parc_graph_run: out of memory for %zu nodes", r->n);
  /* Nodes are followed through their `then`, never next: nothing to forget. */
  parc_options opt = g->options;
  opt.stream = 0;
  return parc_group_create(&r->group, g->pool, &opt);
}

static void run_free(graph_run *r) {
  parc_group_destroy(r->group);
  pthread_cond_destroy(&r->done);
  pthread_mutex_destroy(&r->lock);
  parc__free(r->roots);
  parc__free(r->work);
  parc__free(r->edge_start);
  parc__free(r->edges);
}

/* In id order (so every dependency is settled first): a node with a failed
   dependency fails at once, one with none unfinished is a root, the rest
   wait for their counts to reach zero. Nothing runs yet: every count is
   set before the first root is submitted. */
static void count_pending(graph_run *r) {
  graph_node *nodes = r->graph->nodes;
  for (size_t i = r->base; i < r->base + r->n; i++) {
    graph_node *n = &nodes[i];
    if (n->state == NODE_DONE) continue;   /* already failed by propagation */
    n->pending = 0;
    size_t failed_dep = SIZE_MAX;
    for (size_t k = 0; k < n->ndeps && failed_dep == SIZE_MAX; k++) {
      const graph_node *d = &nodes[n->deps[k]];
      if (d->state != NODE_DONE) n->pending++;
      else if (d->status != PARC_OK) failed_dep = n->deps[k];
    }
    if (failed_dep != SIZE_MAX) {
      fail_dependant(r, i, nodes[failed_dep].root);
      propagate_failure(r, i);
      continue;
    }
    n->state = NODE_WAITING;
    if (n->pending == 0) r->roots[r->nroots++] = i;
  }
}

/* Waits until every node of the run is done: asleep, or running nodes
   where waiting on the group runs them (SERIAL, a nested run). */
static void wait_nodes(graph_run *r) {
  if (parc__group_helps(r->group)) {
    while (atomic_load(&r->remaining) > 0) parc_group_wait(r->group, -1);
    return;
  }
  pthread_mutex_lock(&r->lock);
  while (atomic_load(&r->remaining) > 0) pthread_cond_wait(&r->done, &r->lock);
  pthread_mutex_unlock(&r->lock);
}

static int graph_outcome(const parc_graph *g) {
  size_t id = g->first_real != SIZE_MAX ? g->first_real : g->first_other;
  if (id == SIZE_MAX) return PARC_OK;
  const graph_node *n = &g->nodes[id];
  return parc__error(n->status, "parc_graph_run: node %zu failed: %s", id, node_text(n));
}

int parc_graph_run(parc_graph *g) {
  if (!g) return parc__error(PARC_EINVAL, "parc_graph_run: g is NULL");
  if (g->ran == g->count) return graph_outcome(g);
  graph_run r = {.graph = g, .base = g->ran, .n = g->count - g->ran};
  int rc = run_setup(&r);
  if (rc != PARC_OK) {
    run_free(&r);
    return rc;
  }
  count_pending(&r);
  for (size_t i = 0; i < r.nroots; i++) submit(&r, r.roots[i]);
  wait_nodes(&r);
  g->ran = g->count;
  run_free(&r);
  return graph_outcome(g);
}

/* ---- results -------------------------------------------------------------- */

int parc_graph_result(const parc_graph *g, parc_node node, const void **out, size_t *size) {
  if (out) *out = NULL;
  if (size) *size = 0;
  if (!g) return parc__error(PARC_EINVAL, "parc_graph_result: g is NULL");
  if (node >= g->count)
    return parc__error(PARC_EINVAL, "parc_graph_result: node %zu does not exist (the graph has "
                       "%zu nodes)", node, g->count);
  const graph_node *n = &g->nodes[node];
  if (n->state != NODE_DONE)
    return parc__error(PARC_PENDING, "parc_graph_result: node %zu has not run yet "
                       "(parc_graph_run runs it)", node);
  if (n->status != PARC_OK)
    return parc__error(n->status, "parc_graph_result: node %zu failed: %s", node, node_text(n));
  if (out) *out = n->out_size ? n->out : n->result;
  if (size) *size = n->out_size ? n->out_size : n->result_size;
  return PARC_OK;
}

const char *parc_graph_message(const parc_graph *g, parc_node node) {
  if (!g || node >= g->count) return NULL;
  const graph_node *n = &g->nodes[node];
  if (n->state != NODE_DONE || n->status == PARC_OK) return NULL;
  return node_text(n);
}
