/*
 * io_threads — the chapter's "Threading: for I/O-bound tasks": five
 * simulated file reads that only wait, serially and on a thread pool.
 * Each read sleeps 0.2 s (the chapter: 0.5 s) to keep the demo short.
 */
#include <stdio.h>
#include <time.h>

#include "example.h"

#define N_FILES 5
#define WAIT_SECONDS 0.2

/* A task: "read" file number *in, write its contents into out. */
static int simulate_file_read(const void *in, void *out, parc_task *task) {
  (void)task;
  struct timespec wait = {0, (long)(WAIT_SECONDS * 1e9)};
  nanosleep(&wait, NULL);
  snprintf(out, 32, "Data from file %d", *(const int *)in);
  return 0;
}

int main(void) {
  printf("Available CPU cores: %d\n", parc_cpu_count());
  int ids[N_FILES];
  char results_seq[N_FILES][32], results_threaded[N_FILES][32];
  for (int i = 0; i < N_FILES; i++) ids[i] = i;

  double start = now();
  for (int i = 0; i < N_FILES; i++) simulate_file_read(&ids[i], results_seq[i], NULL);
  double sequential_time = now() - start;
  printf("Sequential: %.2f seconds (%d reads of %.1f s each)\n", sequential_time, N_FILES,
         WAIT_SECONDS);

  /* One thread per file, like the chapter's five threading.Thread; batch =
     1 so each read starts at once on its own worker. */
  parc_pool *pool = pool_threads(N_FILES);
  parc_options opt = {.batch = 1};
  start = now();
  check(parc_map(pool, simulate_file_read, ids, sizeof ids[0], results_threaded,
                 sizeof results_threaded[0], N_FILES, &opt, NULL), "parc_map");
  double threaded_time = now() - start;
  parc_pool_destroy(pool);
  printf("Threaded: %.2f seconds\n", threaded_time);
  printf("Speedup: %.1fx\n", sequential_time / threaded_time);
  printf("(%s ... %s)\n", results_threaded[0], results_threaded[N_FILES - 1]);
  return 0;
}
