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

# A root needs an /etc/fstab (or /etc/hosts) that is a regular file, as
# libguestfs' inspection required: one whose fstab is a directory is no OS.
run fstab-dir 1 check "$G/fstab-dir.raw"
grep -q 'distro-unsupported .*fstab-dir.raw: no operating system found' "$OUT/fstab-dir.out" ||
  fail "fstab-dir: no distro-unsupported finding"
ok "an fstab that is a directory: not an operating system, a finding ($took)"

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

# The rest of the corpus, one check each: a clean one-line error naming the
# image and what is wrong (exit 3 refused, 5 a read that failed), or findings
# in valid JSON. Each is bounded by run's timeout and runs under ASan/UBSan.
refused() {  # name rc text...
  local name=$1 rc=$2
  shift 2
  run "$name" "$rc" check "$G/$name.raw"
  error_names "$name" "$name.raw" "$@"
  ok "$name: refused, exit $rc: $* ($took)"
}
judged() {  # name rc python-assertion-on-the-set-of-finding-ids
  local name=$1 rc=$2
  run "$name" "$rc" check --json "$G/$name.raw"
  python3 - "$OUT/$name.out" "$3" <<'PY' || fail "$name: $(cat "$OUT/$name.out")"
import json, sys
ids = {f["id"] for f in json.load(open(sys.argv[1], encoding="utf-8"))["findings"]}
assert eval(sys.argv[2]), ids
PY
  ok "$name: findings $3, exit $rc ($took)"
}
refused os-release-fifo 3 "guest file /etc/os-release is a FIFO"
refused crypttab-dir 3 "guest file /etc/crypttab is a directory"
refused modprobe-dir 3 "guest file /etc/modprobe.d/x.conf/ is a directory"
refused modprobe-1001 3 "1001 modprobe configuration files, more than 1000"
refused modules-dep-big 3 "modules.dep is 17808384 bytes, more than the limit of 16777216"
refused modules-dep-loop 5 "modules.dep" "Too many levels of symbolic links"
refused modules-builtin-fifo 3 "modules.builtin is a FIFO"
refused agent-zero 3 "azurelinuxagent/common/version.py is a character device"
refused selinux-big 3 "guest file /etc/selinux/config is 2097152 bytes"
refused kernels-100 3 "100 entries in /lib/modules, more than the 64 kernels"
# A flood of UUID= lines is refused before any is resolved (libguestfs'
# inspect_os, used before, resolved each in the appliance at 0.4 s apiece).
refused fstab-uuid-flood 3 "fstab-uuid-flood.raw partition 1: guest file /etc/fstab has 14001 entries naming a filesystem by UUID"
# No root whose /etc/fstab is not a regular file (and no /etc/hosts).
judged fstab-to-urandom 1 'ids == {"distro-unsupported"}'
judged fstab-chain 1 'ids == {"distro-unsupported"}'
judged fstab-nul 0 '"no-plaintext-boot" in ids'
judged fstab-one-line 0 '"no-plaintext-boot" in ids'
judged kernel-escape 1 '{"vfat-missing", "dm-crypt-missing"} <= ids'
run kernel-escape-text 1 check "$G/kernel-escape.raw"
if grep -q $'\x1b' "$OUT/kernel-escape-text.out"; then fail "kernel-escape: a raw escape byte reached stdout"; fi
ok "kernel-escape: the text report escapes the kernel's name ($took)"
judged agent-versions 0 'ids == {"no-plaintext-boot"}'
judged os-release-long 0 '"no-plaintext-boot" in ids'
judged crypttab-osencrypt 1 '"already-encrypted" in ids'  # 20,000 findings, one a line
judged fstab-self-mounts 0 '"no-plaintext-boot" in ids'
[ "$(ls "$G"/*.raw | wc -l)" -ge 25 ] || fail "the corpus has $(ls "$G"/*.raw | wc -l) guests, fewer than 25"
ok "the hostile corpus: $(ls "$G"/*.raw | wc -l) guests, each checked"

sha256sum -c --quiet "$OUT/inputs.sha256" || fail "a guest image changed"
ok "every hostile guest image byte-identical afterwards"
