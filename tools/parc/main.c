/*
 * parc — the command-line tool: `parc bench`, `parc cache`, `parc run`, `parc trace`.
 * Each subcommand is one file; this one only dispatches, and answers
 * `parc help [COMMAND]` and `parc version` (also --help, --version) itself.
 */
#include <stdio.h>
#include <string.h>

#include "commands.h"
#include "parc.h"

typedef struct command {
  const char *name;
  int (*run)(int argc, char **argv);
  const char *summary;
} command;

static const command commands[] = {
#ifdef PARC_TOOL_HAVE_BENCH
    {"bench", parc_cmd_bench, "speedup table by backend and worker count"},
#endif
#ifdef PARC_TOOL_HAVE_CACHE
    {"cache", parc_cmd_cache, "inspect or clear a result cache: stats PATH | clear PATH [NAME]"},
#endif
#ifdef PARC_TOOL_HAVE_RUN
    {"run", parc_cmd_run, "shell commands over inputs, GNU parallel's way (parc run --help)"},
#endif
#ifdef PARC_TOOL_HAVE_TRACE
    {"trace", parc_cmd_trace, "read a PARC_TRACE file: summary FILE | plot FILE -o OUT.png"},
#endif
    {NULL, NULL, NULL}};

static int usage(FILE *to) {
  fprintf(to, "usage: parc COMMAND [ARGS...]\n\ncommands:\n");
  for (const command *c = commands; c->name; c++) fprintf(to, "  %-8s %s\n", c->name, c->summary);
  fprintf(to, "  %-8s %s\n  %-8s %s\n\nman parc gives the details; man parc_map, the library.\n",
          "help", "help [COMMAND]: this list, or a command's options", "version",
          "the tool's and the library's versions (also --version)");
  return to == stderr ? 2 : 0;
}

static const command *find(const char *name) {
  for (const command *c = commands; c->name; c++)
    if (strcmp(name, c->name) == 0) return c;
  return NULL;
}

static int unknown(const char *name) {
  fprintf(stderr, "parc: unknown command '%s' (try parc help)\n", name);
  return 2;
}

/* The tool's version is the header's it was built with; the library's is
   the one it runs with (they differ only when libparc was replaced). */
static int version(int argc, char **argv) {
  if (argc > 1) {
    fprintf(stderr, "parc version: unexpected argument '%s'\n", argv[1]);
    return 2;
  }
  printf("parc %s (libparc %s)\n", PARC_VERSION_STRING, parc_version());
  return 0;
}

/* parc help [COMMAND]: the command list, or what COMMAND --help prints. */
static int help(int argc, char **argv) {
  if (argc < 2) return usage(stdout);
  if (argc > 2) {
    fprintf(stderr, "parc help: unexpected argument '%s'\n", argv[2]);
    return 2;
  }
  if (strcmp(argv[1], "help") == 0) {
    printf("usage: parc help [COMMAND]\n  the list of commands, or COMMAND's usage\n");
    return 0;
  }
  if (strcmp(argv[1], "version") == 0) {
    printf("usage: parc version\n  prints \"parc TOOL-VERSION (libparc LIBRARY-VERSION)\"\n");
    return 0;
  }
  const command *c = find(argv[1]);
  if (!c) return unknown(argv[1]);
  char *sub[] = {argv[1], "--help", NULL};
  return c->run(2, sub);
}

int main(int argc, char **argv) {
  if (argc < 2) return usage(stderr);
  const char *name = argv[1];
  if (strcmp(name, "-h") == 0 || strcmp(name, "--help") == 0) return usage(stdout);
  if (strcmp(name, "help") == 0) return help(argc - 1, argv + 1);
  if (strcmp(name, "--version") == 0 || strcmp(name, "version") == 0)
    return version(argc - 1, argv + 1);
  const command *c = find(name);
  if (!c) return unknown(name);
  return c->run(argc - 1, argv + 1);
}
