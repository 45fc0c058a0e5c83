/*
 * cache.c — parc_cache: memoized task results on disk (joblib.Memory).
 *
 * A result's key has two layers. The scope names the computation: the
 * function's name, version, a fingerprint of its machine code and the
 * context bytes; it is resolved once per group and function (in memory,
 * then once against the `scopes` table). Its 128-bit hash is the SipHash
 * key for every result of the scope, so a task's lookup hashes only its own
 * bytes: input, dependency outputs, and seed and index for functions that
 * use them. The first 64 bits of that hash are the row id (SQLite's
 * fastest lookup), the next 64 are stored beside it (mixed with a hash of
 * the output, so a damaged output is noticed), and the key bytes are
 * stored and compared in full: a collision can only cost a miss.
 *
 * Hits read the database directly (inside one read transaction, renewed
 * at each batch); misses that succeed wait in `pending`, indexed by hash
 * so a lookup sees them before they are committed. cache_db.c writes the
 * batches; the committer thread below makes sure one is written at least
 * every CACHE_BATCH_SECONDS even when no task comes along to do it.
 */
#include "cache_db.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

struct parc__cache_binding {
  parc_cache *cache;
  char *name;                   /* NULL: each function's symbol name */
  char *version;
  const void *context;          /* borrowed: the group's */
  size_t context_size;
  uint8_t chash[16];
  parc_fn last_fn;              /* the last scope_of answer (cache lock) */
  parc__cache_scope *last_scope;
};

/* The fixed SipHash key for scopes and code fingerprints ("parc cache v1 "). */
static const uint8_t base_key[16] = {'p', 'a', 'r', 'c', ' ', 'c', 'a', 'c',
                                     'h', 'e', ' ', 'v', '1', ' ', ' ', ' '};

static void hash_bytes(const uint8_t key[16], const void *data, size_t n, uint8_t out[16]) {
  parc__siphash s;
  parc__siphash_init(&s, key);
  parc__siphash_update(&s, data, n);
  parc__siphash_final(&s, out);
}

static void put64(uint8_t *p, uint64_t v) {
  for (int i = 0; i < 8; i++) p[i] = (uint8_t)(v >> (8 * i));
}

static int64_t get64(const uint8_t *p) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; i--) v = (v << 8) | p[i];
  return (int64_t)v;
}

/* ---- keys ---------------------------------------------------------------- */
/* A task's key bytes: the input, each dependency's output, then a trailer:
   [each dependency's size, their count] if any, [seed, index] if keyed by
   index, and one mode byte saying which. Hashing, storing and comparing
   all walk the same pieces, so they cannot disagree. */

typedef struct key_parts {
  const void *in;
  size_t in_size;
  const parc__dep *deps;
  size_t ndeps;
  bool by_index;
  uint64_t seed, index;
} key_parts;

typedef void (*piece_fn)(void *arg, const void *data, size_t n);

static void walk_key(const key_parts *k, piece_fn fn, void *arg) {
  if (k->in_size) fn(arg, k->in, k->in_size);
  for (size_t i = 0; i < k->ndeps; i++)
    if (k->deps[i].size) fn(arg, k->deps[i].data, k->deps[i].size);
  uint8_t word[8];
  for (size_t i = 0; i < k->ndeps; i++) {
    put64(word, k->deps[i].size);
    fn(arg, word, 8);
  }
  if (k->ndeps) {
    put64(word, k->ndeps);
    fn(arg, word, 8);
  }
  if (k->by_index) {
    put64(word, k->seed);
    fn(arg, word, 8);
    put64(word, k->index);
    fn(arg, word, 8);
  }
  uint8_t mode = (uint8_t)((k->ndeps ? 1 : 0) | (k->by_index ? 2 : 0));
  fn(arg, &mode, 1);
}

static void piece_hash(void *arg, const void *data, size_t n) {
  parc__siphash_update(arg, data, n);
}

static void piece_size(void *arg, const void *data, size_t n) {
  (void)data;
  *(size_t *)arg += n;
}

static void piece_copy(void *arg, const void *data, size_t n) {
  unsigned char **dst = arg;
  memcpy(*dst, data, n);
  *dst += n;
}

typedef struct compare_state {
  const unsigned char *p;
  size_t left;
  bool equal;
} compare_state;

static void piece_compare(void *arg, const void *data, size_t n) {
  compare_state *s = arg;
  if (!s->equal) return;
  if (n > s->left || memcmp(s->p, data, n) != 0) {
    s->equal = false;
    return;
  }
  s->p += n;
  s->left -= n;
}

static bool key_equal(const key_parts *k, const void *stored, size_t size) {
  compare_state s = {stored, size, true};
  walk_key(k, piece_compare, &s);
  return s.equal && s.left == 0;
}

static void key_hash(const parc__cache_scope *scope, const key_parts *k, int64_t *h1,
                     int64_t *h2) {
  parc__siphash s;
  uint8_t out[16];
  parc__siphash_init(&s, scope->key);
  walk_key(k, piece_hash, &s);
  parc__siphash_final(&s, out);
  *h1 = get64(out);
  *h2 = get64(out + 8);
}

/* What is stored beside the key: the second half of the key's hash XOR a
   hash of the output. SQLite checks pages' structure, not the bytes of a
   blob, so this is what catches a flipped bit inside a stored output. */
int64_t parc__cache_check(const parc__cache_scope *s, int64_t h2, const void *value, size_t n) {
  uint8_t out[16];
  hash_bytes(s->key, n ? value : "", n, out);
  return h2 ^ get64(out);
}

/* ---- scopes -------------------------------------------------------------- */

static void scope_free(parc__cache_scope *s) {
  if (!s) return;
  parc__free(s->name);
  parc__free(s->version);
  parc__free(s->context);
  parc__free(s);
}

static void scope_derive_key(parc__cache_scope *s) {
  parc__siphash h;
  uint8_t word[8];
  parc__siphash_init(&h, base_key);
  parc__siphash_update(&h, "scope", 6);
  parc__siphash_update(&h, s->name, strlen(s->name) + 1);
  parc__siphash_update(&h, s->version, strlen(s->version) + 1);
  uint8_t has_code = s->has_code;
  parc__siphash_update(&h, &has_code, 1);
  if (s->has_code) parc__siphash_update(&h, s->code, 16);
  put64(word, s->context_size);
  parc__siphash_update(&h, word, 8);
  parc__siphash_update(&h, s->chash, 16);
  parc__siphash_final(&h, s->key);
}

/* Builds a scope outside the lock (reading the ELF file takes time). */
static int scope_new(parc__cache_binding *b, parc_fn fn, parc__cache_scope **out) {
  *out = NULL;
  char *symbol = NULL;
  size_t code_size = 0;
  bool found = parc__fn_symbol(fn, &symbol, &code_size);
  if (!b->name && !found)
    return parc__error(PARC_EINVAL,
                       "parc cache: cache_name is NULL and the function has no symbol name "
                       "(stripped binary?): set parc_options.cache_name");
  parc__cache_scope *s = parc__calloc(1, sizeof *s);
  if (!s) goto nomem;
  s->cache = b->cache;
  s->fn = fn;
  s->name = parc__strdup(b->name ? b->name : symbol);
  s->auto_name = !b->name;
  s->version = parc__strdup(b->version);
  if (!s->name || !s->version) goto nomem;
  if (found && code_size) {
    const void *code;
    memcpy(&code, &fn, sizeof code);
    hash_bytes(base_key, code, code_size, s->code);
    s->has_code = true;
  }
  memcpy(s->chash, b->chash, 16);
  s->context_size = b->context_size;
  if (b->context_size && b->context_size <= CACHE_CONTEXT_STORED_MAX) {
    s->context = parc__malloc(b->context_size);
    if (!s->context) goto nomem;
    memcpy(s->context, b->context, b->context_size);
  }
  scope_derive_key(s);
  parc__free(symbol);
  *out = s;
  return PARC_OK;
nomem:
  parc__free(symbol);
  scope_free(s);
  return parc__error(PARC_ENOMEM, "parc cache: out of memory");
}

static bool scope_same(const parc__cache_scope *a, const parc__cache_scope *b) {
  return a->fn == b->fn && a->auto_name == b->auto_name && strcmp(a->name, b->name) == 0 &&
         strcmp(a->version, b->version) == 0 && a->context_size == b->context_size &&
         memcmp(a->chash, b->chash, 16) == 0;
}

/* Does s belong to binding b and fn? Checked before building a new scope,
   which means reading the ELF file. */
static bool scope_matches(const parc__cache_scope *s, const parc__cache_binding *b, parc_fn fn) {
  if (s->fn != fn || s->auto_name != !b->name) return false;
  if (b->name && strcmp(s->name, b->name) != 0) return false;
  return strcmp(s->version, b->version) == 0 && s->context_size == b->context_size &&
         memcmp(s->chash, b->chash, 16) == 0;
}

int parc__cache_bind(parc__cache_binding **out, parc_cache *c, const char *name,
                     const char *version, const void *context, size_t context_size) {
  *out = NULL;
  parc__cache_binding *b = parc__calloc(1, sizeof *b);
  if (!b) return parc__error(PARC_ENOMEM, "parc cache: out of memory");
  b->cache = c;
  b->name = name ? parc__strdup(name) : NULL;
  b->version = parc__strdup(version ? version : "");
  if ((name && !b->name) || !b->version) {
    parc__cache_unbind(b);
    return parc__error(PARC_ENOMEM, "parc cache: out of memory");
  }
  b->context = context_size ? context : NULL;
  b->context_size = context_size;
  hash_bytes(base_key, context_size ? context : "", context_size, b->chash);
  *out = b;
  return PARC_OK;
}

void parc__cache_unbind(parc__cache_binding *b) {
  if (!b) return;
  parc__free(b->name);
  parc__free(b->version);
  parc__free(b);
}

int parc__cache_scope_of(parc__cache_binding *b, parc_fn fn, parc__cache_scope **out) {
  parc_cache *c = b->cache;
  pthread_mutex_lock(&c->lock);
  parc__cache_scope *s = b->last_fn == fn ? b->last_scope : NULL;
  for (parc__cache_scope *t = c->scopes; t && !s; t = t->next)
    if (scope_matches(t, b, fn)) s = t;
  pthread_mutex_unlock(&c->lock);
  if (s) {
    *out = s;
    return PARC_OK;
  }
  parc__cache_scope *made;
  int rc = scope_new(b, fn, &made);
  if (rc) return rc;
  pthread_mutex_lock(&c->lock);
  for (s = c->scopes; s && !scope_same(s, made); s = s->next) {
  }
  if (s) {
    scope_free(made);
  } else {
    s = made;
    s->next = c->scopes;
    c->scopes = s;
  }
  b->last_fn = fn;
  b->last_scope = s;
  pthread_mutex_unlock(&c->lock);
  *out = s;
  return PARC_OK;
}

/* ---- lookups and stores (lock held) --------------------------------------- */

static void maybe_commit(parc_cache *c, double now) {
  if (now - c->last_commit >= CACHE_BATCH_SECONDS || c->pending_bytes > CACHE_PENDING_MAX)
    parc__cache_commit(c);
}

static cache_pending *pending_find(const parc_cache *c, int64_t h1) {
  if (!c->nslots) return NULL;
  size_t mask = c->nslots - 1;
  for (size_t i = (size_t)h1 & mask;; i = (i + 1) & mask) {
    size_t slot = c->slots[i];
    if (!slot) return NULL;
    if (c->pending[slot - 1]->h1 == h1) return c->pending[slot - 1];
  }
}

static void slot_insert(parc_cache *c, size_t index) {
  size_t mask = c->nslots - 1;
  size_t i = (size_t)c->pending[index]->h1 & mask;
  while (c->slots[i]) i = (i + 1) & mask;
  c->slots[i] = index + 1;
}

static bool pending_add(parc_cache *c, cache_pending *p) {
  if (c->npending == c->pending_capacity) {
    size_t capacity = c->pending_capacity ? c->pending_capacity * 2 : 256;
    cache_pending **grown = parc__realloc(c->pending, capacity * sizeof *grown);
    if (!grown) return false;
    c->pending = grown;
    c->pending_capacity = capacity;
  }
  if (2 * (c->npending + 1) > c->nslots) {
    size_t nslots = c->nslots ? c->nslots * 2 : 512;
    size_t *slots = parc__calloc(nslots, sizeof *slots);
    if (!slots) return false;
    parc__free(c->slots);
    c->slots = slots;
    c->nslots = nslots;
    for (size_t i = 0; i < c->npending; i++) slot_insert(c, i);
  }
  c->pending[c->npending] = p;
  slot_insert(c, c->npending++);
  c->pending_bytes += p->key_size + p->value_size + sizeof *p;
  return true;
}

static void touch(parc_cache *c, int64_t id) {
  if (c->ntouched == c->touched_capacity) {
    size_t capacity = c->touched_capacity ? c->touched_capacity * 2 : 1024;
    int64_t *grown = parc__realloc(c->touched, capacity * sizeof *grown);
    if (!grown) return;   /* recency is advice; losing one is harmless */
    c->touched = grown;
    c->touched_capacity = capacity;
  }
  c->touched[c->ntouched++] = id;
}

/* Looks the row up in the database; true and output copied on a hit. */
static bool db_get(parc_cache *c, parc__cache_scope *s, const key_parts *k, int64_t h1,
                   int64_t h2, void *out, size_t out_size) {
  if (!parc__cache_begin_read(c)) return false;
  if (s->id == 0) {
    /* Look for the scope once per snapshot: another process may add it. */
    if (s->looked_epoch == c->epoch || !parc__cache_scope_lookup(c, s)) {
      s->looked_epoch = c->epoch;
      return false;
    }
  }
  sqlite3_stmt *st = c->st[ST_GET];
  sqlite3_bind_int64(st, 1, h1);
  int rc = sqlite3_step(st);
  bool hit = false;
  if (rc == SQLITE_ROW) {
    const void *key = sqlite3_column_blob(st, 2);
    size_t key_size = (size_t)sqlite3_column_bytes(st, 2);
    const void *value = sqlite3_column_blob(st, 3);
    size_t value_size = (size_t)sqlite3_column_bytes(st, 3);
    hit = sqlite3_column_int64(st, 1) == s->id && value_size == out_size &&
          key_equal(k, key ? key : "", key_size) &&
          sqlite3_column_int64(st, 0) == parc__cache_check(s, h2, value, value_size);
    if (hit) {
      if (out_size) memcpy(out, value, out_size);
      if (sqlite3_column_int64(st, 4) < parc__cache_now_ms() - c->recency_ms) touch(c, h1);
    }
  } else if (rc != SQLITE_DONE && rc != SQLITE_BUSY && rc != SQLITE_LOCKED) {
    parc__cache_broken(c, "cannot read");
  }
  sqlite3_reset(st);
  return hit;
}

static bool lookup(parc__cache_scope *s, const key_parts *k, void *out, size_t out_size) {
  parc_cache *c = s->cache;
  int64_t h1, h2;
  key_hash(s, k, &h1, &h2);
  pthread_mutex_lock(&c->lock);
  double now = parc__now();
  c->last_use = now;
  bool hit = false;
  if (!c->broken) {
    maybe_commit(c, now);
    cache_pending *p = pending_find(c, h1);
    if (p && p->h2 == h2 && p->scope == s && p->value_size == out_size &&
        key_equal(k, p->bytes, p->key_size)) {
      if (out_size) memcpy(out, p->bytes + p->key_size, out_size);
      hit = true;
    } else if (!p) {
      hit = db_get(c, s, k, h1, h2, out, out_size);
    }
  }
  if (hit) c->hits++;
  else c->misses++;
  pthread_mutex_unlock(&c->lock);
  return hit;
}

static void store(parc__cache_scope *s, const key_parts *k, const void *value, size_t value_size) {
  parc_cache *c = s->cache;
  size_t key_size = 0;
  walk_key(k, piece_size, &key_size);
  if (key_size > (size_t)INT32_MAX || value_size > (size_t)INT32_MAX) return;  /* SQLite's limit */
  cache_pending *p = parc__malloc(sizeof *p + key_size + value_size);
  if (!p) return;
  key_hash(s, k, &p->h1, &p->h2);
  p->scope = s;
  p->key_size = key_size;
  p->value_size = value_size;
  unsigned char *dst = p->bytes;
  walk_key(k, piece_copy, &dst);
  if (value_size) memcpy(p->bytes + key_size, value, value_size);
  pthread_mutex_lock(&c->lock);
  c->last_use = parc__now();
  if (c->broken || pending_find(c, p->h1) || !pending_add(c, p)) {
    parc__free(p);
  } else {
    s->wanted = true;
    if (c->npending == 1) pthread_cond_signal(&c->wake);   /* start the half-second clock */
    maybe_commit(c, c->last_use);
  }
  pthread_mutex_unlock(&c->lock);
}

static void job_key(const parc__job *job, size_t offset, bool by_index, key_parts *k) {
  k->in = job->in_size ? job->in + offset * job->in_size : NULL;
  k->in_size = job->in_size;
  k->deps = job->deps;
  k->ndeps = job->ndeps;
  k->by_index = by_index;
  k->seed = parc__group_seed(job->group);
  k->index = job->index_base + offset;
}

bool parc__cache_fetch(parc__job *job, size_t offset) {
  parc__cache_scope *s = job->cache_scope;
  key_parts k;
  job_key(job, offset, atomic_load_explicit(&s->by_index, memory_order_relaxed), &k);
  return lookup(s, &k, job->out_size ? job->out + offset * job->out_size : NULL, job->out_size);
}

void parc__cache_store(parc__job *job, size_t offset, bool used_index) {
  parc__cache_scope *s = job->cache_scope;
  if (used_index && !atomic_load(&s->by_index)) {
    pthread_mutex_lock(&s->cache->lock);
    atomic_store(&s->by_index, true);
    s->index_dirty = true;
    pthread_mutex_unlock(&s->cache->lock);
  }
  key_parts k;
  job_key(job, offset, atomic_load(&s->by_index), &k);
  store(s, &k, job->out_size ? job->out + offset * job->out_size : NULL, job->out_size);
}

void parc__cache_set_recency(parc_cache *c, int64_t ms) {
  pthread_mutex_lock(&c->lock);
  c->recency_ms = ms;
  pthread_mutex_unlock(&c->lock);
}

/* ---- the committer thread ----------------------------------------------- */

static void *committer(void *arg) {
  parc_cache *c = arg;
  pthread_mutex_lock(&c->lock);
  while (!c->closing) {
    double now = parc__now();
    double wait = CACHE_BATCH_SECONDS;
    if (c->npending || c->ntouched || c->hits || c->misses) {
      double due = c->last_commit + CACHE_BATCH_SECONDS;
      if (now >= due) {
        parc__cache_commit(c);
        continue;
      }
      wait = due - now;
    } else if (c->reading && now - c->last_use >= CACHE_BATCH_SECONDS) {
      /* Idle: let go of the snapshot so other processes can checkpoint. */
      parc__cache_end_read(c);
    }
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    long long ns = ts.tv_nsec + (long long)(wait * 1e9);
    ts.tv_sec += (time_t)(ns / 1000000000);
    ts.tv_nsec = (long)(ns % 1000000000);
    pthread_cond_timedwait(&c->wake, &c->lock, &ts);
  }
  pthread_mutex_unlock(&c->lock);
  return NULL;
}

/* ---- the public API ------------------------------------------------------ */

/* mkdir -p with mode 0700 for what it creates. */
static int make_directory(const char *path) {
  char *copy = parc__strdup(path);
  if (!copy) return parc__error(PARC_ENOMEM, "parc_cache_open: out of memory");
  int rc = PARC_OK;
  for (char *p = copy + 1;; p++) {
    if (*p != '/' && *p != '\0') continue;
    char saved = *p;
    *p = '\0';
    if (mkdir(copy, 0700) != 0 && errno != EEXIST) {
      int e = errno;
      rc = parc__error(PARC_ESYS, "parc_cache_open: cannot create the cache directory %s: %s",
                       copy, strerror(e));
      break;
    }
    *p = saved;
    if (saved == '\0') break;
  }
  struct stat st;
  if (rc == PARC_OK && (stat(path, &st) != 0 || !S_ISDIR(st.st_mode)))
    rc = parc__error(PARC_ESYS, "parc_cache_open: %s is not a directory", path);
  parc__free(copy);
  return rc;
}

static void cache_free(parc_cache *c) {
  parc__cache_db_close(c);
  for (parc__cache_scope *s = c->scopes, *next; s; s = next) {
    next = s->next;
    scope_free(s);
  }
  for (size_t i = 0; i < c->npending; i++) parc__free(c->pending[i]);
  parc__free(c->pending);
  parc__free(c->slots);
  parc__free(c->touched);
  parc__free(c->dir);
  parc__free(c->file);
  pthread_cond_destroy(&c->wake);
  pthread_mutex_destroy(&c->lock);
  parc__free(c);
}

int parc_cache_open(parc_cache **out, const char *path, const parc_cache_options *opt) {
  if (!out) return parc__error(PARC_EINVAL, "parc_cache_open: c is NULL");
  *out = NULL;
  if (!path || !*path) return parc__error(PARC_EINVAL, "parc_cache_open: path is NULL or empty");
  int rc = make_directory(path);
  if (rc) return rc;
  parc_cache *c = parc__calloc(1, sizeof *c);
  if (!c) return parc__error(PARC_ENOMEM, "parc_cache_open: out of memory");
  pthread_mutex_init(&c->lock, NULL);
  pthread_condattr_t attr;
  pthread_condattr_init(&attr);
  pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
  pthread_cond_init(&c->wake, &attr);
  pthread_condattr_destroy(&attr);
  if (opt) c->opt = *opt;
  c->recency_ms = 60000;
  c->dir = parc__strdup(path);
  c->file = parc__format("%s/%s", path, CACHE_FILE);
  if (!c->dir || !c->file) {
    cache_free(c);
    return parc__error(PARC_ENOMEM, "parc_cache_open: out of memory");
  }
  rc = parc__cache_db_open(c);
  if (rc) {
    cache_free(c);
    return rc;
  }
  c->last_commit = c->last_use = parc__now();
  if (pthread_create(&c->thread, NULL, committer, c) != 0) {
    rc = parc__error_errno("parc_cache_open: cannot start the committer thread");
    cache_free(c);
    return rc;
  }
  c->thread_started = true;
  *out = c;
  return PARC_OK;
}

void parc_cache_close(parc_cache *c) {
  if (!c) return;
  pthread_mutex_lock(&c->lock);
  c->closing = true;
  pthread_cond_signal(&c->wake);
  pthread_mutex_unlock(&c->lock);
  if (c->thread_started) pthread_join(c->thread, NULL);
  pthread_mutex_lock(&c->lock);
  parc__cache_commit(c);
  parc__cache_end_read(c);
  pthread_mutex_unlock(&c->lock);
  cache_free(c);
}

int parc_cache_clear(parc_cache *c, const char *name) {
  if (!c) return parc__error(PARC_EINVAL, "parc_cache_clear: c is NULL");
  pthread_mutex_lock(&c->lock);
  int rc = parc__cache_commit(c);
  if (rc == PARC_OK) rc = parc__cache_db_clear(c, name);
  pthread_mutex_unlock(&c->lock);
  return rc;
}

int parc_cache_stats(parc_cache *c, parc_cache_info *info) {
  if (!c || !info) return parc__error(PARC_EINVAL, "parc_cache_stats: %s is NULL", c ? "info" : "c");
  pthread_mutex_lock(&c->lock);
  int rc = parc__cache_commit(c);
  if (rc == PARC_OK) rc = parc__cache_db_stats(c, info);
  pthread_mutex_unlock(&c->lock);
  return rc;
}

int parc_cache_call(parc_cache *c, const char *name, const char *version, parc_fn fn,
                    const void *in, size_t in_size, void *out, size_t out_size,
                    const void *context, size_t context_size) {
  if (!c) return parc__error(PARC_EINVAL, "parc_cache_call: c is NULL");
  if (!fn) return parc__error(PARC_EINVAL, "parc_cache_call: fn is NULL");
  if (!in && in_size)
    return parc__error(PARC_EINVAL, "parc_cache_call: in is NULL but in_size is %zu", in_size);
  if (!out && out_size)
    return parc__error(PARC_EINVAL, "parc_cache_call: out is NULL but out_size is %zu", out_size);
  if (!context && context_size)
    return parc__error(PARC_EINVAL, "parc_cache_call: context is NULL but context_size is %zu",
                       context_size);
  parc__cache_binding *b;
  parc__cache_scope *s;
  int rc = parc__cache_bind(&b, c, name, version, context, context_size);
  if (rc) return rc;
  rc = parc__cache_scope_of(b, fn, &s);
  parc__cache_unbind(b);
  if (rc) return rc;
  key_parts k = {in_size ? in : NULL, in_size, NULL, 0, atomic_load(&s->by_index), 0, 0};
  if (lookup(s, &k, out_size ? out : NULL, out_size)) return PARC_OK;
  parc_task t;
  memset(&t, 0, sizeof t);
  t.context = context_size ? context : NULL;
  t.context_size = context_size;
  rc = parc__task_call(fn, k.in, out_size ? out : NULL, &t);
  if (rc != PARC_OK) {
    rc = parc__error(PARC_ETASK, "%s", t.message ? t.message : "the task failed");
    parc__free(t.message);
    return rc;
  }
  if (t.used_index && !atomic_load(&s->by_index)) {
    pthread_mutex_lock(&c->lock);
    atomic_store(&s->by_index, true);
    s->index_dirty = true;
    pthread_mutex_unlock(&c->lock);
  }
  k.by_index = atomic_load(&s->by_index);
  store(s, &k, out_size ? out : NULL, out_size);
  return PARC_OK;
}
