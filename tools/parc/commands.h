/* The parc command-line tool's subcommands; each lives in its own file. */
#ifndef PARC_TOOL_COMMANDS_H
#define PARC_TOOL_COMMANDS_H

/* argv[0] is the subcommand's name. Each returns the process exit code and
   prints its own one-line errors to stderr. */
int parc_cmd_bench(int argc, char **argv);   /* bench_cmd.c */
int parc_cmd_cache(int argc, char **argv);   /* cache_cmd.c */
int parc_cmd_run(int argc, char **argv);     /* run_cmd.c, with run_*.c */
int parc_cmd_trace(int argc, char **argv);   /* trace_cmd.c, with trace_*.c */

#endif
