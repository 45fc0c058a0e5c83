/*
 * parc — the command-line tool: `parc bench`, `parc cache`.
 * Each subcommand is one file; this one only dispatches.
 */
#include <stdio.h>
#include <string.h>

#include "commands.h"

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
    {NULL, NULL, NULL}};

static int usage(FILE *to) {
  fprintf(to, "usage: parc COMMAND [ARGS...]\n\ncommands:\n");
  for (const command *c = commands; c->name; c++) fprintf(to, "  %-8s %s\n", c->name, c->summary);
  return to == stderr ? 2 : 0;
}

int main(int argc, char **argv) {
  if (argc < 2) return usage(stderr);
  if (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0) return usage(stdout);
  for (const command *c = commands; c->name; c++)
    if (strcmp(argv[1], c->name) == 0) return c->run(argc - 1, argv + 1);
  fprintf(stderr, "parc: unknown command '%s' (try parc --help)\n", argv[1]);
  return 2;
}
