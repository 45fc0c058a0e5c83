/*
 * cache_db.c — the cache's SQLite file: open and check it, write batches,
 * evict, clear, count.
 *
 * Why batches: one SQLite commit costs a WAL write and, with
 * synchronous=NORMAL, no fsync until a checkpoint; but a million commits of
 * one row still cost seconds. So results wait in memory (cache.c) and one
 * write transaction stores all of them, at least every CACHE_BATCH_SECONDS.
 * A kill -9 loses the batch in memory, never the file: WAL commits are
 * atomic. The write lock is held only while a batch is written, so several
 * processes share one cache; readers never block (WAL snapshots).
 *
 * Why the checks on open: never trust, never destroy, never follow. A
 * cache must never answer from a file it cannot trust. A file that is not
 * SQLite, or SQLite of another application, is somebody's data: refuse it
 * (PARC_EINVAL) and leave it alone. A parc cache that SQLite calls corrupt
 * (SQLITE_CORRUPT, SQLITE_NOTADB) or that fails PRAGMA quick_check is
 * moved aside to *.damaged and rebuilt empty: results are recomputable,
 * wrong ones are not acceptable. Any other failure (a full disk, a
 * read-only file system, a lock, an I/O error) says nothing about the
 * file: PARC_ESYS, and a healthy cache stays as it is. Before anything
 * opens them, the file and its -wal and -shm must be absent or regular
 * files: a link is never followed (O_NOFOLLOW, SQLITE_OPEN_NOFOLLOW), a
 * FIFO never blocks us (O_NONBLOCK), and a directory that other users can
 * write is refused unless it is sticky and the files are ours, so that a
 * link planted there cannot turn our writes onto somebody's file.
 *
 * Why readers: lookups run on worker threads, many at once. Each thread
 * that looks up borrows a connection of its own (a reader) with a WAL
 * snapshot, renewed when this handle has committed since; the main
 * connection, under the cache's lock, only writes. Readers map the file
 * (mmap_size) so that they share the operating system's page cache rather
 * than each keeping a copy.
 */
#include "cache_db.h"

#include <errno.h>
#include <math.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static const char sql_get[] = "SELECT h2, scope, used, kv FROM results WHERE id = ?1";
static const char sql_scope_find[] =
    "SELECT id, context, by_index FROM scopes WHERE name = ?1 AND version = ?2 "
    "AND code = ?3 AND chash = ?4 AND context_size = ?5";

static const char *const statements[ST_COUNT] = {
    [ST_PUT] = "INSERT OR IGNORE INTO results(id, h2, scope, used, kv) VALUES(?1, ?2, ?3, ?4, ?5)",
    [ST_TOUCH] = "UPDATE results SET used = ?2 WHERE id = ?1 AND used < ?2",
    [ST_SCOPE_FIND] = sql_scope_find,
    [ST_SCOPE_ADD] = "INSERT OR IGNORE INTO scopes(name, version, code, chash, context_size, "
                     "context, by_index) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    [ST_SCOPE_INDEX] = "UPDATE scopes SET by_index = 1 WHERE id = ?1",
    [ST_META_ADD] = "UPDATE meta SET v = v + ?2 WHERE k = ?1",
    [ST_META_GET] = "SELECT v FROM meta WHERE k = ?1",
};

static const char schema[] =
    "CREATE TABLE meta(k TEXT PRIMARY KEY, v INTEGER NOT NULL) WITHOUT ROWID;"
    "INSERT INTO meta VALUES('entries', 0), ('bytes', 0), ('hits', 0), ('misses', 0);"
    "CREATE TABLE scopes(id INTEGER PRIMARY KEY AUTOINCREMENT, name TEXT NOT NULL,"
    " version TEXT NOT NULL, code BLOB NOT NULL, chash BLOB NOT NULL,"
    " context_size INTEGER NOT NULL, context BLOB, by_index INTEGER NOT NULL DEFAULT 0,"
    " UNIQUE(name, version, code, chash, context_size));"
    "CREATE TABLE results(id INTEGER PRIMARY KEY, h2 INTEGER NOT NULL, scope INTEGER NOT NULL,"
    " used INTEGER NOT NULL, kv BLOB NOT NULL);";

int64_t parc__cache_now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- opening ------------------------------------------------------------ */

enum { OPEN_OK, OPEN_DAMAGED, OPEN_FOREIGN, OPEN_FAILED };

static int exec(parc_cache *c, const char *sql) {
  return sqlite3_exec(c->db, sql, NULL, NULL, NULL);
}

static int db_error(parc_cache *c, int status, const char *what) {
  return parc__error(status, "parc_cache_open: %s: %s: %s", c->file, what,
                     c->db ? sqlite3_errmsg(c->db) : "cannot open");
}

/* One integer from a pragma or query; false on any error. */
static bool query_int(parc_cache *c, const char *sql, int64_t *value) {
  sqlite3_stmt *st = NULL;
  bool ok = sqlite3_prepare_v2(c->db, sql, -1, &st, NULL) == SQLITE_OK &&
            sqlite3_step(st) == SQLITE_ROW;
  if (ok) *value = sqlite3_column_int64(st, 0);
  sqlite3_finalize(st);
  return ok;
}

/* A failed step while opening: corruption (SQLITE_CORRUPT, SQLITE_NOTADB)
   is the one reason to rebuild (OPEN_DAMAGED). Anything else (a full
   disk, a read-only file system, a lock held past the busy timeout, an
   I/O error) says nothing about the file: PARC_ESYS, and it is left alone. */
static int db_failed(parc_cache *c, const char *what) {
  int code = c->db ? sqlite3_errcode(c->db) & 0xff : SQLITE_CANTOPEN;
  if (code == SQLITE_CORRUPT || code == SQLITE_NOTADB) return OPEN_DAMAGED;
  if (code == SQLITE_NOMEM) return parc__error(PARC_ENOMEM, "parc_cache_open: out of memory");
  int e = c->db ? sqlite3_system_errno(c->db) : 0;
  return parc__error(PARC_ESYS, "parc_cache_open: %s: %s: %s%s%s; the file was left untouched",
                     c->file, what, c->db ? sqlite3_errmsg(c->db) : "cannot open",
                     e ? ": " : "", e ? strerror(e) : "");
}

static const char *file_kind(mode_t mode) {
  if (S_ISDIR(mode)) return "a directory";
  if (S_ISFIFO(mode)) return "a FIFO";
  if (S_ISSOCK(mode)) return "a socket";
  if (S_ISCHR(mode) || S_ISBLK(mode)) return "a device";
  if (S_ISLNK(mode)) return "a symbolic link";
  return "not a regular file";
}

/* Whom the directory lets replace our files. A directory that only we can
   write is safe. One that others can write (or that another user owns)
   lets them plant a symbolic link or a FIFO at our names: refused, unless
   it is sticky (like /tmp), where nobody else can rename or remove a file
   of ours; then every file we use must already be ours (check_own).
   Group write counts unless the group is our own primary group: with
   umask 002 and a group per user, every directory a user makes is 0775. */
static int check_directory(parc_cache *c, bool *shared) {
  struct stat st;
  if (stat(c->dir, &st) != 0)
    return parc__error_errno("parc_cache_open: cannot stat the cache directory");
  bool ours = st.st_uid == geteuid();
  bool writable = (st.st_mode & S_IWOTH) || ((st.st_mode & S_IWGRP) && st.st_gid != getegid());
  *shared = !ours || writable;
  if (*shared && !(st.st_mode & S_ISVTX))
    return parc__error(PARC_EINVAL,
                       "parc_cache_open: the cache directory %s is %s and not sticky: another "
                       "user could plant a link at the cache file; use a directory of your own",
                       c->dir, ours ? "writable by other users" : "owned by another user");
  return PARC_OK;
}

/* name (the file, its -wal or -shm) is absent, or a regular file; in a
   shared directory also ours with one link. Never followed. */
static int check_own(parc_cache *c, const char *name, bool shared) {
  struct stat st;
  if (lstat(name, &st) != 0) {
    if (errno == ENOENT) return PARC_OK;
    int e = errno;
    return parc__error(PARC_ESYS, "parc_cache_open: cannot stat %s: %s", name, strerror(e));
  }
  if (!S_ISREG(st.st_mode))
    return parc__error(PARC_EINVAL,
                       "parc_cache_open: %s is %s, not a cache file; it was left untouched "
                       "(never followed nor read)", name, file_kind(st.st_mode));
  if (shared && (st.st_uid != geteuid() || st.st_nlink != 1))
    return parc__error(PARC_EINVAL,
                       "parc_cache_open: %s in the shared directory %s is %s; it was left "
                       "untouched", name, c->dir,
                       st.st_uid != geteuid() ? "another user's file" : "a file with other links");
  return PARC_OK;
}

/* The directory, then the file and its -wal and -shm, before anything
   opens them. */
static int check_place(parc_cache *c, bool *shared_out) {
  bool shared = false;
  int rc = check_directory(c, &shared);
  *shared_out = shared;
  static const char *const suffixes[] = {"", "-wal", "-shm"};
  for (int i = 0; rc == PARC_OK && i < 3; i++) {
    char *name = parc__format("%s%s", c->file, suffixes[i]);
    rc = name ? check_own(c, name, shared)
              : parc__error(PARC_ENOMEM, "parc_cache_open: out of memory");
    parc__free(name);
  }
  return rc;
}

/* Opens c->file without following a link and without blocking (a FIFO
   would block an open, or a read, forever); anything but a regular file
   is refused before a byte is read, and in a shared directory a file that
   is not ours (one planted since check_place looked). -1 and a message
   when it fails. */
static int open_file(parc_cache *c, int flags, bool shared) {
  int fd = open(c->file, flags | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC, 0600);
  if (fd < 0) {
    int e = errno;
    if (e == ELOOP)
      parc__error(PARC_EINVAL, "parc_cache_open: %s is a symbolic link; it was left untouched "
                               "(a cache file is never followed)", c->file);
    else if (e != ENOENT) {
      char *what = parc__format("parc_cache_open: cannot %s %s",
                                flags & O_CREAT ? "create or write" : "read", c->file);
      errno = e;
      if (what) parc__error_errno(what);
      else parc__error(PARC_ENOMEM, "parc_cache_open: out of memory");
      parc__free(what);
    }
    errno = e;
    return -1;
  }
  struct stat st;
  if (fstat(fd, &st) != 0) {
    int e = errno;
    close(fd);
    parc__error(PARC_ESYS, "parc_cache_open: cannot stat %s: %s", c->file, strerror(e));
    errno = e;
    return -1;
  }
  if (!S_ISREG(st.st_mode)) {
    close(fd);
    parc__error(PARC_EINVAL, "parc_cache_open: %s is %s, not a cache file; it was left untouched",
                c->file, file_kind(st.st_mode));
    errno = EINVAL;
    return -1;
  }
  if (shared && (st.st_uid != geteuid() || st.st_nlink != 1)) {
    close(fd);
    parc__error(PARC_EINVAL, "parc_cache_open: %s in the shared directory %s is %s; it was left "
                             "untouched", c->file, c->dir,
                st.st_uid != geteuid() ? "another user's file" : "a file with other links");
    errno = EINVAL;
    return -1;
  }
  return fd;
}

/* Is the file, as far as its first bytes tell, an SQLite database? A
   missing or empty file is fine too (a fresh cache). */
static int check_magic(parc_cache *c, bool shared, int *failure) {
  int fd = open_file(c, O_RDONLY, shared);
  if (fd < 0) {
    if (errno == ENOENT) return OPEN_OK;
    *failure = errno == EINVAL ? PARC_EINVAL : PARC_ESYS;
    return OPEN_FAILED;
  }
  unsigned char head[16];
  ssize_t n = read(fd, head, sizeof head);
  close(fd);
  if (n <= 0) return OPEN_OK;   /* empty */
  if (memcmp(head, "SQLite format 3", (size_t)n < 16 ? (size_t)n : 16) != 0) return OPEN_FOREIGN;
  return n < 16 ? OPEN_DAMAGED : OPEN_OK;
}

static int create_file(parc_cache *c, bool shared) {
  int fd = open_file(c, O_RDWR | O_CREAT, shared);
  if (fd < 0) return errno == EINVAL ? PARC_EINVAL : PARC_ESYS;
  close(fd);
  return PARC_OK;
}

static int create_schema(parc_cache *c) {
  if (exec(c, "BEGIN IMMEDIATE") != SQLITE_OK) return db_error(c, PARC_ESYS, "cannot lock");
  int64_t tables = 0, app = 0;
  /* Another process may have created it while we waited for the lock. */
  if (!query_int(c, "PRAGMA application_id", &app) ||
      !query_int(c, "SELECT count(*) FROM sqlite_master", &tables)) {
    exec(c, "ROLLBACK");
    return db_error(c, PARC_ESYS, "cannot read the schema");
  }
  if (app == 0 && tables == 0) {
    char sql[sizeof schema + 128];
    snprintf(sql, sizeof sql, "%sPRAGMA application_id = %d; PRAGMA user_version = %d;", schema,
             CACHE_APP_ID, CACHE_SCHEMA);
    if (exec(c, sql) != SQLITE_OK) {
      int rc = db_error(c, PARC_ESYS, "cannot create the schema");
      exec(c, "ROLLBACK");
      return rc;
    }
  }
  if (exec(c, "COMMIT") != SQLITE_OK) {
    int rc = db_error(c, PARC_ESYS, "cannot commit the schema");
    exec(c, "ROLLBACK");
    return rc;
  }
  return PARC_OK;
}

/* Opens c->file and decides whether to trust it. OPEN_DAMAGED: a parc
   cache (or an SQLite file at our name) that cannot be trusted. */
static int open_checked(parc_cache *c) {
  int failure = PARC_ESYS;
  bool shared = false;
  int rc = check_place(c, &shared);
  if (rc) return rc;
  int magic = check_magic(c, shared, &failure);
  if (magic == OPEN_FAILED) return failure;
  if (magic == OPEN_FOREIGN) {
    return parc__error(PARC_EINVAL,
                       "parc_cache_open: %s is not a parc cache (not an SQLite database); "
                       "it was left untouched: move it away or choose another directory",
                       c->file);
  }
  if (magic == OPEN_DAMAGED) return OPEN_DAMAGED;
  rc = create_file(c, shared);
  if (rc) return rc;
  /* NOFOLLOW: SQLite refuses a link at the file, its -wal and its -shm. */
  if (sqlite3_open_v2(c->file, &c->db,
                      SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX | SQLITE_OPEN_NOFOLLOW,
                      NULL) != SQLITE_OK)
    return db_failed(c, "cannot open");
  sqlite3_busy_timeout(c->db, 30000);
  int64_t app = 0, tables = 0, version = 0;
  if (!query_int(c, "PRAGMA application_id", &app)) return db_failed(c, "cannot read the header");
  if (app == 0) {
    if (!query_int(c, "SELECT count(*) FROM sqlite_master", &tables))
      return db_failed(c, "cannot read the schema");
    /* Tables but no id: another application's, unless another process
       committed our schema between the two queries; ask again. */
    if (tables != 0 && !query_int(c, "PRAGMA application_id", &app))
      return db_failed(c, "cannot read the header");
    if (tables != 0 && app == 0)
      return parc__error(PARC_EINVAL,
                         "parc_cache_open: %s is an SQLite database of another application; "
                         "it was left untouched", c->file);
  }
  if (app != 0 && app != CACHE_APP_ID) {
    return parc__error(PARC_EINVAL,
                       "parc_cache_open: %s is an SQLite database of another application "
                       "(application_id 0x%08llx); it was left untouched",
                       c->file, (unsigned long long)app);
  }
  if (app == CACHE_APP_ID) {
    /* A row other than "ok" is damage; a step that fails is judged by
       its error (db_failed). */
    sqlite3_stmt *st = NULL;
    int step = SQLITE_ERROR;
    bool ok = false;
    if (sqlite3_prepare_v2(c->db, "PRAGMA quick_check", -1, &st, NULL) == SQLITE_OK &&
        (step = sqlite3_step(st)) == SQLITE_ROW) {
      ok = strcmp((const char *)sqlite3_column_text(st, 0), "ok") == 0;
      step = ok ? sqlite3_step(st) : SQLITE_ROW;
      ok = ok && step == SQLITE_DONE;
    }
    sqlite3_finalize(st);
    if (!ok && step == SQLITE_ROW) return OPEN_DAMAGED;
    if (!ok) return db_failed(c, "cannot check the file (PRAGMA quick_check)");
    if (!query_int(c, "PRAGMA user_version", &version))
      return db_failed(c, "cannot read the header");
    if (version > CACHE_SCHEMA)
      return parc__error(PARC_EINVAL,
                         "parc_cache_open: %s was written by a newer parc (schema %lld, this "
                         "one reads %d)", c->file, (long long)version, CACHE_SCHEMA);
    if (version != CACHE_SCHEMA) return OPEN_DAMAGED;
  }
  bool wal = false;
  /* Two processes opening a new cache at once both hold a shared lock
     when they ask for WAL; SQLite then answers one of them SQLITE_BUSY at
     once, without the busy handler (it would deadlock). Ask again. */
  for (int attempt = 0; attempt < 3000 && !wal; attempt++) {
    if (attempt) nanosleep(&(struct timespec){0, 10000000}, NULL);
    sqlite3_stmt *st = NULL;
    int step = SQLITE_ERROR;
    if (sqlite3_prepare_v2(c->db, "PRAGMA journal_mode = WAL", -1, &st, NULL) == SQLITE_OK)
      step = sqlite3_step(st);
    const unsigned char *mode = step == SQLITE_ROW ? sqlite3_column_text(st, 0) : NULL;
    wal = mode && strcmp((const char *)mode, "wal") == 0;
    sqlite3_finalize(st);
    if (!wal && step != SQLITE_BUSY && step != SQLITE_LOCKED && step != SQLITE_ROW) break;
  }
  if (!wal) return db_failed(c, "cannot switch to WAL mode");
  exec(c, "PRAGMA synchronous = NORMAL; PRAGMA cache_size = -262144;"
          "PRAGMA temp_store = MEMORY");
  if (app == 0 && (rc = create_schema(c)) != PARC_OK) return rc;
  /* A statement that does not fit the schema (SQLITE_ERROR: no such
     table or column) means a damaged schema; anything else, db_failed. */
  for (int i = 0; i < ST_COUNT; i++)
    if (sqlite3_prepare_v3(c->db, statements[i], -1, SQLITE_PREPARE_PERSISTENT, &c->st[i], NULL) !=
        SQLITE_OK)
      return (sqlite3_errcode(c->db) & 0xff) == SQLITE_ERROR
                 ? OPEN_DAMAGED
                 : db_failed(c, "cannot prepare a statement");
  return OPEN_OK;
}

static void reader_close(cache_reader *r) {
  sqlite3_finalize(r->get);
  sqlite3_finalize(r->scope_find);
  if (r->db) sqlite3_close_v2(r->db);
  parc__free(r);
}

static void close_db(parc_cache *c) {
  while (c->readers) {
    cache_reader *r = c->readers;
    c->readers = r->next;
    reader_close(r);
    c->nreaders--;
  }
  for (int i = 0; i < ST_COUNT; i++) {
    sqlite3_finalize(c->st[i]);
    c->st[i] = NULL;
  }
  if (c->db) sqlite3_close_v2(c->db);
  c->db = NULL;
}

/* Moves a damaged file (and its WAL, which must never be replayed into a
   new file) aside. */
static int move_aside(parc_cache *c) {
  static const char *const suffixes[] = {"", "-wal", "-shm"};
  for (int i = 0; i < 3; i++) {
    char *from = parc__format("%s%s", c->file, suffixes[i]);
    char *to = parc__format("%s.damaged%s", c->file, suffixes[i]);
    int rc = from && to ? rename(from, to) : -1;
    int saved = errno;
    parc__free(from);
    parc__free(to);
    if (rc != 0 && !(from && to && saved == ENOENT)) {
      errno = from && to ? saved : ENOMEM;
      return parc__error_errno("parc_cache_open: cannot move a damaged cache file aside");
    }
  }
  return PARC_OK;
}

int parc__cache_db_open(parc_cache *c) {
  int rc = open_checked(c);
  if (rc != OPEN_DAMAGED) {
    if (rc != OPEN_OK) close_db(c);
    return rc;
  }
  close_db(c);
  if (c->opt.verbose > 0)
    fprintf(stderr, "parc cache: %s is damaged; moved to %s.damaged and rebuilt empty\n", c->file,
            c->file);
  if ((rc = move_aside(c)) != PARC_OK) return rc;
  rc = open_checked(c);
  if (rc == OPEN_OK) return PARC_OK;
  close_db(c);
  return rc == OPEN_DAMAGED ? parc__error(PARC_ESYS, "parc_cache_open: %s: cannot rebuild the cache",
                                          c->file)
                            : rc;
}

void parc__cache_db_close(parc_cache *c) { close_db(c); }

/* ---- transactions ------------------------------------------------------- */

void parc__cache_broken(parc_cache *c, const char *what) {
  if (!c->broken && c->opt.verbose > 0)
    fprintf(stderr, "parc cache: %s: %s: %s; the cache is off for this handle\n", c->file, what,
            sqlite3_errmsg(c->db));
  c->broken = true;
}

bool parc__cache_begin_read(parc_cache *c) {
  if (c->reading) return true;
  if (exec(c, "BEGIN") != SQLITE_OK) return false;
  c->reading = true;
  return true;
}

void parc__cache_end_read(parc_cache *c) {
  if (!c->reading) return;
  for (int i = 0; i < ST_COUNT; i++) sqlite3_reset(c->st[i]);
  exec(c, "COMMIT");
  c->reading = false;
}

static int64_t meta_get(parc_cache *c, const char *key) {
  sqlite3_stmt *st = c->st[ST_META_GET];
  sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
  int64_t v = sqlite3_step(st) == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 0;
  sqlite3_reset(st);
  return v;
}

static bool meta_add(parc_cache *c, const char *key, int64_t delta) {
  if (delta == 0) return true;
  sqlite3_stmt *st = c->st[ST_META_ADD];
  sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
  sqlite3_bind_int64(st, 2, delta);
  bool ok = sqlite3_step(st) == SQLITE_DONE;
  sqlite3_reset(st);
  return ok;
}

bool parc__cache_scope_lookup(sqlite3_stmt *st, parc__cache_scope *s) {
  sqlite3_bind_text(st, 1, s->name, -1, SQLITE_STATIC);
  sqlite3_bind_text(st, 2, s->version, -1, SQLITE_STATIC);
  sqlite3_bind_blob(st, 3, s->code, s->has_code ? 16 : 0, SQLITE_STATIC);
  sqlite3_bind_blob(st, 4, s->chash, 16, SQLITE_STATIC);
  sqlite3_bind_int64(st, 5, (int64_t)s->context_size);
  if (sqlite3_step(st) == SQLITE_ROW) {
    /* The hash named the context; the stored bytes prove it. */
    const void *stored = sqlite3_column_blob(st, 1);
    size_t n = (size_t)sqlite3_column_bytes(st, 1);
    bool same = !stored || !s->context || (n == s->context_size && memcmp(stored, s->context, n) == 0);
    if (same) {
      s->id = sqlite3_column_int64(st, 0);
      if (sqlite3_column_int(st, 2)) atomic_store(&s->by_index, true);
    }
  }
  sqlite3_reset(st);
  return s->id != 0;
}

static bool scope_create(parc_cache *c, parc__cache_scope *s) {
  sqlite3_stmt *st = c->st[ST_SCOPE_ADD];
  sqlite3_bind_text(st, 1, s->name, -1, SQLITE_STATIC);
  sqlite3_bind_text(st, 2, s->version, -1, SQLITE_STATIC);
  sqlite3_bind_blob(st, 3, s->code, s->has_code ? 16 : 0, SQLITE_STATIC);
  sqlite3_bind_blob(st, 4, s->chash, 16, SQLITE_STATIC);
  sqlite3_bind_int64(st, 5, (int64_t)s->context_size);
  if (s->context || s->context_size == 0)
    sqlite3_bind_blob(st, 6, s->context ? s->context : "", (int)s->context_size, SQLITE_STATIC);
  else
    sqlite3_bind_null(st, 6);
  sqlite3_bind_int(st, 7, atomic_load(&s->by_index) ? 1 : 0);
  bool ok = sqlite3_step(st) == SQLITE_DONE;
  sqlite3_reset(st);
  return ok && parc__cache_scope_lookup(c->st[ST_SCOPE_FIND], s);
}

/* Deletes least recently used results until the accounted bytes are at
   most 90% of max_bytes (inside the write transaction). One sort of the
   table per eviction round, so the 10% of slack pays for it. */
static bool evict(parc_cache *c) {
  int64_t bytes = meta_get(c, "bytes");
  if (c->opt.max_bytes == 0 || (uint64_t)bytes <= c->opt.max_bytes) return true;
  int64_t target = (int64_t)(c->opt.max_bytes / 10 * 9);
  sqlite3_stmt *scan = NULL, *del = NULL;
  bool ok = sqlite3_prepare_v2(c->db,
                               "SELECT id, length(kv) FROM results "
                               "ORDER BY used, id", -1, &scan, NULL) == SQLITE_OK &&
            sqlite3_prepare_v2(c->db, "DELETE FROM results WHERE id = ?1", -1, &del, NULL) ==
                SQLITE_OK;
  int64_t *ids = NULL;
  size_t n = 0, capacity = 0;
  int64_t freed = 0;
  while (ok && bytes - freed > target && sqlite3_step(scan) == SQLITE_ROW) {
    if (n == capacity) {
      capacity = capacity ? capacity * 2 : 1024;
      int64_t *grown = parc__realloc(ids, capacity * sizeof *ids);
      if (!grown) {
        ok = false;
        break;
      }
      ids = grown;
    }
    ids[n++] = sqlite3_column_int64(scan, 0);
    freed += sqlite3_column_int64(scan, 1) + CACHE_ENTRY_OVERHEAD;
  }
  sqlite3_finalize(scan);
  for (size_t i = 0; ok && i < n; i++) {
    sqlite3_bind_int64(del, 1, ids[i]);
    ok = sqlite3_step(del) == SQLITE_DONE;
    sqlite3_reset(del);
  }
  sqlite3_finalize(del);
  parc__free(ids);
  return ok && meta_add(c, "bytes", -freed) && meta_add(c, "entries", -(int64_t)n);
}

typedef struct sort_item {
  int64_t h1;
  size_t offset;
} sort_item;

static int compare_items(const void *a, const void *b) {
  int64_t x = ((const sort_item *)a)->h1, y = ((const sort_item *)b)->h1;
  return (x > y) - (x < y);
}

static int compare_ids(const void *a, const void *b) {
  int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
  return (x > y) - (x < y);
}

/* Orders c->pending by row id (left as it is when memory is short). */
static void sort_pending(parc_cache *c) {
  sort_item *items = c->npending > 1 ? parc__malloc(c->npending * sizeof *items) : NULL;
  if (!items) return;
  for (size_t i = 0; i < c->npending; i++)
    items[i] = (sort_item){((cache_pending *)(c->arena + c->pending[i]))->h1, c->pending[i]};
  qsort(items, c->npending, sizeof *items, compare_items);
  for (size_t i = 0; i < c->npending; i++) c->pending[i] = items[i].offset;
  parc__free(items);
}

static bool write_batch(parc_cache *c, int64_t now_ms) {
  for (parc__cache_scope *s = c->scopes; s; s = s->next) {
    if (s->wanted && s->id == 0 && !parc__cache_scope_lookup(c->st[ST_SCOPE_FIND], s) &&
        !scope_create(c, s))
      return false;
    s->wanted = false;
    if (s->index_dirty && s->id) {
      sqlite3_stmt *st = c->st[ST_SCOPE_INDEX];
      sqlite3_bind_int64(st, 1, s->id);
      bool ok = sqlite3_step(st) == SQLITE_DONE;
      sqlite3_reset(st);
      if (!ok) return false;
      s->index_dirty = false;
    }
  }
  /* In row order, each page of the table is changed in one visit. The
     batch is dropped after this, so its index may be reordered. */
  sort_pending(c);
  int64_t added = 0, bytes = 0;
  sqlite3_stmt *put = c->st[ST_PUT];
  for (size_t i = 0; i < c->npending; i++) {
    cache_pending *p = (cache_pending *)(c->arena + c->pending[i]);
    if (p->scope->id == 0) continue;   /* its scope row could not be matched: rare, harmless */
    const unsigned char *kv = CACHE_PENDING_BYTES(p);
    sqlite3_bind_int64(put, 1, p->h1);
    sqlite3_bind_int64(put, 2, parc__cache_check(p->h2, kv + p->key_size, p->value_size));
    sqlite3_bind_int64(put, 3, p->scope->id);
    sqlite3_bind_int64(put, 4, now_ms);
    sqlite3_bind_blob(put, 5, kv, (int)(p->key_size + p->value_size), SQLITE_STATIC);
    bool ok = sqlite3_step(put) == SQLITE_DONE;
    sqlite3_reset(put);
    if (!ok) return false;
    if (sqlite3_changes(c->db) == 1) {
      added++;
      bytes += (int64_t)(p->key_size + p->value_size + CACHE_ENTRY_OVERHEAD);
    }
  }
  sqlite3_stmt *touch = c->st[ST_TOUCH];
  if (c->ntouched > 1) qsort(c->touched, c->ntouched, sizeof *c->touched, compare_ids);
  for (size_t i = 0; i < c->ntouched; i++) {
    sqlite3_bind_int64(touch, 1, c->touched[i]);
    sqlite3_bind_int64(touch, 2, now_ms);
    bool ok = sqlite3_step(touch) == SQLITE_DONE;
    sqlite3_reset(touch);
    if (!ok) return false;
  }
  return meta_add(c, "entries", added) && meta_add(c, "bytes", bytes) &&
         meta_add(c, "hits", c->hits) && meta_add(c, "misses", c->misses) && evict(c);
}

static void drop_batch(parc_cache *c) {
  c->npending = 0;
  c->arena_used = 0;
  if (c->slots) memset(c->slots, 0, c->nslots * sizeof *c->slots);
  c->ntouched = 0;
  c->hits = c->misses = 0;
}

int parc__cache_commit(parc_cache *c) {
  c->last_commit = parc__now();
  bool dirty = false;
  for (parc__cache_scope *s = c->scopes; s; s = s->next) dirty |= s->index_dirty;
  if (c->broken) {
    drop_batch(c);
    return PARC_OK;
  }
  if (!c->npending && !c->ntouched && !c->hits && !c->misses && !dirty) return PARC_OK;
  parc__cache_end_read(c);
  int rc = exec(c, "BEGIN IMMEDIATE");
  if (rc != SQLITE_OK) {
    /* Locked past the busy timeout: keep the batch for the next try,
       unless it has grown too large to keep. */
    if (c->arena_used > 4 * CACHE_PENDING_MAX) {
      parc__cache_broken(c, "cannot lock the database for writing");
      drop_batch(c);
    }
    return parc__error(PARC_ESYS, "parc cache: %s: cannot lock for writing: %s", c->file,
                       sqlite3_errmsg(c->db));
  }
  if (!write_batch(c, parc__cache_now_ms()) || exec(c, "COMMIT") != SQLITE_OK) {
    int status = parc__error(PARC_ESYS, "parc cache: %s: cannot write a batch: %s", c->file,
                             sqlite3_errmsg(c->db));
    parc__cache_broken(c, "cannot write a batch");
    exec(c, "ROLLBACK");
    drop_batch(c);
    return status;
  }
  drop_batch(c);
  c->commits++;
  return PARC_OK;
}

/* ---- readers (lock held) ------------------------------------------------- */

static cache_reader *reader_open(parc_cache *c) {
  cache_reader *r = parc__calloc(1, sizeof *r);
  if (!r) return NULL;
  bool ok = sqlite3_open_v2(c->file, &r->db,
                            SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX | SQLITE_OPEN_NOFOLLOW,
                            NULL) == SQLITE_OK;
  if (ok) {
    sqlite3_busy_timeout(r->db, 30000);
    /* A reader never writes; its pages come from the mapped file (the
       operating system's cache, shared by all readers), so its own page
       cache only holds what the WAL has not yet given back to the file. */
    ok = sqlite3_exec(r->db, "PRAGMA query_only = 1; PRAGMA mmap_size = 2147418112;"
                             "PRAGMA cache_size = -16384", NULL, NULL, NULL) == SQLITE_OK &&
         sqlite3_prepare_v3(r->db, sql_get, -1, SQLITE_PREPARE_PERSISTENT, &r->get, NULL) ==
             SQLITE_OK &&
         sqlite3_prepare_v3(r->db, sql_scope_find, -1, SQLITE_PREPARE_PERSISTENT, &r->scope_find,
                            NULL) == SQLITE_OK;
  }
  if (!ok) {
    if (c->opt.verbose > 0)
      fprintf(stderr, "parc cache: %s: cannot open a reader: %s\n", c->file,
              r->db ? sqlite3_errmsg(r->db) : "out of memory");
    reader_close(r);
    return NULL;
  }
  return r;
}

static void reader_end(cache_reader *r) {
  if (!r->reading) return;
  sqlite3_reset(r->get);
  sqlite3_reset(r->scope_find);
  sqlite3_exec(r->db, "COMMIT", NULL, NULL, NULL);
  r->reading = false;
}

cache_reader *parc__cache_reader_take(parc_cache *c) {
  while (!c->readers && c->nreaders >= CACHE_READERS_MAX) pthread_cond_wait(&c->reader_free, &c->lock);
  cache_reader *r = c->readers;
  if (r) {
    c->readers = r->next;
  } else {
    if (!(r = reader_open(c))) return NULL;
    c->nreaders++;
  }
  r->next = NULL;
  if (!r->reading || r->commits != c->commits) {
    reader_end(r);
    if (sqlite3_exec(r->db, "BEGIN", NULL, NULL, NULL) != SQLITE_OK) {
      parc__cache_reader_give(c, r);
      return NULL;
    }
    r->reading = true;
    r->commits = c->commits;
  }
  return r;
}

void parc__cache_reader_give(parc_cache *c, cache_reader *r) {
  r->last_use = parc__now();
  r->next = c->readers;
  c->readers = r;
  pthread_cond_signal(&c->reader_free);
}

void parc__cache_readers_release(parc_cache *c, double before) {
  for (cache_reader *r = c->readers; r; r = r->next)
    if (r->last_use < before) reader_end(r);
}

/* ---- clear and stats (lock held, batch committed) ------------------------ */

int parc__cache_db_clear(parc_cache *c, const char *name) {
  parc__cache_end_read(c);
  parc__cache_readers_release(c, HUGE_VAL);
  c->commits++;
  if (exec(c, "BEGIN IMMEDIATE") != SQLITE_OK)
    return parc__error(PARC_ESYS, "parc_cache_clear: %s: %s", c->file, sqlite3_errmsg(c->db));
  bool ok;
  if (name) {
    sqlite3_stmt *st = NULL;
    ok = sqlite3_prepare_v2(c->db,
                            "DELETE FROM results WHERE scope IN "
                            "(SELECT id FROM scopes WHERE name = ?1)", -1, &st, NULL) == SQLITE_OK;
    if (ok) sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
    ok = ok && sqlite3_step(st) == SQLITE_DONE;
    sqlite3_finalize(st);
    st = NULL;
    ok = ok && sqlite3_prepare_v2(c->db, "DELETE FROM scopes WHERE name = ?1", -1, &st, NULL) ==
                   SQLITE_OK;
    if (ok) sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
    ok = ok && sqlite3_step(st) == SQLITE_DONE;
    sqlite3_finalize(st);
    ok = ok && exec(c, "UPDATE meta SET v = (SELECT count(*) FROM results) WHERE k = 'entries';"
                       "UPDATE meta SET v = (SELECT coalesce(sum(length(kv) + 32), 0)"
                       " FROM results) WHERE k = 'bytes'") == SQLITE_OK;
  } else {
    ok = exec(c, "DELETE FROM results; DELETE FROM scopes; UPDATE meta SET v = 0") == SQLITE_OK;
  }
  if (!ok || exec(c, "COMMIT") != SQLITE_OK) {
    int status = parc__error(PARC_ESYS, "parc_cache_clear: %s: %s", c->file, sqlite3_errmsg(c->db));
    exec(c, "ROLLBACK");
    return status;
  }
  /* Forget the rows this process knew: new results recreate them. */
  for (parc__cache_scope *s = c->scopes; s; s = s->next)
    if (!name || strcmp(s->name, name) == 0) s->id = 0;
  /* Give the space back when everything went; fails harmlessly while
     another process reads. */
  if (!name) exec(c, "PRAGMA wal_checkpoint(TRUNCATE); VACUUM");
  return PARC_OK;
}

static uint64_t file_size(const char *path) {
  struct stat st;
  return stat(path, &st) == 0 ? (uint64_t)st.st_size : 0;
}

int parc__cache_db_stats(parc_cache *c, parc_cache_info *info) {
  memset(info, 0, sizeof *info);
  if (!parc__cache_begin_read(c))
    return parc__error(PARC_ESYS, "parc_cache_stats: %s: %s", c->file, sqlite3_errmsg(c->db));
  info->entries = (uint64_t)meta_get(c, "entries");
  info->bytes = (uint64_t)meta_get(c, "bytes");
  info->hits = (uint64_t)meta_get(c, "hits");
  info->misses = (uint64_t)meta_get(c, "misses");
  int64_t scopes = 0;
  query_int(c, "SELECT count(*) FROM scopes", &scopes);
  info->functions = (uint64_t)scopes;
  parc__cache_end_read(c);
  char *wal = parc__format("%s-wal", c->file);
  info->file_bytes = file_size(c->file) + (wal ? file_size(wal) : 0);
  parc__free(wal);
  return PARC_OK;
}
