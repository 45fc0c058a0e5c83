#!/usr/bin/env bash
# bench/run_jobs.sh — `parc run` against GNU parallel, xargs -P and a bare
# posix_spawn + waitpid loop (issue 13's targets), measured in one run.
#
#   bench/run_jobs.sh [JOBS [REPS [GNU_JOBS]]]     defaults: 5000 5 1000
#   PARC=build-run/tools/parc bench/run_jobs.sh     the binary to measure
#
# Workloads, at -j2 (xargs -P2 -n1): `true` per input, and `echo {}` per
# input with the output piped on to wc -l (and checked). Per-job overhead is
# parc run -j1 minus the bare loop -j1, both spawning a static do-nothing
# program, over JOBS, in wall time and (with perf) in parc's own CPU time,
# which other users' load disturbs far less. GNU parallel spends milliseconds per job, so it runs
# GNU_JOBS jobs and is compared by jobs/s.
#
# The repetitions are interleaved (each rep runs every case once), so a
# burst of load from another user hits all cases alike; each cell is the
# median of REPS. Compare ratios within one run only.
set -euo pipefail
jobs=${1:-5000}; reps=${2:-5}; gnu_jobs=${3:-1000}
here=$(cd "$(dirname "$0")" && pwd)
parc=${PARC:-$here/../build/tools/parc}
[ -x "$parc" ] || { echo "bench/run_jobs.sh: no parc binary at $parc (set PARC)" >&2; exit 2; }
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
cc -O2 -o "$tmp/spawn" "$here/run_jobs_spawn.c"
echo 'int main(void) { return 0; }' >"$tmp/noop.c"
cc -O2 -static -o "$tmp/noop" "$tmp/noop.c" 2>/dev/null || cc -O2 -o "$tmp/noop" "$tmp/noop.c"
seq "$jobs" >"$tmp/in"; seq "$gnu_jobs" >"$tmp/gnu_in"
true_bin=$(type -P true)
export PARALLEL_SHELL=/bin/sh

# lines N COMMAND... — runs the command, fails unless it printed N lines.
lines() { local want=$1 n; shift; n=$("$@" | wc -l); [ "$n" -eq "$want" ] || { echo "wrong output: $n lines, want $want" >&2; return 1; }; }

names=(parc_true xargs_true bare_true parc_echo xargs_echo parc_j1 bare_j1)
counts=("$jobs" "$jobs" "$jobs" "$jobs" "$jobs" "$jobs" "$jobs")
labels=("parc run -j2 true" "xargs -P2 -n1 true" "bare posix_spawn -j2 true" "parc run -j2 echo {}"
        "xargs -P2 -n1 echo" "parc run -j1 noop (static)" "bare posix_spawn -j1 noop")
has_gnu=0
if command -v parallel >/dev/null; then
  has_gnu=1
  names+=(gnu_true gnu_echo); counts+=("$gnu_jobs" "$gnu_jobs")
  labels+=("GNU parallel -j2 true" "GNU parallel -j2 echo {}")
fi
run_case() {
  case $1 in
    parc_true) "$parc" run -j2 true :::: "$tmp/in" ;;
    xargs_true) xargs -P2 -n1 true <"$tmp/in" ;;
    bare_true) "$tmp/spawn" "$jobs" 2 "$true_bin" ;;
    parc_echo) lines "$jobs" "$parc" run -j2 echo {} :::: "$tmp/in" ;;
    xargs_echo) lines "$jobs" xargs -P2 -n1 echo <"$tmp/in" ;;
    parc_j1) "$parc" run -j1 "$tmp/noop" :::: "$tmp/in" ;;
    bare_j1) "$tmp/spawn" "$jobs" 1 "$tmp/noop" ;;
    gnu_true) parallel --will-cite -j2 true :::: "$tmp/gnu_in" ;;
    gnu_echo) lines "$gnu_jobs" parallel --will-cite -j2 echo {} :::: "$tmp/gnu_in" ;;
  esac
}

# parc's own CPU time, its children's not counted (perf stat --no-inherit):
# the part of the overhead that the load of other users cannot inflate.
has_perf=0
perf stat -i -e task-clock -x, -o "$tmp/perf" true 2>/dev/null && has_perf=1
own_ms() { perf stat -i -e task-clock -x, -o "$tmp/perf" "$@" >/dev/null && awk -F, '/task-clock/ { print $1 }' "$tmp/perf"; }

echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg); $(nproc) CPUs; $jobs jobs, $reps reps (GNU parallel: $gnu_jobs jobs)"
for _ in $(seq "$reps"); do
  for name in "${names[@]}"; do
    start=$(date +%s%N)
    run_case "$name" >/dev/null || { echo "bench/run_jobs.sh: $name failed" >&2; exit 1; }
    echo "$(( $(date +%s%N) - start ))" >>"$tmp/$name"
  done
  if [ $has_perf = 1 ]; then
    own_ms "$parc" run -j1 "$tmp/noop" :::: "$tmp/in" >>"$tmp/parc_own"
    own_ms "$tmp/spawn" "$jobs" 1 "$tmp/noop" >>"$tmp/bare_own"
  fi
done
declare -A med
for name in "${names[@]}"; do
  med[$name]=$(sort -n "$tmp/$name" | awk '{ v[NR] = $1 } END { printf "%.4f", v[int((NR + 1) / 2)] / 1e9 }')
done

printf '%-30s %10s %10s   %s\n' "case" "median s" "jobs/s" "all runs, s"
for i in "${!names[@]}"; do
  n=${names[$i]}
  printf '%-30s %10s %10.0f   %s\n' "${labels[$i]}" "${med[$n]}" "$(awk -v c="${counts[$i]}" -v t="${med[$n]}" 'BEGIN { print c / t }')" \
    "$(awk '{ printf "%.2f ", $1 / 1e9 }' "$tmp/$n")"
done
echo
ratio() { awk -v a="$1" -v na="$2" -v b="$3" -v nb="$4" 'BEGIN { printf "%.1fx", (na / a) / (nb / b) }'; }
if [ $has_gnu = 1 ]; then
  echo "true:    parc run / GNU parallel, jobs/s: $(ratio "${med[parc_true]}" "$jobs" "${med[gnu_true]}" "$gnu_jobs")   (target >= 5x, aim 10x)"
  echo "echo {}: parc run / GNU parallel, jobs/s: $(ratio "${med[parc_echo]}" "$jobs" "${med[gnu_echo]}" "$gnu_jobs")   (target >= 5x, aim 10x)"
fi
echo "true:    parc run / xargs -P2, jobs/s:    $(ratio "${med[parc_true]}" "$jobs" "${med[xargs_true]}" "$jobs")   (target >= 1.0x)"
echo "echo {}: parc run / xargs -P2, jobs/s:    $(ratio "${med[parc_echo]}" "$jobs" "${med[xargs_echo]}" "$jobs")   (target >= 1.0x)"
awk -v p="${med[parc_j1]}" -v b="${med[bare_j1]}" -v n="$jobs" 'BEGIN {
  printf "overhead per job, parc run -j1 over bare posix_spawn + waitpid: %.1f us   (target < 50 us)\n", (p - b) / n * 1e6 }'
if [ $has_perf = 1 ]; then
  p=$(sort -n "$tmp/parc_own" | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }')
  b=$(sort -n "$tmp/bare_own" | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }')
  awk -v p="$p" -v b="$b" -v n="$jobs" 'BEGIN {
    printf "own CPU per job (perf stat --no-inherit), parc run -j1 %.1f us, bare loop %.1f us: overhead %.1f us   (target < 50 us)\n",
           p / n * 1e3, b / n * 1e3, (p - b) / n * 1e3 }'
fi
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
