#!/bin/sh
# tool_check.sh PARC VERSION — `parc --version`, `parc version`, `parc help`
# and `parc help COMMAND` answer; bad input is one line on stderr, exit 2.
set -u
parc=$1 version=$2
fail=0
errfile=$(mktemp)
trap 'rm -f "$errfile"' EXIT
check() {   # check WHAT EXPECTED-RC PATTERN-IN-STDOUT COMMAND...
  what=$1 want=$2 pattern=$3; shift 3
  out=$("$@" 2>"$errfile"); rc=$?
  err=$(cat "$errfile")
  if [ $rc -ne "$want" ] || ! printf '%s\n%s\n' "$out" "$err" | grep -q -- "$pattern"; then
    printf 'FAIL %s: exit %d (expected %d), output:\n%s\n%s\n' "$what" $rc "$want" "$out" "$err"
    fail=1
  fi
}
check "--version" 0 "^parc $version (libparc $version)$" "$parc" --version
check "version" 0 "^parc $version (libparc $version)$" "$parc" version
check "help" 0 "^usage: parc COMMAND" "$parc" help
check "--help" 0 "version" "$parc" --help
check "help version" 0 "^usage: parc version" "$parc" help version
check "help help" 0 "^usage: parc help" "$parc" help help
check "help nonsense" 2 "^parc: unknown command 'nonsense'" "$parc" help nonsense
check "nonsense" 2 "^parc: unknown command 'frob'" "$parc" frob
check "version extra" 2 "^parc version: unexpected argument 'x'" "$parc" version x
check "no command" 2 "^usage: parc COMMAND" "$parc"
lines=$("$parc" frob 2>&1 | wc -l)
[ "$lines" -eq 1 ] || { echo "FAIL: unknown command printed $lines lines"; fail=1; }
[ $fail -eq 0 ] && echo "parc tool: version and help answer"
exit $fail
