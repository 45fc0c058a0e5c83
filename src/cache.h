/*
 * cache.h — layer 5 of parc_internal.h: the cache as a filter over a block
 * of tasks (cache.c, cache_open.c, cache_db.c, cache_filter.c). Included by
 * parc_internal.h only; the cache files' private parts are in cache_db.h.
 */
#ifndef PARC_CACHE_H
#define PARC_CACHE_H

/* ---- cache_hash.c ----------------------------------------------------- */
/* SipHash-2-4 with 128-bit output (Aumasson, Bernstein; reference
   implementation github.com/veorq/SipHash), streaming. */
typedef struct parc__siphash {
  uint64_t v0, v1, v2, v3;
  uint64_t tail;                /* bytes not yet compressed, little-endian */
  uint64_t length;              /* bytes seen */
} parc__siphash;
void parc__siphash_init(parc__siphash *s, const uint8_t key[16]);
void parc__siphash_update(parc__siphash *s, const void *data, size_t n);
void parc__siphash_final(parc__siphash *s, uint8_t out[16]);


/* A group's tie to a cache: name and version (copied), context hash, and
   the scope of the last function submitted. Made by parc_group_create when
   opt->cache is set; freed by parc_group_destroy. */
typedef struct parc__cache_binding parc__cache_binding;
/* One (function, name, version, code, context) of a cache: what a job
   points to. Owned by the cache, valid until parc_cache_close. */
typedef struct parc__cache_scope parc__cache_scope;

int parc__cache_bind(parc__cache_binding **b, parc_cache *c, const char *name,
                     const char *version, const void *context, size_t context_size);
void parc__cache_unbind(parc__cache_binding *b);
/* The scope of fn under b, for job->cache_scope. PARC_EINVAL when no name
   can be found, PARC_ENOMEM; message set. */
int parc__cache_scope_of(parc__cache_binding *b, parc_fn fn, parc__cache_scope **scope);

#define PARC__CACHE_BLOCK 64     /* tasks looked up together */

/* A task's key: its input, its dependencies' outputs, and (when the scope
   is keyed by index) the seed and index. */
typedef struct parc__cache_key {
  const void *in;
  size_t in_size;
  const parc__dep *deps;
  size_t ndeps;
  bool by_index;
  uint64_t seed, index;
} parc__cache_key;

/* A block of up to PARC__CACHE_BLOCK tasks on its way through the cache. */
typedef struct parc__cache_block {
  parc__cache_scope *scope;
  size_t n;
  bool by_index;              /* the scope's, when the hashes were made */
  uint64_t hit;               /* bit i: task i's output was found and copied */
  parc__cache_key k[PARC__CACHE_BLOCK];
  int64_t h1[PARC__CACHE_BLOCK], h2[PARC__CACHE_BLOCK];
  void *out[PARC__CACHE_BLOCK];
  size_t out_size;
  /* Tasks without a fixed output (out_size 0): their parc_task_output
     results are the values, stored as nothing (no result) or a 1 byte and
     the result's bytes; a hit makes the result again. */
  parc__outputs *outputs;
  size_t first;               /* the block's first task offset in outputs */
} parc__cache_block;

/* Looks tasks [from, from + n) of d up under scope (n <= PARC__CACHE_BLOCK):
   copies each hit's output into place; b->hit says which. Any storage
   problem is a miss. */
void parc__cache_lookup(parc__cache_block *b, parc__cache_scope *scope, const parc__tasks *d,
                        size_t from, size_t n);
/* Hands the results of b's tasks in `done` (outputs in place) to the next
   batch; used_index: some called parc_task_index or parc_task_rng, so the
   scope is keyed by seed and index from now on. */
void parc__cache_store(parc__cache_block *b, uint64_t done, bool used_index);
/* Test hook: hits refresh an entry's recency at most once per `ms`
   milliseconds (default 60000) and once per handle. */
void parc__cache_set_recency(parc_cache *c, int64_t ms);

#endif /* PARC_CACHE_H */
