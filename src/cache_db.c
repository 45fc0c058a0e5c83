/*
 * cache_db.c — the cache's SQLite file once open: write batches, evict,
 * readers, clear, count (cache_open.c opens and checks it).
 *
 * Why batches: one SQLite commit costs a WAL write and, with
 * synchronous=NORMAL, no fsync until a checkpoint; but a million commits of
 * one row still cost seconds. So results wait in memory (cache.c) and one
 * write transaction stores all of them, at least every CACHE_BATCH_SECONDS.
 * A kill -9 loses the batch in memory, never the file: WAL commits are
 * atomic. The write lock is held only while a batch is written, so several
 * processes share one cache; readers never block (WAL snapshots).
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

int64_t parc__cache_now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}


/* ---- transactions ------------------------------------------------------- */

void parc__cache_broken(parc_cache *c, const char *what) {
  if (!c->broken && c->opt.verbose > 0)
    fprintf(stderr, "parc cache: %s: %s: %s; the cache is off for this handle\n", c->file, what,
            sqlite3_errmsg(c->db));
  c->broken = true;
}

bool parc__cache_begin_read(parc_cache *c) {
  if (c->reading) return true;
  if (parc__cache_exec(c, "BEGIN") != SQLITE_OK) return false;
  c->reading = true;
  return true;
}

void parc__cache_end_read(parc_cache *c) {
  if (!c->reading) return;
  for (int i = 0; i < ST_COUNT; i++) sqlite3_reset(c->st[i]);
  parc__cache_exec(c, "COMMIT");
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
  int rc = parc__cache_exec(c, "BEGIN IMMEDIATE");
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
  if (!write_batch(c, parc__cache_now_ms()) || parc__cache_exec(c, "COMMIT") != SQLITE_OK) {
    int status = parc__error(PARC_ESYS, "parc cache: %s: cannot write a batch: %s", c->file,
                             sqlite3_errmsg(c->db));
    parc__cache_broken(c, "cannot write a batch");
    parc__cache_exec(c, "ROLLBACK");
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
         sqlite3_prepare_v3(r->db, parc__cache_sql_get, -1, SQLITE_PREPARE_PERSISTENT, &r->get, NULL) ==
             SQLITE_OK &&
         sqlite3_prepare_v3(r->db, parc__cache_sql_scope_find, -1, SQLITE_PREPARE_PERSISTENT, &r->scope_find,
                            NULL) == SQLITE_OK;
  }
  if (!ok) {
    if (c->opt.verbose > 0)
      fprintf(stderr, "parc cache: %s: cannot open a reader: %s\n", c->file,
              r->db ? sqlite3_errmsg(r->db) : "out of memory");
    parc__cache_reader_close(r);
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
  if (parc__cache_exec(c, "BEGIN IMMEDIATE") != SQLITE_OK)
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
    ok = ok && parc__cache_exec(c, "UPDATE meta SET v = (SELECT count(*) FROM results) WHERE k = 'entries';"
                       "UPDATE meta SET v = (SELECT coalesce(sum(length(kv) + 32), 0)"
                       " FROM results) WHERE k = 'bytes'") == SQLITE_OK;
  } else {
    ok = parc__cache_exec(c, "DELETE FROM results; DELETE FROM scopes; UPDATE meta SET v = 0") == SQLITE_OK;
  }
  if (!ok || parc__cache_exec(c, "COMMIT") != SQLITE_OK) {
    int status = parc__error(PARC_ESYS, "parc_cache_clear: %s: %s", c->file, sqlite3_errmsg(c->db));
    parc__cache_exec(c, "ROLLBACK");
    return status;
  }
  /* Forget the rows this process knew: new results recreate them. */
  for (parc__cache_scope *s = c->scopes; s; s = s->next)
    if (!name || strcmp(s->name, name) == 0) s->id = 0;
  /* Give the space back when everything went; fails harmlessly while
     another process reads. */
  if (!name) parc__cache_exec(c, "PRAGMA wal_checkpoint(TRUNCATE); VACUUM");
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
  parc__cache_query_int(c, "SELECT count(*) FROM scopes", &scopes);
  info->functions = (uint64_t)scopes;
  parc__cache_end_read(c);
  char *wal = parc__format("%s-wal", c->file);
  info->file_bytes = file_size(c->file) + (wal ? file_size(wal) : 0);
  parc__free(wal);
  return PARC_OK;
}
