/*
 * test_cache.c — the on-disk result cache: keys (input, context, version,
 * function body, seed and index), durability after kill -9, several
 * processes at once, eviction, damaged and foreign files, unwritable
 * directories, parc_cache_call, stats and clear.
 *
 * Executions are counted with an atomic in the task functions (threads
 * share memory) or printed by tests/cache_helper.c for child processes.
 * Every test works in its own fresh directory under /tmp.
 */
#include "fixture.h"
#include "harness.h"
#include "parc.h"
#include "parc_internal.h"
#include "cache_db.h"

#include <errno.h>
#include <fcntl.h>
#include <sqlite3.h>
#include <stdatomic.h>
#include <sys/stat.h>

/* ---- helpers -------------------------------------------------------------- */

static char dir_template[64];

/* A fresh directory for this test; each test removes its own at the end. */
static const char *fresh_dir(void) { return test_fresh_dir(dir_template, "cache"); }

static void remove_dir(const char *dir) { test_remove_dir(dir); }

static char *path_in(const char *dir, const char *name) {
  static char path[1024];
  if (snprintf(path, sizeof path, "%s/%s", dir, name) >= (int)sizeof path) FAIL_AT("path too long");
  return path;
}

static parc_cache *open_cache(const char *dir, uint64_t max_bytes) {
  parc_cache *c = NULL;
  parc_cache_options o = {max_bytes, 0};
  CHECK_OK(parc_cache_open(&c, dir, &o));
  return c;
}

static parc_cache_info stats(parc_cache *c) {
  parc_cache_info info;
  CHECK_OK(parc_cache_stats(c, &info));
  return info;
}

static _Atomic long executed;

static int square(const void *in, void *out, parc_task *t) {
  size_t n = 0;
  const int64_t *offset = parc_task_context(t, &n);
  atomic_fetch_add(&executed, 1);
  int64_t x = *(const int64_t *)in;
  *(int64_t *)out = x * x + (n ? *offset : 0);
  return 0;
}

static int cube(const void *in, void *out, parc_task *t) {
  (void)t;
  atomic_fetch_add(&executed, 1);
  int64_t x = *(const int64_t *)in;
  *(int64_t *)out = x * x * x;
  return 0;
}

/* Maps fn over x[0..n) with the cache and options given; returns how many
   task bodies ran, and checks every output against want(x). */
static long run_map(parc_pool *pool, parc_cache *c, parc_fn fn, const int64_t *x, size_t n,
                    const parc_options *base, int64_t (*want)(int64_t)) {
  parc_options opt = base ? *base : (parc_options){0};
  opt.cache = c;
  int64_t *y = calloc(n ? n : 1, sizeof *y);
  long before = atomic_load(&executed);
  CHECK_OK(parc_map(pool, fn, x, sizeof *x, y, sizeof *y, n, &opt, NULL));
  for (size_t i = 0; i < n && want; i++)
    if (y[i] != want(x[i]))
      FAIL_AT("output %zu: expected %lld, got %lld", i, (long long)want(x[i]), (long long)y[i]);
  free(y);
  return atomic_load(&executed) - before;
}

static int64_t want_square(int64_t x) { return x * x; }
static int64_t want_square_plus5(int64_t x) { return x * x + 5; }
static int64_t want_cube(int64_t x) { return x * x * x; }

static int64_t *iota(size_t n, int64_t start) {
  int64_t *x = malloc(n * sizeof *x);
  for (size_t i = 0; i < n; i++) x[i] = start + (int64_t)i;
  return x;
}

/* Runs a helper program and parses "executed E checksum C ok". */
static long run_helper(const char *program, const char *args, long long *checksum) {
  char command[1024];
  snprintf(command, sizeof command, "%s %s", program, args);
  FILE *p = popen(command, "r");
  if (!p) FAIL_AT("popen %s: %s", command, strerror(errno));
  long e = -1;
  long long sum = 0;
  char verdict[16] = "";
  int fields = fscanf(p, "executed %ld checksum %lld %15s", &e, &sum, verdict);
  int status = pclose(p);
  if (fields != 3 || status != 0 || strcmp(verdict, "ok") != 0)
    FAIL_AT("%s: exit status %d, fields %d, verdict '%s'", command, status, fields, verdict);
  if (checksum) *checksum = sum;
  return e;
}

/* ---- the hash ------------------------------------------------------------- */

TEST(siphash_128_reference_vectors) {
  /* veorq/SipHash vectors.h, vectors_sip128: key 00..0f, message 00..len-1. */
  static const struct { size_t len; const char *hex; } v[] = {
      {0, "a3817f04ba25a8e66df67214c7550293"},  {1, "da87c1d86b99af44347659119b22fc45"},
      {7, "a1f1ebbed8dbc153c0b84aa61ff08239"},  {8, "3b62a9ba6258f5610f83e264f31497b4"},
      {15, "5493e99933b0a8117e08ec0f97cfc3d9"}, {16, "6ee2a4ca67b054bbfd3315bf85230577"},
      {63, "5150d1772f50834a503e069a973fbd7c"},
  };
  uint8_t key[16], msg[64];
  for (int i = 0; i < 16; i++) key[i] = (uint8_t)i;
  for (int i = 0; i < 64; i++) msg[i] = (uint8_t)i;
  for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
    /* In one piece, and byte by byte (the streaming path). */
    for (int mode = 0; mode < 2; mode++) {
      parc__siphash s;
      parc__siphash_init(&s, key);
      if (mode == 0) parc__siphash_update(&s, msg, v[i].len);
      else for (size_t j = 0; j < v[i].len; j++) parc__siphash_update(&s, msg + j, 1);
      uint8_t out[16];
      parc__siphash_final(&s, out);
      char hex[33];
      for (int j = 0; j < 16; j++) snprintf(hex + 2 * j, 3, "%02x", out[j]);
      CHECK_STR(v[i].hex, hex);
    }
  }
}

TEST(function_symbols_come_from_the_symbol_table) {
  char *name = NULL;
  size_t size = 0;
  CHECK(parc__fn_symbol(square, &name, &size));
  CHECK_STR("square", name);
  CHECK(size > 0);
  parc__free(name);
}

/* ---- opening --------------------------------------------------------------- */

TEST(open_creates_directory_0700_and_file_0600) {
  const char *base = fresh_dir();
  char dir[512];
  snprintf(dir, sizeof dir, "%s/a/b", base);
  parc_cache *c = open_cache(dir, 0);
  struct stat st;
  CHECK_INT(0, stat(dir, &st));
  CHECK_INT(0700, st.st_mode & 0777);
  CHECK_INT(0, stat(path_in(dir, "parc-cache.sqlite"), &st));
  CHECK_INT(0600, st.st_mode & 0777);
  parc_cache_info info = stats(c);
  CHECK_INT(0, info.entries);
  parc_cache_close(c);
  /* Reopening an existing cache works and keeps it. */
  c = open_cache(dir, 0);
  parc_cache_close(c);
  parc_cache_close(NULL);
  CHECK_ERROR(PARC_EINVAL, "path", parc_cache_open(&c, NULL, NULL));
  CHECK(c == NULL);
  CHECK_ERROR(PARC_EINVAL, "c is NULL", parc_cache_open(NULL, dir, NULL));
  CHECK_ERROR(PARC_EINVAL, "NULL", parc_cache_stats(NULL, NULL));
  CHECK_ERROR(PARC_EINVAL, "NULL", parc_cache_clear(NULL, NULL));
  remove_dir(base);
  CHECK_NO_LEAKS();
}

TEST(unwritable_directory_fails_clearly_and_the_map_runs_uncached) {
  const char *base = fresh_dir();
  /* Root ignores permissions, so use a path that cannot exist: a
     directory below a regular file. */
  char *file = path_in(base, "file");
  FILE *f = fopen(file, "w");
  CHECK(f != NULL);
  fclose(f);
  char dir[512];
  snprintf(dir, sizeof dir, "%s/file/sub", base);
  parc_cache *c = (parc_cache *)1;
  CHECK_ERROR(PARC_ESYS, "cannot create the cache directory", parc_cache_open(&c, dir, NULL));
  CHECK(c == NULL);
  CHECK(strstr(parc_errmsg(), "Not a directory") != NULL);
  CHECK_ERROR(PARC_ESYS, "parc_cache_open", parc_cache_open(&c, "/proc/parc-cache", NULL));
  /* A cache path that is a file. */
  CHECK_ERROR(PARC_ESYS, "not a directory", parc_cache_open(&c, file, NULL));
  /* opt.cache NULL: the same map runs, uncached. */
  parc_pool *pool = test_pool(PARC_THREADS, 2);
  int64_t *x = iota(100, 0);
  CHECK_INT(100, run_map(pool, NULL, square, x, 100, NULL, want_square));
  CHECK_INT(100, run_map(pool, NULL, square, x, 100, NULL, want_square));
  parc_pool_destroy(pool);
  free(x);
  remove_dir(base);
}

/* Messages are cut at 1 KiB: a long path is shortened, errno's text kept. */
TEST(a_long_path_never_pushes_errnos_text_out_of_the_message) {
  const char *base = fresh_dir();
  char *file = path_in(base, "file");
  FILE *f = fopen(file, "w");
  CHECK(f != NULL);
  fclose(f);
  char dir[2048];
  int n = snprintf(dir, sizeof dir, "%s/file/", base);
  memset(dir + n, 'd', sizeof dir - (size_t)n - 1);
  dir[sizeof dir - 1] = '\0';
  parc_cache *c = (parc_cache *)1;
  int rc = parc_cache_open(&c, dir, NULL);
  char message[2048];
  snprintf(message, sizeof message, "%s", parc_errmsg());
  remove_dir(base);   /* first: nothing is left behind when a check fails */
  size_t n_message = strlen(message);
  printf("  %zu bytes: ...%s\n", n_message, message + (n_message > 40 ? n_message - 40 : 0));
  CHECK_INT(PARC_ESYS, rc);
  CHECK(c == NULL);
  CHECK(strstr(message, "parc_cache_open: cannot create the cache directory /tmp/") == message);
  CHECK(n_message < 1024);
  CHECK(strstr(message, "...: Not a directory") != NULL);
}

TEST(garbage_file_is_refused_and_left_untouched) {
  const char *dir = fresh_dir();
  char *file = path_in(dir, "parc-cache.sqlite");
  unsigned char garbage[4096];
  for (size_t i = 0; i < sizeof garbage; i++) garbage[i] = (unsigned char)(i * 7 + 3);
  FILE *f = fopen(file, "wb");
  fwrite(garbage, 1, sizeof garbage, f);
  fclose(f);
  parc_cache *c = NULL;
  CHECK_ERROR(PARC_EINVAL, "not a parc cache", parc_cache_open(&c, dir, NULL));
  CHECK(c == NULL);
  unsigned char back[4096];
  f = fopen(file, "rb");
  CHECK_SIZE(sizeof back, fread(back, 1, sizeof back, f));
  fclose(f);
  CHECK(memcmp(garbage, back, sizeof back) == 0);
  remove_dir(dir);
}

TEST(sqlite_file_of_another_application_is_refused) {
  const char *dir = fresh_dir();
  char file[512];
  snprintf(file, sizeof file, "%s/parc-cache.sqlite", dir);
  sqlite3 *db;
  CHECK_INT(SQLITE_OK, sqlite3_open(file, &db));
  CHECK_INT(SQLITE_OK, sqlite3_exec(db, "CREATE TABLE precious(x); INSERT INTO precious VALUES(42)",
                                    NULL, NULL, NULL));
  sqlite3_close(db);
  parc_cache *c = NULL;
  CHECK_ERROR(PARC_EINVAL, "another application", parc_cache_open(&c, dir, NULL));
  CHECK_INT(SQLITE_OK, sqlite3_open(file, &db));
  sqlite3_stmt *st;
  CHECK_INT(SQLITE_OK, sqlite3_prepare_v2(db, "SELECT x FROM precious", -1, &st, NULL));
  CHECK_INT(SQLITE_ROW, sqlite3_step(st));
  CHECK_INT(42, sqlite3_column_int(st, 0));
  sqlite3_finalize(st);
  sqlite3_close(db);
  remove_dir(dir);
}

static void truncate_to(const char *file, off_t size) {
  if (truncate(file, size) != 0) FAIL_AT("truncate %s: %s", file, strerror(errno));
}

TEST(truncated_or_damaged_cache_is_rebuilt_never_trusted) {
  const char *dir = fresh_dir();
  char file[512];
  snprintf(file, sizeof file, "%s/parc-cache.sqlite", dir);
  parc_pool *pool = test_pool(PARC_THREADS, 2);
  size_t n = 3000;
  int64_t *x = iota(n, 0);
  for (int round = 0; round < 3; round++) {
    parc_cache *c = open_cache(dir, 0);
    CHECK_OK(parc_cache_clear(c, NULL));
    CHECK_INT(n, run_map(pool, c, square, x, n, NULL, want_square));
    CHECK_INT(n, stats(c).entries);
    parc_cache_close(c);
    struct stat st;
    CHECK_INT(0, stat(file, &st));
    if (round == 0) {
      truncate_to(file, st.st_size / 2);
    } else if (round == 1) {
      truncate_to(file, 60);   /* inside the header */
    } else {
      /* Overwrite pages in the middle with garbage. */
      int fd = open(file, O_WRONLY);
      char junk[8192];
      memset(junk, 0xA5, sizeof junk);
      CHECK_SIZE(sizeof junk, (size_t)pwrite(fd, junk, sizeof junk, st.st_size / 2));
      close(fd);
    }
    c = open_cache(dir, 0);
    /* Whatever survived, outputs are right; a rebuilt cache recomputes. */
    long ran = run_map(pool, c, square, x, n, NULL, want_square);
    CHECK(ran > 0);
    parc_cache_close(c);
  }
  struct stat st;
  CHECK_INT(0, stat(path_in(dir, "parc-cache.sqlite.damaged"), &st));
  parc_pool_destroy(pool);
  free(x);
  remove_dir(dir);
}

/* ---- keys ------------------------------------------------------------------ */

TEST(hit_and_miss_by_input) {
  const char *dir = fresh_dir();
  parc_cache *c = open_cache(dir, 0);
  parc_pool *pool = test_pool(PARC_THREADS, 2);
  size_t n = 500;
  int64_t *x = iota(n, -100);
  CHECK_INT(n, run_map(pool, c, square, x, n, NULL, want_square));
  CHECK_INT(0, run_map(pool, c, square, x, n, NULL, want_square));
  x[17] = 100000;
  x[400] = 100001;
  CHECK_INT(2, run_map(pool, c, square, x, n, NULL, want_square));
  /* Another function with the same inputs is its own key. */
  CHECK_INT(n, run_map(pool, c, cube, x, n, NULL, want_cube));
  CHECK_INT(0, run_map(pool, c, cube, x, n, NULL, want_cube));
  /* Survives close and reopen, in a new handle. */
  parc_cache_close(c);
  c = open_cache(dir, 0);
  CHECK_INT(0, run_map(pool, c, square, x, n, NULL, want_square));
  parc_cache_info info = stats(c);
  CHECK_INT(2 * n + 2, info.entries);
  CHECK_INT(2, info.functions);
  CHECK_INT(4 * n - 2, info.hits);
  CHECK_INT(2 * n + 2, info.misses);
  parc_cache_close(c);
  parc_pool_destroy(pool);
  free(x);
  remove_dir(dir);
  CHECK_NO_LEAKS();
}

/* ---- large keys: XXH3-128 and stubs --------------------------------------- */

/* The key hash is fed in pieces (input, dependencies, trailer): any split
   must give XXH3-128 of the whole, under the secret made from the key. */
TEST(xxh128_in_pieces_is_xxh3_128_of_the_whole) {
  size_t n = 5000;
  uint8_t *msg = malloc(n), key[16], secret[CACHE_XXH_SECRET_SIZE], other[CACHE_XXH_SECRET_SIZE];
  for (size_t i = 0; i < n; i++) msg[i] = (uint8_t)(i * 131 + 7);
  for (int i = 0; i < 16; i++) key[i] = (uint8_t)i;
  parc__xxh128_secret(secret, key);
  XXH128_hash_t whole = XXH3_128bits_withSecret(msg, n, secret, sizeof secret);
  static const size_t cuts[] = {0, 1, 7, 63, 64, 239, 240, 241, 1023, 1024, 4096, 4999, 5000};
  for (size_t a = 0; a < sizeof cuts / sizeof cuts[0]; a++) {
    for (size_t b = a; b < sizeof cuts / sizeof cuts[0]; b++) {
      parc__xxh128 h;
      parc__xxh128_init(&h, secret);
      parc__xxh128_update(&h, msg, cuts[a]);
      parc__xxh128_update(&h, msg + cuts[a], cuts[b] - cuts[a]);
      parc__xxh128_update(&h, msg + cuts[b], n - cuts[b]);
      uint8_t out[16];
      parc__xxh128_final(&h, out);
      uint64_t lo = 0, hi = 0;
      for (int i = 7; i >= 0; i--) lo = lo << 8 | out[i], hi = hi << 8 | out[8 + i];
      if (lo != whole.low64 || hi != whole.high64)
        FAIL_AT("cut at %zu and %zu: expected %016llx%016llx, got %016llx%016llx", cuts[a], cuts[b],
                (unsigned long long)whole.high64, (unsigned long long)whole.low64,
                (unsigned long long)hi, (unsigned long long)lo);
    }
  }
  /* Another scope's key is another secret, so another hash. */
  key[15] ^= 1;
  parc__xxh128_secret(other, key);
  CHECK(memcmp(secret, other, sizeof secret) != 0);
  XXH128_hash_t moved = XXH3_128bits_withSecret(msg, n, other, sizeof other);
  CHECK(moved.low64 != whole.low64 && moved.high64 != whole.high64);
  free(msg);
}

/* The output depends on every input byte (FNV-1a), so a one-byte change
   that were taken for a hit would show as a wrong output. */
static uint64_t fnv(const uint8_t *p, size_t n) {
  uint64_t h = 14695981039346656037ull;
  for (size_t i = 0; i < n; i++) h = (h ^ p[i]) * 1099511628211ull;
  return h;
}

static int fnv_task(const void *in, void *out, parc_task *t) {
  atomic_fetch_add(&executed, 1);
  uint64_t h = fnv(in, parc_task_input_size(t));
  memcpy(out, &h, 8);
  return 0;
}

/* Maps fnv_task over n records of `size` bytes; returns the bodies run. */
static long run_fnv(parc_pool *pool, parc_cache *c, const uint8_t *x, size_t size, size_t n) {
  uint64_t *y = calloc(n, sizeof *y);
  long before = atomic_load(&executed);
  parc_options opt = {.cache = c};
  CHECK_OK(parc_map(pool, fnv_task, x, size, y, sizeof *y, n, &opt, NULL));
  for (size_t i = 0; i < n; i++)
    if (y[i] != fnv(x + i * size, size))
      FAIL_AT("record %zu of %zu bytes: expected %016llx, got %016llx", i, size,
              (unsigned long long)fnv(x + i * size, size), (unsigned long long)y[i]);
  free(y);
  return atomic_load(&executed) - before;
}

/* Around the boundary (a 4095-byte input is a 4096-byte key, stored in
   full; 4096 bytes and up are XXH3 and a stub) and at 1 MiB: hits across
   handles; a change of one byte anywhere (first, middle, last) is a miss
   with the right output, and the old bytes still hit. */
TEST_WITH_LIMIT(large_inputs_hit_across_handles_and_one_byte_anywhere_is_a_miss, 120) {
  static const size_t sizes[] = {4095, 4096, 4097, (size_t)1 << 20};
  const char *dir = fresh_dir();
  parc_pool *pool = test_pool(PARC_THREADS, 2);
  size_t n = 6;
  for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++) {
    size_t size = sizes[s];
    uint8_t *x = malloc(n * size);
    uint64_t state = 88172645463325252ull;   /* xorshift64: no record repeats another */
    for (size_t i = 0; i < n * size; i++) {
      state ^= state << 13, state ^= state >> 7, state ^= state << 17;
      x[i] = (uint8_t)(state >> 56);
    }
    parc_cache *c = open_cache(dir, 0);
    CHECK_OK(parc_cache_clear(c, NULL));
    CHECK_INT(n, run_fnv(pool, c, x, size, n));
    CHECK_INT(0, run_fnv(pool, c, x, size, n));
    parc_cache_close(c);
    c = open_cache(dir, 0);
    CHECK_INT(0, run_fnv(pool, c, x, size, n));
    size_t where[3] = {0, size / 2, size - 1};
    for (int w = 0; w < 3; w++) {
      uint8_t *b = x + 3 * size + where[w];
      *b ^= 0x40;
      if (run_fnv(pool, c, x, size, n) != 1)
        FAIL_AT("%zu-byte inputs, byte %zu changed: expected 1 task to run", size, where[w]);
      *b ^= 0x40;
      CHECK_INT(0, run_fnv(pool, c, x, size, n));
    }
    /* Keys of more than 4096 bytes are stored as a 9-byte stub: the
       accounted size is stub + output + 32 per entry. */
    parc_cache_info info = stats(c);
    CHECK_INT(n + 3, info.entries);
    size_t key = size + 1 > CACHE_KEY_STORED_MAX ? CACHE_KEY_STUB_SIZE : size + 1;
    CHECK_INT((n + 3) * (key + 8 + 32), info.bytes);
    parc_cache_close(c);
    free(x);
  }
  parc_pool_destroy(pool);
  remove_dir(dir);
  CHECK_NO_LEAKS();
}

/* Rewrites the one row's stored key part with edit(kv, size). */
static void edit_only_row(const char *dir, void (*edit)(unsigned char *kv, size_t size)) {
  sqlite3 *db;
  CHECK_INT(SQLITE_OK, sqlite3_open(path_in(dir, "parc-cache.sqlite"), &db));
  sqlite3_stmt *st;
  CHECK_INT(SQLITE_OK, sqlite3_prepare_v2(db, "SELECT id, kv FROM results", -1, &st, NULL));
  CHECK_INT(SQLITE_ROW, sqlite3_step(st));
  sqlite3_int64 id = sqlite3_column_int64(st, 0);
  size_t size = (size_t)sqlite3_column_bytes(st, 1);
  unsigned char *kv = malloc(size);
  memcpy(kv, sqlite3_column_blob(st, 1), size);
  CHECK_INT(SQLITE_DONE, sqlite3_step(st));
  sqlite3_finalize(st);
  edit(kv, size);
  CHECK_INT(SQLITE_OK, sqlite3_prepare_v2(db, "UPDATE results SET kv = ?2 WHERE id = ?1", -1, &st, NULL));
  sqlite3_bind_int64(st, 1, id);
  sqlite3_bind_blob(st, 2, kv, (int)size, SQLITE_TRANSIENT);
  CHECK_INT(SQLITE_DONE, sqlite3_step(st));
  sqlite3_finalize(st);
  sqlite3_close(db);
  free(kv);
}

static void stub_longer(unsigned char *kv, size_t size) {
  CHECK_SIZE(CACHE_KEY_STUB_SIZE + 8, size);
  kv[0] ^= 1;   /* the key's length, little-endian */
}

static void stub_mode(unsigned char *kv, size_t size) {
  CHECK_SIZE(CACHE_KEY_STUB_SIZE + 8, size);
  CHECK_INT(0x80, kv[8]);
  kv[8] = 0;    /* what a key stored in full ends with */
}

/* The stub is checked too, not only the row's id and check: a row whose
   stub gives another length or mode is a miss. */
TEST(a_large_key_s_stub_is_compared_on_every_hit) {
  void (*edits[2])(unsigned char *, size_t) = {stub_longer, stub_mode};
  size_t size = 8192;
  uint8_t *x = malloc(size);
  for (size_t i = 0; i < size; i++) x[i] = (uint8_t)(i * 7);
  parc_pool *pool = test_pool(PARC_THREADS, 1);
  for (int e = 0; e < 2; e++) {
    const char *dir = fresh_dir();
    parc_cache *c = open_cache(dir, 0);
    CHECK_INT(1, run_fnv(pool, c, x, size, 1));
    parc_cache_close(c);
    c = open_cache(dir, 0);
    CHECK_INT(0, run_fnv(pool, c, x, size, 1));
    parc_cache_close(c);
    edit_only_row(dir, edits[e]);
    c = open_cache(dir, 0);
    CHECK_INT(1, run_fnv(pool, c, x, size, 1));
    parc_cache_close(c);
    remove_dir(dir);
  }
  parc_pool_destroy(pool);
  free(x);
  CHECK_NO_LEAKS();
}

static int index_task(const void *in, void *out, parc_task *t) {
  atomic_fetch_add(&executed, 1);
  uint64_t h = fnv(in, parc_task_input_size(t)) + parc_task_index(t);
  memcpy(out, &h, 8);
  return 0;
}

/* A function that reads its index is keyed by seed and index too: found
   out at the first store, which hashes the block again (XXH3 here). */
TEST(large_inputs_of_a_function_using_its_index) {
  const char *dir = fresh_dir();
  parc_pool *pool = test_pool(PARC_THREADS, 2);
  size_t n = 10, size = 10000;
  uint8_t *x = calloc(n, size);   /* every input the same */
  uint64_t y[10];
  parc_cache *c = open_cache(dir, 0);
  parc_options opt = {.cache = c};
  for (int round = 0; round < 3; round++) {
    if (round == 2) {
      parc_cache_close(c);
      opt.cache = c = open_cache(dir, 0);
    }
    long before = atomic_load(&executed);
    CHECK_OK(parc_map(pool, index_task, x, size, y, sizeof y[0], n, &opt, NULL));
    CHECK_INT(round == 0 ? (long)n : 0, atomic_load(&executed) - before);
    for (size_t i = 0; i < n; i++) CHECK_INT(fnv(x, size) + i, y[i]);
  }
  parc_cache_close(c);
  parc_pool_destroy(pool);
  free(x);
  remove_dir(dir);
  CHECK_NO_LEAKS();
}

TEST(miss_by_context_and_version) {
  const char *dir = fresh_dir();
  parc_cache *c = open_cache(dir, 0);
  parc_pool *pool = test_pool(PARC_THREADS, 2);
  size_t n = 200;
  int64_t *x = iota(n, 0);
  int64_t five = 5, zero = 0;
  parc_options opt = {0};
  opt.context = &five;
  opt.context_size = sizeof five;
  CHECK_INT(n, run_map(pool, c, square, x, n, &opt, want_square_plus5));
  CHECK_INT(0, run_map(pool, c, square, x, n, &opt, want_square_plus5));
  /* Same context bytes at another address: still a hit. */
  int64_t five_again = 5;
  opt.context = &five_again;
  CHECK_INT(0, run_map(pool, c, square, x, n, &opt, want_square_plus5));
  opt.context = &zero;
  CHECK_INT(n, run_map(pool, c, square, x, n, &opt, want_square));
  opt.context = NULL;
  opt.context_size = 0;
  CHECK_INT(n, run_map(pool, c, square, x, n, &opt, want_square));
  opt.cache_version = "2";
  CHECK_INT(n, run_map(pool, c, square, x, n, &opt, want_square));
  CHECK_INT(0, run_map(pool, c, square, x, n, &opt, want_square));
  opt.cache_version = "";   /* NULL and "" are the same version */
  CHECK_INT(0, run_map(pool, c, square, x, n, &opt, want_square));
  /* An explicit name is its own key, too. */
  opt.cache_name = "my-square";
  CHECK_INT(n, run_map(pool, c, square, x, n, &opt, want_square));
  parc_cache_close(c);
  parc_pool_destroy(pool);
  free(x);
  remove_dir(dir);
}

static int draw(const void *in, void *out, parc_task *t) {
  (void)in;
  atomic_fetch_add(&executed, 1);
  *(uint64_t *)out = parc_rng_u64(parc_task_rng(t));
  return 0;
}

static int by_index(const void *in, void *out, parc_task *t) {
  (void)in;
  atomic_fetch_add(&executed, 1);
  *(uint64_t *)out = 1000 + parc_task_index(t);
  return 0;
}

TEST(functions_using_index_or_rng_are_keyed_by_seed_and_index) {
  const char *dir = fresh_dir();
  parc_cache *c = open_cache(dir, 0);
  parc_pool *pool = test_pool(PARC_THREADS, 2);
  size_t n = 64;
  uint64_t a[64], b[64];
  parc_options opt = {0};
  opt.cache = c;
  opt.seed = 7;
  long before = atomic_load(&executed);
  CHECK_OK(parc_map(pool, draw, NULL, 0, a, sizeof a[0], n, &opt, NULL));
  CHECK_INT(n, atomic_load(&executed) - before);
  for (size_t i = 1; i < n; i++) CHECK(a[i] != a[0]);   /* not one cached value for all */
  before = atomic_load(&executed);
  CHECK_OK(parc_map(pool, draw, NULL, 0, b, sizeof b[0], n, &opt, NULL));
  CHECK_INT(0, atomic_load(&executed) - before);
  CHECK(memcmp(a, b, sizeof a) == 0);
  opt.seed = 8;
  before = atomic_load(&executed);
  CHECK_OK(parc_map(pool, draw, NULL, 0, b, sizeof b[0], n, &opt, NULL));
  CHECK_INT(n, atomic_load(&executed) - before);
  CHECK(memcmp(a, b, sizeof a) != 0);
  /* parc_task_index alone does the same. */
  before = atomic_load(&executed);
  CHECK_OK(parc_map(pool, by_index, NULL, 0, a, sizeof a[0], n, &opt, NULL));
  CHECK_OK(parc_map(pool, by_index, NULL, 0, b, sizeof b[0], n, &opt, NULL));
  CHECK_INT(n, atomic_load(&executed) - before);
  for (size_t i = 0; i < n; i++) CHECK_INT(1000 + i, b[i]);
  parc_cache_close(c);
  parc_pool_destroy(pool);
  remove_dir(dir);
}

TEST_WITH_LIMIT(rebuilt_function_body_misses, 120) {
  const char *dir = fresh_dir();
  char args[600];
  snprintf(args, sizeof args, "%s work 0 300", dir);
  long long sum_a, sum_b, sum;
  CHECK_INT(300, run_helper(CACHE_HELPER_A, args, &sum_a));
  CHECK_INT(0, run_helper(CACHE_HELPER_A, args, &sum));
  CHECK_INT(sum_a, sum);
  /* Same name (work), same inputs, one constant changed in the body. */
  CHECK_INT(300, run_helper(CACHE_HELPER_B, args, &sum_b));
  CHECK_INT(sum_a + 300, sum_b);
  CHECK_INT(0, run_helper(CACHE_HELPER_B, args, &sum));
  CHECK_INT(0, run_helper(CACHE_HELPER_A, args, &sum));
  CHECK_INT(sum_a, sum);
  remove_dir(dir);
}

/* ---- durability and sharing ------------------------------------------------- */

TEST_WITH_LIMIT(sweep_killed_with_sigkill_resumes_with_only_the_missing_tasks, 120) {
  const char *dir = fresh_dir();
  const long n = 4000;
  /* The observer: a second handle on the same cache, in this process. */
  parc_cache *c = open_cache(dir, 0);
  pid_t pid = fork();
  if (pid == 0) {
    char lo[] = "0", hi[32], micros[] = "1000";
    snprintf(hi, sizeof hi, "%ld", n);
    execl(CACHE_HELPER_A, CACHE_HELPER_A, dir, "slow", lo, hi, micros, (char *)NULL);
    _exit(127);
  }
  /* Kill it once some batches are committed, well before it finishes. */
  uint64_t seen = 0;
  for (int i = 0; i < 600 && seen < 300; i++) {
    usleep(20000);
    seen = stats(c).entries;
  }
  kill(pid, SIGKILL);
  int status;
  waitpid(pid, &status, 0);
  CHECK(WIFSIGNALED(status));
  uint64_t committed = stats(c).entries;
  parc_cache_close(c);
  if (committed == 0 || committed >= (uint64_t)n)
    FAIL_AT("expected a partial sweep, %llu of %ld committed", (unsigned long long)committed, n);
  char args[600];
  snprintf(args, sizeof args, "%s slow 0 %ld 0", dir, n);
  long long sum;
  long ran = run_helper(CACHE_HELPER_A, args, &sum);
  CHECK_INT(n - (long)committed, ran);
  CHECK_INT(0, run_helper(CACHE_HELPER_A, args, NULL));
  long long want = 0;
  for (long x = 0; x < n; x++) want += 3 * x + 7;
  CHECK_INT(want, sum);
  remove_dir(dir);
}

TEST_WITH_LIMIT(two_processes_write_one_cache_at_once, 120) {
  const char *dir = fresh_dir();
  char a[600], b[600], all[600];
  snprintf(a, sizeof a, "%s %s slow 0 3000 100", CACHE_HELPER_A, dir);
  snprintf(b, sizeof b, "%s %s slow 1500 4500 100", CACHE_HELPER_A, dir);
  FILE *pa = popen(a, "r"), *pb = popen(b, "r");
  CHECK(pa && pb);
  long ea = -1, eb = -1;
  CHECK_INT(1, fscanf(pa, "executed %ld", &ea));
  CHECK_INT(1, fscanf(pb, "executed %ld", &eb));
  CHECK_INT(0, pclose(pa));
  CHECK_INT(0, pclose(pb));
  /* The overlap may have run in both; nothing else ran twice. */
  CHECK(ea <= 3000 && eb <= 3000 && ea + eb >= 4500);
  parc_cache *c = open_cache(dir, 0);
  CHECK_INT(4500, stats(c).entries);
  parc_cache_close(c);
  snprintf(all, sizeof all, "%s slow 0 4500 0", dir);
  CHECK_INT(0, run_helper(CACHE_HELPER_A, all, NULL));
  remove_dir(dir);
}

TEST(a_lone_result_is_committed_within_the_batch_interval) {
  const char *dir = fresh_dir();
  parc_cache *c = open_cache(dir, 0), *other = open_cache(dir, 0);
  int64_t x = 3, y = 0;
  /* Two calls: the second lands in a batch no later task will flush. */
  CHECK_OK(parc_cache_call(c, NULL, NULL, square, &x, sizeof x, &y, sizeof y, NULL, 0));
  x = 4;
  CHECK_OK(parc_cache_call(c, NULL, NULL, square, &x, sizeof x, &y, sizeof y, NULL, 0));
  uint64_t entries = 0;
  for (int i = 0; i < 100 && entries < 2; i++) {   /* a generous bound, not a timing test */
    usleep(20000);
    entries = stats(other).entries;
  }
  CHECK_INT(2, entries);
  parc_cache_close(other);
  parc_cache_close(c);
  remove_dir(dir);
}

/* ---- eviction, clear, stats ------------------------------------------------- */

TEST(eviction_keeps_the_total_under_max_bytes_least_recently_used_first) {
  const char *dir = fresh_dir();
  /* Each entry is accounted 8 input + 1 + 8 output + 32 = 49 bytes. */
  parc_cache *c = open_cache(dir, 17000);
  parc__cache_set_recency(c, 0);   /* every hit refreshes recency */
  parc_pool *pool = test_pool(PARC_THREADS, 2);
  int64_t *a = iota(200, 0), *b = iota(100, 1000), *cc = iota(100, 2000);
  CHECK_INT(200, run_map(pool, c, square, a, 200, NULL, want_square));
  stats(c);   /* commits */
  usleep(5000);
  CHECK_INT(100, run_map(pool, c, square, b, 100, NULL, want_square));
  stats(c);
  usleep(5000);
  CHECK_INT(0, run_map(pool, c, square, a, 200, NULL, want_square));   /* A is now newer than B */
  stats(c);
  usleep(5000);
  CHECK_INT(100, run_map(pool, c, square, cc, 100, NULL, want_square));
  parc_cache_info info = stats(c);   /* 400 x 49 > 17000: evicts down to 15300 */
  CHECK(info.bytes <= 15300);
  CHECK(info.entries < 400 && info.entries >= 300);
  CHECK_INT(0, run_map(pool, c, square, a, 200, NULL, want_square));
  CHECK_INT(0, run_map(pool, c, square, cc, 100, NULL, want_square));
  long ran_b = run_map(pool, c, square, b, 100, NULL, want_square);
  CHECK(ran_b >= 400 - (long)info.entries);
  parc_cache_close(c);
  parc_pool_destroy(pool);
  free(a);
  free(b);
  free(cc);
  remove_dir(dir);
}

TEST(clear_by_name_and_everything) {
  const char *dir = fresh_dir();
  parc_cache *c = open_cache(dir, 0);
  parc_pool *pool = test_pool(PARC_THREADS, 2);
  int64_t *x = iota(100, 0);
  CHECK_INT(100, run_map(pool, c, square, x, 100, NULL, want_square));
  CHECK_INT(100, run_map(pool, c, cube, x, 100, NULL, want_cube));
  CHECK_INT(200, stats(c).entries);
  CHECK_OK(parc_cache_clear(c, "square"));
  parc_cache_info info = stats(c);
  CHECK_INT(100, info.entries);
  CHECK_INT(100 * (8 + 1 + 8 + 32), info.bytes);
  CHECK_INT(100, run_map(pool, c, square, x, 100, NULL, want_square));
  CHECK_INT(0, run_map(pool, c, cube, x, 100, NULL, want_cube));
  CHECK_OK(parc_cache_clear(c, NULL));
  info = stats(c);
  CHECK_INT(0, info.entries);
  CHECK_INT(0, info.bytes);
  CHECK_INT(0, info.hits);
  CHECK_INT(100, run_map(pool, c, cube, x, 100, NULL, want_cube));
  CHECK_INT(0, run_map(pool, c, cube, x, 100, NULL, want_cube));
  parc_cache_close(c);
  parc_pool_destroy(pool);
  free(x);
  remove_dir(dir);
}

/* ---- parc_cache_call, submit, backends ------------------------------------- */

static int fails_on_negative(const void *in, void *out, parc_task *t) {
  atomic_fetch_add(&executed, 1);
  int64_t x = *(const int64_t *)in;
  if (x < 0) return parc_fail(t, "x = %lld is negative", (long long)x);
  *(int64_t *)out = 2 * x;
  return 0;
}

TEST(cache_call_is_memory_cache) {
  const char *dir = fresh_dir();
  parc_cache *c = open_cache(dir, 0);
  int64_t x = 21, y = 0, ctx = 1;
  long before = atomic_load(&executed);
  CHECK_OK(parc_cache_call(c, NULL, NULL, fails_on_negative, &x, sizeof x, &y, sizeof y, NULL, 0));
  CHECK_INT(42, y);
  y = 0;
  CHECK_OK(parc_cache_call(c, NULL, NULL, fails_on_negative, &x, sizeof x, &y, sizeof y, NULL, 0));
  CHECK_INT(42, y);
  CHECK_INT(1, atomic_load(&executed) - before);
  CHECK_OK(parc_cache_call(c, NULL, "v2", fails_on_negative, &x, sizeof x, &y, sizeof y, NULL, 0));
  CHECK_OK(parc_cache_call(c, NULL, NULL, fails_on_negative, &x, sizeof x, &y, sizeof y, &ctx,
                           sizeof ctx));
  CHECK_INT(3, atomic_load(&executed) - before);
  /* Failures are returned and never stored. */
  x = -1;
  CHECK_ERROR(PARC_ETASK, "is negative",
              parc_cache_call(c, NULL, NULL, fails_on_negative, &x, sizeof x, &y, sizeof y, NULL, 0));
  CHECK_ERROR(PARC_ETASK, "is negative",
              parc_cache_call(c, NULL, NULL, fails_on_negative, &x, sizeof x, &y, sizeof y, NULL, 0));
  CHECK_INT(5, atomic_load(&executed) - before);
  x = 21;
  CHECK_ERROR(PARC_EINVAL, "fn is NULL",
              parc_cache_call(c, NULL, NULL, NULL, &x, sizeof x, &y, sizeof y, NULL, 0));
  CHECK_ERROR(PARC_EINVAL, "in is NULL",
              parc_cache_call(c, NULL, NULL, cube, NULL, 8, &y, sizeof y, NULL, 0));
  CHECK_ERROR(PARC_EINVAL, "c is NULL",
              parc_cache_call(NULL, NULL, NULL, cube, &x, sizeof x, &y, sizeof y, NULL, 0));
  parc_cache_info info = stats(c);
  CHECK_INT(3, info.entries);
  parc_cache_close(c);
  remove_dir(dir);
  CHECK_NO_LEAKS();
}

static int zero_out(const void *in, void *out, parc_task *t) {
  (void)in;
  (void)t;
  atomic_fetch_add(&executed, 1);
  memset(out, 0, 8);
  return 0;
}

TEST(output_size_is_part_of_the_check) {
  const char *dir = fresh_dir();
  parc_cache *c = open_cache(dir, 0);
  int64_t x = 1;
  char big[16] = {1};
  long before = atomic_load(&executed);
  CHECK_OK(parc_cache_call(c, "z", NULL, zero_out, &x, sizeof x, big, 8, NULL, 0));
  CHECK_OK(parc_cache_call(c, "z", NULL, zero_out, &x, sizeof x, big, 16, NULL, 0));
  CHECK_INT(2, atomic_load(&executed) - before);
  parc_cache_close(c);
  remove_dir(dir);
}

TEST(submit_and_next_with_a_cache_on_every_backend) {
  const char *dir = fresh_dir();
  parc_cache *c = open_cache(dir, 0);
  parc_backend backends[] = {PARC_SERIAL, PARC_THREADS};
  for (int round = 0; round < 2; round++) {
    for (size_t b = 0; b < 2; b++) {
      parc_pool *pool = test_pool(backends[b], 3);
      parc_options opt = {0};
      opt.cache = c;
      opt.batch = 1;
      parc_group *g;
      CHECK_OK(parc_group_create(&g, pool, &opt));
      int64_t out[50];
      long before = atomic_load(&executed);
      for (int64_t i = 0; i < 50; i++) {
        int64_t x = i * 3;
        CHECK_OK(parc_group_submit(g, cube, &x, sizeof x, &out[i], sizeof out[i], NULL));
      }
      size_t index, reported = 0;
      int rc;
      while ((rc = parc_group_next(g, -1, &index)) != PARC_DONE) {
        CHECK_INT(PARC_OK, rc);
        CHECK_INT((int64_t)index * 3 * (int64_t)index * 3 * (int64_t)index * 3, out[index]);
        reported++;
      }
      CHECK_INT(50, reported);
      long ran = atomic_load(&executed) - before;
      CHECK_INT(round == 0 && b == 0 ? 50 : 0, ran);
      parc_group_destroy(g);
      parc_pool_destroy(pool);
    }
  }
  parc_cache_close(c);
  remove_dir(dir);
  CHECK_NO_LEAKS();
}

TEST(many_threads_share_one_cache) {
  const char *dir = fresh_dir();
  parc_cache *c = open_cache(dir, 0);
  parc_pool *pool = test_pool(PARC_THREADS, 4);
  size_t n = 20000;
  int64_t *x = iota(n, 0);
  /* Half cached first, then the whole: hits and stores interleave. */
  CHECK_INT(n / 2, run_map(pool, c, square, x, n / 2, NULL, want_square));
  parc_options opt = {0};
  opt.batch = 7;
  CHECK_INT(n / 2, run_map(pool, c, square, x, n, &opt, want_square));
  CHECK_INT(0, run_map(pool, c, square, x, n, NULL, want_square));
  CHECK_INT(n, stats(c).entries);
  parc_cache_close(c);
  parc_pool_destroy(pool);
  free(x);
  remove_dir(dir);
}

int main(int argc, char **argv) { return harness_main(argc, argv); }
