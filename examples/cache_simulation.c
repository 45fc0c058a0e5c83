/*
 * cache_simulation — the chapter's joblib.Memory section in C.
 *
 * joblib:  @memory.cache
 *          def expensive_simulation(param): sleep(0.5); return param**2 + noise
 * parc:    parc_cache_call(cache, "expensive_simulation", NULL, fn, &param, ...)
 *
 * The first call computes and stores the result in an on-disk cache (one
 * SQLite file in a temporary directory); the second, with the same input,
 * returns the stored bytes without running the function. The "simulation"
 * sleeps 0.2 s (the chapter's 0.5 s, shortened for the demo). Its noise
 * comes from parc_task_rng, so it is reproducible, and the cache keys the
 * result by the stream it used.
 *
 * --check: exit non-zero unless the cached call returned the same value
 * and was faster (no timing limit beyond that).
 */
#include "example.h"

#define SIMULATION_SECONDS 0.2

/* A task: one parameter in, param^2 + 0.01 * N(0, 1) out. */
static int expensive_simulation(const void *in, void *out, parc_task *task) {
  double param = *(const double *)in;
  struct timespec pause = {0, (long)(SIMULATION_SECONDS * 1e9)};
  nanosleep(&pause, NULL);   /* pretend this takes a while */
  *(double *)out = param * param + parc_rng_normal(parc_task_rng(task), 0.0, 0.01);
  return 0;
}

int main(int argc, char **argv) {
  int checking = has_flag(argc, argv, "--check");
  char dir[] = "/tmp/parc-cache-demo-XXXXXX";   /* tempfile.mkdtemp() */
  if (!mkdtemp(dir)) {
    perror("mkdtemp");
    return 1;
  }
  parc_cache *memory;
  check(parc_cache_open(&memory, dir, NULL), "parc_cache_open");

  double param = 42, result1, result2;
  double start = now();   /* first call: computes and caches */
  check(parc_cache_call(memory, "expensive_simulation", NULL, expensive_simulation, &param,
                        sizeof param, &result1, sizeof result1, NULL, 0),
        "parc_cache_call");
  double first = now() - start;
  printf("First call: %.3fs, result = %.4f\n", first, result1);

  start = now();   /* second call: retrieves from the cache */
  check(parc_cache_call(memory, "expensive_simulation", NULL, expensive_simulation, &param,
                        sizeof param, &result2, sizeof result2, NULL, 0),
        "parc_cache_call");
  double cached = now() - start;
  printf("Cached call: %.6fs, result = %.4f\n", cached, result2);

  int same = memcmp(&result1, &result2, sizeof result1) == 0;
  printf("same value: %s; cached call %.0fx faster\n", same ? "yes" : "no",
         cached > 0 ? first / cached : 0.0);
  printf("second call faster: %s\n", cached < first ? "yes" : "no");

  /* memory.clear(); shutil.rmtree(cachedir) */
  check(parc_cache_clear(memory, NULL), "parc_cache_clear");
  parc_cache_close(memory);
  char command[sizeof dir + 16];
  snprintf(command, sizeof command, "rm -rf '%s'", dir);
  if (system(command) != 0) fprintf(stderr, "cannot remove %s\n", dir);
  if (checking && (!same || cached >= first)) return 1;
  return 0;
}
