/*
 * cache_open.c — opening the cache's SQLite file, and checking it first.
 *
 * Never trust, never destroy, never follow. A cache must never answer from
 * a file it cannot trust. A file that is not SQLite, or SQLite of another
 * application, is somebody's data: refuse it (PARC_EINVAL) and leave it
 * alone. A parc cache that SQLite calls corrupt (SQLITE_CORRUPT,
 * SQLITE_NOTADB) or that fails PRAGMA quick_check is moved aside to
 * *.damaged and rebuilt empty: results are recomputable, wrong ones are not
 * acceptable. Any other failure (a full disk, a read-only file system, a
 * lock, an I/O error) says nothing about the file: PARC_ESYS, and a healthy
 * cache stays as it is. Before anything opens them, the file and its -wal
 * and -shm must be absent or regular files: a link is never followed
 * (O_NOFOLLOW, SQLITE_OPEN_NOFOLLOW), a FIFO never blocks us (O_NONBLOCK),
 * and a directory that other users can write is refused unless it is
 * sticky and the files are ours, so that a link planted there cannot turn
 * our writes onto somebody's file.
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


const char parc__cache_sql_get[] = "SELECT h2, scope, used, kv FROM results WHERE id = ?1";
const char parc__cache_sql_scope_find[] =
    "SELECT id, context, by_index FROM scopes WHERE name = ?1 AND version = ?2 "
    "AND code = ?3 AND chash = ?4 AND context_size = ?5";

static const char *const statements[ST_COUNT] = {
    [ST_PUT] = "INSERT OR IGNORE INTO results(id, h2, scope, used, kv) VALUES(?1, ?2, ?3, ?4, ?5)",
    [ST_TOUCH] = "UPDATE results SET used = ?2 WHERE id = ?1 AND used < ?2",
    [ST_SCOPE_FIND] = parc__cache_sql_scope_find,
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

/* ---- opening ------------------------------------------------------------ */

enum { OPEN_OK, OPEN_DAMAGED, OPEN_FOREIGN, OPEN_FAILED };

int parc__cache_exec(parc_cache *c, const char *sql) {
  return sqlite3_exec(c->db, sql, NULL, NULL, NULL);
}

static int db_error(parc_cache *c, int status, const char *what) {
  return parc__error(status, "parc_cache_open: %s: %s: %s", c->file, what,
                     c->db ? sqlite3_errmsg(c->db) : "cannot open");
}

/* One integer from a pragma or query; false on any error. */
bool parc__cache_query_int(parc_cache *c, const char *sql, int64_t *value) {
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
  if (parc__cache_exec(c, "BEGIN IMMEDIATE") != SQLITE_OK) return db_error(c, PARC_ESYS, "cannot lock");
  int64_t tables = 0, app = 0;
  /* Another process may have created it while we waited for the lock. */
  if (!parc__cache_query_int(c, "PRAGMA application_id", &app) ||
      !parc__cache_query_int(c, "SELECT count(*) FROM sqlite_master", &tables)) {
    parc__cache_exec(c, "ROLLBACK");
    return db_error(c, PARC_ESYS, "cannot read the schema");
  }
  if (app == 0 && tables == 0) {
    char sql[sizeof schema + 128];
    snprintf(sql, sizeof sql, "%sPRAGMA application_id = %d; PRAGMA user_version = %d;", schema,
             CACHE_APP_ID, CACHE_SCHEMA);
    if (parc__cache_exec(c, sql) != SQLITE_OK) {
      int rc = db_error(c, PARC_ESYS, "cannot create the schema");
      parc__cache_exec(c, "ROLLBACK");
      return rc;
    }
  }
  if (parc__cache_exec(c, "COMMIT") != SQLITE_OK) {
    int rc = db_error(c, PARC_ESYS, "cannot commit the schema");
    parc__cache_exec(c, "ROLLBACK");
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
  if (!parc__cache_query_int(c, "PRAGMA application_id", &app)) return db_failed(c, "cannot read the header");
  if (app == 0) {
    if (!parc__cache_query_int(c, "SELECT count(*) FROM sqlite_master", &tables))
      return db_failed(c, "cannot read the schema");
    /* Tables but no id: another application's, unless another process
       committed our schema between the two queries; ask again. */
    if (tables != 0 && !parc__cache_query_int(c, "PRAGMA application_id", &app))
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
    if (!parc__cache_query_int(c, "PRAGMA user_version", &version))
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
  parc__cache_exec(c, "PRAGMA synchronous = NORMAL; PRAGMA cache_size = -262144;"
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

void parc__cache_reader_close(cache_reader *r) {
  sqlite3_finalize(r->get);
  sqlite3_finalize(r->scope_find);
  if (r->db) sqlite3_close_v2(r->db);
  parc__free(r);
}

static void close_db(parc_cache *c) {
  while (c->readers) {
    cache_reader *r = c->readers;
    c->readers = r->next;
    parc__cache_reader_close(r);
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

