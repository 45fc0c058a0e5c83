/* Random streams: Random123's published known answers, our word layout,
   and the statistics a Monte Carlo relies on. */
#include <Random123/philox.h>
#include <parc.h>

#include "harness.h"

typedef struct kat {
  uint32_t counter[4], key[2], expected[4];
} kat;

/* Random123 tests/kat_vectors, the three philox4x32 10 lines. */
static const kat philox_kat[] = {
    {{0, 0, 0, 0}, {0, 0}, {0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8}},
    {{0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff},
     {0xffffffff, 0xffffffff},
     {0x408f276d, 0x41c83b0e, 0xa20bc7c6, 0x6d5451fd}},
    {{0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344},
     {0xa4093822, 0x299f31d0},
     {0xd16cfe09, 0x94fdcceb, 0x5001e420, 0x24126ea1}},
};

TEST(philox_known_answers) {
  for (size_t i = 0; i < sizeof philox_kat / sizeof philox_kat[0]; i++) {
    const kat *k = &philox_kat[i];
    philox4x32_ctr_t c = {{k->counter[0], k->counter[1], k->counter[2], k->counter[3]}};
    philox4x32_key_t key = {{k->key[0], k->key[1]}};
    philox4x32_ctr_t out = philox4x32(c, key);
    for (int w = 0; w < 4; w++) CHECK_INT(k->expected[w], out.v[w]);
  }
}

/* parc_rng(seed, stream): block b of the stream is Philox(counter = {b lo,
   b hi, stream lo, stream hi}, key = {seed lo, seed hi}), two u64 per block. */
TEST(stream_layout_matches_philox) {
  parc_rng r;
  parc_rng_init(&r, 0, 0);
  CHECK(parc_rng_u64(&r) == UINT64_C(0xe169c58d6627e8d5));
  CHECK(parc_rng_u64(&r) == UINT64_C(0x9b00dbd8bc57ac4c));
  uint64_t seed = UINT64_C(0x299f31d0a4093822), stream = UINT64_C(0x0370734413198a2e);
  parc_rng_init(&r, seed, stream);
  for (uint32_t block = 0; block < 3; block++) {
    philox4x32_ctr_t c = {{block, 0, (uint32_t)stream, (uint32_t)(stream >> 32)}};
    philox4x32_key_t key = {{(uint32_t)seed, (uint32_t)(seed >> 32)}};
    philox4x32_ctr_t out = philox4x32(c, key);
    uint64_t lo = (uint64_t)out.v[0] | (uint64_t)out.v[1] << 32;
    uint64_t hi = (uint64_t)out.v[2] | (uint64_t)out.v[3] << 32;
    CHECK(parc_rng_u64(&r) == lo);
    CHECK(parc_rng_u64(&r) == hi);
  }
}

TEST(streams_are_reproducible_and_distinct) {
  parc_rng a, b, c;
  parc_rng_init(&a, 42, 7);
  parc_rng_init(&b, 42, 7);
  parc_rng_init(&c, 42, 8);
  int same_as_other_stream = 0;
  for (int i = 0; i < 1000; i++) {
    uint64_t x = parc_rng_u64(&a);
    CHECK(x == parc_rng_u64(&b));
    same_as_other_stream += x == parc_rng_u64(&c);
  }
  CHECK_INT(0, same_as_other_stream);
}

TEST(uniform_is_in_unit_interval_with_right_moments) {
  parc_rng r;
  parc_rng_init(&r, 1, 2);
  double sum = 0, sum2 = 0;
  const int n = 200000;
  for (int i = 0; i < n; i++) {
    double u = parc_rng_uniform(&r);
    CHECK(u >= 0.0 && u < 1.0);
    sum += u;
    sum2 += u * u;
  }
  double mean = sum / n, var = sum2 / n - mean * mean;
  CHECK_NEAR(0.5, mean, 0.005);        /* sd of the mean: 0.00065 */
  CHECK_NEAR(1.0 / 12.0, var, 0.002);
}

TEST(normal_has_requested_mean_and_sd) {
  parc_rng r;
  parc_rng_init(&r, 3, 4);
  double sum = 0, sum2 = 0;
  const int n = 200000;
  for (int i = 0; i < n; i++) {
    double x = parc_rng_normal(&r, 50.0, 5.0);
    CHECK(isfinite(x));
    sum += x;
    sum2 += x * x;
  }
  double mean = sum / n, sd = sqrt(sum2 / n - mean * mean);
  CHECK_NEAR(50.0, mean, 0.06);       /* sd of the mean: 0.011 */
  CHECK_NEAR(5.0, sd, 0.05);
}

/* NULL is harmless: init does nothing, the draws return 0. */
TEST(a_null_stream_is_harmless) {
  parc_rng_init(NULL, 1, 2);
  CHECK_INT(0, parc_rng_u64(NULL));
  CHECK_NEAR(0.0, parc_rng_uniform(NULL), 0);
  CHECK_NEAR(0.0, parc_rng_normal(NULL, 5, 1), 0);
}

int main(int argc, char **argv) { return harness_main(argc, argv); }
