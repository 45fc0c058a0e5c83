/*
 * cache_db.h — what cache.c (keys, scopes, the API) and cache_db.c (the
 * SQLite file: open, check, batches, eviction) share. Private to them.
 *
 * Lock: one mutex per cache, c->lock, guards every field below that is not
 * marked otherwise, and the main SQLite connection c->db (opened NOMUTEX:
 * this lock is its only guard), which writes batches, finds and creates
 * scopes' rows, clears and counts. Worker threads, the caller and the
 * committer thread all take it; nothing else is ever held while it is.
 *
 * Lookups read through reader connections (cache_reader), one per thread
 * that is looking something up at the moment, so that hits on several
 * threads do not queue for one lock. A reader is taken from c->readers
 * under the lock and used outside it by that thread alone, then given back.
 */
#ifndef PARC_CACHE_DB_H
#define PARC_CACHE_DB_H

#include "parc_internal.h"

#include <sqlite3.h>
#define XXH_STATIC_LINKING_ONLY   /* XXH3_state_t on the stack, XXH3_generateSecret */
#include <xxhash.h>

#define CACHE_FILE "parc-cache.sqlite"
#define CACHE_APP_ID 0x70617263   /* "parc" */
#define CACHE_SCHEMA 2          /* 2: one kv blob (key then value) per result */
#define CACHE_BATCH_SECONDS 0.5
#define CACHE_PENDING_MAX ((size_t)64 << 20)   /* bytes buffered before an early commit */
#define CACHE_ENTRY_OVERHEAD 32
#define CACHE_CONTEXT_STORED_MAX ((size_t)1 << 20)
#define CACHE_READERS_MAX 16     /* reader connections per handle */
/* Part of the file's format, fixed forever: a key (cache_filter.c's key
   bytes, trailer included) of at most this many bytes is named by SipHash
   and stored in full; a longer one is named by XXH3-128 and stored as a
   CACHE_KEY_STUB_SIZE-byte stub. Changing it orphans the entries between
   the old and the new value (misses, never wrong hits). */
#define CACHE_KEY_STORED_MAX 4096
#define CACHE_KEY_STUB_SIZE 9      /* the key's length (8 bytes), its mode byte | 0x80 */
#define CACHE_XXH_SECRET_SIZE 192  /* XXH3_SECRET_DEFAULT_SIZE */

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
  uint8_t secret[CACHE_XXH_SECRET_SIZE];   /* XXH3 secret, from key, for large keys */
  int64_t id;                 /* its row in `scopes`; 0 = not found there yet */
  uint64_t looked_epoch;      /* c->commits + 1 at the last lookup that found no row */
  bool wanted;                /* has results pending: create the row at commit */
  bool index_dirty;           /* by_index must be written at commit */
  _Atomic bool by_index;      /* results keyed by seed and index too */
};

/* A result waiting for the next batch, in c->arena: this header, then
   key bytes and value bytes (the row's kv), padded to 8 bytes. */
typedef struct cache_pending {
  int64_t h1, h2;
  parc__cache_scope *scope;
  uint32_t key_size, value_size;
} cache_pending;

#define CACHE_PENDING_BYTES(p) ((unsigned char *)((cache_pending *)(p) + 1))

enum {
  ST_PUT, ST_TOUCH, ST_SCOPE_FIND, ST_SCOPE_ADD, ST_SCOPE_INDEX, ST_META_ADD, ST_META_GET,
  ST_COUNT
};

/* A read-only connection for lookups. Idle ones wait in c->readers (and
   the fields are then guarded by c->lock); a taken one belongs to the
   thread that took it. */
typedef struct cache_reader {
  struct cache_reader *next;
  sqlite3 *db;
  sqlite3_stmt *get, *scope_find;
  bool reading;               /* a read transaction (a snapshot) is open */
  uint64_t commits;           /* c->commits when it began */
  double last_use;
} cache_reader;

struct parc_cache {
  char *dir, *file;
  parc_cache_options opt;
  sqlite3 *db;
  sqlite3_stmt *st[ST_COUNT];
  pthread_mutex_t lock;
  pthread_cond_t wake;        /* the committer: work arrived, or closing */
  pthread_t thread;
  bool thread_started, closing;
  bool reading;               /* c->db has a read transaction open (stats) */
  uint64_t commits;           /* batches and clears written by this handle: a
                                 reader's older snapshot is renewed when taken */
  cache_reader *readers;      /* idle readers */
  int nreaders;               /* readers open, idle or taken */
  pthread_cond_t reader_free; /* a reader was given back */
  bool broken;                /* storage failed: every lookup misses, nothing is stored */
  double last_commit, last_use;
  int64_t recency_ms;
  parc__cache_scope *scopes;
  unsigned char *arena;       /* the pending results, one after another */
  size_t arena_used, arena_capacity;
  size_t *pending;            /* offset of each pending result in arena */
  size_t npending, pending_capacity;
  size_t *slots;              /* open addressing on h1: pending index + 1, 0 = empty */
  size_t nslots;
  int64_t *touched;           /* ids whose recency the next batch refreshes */
  size_t ntouched, touched_capacity;
  int64_t hits, misses;       /* not yet added to meta */
};

/* cache_open.c: the statements and helpers both files use. */
extern const char parc__cache_sql_get[];
extern const char parc__cache_sql_scope_find[];
int parc__cache_exec(parc_cache *c, const char *sql);           /* sqlite3_exec on c->db */
bool parc__cache_query_int(parc_cache *c, const char *sql, int64_t *value);  /* false: error */
void parc__cache_reader_close(cache_reader *r);
/* cache_open.c and cache_db.c */
int parc__cache_db_open(parc_cache *c);            /* opens, checks, rebuilds; message set */
void parc__cache_db_close(parc_cache *c);
int parc__cache_commit(parc_cache *c);             /* the batch; lock held */
/* Readers (lock held). take: an idle reader or a new one, its snapshot
   renewed if this handle committed since it began; waits while
   CACHE_READERS_MAX are taken; NULL when none can be opened. */
cache_reader *parc__cache_reader_take(parc_cache *c);
void parc__cache_reader_give(parc_cache *c, cache_reader *r);
/* Ends the snapshots of idle readers unused since `before` (all: +inf),
   so that checkpoints can go past them. */
void parc__cache_readers_release(parc_cache *c, double before);
void parc__cache_end_read(parc_cache *c);          /* lock held */
bool parc__cache_begin_read(parc_cache *c);        /* lock held */
void parc__cache_broken(parc_cache *c, const char *what);   /* lock held */
/* Finds s's row with st (a SCOPE_FIND statement of c->db or a reader);
   lock held. */
bool parc__cache_scope_lookup(sqlite3_stmt *st, parc__cache_scope *s);
int parc__cache_db_clear(parc_cache *c, const char *name);  /* lock held */
int parc__cache_db_stats(parc_cache *c, parc_cache_info *info);   /* lock held */
int64_t parc__cache_now_ms(void);
/* cache_filter.c: commits when the batch is due or large (lock held). */
void parc__cache_maybe_commit(parc_cache *c, double now);
/* parc_cache_call's body once the scope is known: lookup, run, store. */
int parc__cache_call_one(parc__cache_scope *s, parc_fn fn, const void *in, size_t in_size,
                         void *out, size_t out_size, const void *context, size_t context_size);
/* cache_hash.c: XXH3-128 under a secret, streaming (the hash of keys
   longer than CACHE_KEY_STORED_MAX). secret: 192 bytes made from a 16-byte
   key by parc__xxh128_secret; borrowed by init until final. */
typedef struct parc__xxh128 { XXH3_state_t state; } parc__xxh128;
void parc__xxh128_secret(uint8_t secret[CACHE_XXH_SECRET_SIZE], const uint8_t key[16]);
void parc__xxh128_init(parc__xxh128 *s, const uint8_t secret[CACHE_XXH_SECRET_SIZE]);
void parc__xxh128_update(parc__xxh128 *s, const void *data, size_t n);
void parc__xxh128_final(const parc__xxh128 *s, uint8_t out[16]);
/* cache_hash.c: a fast 64-bit checksum (not a MAC). */
uint64_t parc__checksum64(const void *data, size_t n);
/* The stored check column: the key hash's second half XOR the value's checksum. */
static inline int64_t parc__cache_check(int64_t h2, const void *value, size_t n) {
  return (int64_t)((uint64_t)h2 ^ parc__checksum64(n ? value : "", n));
}

#endif
