/*
 * cache_cmd.c — `parc cache`: look into or empty a result cache directory.
 *
 *   parc cache stats PATH          entries, bytes, hits, misses, file size
 *   parc cache clear PATH [NAME]   delete every result, or those of NAME
 *
 * Both open the cache like a program would (so a damaged cache is rebuilt
 * and a foreign file refused, with the library's message), and refuse to
 * create a cache that does not exist yet.
 */
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "commands.h"
#include "parc.h"

static int usage(FILE *to) {
  fprintf(to,
          "usage: parc cache stats PATH\n"
          "       parc cache clear PATH [NAME]\n"
          "PATH is a cache directory (parc_cache_open's path); NAME a function's\n"
          "cache name (its symbol name unless the program set cache_name).\n");
  return to == stderr ? 2 : 0;
}

static void human(uint64_t bytes, char *buf, size_t size) {
  const char *units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  double v = (double)bytes;
  int u = 0;
  while (v >= 1024 && u < 4) {
    v /= 1024;
    u++;
  }
  if (u == 0) snprintf(buf, size, "%llu B", (unsigned long long)bytes);
  else snprintf(buf, size, "%.1f %s", v, units[u]);
}

static parc_cache *open_existing(const char *path) {
  char file[4096];
  struct stat st;
  snprintf(file, sizeof file, "%s/parc-cache.sqlite", path);
  if (stat(file, &st) != 0) {
    fprintf(stderr, "parc cache: %s holds no cache (no %s)\n", path, file);
    return NULL;
  }
  parc_cache *c = NULL;
  parc_cache_options opt = {0, 1};
  if (parc_cache_open(&c, path, &opt) != 0) {
    fprintf(stderr, "parc cache: %s\n", parc_errmsg());
    return NULL;
  }
  return c;
}

static int stats(const char *path) {
  parc_cache *c = open_existing(path);
  if (!c) return 1;
  parc_cache_info info;
  int rc = parc_cache_stats(c, &info);
  parc_cache_close(c);
  if (rc != 0) {
    fprintf(stderr, "parc cache: %s\n", parc_errmsg());
    return 1;
  }
  char bytes[32], file[32];
  human(info.bytes, bytes, sizeof bytes);
  human(info.file_bytes, file, sizeof file);
  uint64_t lookups = info.hits + info.misses;
  printf("cache      %s\n", path);
  printf("entries    %llu\n", (unsigned long long)info.entries);
  printf("bytes      %llu (%s)\n", (unsigned long long)info.bytes, bytes);
  printf("file       %llu (%s)\n", (unsigned long long)info.file_bytes, file);
  printf("functions  %llu\n", (unsigned long long)info.functions);
  printf("hits       %llu\n", (unsigned long long)info.hits);
  printf("misses     %llu\n", (unsigned long long)info.misses);
  if (lookups)
    printf("hit rate   %.1f%%\n", 100.0 * (double)info.hits / (double)lookups);
  return 0;
}

static int clear(const char *path, const char *name) {
  parc_cache *c = open_existing(path);
  if (!c) return 1;
  parc_cache_info before, after;
  int rc = parc_cache_stats(c, &before);
  if (rc == 0) rc = parc_cache_clear(c, name);
  if (rc == 0) rc = parc_cache_stats(c, &after);
  parc_cache_close(c);
  if (rc != 0) {
    fprintf(stderr, "parc cache: %s\n", parc_errmsg());
    return 1;
  }
  printf("removed %llu of %llu entries%s%s\n",
         (unsigned long long)(before.entries - after.entries),
         (unsigned long long)before.entries, name ? " of " : "", name ? name : "");
  return 0;
}

int parc_cmd_cache(int argc, char **argv) {
  if (argc >= 2 && (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0))
    return usage(stdout);
  if (argc == 3 && strcmp(argv[1], "stats") == 0) return stats(argv[2]);
  if ((argc == 3 || argc == 4) && strcmp(argv[1], "clear") == 0)
    return clear(argv[2], argc == 4 ? argv[3] : NULL);
  return usage(stderr);
}
