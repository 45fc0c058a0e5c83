#!/bin/sh
# check.sh CASE PARC DIR — one case of `parc trace`'s tests, on the sample
# traces in DIR (this directory): what summary prints for a complete, a
# cut and a faulty trace, the plot, and every error path. Each failed check
# prints what it expected and what it got. Exit 0 pass, 1 fail, 77 skip.
set -u
case=$1 parc=$2 dir=$3
fail=0
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# run WANT-RC ARGS...: parc ARGS, its output in $tmp/out and $tmp/err.
run() {
  want=$1
  shift
  "$parc" "$@" >"$tmp/out" 2>"$tmp/err"
  rc=$?
  if [ "$rc" -ne "$want" ]; then
    printf 'FAIL parc %s: exit %d (expected %d), output:\n' "$*" "$rc" "$want"
    cat "$tmp/out" "$tmp/err"
    fail=1
  fi
}
# has out|err REGEX: a line of parc's stdout or stderr matches REGEX.
has() {
  grep -Eq -- "$2" "$tmp/$1" && return 0
  printf 'FAIL: expected a line matching\n  %s\nin std%s, got:\n' "$2" "$1"
  cat "$tmp/$1"
  fail=1
}
lacks() {
  grep -Eq -- "$2" "$tmp/$1" || return 0
  printf 'FAIL: expected no line matching\n  %s\nin std%s, got:\n' "$2" "$1"
  cat "$tmp/$1"
  fail=1
}
# one_line: stderr is exactly one line (errors are one line, no usage dump).
one_line() {
  n=$(wc -l <"$tmp/err")
  [ "$n" -eq 1 ] && return 0
  echo "FAIL: expected one line on stderr, got $n:"
  cat "$tmp/err"
  fail=1
}
count() {   # count out REGEX WANT
  n=$(grep -Ec -- "$2" "$tmp/$1")
  [ "$n" -eq "$3" ] && return 0
  printf 'FAIL: expected %d lines matching %s, got %d:\n' "$3" "$2" "$n"
  cat "$tmp/$1"
  fail=1
}

summary_complete() {
  run 0 trace summary "$dir/complete.json"
  has out '^program    parc pool \(threads, 2 workers\), parc 0\.1\.0$'
  has out '^complete   yes$'
  has out '^span       7\.522 ms \(from 0\.0 us to 7\.522 ms after the pool started\)$'
  has out '^tasks      8 \(8 tries: 0 retries; 0 cached\)$'
  has out '^failed     1$'
  has out '^status     PARC_OK 7, PARC_ETASK 1 '
  has out '^  worker 0 +4 +0\.007500 +99\.7% +0 +0\.000000 +3\.0 us$'
  has out '^  worker 1 +4 +0\.002000 +26\.6% +1 +0\.002000 +1\.5 us$'
  has out '^dispatch   median gap between tasks of one chunk: 2\.0 us \(4 gaps\)$'
  has out '^ +1\. +7 +worker 0 +3\.000 ms +PARC_OK +1$'
  has out '^ +2\. +1 +worker 0 +2\.000 ms +PARC_OK +1$'
  has out '^ +8\. +6 +worker 1 +250\.0 us +PARC_ETASK +1$'
  count out '^ +[0-9]+\. ' 8
  lacks out 'incomplete'
  [ -s "$tmp/err" ] && { echo "FAIL: summary wrote to stderr:"; cat "$tmp/err"; fail=1; }
}

summary_faults() {
  run 0 trace summary "$dir/faults.json"
  has out '^span       18\.100 ms '
  has out '^tasks      9 \(11 tries: 2 retries; 3 cached\)$'
  has out '^failed     4$'
  has out '^status     PARC_OK 5, PARC_ECANCELED 2, PARC_ETASK 1, PARC_ETIMEDOUT 1 '
  has out '^faults     crashes 1, timeouts 2, retries 2, replacements 1, cancels 1$'
  has out '^  worker 0 +6 +0\.006000 +33\.1% +1 +0\.003900 +1\.7 us$'
  has out '^  worker 1 +3 +0\.005800 +32\.0% +2 +0\.004102 +0\.0 us$'
  has out '^  worker 2 +2 +0\.018000 +99\.4% +0 +0\.000000 +40\.0 us$'
  has out '^ +1\. +4 +worker 2 +9\.000 ms +PARC_ETIMEDOUT +1$'
  has out '^ +3\. +3 +worker 1 +4\.000 ms +PARC_ECRASH +1$'
  has out '^ +6\. +3 +worker 1 +1\.800 ms +PARC_OK +2$'
  count out '^ +[0-9]+\. ' 10
}

summary_cut() {
  run 0 trace summary "$dir/cut.json"
  has out '^complete   trace incomplete: the program ended before the pool \(10 events read\)$'
  has out '^tasks      6 \(6 tries: 0 retries; 0 cached\)$'
  has out '^  worker 1 +3 +0\.001750 '
  # The writer's header alone: a pool killed before its first event.
  printf '{"traceEvents":[\n' >"$tmp/header.json"
  run 0 trace summary "$tmp/header.json"
  has out 'trace incomplete: the program ended before the pool \(0 events read\)'
  has out '^tasks      0 \(0 tries'
}

# Two maps on one pool reuse task indices (without args.group), and a
# group of another label too: a try 1 begins a task, a later try continues it.
summary_two_maps() {
  run 0 trace summary "$dir/two_maps.json"
  has out '^tasks      5 \(6 tries: 1 retries; 0 cached\)$'
  has out '^failed     1$'
  has out '^status     PARC_OK 4, PARC_ETASK 1 '
}

summary_reordered() {   # any field order, whitespace, escapes, unknown phases
  run 0 trace summary "$dir/reordered.json"
  has out "^  wörker 'zero' +1 +0\.002500 +100\.0% "
  has out '^complete   yes$'
}

errors() {
  run 1 trace summary "$dir/none.json"
  has err '^parc trace: .*none\.json: No such file or directory$'
  one_line
  run 1 trace summary "$dir"
  has err 'Is a directory$'
  run 1 trace summary "$dir/empty.json"
  has err 'empty\.json: empty file, not a trace$'
  run 1 trace summary "$dir/not_a_trace.json"
  has err 'not a trace \(no traceEvents\)$'
  run 1 trace summary "$dir/binary.json"
  has err "not a trace \(it does not start with '\{'\)$"
  run 1 trace summary "$dir/bad_middle.json"
  has err 'bad_middle\.json: line 8: '
  one_line
  run 1 trace summary "$dir/deep.json"
  has err 'nested too deeply'
  run 1 trace plot "$dir/bad_middle.json" -o "$tmp/bad.png"
  [ -e "$tmp/bad.png" ] && { echo "FAIL: a plot of an invalid trace left $tmp/bad.png"; fail=1; }
  for args in "" "frob" "summary" "summary a b" "plot $dir/complete.json" \
              "plot $dir/complete.json -o" "plot $dir/complete.json -o x.png --width 5" \
              "plot $dir/complete.json -o x.png --bogus" "plot a b -o x.png"; do
    # shellcheck disable=SC2086 # the words are the arguments
    run 2 trace $args
    has err '^parc trace: .*\(try parc trace --help\)$'
    one_line
  done
  run 0 trace --help
  has out '^usage: parc trace summary FILE$'
  run 0 help trace
  has out '^       parc trace plot FILE -o OUT\.png \[--width PX\]$'
  run 0 help
  has out '^  trace '
  # A PATH with the tools these checks use, but no gnuplot.
  mkdir "$tmp/bin"
  for tool in cat grep wc; do ln -s "$(command -v $tool)" "$tmp/bin/$tool"; done
  saved_path=$PATH
  PATH=$tmp/bin
  run 1 trace plot "$dir/complete.json" -o "$tmp/nognuplot.png"
  has err 'gnuplot not found'
  PATH=$saved_path
  [ -e "$tmp/nognuplot.png" ] && { echo "FAIL: plot without gnuplot left a file"; fail=1; }
}

plot() {
  command -v gnuplot >/dev/null || { echo "skipped: no gnuplot"; exit 77; }
  mkdir "$tmp/tmpdir"
  TMPDIR=$tmp/tmpdir run 0 trace plot "$dir/faults.json" -o "$tmp/faults.png" --width 900
  has out "^timeline: $tmp/faults\.png$"
  magic=$(od -An -c -N4 "$tmp/faults.png" 2>/dev/null | tr -d ' ')
  size=$(wc -c <"$tmp/faults.png" 2>/dev/null || echo 0)
  [ "$magic" = "211PNG" ] && [ "$size" -gt 2000 ] ||
    { echo "FAIL: $tmp/faults.png is no PNG: magic '$magic', $size bytes"; fail=1; }
  [ -z "$(ls -A "$tmp/tmpdir")" ] || { echo "FAIL: plot left files: $(ls -A "$tmp/tmpdir")"; fail=1; }
  run 0 trace plot "$dir/cut.json" -o "$tmp/cut.png"
  has err 'trace incomplete: the program ended before the pool \(10 events read\)'
  [ -s "$tmp/cut.png" ] || { echo "FAIL: no plot of the cut trace"; fail=1; }
  run 0 trace plot "$dir/reordered.json" -o "$tmp/odd names.png"
  run 1 trace plot "$dir/complete.json" -o "$tmp/no/such/dir.png"
  has err 'dir\.png: No such file or directory$'
  one_line
}

# A trace the library wrote (parc bench's pools read PARC_TRACE), and one
# whose program was killed with SIGKILL in the middle of its pool.
real_trace() {
  "$parc" help bench >/dev/null 2>&1 || { echo "skipped: parc bench not built"; exit 77; }
  PARC_TRACE=$tmp/bench.json run 0 bench --workload empty --n 500 --workers 2 \
    --backend threads --repeats 1
  run 0 trace summary "$tmp/bench.json"
  has out '^complete   yes$'
  has out '^tasks      500 \(500 tries: 0 retries; 0 cached\)$'
  has out '^status     PARC_OK 500 '
  PARC_TRACE=$tmp/killed.json "$parc" bench --workload reaction --n 800000 --workers 2 \
    --backend threads --repeats 1 >/dev/null 2>&1 &
  bench=$!
  waited=0
  while [ ! -s "$tmp/killed.json" ] && [ $waited -lt 100 ]; do sleep 0.1; waited=$((waited + 1)); done
  sleep 0.1   # the pool runs for about half a second
  kill -9 $bench 2>/dev/null
  wait $bench 2>/dev/null
  run 0 trace summary "$tmp/killed.json"
  has out '^complete   trace incomplete: the program ended before the pool \([0-9]+ events read\)$'
}

# The checks themselves fail on a wrong answer (else a pass proves nothing).
can_fail() {
  for wrong in "has out '^failed     2\$'" "has out '^  worker 0 +4 +0\.007600 '" \
               "count out '^ +[0-9]+\. ' 9" "lacks out 'worker 1'" "has out 'incomplete'"; do
    fail=0
    run 0 trace summary "$dir/complete.json"
    eval "$wrong" >/dev/null
    [ $fail -eq 1 ] || { echo "FAIL: the check \"$wrong\" passed on complete.json"; exit 1; }
  done
  fail=0
  run 1 trace summary "$dir/complete.json" >/dev/null
  [ $fail -eq 1 ] || { echo "FAIL: run accepted a wrong exit status"; exit 1; }
  fail=0
}

case "$case" in
  summary_complete | summary_faults | summary_cut | summary_two_maps | summary_reordered | \
    errors | plot | \
    real_trace | can_fail) "$case" ;;
  *) echo "check.sh: unknown case '$case'"; exit 2 ;;
esac
[ $fail -eq 0 ] && echo "ok: parc trace $case"
exit $fail
