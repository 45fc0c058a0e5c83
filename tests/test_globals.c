/*
 * test_globals.c — the warning that the program's globals changed after a
 * PROCESSES pool was created (DESIGN.md section 7; src/globals.c): once
 * per pool on stderr, the map still PARC_OK with its results; none when
 * nothing changed; on fork and exec start. Runs tests/globals_helper.c
 * and reads what it printed.
 */
#include "harness.h"

#include <stdio.h>
#include <string.h>

#define WARNING "parc: the program's globals"

typedef struct helper_run {
  int status;
  char out[4096], err[4096];
} helper_run;

static void slurp(const char *path, char *buf, size_t size) {
  FILE *f = fopen(path, "r");
  size_t n = f ? fread(buf, 1, size - 1, f) : 0;
  buf[n] = '\0';
  if (f) fclose(f);
}

static helper_run run_program(const char *program, const char *env, const char *start,
                              const char *scenario) {
  helper_run r;
  char out[64], err[64], command[1024];
  snprintf(out, sizeof out, "/tmp/parc-test-globals-%d.out", (int)getpid());
  snprintf(err, sizeof err, "/tmp/parc-test-globals-%d.err", (int)getpid());
  snprintf(command, sizeof command, "%s '%s' %s %s > %s 2> %s", env, program, start, scenario,
           out, err);
  r.status = system(command);
  slurp(out, r.out, sizeof r.out);
  slurp(err, r.err, sizeof r.err);
  remove(out);
  remove(err);
  if (r.status != 0) FAIL_AT("%s: status %d, stderr: %s", command, r.status, r.err);
  return r;
}

static helper_run run(const char *env, const char *start, const char *scenario) {
  return run_program(GLOBALS_HELPER, env, start, scenario);
}

static int count(const char *text, const char *needle) {
  int n = 0;
  for (const char *p = text; (p = strstr(p, needle)); p += strlen(needle)) n++;
  return n;
}

static void check_lines(const helper_run *r, const char *want) {
  if (strcmp(r->out, want) != 0) FAIL_AT("stdout: expected\n%s\ngot\n%s", want, r->out);
}

TEST(fork_start_a_global_changed_after_the_pool_warns_once_per_pool) {
  helper_run r = run("", "fork", "after");
  /* Pool A warns once (two maps), B not at first (its image has 2), then
     once after the second change; A does not warn again. The workers see
     the value of their pool's creation, and every map is PARC_OK. */
  check_lines(&r, "map PARC_OK worker saw 1\nmap PARC_OK worker saw 1\n"
                  "map PARC_OK worker saw 2\nmap PARC_OK worker saw 2\n"
                  "map PARC_OK worker saw 1\n");
  CHECK_INT(2, count(r.err, WARNING));
  CHECK(strstr(r.err, "workers see the globals as they were when the pool was created; pass them "
                      "as context or create the pool later") != NULL);
}

TEST(exec_start_a_global_changed_since_program_start_warns_once_per_pool) {
  helper_run r = run("", "exec", "after");
  /* Exec-started workers see the value at program start (1) always; each
     pool warns once, at its first map. */
  check_lines(&r, "map PARC_OK worker saw 1\nmap PARC_OK worker saw 1\n"
                  "map PARC_OK worker saw 1\nmap PARC_OK worker saw 1\n"
                  "map PARC_OK worker saw 1\n");
  CHECK_INT(2, count(r.err, WARNING));
  CHECK(strstr(r.err, "with exec start see them as they were at program start") != NULL);
}

TEST(nothing_changed_no_warning) {
  static const char *const starts[2] = {"fork", "exec"};
  for (int s = 0; s < 2; s++) {
    helper_run r = run("", starts[s], "none");
    check_lines(&r, "map PARC_OK worker saw 1\nmap PARC_OK worker saw 1\n");
    if (r.err[0]) FAIL_AT("%s start: expected an empty stderr, got: %s", starts[s], r.err);
  }
}

/* parc_pool_create(&global, ...) writes the global: that is not a change. */
TEST(a_pool_kept_in_a_global_is_no_warning) {
  static const char *const starts[2] = {"fork", "exec"};
  for (int s = 0; s < 2; s++) {
    helper_run r = run("", starts[s], "global");
    check_lines(&r, "map PARC_OK worker saw 1\nmap PARC_OK worker saw 1\n");
    if (r.err[0]) FAIL_AT("%s start: expected an empty stderr, got: %s", starts[s], r.err);
  }
}

/* Static arrays that cross the API (inputs the program writes, outputs and
   statuses parc writes) are not globals read behind the API's back. */
TEST(static_arrays_that_cross_the_api_are_no_warning) {
  static const char *const starts[2] = {"fork", "exec"};
  for (int s = 0; s < 2; s++) {
    helper_run r = run("", starts[s], "arrays");
    check_lines(&r, "map PARC_OK wrong 0\nmap PARC_OK wrong 0\nmap PARC_OK wrong 0\n");
    if (r.err[0]) FAIL_AT("%s start: expected an empty stderr, got: %s", starts[s], r.err);
  }
}

/* The motivating port: a record holds a pointer strdup'ed after the pool
   (kept in a global too); the map's answer cannot be trusted, and the
   warning says why. */
TEST(a_pointer_made_after_the_pool_is_warned_about) {
  helper_run r = run("", "fork", "strdup");
  CHECK_INT(1, count(r.err, WARNING));
}

TEST(parc_globals_warning_0_turns_the_check_off) {
  helper_run r = run("PARC_GLOBALS_WARNING=0", "fork", "after");
  CHECK_INT(0, count(r.err, WARNING));
}

/* libparc linked statically: its own globals live in the executable's
   .data and .bss and change as it works, so the check is off (documented
   in parc.h) rather than crying wolf. */
TEST(a_static_libparc_has_the_check_off) {
  helper_run r = run_program(GLOBALS_HELPER_STATIC, "", "fork", "after");
  check_lines(&r, "map PARC_OK worker saw 1\nmap PARC_OK worker saw 1\n"
                  "map PARC_OK worker saw 2\nmap PARC_OK worker saw 2\n"
                  "map PARC_OK worker saw 1\n");
  CHECK_INT(0, count(r.err, WARNING));
}

int main(int argc, char **argv) { return harness_main(argc, argv); }
