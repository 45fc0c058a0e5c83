/*
 * svd_batch — the chapter's "Joblib backends and threading": singular
 * values of 20 random 200x200 matrices (LAPACK's dgesdd), serially, on
 * threads and on processes. In Python threads lose here unless numpy
 * releases the GIL; in C the question is only how the cores are shared
 * between our workers and the BLAS library's own threads.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include <lapacke.h>

#include "example.h"

#define N_MATRICES 20
#define SIZE 200

#ifdef PARC_HAVE_OPENBLAS
void openblas_set_num_threads(int n);
int openblas_get_num_threads(void);
#else
static void openblas_set_num_threads(int n) { (void)n; }
static int openblas_get_num_threads(void) { return 1; }
#endif

/* A task: no input; a random SIZE x SIZE matrix from this task's stream,
   the sum of its singular values out (values only, like compute_uv=False). */
static int numpy_heavy_computation(const void *in, void *out, parc_task *task) {
  (void)in;
  double *a = malloc(sizeof(double) * SIZE * SIZE), s[SIZE];
  if (!a) return parc_fail(task, "out of memory");
  parc_rng *rng = parc_task_rng(task);
  for (int i = 0; i < SIZE * SIZE; i++) a[i] = parc_rng_normal(rng, 0, 1);
  lapack_int info = LAPACKE_dgesdd(LAPACK_COL_MAJOR, 'N', SIZE, SIZE, a, SIZE, s, NULL, 1, NULL, 1);
  free(a);
  if (info != 0) return parc_fail(task, "dgesdd failed: info = %d", (int)info);
  double sum = 0;
  for (int i = 0; i < SIZE; i++) sum += s[i];
  *(double *)out = sum;
  return 0;
}

/* Seconds for the whole batch on pool (NULL: a plain loop in this thread). */
static double run(parc_pool *pool, double *sums) {
  double start = now();
  if (pool) {
    parc_options opt = {.batch = 1};   /* 20 big tasks: one at a time */
    check(parc_map(pool, numpy_heavy_computation, NULL, 0, sums, sizeof sums[0], N_MATRICES,
                   &opt, NULL), "parc_map");
  } else {
    parc_pool *serial = pool_or_null(PARC_SERIAL, 1, 0);
    check(parc_map(serial, numpy_heavy_computation, NULL, 0, sums, sizeof sums[0], N_MATRICES,
                   NULL, NULL), "parc_map");
    parc_pool_destroy(serial);
  }
  return now() - start;
}

int main(void) {
  double sums[4][N_MATRICES];
  int blas_threads = openblas_get_num_threads();
  double t_blas = run(NULL, sums[0]);
  printf("Serial, BLAS with %d thread%s: %.3fs\n", blas_threads, blas_threads == 1 ? "" : "s",
         t_blas);

  /* From here on one BLAS thread per worker: 2 workers x 2 BLAS threads on
     2 cores would only fight over them. */
  openblas_set_num_threads(1);
  double t_serial = run(NULL, sums[1]);
  printf("Serial, BLAS with 1 thread: %.3fs\n", t_serial);

  parc_pool *threads = pool_threads(0);
  double t_threads = run(threads, sums[2]);
  printf("Threads (%d workers): %.3fs\n", parc_pool_size(threads), t_threads);
  parc_pool_destroy(threads);

  printf("Processes:");
  parc_pool *procs = pool_or_null(PARC_PROCESSES, 0, 0);
  double t_procs = NAN;
  if (procs) {
    t_procs = run(procs, sums[3]);
    printf(" %d workers: %.3fs\n", parc_pool_size(procs), t_procs);
    parc_pool_destroy(procs);
  }
  int same = memcmp(sums[1], sums[2], sizeof sums[1]) == 0 &&
             (!procs || memcmp(sums[1], sums[3], sizeof sums[1]) == 0);
  printf("Every backend computed the same singular values: %s\n", same ? "yes" : "NO");
  printf("Speedup over serial: threads %.2fx", t_serial / t_threads);
  if (procs) printf(", processes %.2fx", t_serial / t_procs);
  printf("\n");
  note_if_busy();
  printf("Why: LAPACK holds no GIL, so parc's threads run the SVDs side by side just as\n"
         "processes do; Python needs processes here only because of its GIL. Parallelism\n"
         "belongs at one level: a 200x200 SVD is small for BLAS's own threads (serial: %.3fs\n"
         "with %d BLAS threads, %.3fs with 1), so each worker gets one BLAS thread\n"
         "(openblas_set_num_threads(1), or OPENBLAS_NUM_THREADS=1) and parc spreads the\n"
         "matrices over the cores.\n",
         t_blas, blas_threads, t_serial);
  return 0;
}
