/*
 * cache_hash.c — SipHash-2-4 with a 128-bit tag, streaming.
 *
 * The cache names every result by a 128-bit hash of its key. SipHash
 * (Aumasson and Bernstein, "SipHash: a fast short-input PRF", 2012) is a
 * published design with reference test vectors (veorq/SipHash vectors.h,
 * vectors_sip128); tests/test_cache.c checks them. The 128-bit variant
 * differs from the 64-bit one in two places: v1 ^= 0xee at the start, and
 * a second finalization with v1 ^= 0xdd. SipHash names keys of up to
 * CACHE_KEY_STORED_MAX bytes, which are also stored and compared byte for
 * byte on every hit.
 *
 * Larger keys are named by XXH3-128 (Collet, xxHash 0.8, Debian
 * libxxhash-dev) under a secret derived from the scope's key: SipHash runs
 * at about 3 GB/s, XXH3 at memory speed (AVX2 or AVX-512, chosen at run
 * time by the library's dispatcher), and it is the hash alone that names
 * them (cache_filter.c, and the argument in parc.h's cache section).
 *
 * parc__checksum64, below, is the cheap checksum of stored outputs.
 */
#include "cache_db.h"

#include <endian.h>
#include <string.h>
#if defined(__x86_64__) || defined(__i386__)
/* Debian's libxxhash.so has the dispatchers that pick AVX2 or AVX-512 at
   run time (three times SSE2's speed); its libxxhash.a does not, so a
   static link leaves them NULL (weak) and gets the portable code. */
#define XXH_DISPATCH_DISABLE_REPLACE
#include <xxh_x86dispatch.h>
#pragma weak XXH3_128bits_update_dispatch
#define PARC_XXH_DISPATCH 1
#endif

static inline uint64_t load64(const uint8_t *p) {
  uint64_t v;
  memcpy(&v, p, 8);
  return le64toh(v);
}

static inline void store64(uint8_t *p, uint64_t v) {
  v = htole64(v);
  memcpy(p, &v, 8);
}

#define ROTL(x, b) (uint64_t)(((x) << (b)) | ((x) >> (64 - (b))))

/* The state lives in locals while bytes are absorbed: through the struct,
   every store could alias the input (it is bytes) and would be redone. */
#define SIPROUND                                                   \
  do {                                                             \
    v0 += v1; v1 = ROTL(v1, 13); v1 ^= v0; v0 = ROTL(v0, 32);      \
    v2 += v3; v3 = ROTL(v3, 16); v3 ^= v2;                         \
    v0 += v3; v3 = ROTL(v3, 21); v3 ^= v0;                         \
    v2 += v1; v1 = ROTL(v1, 17); v1 ^= v2; v2 = ROTL(v2, 32);      \
  } while (0)

#define COMPRESS(m)   \
  do {                \
    uint64_t m_ = (m); \
    v3 ^= m_;         \
    SIPROUND;         \
    SIPROUND;         \
    v0 ^= m_;         \
  } while (0)

void parc__siphash_init(parc__siphash *s, const uint8_t key[16]) {
  uint64_t k0 = load64(key), k1 = load64(key + 8);
  s->v0 = 0x736f6d6570736575ull ^ k0;
  s->v1 = 0x646f72616e646f6dull ^ k1 ^ 0xee;
  s->v2 = 0x6c7967656e657261ull ^ k0;
  s->v3 = 0x7465646279746573ull ^ k1;
  s->tail = 0;
  s->length = 0;
}

void parc__siphash_update(parc__siphash *s, const void *data, size_t n) {
  const uint8_t *p = data;
  uint64_t v0 = s->v0, v1 = s->v1, v2 = s->v2, v3 = s->v3, tail = s->tail;
  size_t have = (size_t)(s->length & 7);
  s->length += n;
  /* Complete a partial word first. */
  while (have && n) {
    tail |= (uint64_t)*p++ << (8 * have);
    n--;
    if (++have == 8) {
      COMPRESS(tail);
      tail = 0;
      have = 0;
    }
  }
  for (; n >= 8; n -= 8, p += 8) COMPRESS(load64(p));
  for (size_t i = 0; i < n; i++) tail |= (uint64_t)p[i] << (8 * i);
  s->v0 = v0, s->v1 = v1, s->v2 = v2, s->v3 = v3, s->tail = tail;
}

void parc__siphash_final(parc__siphash *s, uint8_t out[16]) {
  uint64_t v0 = s->v0, v1 = s->v1, v2 = s->v2, v3 = s->v3;
  COMPRESS(s->tail | (s->length << 56));
  v2 ^= 0xee;
  SIPROUND;
  SIPROUND;
  SIPROUND;
  SIPROUND;
  store64(out, v0 ^ v1 ^ v2 ^ v3);
  v1 ^= 0xdd;
  SIPROUND;
  SIPROUND;
  SIPROUND;
  SIPROUND;
  store64(out + 8, v0 ^ v1 ^ v2 ^ v3);
}

/* ---- XXH3-128 ------------------------------------------------------------ */

void parc__xxh128_secret(uint8_t secret[CACHE_XXH_SECRET_SIZE], const uint8_t key[16]) {
  XXH3_generateSecret(secret, CACHE_XXH_SECRET_SIZE, key, 16);
}

/* The secret is borrowed until final: XXH3's state keeps a pointer to it. */
void parc__xxh128_init(parc__xxh128 *s, const uint8_t secret[CACHE_XXH_SECRET_SIZE]) {
  XXH3_128bits_reset_withSecret(&s->state, secret, CACHE_XXH_SECRET_SIZE);
}

void parc__xxh128_update(parc__xxh128 *s, const void *data, size_t n) {
#ifdef PARC_XXH_DISPATCH
  if (XXH3_128bits_update_dispatch) {
    XXH3_128bits_update_dispatch(&s->state, data, n);
    return;
  }
#endif
  XXH3_128bits_update(&s->state, data, n);
}

/* The low 64 bits, then the high 64, each little-endian: the same layout
   as parc__siphash_final, so the row id is the first eight bytes. */
void parc__xxh128_final(const parc__xxh128 *s, uint8_t out[16]) {
  XXH128_hash_t h = XXH3_128bits_digest(&s->state);
  store64(out, h.low64);
  store64(out + 8, h.high64);
}

/* Not a MAC: a checksum of a stored output, so that a damaged value is
   noticed. Each step is a bijection of the state for a fixed word and of
   the word for a fixed state, so changing any one word always changes
   the result; the final mix is MurmurHash3's fmix64. */
uint64_t parc__checksum64(const void *data, size_t n) {
  const uint8_t *p = data;
  uint64_t h = 0x9e3779b97f4a7c15ull ^ ((uint64_t)n * 0xc2b2ae3d27d4eb4full);
  for (; n >= 8; n -= 8, p += 8) {
    h = (h ^ load64(p)) * 0xff51afd7ed558ccdull;
    h ^= h >> 32;
  }
  if (n) {
    uint64_t w = 0;
    for (size_t i = 0; i < n; i++) w |= (uint64_t)p[i] << (8 * i);
    h = (h ^ w) * 0xff51afd7ed558ccdull;
    h ^= h >> 32;
  }
  h ^= h >> 33;
  h *= 0xff51afd7ed558ccdull;
  h ^= h >> 33;
  h *= 0xc4ceb9fe1a85ec53ull;
  h ^= h >> 33;
  return h;
}
