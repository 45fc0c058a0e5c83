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
 * fastest lookup), the next 64 are stored beside it (mixed with a checksum
 * of the output, so a damaged output is noticed), and key bytes of up to
 * CACHE_KEY_STORED_MAX are stored and compared in full: a collision can
 * only cost a miss. Longer keys are hashed with XXH3-128 under a secret
 * derived from the same scope key, and those 128 bits alone name them
 * (cache_filter.c; the argument is in parc.h).
 *
 * This file holds scopes, the committer thread and the public API;
 * cache_filter.c looks blocks of tasks up and queues their results,
 * cache_open.c opens and checks the SQLite file, cache_db.c writes it. The committer thread makes sure a batch is written at
 * least every CACHE_BATCH_SECONDS even when no task comes along to do it,
 * and lets idle readers' snapshots go.
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
  parc__xxh128_secret(s->secret, s->key);
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
    } else if (now - c->last_use >= CACHE_BATCH_SECONDS) {
      /* Idle: let go of snapshots so that checkpoints can go past them. */
      parc__cache_end_read(c);
      parc__cache_readers_release(c, now - CACHE_BATCH_SECONDS);
    }
    struct timespec ts = parc__time_after(CLOCK_MONOTONIC, wait);
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
      /* A long path is shortened in the message, errno's text never. */
      int e = errno;
      char *what = parc__format("parc_cache_open: cannot create the cache directory %s", copy);
      errno = e;
      rc = what ? parc__error_errno(what)
                : parc__error(PARC_ENOMEM, "parc_cache_open: out of memory");
      parc__free(what);
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
  parc__free(c->arena);
  parc__free(c->pending);
  parc__free(c->slots);
  parc__free(c->touched);
  parc__free(c->dir);
  parc__free(c->file);
  pthread_cond_destroy(&c->wake);
  pthread_cond_destroy(&c->reader_free);
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
  pthread_cond_init(&c->reader_free, NULL);
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
  return parc__cache_call_one(s, fn, in, in_size, out, out_size, context, context_size);
}
