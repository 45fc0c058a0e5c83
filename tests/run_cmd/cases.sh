#!/bin/bash
# cases.sh CASE — one test of `parc run` (issue 13), registered per case by
# tests/run_cmd.cmake. Most cases run the same jobs through parc run and GNU
# parallel (the reference; run with --will-cite) and compare stdout, exit
# status and the joblog's fields. $PARC names the parc binary. Every case
# runs in a private TMPDIR that must be empty afterwards: no leftovers.
set -u
case_name=$1
: "${PARC:?PARC must name the parc binary}"
# The cases that compare with GNU parallel are skipped (77) without it.
case $case_name in
  signal | interrupt | errors) ;;
  *) command -v parallel >/dev/null || { echo "GNU parallel is missing (scripts/deps test installs it)"; exit 77; } ;;
esac
export PARALLEL_SHELL=/bin/sh LC_ALL=C
work=$(mktemp -d "${TMPDIR:-/tmp}/parc-run-test.XXXXXX")
export TMPDIR=$work/tmp
mkdir "$TMPDIR"
cd "$work" || exit 1
trap 'rm -rf "$work"' EXIT
failures=0

fail() { echo "FAIL [$case_name]: $*"; failures=$((failures + 1)); }
prc() { "$PARC" run "$@"; }
gnu() { parallel --will-cite "$@"; }

# same ARGS... — stdout and exit status of parc run and GNU parallel agree
# (stdin, when the case gives one, comes from $stdin_file).
stdin_file=/dev/null
same() {
  local want got want_rc got_rc
  want=$(gnu "$@" <"$stdin_file" 2>gnu.err); want_rc=$?
  got=$(prc "$@" <"$stdin_file" 2>parc.err); got_rc=$?
  [ "$want" == "$got" ] || fail "stdout differs for: $*"$'\n'"--- GNU parallel:"$'\n'"$want"$'\n'"--- parc run:"$'\n'"$got"$'\n'"--- parc stderr:"$'\n'"$(cat parc.err)"
  [ "$want_rc" == "$got_rc" ] || fail "exit status for: $*: GNU parallel $want_rc, parc run $got_rc"
}

# The joblog's fields but the two clocks, in Seq order, header checked.
fields() {
  local header=$'Seq\tHost\tStarttime\tJobRuntime\tSend\tReceive\tExitval\tSignal\tCommand'
  [ "$(head -n 1 "$1")" == "$header" ] || fail "$1: header is '$(head -n 1 "$1")'"
  tail -n +2 "$1" | sort -n | cut -f 1,2,5,6,7,8,9
}

# The clocks' formats: Starttime %.3f, JobRuntime %10.3f.
clock_format() {
  tail -n +2 "$1" | awk -F'\t' '
    $3 !~ /^[0-9]+\.[0-9][0-9][0-9]$/ { print "Starttime: " $3; bad = 1 }
    length($4) != 10 || $4 !~ /^ *[0-9]+\.[0-9][0-9][0-9]$/ { print "JobRuntime: [" $4 "]"; bad = 1 }
    END { exit bad }' || fail "$1: clock fields are not GNU's format"
}

same_joblog() {
  gnu --joblog gnu.log "$@" >/dev/null 2>&1 <"$stdin_file"
  prc --joblog parc.log "$@" >/dev/null 2>parc.err <"$stdin_file"
  local want got
  want=$(fields gnu.log); got=$(fields parc.log)
  [ "$want" == "$got" ] || fail "joblog differs for: $*"$'\n'"--- GNU parallel:"$'\n'"$want"$'\n'"--- parc run:"$'\n'"$got"
  clock_format parc.log
}

case_inputs() {
  same -k echo ::: a b c
  same -k echo {1}-{2} ::: a b ::: 1 2 3
  same -k echo {2} {1} ::: a b c :::+ 1 2
  same -k echo ::: a b ::: x y ::: 1 2
  same -k echo {} {.} {/} {//} {/.} {#} ::: dir/file.tar.gz /abs/x.c plain noext. a.b/c .hidden dir/ /
  same -k echo {1/} {2.} ::: p/q/r.s ::: u.v
  printf 'l1\nl 2\n\nlast' >lines; stdin_file=lines
  same -k echo '[{}]'
  stdin_file=/dev/null
  same -k echo :::: lines
  same -k echo :::: lines ::: x y
  printf 'one\ntwo\0three\0' >nul; stdin_file=nul
  same -0 -k printf '<%s>\n'
  stdin_file=/dev/null
  same -k ::: 'echo no command' 'echo second'
  same -k 'echo $PARALLEL_SEQ' ::: a b c
}

case_exit_status() {
  same -j2 'exit {}' ::: 0 1 2 0 3
  same -j2 'exit 0' ::: a b
  seq 102 >many; stdin_file=many
  same -j2 'exit 1'
  head -n 100 many >hundred; stdin_file=hundred
  same -j2 'exit 1'
  stdin_file=/dev/null
  same nosuchcommand-parc ::: a
  same -k 'echo {}; exit 3' ::: x
}

case_joblog() {
  same_joblog -j2 'sh -c "exit {}"' ::: 0 1 2
  same_joblog -j2 'echo {}; echo err >&2' ::: a bb ccc
  same_joblog 'kill -9 $$' ::: a
  same_joblog 'kill -15 $$' ::: a
  same_joblog -k echo {1}{2} ::: a b ::: 1 2
}

case_timeout() {
  same_joblog --timeout 0.5 sleep ::: 0.1 3
  same --timeout 0.5 sleep ::: 0.1 3
  same -j1 --timeout 300% sleep ::: 0.1 0.1 0.1 3
  # The whole group dies: a job's grandchild would otherwise hold its pipe.
  local start=$SECONDS
  prc --timeout 0.5 'sleep 30 & sleep 31; wait' ::: a 2>parc.err
  [ $((SECONDS - start)) -le 5 ] || fail "timeout did not kill the job's process group"
  grep -q 'timed out after 0.5 s, killed by signal 15 (Terminated)' parc.err || fail "timeout message: $(cat parc.err)"
  # TERM ignored: KILL follows.
  prc --joblog ign.log --timeout 0.3 "trap '' TERM; sleep {}" ::: 5 2>/dev/null
  [ "$(tail -n 1 ign.log | cut -f 7,8)" == $'-1\t9' ] || fail "a job that ignores TERM: $(tail -n 1 ign.log)"
}

case_retries() {
  : >gnu.count; : >parc.count
  gnu --retries 3 "echo x >> $work/gnu.count; echo try; exit 1" ::: a >gnu.out 2>/dev/null; local want=$?
  prc --retries 3 "echo x >> $work/parc.count; echo try; exit 1" ::: a >parc.out 2>/dev/null; local got=$?
  [ "$(wc -l <gnu.count)" == "$(wc -l <parc.count)" ] || fail "retries: GNU ran $(wc -l <gnu.count) times, parc $(wc -l <parc.count)"
  [ "$(cat gnu.out)" == "$(cat parc.out)" ] || fail "retries: output $(cat parc.out)"
  [ "$want" == "$got" ] || fail "retries: exit status GNU $want parc $got"
  same_joblog --retries 2 'test -e {}.flag || { touch {}.flag; exit 4; }' ::: r1 r2
  rm -f r1.flag r2.flag
}

case_halt() {
  same -j1 --halt now,fail=1 'echo {}; exit {}' ::: 0 3 0 0
  same -j1 --halt soon,fail=2 'echo {}; exit {}' ::: 0 3 4 0 0
  same -j1 --halt now,success=1 'echo {}; exit {}' ::: 3 0 4 0
  same -j1 --halt soon,fail=50% 'echo {}; exit {}' ::: 0 3 4 0 5 6 0
  same -j1 --halt now,fail=20% 'echo {}; exit {}' ::: 0 3 4 0 0 0 0
  same -j1 --halt 2 'echo {}; exit {}' ::: 0 5 0
  same -j1 --halt now,fail=1 'kill -9 $$' ::: a b
}

case_output() {
  same -k -j4 'sleep {}; echo {}' ::: 0.3 0.1 0.2 0
  local got; got=$(prc -j4 'sleep {}; echo {}' ::: 0.3 0.0 2>/dev/null | head -n 1)
  [ "$got" == "0.0" ] || fail "without -k the first finished job prints first, got '$got'"
  same -k --tag echo ::: a b ::: 1 2
  same -k --tag 'printf "x\ny"' ::: 'in put'
  # Grouped: two jobs printing slowly never interleave.
  got=$(prc -j2 'for i in 1 2 3; do echo {}$i; sleep 0.05; done' ::: a b)
  [[ "$got" == $'a1\na2\na3\nb1\nb2\nb3' || "$got" == $'b1\nb2\nb3\na1\na2\na3' ]] || fail "output interleaved: $got"
  # --line-buffer: whole lines, as they come.
  got=$(prc -j2 --line-buffer 'for i in 1 2 3; do echo {}$i; sleep 0.1; done' ::: a b | head -n 2 | sort | tr '\n' ' ')
  [ "$got" == "a1 b1 " ] || fail "--line-buffer did not print lines as they came: $got"
  same -k --line-buffer --tag 'echo {}; echo e{} >&2' ::: a b
  got=$(prc -u -j1 'echo {}' ::: a b)
  [ "$got" == $'a\nb' ] || fail "-u: $got"
  # More than the memory buffer: spooled to disk and back, byte for byte.
  got=$(prc -k 'head -c 300000 /dev/zero | tr "\0" {}' ::: x y | md5sum)
  [ "$got" == "$( (head -c 300000 /dev/zero | tr '\0' x; head -c 300000 /dev/zero | tr '\0' y) | md5sum)" ] || fail "spooled output differs"
  # The spool directory is private while it exists.
  got=$(prc 'head -c 200000 /dev/zero; stat -c %a "$TMPDIR"/parc-run.*; : {}' ::: a | tr -d '\0')
  [ "$got" == 700 ] || fail "spool directory mode: '$got'"
  same --dry-run -k echo {} ::: a 'b c' '$(x)'
  # --bar and --eta leave stdout alone.
  got=$(prc -k --bar echo ::: a b 2>bar.err)
  [ "$got" == $'a\nb' ] && grep -q '100%' bar.err || fail "--bar: stdout '$got', stderr '$(cat bar.err)'"
  got=$(prc -k --eta echo ::: a b 2>eta.err)
  [ "$got" == $'a\nb' ] && grep -q 'ETA' eta.err || fail "--eta: stdout '$got', stderr '$(cat eta.err)'"
}

case_results() {
  gnu --results gnu.res 'echo {1}{2}; echo e >&2' ::: a 'b/c' 'd\e' ::: 1 2 >/dev/null
  prc --results parc.res 'echo {1}{2}; echo e >&2' ::: a 'b/c' 'd\e' ::: 1 2 >parc.out
  local want got
  want=$(cd gnu.res && find . -type f | sort | while read -r f; do echo "$f: $(cat "$f")"; done)
  got=$(cd parc.res && find . -type f | sort | while read -r f; do echo "$f: $(cat "$f")"; done)
  [ "$want" == "$got" ] || fail "--results differ"$'\n'"--- GNU:"$'\n'"$want"$'\n'"--- parc:"$'\n'"$got"
  [ ! -s parc.out ] || fail "--results also printed: $(cat parc.out)"
}

case_jobs() {
  local cpus; cpus=$(nproc)
  for j in 3 0 50% +1 -1; do
    local max; max=$(prc -j "$j" 'sleep 0.2; echo {%}' ::: 1 2 3 4 5 6 | sort -n | tail -n 1)
    local want
    case $j in
      3) want=3 ;; 0) want=6 ;; 50%) want=$((cpus / 2 < 1 ? 1 : cpus / 2)) ;;
      +1) want=$((cpus + 1)) ;; -1) want=$((cpus - 1 < 1 ? 1 : cpus - 1)) ;;
    esac
    [ "$want" -gt 6 ] && want=6
    [ "$max" == "$want" ] || fail "-j $j: highest slot $max, want $want"
  done
  local start; start=$(date +%s%N)
  prc -j 0 'sleep 0.5; : {}' ::: 1 2 3 4 5 6 7 8
  [ $(( ($(date +%s%N) - start) / 1000000 )) -lt 2500 ] || fail "-j 0 did not run the jobs at once"
  same -k -j 2 'echo {%}' ::: a
  # -j 0 with more jobs than file handles allow: capped, not failed.
  local n got; n=$(ulimit -n 64; seq 100 | prc -j 0 'echo {}' | wc -l)
  [ "$n" == 100 ] || fail "-j 0 under a small file limit ran $n of 100 jobs"
  # Jobs inherit no descriptor of parc's own: the same as a plain child.
  local plain; plain=$(sh -c 'ls /proc/self/fd | tr "\n" " "' </dev/null)
  got=$(prc 'ls /proc/self/fd | tr "\n" " "; : {}' ::: a)
  [ "$got" == "$plain" ] || fail "a job's descriptors: $got, a plain child's: $plain"
}

case_hostile() {
  same -k echo ::: 'a b' "it's" '"dq"' '$(touch tripwire1)' '`touch tripwire2`' '; touch tripwire3' '-n' '-e' 'back\slash' '*' '~' '' '  '
  same -k printf '%s|\n' ::: '-n' '--' '$HOME' '&& touch tripwire4' '| cat' '>x' '<x' '#c'
  printf 'new\nline\0$(touch tripwire5)\0' >nul; stdin_file=nul
  same -0 -k printf '[%s]\n'
  same -0 -k echo {} {/} {.}
  stdin_file=/dev/null
  same -k 'echo "{}"' ::: 'x y'
  same -k echo {1} {2} ::: "a'b" ::: 'c"d'
  ls tripwire* 2>/dev/null && fail "an input was run as shell code"
  # A TMPDIR with control characters and a backtick tripwire, and output
  # big enough to spool there.
  local odd=$'tmp dir\t\x01\n`touch tripwire6`$(touch tripwire7)'
  mkdir -p "$work/$odd"
  local got; got=$(TMPDIR="$work/$odd" prc -k 'head -c 200000 /dev/zero | tr "\0" {}' ::: a b | tr -d ab | wc -c)
  [ "$got" == 0 ] || fail "odd TMPDIR: $got bytes were not the jobs' output"
  got=$(TMPDIR="$work/$odd" prc -k 'head -c 200000 /dev/zero | tr "\0" {}' ::: a b | wc -c)
  [ "$got" == 400000 ] || fail "odd TMPDIR: $got bytes, want 400000"
  ls "$work"/tripwire* 2>/dev/null && fail "TMPDIR ran as shell code"
  [ -z "$(ls -A "$work/$odd")" ] || fail "odd TMPDIR holds leftovers: $(ls -A "$work/$odd")"
  rmdir "$work/$odd"
}

case_signal() {
  prc 'kill -9 $$' ::: a 2>parc.err; local rc=$?
  grep -q 'killed by signal 9 (Killed)' parc.err || fail "no signal message: $(cat parc.err)"
  [ $rc == 1 ] || fail "a job killed by a signal: exit status $rc, want 1"
}

# Ctrl-C: every job's process group dies, nothing is left, the joblog holds
# whole lines of finished jobs only, and --resume runs the rest.
case_interrupt() {
  # Job control, so the background parc is not born ignoring SIGINT.
  set -m
  "$PARC" run --joblog int.log -j3 'echo $$ >> pids; exec sleep {}' ::: 0.05 5 6 7 8 >/dev/null 2>&1 &
  local pid=$!
  set +m
  sleep 1
  kill -INT $pid
  local start=$SECONDS
  wait $pid; local rc=$?
  [ $rc == 130 ] || fail "after SIGINT parc should die of it (130), got $rc"
  [ $((SECONDS - start)) -le 2 ] || fail "SIGINT took $((SECONDS - start)) s"
  while read -r p; do kill -0 "$p" 2>/dev/null && fail "job process $p still runs"; done <pids
  [ "$(fields int.log | cut -f 7)" == 'echo $$ >> pids; exec sleep 0.05' ] || fail "joblog after SIGINT: $(cat int.log)"
  : >pids
  prc --joblog int.log --resume -j4 'echo {} >> ran; exec sleep 0' ::: 0.05 5 6 7 8
  prc --joblog int2.log --resume -j4 'echo $$ >> pids; exec sleep 0' ::: a 2>/dev/null
  local ran; ran=$(prc --joblog int.log --resume --dry-run 'echo $$ >> pids; exec sleep {}' ::: 0.05 5 6 7 8 | wc -l)
  [ "$ran" == 4 ] || fail "--resume after SIGINT would run $ran jobs, want 4"
}

# SIGKILL of parc itself, then --resume: only the jobs missing from the log run.
case_resume() {
  seq 1 12 >in
  MARKS=$work/run1 "$PARC" run --joblog k.log -j2 'echo {} >> "$MARKS"; sleep 0.2' :::: in &
  local pid=$!
  sleep 0.9
  kill -KILL $pid
  wait $pid 2>/dev/null
  sleep 0.4 # orphaned jobs finish, unlogged
  local logged; logged=$(tail -n +2 k.log | cut -f 9 | sed 's/.*echo \([0-9]*\) .*/\1/' | sort -n)
  [ -n "$logged" ] && [ "$(echo "$logged" | wc -l)" -lt 12 ] || fail "the kill came too early or too late: $logged"
  MARKS=$work/run2 prc --joblog k.log --resume -j2 'echo {} >> "$MARKS"; sleep 0.2' :::: in
  local want; want=$(comm -23 <(seq 1 12 | sort) <(echo "$logged" | sort) | sort -n)
  [ "$(sort -n run2)" == "$want" ] || fail "resume ran $(sort -n run2 | tr '\n' ' '), want $(echo $want)"
  [ "$(fields k.log | cut -f 1 | sort -n | uniq | wc -l)" == 12 ] || fail "joblog after resume: $(cat k.log)"
  # By command line: a changed input list neither skips nor reruns the wrong job.
  prc --joblog c.log 'echo {} >> ran1' ::: a b c
  prc --joblog c.log --resume 'echo {} >> ran2' ::: x a b c
  prc --joblog c.log --resume 'echo {} >> ran1' ::: x a b c
  [ "$(cat ran1)" == $'a\nb\nc\nx' ] || [ "$(sort ran1 | tr '\n' ' ')" == "a b c x " ] || fail "resume by command: ran $(cat ran1)"
  [ "$(sort ran2 | tr '\n' ' ')" == "a b c x " ] || fail "a changed template must rerun everything: $(cat ran2)"
  # A value with a newline spans joblog lines and still matches.
  printf 'a\nb\0c\0' | prc -j1 -0 --joblog nl.log 'echo {} >> nlran'
  printf 'a\nb\0c\0d\0' | prc -j1 -0 --joblog nl.log --resume 'echo {} >> nlran'
  [ "$(cat nlran)" == $'a\nb\nc\nd' ] || fail "resume with a newline in a value ran: $(cat nlran)"
  # --resume-failed reruns the failed commands only.
  MARKS=f1 prc --joblog f.log 'echo {} >> $MARKS; exit {}' ::: 0 1 0 2 2>/dev/null
  MARKS=f2 prc --joblog f.log --resume-failed 'echo {} >> $MARKS; exit {}' ::: 0 1 0 2 2>/dev/null
  [ "$(sort f2 | tr '\n' ' ')" == "1 2 " ] || fail "--resume-failed ran $(cat f2)"
  MARKS=f3 prc --joblog f.log --resume 'echo {} >> $MARKS; exit {}' ::: 0 1 0 2 5 2>/dev/null
  [ "$(cat f3)" == "5" ] || fail "--resume after --resume-failed ran $(cat f3)"
  # --resume-by-seq: GNU's rule, checked against GNU.
  for tool in gnu prc; do
    $tool --joblog s.$tool.log 'echo {}' ::: a b >/dev/null
    $tool --joblog s.$tool.log --resume 'echo {}' ::: c d e f >$tool.out 2>/dev/null
  done
  prc --joblog s.seq.log 'echo {}' ::: a b >/dev/null
  prc --joblog s.seq.log --resume --resume-by-seq 'echo {}' ::: c d e f >seq.out
  [ "$(sort gnu.out)" == "$(sort seq.out)" ] || fail "--resume-by-seq: GNU $(cat gnu.out | tr '\n' ' ') parc $(cat seq.out | tr '\n' ' ')"
  [ "$(sort prc.out | tr '\n' ' ')" == "c d e f " ] || fail "--resume by command ran $(cat prc.out)"
}

case_errors() {
  local out rc
  for args in "--no-such-option echo" "-j abc echo" "--halt sometimes echo" "--timeout -1 echo" \
              "--retries x echo" "echo {3} ::: a" "echo :::: /nonexistent/file" "--resume echo" "--joblog /nonexistent/dir/log echo"; do
    # shellcheck disable=SC2086
    out=$(prc $args ::: a 2>&1 </dev/null); rc=$?
    [ $rc == 255 ] || fail "'$args': exit status $rc, want 255"
    [ "$(printf '%s\n' "$out" | wc -l)" == 1 ] && [[ "$out" == "parc run: "* ]] || fail "'$args': not one line: $out"
  done
  out=$(prc --help); [[ "$out" == *"--joblog"* ]] || fail "--help: $out"
  # A full spool: the file size limit stands in for a full disk.
  out=$(ulimit -f 100; prc 'head -c 1000000 /dev/zero' ::: a 2>&1 >/dev/null); rc=$?
  [ $rc == 255 ] && [[ "$out" == *"cannot spool output"* ]] || fail "a full spool: status $rc, message: $out"
  [ "$(prc echo ::: 2>&1)" == "" ] || fail "no inputs should run nothing"
}

"case_$case_name"
leftovers=$(ls -A "$TMPDIR")
[ -z "$leftovers" ] || fail "TMPDIR holds leftovers: $leftovers"
[ $failures == 0 ] && echo "ok: $case_name"
exit $((failures > 0))
