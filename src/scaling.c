/*
 * scaling.c — the scaling table: the chapter's benchmark_parallel.
 *
 * parc_scaling times the caller's function over every record in a plain
 * loop in the calling thread (the baseline, row 0: the chapter's
 * "sequential", and what "speedup over serial C" means), then as a
 * parc_map on each backend x worker count of a plan, and fills one row per
 * combination with the fastest of `repeats` runs and the speedup against
 * the baseline. A pool is created per row, outside the
 * timed region, so the table measures the map (dispatch, work, joins) and
 * not thread or process start-up; the first run of a row warms caches and
 * is usually not the fastest, which is why the minimum is kept.
 *
 * A backend that cannot run here (PARC_PROCESSES before it is built,
 * a config it refuses) is a row with that status and message, never a
 * failure of the whole table: the table is the report.
 */
#include "parc_internal.h"

#include <stdio.h>
#include <string.h>

#define DEFAULT_REPEATS 3
#define MAX_REPEATS 1000

static const char *backend_name(parc_backend backend) {
  switch (backend) {
    case PARC_THREADS: return "threads";
    case PARC_PROCESSES: return "processes";
    case PARC_SERIAL: return "serial";
    case PARC_MPI: return "mpi";
    default: return "unknown";
  }
}

/* The `workers` rule of parc_config, as parc_pool_create applies it. */
static int resolve_workers(int requested) {
  int cpus = parc_cpu_count();
  if (requested == 0 || requested == -1) return cpus;
  if (requested > 0) return requested;
  int n = cpus + 1 + requested;
  return n > 1 ? n : 1;
}

/* ---- the plan, checked and with its defaults filled in ------------------ */

typedef struct plan {
  parc_backend backends[PARC_MPI + 1];
  size_t nbackends;
  int *workers;               /* resolved, distinct, in the caller's order */
  size_t nworkers;
  int repeats;
  parc_config config;
} plan;

static int plan_backends(plan *p, const parc_scaling_plan *in) {
  static const parc_backend defaults[] = {PARC_THREADS, PARC_PROCESSES};
  const parc_backend *list = in && in->nbackends ? in->backends : defaults;
  size_t n = in && in->nbackends ? in->nbackends : 2;
  if (in && in->nbackends && !in->backends)
    return parc__error(PARC_EINVAL, "parc_scaling: plan->backends is NULL but nbackends is %zu",
                       in->nbackends);
  for (size_t i = 0; i < n; i++) {
    parc_backend b = list[i];
    if ((unsigned)b > PARC_MPI)
      return parc__error(PARC_EINVAL, "parc_scaling: plan->backends[%zu] is %d, not a backend", i,
                         (int)b);
    if (b == PARC_MPI)
      return parc__error(PARC_EINVAL,
                         "parc_scaling: PARC_MPI cannot be timed here (a program has one MPI "
                         "pool): time it with mpirun -np N instead");
    bool seen = false;
    for (size_t k = 0; k < p->nbackends; k++) seen |= p->backends[k] == b;
    if (!seen) p->backends[p->nbackends++] = b;
  }
  return PARC_OK;
}

static int plan_workers(plan *p, const parc_scaling_plan *in) {
  if (in && in->nworkers && !in->workers)
    return parc__error(PARC_EINVAL, "parc_scaling: plan->workers is NULL but nworkers is %zu",
                       in->nworkers);
  int cpus = parc_cpu_count();
  size_t n = in && in->nworkers ? in->nworkers : 0;
  if (n == 0) {                     /* 1, 2, 4, ... below cpus, then cpus */
    for (int w = 1; w < cpus; w *= 2) n++;
    n++;
  }
  p->workers = parc__calloc(n, sizeof *p->workers);
  if (!p->workers) return parc__error(PARC_ENOMEM, "parc_scaling: out of memory");
  for (size_t i = 0; i < n; i++) {
    int w;
    if (in && in->nworkers) {
      w = in->workers[i];
      if (w > PARC__MAX_WORKERS || w < -PARC__MAX_WORKERS)
        return parc__error(PARC_EINVAL, "parc_scaling: plan->workers[%zu] = %d is beyond +-%d", i,
                           w, PARC__MAX_WORKERS);
      w = resolve_workers(w);
    } else {
      w = i + 1 < n ? 1 << i : cpus;
    }
    bool seen = false;
    for (size_t k = 0; k < p->nworkers; k++) seen |= p->workers[k] == w;
    if (!seen) p->workers[p->nworkers++] = w;
  }
  return PARC_OK;
}

static int plan_make(plan *p, const parc_scaling_plan *in) {
  memset(p, 0, sizeof *p);
  int rc = plan_backends(p, in);
  if (!rc) rc = plan_workers(p, in);
  if (rc) return rc;
  p->repeats = in && in->repeats ? in->repeats : DEFAULT_REPEATS;
  if (p->repeats < 1 || p->repeats > MAX_REPEATS)
    return parc__error(PARC_EINVAL, "parc_scaling: plan->repeats must be 0 (default %d) or 1..%d, "
                       "got %d", DEFAULT_REPEATS, MAX_REPEATS, p->repeats);
  if (in && in->config) {
    p->config = *in->config;
  } else {
    parc_config_default(&p->config);
    p->config.verbose = 0;   /* progress lines would be timed with the work */
  }
  return PARC_OK;
}

/* ---- timing one row ------------------------------------------------------ */

typedef struct map_call {
  parc_fn fn;
  const void *in;
  size_t in_size;
  void *out;
  size_t out_size;
  size_t n;
  const parc_options *opt;
} map_call;

static void row_failed(parc_scaling_row *row, int status) {
  row->status = status;
  snprintf(row->message, sizeof row->message, "%s", parc_errmsg());
}

/* parc_map says a task failed, not which or why: run the map once more
   as a group (not timed) and name the failed task with the lowest index,
   a real failure preferred over a cancellation. */
static void explain_task_failure(parc_scaling_row *row, parc_pool *pool, const map_call *m) {
  parc_group *g;
  if (parc_group_create(&g, pool, m->opt) != PARC_OK) return;
  if (parc_group_map(g, m->fn, m->in, m->in_size, m->out, m->out_size, m->n) == PARC_OK &&
      parc_group_wait(g, -1) != PARC_OK) {
    size_t canceled = SIZE_MAX;
    for (size_t i = 0; i < m->n; i++) {
      int status = parc_group_status(g, i);
      if (status == PARC_ECANCELED && canceled == SIZE_MAX) canceled = i;
      if (status >= 0 || status == PARC_ECANCELED) continue;
      snprintf(row->message, sizeof row->message, "task %zu: %s", i, parc_group_message(g, i));
      canceled = SIZE_MAX;
      break;
    }
    if (canceled != SIZE_MAX)
      snprintf(row->message, sizeof row->message, "task %zu: %s", canceled,
               parc_group_message(g, canceled));
  }
  parc_group_destroy(g);
}

/* Creates the row's pool, then runs the map `repeats` times and keeps the
   fastest; stops at the first failing run, whose status the row keeps. */
static void time_row(parc_scaling_row *row, const plan *p, const map_call *m) {
  parc_config cfg = p->config;
  cfg.backend = row->backend;
  cfg.workers = row->workers;
  /* Only PROCESSES can time a task out; the others refuse the setting. */
  if (row->backend != PARC_PROCESSES) cfg.timeout = 0;
  parc_pool *pool;
  int rc = parc_pool_create(&pool, &cfg);
  if (rc) {
    row_failed(row, rc);
    return;
  }
  row->workers = parc_pool_size(pool);
  double best = -1;
  for (int r = 0; r < p->repeats; r++) {
    double start = parc__now();
    rc = parc_map(pool, m->fn, m->in, m->in_size, m->out, m->out_size, m->n, m->opt, NULL);
    double seconds = parc__now() - start;
    if (best < 0 || seconds < best) best = seconds;
    if (rc) {
      row_failed(row, rc);
      if (rc == PARC_ETASK || rc == PARC_ECRASH || rc == PARC_ETIMEDOUT || rc == PARC_ECANCELED)
        explain_task_failure(row, pool, m);
      break;
    }
  }
  row->seconds = best;
  parc_pool_destroy(pool);
}

/* The baseline: fn over every record in a loop in this thread, with the
   same task indices, context and random streams a pool would give. Every
   task runs even after a failure, as in a map; the first failure is the
   row's status. */
/* The first failure of the plain loop names the row's status. */
static bool note_failure(void *arg, size_t offset, int status, parc_task *t) {
  parc_scaling_row *row = arg;
  if (row->status == PARC_OK) {
    row->status = status;
    snprintf(row->message, sizeof row->message, "task %zu: %s", offset,
             t->message ? t->message : parc_strerror(status));
  }
  parc__free(t->message);
  t->message = NULL;
  return false;
}

static void time_loop(parc_scaling_row *row, const plan *p, const map_call *m) {
  const void *context = m->opt && m->opt->context_size ? m->opt->context : NULL;
  uint64_t seed = m->opt && m->opt->seed ? m->opt->seed : p->config.seed;
  if (p->config.worker_init) p->config.worker_init(p->config.worker_init_arg);
  parc__tasks d = {.fn = m->fn, .in = m->in_size ? m->in : NULL, .in_size = m->in_size,
                   .out = m->out_size ? m->out : NULL, .out_size = m->out_size,
                   .context = context, .context_size = context ? m->opt->context_size : 0,
                   .seed = seed};
  double best = -1;
  for (int r = 0; r < p->repeats && row->status == PARC_OK; r++) {
    parc_task t;
    parc__task_init(&t, &d, 0);
    double start = parc__now();
    /* The sequential baseline runs through the same routine as every
       executor; the first failure is noted and the loop goes on. */
    parc__tasks_run(&d, &t, 0, m->n, NULL, NULL, note_failure, row);
    double seconds = parc__now() - start;
    if (best < 0 || seconds < best) best = seconds;
  }
  row->seconds = best;
}

static int check_call(const map_call *m, const parc_scaling_row *rows, size_t max_rows,
                      const size_t *nrows) {
  const char *who = "parc_scaling";
  if (!nrows) return parc__error(PARC_EINVAL, "%s: nrows is NULL", who);
  if (!rows && max_rows)
    return parc__error(PARC_EINVAL, "%s: rows is NULL but max_rows is %zu", who, max_rows);
  if (!m->fn) return parc__error(PARC_EINVAL, "%s: fn is NULL", who);
  if (m->n == 0) return parc__error(PARC_EINVAL, "%s: n is 0: there is nothing to time", who);
  if (m->in_size && m->n > SIZE_MAX / m->in_size)
    return parc__error(PARC_EINVAL, "%s: n (%zu) x in_size (%zu) overflows", who, m->n, m->in_size);
  if (m->out_size && m->n > SIZE_MAX / m->out_size)
    return parc__error(PARC_EINVAL, "%s: n (%zu) x out_size (%zu) overflows", who, m->n,
                       m->out_size);
  if (!m->in && m->in_size)
    return parc__error(PARC_EINVAL, "%s: in is NULL but in_size is %zu", who, m->in_size);
  if (!m->out && m->out_size)
    return parc__error(PARC_EINVAL, "%s: out is NULL but out_size is %zu", who, m->out_size);
  if (m->opt && m->opt->cache)
    return parc__error(PARC_EINVAL, "%s: opt->cache is set: a cache would time its hits, "
                       "not the work", who);
  return PARC_OK;
}

int parc_scaling(parc_fn fn, const void *in, size_t in_size, void *out, size_t out_size, size_t n,
                 const parc_options *opt, const parc_scaling_plan *scaling,
                 parc_scaling_row *rows, size_t max_rows, size_t *nrows) {
  map_call m = {fn, in, in_size, out, out_size, n, opt};
  int rc = check_call(&m, rows, max_rows, nrows);
  if (rc) return rc;
  plan p;
  rc = plan_make(&p, scaling);
  if (rc) {
    parc__free(p.workers);
    return rc;
  }
  size_t needed = 1;
  for (size_t b = 0; b < p.nbackends; b++) needed += p.backends[b] == PARC_SERIAL ? 1 : p.nworkers;
  *nrows = needed;
  if (!rows) {
    parc__free(p.workers);
    return PARC_OK;   /* a query: how many rows this plan makes */
  }
  if (max_rows < needed) {
    parc__free(p.workers);
    return parc__error(PARC_EINVAL, "parc_scaling: rows holds %zu rows but the plan makes %zu",
                       max_rows, needed);
  }
  memset(rows, 0, needed * sizeof *rows);
  rows[0].backend = PARC_SERIAL;
  rows[0].workers = 1;
  size_t next = 1;
  for (size_t b = 0; b < p.nbackends; b++) {
    /* A SERIAL pool has one worker whatever it is asked for: one row. */
    size_t count = p.backends[b] == PARC_SERIAL ? 1 : p.nworkers;
    for (size_t w = 0; w < count; w++) {
      rows[next].backend = p.backends[b];
      rows[next++].workers = p.backends[b] == PARC_SERIAL ? 1 : p.workers[w];
    }
  }
  time_loop(&rows[0], &p, &m);
  for (size_t i = 1; i < needed; i++) time_row(&rows[i], &p, &m);
  for (size_t i = 0; i < needed; i++) {
    bool usable = rows[0].status == PARC_OK && rows[i].status == PARC_OK && rows[i].seconds > 0;
    rows[i].speedup = usable ? rows[0].seconds / rows[i].seconds : 0;
  }
  parc__free(p.workers);
  return PARC_OK;
}

/* ---- printing -------------------------------------------------------------- */

int parc_scaling_print(FILE *f, const parc_scaling_row *rows, size_t nrows) {
  if (!f) return parc__error(PARC_EINVAL, "parc_scaling_print: f is NULL");
  if (!rows && nrows)
    return parc__error(PARC_EINVAL, "parc_scaling_print: rows is NULL but nrows is %zu", nrows);
  fprintf(f, "%-10s %7s %11s %9s %11s\n", "backend", "workers", "seconds", "speedup",
          "efficiency");
  for (size_t i = 0; i < nrows; i++) {
    const parc_scaling_row *r = &rows[i];
    /* Row 0 of parc_scaling is the plain loop, the chapter's "sequential". */
    const char *name = i == 0 && r->backend == PARC_SERIAL ? "sequential" : backend_name(r->backend);
    fprintf(f, "%-10s %7d ", name, r->workers);
    if (r->status != PARC_OK) {
      /* "PARC_EBACKEND: <why>": the code's name, then the row's message. */
      const char *code = parc_strerror(r->status);
      int code_len = (int)strcspn(code, ":");
      const char *why = r->message[0] ? r->message : code + code_len + (code[code_len] ? 2 : 0);
      fprintf(f, "%11s %9s %11s  %.*s: %s\n", "-", "-", "-", code_len, code, why);
    } else if (r->speedup > 0) {
      fprintf(f, "%11.4f %8.2fx %10.0f%%\n", r->seconds, r->speedup,
              100.0 * r->speedup / (r->workers > 0 ? r->workers : 1));
    } else {
      fprintf(f, "%11.4f %9s %11s\n", r->seconds, "-", "-");
    }
  }
  if (fflush(f) != 0 || ferror(f)) return parc__error_errno("parc_scaling_print: writing the table");
  return PARC_OK;
}
