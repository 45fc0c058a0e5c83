#!/bin/sh
# man_check.sh MANDIR HEADER SRCMAN — every page parc installs renders with
# groff at 80 columns without a warning, every function parc.h exports has a
# page (`man parc_map` works), and parc(1) names every man/*.1 page.
set -u
mandir=$1 header=$(realpath "$2") srcman=$(realpath "$3")
cd "$mandir" || exit 1
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
fail=0
pages=0
for page in man1/*.1 man3/*.3; do   # each page rendered once; the .so links too
  [ -e "$page" ] || continue
  pages=$((pages + 1))
  text=$out/$(basename "$page")
  MANWIDTH=80 LC_ALL=C.UTF-8 man --warnings -l "$page" >"$text" 2>"$text.err"
  if [ -s "$text.err" ] || [ "$(wc -l <"$text")" -lt 5 ]; then
    echo "FAIL $page ($(wc -l <"$text") lines): $(cat "$text.err")"
    fail=1
  fi
done
for fn in $(sed -n 's/^PARC_EXPORT [^(]*[ *]\([a-z_0-9]*\)(.*/\1/p' "$header"); do
  if [ ! -e "man3/$fn.3" ]; then
    echo "FAIL: no page for $fn (exported by parc.h)"; fail=1
  elif ! grep -q "$fn(" "$out/$fn.3"; then
    echo "FAIL: man3/$fn.3 does not show $fn's declaration"; fail=1
  fi
done
for page in "$srcman"/*.1; do
  [ -e "$page" ] || continue
  name=$(basename "$page" .1)
  [ "$name" = parc ] && continue
  sed "s/\\\\-/-/g" man1/parc.1 | grep -q "^\.BR $name (1)" || { echo "FAIL: parc(1) SEE ALSO lacks $name(1)"; fail=1; }
done
[ $fail -eq 0 ] && echo "man pages: $pages render cleanly; every exported function has one"
exit $fail
