#!/usr/bin/env bash
# bench/run_jobs.sh — `parc run` against GNU parallel, xargs -P and a bare
# posix_spawn + waitpid loop (issue 13's targets), measured in one run.
#
#   bench/run_jobs.sh [JOBS [REPS [GNU_JOBS]]]     defaults: 5000 5 1000
#   PARC=build-run/tools/parc bench/run_jobs.sh     the binary to measure
#
# Each cell is the median of REPS runs. GNU parallel spends milliseconds per
# job, so it runs GNU_JOBS jobs and is compared by jobs/s. Workloads, all at
# -j2 (xargs -P2 -n1): `true` per input, and `echo {}` per input with the
# output piped through to wc -l (checked). Per-job overhead is parc run -j1
# minus the bare loop -j1, over JOBS. The machine is noisy: the load average
# is printed before and after; compare ratios within one run only.
set -euo pipefail
jobs=${1:-5000}; reps=${2:-5}; gnu_jobs=${3:-1000}
here=$(cd "$(dirname "$0")" && pwd)
parc=${PARC:-$here/../build/tools/parc}
[ -x "$parc" ] || { echo "bench/run_jobs.sh: no parc binary at $parc (set PARC)" >&2; exit 2; }
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
cc -O2 -o "$tmp/spawn" "$here/run_jobs_spawn.c"
# The overhead rows spawn a static do-nothing program: no dynamic loader in
# each child, so the children's cost (and its noise) is small next to parc's.
echo 'int main(void) { return 0; }' >"$tmp/noop.c"
cc -O2 -static -o "$tmp/noop" "$tmp/noop.c" 2>/dev/null || cc -O2 -o "$tmp/noop" "$tmp/noop.c"
seq "$jobs" >"$tmp/in"; seq "$gnu_jobs" >"$tmp/gnu_in"
true_bin=$(type -P true); export PARALLEL_SHELL=/bin/sh

# median_s COMMAND... — median wall seconds of REPS runs of the command; the
# median CPU seconds (user + sys, the command and every process it waited
# for) go to $tmp/cpu. CPU time is what the load of other users disturbs least.
median_s() {
  : >"$tmp/walls"; : >"$tmp/cpus"
  for _ in $(seq "$reps"); do
    /usr/bin/time -f '%e %U %S' -o "$tmp/time" "$@" >/dev/null || { echo "failed: $*" >&2; exit 1; }
    awk '{ print $1 >> "'"$tmp/walls"'"; print $2 + $3 >> "'"$tmp/cpus"'" }' "$tmp/time"
  done
  med() { sort -n "$1" | awk '{ v[NR] = $1 } END { printf "%.4f\n", v[int((NR + 1) / 2)] }'; }
  med "$tmp/cpus" >"$tmp/cpu"
  med "$tmp/walls"
}
# count_lines COMMAND... — runs it, fails unless it printed $want_lines lines.
count_lines() { local n; n=$("$@" | wc -l); [ "$n" -eq "$want_lines" ] || { echo "wrong output: $n lines" >&2; exit 1; }; }
export -f count_lines
rate() { awk -v n="$1" -v t="$2" 'BEGIN { printf "%.0f", n / t }'; }

echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg); $(nproc) CPUs; $jobs jobs, $reps reps (GNU parallel: $gnu_jobs jobs)"
printf '%-34s %10s %10s\n' "case" "median s" "jobs/s"
row() { printf '%-34s %10s %10s\n' "$1" "$2" "$(rate "$3" "$2")"; }

export want_lines=$jobs
p_true=$(median_s "$parc" run -j2 true :::: "$tmp/in");                      row "parc run -j2 true" "$p_true" "$jobs"
x_true=$(median_s bash -c 'xargs -P2 -n1 true <"$1"' _ "$tmp/in");                               row "xargs -P2 -n1 true" "$x_true" "$jobs"
b_true=$(median_s "$tmp/spawn" "$jobs" 2 "$true_bin");                          row "bare posix_spawn -j2 true" "$b_true" "$jobs"
p_echo=$(median_s bash -c 'count_lines "$@"' _ "$parc" run -j2 echo {} :::: "$tmp/in");        row "parc run -j2 echo {}" "$p_echo" "$jobs"
x_echo=$(median_s bash -c 'count_lines xargs -P2 -n1 echo <"$1"' _ "$tmp/in");                   row "xargs -P2 -n1 echo" "$x_echo" "$jobs"
p1=$(median_s "$parc" run -j1 "$tmp/noop" :::: "$tmp/in"); p1_cpu=$(cat "$tmp/cpu"); row "parc run -j1 noop (static)" "$p1" "$jobs"
b1=$(median_s "$tmp/spawn" "$jobs" 1 "$tmp/noop"); b1_cpu=$(cat "$tmp/cpu");           row "bare posix_spawn -j1 noop" "$b1" "$jobs"
if command -v parallel >/dev/null; then
  g_true=$(median_s parallel --will-cite -j2 true :::: "$tmp/gnu_in");          row "GNU parallel -j2 true" "$g_true" "$gnu_jobs"
  export want_lines=$gnu_jobs
  g_echo=$(median_s bash -c 'count_lines "$@"' _ parallel --will-cite -j2 echo {} :::: "$tmp/gnu_in"); row "GNU parallel -j2 echo {}" "$g_echo" "$gnu_jobs"
fi
echo
ratio() { awk -v a="$1" -v na="$2" -v b="$3" -v nb="$4" 'BEGIN { printf "%.1fx", (na / a) / (nb / b) }'; }
[ -n "${g_true:-}" ] && echo "true:    parc run / GNU parallel jobs/s = $(ratio "$p_true" "$jobs" "$g_true" "$gnu_jobs")   (target >= 5x, aim 10x)"
[ -n "${g_echo:-}" ] && echo "echo {}: parc run / GNU parallel jobs/s = $(ratio "$p_echo" "$jobs" "$g_echo" "$gnu_jobs")"
echo "true:    parc run / xargs -P2 jobs/s    = $(ratio "$p_true" "$jobs" "$x_true" "$jobs")   (target >= 1.0x)"
echo "echo {}: parc run / xargs -P2 jobs/s    = $(ratio "$p_echo" "$jobs" "$x_echo" "$jobs")"
awk -v p="$p1" -v b="$b1" -v pc="$p1_cpu" -v bc="$b1_cpu" -v n="$jobs" 'BEGIN {
  printf "overhead per job over bare posix_spawn + waitpid (-j1): wall %.1f us, CPU %.1f us   (target < 50 us)\n",
         (p - b) / n * 1e6, (pc - bc) / n * 1e6 }'
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
