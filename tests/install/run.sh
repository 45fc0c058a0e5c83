#!/usr/bin/env bash
# run.sh BUILD — installs the build tree into temporary prefixes, then builds
# and runs consumers that only know the installed parc:
#  - `cmake --install --prefix P` (what `make install PREFIX=P` runs): the
#    installed `parc` runs from P without LD_LIBRARY_PATH ($ORIGIN RPATH); a
#    pkg-config consumer links and runs with no -rpath of its own; the same
#    with `pkg-config --static` and -static (libparc.a, then its libraries
#    in an order that links); find_package(parc) from P;
#  - DESTDIR=D: files land under D/P and nothing in P; the staged tree,
#    moved, still works (the .pc file is relocatable).
set -euo pipefail
build=$1
here=$(cd "$(dirname "$0")" && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
prefix=$tmp/prefix
cmake --install "$build" --prefix "$prefix" >/dev/null
unset LD_LIBRARY_PATH
"$prefix/bin/parc" --version
pc=$(find "$prefix" -name parc.pc)
export PKG_CONFIG_PATH=$(dirname "$pc")
grep -q "^Libs: .*-Wl,-rpath," "$pc" || { echo "FAIL: $pc has no rpath for a custom prefix"; exit 1; }
cc -std=c11 $(pkg-config --cflags parc) "$here/consumer.c" $(pkg-config --libs parc) -o "$tmp/consumer-pc"
"$tmp/consumer-pc"
# Static: the user's command line. glibc's note about dlopen in a static
# program (from SQLite's loadable extensions) is the only output allowed.
libs=$(pkg-config --static --libs parc)
case "$libs" in *-lparc*-lsqlite3*-lm*) ;; *) echo "FAIL: pkg-config --static --libs parc: $libs"; exit 1 ;; esac
cc -std=c11 -static $(pkg-config --cflags parc) "$here/consumer.c" $libs -o "$tmp/consumer-static" \
  2>"$tmp/static.err" || { cat "$tmp/static.err"; exit 1; }
if grep -v -e "statically linked applications requires at runtime" \
     -e "libsqlite3.a(.*): in function" "$tmp/static.err" | grep -q .; then
  cat "$tmp/static.err"; exit 1
fi
"$tmp/consumer-static"
if ldd "$tmp/consumer-static" 2>/dev/null | grep -q "libparc"; then echo "FAIL: static consumer needs libparc.so"; exit 1; fi
cmake -S "$here" -B "$tmp/cmake-build" -DCMAKE_PREFIX_PATH="$prefix" >/dev/null
cmake --build "$tmp/cmake-build" >/dev/null
"$tmp/cmake-build/consumer"

# DESTDIR staging, as packagers use it.
DESTDIR=$tmp/stage cmake --install "$build" --prefix /opt/parc-stage-test >/dev/null
[ ! -e /opt/parc-stage-test ] || { echo "FAIL: DESTDIR install wrote /opt/parc-stage-test"; exit 1; }
for f in bin/parc include/parc.h share/man/man1/parc.1 share/man/man3/parc_map.3; do
  [ -e "$tmp/stage/opt/parc-stage-test/$f" ] || { echo "FAIL: DESTDIR install lacks $f"; exit 1; }
done
mv "$tmp/stage/opt/parc-stage-test" "$tmp/moved"
"$tmp/moved/bin/parc" --version >/dev/null
export PKG_CONFIG_PATH=$(dirname "$(find "$tmp/moved" -name parc.pc)")
[ "$(pkg-config --variable=includedir parc)" -ef "$tmp/moved/include" ] ||
  { echo "FAIL: moved parc.pc gives includedir $(pkg-config --variable=includedir parc)"; exit 1; }
echo "install: prefix, pkg-config (shared, static), find_package, DESTDIR all work"
