#!/bin/bash
# The OS volume end to end on a real Debian 12 guest (debootstrap, cached):
# layout mbr-boot (MBR, ext4 /boot, ext4 /, initramfs-tools) with the data disk
# of scripts/build-guest-data-disk (ext4 + XFS, in fstab by UUID, nofail).
# `vhdcrypt encrypt --volume-type all`, verify, then boot the output under
# qemu (TCG) with bek.vhd attached: / must come from a dm-crypt device, the
# data volumes too, and the files written before must read back. Booted once
# more without bek.vhd: the guest must stop in its initramfs.
#   encrypt_os.sh VHDCRYPT SOURCE_DIR CACHE_DIR
set -euo pipefail
BIN=$1
SRC=$2
CACHE=$3
export LIBGUESTFS_BACKEND=direct
export DEBIAN_GUEST_BASE_CACHE=$CACHE/guest-base
. "$SRC/tests/integration/lib.sh"
BOOT="/usr/bin/python3 $SRC/tests/integration/boot_guest.py"
fail() { echo "FAIL: $*" >&2; exit 1; }
pass=0
ok() { pass=$((pass + 1)); echo "ok $pass - $*"; }
elapsed() { echo "$(( $(date +%s) - $1 ))s"; }
suite_start=$(date +%s)

t=$(date +%s)
GUEST=$(cached_fixture "$CACHE" guest-mbr-boot "$SRC/fixtures/debian-guest-mbr-boot.guestfish" \
        "$SRC/fixtures/debian-guest-common.guestfish" "$SRC"/fixtures/guest-* "$SRC/scripts/build-debian-guest" \
        -- "$SRC/scripts/build-debian-guest" @DIR@/mbr-boot.raw mbr-boot)/mbr-boot.raw
DATA=$(cached_fixture "$CACHE" guest-data "$SRC/fixtures/guest-data-disk.guestfish" \
       "$SRC/scripts/build-guest-data-disk" -- "$SRC/scripts/build-guest-data-disk" @DIR@/data.raw)/data.raw
echo "# fixtures ready in $(elapsed $t)"
OUT=$(mktemp -d)
trap 'rm -rf "$OUT"' EXIT
sha256sum "$GUEST" "$DATA" > "$OUT/inputs.sha256"

# 1. Encrypt everything into Azure's container (fixed VHD), passphrase generated.
t=$(date +%s)
mkdir "$OUT/enc"
"$BIN" encrypt "$GUEST" --data "$DATA" --volume-type all --policy generic --to vhd-fixed --output-dir "$OUT/enc" \
  --pbkdf pbkdf2 --iter-time 200 --progress none 2> "$OUT/enc.err" || { cat "$OUT/enc.err"; fail "encrypt"; }
for f in mbr-boot.vhd data.vhd bek.vhd passphrase manifest.json; do
  [ -f "$OUT/enc/$f" ] || fail "no $f in the output"
done
python3 - "$OUT/enc/manifest.json" <<'PY' || fail "manifest"
import json, sys
v = json.load(open(sys.argv[1]))["volumes"]
assert [(x["mountpoint"], x["header"]) for x in v] == [("/", "detached"), ("/data1", "attached"),
                                                        ("/data2", "attached")], v
assert v[0]["mapper_name"] == "osencrypt" and v[0]["data_offset"] == v[0]["source_offset"], v[0]
PY
ok "encrypt --volume-type all: OS volume (header detached on /boot) and 2 data volumes, bek.vhd ($(elapsed $t))"

# 2. dm-crypt in the appliance opens all three (the OS volume with its header
# from /boot) and finds clean filesystems; the data volumes equal their sources.
t=$(date +%s)
"$BIN" verify "$OUT/enc" --key-file "$OUT/enc/passphrase" --against "$GUEST" --against "$DATA" > "$OUT/verify.txt" ||
  fail "verify: $(cat "$OUT/verify.txt")"
grep -q "^ok .*(/): decrypts to a clean ext4 (header detached" "$OUT/verify.txt" || fail "$(cat "$OUT/verify.txt")"
[ "$(grep -c "decrypts to the source partition" "$OUT/verify.txt")" = 2 ] || fail "$(cat "$OUT/verify.txt")"
ok "verify: the OS volume opens with its detached header, the data volumes decrypt to their sources ($(elapsed $t))"

# 3. Boot with the key volume: the initramfs unlocks / from it, systemd the data volumes.
t=$(date +%s)
$BOOT --disk "$OUT/enc/mbr-boot.vhd:vpc" --disk "$OUT/enc/data.vhd:vpc" --disk "$OUT/enc/bek.vhd:vpc" \
  --expect-report --timeout 600 --log "$OUT/boot.log" > "$OUT/boot.json" ||
  { tail -n 40 "$OUT/boot.log"; cat "$OUT/boot.json"; fail "boot with bek.vhd"; }
python3 - "$OUT/boot.json" <<'PY' || { tail -n 60 "$OUT/boot.log"; fail "boot report"; }
import json, sys
j = json.load(open(sys.argv[1]))
r = j["report"]
assert r["root.source"] == "/dev/mapper/osencrypt" and r["root.dm_target"] == "crypt", r
assert r["os.marker_present"] == "yes", r
for d in ("data1", "data2"):
    assert r[d + ".mounted"] == "yes" and r[d + ".crypt"] == "yes", (d, r)
    assert r[d + ".source"].startswith("/dev/mapper/luks-"), (d, r)
    assert r[d + ".marker_present"] == "yes", (d, r)
assert r["boot.crypt"] == "no", r
print(f"boot_seconds={j['boot_seconds']}")
PY
ok "boots with bek.vhd: / on /dev/mapper/osencrypt (dm-crypt), /data1 and /data2 on dm-crypt, files read back ($(elapsed $t))"

# 4. Without the key volume the root stays locked: the boot stops in the initramfs.
t=$(date +%s)
$BOOT --disk "$OUT/enc/mbr-boot.vhd:vpc" --disk "$OUT/enc/data.vhd:vpc" --expect-no-root --timeout 600 \
  --log "$OUT/nokey.log" > "$OUT/nokey.json" || { tail -n 40 "$OUT/nokey.log"; fail "boot without bek.vhd"; }
grep -q "vhdcrypt: no key volume" "$OUT/nokey.log" || fail "the keyscript did not say why"
ok "boots without bek.vhd: stops in the initramfs, root never mounted ($(elapsed $t))"

sha256sum -c --quiet "$OUT/inputs.sha256" || fail "an input image changed"
ok "inputs byte-identical; suite $(elapsed $suite_start)"
