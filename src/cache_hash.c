/*
 * cache_hash.c — SipHash-2-4 with a 128-bit tag, streaming.
 *
 * The cache names every result by a 128-bit hash of its key. SipHash
 * (Aumasson and Bernstein, "SipHash: a fast short-input PRF", 2012) is a
 * published design with reference test vectors (veorq/SipHash vectors.h,
 * vectors_sip128); tests/test_cache.c checks them. The 128-bit variant
 * differs from the 64-bit one in two places: v1 ^= 0xee at the start, and
 * a second finalization with v1 ^= 0xdd. The hash is not the only guard:
 * stored keys are compared byte for byte on every hit.
 */
#include "parc_internal.h"

#include <string.h>

static uint64_t load64(const uint8_t *p) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; i--) v = (v << 8) | p[i];
  return v;
}

static void store64(uint8_t *p, uint64_t v) {
  for (int i = 0; i < 8; i++) p[i] = (uint8_t)(v >> (8 * i));
}

#define ROTL(x, b) (uint64_t)(((x) << (b)) | ((x) >> (64 - (b))))

static void sipround(parc__siphash *s) {
  s->v0 += s->v1; s->v1 = ROTL(s->v1, 13); s->v1 ^= s->v0; s->v0 = ROTL(s->v0, 32);
  s->v2 += s->v3; s->v3 = ROTL(s->v3, 16); s->v3 ^= s->v2;
  s->v0 += s->v3; s->v3 = ROTL(s->v3, 21); s->v3 ^= s->v0;
  s->v2 += s->v1; s->v1 = ROTL(s->v1, 17); s->v1 ^= s->v2; s->v2 = ROTL(s->v2, 32);
}

static void compress(parc__siphash *s, uint64_t m) {
  s->v3 ^= m;
  sipround(s);
  sipround(s);
  s->v0 ^= m;
}

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
  size_t have = (size_t)(s->length & 7);
  s->length += n;
  /* Complete a partial word first. */
  while (have && n) {
    s->tail |= (uint64_t)*p++ << (8 * have);
    n--;
    if (++have == 8) {
      compress(s, s->tail);
      s->tail = 0;
      have = 0;
    }
  }
  for (; n >= 8; n -= 8, p += 8) compress(s, load64(p));
  for (size_t i = 0; i < n; i++) s->tail |= (uint64_t)p[i] << (8 * i);
}

void parc__siphash_final(parc__siphash *s, uint8_t out[16]) {
  compress(s, s->tail | (s->length << 56));
  s->v2 ^= 0xee;
  for (int i = 0; i < 4; i++) sipround(s);
  store64(out, s->v0 ^ s->v1 ^ s->v2 ^ s->v3);
  s->v1 ^= 0xdd;
  for (int i = 0; i < 4; i++) sipround(s);
  store64(out + 8, s->v0 ^ s->v1 ^ s->v2 ^ s->v3);
}
