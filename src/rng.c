/*
 * rng.c — counter-based random streams (Philox4x32-10 from Random123).
 *
 * A stream is (key = seed, counter = stream id and block number). Each
 * Philox call turns one 128-bit counter into 128 random bits, which we hand
 * out as two u64. Nothing depends on what other streams did, which is what
 * makes a Monte Carlo map give the same bits on any backend.
 *
 * Layout of parc_rng.opaque: [0] seed, [1] stream, [2] next block number,
 * [3] [4] the current block's two words, [5] how many of them are used.
 */
#include "parc_internal.h"

#include <Random123/philox.h>
#include <math.h>

enum { SEED, STREAM, BLOCK, WORD0, WORD1, USED };

void parc_rng_init(parc_rng *r, uint64_t seed, uint64_t stream) {
  if (!r) return;
  r->opaque[SEED] = seed;
  r->opaque[STREAM] = stream;
  r->opaque[BLOCK] = 0;
  r->opaque[WORD0] = 0;
  r->opaque[WORD1] = 0;
  r->opaque[USED] = 2;
}

static void refill(parc_rng *r) {
  uint64_t block = r->opaque[BLOCK]++;
  uint64_t stream = r->opaque[STREAM];
  uint64_t seed = r->opaque[SEED];
  philox4x32_ctr_t counter = {{(uint32_t)block, (uint32_t)(block >> 32), (uint32_t)stream,
                               (uint32_t)(stream >> 32)}};
  philox4x32_key_t key = {{(uint32_t)seed, (uint32_t)(seed >> 32)}};
  philox4x32_ctr_t out = philox4x32(counter, key);
  r->opaque[WORD0] = (uint64_t)out.v[0] | (uint64_t)out.v[1] << 32;
  r->opaque[WORD1] = (uint64_t)out.v[2] | (uint64_t)out.v[3] << 32;
  r->opaque[USED] = 0;
}

uint64_t parc_rng_u64(parc_rng *r) {
  if (!r) return 0;
  if (r->opaque[USED] >= 2) refill(r);
  return r->opaque[WORD0 + r->opaque[USED]++];
}

double parc_rng_uniform(parc_rng *r) {
  if (!r) return 0;
  return (double)(parc_rng_u64(r) >> 11) * 0x1.0p-53;
}

double parc_rng_normal(parc_rng *r, double mean, double sd) {
  if (!r) return 0;
  /* 1 - u is in (0, 1], so the log is finite. */
  double u1 = 1.0 - parc_rng_uniform(r);
  double u2 = parc_rng_uniform(r);
  double radius = sqrt(-2.0 * log(u1));
  return mean + sd * radius * cos(2.0 * 3.14159265358979323846 * u2);
}
