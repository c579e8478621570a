#!/bin/bash
# With a known passphrase, neither it nor any volume key (hex either case,
# base64) appears in anything vhdcrypt prints or writes besides the key files
# meant to hold it: every stdout and stderr (at the highest verbosity, with
# libguestfs' own debug output on), the progress lines, the manifest.
#   no_secret_leaks.sh VHDCRYPT SOURCE_DIR
set -euo pipefail
. "$2/tests/integration/lib.sh"
test_setup "$@"
D=$(data_disks_fixture "$SRC" "$CACHE")
G=$(phony_guests_fixture "$SRC" "$CACHE")
mkdir "$OUT/logs"
# run NAME COMMAND...: stdout and stderr kept under logs/ for the scan.
run() {
  local name=$1 rc=0
  shift
  "$@" > "$OUT/logs/$name.out" 2> "$OUT/logs/$name.err" || rc=$?
  echo "$rc" > "$OUT/logs/$name.rc"
}
expect_rc() {  # NAME RC
  [ "$(cat "$OUT/logs/$1.rc")" = "$2" ] ||
    fail "$1 exited $(cat "$OUT/logs/$1.rc"), expected $2: $(tail -n 20 "$OUT/logs/$1.err")"
}

PASS='Tr0ub4dor&3 leak-canary 7f3a9c'
printf '%s' "$PASS" > "$OUT/key"
chmod 600 "$OUT/key"
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$OUT/kek.priv.pem" 2>/dev/null
openssl pkey -in "$OUT/kek.priv.pem" -pubout -out "$OUT/kek.pem"
FAST=(--pbkdf pbkdf2 --iter-time 20)

# Data disks without an OS (no appliance), progress as JSON lines, the
# passphrase wrapped with a KEK.
mkdir "$OUT/a"
run encrypt-data "$BIN" -vv encrypt "$D/data.raw" --data "$D/whole.raw" --output-dir "$OUT/a" --key-file "$OUT/key" \
  --kek "$OUT/kek.pem" --to vhd-dynamic --progress json "${FAST[@]}"
expect_rc encrypt-data 0
# An OS image's data volume: crypttab and the key volume are written by a
# sensitive appliance, here with libguestfs' debug output on.
mkdir "$OUT/b"
LIBGUESTFS_DEBUG=1 run encrypt-guest "$BIN" -vv encrypt "$G/ubuntu-good.raw" --data "$G/ubuntu-good-data.raw" \
  --output-dir "$OUT/b" --key-file "$OUT/key" --policy generic --progress plain "${FAST[@]}"
expect_rc encrypt-guest 0
# verify unlocks every volume in the appliance (the key crosses into it).
LIBGUESTFS_DEBUG=1 run verify "$BIN" -vv verify "$OUT/a" --key-file "$OUT/key" --against "$D/data.raw" \
  --against "$D/whole.raw"
expect_rc verify 0
printf 'not the passphrase' > "$OUT/wrong"
run verify-wrong "$BIN" -vv verify "$OUT/b" --key-file "$OUT/wrong"
expect_rc verify-wrong 1
run info "$BIN" -vv info --json "$OUT/a/data.vhd"
expect_rc info 0
mkdir "$OUT/plain"
run decrypt "$BIN" -vv decrypt "$OUT/a" --key-file "$OUT/key" --output-dir "$OUT/plain" --progress json
expect_rc decrypt 0
rm -rf "$OUT/plain"
# rekey, on a copy: the old and the new passphrase both cross into the appliance.
NEWPASS='correct-horse 2nd canary 91be'
printf '%s' "$NEWPASS" > "$OUT/newkey"
cp -r "$OUT/b" "$OUT/b2"
LIBGUESTFS_DEBUG=1 run rekey "$BIN" -vv rekey "$OUT/b2/ubuntu-good.raw" "$OUT/b2/ubuntu-good-data.raw" \
  "$OUT/b2/bek.vhd" --key-file "$OUT/key" --new-key-file "$OUT/newkey" --pbkdf pbkdf2 --iter-time 20
expect_rc rekey 0
grep -q "rekeyed .* (key volume)" "$OUT/logs/rekey.out" || fail "rekey did not find the key volume"
rm -rf "$OUT/b2"
ok "encrypt (data disks, --kek; an OS image's data volume), verify (right and wrong key), info, decrypt, rekey ran at -vv"

# The volume keys, as cryptsetup unlocks them from each header.
python3 - "$OUT/a/manifest.json" "$OUT/b/manifest.json" > "$OUT/headers" <<'PY'
import json, os, sys
for manifest in sys.argv[1:]:
    d = os.path.dirname(manifest)
    m = json.load(open(manifest))
    for v in m["volumes"]:
        print(os.path.join(d, m["disks"][v["disk"]]["output"]), v["header_offset"])
PY
: > "$OUT/needles"
printf '%s\n' "$PASS" "$NEWPASS" >> "$OUT/needles"
keys=0
while read -r img offset; do
  raw="$OUT/conv.raw"
  "$BIN" -q convert "$img" "$raw" --to raw --force
  dd if="$raw" of="$OUT/hdr" bs=1M iflag=skip_bytes skip="$offset" count=16 status=none
  cryptsetup luksDump --dump-volume-key --batch-mode --key-file "$OUT/key" "$OUT/hdr" > "$OUT/dump" ||
    fail "cryptsetup could not unlock the header at $offset of $img"
  python3 - "$OUT/dump" >> "$OUT/needles" <<'PY'
import base64, re, sys
text = open(sys.argv[1]).read()
hexpart = text.split("MK dump:", 1)[1]
key = bytes.fromhex("".join(re.findall(r"\b[0-9a-f]{2}\b", hexpart)))
assert len(key) == 64, len(key)
for s in (key.hex(), key.hex().upper(), base64.b64encode(key).decode(), base64.urlsafe_b64encode(key).decode(),
          key[:32].hex(), key[32:].hex()):
    print(s)
PY
  keys=$((keys + 1))
done < "$OUT/headers"
[ "$keys" -ge 6 ] || fail "only $keys volume keys found"
rm -f "$OUT/hdr" "$OUT/dump" "$OUT/conv.raw"
ok "$keys volume keys unlocked by cryptsetup from their headers"

# The scan: every log, and every file in the output directories except the
# key files (passphrase.wrapped is the passphrase only under RSA, and
# keyvault-secret.json holds it base64 for Key Vault by design).
scanned=0
for f in "$OUT"/logs/* "$OUT"/a/manifest.json "$OUT"/b/manifest.json; do
  scanned=$((scanned + 1))
  if grep -F -q -f "$OUT/needles" "$f"; then
    fail "a secret appears in $(basename "$f"): $(grep -F -o -f "$OUT/needles" "$f" | head -n 1 | cut -c1-8)..."
  fi
done
[ -s "$OUT/logs/encrypt-data.out" ] && grep -q '"progress-done"' "$OUT/logs/encrypt-data.out" ||
  fail "no progress lines were captured"
grep -q "libguestfs:" "$OUT/logs/verify.err" || fail "libguestfs' debug output was not captured"
ok "none of $(wc -l < "$OUT/needles") secret strings in $scanned logs, progress outputs and manifests"

# The key files themselves are what they claim (so the scan excluded the right things).
python3 - "$OUT/a/keyvault-secret.json" "$OUT/a/passphrase.wrapped" <<'PY' || fail "key files"
import json, os, stat, sys
for f in sys.argv[1:]:
    assert stat.S_IMODE(os.stat(f).st_mode) == 0o600, f
assert json.load(open(sys.argv[1]))["tags"]["DiskEncryptionKeyEncryptionAlgorithm"] == "RSA-OAEP"
PY
[ ! -e "$OUT/a/passphrase" ] || fail "--kek without --write-passphrase wrote DIR/passphrase"
openssl pkeyutl -decrypt -inkey "$OUT/kek.priv.pem" -pkeyopt rsa_padding_mode:oaep -in "$OUT/a/passphrase.wrapped" \
  -out "$OUT/unwrapped"
cmp -s "$OUT/unwrapped" "$OUT/key" || fail "passphrase.wrapped does not unwrap to the passphrase"
ok "the only copies: passphrase.wrapped (unwraps to it) and keyvault-secret.json, both 0600"
