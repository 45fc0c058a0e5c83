#!/bin/sh
# deb.sh BUILD SRC VERSION — `make deb`'s package, built from this build
# tree with cpack: its control fields, its contents (library, header,
# pkg-config, CMake package, the tool, every man page) and, unpacked with
# dpkg-deb -x (no root), a tool and a consumer that run from it.
set -eu
build=$1 src=$2 version=$3
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
(cd "$tmp" && cpack -G DEB --config "$build/CPackConfig.cmake" -B "$tmp/out" >"$tmp/cpack.log" 2>&1) ||
  { cat "$tmp/cpack.log"; exit 1; }
deb=$(ls "$tmp"/out/parc_"$version"_*.deb)
fail=0
dpkg-deb -f "$deb" Package Version Depends >"$tmp/control"
grep -q "^Version: $version$" "$tmp/control" || { echo "FAIL: control: $(cat "$tmp/control")"; fail=1; }
grep -q "^Depends: .*libc6" "$tmp/control" || { echo "FAIL: no shlibdeps: $(cat "$tmp/control")"; fail=1; }
dpkg-deb -c "$deb" | sed 's/.* \.\//\//' >"$tmp/files"
for f in /usr/bin/parc /usr/include/parc.h /usr/lib/libparc.a /usr/lib/libparc.so.0 \
         /usr/lib/pkgconfig/parc.pc /usr/lib/cmake/parc/parcConfig.cmake \
         /usr/share/man/man1/parc.1 /usr/share/man/man3/parc.3 /usr/share/man/man3/parc_map.3; do
  grep -qx "$f" "$tmp/files" || grep -q "^$f " "$tmp/files" || { echo "FAIL: the .deb lacks $f"; fail=1; }
done
for page in "$src"/man/*.1; do
  grep -qx "/usr/share/man/man1/$(basename "$page")" "$tmp/files" ||
    { echo "FAIL: the .deb lacks man1/$(basename "$page")"; fail=1; }
done
dpkg-deb -e "$deb" "$tmp/control.d"
grep -q ldconfig "$tmp/control.d/postinst" || { echo "FAIL: the .deb's postinst runs no ldconfig"; fail=1; }
dpkg-deb -x "$deb" "$tmp/root"
grep -q -- "-Wl,-rpath" "$tmp/root/usr/lib/pkgconfig/parc.pc" && { echo "FAIL: /usr's parc.pc has an rpath"; fail=1; }
"$tmp/root/usr/bin/parc" --version | grep -qx "parc $version (libparc $version)" ||
  { echo "FAIL: the unpacked parc does not run"; fail=1; }
PKG_CONFIG_PATH=$tmp/root/usr/lib/pkgconfig
export PKG_CONFIG_PATH
cc -std=c11 $(pkg-config --cflags parc) "$src/tests/install/consumer.c" $(pkg-config --libs parc) \
  -Wl,-rpath,"$tmp/root/usr/lib" -o "$tmp/consumer" && "$tmp/consumer" >/dev/null ||
  { echo "FAIL: a consumer of the unpacked package"; fail=1; }
[ $fail -eq 0 ] && echo "deb: $(basename "$deb") holds the library, header, pkg-config, CMake package, tool, man pages"
exit $fail
