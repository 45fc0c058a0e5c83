/*
 * cache_db.h — what cache.c (keys, scopes, the API) and cache_db.c (the
 * SQLite file: open, check, batches, eviction) share. Private to them.
 *
 * Lock: one mutex per cache, c->lock, guards every field below that is not
 * marked otherwise, and the SQLite connection (opened NOMUTEX: this lock is
 * its only guard). Worker threads, the caller and the committer thread all
 * take it; nothing else is ever held while it is.
 */
#ifndef PARC_CACHE_DB_H
#define PARC_CACHE_DB_H

#include "parc_internal.h"

#include <sqlite3.h>

#define CACHE_FILE "parc-cache.sqlite"
#define CACHE_APP_ID 0x70617263   /* "parc" */
#define CACHE_SCHEMA 1
#define CACHE_BATCH_SECONDS 0.5
#define CACHE_PENDING_MAX ((size_t)64 << 20)   /* bytes buffered before an early commit */
#define CACHE_ENTRY_OVERHEAD 32
#define CACHE_CONTEXT_STORED_MAX ((size_t)1 << 20)

struct parc__cache_scope {
  parc__cache_scope *next;
  parc_cache *cache;
  parc_fn fn;
  char *name, *version;
  bool auto_name;             /* name is fn's symbol name (cache_name was NULL) */
  bool has_code;
  uint8_t code[16];           /* SipHash of the function's machine code */
  uint8_t chash[16];          /* SipHash of the context bytes */
  size_t context_size;
  void *context;              /* a copy, when context_size <= CACHE_CONTEXT_STORED_MAX */
  uint8_t key[16];            /* SipHash key of this scope's results */
  int64_t id;                 /* its row in `scopes`; 0 = not found there yet */
  uint64_t looked_epoch;      /* c->epoch of the last lookup that found no row */
  bool wanted;                /* has results pending: create the row at commit */
  bool index_dirty;           /* by_index must be written at commit */
  _Atomic bool by_index;      /* results keyed by seed and index too */
};

/* A result waiting for the next batch: key bytes, then value bytes. */
typedef struct cache_pending {
  int64_t h1, h2;
  parc__cache_scope *scope;
  size_t key_size, value_size;
  unsigned char bytes[];
} cache_pending;

enum {
  ST_GET, ST_PUT, ST_TOUCH, ST_SCOPE_FIND, ST_SCOPE_ADD, ST_SCOPE_INDEX, ST_META_ADD,
  ST_META_GET, ST_COUNT
};

struct parc_cache {
  char *dir, *file;
  parc_cache_options opt;
  sqlite3 *db;
  sqlite3_stmt *st[ST_COUNT];
  pthread_mutex_t lock;
  pthread_cond_t wake;        /* the committer: work arrived, or closing */
  pthread_t thread;
  bool thread_started, closing;
  bool reading;               /* a read transaction is open */
  uint64_t epoch;             /* read transactions begun: a new snapshot each */
  bool broken;                /* storage failed: every lookup misses, nothing is stored */
  double last_commit, last_use;
  int64_t recency_ms;
  parc__cache_scope *scopes;
  cache_pending **pending;
  size_t npending, pending_capacity, pending_bytes;
  size_t *slots;              /* open addressing on h1: pending index + 1, 0 = empty */
  size_t nslots;
  int64_t *touched;           /* ids whose recency the next batch refreshes */
  size_t ntouched, touched_capacity;
  int64_t hits, misses;       /* not yet added to meta */
};

/* cache_db.c */
int parc__cache_db_open(parc_cache *c);            /* opens, checks, rebuilds; message set */
void parc__cache_db_close(parc_cache *c);
int parc__cache_commit(parc_cache *c);             /* the batch; lock held */
void parc__cache_end_read(parc_cache *c);          /* lock held */
bool parc__cache_begin_read(parc_cache *c);        /* lock held */
void parc__cache_broken(parc_cache *c, const char *what);   /* lock held */
bool parc__cache_scope_lookup(parc_cache *c, parc__cache_scope *s);   /* lock held */
int parc__cache_db_clear(parc_cache *c, const char *name);  /* lock held */
int parc__cache_db_stats(parc_cache *c, parc_cache_info *info);   /* lock held */
int64_t parc__cache_now_ms(void);
/* cache.c: the stored check column: h2 XOR a hash of the value. */
int64_t parc__cache_check(const parc__cache_scope *s, int64_t h2, const void *value, size_t n);

#endif
