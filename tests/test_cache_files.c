/*
 * test_cache_files.c — the cache file's storage: never trust, never
 * destroy, never follow. A healthy cache on a full disk, on a read-only
 * file system or locked by another process past the busy timeout is
 * reported and left alone (only corruption rebuilds); a
 * FIFO at the cache's name is refused at once; a symbolic link at the file,
 * its -wal or its .damaged name is never followed; a directory that other
 * users can write is refused unless it is sticky and the file is ours.
 *
 * The tests that mount (a 1 MiB tmpfs, a read-only bind mount) need root
 * and skip otherwise. Each test's body runs in a child process
 * (in_child), so that the parent unmounts and removes its directory even
 * when the body fails.
 */
#include "fixture.h"
#include "harness.h"
#include "parc.h"

#include <errno.h>
#include <fcntl.h>
#include <sqlite3.h>
#include <stdbool.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <time.h>

/* ---- helpers -------------------------------------------------------------- */

static char base_dir[64];

static const char *fresh_dir(void) { return test_fresh_dir(base_dir, "files"); }

static void remove_dir(const char *dir) { test_remove_dir(dir); }

static const char *path_in(const char *dir, const char *name) {
  static char path[8][512];   /* the last 8 answers stay valid */
  static int next;
  char *p = path[next++ % 8];
  snprintf(p, sizeof path[0], "%s/%s", dir, name);
  return p;
}

/* Runs body(dir) in a child; returns its exit status (0 passed, 77
   skipped). The caller cleans up, then passes the status to finish. */
static int in_child(void (*body)(const char *), const char *dir) {
  fflush(NULL);
  unsigned left = alarm(0);   /* the harness's limit: the child ends first */
  alarm(left);
  pid_t pid = fork();
  if (pid == 0) {
    alarm(left > 2 ? left - 2 : 1);
    setvbuf(stdout, NULL, _IONBF, 0);   /* FAIL_AT's _exit keeps what was printed */
    body(dir);
    fflush(NULL);
    _exit(harness_leaks() ? 1 : 0);
  }
  int status = 0;
  waitpid(pid, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : 1;
}

static void finish(int status) {
  if (status == HARNESS_SKIP_CODE) SKIP("see above");
  CHECK_INT(0, status);
}

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int square(const void *in, void *out, parc_task *t) {
  (void)t;
  int64_t x = *(const int64_t *)in;
  *(int64_t *)out = x * x;
  return 0;
}

/* A healthy cache of n results in dir. */
static void fill(const char *dir, size_t n) {
  parc_cache *c = NULL;
  CHECK_OK(parc_cache_open(&c, dir, NULL));
  parc_pool *pool = test_pool(PARC_SERIAL, 1);
  int64_t *x = malloc(n * sizeof *x), *y = malloc(n * sizeof *y);
  for (size_t i = 0; i < n; i++) x[i] = (int64_t)i;
  parc_options opt = {0};
  opt.cache = c;
  CHECK_OK(parc_map(pool, square, x, sizeof *x, y, sizeof *y, n, &opt, NULL));
  parc_pool_destroy(pool);
  free(x);
  free(y);
  parc_cache_info info;
  CHECK_OK(parc_cache_stats(c, &info));
  CHECK_INT(n, info.entries);
  parc_cache_close(c);
}

/* The entries a cache in dir holds, opened by parc. */
static long entries(const char *dir) {
  parc_cache *c = NULL;
  CHECK_OK(parc_cache_open(&c, dir, NULL));
  parc_cache_info info;
  CHECK_OK(parc_cache_stats(c, &info));
  parc_cache_close(c);
  return (long)info.entries;
}

/* PRAGMA integrity_check and the row count, read by SQLite itself. */
static void check_healthy(const char *file, long rows) {
  sqlite3 *db = NULL;
  CHECK_INT(SQLITE_OK, sqlite3_open_v2(file, &db, SQLITE_OPEN_READWRITE, NULL));
  sqlite3_stmt *st;
  CHECK_INT(SQLITE_OK, sqlite3_prepare_v2(db, "PRAGMA integrity_check", -1, &st, NULL));
  CHECK_INT(SQLITE_ROW, sqlite3_step(st));
  CHECK_STR("ok", (const char *)sqlite3_column_text(st, 0));
  sqlite3_finalize(st);
  CHECK_INT(SQLITE_OK, sqlite3_prepare_v2(db, "SELECT count(*) FROM results", -1, &st, NULL));
  CHECK_INT(SQLITE_ROW, sqlite3_step(st));
  CHECK_INT(rows, sqlite3_column_int64(st, 0));
  sqlite3_finalize(st);
  sqlite3_close(db);
}

static bool exists(const char *path) {
  struct stat st;
  return lstat(path, &st) == 0;
}

static void write_file(const char *path, const char *text) {
  FILE *f = fopen(path, "w");
  if (!f) FAIL_AT("fopen %s: %s", path, strerror(errno));
  fputs(text, f);
  fclose(f);
}

static void check_file_says(const char *path, const char *text) {
  char back[256] = "";
  FILE *f = fopen(path, "r");
  if (!f) FAIL_AT("fopen %s: %s", path, strerror(errno));
  size_t n = fread(back, 1, sizeof back - 1, f);
  fclose(f);
  back[n] = '\0';
  CHECK_STR(text, back);
}

/* ---- a healthy cache is never discarded ----------------------------------- */

/* Fills the file system but for `slack` bytes. */
static void fill_disk(const char *filler, off_t slack) {
  int fd = open(filler, O_WRONLY | O_CREAT | O_TRUNC, 0600);
  CHECK(fd >= 0);
  static char block[4096];
  for (size_t chunk = sizeof block; chunk > 0; chunk /= 2)
    while (write(fd, block, chunk) == (ssize_t)chunk) {
    }
  off_t size = lseek(fd, 0, SEEK_END);
  CHECK_INT(0, ftruncate(fd, size > slack ? size - slack : 0));
  close(fd);
}

/* With 0 to 64 KiB left, opening either works (and finds the 2,000
   results) or fails PARC_ESYS naming the file; the file is never moved
   aside, and SQLite's own integrity_check still passes. */
static void full_disk_body(const char *dir) {
  fill(dir, 2000);
  const char *file = path_in(dir, "parc-cache.sqlite");
  const char *filler = path_in(dir, "filler");
  const char *damaged = path_in(dir, "parc-cache.sqlite.damaged");
  check_healthy(file, 2000);
  int failed = 0;
  for (off_t slack = 0; slack <= 65536; slack = slack ? slack * 2 : 4096) {
    fill_disk(filler, slack);
    parc_cache *c = (parc_cache *)1;
    int rc = parc_cache_open(&c, dir, NULL);
    printf("  full disk, %lld bytes left: parc_cache_open returned %d (%s)\n", (long long)slack,
           rc, rc ? parc_errmsg() : "");
    if (rc == PARC_OK) {
      parc_cache_info info;
      CHECK_OK(parc_cache_stats(c, &info));
      CHECK_INT(2000, info.entries);
      parc_cache_close(c);
    } else {
      failed++;
      CHECK_INT(PARC_ESYS, rc);
      CHECK(c == NULL);
      CHECK(strstr(parc_errmsg(), file) != NULL);
      CHECK(strstr(parc_errmsg(), "left untouched") != NULL);
    }
    CHECK(!exists(damaged));
    CHECK_INT(0, unlink(filler));
    check_healthy(file, 2000);
  }
  CHECK(failed > 0);   /* a full disk was met at least once */
  CHECK_INT(2000, entries(dir));
}

TEST(a_full_disk_at_open_leaves_a_healthy_cache_alone) {
  const char *dir = fresh_dir();
  if (mount("tmpfs", dir, "tmpfs", 0, "size=1m,mode=0700") != 0) {
    int e = errno;
    remove_dir(dir);
    SKIP("cannot mount a tmpfs (%s): needs root", strerror(e));
  }
  int status = in_child(full_disk_body, dir);
  CHECK_INT(0, umount2(dir, MNT_DETACH));
  remove_dir(dir);
  finish(status);
}

static void read_only_body(const char *dir) {
  const char *file = path_in(dir, "parc-cache.sqlite");
  parc_cache *c = (parc_cache *)1;
  int rc = parc_cache_open(&c, dir, NULL);
  printf("  read-only: parc_cache_open returned %d (%s)\n", rc, parc_errmsg());
  CHECK_INT(PARC_ESYS, rc);
  CHECK(c == NULL);
  CHECK(strstr(parc_errmsg(), file) != NULL);
  CHECK(strstr(parc_errmsg(), "Read-only file system") != NULL);
  CHECK(strstr(parc_errmsg(), "damaged") == NULL);
}

TEST(a_healthy_cache_on_a_read_only_file_system_is_reported_and_kept) {
  const char *dir = fresh_dir();
  fill(dir, 2000);
  if (mount(dir, dir, NULL, MS_BIND, NULL) != 0) {
    int e = errno;
    remove_dir(dir);
    SKIP("cannot bind-mount (%s): needs root", strerror(e));
  }
  int status = 1;
  if (mount(NULL, dir, NULL, MS_REMOUNT | MS_BIND | MS_RDONLY, NULL) == 0)
    status = in_child(read_only_body, dir);
  else
    fprintf(stderr, "  cannot remount %s read-only: %s\n", dir, strerror(errno));
  CHECK_INT(0, umount2(dir, MNT_DETACH));
  if (status == 0) {
    CHECK(!exists(path_in(dir, "parc-cache.sqlite.damaged")));
    check_healthy(path_in(dir, "parc-cache.sqlite"), 2000);
    CHECK_INT(2000, entries(dir));
  }
  remove_dir(dir);
  finish(status);
}

/* A directory of ours that we may not write (0555; as root, the body
   runs as nobody, who owns it): SQLite cannot create the -shm. */
static void read_only_dir_body(const char *dir) {
  if (geteuid() == 0 && (setgid(65534) != 0 || setuid(65534) != 0))
    FAIL_AT("cannot become nobody: %s", strerror(errno));
  CHECK_INT(0, chmod(dir, 0555));
  const char *file = path_in(dir, "parc-cache.sqlite");
  parc_cache *c = (parc_cache *)1;
  int rc = parc_cache_open(&c, dir, NULL);
  printf("  read-only directory: parc_cache_open returned %d (%s)\n", rc, parc_errmsg());
  CHECK_INT(PARC_ESYS, rc);
  CHECK(c == NULL);
  CHECK(strstr(parc_errmsg(), file) != NULL);
  CHECK(strstr(parc_errmsg(), "left untouched") != NULL);
  CHECK(!exists(path_in(dir, "parc-cache.sqlite.damaged")));
  CHECK_INT(0, chmod(dir, 0700));
  CHECK_INT(2000, entries(dir));
}

TEST(a_healthy_cache_in_a_read_only_directory_is_reported_and_kept) {
  const char *dir = fresh_dir();
  fill(dir, 2000);
  if (geteuid() == 0) {
    const char *file = path_in(dir, "parc-cache.sqlite");
    CHECK_INT(0, chown(dir, 65534, 65534));
    CHECK_INT(0, chown(file, 65534, 65534));
  }
  int status = in_child(read_only_dir_body, dir);
  chmod(dir, 0700);
  if (status == 0) check_healthy(path_in(dir, "parc-cache.sqlite"), 2000);
  remove_dir(dir);
  finish(status);
}

/* Another process holds the file locked past the 30 s busy timeout (here
   another connection in EXCLUSIVE locking mode): a lock is not damage. */
TEST_WITH_LIMIT(a_cache_locked_past_the_busy_timeout_is_reported_not_moved_aside, 120) {
  setvbuf(stdout, NULL, _IONBF, 0);   /* FAIL_AT's _exit keeps what was printed */
  const char *dir = fresh_dir();
  fill(dir, 100);
  const char *file = path_in(dir, "parc-cache.sqlite");
  sqlite3 *holder = NULL;
  CHECK_INT(SQLITE_OK, sqlite3_open_v2(file, &holder, SQLITE_OPEN_READWRITE, NULL));
  CHECK_INT(SQLITE_OK, sqlite3_exec(holder, "PRAGMA locking_mode = EXCLUSIVE; BEGIN EXCLUSIVE;"
                                            "UPDATE meta SET v = v WHERE k = 'hits'; COMMIT",
                                    NULL, NULL, NULL));
  parc_cache *c = (parc_cache *)1;
  double t0 = now();
  int rc = parc_cache_open(&c, dir, NULL);
  char message[1024];
  snprintf(message, sizeof message, "%s", parc_errmsg());
  printf("  locked: parc_cache_open returned %d after %.1f s (%s)\n", rc, now() - t0, message);
  int moved = exists(path_in(dir, "parc-cache.sqlite.damaged"));
  sqlite3_close(holder);
  if (rc == PARC_OK) parc_cache_close(c);
  int rows = moved ? -1 : (int)entries(dir);
  remove_dir(dir);
  CHECK_INT(PARC_ESYS, rc);
  CHECK(strstr(message, file) != NULL);
  CHECK(strstr(message, "locked") != NULL);
  CHECK_INT(0, moved);
  CHECK_INT(100, rows);
}

/* Damage is still rebuilt: a parc cache whose results table is gone. */
TEST(a_cache_with_a_damaged_schema_is_still_rebuilt) {
  const char *dir = fresh_dir();
  fill(dir, 10);
  sqlite3 *db = NULL;
  CHECK_INT(SQLITE_OK, sqlite3_open(path_in(dir, "parc-cache.sqlite"), &db));
  CHECK_INT(SQLITE_OK, sqlite3_exec(db, "DROP TABLE results", NULL, NULL, NULL));
  sqlite3_close(db);
  parc_cache *c = NULL;
  int rc = parc_cache_open(&c, dir, NULL);
  printf("  results table dropped: parc_cache_open returned %d (%s)\n", rc, rc ? parc_errmsg() : "");
  bool moved = exists(path_in(dir, "parc-cache.sqlite.damaged"));
  long rows = -1;
  if (rc == PARC_OK) {
    parc_cache_info info;
    rc = parc_cache_stats(c, &info);
    rows = (long)info.entries;
    parc_cache_close(c);
  }
  remove_dir(dir);
  CHECK_OK(rc);
  CHECK(moved);
  CHECK_INT(0, rows);
}

/* ---- not a regular file ---------------------------------------------------- */

static void fifo_body(const char *dir) {
  const char *file = path_in(dir, "parc-cache.sqlite");
  CHECK_INT(0, mkfifo(file, 0600));
  parc_cache *c = (parc_cache *)1;
  double t0 = now();
  CHECK_ERROR(PARC_EINVAL, "is a FIFO", parc_cache_open(&c, dir, NULL));
  printf("  FIFO: %s (%.3f s)\n", parc_errmsg(), now() - t0);
  CHECK(c == NULL);
  struct stat st;
  CHECK_INT(0, lstat(file, &st));
  CHECK(S_ISFIFO(st.st_mode));
  /* A directory at the name: refused the same way. */
  CHECK_INT(0, unlink(file));
  CHECK_INT(0, mkdir(file, 0700));
  CHECK_ERROR(PARC_EINVAL, "is a directory", parc_cache_open(&c, dir, NULL));
}

TEST_WITH_LIMIT(a_fifo_at_the_cache_file_is_refused_at_once, 20) {
  const char *dir = fresh_dir();
  int status = in_child(fifo_body, dir);
  remove_dir(dir);
  finish(status);
}

/* ---- never follow ---------------------------------------------------------- */

static void symlink_body(const char *dir) {
  const char *file = path_in(dir, "parc-cache.sqlite");
  const char *victim = path_in(dir, "victim");
  const char *dangling = path_in(dir, "dangling");
  parc_cache *c = (parc_cache *)1;
  /* A link at the file, to an existing file and to nothing. */
  write_file(victim, "precious");
  CHECK_INT(0, symlink(victim, file));
  CHECK_ERROR(PARC_EINVAL, "symbolic link", parc_cache_open(&c, dir, NULL));
  printf("  link at the file: %s\n", parc_errmsg());
  CHECK(c == NULL);
  check_file_says(victim, "precious");
  CHECK_INT(0, unlink(file));
  CHECK_INT(0, symlink(dangling, file));
  CHECK_ERROR(PARC_EINVAL, "symbolic link", parc_cache_open(&c, dir, NULL));
  CHECK(!exists(dangling));
  CHECK_INT(0, unlink(file));
  /* A link at the -wal of a cache. */
  fill(dir, 10);
  const char *wal = path_in(dir, "parc-cache.sqlite-wal");
  CHECK_INT(0, symlink(victim, wal));
  CHECK_ERROR(PARC_EINVAL, "symbolic link", parc_cache_open(&c, dir, NULL));
  printf("  link at the -wal: %s\n", parc_errmsg());
  check_file_says(victim, "precious");
  CHECK_INT(0, unlink(wal));
  /* A link at the .damaged name: the rename replaces the link, never
     writes through it. */
  CHECK_INT(0, truncate(file, 10));   /* "SQLite for": damaged */
  const char *damaged = path_in(dir, "parc-cache.sqlite.damaged");
  CHECK_INT(0, symlink(victim, damaged));
  CHECK_INT(0, entries(dir));   /* rebuilt empty */
  check_file_says(victim, "precious");
  struct stat st;
  CHECK_INT(0, lstat(damaged, &st));
  CHECK(S_ISREG(st.st_mode));
  CHECK_SIZE(10, (size_t)st.st_size);
}

TEST(a_symbolic_link_at_the_cache_file_its_wal_or_damaged_name_is_never_followed) {
  const char *dir = fresh_dir();
  int status = in_child(symlink_body, dir);
  remove_dir(dir);
  finish(status);
}

static void shared_dir_body(const char *dir) {
  const char *file = path_in(dir, "parc-cache.sqlite");
  const char *victim = path_in(dir, "victim");
  parc_cache *c = (parc_cache *)1;
  /* 0777, not sticky: anyone could plant a link; refused, nothing made. */
  CHECK_INT(0, chmod(dir, 0777));
  CHECK_ERROR(PARC_EINVAL, "writable by other users", parc_cache_open(&c, dir, NULL));
  printf("  0777: %s\n", parc_errmsg());
  CHECK(c == NULL);
  CHECK(!exists(file));
  /* Group-writable: refused for another group, accepted for our own
     primary group (umask 002, a group per user). */
  CHECK_INT(0, chmod(dir, 0770));
  CHECK_INT(0, chown(dir, (uid_t)-1, 65534));
  CHECK_ERROR(PARC_EINVAL, "writable by other users", parc_cache_open(&c, dir, NULL));
  CHECK_INT(0, chown(dir, (uid_t)-1, getegid()));
  CHECK_OK(parc_cache_open(&c, dir, NULL));
  parc_cache_close(c);
  CHECK_INT(0, unlink(file));
  /* Sticky (like /tmp): another user's link at our name is refused. */
  CHECK_INT(0, chmod(dir, 01777));
  write_file(victim, "precious");
  CHECK_INT(0, symlink(victim, file));
  CHECK_INT(0, lchown(file, 65534, 65534));
  CHECK_ERROR(PARC_EINVAL, "symbolic link", parc_cache_open(&c, dir, NULL));
  check_file_says(victim, "precious");
  CHECK_INT(0, unlink(file));
  /* Another user's regular file at our name: refused too. */
  write_file(file, "");
  CHECK_INT(0, chown(file, 65534, 65534));
  CHECK_ERROR(PARC_EINVAL, "another user's file", parc_cache_open(&c, dir, NULL));
  printf("  sticky, another user's file: %s\n", parc_errmsg());
  CHECK_INT(0, unlink(file));
  /* Our own file in a sticky directory: a cache like any other. */
  fill(dir, 10);
  CHECK_INT(10, entries(dir));
}

TEST(a_directory_writable_by_others_is_refused_unless_sticky_and_the_file_is_ours) {
  if (geteuid() != 0) SKIP("needs root (to plant files of another user)");
  const char *dir = fresh_dir();
  int status = in_child(shared_dir_body, dir);
  remove_dir(dir);
  finish(status);
}

int main(int argc, char **argv) { return harness_main(argc, argv); }
