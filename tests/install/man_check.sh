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
# The generator follows the header: a new section, a declaration over two
# lines, a new type each get their page, and a page of a removed section goes.
fake=$out/fake
mkdir -p "$fake/man3"
rule='/* ------------------------------------------------------------------------ */'
printf '%s\n/* Old things                                                               */\n%s\nPARC_EXPORT int parc_old(void);\n' \
  "$rule" "$rule" >"$out/old.h"
sh "$srcman/header2man" "$out/old.h" "$fake/man3" 9.9.9
printf '%s\n/* Observability: stats (new)                                              */\n%s\n' "$rule" "$rule" >"$out/new.h"
printf '/* Says how it went. */\ntypedef struct parc_info { int n; } parc_info;\n' >>"$out/new.h"
printf 'PARC_EXPORT const char *\n            parc_new_thing(const parc_info *info,\n            int flags);\n' >>"$out/new.h"
printf '#ifdef __cplusplus\n}\n#endif\n' >>"$out/new.h"
sh "$srcman/header2man" "$out/new.h" "$fake/man3" 9.9.9
for want in parc-observability.3 parc_new_thing.3 parc_info.3; do
  [ -e "$fake/man3/$want" ] || { echo "FAIL: header2man made no $want from a new section"; fail=1; }
done
[ ! -e "$fake/man3/parc-old-things.3" ] && [ ! -e "$fake/man3/parc_old.3" ] ||
  { echo "FAIL: header2man left the pages of a removed section"; fail=1; }
(cd "$fake" && MANWIDTH=80 man --warnings -l man3/parc_new_thing.3 2>&1 | grep -q "int flags);") ||
  { echo "FAIL: the new function's page lacks its declaration"; fail=1; }
[ $fail -eq 0 ] && echo "man pages: $pages render cleanly; every exported function has one"
exit $fail
