#!/bin/bash
# `vhdcrypt check` on guests whose files attack the reader
# (fixtures/hostile-guests.guestfish): each gives findings or a clean
# one-line error naming the image and the guest file, in bounded time, never a
# crash (the suite runs under ASan and UBSan); JSON output stays valid and
# terminal output carries no raw escape; the images stay byte-identical.
#   check_hostile.sh VHDCRYPT SOURCE_DIR
set -euo pipefail
. "$2/tests/integration/lib.sh"
test_setup "$@"
G=$(hostile_guests_fixture "$SRC" "$CACHE")
sha256sum "$G"/*.raw > "$OUT/inputs.sha256"

run() {  # name expected_rc vhdcrypt-args...: output in $OUT/name.{out,err}
  local name=$1 want=$2 rc=0 t
  shift 2
  t=$(date +%s)
  timeout 600 "$BIN" "$@" > "$OUT/$name.out" 2> "$OUT/$name.err" || rc=$?
  [ "$rc" = "$want" ] || { cat "$OUT/$name.err"; fail "$name: exit $rc, expected $want"; }
  if grep -q $'\x1b' "$OUT/$name.err"; then fail "$name: a raw escape byte reached stderr"; fi
  took=$(elapsed "$t")
}
error_names() {  # name text...: the one error line names each text
  local name=$1 e
  shift
  e=$(grep 'error:' "$OUT/$name.err") || fail "$name: no error line"
  [ "$(echo "$e" | wc -l)" = 1 ] || fail "$name: more than one error line"
  for text in "$@"; do
    case $e in *"$text"*) ;; *) fail "$name: the error does not name '$text': $e" ;; esac
  done
}

run text-json 1 check --json "$G/hostile-text.raw"
python3 - "$OUT/text-json.out" <<'PY' || fail "hostile-text: the JSON report"
import json, sys
r = json.load(open(sys.argv[1], encoding="utf-8"))  # valid JSON, valid UTF-8
ids = {f["id"] for f in r["findings"]}
assert "fstab-nonpersistent-name" in ids, ids   # the 60,000-letter /dev/sdq... and /dev/sdb1
assert "fstab-nested-mount" in ids, ids         # 2,000 levels deep
assert any("\ufffd" in f["message"] for f in r["findings"]), "no replaced byte"
assert len(r["findings"]) >= 15000, len(r["findings"])
PY
ok "hostile-text: 60,000 to 115,000-line fstab, crypttab, modprobe.d and version.py, non-UTF-8, NUL and escapes: findings in valid JSON ($took)"
run text 1 check "$G/hostile-text.raw"
grep -q 'LABEL=\\x1b\]0;owned\\x07' "$OUT/text.out" || fail "hostile-text: the escape is not shown escaped"
if grep -q $'\x1b' "$OUT/text.out"; then fail "hostile-text: a raw escape byte reached stdout"; fi
ok "hostile-text: the text report escapes control bytes ($took)"

run devzero 3 check "$G/devzero.raw"
error_names devzero devzero.raw "guest file /etc/modprobe.d/zero.conf is a character device"
ok "a modprobe.d file that is a link to /dev/zero: refused, not read ($took)"

run big-fstab 3 check "$G/big-fstab.raw"
error_names big-fstab big-fstab.raw "guest file /etc/fstab is 2097152 bytes, more than the limit of 1048576"
ok "a 2 MiB fstab: refused by size ($took)"

# libguestfs's inspection does not take a root whose /etc/fstab is a
# directory for an operating system, so vhdcrypt never gets to read it.
run fstab-dir 1 check "$G/fstab-dir.raw"
grep -q 'distro-unsupported .*fstab-dir.raw: no operating system found' "$OUT/fstab-dir.out" ||
  fail "fstab-dir: no distro-unsupported finding"
ok "an fstab that is a directory: not an operating system to libguestfs, a finding ($took)"

run symlink-loop 5 check "$G/symlink-loop.raw"
error_names symlink-loop symlink-loop.raw /etc/crypttab
ok "a crypttab that is a symlink loop: a guest error naming it ($took)"

# modules.dep is not trusted: the files it lists must be there (and not empty)
# for the module to count; otherwise the image would not unlock at boot.
run stripped-modules 1 check "$G/stripped-modules.raw"
M=/lib/modules/5.15.0-91-generic/kernel
grep -q "dm-crypt-missing .*modules.dep lists dm_crypt but $M/drivers/md/dm-mod.ko is missing" \
  "$OUT/stripped-modules.out" || fail "stripped-modules: no dm-crypt-missing naming dm-mod.ko"
grep -q "vfat-missing .*modules.dep lists vfat but $M/fs/fat/fat.ko is missing or empty" "$OUT/stripped-modules.out" ||
  fail "stripped-modules: no vfat-missing naming the empty fat.ko"
ok "modules.dep lists a module whose file is gone or empty: dm-crypt-missing and vfat-missing ($took)"

sha256sum -c --quiet "$OUT/inputs.sha256" || fail "a guest image changed"
ok "every hostile guest image byte-identical afterwards"
