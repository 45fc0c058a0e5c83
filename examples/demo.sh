#!/bin/sh
# demo — `make demo`: the seed chapter in C, every example in chapter order.
# Plots go to $PARC_PLOTS, by default the build tree's plots/ directory.
bin=$(cd "$(dirname "$0")" && pwd)
PARC_PLOTS=${PARC_PLOTS:-@PROJECT_BINARY_DIR@/plots}
mkdir -p "$PARC_PLOTS"
PARC_PLOTS=$(cd "$PARC_PLOTS" && pwd)
export PARC_PLOTS
started=$(date +%s.%N)
touch "$PARC_PLOTS/.demo-started"

section() {
  printf '\n== %s ==\n' "$1"
}
# run PROGRAM: runs one example if it was built (later sections join as
# their programs land); a failing example is named at the end, and the
# others still run.
failed=""
# show_trace: what `parc trace` reads in the trace crash_isolation wrote
# (skipped when the library or the tool predates traces, or gnuplot is
# missing: the summary needs none of it).
tool=@PROJECT_BINARY_DIR@/tools/parc
show_trace() {
  if [ ! -s "$trace" ]; then
    echo "(no trace: crash_isolation wrote no $trace)"
  elif [ ! -x "$tool" ] || ! "$tool" help trace >/dev/null 2>&1; then
    echo "(no trace summary: the parc tool was built without 'parc trace')"
  else
    echo "$ parc trace summary $trace"
    "$tool" trace summary "$trace" || failed="$failed trace-summary"
    if command -v gnuplot >/dev/null; then
      "$tool" trace plot "$trace" -o "$PARC_PLOTS/timeline.png" || failed="$failed trace-plot"
    else
      echo "(no timeline plot: gnuplot not found; install the Debian package gnuplot-nox)"
    fi
  fi
}
run() {
  if [ -x "$bin/$1" ]; then
    "$bin/$1" || { echo "($1 failed: exit status $?)"; failed="$failed $1"; }
  else
    echo "($1 not built)"
  fi
}

section "First example: the README's sweep (examples/sweep_intro.c)"
run sweep_intro
section "Threading: for I/O-bound tasks (examples/io_threads.c)"
run io_threads
section "CPU-bound tasks: in C, threads scale (examples/cpu_threads.c)"
run cpu_threads
section "Parameter sweep: reaction kinetics (examples/reaction_sweep.c)"
run reaction_sweep
section "Monte Carlo uncertainty: fin tip temperature (examples/monte_carlo_fin.c)"
run monte_carlo_fin
section "Reductions: the fin's mean, the same bits on 1, 2, 3 workers (examples/reduce_fin_mean.c)"
run reduce_fin_mean
section "submit() and as_completed() (examples/as_completed.c)"
run as_completed
section "Streaming: stdin of unknown length, memory flat (examples/stream_stdin.c)"
# Not `seq | run ...`: each command of a pipeline may run in a subshell, and
# `failed` must be set in this shell.
if [ -x "$bin/stream_stdin" ]; then
  echo "$ seq 999900001 1000000000 | stream_stdin"
  seq 999900001 1000000000 | "$bin/stream_stdin" ||
    { echo "(stream_stdin failed: exit status $?)"; failed="$failed stream_stdin"; }
else
  echo "(stream_stdin not built)"
fi
section "Error handling (examples/error_handling.c)"
run error_handling
section "Crash isolation: what processes buy (examples/crash_isolation.c)"
# This run also writes its pool's trace, for the traces section below.
trace=$PARC_PLOTS/trace.json
rm -f "$trace"
export PARC_TRACE="$trace"
run crash_isolation
unset PARC_TRACE
section "Batch processing: fitting 100 experiments (examples/batch_fitting.c)"
run batch_fitting
section "Batch processing: 300 data files of any size, THREADS = PROCESSES (examples/data_files.c)"
run data_files
section "Backends and BLAS: SVD batch (examples/svd_batch.c)"
run svd_batch
section "Caching results with joblib.Memory: parc_cache_call (examples/cache_simulation.c)"
run cache_simulation
section "Caching a sweep: killed with SIGKILL, resumed (examples/cache_resume.c)"
run cache_resume
if [ -x "$bin/graph_sweep" ]; then
  section "Task graphs: dask.delayed (examples/graph_sweep.c)"
  run graph_sweep
fi
section "Measure before optimizing: speedup vs workers (examples/scaling.c)"
run scaling
section "Chunking and random seeds (examples/chunking_and_seeds.c)"
run chunking_and_seeds
section "Seeing the run: crash_isolation's trace (parc trace summary|plot)"
show_trace

printf '\n== Plots written to %s ==\n' "$PARC_PLOTS"
find "$PARC_PLOTS" -name '*.png' -newer "$PARC_PLOTS/.demo-started" | sort | sed 's/^/  /'
rm -f "$PARC_PLOTS/.demo-started"
awk -v a="$started" -v b="$(date +%s.%N)" 'BEGIN { printf "demo finished in %.1f s\n", b - a }'
if [ -n "$failed" ]; then
  echo "failed:$failed"
  exit 1
fi
