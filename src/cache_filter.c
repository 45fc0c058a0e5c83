/*
 * cache_filter.c — the cache as a filter over a block of tasks: keys,
 * lookups a block at a time, results waiting for their batch. Dispatch
 * looks a block up, runs the misses on whatever executor, and stores what
 * succeeded; this file never runs a task of a group (only parc_cache_call's).
 *
 * A task's key bytes are its input, its dependencies' outputs and a short
 * trailer (see walk_key). Up to CACHE_KEY_STORED_MAX of them, their SipHash
 * under the scope's key gives the 128-bit hash whose first half is the row
 * id, and the bytes are stored and compared in full. A longer key is named
 * by its XXH3-128 under the scope's secret and stored as a stub (its
 * length and mode): a 1 MiB input then costs a hash at memory speed, not
 * SipHash plus a megabyte read from SQLite and compared. Tasks are looked
 * up in blocks of up to PARC__CACHE_BLOCK: the hashes are computed without any lock,
 * then one turn of the cache's lock checks the pending results (not yet
 * committed) and takes a reader connection, which then answers the rest of
 * the block with no lock held, so several threads read at once. A second
 * short turn gives the reader back and counts. Misses run, and their
 * results join the pending ones in one turn of the lock per block (sooner
 * when tasks are slow, so a kill loses no more than the batch interval).
 *
 * Pending results live in one arena (c->arena), indexed by an open
 * addressing table on the row id: no allocation per task.
 */
#include "cache_db.h"

#include <string.h>

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
   all walk the same pieces, so they cannot disagree (a key too long to
   store is hashed from them, and stored and compared as a stub). */

static uint8_t key_mode(const parc__cache_key *k) {
  return (uint8_t)((k->ndeps ? 1 : 0) | (k->by_index ? 2 : 0));
}

/* The trailer after the dependencies' sizes: [seed, index], mode byte. */
static size_t key_tail(const parc__cache_key *k, uint8_t tail[17]) {
  size_t n = 0;
  if (k->by_index) {
    put64(tail, k->seed);
    put64(tail + 8, k->index);
    n = 16;
  }
  tail[n++] = key_mode(k);
  return n;
}

typedef void (*piece_fn)(void *arg, const void *data, size_t n);

static void walk_key(const parc__cache_key *k, piece_fn fn, void *arg) {
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
  uint8_t tail[17];
  fn(arg, tail, key_tail(k, tail));
}

static void piece_hash(void *arg, const void *data, size_t n) {
  parc__siphash_update(arg, data, n);
}

static void piece_xxh(void *arg, const void *data, size_t n) {
  parc__xxh128_update(arg, data, n);
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

static size_t key_size(const parc__cache_key *k) {
  size_t n = k->in_size + (k->ndeps ? 8 * (k->ndeps + 1) : 0) + (k->by_index ? 17 : 1);
  for (size_t i = 0; i < k->ndeps; i++) n += k->deps[i].size;
  return n;
}

/* What is stored for a key longer than CACHE_KEY_STORED_MAX: its length
   and its mode byte with bit 7 set. A key stored in full ends with its mode
   byte (0..3), so a stub never equals one. */
static void key_stub(const parc__cache_key *k, size_t size, uint8_t stub[CACHE_KEY_STUB_SIZE]) {
  put64(stub, size);
  stub[8] = (uint8_t)(0x80 | key_mode(k));
}

static size_t key_stored_size(const parc__cache_key *k) {
  size_t n = key_size(k);
  return n > CACHE_KEY_STORED_MAX ? CACHE_KEY_STUB_SIZE : n;
}

/* Do the stored key bytes (a full key or a stub) name k? For a stub the
   row's id and check (the two halves of the XXH3-128, compared by the
   caller) are what names the key; the stub adds its length and mode. */
static bool key_equal(const parc__cache_key *k, const unsigned char *stored, size_t size) {
  size_t full = key_size(k);
  if (full > CACHE_KEY_STORED_MAX) {
    uint8_t stub[CACHE_KEY_STUB_SIZE];
    key_stub(k, full, stub);
    return size == CACHE_KEY_STUB_SIZE && memcmp(stored, stub, CACHE_KEY_STUB_SIZE) == 0;
  }
  if (size != full) return false;
  if (!k->ndeps) {   /* the common case, without the walk */
    uint8_t tail[17];
    size_t n = key_tail(k, tail);
    return (k->in_size == 0 || memcmp(stored, k->in, k->in_size) == 0) &&
           memcmp(stored + k->in_size, tail, n) == 0;
  }
  compare_state s = {stored, size, true};
  walk_key(k, piece_compare, &s);
  return s.equal && s.left == 0;
}

static void key_hash(const parc__cache_scope *scope, const parc__cache_key *k, int64_t *h1,
                     int64_t *h2) {
  uint8_t out[16];
  if (key_size(k) > CACHE_KEY_STORED_MAX) {
    parc__xxh128 x;
    parc__xxh128_init(&x, scope->secret);
    walk_key(k, piece_xxh, &x);
    parc__xxh128_final(&x, out);
    *h1 = get64(out);
    *h2 = get64(out + 8);
    return;
  }
  parc__siphash s;
  parc__siphash_init(&s, scope->key);
  if (!k->ndeps) {
    uint8_t tail[17];
    if (k->in_size) parc__siphash_update(&s, k->in, k->in_size);
    parc__siphash_update(&s, tail, key_tail(k, tail));
  } else {
    walk_key(k, piece_hash, &s);
  }
  parc__siphash_final(&s, out);
  *h1 = get64(out);
  *h2 = get64(out + 8);
}

/* ---- pending results (lock held) ------------------------------------------ */

static cache_pending *pending_at(const parc_cache *c, size_t i) {
  return (cache_pending *)(c->arena + c->pending[i]);
}

static cache_pending *pending_find(const parc_cache *c, int64_t h1) {
  if (!c->nslots) return NULL;
  size_t mask = c->nslots - 1;
  for (size_t i = (size_t)h1 & mask;; i = (i + 1) & mask) {
    size_t slot = c->slots[i];
    if (!slot) return NULL;
    if (pending_at(c, slot - 1)->h1 == h1) return pending_at(c, slot - 1);
  }
}

static void slot_insert(parc_cache *c, size_t index) {
  size_t mask = c->nslots - 1;
  size_t i = (size_t)pending_at(c, index)->h1 & mask;
  while (c->slots[i]) i = (i + 1) & mask;
  c->slots[i] = index + 1;
}

/* Room for one more result of `bytes` (header included) and its slot. */
static bool pending_reserve(parc_cache *c, size_t bytes) {
  if (c->npending == c->pending_capacity) {
    size_t capacity = c->pending_capacity ? c->pending_capacity * 2 : 1024;
    size_t *grown = parc__realloc(c->pending, capacity * sizeof *grown);
    if (!grown) return false;
    c->pending = grown;
    c->pending_capacity = capacity;
  }
  if (c->arena_capacity - c->arena_used < bytes) {
    size_t capacity = c->arena_capacity ? c->arena_capacity : 65536;
    while (capacity - c->arena_used < bytes) capacity *= 2;
    unsigned char *grown = parc__realloc(c->arena, capacity);
    if (!grown) return false;
    c->arena = grown;
    c->arena_capacity = capacity;
  }
  if (2 * (c->npending + 1) > c->nslots) {
    size_t nslots = c->nslots ? c->nslots * 2 : 2048;
    size_t *slots = parc__calloc(nslots, sizeof *slots);
    if (!slots) return false;
    parc__free(c->slots);
    c->slots = slots;
    c->nslots = nslots;
    for (size_t i = 0; i < c->npending; i++) slot_insert(c, i);
  }
  return true;
}

/* Appends a result unless one with its id waits already. */
/* flagged: a variable result, stored after a 1 byte (see parc__cache_block). */
static void pending_add(parc_cache *c, parc__cache_scope *s, const parc__cache_key *k, int64_t h1,
                        int64_t h2, const void *value, size_t size, bool flagged) {
  if (pending_find(c, h1)) return;
  size_t value_size = size + flagged;
  if (value_size < size) return;
  size_t ksize = key_stored_size(k);
  if (ksize > (size_t)INT32_MAX - value_size) return;   /* SQLite's limit on a blob */
  size_t bytes = (sizeof(cache_pending) + ksize + value_size + 7) & ~(size_t)7;
  if (!pending_reserve(c, bytes)) return;   /* a result not cached: harmless */
  cache_pending *p = (cache_pending *)(c->arena + c->arena_used);
  p->h1 = h1;
  p->h2 = h2;
  p->scope = s;
  p->key_size = (uint32_t)ksize;
  p->value_size = (uint32_t)value_size;
  unsigned char *dst = CACHE_PENDING_BYTES(p);
  if (key_size(k) > CACHE_KEY_STORED_MAX) {
    key_stub(k, key_size(k), dst);
    dst += CACHE_KEY_STUB_SIZE;
  } else {
    walk_key(k, piece_copy, &dst);
  }
  if (flagged) *dst++ = 1;
  if (size) memcpy(dst, value, size);
  c->pending[c->npending] = c->arena_used;
  c->arena_used += bytes;
  slot_insert(c, c->npending++);
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

void parc__cache_maybe_commit(parc_cache *c, double now) {
  if (now - c->last_commit >= CACHE_BATCH_SECONDS || c->arena_used > CACHE_PENDING_MAX)
    parc__cache_commit(c);
}

/* ---- blocks ---------------------------------------------------------------- */

static bool matches(const parc__cache_block *b, size_t i, const cache_pending *p) {
  return p->h2 == b->h2[i] && p->scope == b->scope &&
         (b->outputs || p->value_size == b->out_size) &&
         key_equal(&b->k[i], CACHE_PENDING_BYTES(p), p->key_size);
}

/* A hit: task i of b gets the stored value. False when a variable result
   cannot be made again (out of memory: then it is a miss) or the value is
   not one (a corrupt entry). */
static bool deliver(parc__cache_block *b, size_t i, const unsigned char *value, size_t size) {
  if (!b->outputs) {
    if (b->out_size) memcpy(b->out[i], value, b->out_size);
    return true;
  }
  if (size == 0) return true;   /* the task made no result */
  if (value[0] != 1) return false;
  parc_buf *slot = parc__outputs_slot(b->outputs, b->first + i);
  if (!slot) return false;
  parc__outputs_release(b->outputs, slot);
  void *data = parc__outputs_alloc(b->outputs, size - 1);
  if (!data) return false;
  if (size > 1) memcpy(data, value + 1, size - 1);
  *slot = (parc_buf){data, size - 1};
  return true;
}

/* The value task i of b stores: its fixed output, or its variable result. */
static const void *value_of(const parc__cache_block *b, size_t i, size_t *size, bool *flagged) {
  *flagged = false;
  if (!b->outputs) {
    *size = b->out_size;
    return b->out[i];
  }
  parc_buf *table = atomic_load_explicit(&b->outputs->table, memory_order_acquire);
  const parc_buf *result = table ? &table[b->first + i] : NULL;
  if (!result || !result->data) {
    *size = 0;
    return NULL;
  }
  *flagged = true;
  *size = result->size;
  return result->data;
}

/* Reads the tasks of b in `want` from reader r (no lock held). Returns
   false when the database could not be read. */
static bool read_block(cache_reader *r, parc__cache_block *b, uint64_t want, int64_t scope_id,
                       int64_t *touched, size_t *ntouched, int64_t recency_ms) {
  sqlite3_stmt *st = r->get;
  int64_t stale = recency_ms >= 0 ? parc__cache_now_ms() - recency_ms : INT64_MIN;
  bool ok = true;
  for (size_t i = 0; i < b->n && ok; i++) {
    if (!(want >> i & 1)) continue;
    sqlite3_bind_int64(st, 1, b->h1[i]);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
      const unsigned char *kv = sqlite3_column_blob(st, 3);
      size_t size = (size_t)sqlite3_column_bytes(st, 3);
      if (!kv) kv = (const unsigned char *)"", size = 0;
      /* A fixed output's size says where the key ends; a variable
         result's key is as long as the task's own. */
      size_t ksize = b->outputs ? key_stored_size(&b->k[i]) : size - b->out_size;
      if (sqlite3_column_int64(st, 1) == scope_id && size >= b->out_size && size >= ksize &&
          key_equal(&b->k[i], kv, ksize) &&
          sqlite3_column_int64(st, 0) == parc__cache_check(b->h2[i], kv + ksize, size - ksize) &&
          deliver(b, i, kv + ksize, size - ksize)) {
        b->hit |= (uint64_t)1 << i;
        if (sqlite3_column_int64(st, 2) < stale) touched[(*ntouched)++] = b->h1[i];
      }
    } else if (rc != SQLITE_DONE && rc != SQLITE_BUSY && rc != SQLITE_LOCKED) {
      ok = false;
    }
    sqlite3_reset(st);
  }
  return ok;
}

void parc__cache_lookup(parc__cache_block *b, parc__cache_scope *scope, const parc__tasks *d,
                        size_t from, size_t n) {
  b->scope = scope;
  b->n = n;
  b->out_size = d->out_size;
  b->outputs = d->out_size ? NULL : d->outputs;
  b->first = from;
  for (size_t i = 0; i < n; i++) {
    size_t k = from + i;
    const void *in = d->bufs ? d->bufs[k].data : d->in_size ? d->in + k * d->in_size : NULL;
    size_t in_size = d->bufs ? d->bufs[k].size : d->in_size;
    b->k[i] = (parc__cache_key){in_size ? in : NULL, in_size, d->deps, d->ndeps, false, d->seed,
                                d->index_base + k};
    b->out[i] = d->out_size ? d->out + k * d->out_size : NULL;
  }
  parc__cache_scope *s = scope;
  parc_cache *c = s->cache;
again:
  b->by_index = atomic_load(&s->by_index);
  for (size_t i = 0; i < b->n; i++) {
    b->k[i].by_index = b->by_index;
    key_hash(s, &b->k[i], &b->h1[i], &b->h2[i]);
  }
  b->hit = 0;
  uint64_t want = 0;
  cache_reader *r = NULL;
  int64_t scope_id = 0, recency_ms = 0;
  pthread_mutex_lock(&c->lock);
  double now = parc__now();
  c->last_use = now;
  if (!c->broken) {
    parc__cache_maybe_commit(c, now);
    for (size_t i = 0; i < b->n; i++) {
      cache_pending *p = pending_find(c, b->h1[i]);
      if (!p) {
        want |= (uint64_t)1 << i;
      } else if (matches(b, i, p) &&
                 deliver(b, i, CACHE_PENDING_BYTES(p) + p->key_size, p->value_size)) {
        b->hit |= (uint64_t)1 << i;
      }
    }
    /* The database only knows the scope once its row is there: look for
       it again after each batch (another process may add it). */
    if (want && (s->id != 0 || s->looked_epoch != c->commits + 1) &&
        (r = parc__cache_reader_take(c))) {
      if (s->id == 0 && !parc__cache_scope_lookup(r->scope_find, s))
        s->looked_epoch = c->commits + 1;
      if (atomic_load(&s->by_index) != b->by_index) {
        /* The row says results are keyed by seed and index (another
           process found out): hash again. Happens once per scope. */
        parc__cache_reader_give(c, r);
        pthread_mutex_unlock(&c->lock);
        goto again;
      }
      scope_id = s->id;
      recency_ms = c->recency_ms;
      if (scope_id == 0) {
        parc__cache_reader_give(c, r);
        r = NULL;
      }
    }
  }
  pthread_mutex_unlock(&c->lock);

  int64_t touched[PARC__CACHE_BLOCK];
  size_t ntouched = 0;
  bool ok = !r || read_block(r, b, want, scope_id, touched, &ntouched, recency_ms);

  pthread_mutex_lock(&c->lock);
  if (r) {
    if (!ok) parc__cache_broken(c, "cannot read");
    parc__cache_reader_give(c, r);
  }
  int64_t hits = __builtin_popcountll(b->hit);
  c->hits += hits;
  c->misses += (int64_t)b->n - hits;
  for (size_t i = 0; i < ntouched; i++) touch(c, touched[i]);
  pthread_mutex_unlock(&c->lock);
}

void parc__cache_store(parc__cache_block *b, uint64_t done, bool used_index) {
  parc__cache_scope *s = b->scope;
  parc_cache *c = s->cache;
  if (used_index && !atomic_load(&s->by_index)) {
    pthread_mutex_lock(&c->lock);
    atomic_store(&s->by_index, true);
    s->index_dirty = true;
    pthread_mutex_unlock(&c->lock);
  }
  if (atomic_load(&s->by_index) != b->by_index) {
    b->by_index = !b->by_index;
    for (size_t i = 0; i < b->n; i++) {
      if (!(done >> i & 1)) continue;
      b->k[i].by_index = b->by_index;
      key_hash(s, &b->k[i], &b->h1[i], &b->h2[i]);
    }
  }
  pthread_mutex_lock(&c->lock);
  double now = parc__now();
  c->last_use = now;
  if (!c->broken) {
    size_t before = c->npending;
    for (size_t i = 0; i < b->n; i++)
      if (done >> i & 1) {
        bool flagged;
        size_t size;
        const void *value = value_of(b, i, &size, &flagged);
        pending_add(c, s, &b->k[i], b->h1[i], b->h2[i], value, size, flagged);
      }
    if (c->npending > before) {
      s->wanted = true;
      if (before == 0) pthread_cond_signal(&c->wake);   /* start the half-second clock */
      parc__cache_maybe_commit(c, now);
    }
  }
  pthread_mutex_unlock(&c->lock);
}

/* ---- parc_cache_call ----------------------------------------------------- */

/* parc_cache_call's task failed: keep its message (NULL when memory ran out). */
typedef struct call_failure {
  bool failed;
  char *message;
} call_failure;

static bool take_message(void *arg, size_t offset, int status, parc_task *t) {
  (void)offset, (void)status;
  call_failure *f = arg;
  f->failed = true;
  f->message = t->message;
  t->message = NULL;
  return true;
}

int parc__cache_call_one(parc__cache_scope *s, parc_fn fn, const void *in, size_t in_size,
                         void *out, size_t out_size, const void *context, size_t context_size) {
  parc__tasks d = {.fn = fn, .in = in_size ? in : NULL, .in_size = in_size,
                   .out = out_size ? out : NULL, .out_size = out_size,
                   .context = context_size ? context : NULL, .context_size = context_size};
  parc__cache_block b;
  parc__cache_lookup(&b, s, &d, 0, 1);
  if (b.hit) return PARC_OK;
  parc_task t;
  parc__task_init(&t, &d, 0);
  call_failure failure = {false, NULL};
  parc__tasks_run(&d, &t, 0, 1, NULL, NULL, take_message, &failure);
  if (failure.failed) {
    int status = parc__error(PARC_ETASK, "%s", failure.message ? failure.message : "the task failed");
    parc__free(failure.message);
    return status;
  }
  parc__cache_store(&b, 1, t.used_index);
  return PARC_OK;
}
