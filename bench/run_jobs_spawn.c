/*
 * run_jobs_spawn.c — the floor under `parc run`: N runs of a program with P
 * at once, by posix_spawn and waitpid and nothing else (no pipes, no
 * output, no log). bench/run_jobs.sh compiles it and subtracts its time from
 * parc run's to get parc's own cost per job.
 *
 *   run_jobs_spawn N P PROGRAM [ARG...]
 */
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>

extern char **environ;

int main(int argc, char **argv) {
  if (argc < 4) {
    fprintf(stderr, "usage: run_jobs_spawn N P PROGRAM [ARG...]\n");
    return 2;
  }
  long n = atol(argv[1]), p = atol(argv[2]), running = 0;
  for (long started = 0; started < n || running > 0;) {
    if (started < n && running < p) {
      pid_t pid;
      if (posix_spawn(&pid, argv[3], NULL, NULL, argv + 3, environ) != 0) return 1;
      started++, running++;
      continue;
    }
    int status;
    if (wait(&status) > 0) running--;
  }
  return 0;
}
