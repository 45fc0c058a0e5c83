/*
 * backend_serial.c — PARC_SERIAL: no workers at all. Jobs are never
 * queued; the caller runs each task, in index order, while it is in
 * parc_group_next, wait, destroy or parc_map (group.c asks dispatch to
 * help, exactly as a task waiting on a nested map does). The reference
 * result, and the backend for a debugger.
 */
#include "parc_internal.h"

static int serial_start(parc_pool *pool) {
  const parc_config *cfg = &pool->config;
  if (cfg->worker_init) cfg->worker_init(cfg->worker_init_arg);
  return PARC_OK;
}

static void serial_stop(parc_pool *pool) { (void)pool; }

const parc__backend_ops parc__backend_serial = {
    .name = "serial",
    .start = serial_start,
    .stop = serial_stop,
    .runs_in_caller = true,
    .chunk_target_ns = 50000,
    .chunk_growth = 2,
};
