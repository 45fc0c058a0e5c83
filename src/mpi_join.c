/*
 * mpi_join.c — how every rank joins a PARC_MPI pool.
 *
 * SPMD: every rank calls parc_pool_create. Here (the backend's prepare,
 * before the pool exists) MPI starts if the program has not started it;
 * the ranks pick their leaders: per node (MPI_Comm_split_type SHARED), the
 * lowest rank that is not 0, or every rank with PARC_MPI_LEADERS=rank; a
 * leader makes a local pool of forked workers (PARC_MPI_LOCAL=threads: of
 * threads) with one worker per rank of its node but rank 0 (config.workers
 * > 0: that many), and rank 0 gathers the sizes. Rank 0 returns to make
 * the pool (backend_mpi.c); the others serve (mpi_serve.c) and never
 * return. Outside mpirun, or with one rank, the pool is a process pool.
 *
 * Layer 10 with mpi_serve.c: backend_mpi.c reaches it only through its
 * ops' prepare pointer.
 */
#ifdef PARC_HAVE_MPI
#include "mpi_wire.h"

#include <dlfcn.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- joining ------------------------------------------------------------- */

/* Started by a launcher (mpirun, srun with PMI/PMIx): MPI_Init will find
   its peers. Without one, Open MPI would start a singleton: we run on this
   machine instead. */
static bool launched(void) {
  static const char *const names[] = {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_RANK",
                                      "PMI_RANK", "MPI_LOCALNRANKS", "HYDI_CONTROL_FD"};
  for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
    if (getenv(names[i])) return true;
  return false;
}

static void fill_setup(parc__mpi_setup *s, const parc_config *cfg) {
  memset(s, 0, sizeof *s);
  s->timeout = cfg->timeout;
  s->retries = cfg->retries;
  s->max_tasks_per_worker = cfg->max_tasks_per_worker;
  s->workers = cfg->workers;
  s->start = cfg->start;
  const char *local = getenv("PARC_MPI_LOCAL");
  s->threads = local && strcmp(local, "threads") == 0 && cfg->timeout == 0;
  const char *leaders = getenv("PARC_MPI_LEADERS");
  s->per_rank = leaders && strcmp(leaders, "rank") == 0;
  s->init_offset = PARC__FN_UNKNOWN;
  if (cfg->worker_init) parc__fn_locate((const void *)cfg->worker_init, s->init_object, &s->init_offset);
}

/* This rank's local pool size if it leads, else 0; *oversubscribed: its
   node has more ranks than CPUs. Collective over comm. */
static int leader_workers(MPI_Comm comm, const parc__mpi_setup *s, int rank, bool *oversubscribed) {
  MPI_Comm node;
  MPI_Comm_split_type(comm, MPI_COMM_TYPE_SHARED, rank, MPI_INFO_NULL, &node);
  int node_size, has_root = 0, mine = rank == 0 ? INT_MAX : rank, lowest = INT_MAX;
  MPI_Comm_size(node, &node_size);
  int is_root = rank == 0;
  MPI_Allreduce(&is_root, &has_root, 1, MPI_INT, MPI_MAX, node);
  MPI_Allreduce(&mine, &lowest, 1, MPI_INT, MPI_MIN, node);
  MPI_Comm_free(&node);
  int cpus = parc_cpu_count();
  *oversubscribed = node_size > cpus;
  if (rank == 0) return 0;
  if (s->per_rank) {
    node_size = 1;
    has_root = 0;
  } else if (rank != lowest) {
    return 0;
  }
  if (s->workers > 0) return s->workers;
  if (s->workers < -1) return cpus + 1 + s->workers > 1 ? cpus + 1 + s->workers : 1;
  return node_size - has_root > 0 ? node_size - has_root : 1;
}

/* Open MPI catches SIGSEGV, SIGBUS, SIGFPE and SIGABRT to print a
   backtrace; in a forked worker that would be noise for each crashed task,
   and it keeps the fork server from marking the crash itself. Its handlers
   (those in libopen-pal) go back to the default; a program's own stay. */
static void drop_mpi_crash_handlers(void) {
  static const int signals[] = {SIGSEGV, SIGBUS, SIGFPE, SIGABRT, SIGILL};
  for (size_t i = 0; i < sizeof signals / sizeof signals[0]; i++) {
    struct sigaction old;
    if (sigaction(signals[i], NULL, &old) != 0) continue;
    void *handler = (old.sa_flags & SA_SIGINFO) ? (void *)old.sa_sigaction : (void *)old.sa_handler;
    Dl_info info;
    if (old.sa_handler == SIG_DFL || old.sa_handler == SIG_IGN || !dladdr(handler, &info) ||
        !info.dli_fname || !strstr(info.dli_fname, "open-pal"))
      continue;
    signal(signals[i], SIG_DFL);
  }
}

static parc_pool *local_pool(const parc__mpi_setup *s, int workers) {
  drop_mpi_crash_handlers();
  parc_config cfg;
  parc_config_default(&cfg);
  cfg.backend = s->threads ? PARC_THREADS : PARC_PROCESSES;
  cfg.workers = workers;
  cfg.timeout = s->timeout;
  cfg.retries = s->retries;
  cfg.max_tasks_per_worker = s->max_tasks_per_worker;
  cfg.start = s->start;
  cfg.verbose = 0;
  cfg.trace = NULL;
  if (s->init_offset != PARC__FN_UNKNOWN)
    cfg.worker_init = (void (*)(void *))parc__fn_resolve(s->init_object, s->init_offset);
  parc_pool *pool = NULL;
  if (parc_pool_create(&pool, &cfg) != PARC_OK) {
    int rank;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    fprintf(stderr, "parc: MPI rank %d cannot start its local pool: %s\n", rank, parc_errmsg());
    return NULL;
  }
  return pool;
}

int parc__mpi_join(parc_config *cfg, const parc__backend_ops **ops) {
  static bool joined;
  if (joined)
    return parc__error(PARC_EBACKEND, "parc_pool_create: a program has one PARC_MPI pool (MPI "
                                      "cannot start twice); make it once and keep it");
  if (cfg->worker_init_arg)
    return parc__error(PARC_EINVAL, "parc_pool_create: with PARC_MPI, worker_init_arg must be NULL "
                                    "(other ranks do not share this process's memory)");
  int initialized = 0, finalized = 0;
  MPI_Initialized(&initialized);
  MPI_Finalized(&finalized);
  if (finalized)
    return parc__error(PARC_EBACKEND, "parc_pool_create: PARC_MPI after MPI_Finalize");
  bool ours = false;
  if (!initialized) {
    if (!launched()) {
      *ops = &parc__backend_processes;   /* not under mpirun: this machine */
      return PARC_OK;
    }
    int provided;
    if (MPI_Init_thread(NULL, NULL, MPI_THREAD_SERIALIZED, &provided) != MPI_SUCCESS)
      return parc__error(PARC_EBACKEND, "parc_pool_create: MPI_Init_thread failed");
    ours = true;
  }
  int size, rank;
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  joined = true;
  if (size == 1) {
    if (ours) MPI_Finalize();
    *ops = &parc__backend_processes;
    return PARC_OK;
  }
  MPI_Comm comm;
  MPI_Comm_dup(MPI_COMM_WORLD, &comm);
  MPI_Comm_set_errhandler(comm, MPI_ERRORS_RETURN);
  parc__mpi_setup setup;
  fill_setup(&setup, cfg);
  MPI_Bcast(&setup, (int)sizeof setup, MPI_BYTE, 0, comm);
  bool oversubscribed = false;
  int workers = leader_workers(comm, &setup, rank, &oversubscribed);
  parc_pool *pool = workers ? local_pool(&setup, workers) : NULL;
  int reported = !workers ? 0 : pool ? parc_pool_size(pool) : -1;
  int *all = rank == 0 ? parc__calloc((size_t)size, sizeof(int)) : NULL;
  MPI_Gather(&reported, 1, MPI_INT, all, 1, MPI_INT, 0, comm);
  if (rank != 0) parc__mpi_serve(comm, pool, oversubscribed);   /* never returns */

  parc__mpi_world *w = &parc__mpi_joined;
  memset(w, 0, sizeof *w);
  w->comm = comm;
  w->ours = ours;
  w->oversubscribed = oversubscribed;
  w->size = size;
  w->leaders = parc__calloc((size_t)size, sizeof(int));
  w->workers = parc__calloc((size_t)size, sizeof(int));
  if (!all || !w->leaders || !w->workers) {
    parc__free(all);
    parc__mpi_leave(w);
    return parc__error(PARC_ENOMEM, "parc_pool_create: out of memory");
  }
  for (int r = 1; r < size; r++) {
    if (all[r] == 0) continue;
    w->leaders[w->nleaders] = r;
    w->workers[w->nleaders++] = all[r];
  }
  parc__free(all);
  return PARC_OK;
}

#endif /* PARC_HAVE_MPI */
