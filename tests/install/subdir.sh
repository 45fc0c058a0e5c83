#!/bin/sh
# subdir.sh SRC BUILD — add_subdirectory(parc) in a consumer project builds
# the library and the consumer, and registers only the consumer's test.
set -eu
src=$1 build=$2
dir=$(mktemp -d "$build/subdir-test.XXXXXX")
trap 'rm -rf "$dir"' EXIT
cmake -S "$src/tests/install/subdir" -B "$dir" -DPARC_SOURCE="$src" >"$dir/configure.log" 2>&1 ||
  { cat "$dir/configure.log"; exit 1; }
cmake --build "$dir" --target consumer -j2 >"$dir/build.log" 2>&1 || { cat "$dir/build.log"; exit 1; }
"$dir/consumer"
tests=$(cd "$dir" && ctest -N | sed -n 's/^Total Tests: //p')
[ "$tests" = 1 ] || { echo "FAIL: the consumer's build registers $tests tests, expected 1"; (cd "$dir" && ctest -N); exit 1; }
if grep -q "warning" "$dir/build.log"; then echo "FAIL: warnings:"; grep warning "$dir/build.log"; exit 1; fi
echo "add_subdirectory(parc): the library only, 1 test (the consumer's)"
