/*
 * fuzz_cache_open.c — opening damaged cache files must never crash and
 * never return a wrong result.
 *
 * A valid cache of 200 results is built once (the template). Each fuzz
 * input is a damage program for it: byte 0 picks a truncation, then each
 * 3-byte record overwrites one byte (2 bytes of position scaled to the file
 * size, 1 byte of value). The damaged file is opened; when that succeeds,
 * every one of the 200 calls must give f(x) (from the cache or recomputed),
 * stats must work, and close must be clean. A wrong value traps.
 *
 * Built two ways (tests/cache.cmake): with clang -fsanitize=fuzzer,address
 * as a libFuzzer target run for a fixed number of inputs, or, without
 * clang, with the main below, which replays a deterministic stream of
 * random damage programs.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "parc.h"

#define ENTRIES 200

static char dir[256];
static unsigned char *template_bytes;
static size_t template_size;

static int fuzz_square(const void *in, void *out, parc_task *t) {
  (void)t;
  uint64_t x = *(const uint64_t *)in;
  *(uint64_t *)out = x * x + 1;
  return 0;
}

static void path_of(char *buf, size_t size, const char *suffix) {
  snprintf(buf, size, "%s/parc-cache.sqlite%s", dir, suffix);
}

static void remove_files(void) {
  static const char *const suffixes[] = {"", "-wal", "-shm", ".damaged", ".damaged-wal",
                                         ".damaged-shm"};
  char path[400];
  for (size_t i = 0; i < sizeof suffixes / sizeof suffixes[0]; i++) {
    path_of(path, sizeof path, suffixes[i]);
    unlink(path);
  }
}

static void make_template(void) {
  snprintf(dir, sizeof dir, "/tmp/parc-fuzz-cache-%ld", (long)getpid());
  mkdir(dir, 0700);
  remove_files();
  parc_cache *c;
  if (parc_cache_open(&c, dir, NULL) != 0) {
    fprintf(stderr, "fuzz: %s\n", parc_errmsg());
    exit(1);
  }
  for (uint64_t x = 0; x < ENTRIES; x++) {
    uint64_t y;
    if (parc_cache_call(c, "sq", NULL, fuzz_square, &x, sizeof x, &y, sizeof y, NULL, 0) != 0)
      exit(1);
  }
  parc_cache_close(c);
  char path[400];
  path_of(path, sizeof path, "");
  FILE *f = fopen(path, "rb");
  if (!f) exit(1);
  fseek(f, 0, SEEK_END);
  template_size = (size_t)ftell(f);
  fseek(f, 0, SEEK_SET);
  template_bytes = malloc(template_size);
  if (!template_bytes || fread(template_bytes, 1, template_size, f) != template_size) exit(1);
  fclose(f);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (!template_bytes) make_template();
  unsigned char *bytes = malloc(template_size);
  memcpy(bytes, template_bytes, template_size);
  size_t length = template_size;
  if (size > 0 && data[0] < 64) length = template_size * data[0] / 64;   /* truncate */
  for (size_t i = 1; i + 3 <= size; i += 3) {
    size_t at = ((size_t)data[i] << 8 | data[i + 1]) * template_size / 65536;
    bytes[at] = data[i + 2];
  }
  remove_files();
  char path[400];
  path_of(path, sizeof path, "");
  FILE *f = fopen(path, "wb");
  if (!f) abort();
  fwrite(bytes, 1, length, f);
  fclose(f);
  free(bytes);
  parc_cache *c;
  if (parc_cache_open(&c, dir, NULL) == 0) {
    for (uint64_t x = 0; x < ENTRIES; x++) {
      uint64_t y = 0;
      int rc = parc_cache_call(c, "sq", NULL, fuzz_square, &x, sizeof x, &y, sizeof y, NULL, 0);
      if (rc != 0 || y != x * x + 1) {
        fprintf(stderr, "fuzz: wrong result for %llu: %llu (rc %d)\n", (unsigned long long)x,
                (unsigned long long)y, rc);
        __builtin_trap();
      }
    }
    parc_cache_info info;
    parc_cache_stats(c, &info);
    parc_cache_close(c);
  }
  return 0;
}

#ifndef PARC_LIBFUZZER
/* Without libFuzzer: replays `runs` random damage programs (default 300; ctest runs 150). */
int main(int argc, char **argv) {
  long runs = argc > 1 ? atol(argv[1]) : 300;
  uint64_t state = 0x9e3779b97f4a7c15ull;
  unsigned char input[64];
  for (long r = 0; r < runs; r++) {
    size_t n = 1 + 3 * (size_t)(r % 20 + 1);
    for (size_t i = 0; i < n; i++) {
      state ^= state << 13;
      state ^= state >> 7;
      state ^= state << 17;
      input[i] = (unsigned char)state;
    }
    if (r % 4) input[0] = 64 + (unsigned char)(input[0] % 192);   /* mostly no truncation */
    LLVMFuzzerTestOneInput(input, n);
  }
  remove_files();
  rmdir(dir);
  printf("fuzz_cache_open: %ld damaged files opened without a crash or a wrong result\n", runs);
  return 0;
}
#endif
