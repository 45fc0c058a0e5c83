/* Which backend a conformance suite runs on: env PARC_TEST_BACKEND
   (threads | serial | processes), threads by default. */
#ifndef PARC_TEST_BACKEND_H
#define PARC_TEST_BACKEND_H

#include <parc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static parc_backend test_backend(void) {
  const char *s = getenv("PARC_TEST_BACKEND");
  if (!s || strcmp(s, "threads") == 0) return PARC_THREADS;
  if (strcmp(s, "serial") == 0) return PARC_SERIAL;
  if (strcmp(s, "processes") == 0) return PARC_PROCESSES;
  return PARC_MPI;
}

static parc_pool *test_pool(int workers) {
  parc_config cfg;
  parc_config_default(&cfg);
  cfg.backend = test_backend();
  cfg.workers = workers;
  parc_pool *pool = NULL;
  int rc = parc_pool_create(&pool, &cfg);
  if (rc != PARC_OK) {
    fprintf(stderr, "  parc_pool_create: %d (%s)\n", rc, parc_errmsg());
    _exit(1);
  }
  return pool;
}

#endif
