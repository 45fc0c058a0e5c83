/*
 * backend_process.c — PARC_PROCESSES: each worker is a process, so a task
 * that crashes or hangs costs that task alone.
 *
 * Shape. parc_pool_create forks one fork server (process_server.c), which
 * forks the workers. In the caller, one proxy thread per worker runs the
 * dispatch worker loop (dispatch.c): it claims chunks exactly as a thread
 * worker does, and this file is its executor: it ships the tasks to its
 * worker through the worker's slot in shared memory (shared.c) and waits,
 * spinning briefly and then on a futex.
 * The worker runs the tasks and writes outputs, a done count and the last
 * status in place; the proxy copies the outputs into the caller's buffer
 * and reports each task. Inputs and outputs already in parc_shared_alloc
 * memory are used in place, without a copy.
 *
 * Faults. When a worker dies, the server reaps it and marks its slot DEAD;
 * a worker that crashes on a signal it can catch marks it DEAD itself first
 * (process_server.c), and once a worker has been replaced the server keeps
 * a spare, so a replacement is usually ready at once.
 * The proxy then knows from the done count which tasks finished (they are
 * kept), which one was running (it is blamed: PARC_ECRASH, or retried while
 * config.retries allows) and which had not started (posted again to the
 * replacement, which the proxy requests at once). A task past
 * config.timeout gets SIGTERM, then SIGKILL after a grace period, through
 * the server — only the server knows whether a pid is still its unreaped
 * child — and ends PARC_ETIMEDOUT. A worker stops at a task's failure, so
 * that stop_on_error cancels the rest of a chunk as it does on threads.
 */
#include "process.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>


/* ---- a new fork server ------------------------------------------------------ */

static int fork_server(process_backend *b, const parc_config *cfg);

/* The server of epoch `seen` is gone: starts another (once, whichever
   proxy comes first) and says whether the pool can go on; if not,
   b->broken says why. With fork start the new server is a copy of the
   caller as it is now (its workers see today's memory). */
static bool restart_server(process_backend *b, uint32_t seen) {
  pthread_mutex_lock(&b->restart_lock);
  if (atomic_load(&b->epoch) == seen && !b->broken[0] && !atomic_load(&b->stopping)) {
    pthread_rwlock_wrlock(&b->server_lock);
    while (waitpid(b->server, NULL, 0) < 0 && errno == EINTR) {
    }
    parc__server_unregister_fd(b->sock);
    close(b->sock);
    b->sock = -1;
    memset(b->pids, 0, (size_t)b->nslots * sizeof *b->pids);
    memset(b->generations, 0, (size_t)b->nslots * sizeof *b->generations);
    if (!b->exec) {   /* the new server is a copy of today's caller */
      parc__globals_image *now = parc__globals_take(b->pool->home);
      pthread_mutex_lock(&b->globals_lock);
      parc__globals_free(b->globals);
      b->globals = now;
      pthread_mutex_unlock(&b->globals_lock);
    }
    if (fork_server(b, &b->pool->config) != PARC_OK)
      snprintf(b->broken, sizeof b->broken,
               "the pool is broken: its fork server died and a new one could not start (%s)",
               parc_errmsg());
    else
      atomic_store(&b->server_gone, false);
    atomic_fetch_add(&b->epoch, 1);
    pthread_rwlock_unlock(&b->server_lock);
  }
  bool ok = !b->broken[0] && !atomic_load(&b->stopping);
  pthread_mutex_unlock(&b->restart_lock);
  return ok;
}

static const char *broken_reason(process_backend *b) {
  return b->broken[0] ? b->broken : "the pool's fork server is gone";
}

/* ---- the executor --------------------------------------------------------- */

/* What one call of the executor reports back to dispatch. */
typedef struct outcome {
  parc__job *job;
  size_t from;
  uint64_t *bad;              /* NULL, or bit k - from: task k did not succeed */
  bool *used_index;
} outcome;

static void fail(const outcome *o, size_t k, int status, char *message) {
  parc__completion_fail(&o->job->record, k, status, message);
  if (o->bad) *o->bad |= (uint64_t)1 << (k - o->from);
}

static void fail_range(const outcome *o, size_t from, size_t to, int status, const char *text) {
  for (size_t k = from; k < to; k++) fail(o, k, status, text ? parc__format("%s", text) : NULL);
}

/* Reports the tasks a round finished, [k, k + r->done): all succeeded but
   perhaps the last (a worker stops at a failure). */
/* A timed job: each task the round ran, from the times its worker wrote;
   the one that was running when it died ends now, with `status`. Untimed:
   the round's busy time. */
static void time_round(const outcome *o, parc__worker *w, proxy *p, size_t k, const round *r,
                       int died_status, unsigned try_number) {
  parc__job *job = o->job;
  if (!job->timed) {
    if (r->kind == ROUND_COMPLETE && !job->batch)
      parc__completion_timing(&job->record, r->elapsed_ns, 0, SIZE_MAX);
    return;
  }
  const uint64_t *times = p->slot->times;
  for (size_t i = 0; times && i < r->done; i++) {
    int status = i + 1 == r->done ? r->last_status : PARC_OK;
    parc__dispatch_task_ran(w, job, k + i, times[2 * i], times[2 * i + 1], status,
                            i == 0 ? try_number : 1);
  }
  if (died_status && times && times[2 * r->done])
    parc__dispatch_task_ran(w, job, k + r->done, times[2 * r->done], parc__now_ns(), died_status,
                            try_number);
}

/* The trace's instant event for a worker that died running task k. */
static void trace_death(parc__job *job, int worker, size_t k, const round *r) {
  char *message = r->killed ? NULL : parc__proxy_death_message("", r->wait_status);
  if (r->kind == ROUND_GONE) {
    parc__free(message);
    message = parc__format("the pool's fork server died");
  }
  parc__trace_instant(job->trace, r->killed ? PARC__TRACE_TIMEOUT : PARC__TRACE_CRASH, worker,
                      job->record.first + k, 0, message);
  parc__free(message);
}

static void result_failed(void *arg, size_t k, char *message) {
  fail(arg, k, PARC_ENOMEM, message);
}

static void record(const outcome *o, proxy *p, size_t k, const round *r) {
  parc__job *job = o->job;
  char *out = job->tasks.out_size ? job->tasks.out + k * job->tasks.out_size : NULL;
  if (out && r->done && r->out != out) memcpy(out, r->out, r->done * job->tasks.out_size);
  /* Before the successes are recorded: a result that cannot be kept fails
     its task, and ok() leaves a task with an outcome as it is. */
  if (job->tasks.outputs)
    parc__proxy_collect(p, job, k, r->done, r->last_status, result_failed, (void *)o);
  if (r->used_index && o->used_index) *o->used_index = true;
  if (r->done == 0) return;
  bool last_failed = r->last_status != PARC_OK;
  parc__completion_ok(&job->record, k, k + r->done - last_failed);
  if (last_failed) fail(o, k + r->done - 1, r->last_status, parc__format("%s", p->slot->message));
}

static size_t round_size(const process_backend *b, const proxy *p, const parc__job *job,
                         size_t k, size_t left) {
  size_t n = left;
  size_t record_bytes = job->tasks.in_size + job->tasks.out_size;
  if (record_bytes && n > PARC__ROUND_BYTES / record_bytes) n = PARC__ROUND_BYTES / record_bytes;
  /* Records of any size: as many as fit the round's bytes (one at least). */
  const parc_buf *bufs = job->tasks.bufs;
  if (bufs) {
    size_t bytes = 0, i = 0;
    for (; i < n && (i == 0 || bytes + bufs[k + i].size <= PARC__ROUND_BYTES); i++)
      bytes += bufs[k + i].size;
    n = i;
  }
  unsigned max = b->pool->config.max_tasks_per_worker;
  if (max && n > max - p->tasks) n = max - p->tasks;
  return n ? n : 1;
}

/* Runs tasks [from, to) of job on w's worker process: rounds of tasks
   posted to its slot, deaths blamed on the task that was running (or
   retried), replacements requested at once. */
static void process_execute(parc__worker *w, parc__job *job, size_t from, size_t to,
                            uint64_t *bad, bool *used_index) {
  process_backend *b = w->pool->backend_data;
  proxy *p = &b->proxies[w->id];
  const parc_config *cfg = &b->pool->config;
  outcome o = {job, from, bad, used_index};
  size_t k = from;
  int attempts = 0;                /* deaths so far blamed on task k */
  while (k < to) {
    if (atomic_load(&b->stopping) || parc__job_canceled(job)) {
      fail_range(&o, k, to, PARC_ECANCELED, NULL);
      break;
    }
    int wait_status = 0, spawn_errno = 0;
    int ready = parc__proxy_await_ready(b, p, &wait_status, &spawn_errno);
    if (ready == SERVER_GONE) {
      if (restart_server(b, p->epoch)) continue;   /* tasks not started are not lost */
      fail_range(&o, k, to, PARC_ECRASH, broken_reason(b));
      break;
    }
    if (ready == WORKER_DIED) {
      if (atomic_load(&b->stopping)) continue;
      if (++attempts > cfg->retries) {
        char *message = spawn_errno
                            ? parc__format("cannot fork a worker: %s", strerror(spawn_errno))
                            : parc__proxy_death_message("worker_init: ", wait_status);
        fail(&o, k++, PARC_ECRASH, message);
        attempts = 0;
      }
      continue;
    }
    size_t n = round_size(b, p, job, k, to - k);
    round r;
    parc__proxy_run_round(b, p, job, k, n, w->id, &r);
    if (r.kind == ROUND_NOMEM) {
      fail_range(&o, k, to, PARC_ENOMEM, "out of shared memory for the worker's buffers");
      break;
    }
    bool died = r.kind != ROUND_COMPLETE && r.taken && r.done < n;
    int died_status = !died ? 0 : r.killed ? PARC_ETIMEDOUT : PARC_ECRASH;
    time_round(&o, w, p, k, &r, died_status, (unsigned)attempts + 1);
    if (died && job->trace) trace_death(job, w->id, k + r.done, &r);
    record(&o, p, k, &r);
    k += r.done;
    p->tasks += (unsigned)r.done;
    if (r.done) attempts = 0;
    if (r.kind == ROUND_COMPLETE) {
      if (cfg->max_tasks_per_worker && p->tasks >= cfg->max_tasks_per_worker) parc__proxy_retire(b, p);
      continue;
    }
    if (r.kind == ROUND_GONE) {
      /* The task that was running died with the server: a crash of its
         (retried while retries allow); the rest run on a new server. */
      bool blamed = r.taken && r.done < n && ++attempts > cfg->retries;
      if (blamed) {
        fail(&o, k++, PARC_ECRASH, parc__format("the pool's fork server died while it ran"));
        attempts = 0;
      }
      if (restart_server(b, p->epoch)) continue;
      fail_range(&o, k, to, PARC_ECRASH, broken_reason(b));
      break;
    }
    /* The worker died: replace it at once, then decide who is to blame. */
    parc__proxy_spawn(b, p);
    if (job->trace) parc__trace_instant(job->trace, PARC__TRACE_REPLACE, w->id, job->record.first + k, 0, NULL);
    if (atomic_load(&b->stopping)) {
      if (r.taken && r.done < n) fail(&o, k++, PARC_ECRASH, parc__format("stopped by parc_pool_destroy"));
      continue;
    }
    /* Not started, or killed for a task that finished after all: not its fault. */
    if (r.done >= n || !r.taken || (r.killed && r.killed_at != r.done)) continue;
    if (++attempts <= cfg->retries) {
      if (job->trace)
        parc__trace_instant(job->trace, PARC__TRACE_RETRY, w->id, job->record.first + k,
                            (uint64_t)attempts + 1, NULL);
      continue;
    }
    if (r.killed)
      fail(&o, k++, PARC_ETIMEDOUT, parc__format("ran past the timeout of %g s", cfg->timeout));
    else
      fail(&o, k++, PARC_ECRASH, parc__proxy_death_message("", r.wait_status));
    attempts = 0;
  }
}

/* ---- start and stop ------------------------------------------------------ */

static void *proxy_main(void *arg) {
  proxy *p = arg;
  parc__dispatch_worker_loop(p->backend->pool, (int)(p - p->backend->proxies), process_execute);
  return NULL;
}

static void free_backend(process_backend *b) {
  if (!b) return;
  if (b->proxies) {
    for (int i = 0; i < b->nslots; i++) {
      parc_shared_free(b->proxies[i].buffer);
      parc_shared_free(b->proxies[i].context);
      parc__free(b->proxies[i].allocs);
    }
  }
  parc_shared_free(b->slots);
  parc__free(b->pids);
  parc__free(b->generations);
  parc__free(b->proxies);
  parc__free(b->threads);
  pthread_rwlock_destroy(&b->server_lock);
  pthread_mutex_destroy(&b->restart_lock);
  parc__globals_free(b->globals);
  pthread_mutex_destroy(&b->globals_lock);
  parc__free(b);
}

/* Stops the server (which kills the workers), joins the proxies, reaps. */
static void shut_down(process_backend *b) {
  atomic_store(&b->stopping, true);
  parc__proxy_request(b, PARC__REQ_QUIT, 0, 0);
  parc__pool_close(b->pool);
  for (int i = 0; i < b->started; i++) pthread_join(b->threads[i], NULL);
  while (waitpid(b->server, NULL, 0) < 0 && errno == EINTR) {
  }
  parc__server_unregister_fd(b->sock);
  close(b->sock);
  free_backend(b);
}

static int fork_server(process_backend *b, const parc_config *cfg) {
  int sv[2];
  if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) != 0)
    return parc__error_errno("parc_pool_create: socketpair for the fork server");
  parc__server_register_fd(sv[0]);
  parc__server_register_fd(sv[1]);
  int cpus = parc_cpu_count();
  parc__server_config server = {
      .slots = b->slots,
      .nslots = b->nslots,
      .sock = sv[1],
      .pids = b->pids,
      .generations = b->generations,
      .spare = &b->slots[b->nslots],
      .worker_init = cfg->worker_init,
      .worker_init_arg = cfg->worker_init_arg,
      .threads_per_worker = cpus / b->nslots > 1 ? cpus / b->nslots : 1,
  };
  /* No signal handler of the caller may run in the server before it has
     set itself up; workers get the caller's mask back. */
  sigset_t all;
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, &server.worker_mask);
  parc__exec *exec = NULL;
  int rc = PARC_OK;
  if (b->exec) {
    server.exec = true;
    rc = parc__exec_prepare(&server, &exec);
  }
  pid_t pid = -1;
  if (rc == PARC_OK) {
    pid = b->exec ? parc__exec_fork(exec) : fork();
    if (pid == 0) parc__server_main(&server);
  }
  int saved = errno;
  pthread_sigmask(SIG_SETMASK, &server.worker_mask, NULL);
  parc__server_unregister_fd(sv[1]);
  close(sv[1]);
  if (rc == PARC_OK && pid < 0) {
    errno = saved;
    rc = parc__error_errno("parc_pool_create: fork of the fork server");
  }
  if (rc == PARC_OK && b->exec) rc = parc__exec_await(exec, pid);
  parc__exec_free(exec);
  if (rc != PARC_OK) {
    parc__server_unregister_fd(sv[0]);
    close(sv[0]);
    return rc;
  }
  b->sock = sv[0];
  b->server = pid;
  return PARC_OK;
}

/* ---- the globals check ------------------------------------------------------ */

/* What the workers' image holds: the caller's globals now (fork start: the
   server is forked next) or at program start (exec start). */
static void globals_record(process_backend *b) {
  b->globals = b->exec ? (parc__globals_image *)parc__globals_at_start()
                       : parc__globals_take(b->pool->home);
}

/* As a group ends (a map returns), in the caller: warns once per pool when
   the globals differ from the workers' image, the buffers that crossed the
   API aside (inputs, outputs, contexts: noted as each job was queued).
   At the end, not the start: a group's later submissions may carry
   globals written before it began. The map's status stands: the program
   may well not read those globals in its tasks. */
static void processes_group_done(parc_pool *pool) {
  process_backend *b = pool->backend_data;
  if (!b || atomic_load(&b->globals_warned)) return;
  pthread_mutex_lock(&b->globals_lock);
  bool changed = parc__globals_changed(b->globals, pool->home);
  pthread_mutex_unlock(&b->globals_lock);
  if (!changed || atomic_exchange(&b->globals_warned, true)) return;
  if (b->exec)
    fprintf(stderr, "parc: the program's globals have changed since it started; workers of a "
                    "PROCESSES pool with exec start see them as they were at program start: pass "
                    "them as context or in parc_shared_alloc memory\n");
  else
    fprintf(stderr, "parc: the program's globals changed after this PROCESSES pool was created; "
                    "workers see the globals as they were when the pool was created; pass them "
                    "as context or create the pool later\n");
}

static int processes_start(parc_pool *pool) {
  if (pool->config.start != PARC_START_FORK && pool->config.start != PARC_START_EXEC)
    return parc__error(PARC_EINVAL, "parc_pool_create: unknown start method %d", pool->config.start);
  /* A worker's shared memory is its caller's, and so are its slots. */
  if (parc__in_worker)
    return parc__error(PARC_EBACKEND,
                       "parc_pool_create: a PROCESSES pool cannot be created inside a process "
                       "worker (the shared memory it needs belongs to the worker's caller); "
                       "use PARC_THREADS or PARC_SERIAL inside tasks, or map on the pool that "
                       "runs the task");
  int rc = parc__shared_init();
  if (rc) return rc;
  process_backend *b = parc__calloc(1, sizeof *b);
  if (!b) return parc__error(PARC_ENOMEM, "parc_pool_create: out of memory");
  b->pool = pool;
  pthread_rwlock_init(&b->server_lock, NULL);
  pthread_mutex_init(&b->restart_lock, NULL);
  pthread_mutex_init(&b->globals_lock, NULL);
  b->nslots = pool->workers;
  b->exec = pool->config.start == PARC_START_EXEC;
  b->sock = -1;
  b->slots = parc_shared_alloc((size_t)(b->nslots + 1) * sizeof(parc__slot));
  b->pids = parc__calloc((size_t)b->nslots, sizeof(pid_t));
  b->generations = parc__calloc((size_t)b->nslots, sizeof(uint32_t));
  b->proxies = parc__calloc((size_t)b->nslots, sizeof(proxy));
  b->threads = parc__calloc((size_t)b->nslots, sizeof(pthread_t));
  if (!b->slots || !b->pids || !b->generations || !b->proxies || !b->threads) {
    free_backend(b);
    return parc__error(PARC_ENOMEM, "parc_pool_create: out of memory for %d workers", pool->workers);
  }
  for (int i = 0; i < b->nslots; i++) {
    b->proxies[i].backend = b;
    b->proxies[i].slot = &b->slots[i];
    atomic_store(&b->slots[i].state, PARC__SLOT_STARTING);
  }
  globals_record(b);
  rc = fork_server(b, &pool->config);
  if (rc) {
    free_backend(b);
    return rc;
  }
  pool->backend_data = b;
  /* Worker by worker: its process, then its proxy thread. Where a limit
     (pids, memory) stops either, the pool runs on the workers it has, as
     GNU parallel does with job slots it cannot fill, and says so once. */
  const char *why = NULL;
  int err = 0;
  for (int i = 0; i < b->nslots; i++) {
    parc__proxy_spawn(b, &b->proxies[i]);
    if ((err = parc__proxy_await_forked(b, &b->proxies[i])) != 0) {
      why = "fork";
      break;
    }
    if ((err = pthread_create(&b->threads[i], NULL, proxy_main, &b->proxies[i])) != 0) {
      why = "pthread_create";
      parc__proxy_request(b, PARC__REQ_KILL, i, SIGKILL);
      break;
    }
    b->started++;
  }
  if (b->started == 0) {
    shut_down(b);
    pool->backend_data = NULL;
    pool->closing = false;
    return parc__error(PARC_ESYS, "parc_pool_create: cannot start a worker process: %s: %s",
                       why ? why : "the fork server", err ? strerror(err) : "it is gone");
  }
  if (b->started < b->nslots) {
    fprintf(stderr, "parc: %d of %d worker processes started (%s: %s); the pool runs on %d\n",
            b->started, b->nslots, why ? why : "the fork server", err ? strerror(err) : "it is gone",
            b->started);
    pool->workers = b->started;
  }
  return PARC_OK;
}

static void processes_stop(parc_pool *pool) {
  shut_down(pool->backend_data);
  pool->backend_data = NULL;
}

const parc__backend_ops parc__backend_processes = {
    .name = "processes",
    .start = processes_start,
    .stop = processes_stop,
    .execute = process_execute,
    .group_done = processes_group_done,
    .chunk_target_ns = 500000,
    .chunk_growth = 8,
};
