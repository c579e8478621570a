#!/bin/bash
# The man pages (docs/CMakeLists.txt): `cmake --install` puts the binary and
# one page per subcommand (and vhdcrypt.1) under the prefix; each renders with
# man, starts with NAME and the summary --help gives, and names every option
# that subcommand's --help lists.
#   man_pages.sh BUILD_DIR VHDCRYPT
set -euo pipefail
build=$1 bin=$2
prefix=$(mktemp -d)
trap 'rm -rf "$prefix"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

cmake --install "$build" --prefix "$prefix" > /dev/null
"$prefix/bin/vhdcrypt" --version | grep -q '^vhdcrypt ' || fail "installed binary: --version"
man1=$prefix/share/man/man1
[ -f "$man1/vhdcrypt.1" ] || fail "no vhdcrypt.1 installed"
subcommands=$("$bin" --help | awk '/^Subcommands:/ { on = 1; next } on && NF == 0 { exit } on { print $1 }')
[ "$(echo "$subcommands" | wc -w)" -ge 8 ] || fail "vhdcrypt --help lists too few subcommands: $subcommands"
pages=0
for cmd in $subcommands; do
  page=$man1/vhdcrypt-$cmd.1
  [ -f "$page" ] || fail "$cmd: no man page $page"
  text=$(LC_ALL=C MANWIDTH=200 man -l "$page" 2> "$prefix/err") || fail "$cmd: man -l failed: $(cat "$prefix/err")"
  summary=$("$bin" --help | awk -v c="$cmd" '$1 == c { $1 = ""; sub(/^ +/, ""); print; exit }')
  grep -q '^NAME' <<< "$text" || fail "$cmd: no NAME section"
  source=$(sed 's/\\-/-/g' "$page")  # pandoc writes "\-" for "-" outside code
  grep -qF "vhdcrypt-$cmd - ${summary:0:40}" <<< "$text" || fail "$cmd: NAME is not '$summary'"
  for option in $("$bin" "$cmd" --help | sed -n '/^Options:/,/^$/p' | grep -oE '^  (-[a-z],)?--[a-z0-9-]+' |
                  grep -oE -- '--[a-z0-9-]+' | grep -v -- '--help'); do
    grep -qF -- "$option" <<< "$source" || fail "$cmd: the man page does not name $option"
  done
  pages=$((pages + 1))
done
echo "ok: $pages subcommand man pages and vhdcrypt.1 installed, rendered, with NAME and every option"
