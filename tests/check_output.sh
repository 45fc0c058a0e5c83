#!/bin/sh
# check_output.sh PROGRAM LINE... — runs PROGRAM and fails unless its output
# holds every LINE (a fixed string), printing what was missing.
program=$1; shift
output=$("$program" 2>&1); status=$?
missing=0
for line in "$@"; do
  printf '%s\n' "$output" | grep -qF -- "$line" || { echo "missing: $line"; missing=1; }
done
[ $missing -eq 0 ] && [ $status -eq 0 ] && exit 0
printf '%s\n(exit status %d)\n' "$output" "$status"
exit 1
