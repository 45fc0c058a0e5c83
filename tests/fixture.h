/*
 * fixture.h — the pools tests run on, one way for every suite.
 *
 * test_config(backend, workers) is parc_config_default (so PARC_START and
 * the other environment settings still reach it) with the backend and the
 * worker count set, and verbose 0: a fixture's pool is quiet whatever
 * PARC_VERBOSE says; a test of progress output sets verbose itself. A test
 * that needs more (timeout, retries, seed, worker_init) changes the config
 * and passes it to test_pool_config. Each pool maker fails the test, with
 * the backend and parc_errmsg(), when parc_pool_create fails; the test
 * destroys the pool. test_backend() is the backend a conformance suite
 * runs on: env PARC_TEST_BACKEND (threads | serial | processes), threads
 * by default.
 */
#ifndef PARC_TEST_FIXTURE_H
#define PARC_TEST_FIXTURE_H

#include <errno.h>
#include <parc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"

static inline parc_backend test_backend(void) {
  const char *s = getenv("PARC_TEST_BACKEND");
  if (!s || strcmp(s, "threads") == 0) return PARC_THREADS;
  if (strcmp(s, "serial") == 0) return PARC_SERIAL;
  if (strcmp(s, "processes") == 0) return PARC_PROCESSES;
  return PARC_MPI;
}

static inline const char *test_backend_name(parc_backend backend) {
  switch (backend) {
  case PARC_SERIAL: return "serial";
  case PARC_THREADS: return "threads";
  case PARC_PROCESSES: return "processes";
  default: return "mpi";
  }
}

static inline parc_config test_config(parc_backend backend, int workers) {
  parc_config cfg;
  parc_config_default(&cfg);
  cfg.backend = backend;
  cfg.workers = workers;
  cfg.verbose = 0;
  return cfg;
}

static inline parc_pool *test_pool_make_(const parc_config *cfg, int missing_backend_is_ok) {
  parc_pool *pool = NULL;
  int rc = parc_pool_create(&pool, cfg);
  if (rc == PARC_EBACKEND && missing_backend_is_ok) {
    printf("  note: %s skipped: %s\n", test_backend_name(cfg->backend), parc_errmsg());
    return NULL;
  }
  if (rc != PARC_OK)
    FAIL_AT("parc_pool_create (%s, %d workers) returned %d (%s)", test_backend_name(cfg->backend),
            cfg->workers, rc, parc_errmsg());
  return pool;
}

static inline parc_pool *test_pool_config(const parc_config *cfg) { return test_pool_make_(cfg, 0); }

/* A pool for cfg, or NULL (with a note) when its backend is not built. */
static inline parc_pool *test_pool_if_built(const parc_config *cfg) { return test_pool_make_(cfg, 1); }

static inline parc_pool *test_pool(parc_backend backend, int workers) {
  parc_config cfg = test_config(backend, workers);
  return test_pool_config(&cfg);
}

/* Temporary directories: a fresh one (mkdtemp of "/tmp/parc-test-WHAT-XXXXXX"
   into dir, which must hold 64 bytes), and its removal with what is in it. */
static inline const char *test_fresh_dir(char dir[64], const char *what) {
  snprintf(dir, 64, "/tmp/parc-test-%s-XXXXXX", what);
  if (!mkdtemp(dir)) FAIL_AT("mkdtemp: %s", strerror(errno));
  return dir;
}

static inline void test_remove_dir(const char *dir) {
  char command[512];
  snprintf(command, sizeof command, "rm -rf '%s'", dir);
  if (system(command) != 0) FAIL_AT("cannot remove %s", dir);
}

#endif
