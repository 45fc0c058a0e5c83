#!/usr/bin/env bash
# Installs the build tree given as $1 into a temporary prefix, then builds
# and runs a consumer through pkg-config and through find_package(parc).
set -euo pipefail
build=$1
here=$(cd "$(dirname "$0")" && pwd)
prefix=$(mktemp -d)
trap 'rm -rf "$prefix"' EXIT
cmake --install "$build" --prefix "$prefix" >/dev/null
libdir=$(dirname "$(find "$prefix" -name parc.pc | head -n 1)")/..
export PKG_CONFIG_PATH=$libdir/pkgconfig
cc -std=c11 $(pkg-config --cflags parc) "$here/consumer.c" $(pkg-config --libs parc) \
  -Wl,-rpath,"$libdir" -o "$prefix/consumer-pc"
"$prefix/consumer-pc"
cmake -S "$here" -B "$prefix/cmake-build" -DCMAKE_PREFIX_PATH="$prefix" >/dev/null
cmake --build "$prefix/cmake-build" >/dev/null
LD_LIBRARY_PATH=$libdir "$prefix/cmake-build/consumer"
