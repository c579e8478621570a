#!/bin/bash
# The OS volume end to end on a real Debian 12 guest (debootstrap, cached) in
# one of the layouts of scripts/build-debian-guest, with the data disk of
# scripts/build-guest-data-disk (ext4 + XFS, in fstab by UUID, nofail):
#   mbr-boot  MBR, ext4 /boot, ext4 /, initramfs-tools
#   gpt-esp   GPT, BIOS boot + ESP, / holding /boot: vhdcrypt splits /boot out;
#             boots by BIOS and by UEFI (OVMF); the OS header attached
#             (--os-header attached: the root partition grows, later ones move)
#   xfs-root  as mbr-boot with an XFS root
#   lvm-root  as mbr-boot with / on LVM (VG vg0 on p2): the PV is encrypted
#   dracut    as mbr-boot with dracut (systemd in the initramfs); a second
#             test (OS_HEADER attached) makes the golden of its own with the
#             OS header attached and goes on to 6. after verify
# `vhdcrypt encrypt --volume-type all`, verify, then boot the output under
# qemu (TCG) with bek.vhd attached: / must come from a dm-crypt device, the
# data volumes too, and the files written before must read back. Booted once
# more without bek.vhd: the guest must stop in its initramfs. mbr-boot,
# gpt-esp and dracut deploy two instances instead (6.) and boot the first
# with its own bek.vhd and with the other's: those boots stand for the
# golden's (an instance is the golden with new keys), each emulated boot
# costing 40-120 s.
#   encrypt_os.sh VHDCRYPT SOURCE_DIR LAYOUT [OS_HEADER]
# OS_HEADER (detached|attached): --os-header of the golden; by default
# attached for gpt-esp, detached for the others.
set -euo pipefail
. "$2/tests/integration/lib.sh"
test_setup "$1" "$2"
LAYOUT=$3
OS_HEADER=${4:-detached}
[ $# -ge 4 ] || { [ "$LAYOUT" = gpt-esp ] && OS_HEADER=attached; }
# The dracut layout's attached golden is a test of its own (ctest -j2 runs it
# beside another): decrypt and status of an attached OS volume are gpt-esp's.
SECOND=no
[ "$LAYOUT" = dracut ] && [ "$OS_HEADER" = attached ] && SECOND=yes
# gpt-esp compares the volume keys and plaintext of its golden and instances
# (compare_instances, in 6.), against the golden's decrypt of 2b.
COMPARES=no
[ "$LAYOUT" = gpt-esp ] && COMPARES=yes
BOOT="/usr/bin/python3 $SRC/tests/integration/boot_guest.py"
# ok and elapsed come from lib.sh; failures go to stderr here.
fail() { echo "FAIL: $*" >&2; exit 1; }
suite_start=$(date +%s)

t=$(date +%s)
GUEST=$(cached_fixture "$CACHE" "guest-$LAYOUT" "$SRC/fixtures/debian-guest-$LAYOUT.guestfish" \
        "$SRC/fixtures/debian-guest-common.guestfish" "$SRC"/fixtures/guest-* "$SRC/scripts/build-debian-guest" \
        -- "$SRC/scripts/build-debian-guest" "@DIR@/$LAYOUT.raw" "$LAYOUT")/$LAYOUT.raw
DATA=$(cached_fixture "$CACHE" guest-data "$SRC/fixtures/guest-data-disk.guestfish" \
       "$SRC/scripts/build-guest-data-disk" -- "$SRC/scripts/build-guest-data-disk" @DIR@/data.raw)/data.raw
echo "# fixtures ready in $(elapsed $t)"
sha256sum "$GUEST" "$DATA" > "$OUT/inputs.sha256"

# 1. Encrypt everything into Azure's container (fixed VHD), passphrase
# generated; xfs-root into a dynamic VHD (the OS disk goes through a raw work
# file, which must not be left behind). PBKDF2 at 20 ms of this host: under
# TCG, beside another test, 200 ms here took the guest over a minute to unlock
# both data volumes, past their 60 s device timeout in fstab.
# mbr-boot runs with --skip-free-space: only used blocks (of the OS volume
# after the guest edits) are written, and the guest must still boot.
t=$(date +%s)
mkdir "$OUT/enc"
TO=vhd-fixed
[ "$LAYOUT" = xfs-root ] && TO=vhd-dynamic
SKIP=()
[ "$LAYOUT" = mbr-boot ] && SKIP=(--skip-free-space)
"$BIN" encrypt "$GUEST" --data "$DATA" --volume-type all --policy generic --to $TO --output-dir "$OUT/enc" \
  --os-header $OS_HEADER --pbkdf pbkdf2 --iter-time 20 "${SKIP[@]}" --progress none 2> "$OUT/enc.err" ||
  { cat "$OUT/enc.err"; fail "encrypt"; }
[ "$(ls -A "$OUT/enc" | sort | tr '\n' ' ')" = "$(printf '%s\n' "$LAYOUT.vhd" data.vhd bek.vhd passphrase \
  keyvault-secret.json manifest.json | sort | tr '\n' ' ')" ] || fail "the output holds: $(ls -A "$OUT/enc")"
"$BIN" info --json "$OUT/enc/$LAYOUT.vhd" > "$OUT/info.json" || fail "info on the output"
python3 - "$OUT/enc/manifest.json" "$LAYOUT" "$TO" "$OUT/info.json" "$OUT/enc/$LAYOUT.vhd" "$OS_HEADER" <<'PY' ||
import json, os, sys
m = json.load(open(sys.argv[1]))
v, layout, to, os_header = m["volumes"], sys.argv[2], sys.argv[3], sys.argv[6]
info = json.load(open(sys.argv[4]))
if layout == "mbr-boot":
    assert all(x["free_space"] == "skipped" and x["encrypted_bytes"] < x["size"] for x in v), v
    # The OS volume's free blocks are holes in the fixed VHD.
    st = os.stat(sys.argv[5])
    assert st.st_blocks * 512 < st.st_size - v[0]["size"] + v[0]["encrypted_bytes"] + (64 << 20), (st, v[0])
else:
    assert all(x["free_space"] == "encrypted" and x["encrypted_bytes"] == x["size"] for x in v), v
assert m["disks"][0]["output_format"] == to and info["container"] == to, (m["disks"][0], info)
if to == "vhd-dynamic":
    # Zero runs of the plaintext parts stay unallocated; the OS volume is not zero.
    assert info["allocated_bytes"] < info["virtual_size"], info
assert [(x["mountpoint"], x["header"]) for x in v] == [("/", os_header), ("/data1", "attached"),
                                                        ("/data2", "attached")], v
assert v[0]["mapper_name"] == "osencrypt", v[0]
if os_header == "detached":
    # The header lives on /boot, the volume where it was.
    assert v[0]["data_offset"] == v[0]["source_offset"] and v[0]["header_device"] == "/dev/sda1", v[0]
else:
    # In front of the data: the partition grew by 16 MiB (later ones moved), no header file.
    assert v[0]["data_offset"] == v[0]["header_offset"] + (16 << 20), v[0]
    assert v[0]["header_file"] == "" and v[0]["header_device"] == "", v[0]
if layout == "gpt-esp":
    # / held /boot: a new /boot partition after everything (and the root's header).
    d = m["disks"][0]
    assert d["output_virtual_size"] >= d["input_virtual_size"] + (512 + 16) * 2**20, d
PY
  fail "manifest"
ok "encrypt --volume-type all: OS volume (header $OS_HEADER) and 2 data volumes, bek.vhd ($(elapsed $t))"

# The fixture's kernel command line carries rd.luks=0 (dracut would then
# never open the OS volume): vhdcrypt drops it from /etc/default/grub and the
# guest's update-grub rebuilds grub.cfg, on every layout.
# /boot: a new partition (4, after the root) when / held /boot.
BOOTDEV=/dev/sda1
[ "$LAYOUT" = gpt-esp ] && BOOTDEV=/dev/sda4
if [ "$OS_HEADER" = detached ]; then
  guestfish --ro --format=vpc -a "$OUT/enc/$LAYOUT.vhd" run : mount-ro "$BOOTDEV" / : \
    cat /grub/grub.cfg : lgetxattrs /luks/osluksheader > "$OUT/boot.txt" ||
    fail "reading grub.cfg and the header's xattrs from $BOOTDEV"
else
  guestfish --ro --format=vpc -a "$OUT/enc/$LAYOUT.vhd" run : mount-ro "$BOOTDEV" / : \
    cat /grub/grub.cfg : exists /luks/osluksheader > "$OUT/boot.txt" || fail "reading grub.cfg from $BOOTDEV"
  [ "$(tail -n 1 "$OUT/boot.txt")" = false ] || fail "an attached OS header left a header file on /boot"
fi
grep -q "removed rd.luks=0" "$OUT/enc.err" || fail "the kernel command line was not edited: $(cat "$OUT/enc.err")"
# boot.txt: grub.cfg, then the header's extended attributes.
grep -q "^[[:space:]]*linux[[:space:]].*console=ttyS0" "$OUT/boot.txt" || fail "grub.cfg has no kernel line"
if grep -q "rd\.luks=0" "$OUT/boot.txt"; then fail "grub.cfg still passes rd.luks=0"; fi
ok "kernel command line: rd.luks=0 removed, grub.cfg rebuilt by the guest's update-grub"

if [ "$LAYOUT" = dracut ]; then
  # An SELinux guest (permissive): what vhdcrypt wrote carries the policy's
  # label, set by the guest's setfiles (a new file would otherwise have none).
  grep -q "SELinux is permissive: restoring the labels" "$OUT/enc.err" || fail "no relabel: $(cat "$OUT/enc.err")"
  if [ "$OS_HEADER" = detached ]; then
    grep -q "system_u:object_r:boot_t" "$OUT/boot.txt" || fail "header label: $(grep -A3 security "$OUT/boot.txt")"
    ok "SELinux: the edited files are relabelled (/boot/luks/osluksheader is boot_t)"
  else
    ok "SELinux: the edited files are relabelled"
  fi
fi

# 2. dm-crypt in the appliance opens all three (the OS volume with its header
# from /boot) and finds clean filesystems; the data volumes equal their sources.
t=$(date +%s)
"$BIN" verify "$OUT/enc" --key-file "$OUT/enc/passphrase" --against "$GUEST" --against "$DATA" > "$OUT/verify.txt" ||
  fail "verify: $(cat "$OUT/verify.txt")"
case $LAYOUT in
  xfs-root) root_check="a clean xfs" ;;
  lvm-root) root_check="an LVM physical volume whose logical volumes check clean" ;;
  *) root_check="a clean ext4" ;;
esac
# A detached header is named by the output image and partition, not the appliance's device.
root_header=" (header detached: /luks/osluksheader on $LAYOUT.vhd partition ${BOOTDEV#/dev/sda})"
[ "$OS_HEADER" = attached ] && root_header=""
root_line=$(grep "^ok .*(/): " "$OUT/verify.txt") || fail "$(cat "$OUT/verify.txt")"
[[ "$root_line" == *"(/): decrypts to $root_check$root_header" ]] || fail "$(cat "$OUT/verify.txt")"
if [ "$LAYOUT" = mbr-boot ]; then
  [ "$(grep -c "its used blocks decrypt to the source's, and to a clean" "$OUT/verify.txt")" = 2 ] ||
    fail "$(cat "$OUT/verify.txt")"
else
  [ "$(grep -c "decrypts to the source partition" "$OUT/verify.txt")" = 2 ] || fail "$(cat "$OUT/verify.txt")"
fi
ok "verify: the OS volume opens with its $OS_HEADER header, the data volumes decrypt to their sources ($(elapsed $t))"

if [ $SECOND = no ]; then
  # 2b. decrypt: the OS volume (its header read from /boot) comes back as the
  # layout's filesystem (or LVM PV), the data volumes equal their sources.
  t=$(date +%s)
  mkdir "$OUT/plain"
  "$BIN" decrypt "$OUT/enc" --key-file "$OUT/enc/passphrase" --output-dir "$OUT/plain" --to raw --progress none \
    2> "$OUT/decrypt.err" || { cat "$OUT/decrypt.err"; fail "decrypt"; }
  python3 - "$OUT/enc/manifest.json" "$LAYOUT" "$OUT/plain/$LAYOUT.raw" "$OUT/plain/data.raw" "$DATA" <<'PY' ||
import hashlib, json, sys
m, layout = json.load(open(sys.argv[1])), sys.argv[2]
plain, data_src = sys.argv[3:5], sys.argv[5]
def read(path, offset, size):
    with open(path, "rb") as f:
        f.seek(offset)
        return f.read(size)
def digest(path, offset, size):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        f.seek(offset)
        while size:
            b = f.read(min(size, 1 << 20))
            assert b
            h.update(b)
            size -= len(b)
    return h.hexdigest()
os_vol = m["volumes"][0]
head = read(plain[0], os_vol["header_offset"], 4096)
if layout == "xfs-root":
    assert head[:4] == b"XFSB", head[:4]
elif layout == "lvm-root":
    assert head[512:520] == b"LABELONE", head[512:520]
else:
    assert head[1080:1082] == b"\x53\xef", head[1080:1082]
for v in m["volumes"][1:]:
    assert v["disk"] == 1
    assert digest(plain[1], v["header_offset"], v["size"]) == digest(data_src, v["source_offset"], v["size"]), v
PY
    { cat "$OUT/decrypt.err"; fail "decrypted volumes"; }
  [ $COMPARES = yes ] || rm -rf "$OUT/plain"
  ok "decrypt: the OS volume is plaintext again (header from /boot), the data volumes equal their sources ($(elapsed $t))"

  # 2c. status (no key): OS Encrypted with its header where the manifest says
  # (detached on /boot, or attached), both data volumes Encrypted,
  # mountpoints from the manifest.
  "$BIN" status --json "$OUT/enc/$LAYOUT.vhd" --data "$OUT/enc/data.vhd" > "$OUT/status.json" 2> "$OUT/status.err" ||
    fail "status: $(cat "$OUT/status.err")"
  python3 - "$OUT/status.json" "$OUT/enc/manifest.json" <<'PY' || { cat "$OUT/status.json"; fail "status"; }
import json, sys
j, m = json.load(open(sys.argv[1])), json.load(open(sys.argv[2]))
assert j["os_volume_encrypted"] == "Encrypted" and j["data_volumes_encrypted"] == "Encrypted", j
os_m = m["volumes"][0]
os = [v for v in j["volumes"] if v["role"] == "os"]
assert len(os) == 1 and os[0]["device"] == "/dev/sda%d" % os_m["partition"], (os, os_m)
assert os[0]["uuid"] == os_m["luks_uuid"] and os[0]["header"] == os_m["header"], os
if os_m["header"] == "detached":
    assert os[0]["header_location"] == os_m["header_device"] + ":/luks/osluksheader", os
else:
    assert os[0]["header_location"] == os[0]["device"] + " (offset 0)", os
data = [(v["mountpoint"], v["uuid"], v["header"]) for v in j["volumes"] if v["role"] == "data"]
assert data == [(x["mountpoint"], x["luks_uuid"], "attached") for x in m["volumes"][1:]], data
PY
  ok "status: OsVolumeEncrypted Encrypted (header $OS_HEADER), DataVolumesEncrypted Encrypted"
  if [ "$OS_HEADER" = attached ]; then
    # Without manifest.json beside it (a hard link elsewhere), the attached
    # OS volume is known by its header's LUKS2 label.
    mkdir "$OUT/bare"
    ln "$OUT/enc/$LAYOUT.vhd" "$OUT/bare/$LAYOUT.vhd"
    "$BIN" status --json "$OUT/bare/$LAYOUT.vhd" > "$OUT/bare.json" 2> "$OUT/bare.err" ||
      fail "status without a manifest: $(cat "$OUT/bare.err")"
    python3 - "$OUT/bare.json" "$OUT/enc/manifest.json" <<'PY' || { cat "$OUT/bare.json"; fail "status without a manifest"; }
import json, sys
j, m = json.load(open(sys.argv[1])), json.load(open(sys.argv[2]))
assert j["os_volume_encrypted"] == "Encrypted", j
os_m = m["volumes"][0]
os = [v for v in j["volumes"] if v["role"] == "os"]
assert len(os) == 1 and os[0]["device"] == "/dev/sda%d" % os_m["partition"], (os, os_m)
assert os[0]["uuid"] == os_m["luks_uuid"] and os[0]["header"] == "attached" and os[0]["mountpoint"] == "/", os
PY
    rm -rf "$OUT/bare"
    ok "status without manifest.json: the attached OS volume is known by its LUKS2 label"
  fi
fi

# 3. Boot with the key volume: the initramfs unlocks / from it, systemd the data volumes.
DEPLOYS=no
case $LAYOUT in mbr-boot | gpt-esp | dracut) DEPLOYS=yes ;; esac
boot_with_key() {  # DIR NAME [--uefi]
  local t dir=$1 name=$2
  shift 2
  t=$(date +%s)
  $BOOT --disk "$dir/$LAYOUT.vhd:vpc" --disk "$dir/data.vhd:vpc" --disk "$dir/bek.vhd:vpc" "$@" \
    --expect-report --timeout 900 --log "$OUT/$name.log" > "$OUT/$name.json" ||
    { tail -n 40 "$OUT/$name.log"; cat "$OUT/$name.json"; fail "boot with bek.vhd ($name)"; }
  python3 - "$OUT/$name.json" "$LAYOUT" <<'PY' || { tail -n 60 "$OUT/$name.log"; fail "boot report ($name)"; }
import json, sys
j = json.load(open(sys.argv[1]))
r, layout = j["report"], sys.argv[2]
assert r["root.crypt"] == "yes" and "osencrypt" in r["crypt_devices"].split(","), r
if layout == "lvm-root":
    # / is the LV; its PV is the unlocked osencrypt.
    assert r["root.source"] == "/dev/mapper/vg0-root" and r["root.stack"].startswith("lvm,crypt,part"), r
else:
    assert r["root.source"] == "/dev/mapper/osencrypt" and r["root.dm_target"] == "crypt", r
assert r["root.fstype"] == ("xfs" if layout == "xfs-root" else "ext4"), r
assert r["initramfs"] == ("dracut" if layout == "dracut" else "initramfs-tools"), r
assert r["os.marker_present"] == "yes", r
for d in ("data1", "data2"):
    assert r[d + ".mounted"] == "yes" and r[d + ".crypt"] == "yes", (d, r)
    assert r[d + ".source"].startswith("/dev/mapper/luks-"), (d, r)
    assert r[d + ".marker_present"] == "yes", (d, r)
assert r["boot.mounted"] == "yes" and r["boot.crypt"] == "no", r
if layout == "gpt-esp":
    # The new /boot partition (4) holds the kernels; the ESP is mounted below it.
    assert r["boot.source"].endswith("a4"), r
    assert r["efi.mounted"] == "yes" and r["efi.fstype"] == "vfat", r
print(f"boot_seconds={j['boot_seconds']} firmware={r['firmware']}")
PY
  ok "boots ($name) with bek.vhd: / on dm-crypt, /data1 and /data2 on dm-crypt, files read back ($(elapsed $t))"
}
[ $DEPLOYS = yes ] || boot_with_key "$OUT/enc" boot-bios

# 4. Without the key volume the root stays locked: the boot stops in the
# initramfs, where the keyscript says why.
if [ $DEPLOYS = no ]; then
  t=$(date +%s)
  $BOOT --disk "$OUT/enc/$LAYOUT.vhd:vpc" --disk "$OUT/enc/data.vhd:vpc" --expect-no-root --timeout 600 \
    --log "$OUT/nokey.log" > "$OUT/nokey.json" || { tail -n 40 "$OUT/nokey.log"; fail "boot without bek.vhd"; }
  grep -q "vhdcrypt: no key volume" "$OUT/nokey.log" || fail "the keyscript did not say why"
  ok "boots without bek.vhd: stops in the initramfs, root never mounted ($(elapsed $t))"
fi

# 5. rekey (xfs-root: a dynamic VHD, written through qemu's vpc driver): on a
# copy, every header (the OS volume's detached one on /boot too, and its copy
# in the initramfs) and the key volume get a new passphrase; the old one
# opens nothing, the new one all, and the rekeyed copy boots from its
# rekeyed key volume.
if [ "$LAYOUT" = xfs-root ]; then
  t=$(date +%s)
  cp -r "$OUT/enc" "$OUT/rk"
  printf 'a new passphrase for this deployment' > "$OUT/newkey"
  printf 'not the passphrase' > "$OUT/wrongkey"
  rc=0
  "$BIN" rekey "$OUT/rk/$LAYOUT.vhd" "$OUT/rk/data.vhd" "$OUT/rk/bek.vhd" --key-file "$OUT/wrongkey" \
    --new-key-file "$OUT/newkey" --pbkdf pbkdf2 --iter-time 20 > "$OUT/rekey-wrong.txt" 2>&1 || rc=$?
  [ $rc = 2 ] || fail "rekey with a wrong old passphrase exited $rc: $(cat "$OUT/rekey-wrong.txt")"
  cmp -s "$OUT/rk/$LAYOUT.vhd" "$OUT/enc/$LAYOUT.vhd" && cmp -s "$OUT/rk/data.vhd" "$OUT/enc/data.vhd" ||
    fail "a refused rekey changed an image"
  "$BIN" rekey "$OUT/rk/$LAYOUT.vhd" "$OUT/rk/data.vhd" "$OUT/rk/bek.vhd" --key-file "$OUT/enc/passphrase" \
    --new-key-file "$OUT/newkey" --pbkdf pbkdf2 --iter-time 20 > "$OUT/rekey.txt" 2>&1 ||
    fail "rekey: $(cat "$OUT/rekey.txt")"
  grep -q "^rekeyed /luks/osluksheader on $OUT/rk/$LAYOUT.vhd partition 1 (detached header; also in 1 initramfs image(s))$" "$OUT/rekey.txt" ||
    fail "$(cat "$OUT/rekey.txt")"
  [ "$(grep -c "^rekeyed $OUT/rk/data.vhd partition [0-9]$" "$OUT/rekey.txt")" = 2 ] || fail "data volumes: $(cat "$OUT/rekey.txt")"
  grep -q "^rekeyed $OUT/rk/bek.vhd partition 1 (key volume)$" "$OUT/rekey.txt" || fail "key volume: $(cat "$OUT/rekey.txt")"
  "$BIN" verify "$OUT/rk" --key-file "$OUT/newkey" > "$OUT/rk-verify.txt" || fail "verify (new): $(cat "$OUT/rk-verify.txt")"
  rc=0
  "$BIN" verify "$OUT/rk" --key-file "$OUT/enc/passphrase" > "$OUT/rk-old.txt" || rc=$?
  [ $rc = 1 ] && [ "$(grep -c '^FAILED ' "$OUT/rk-old.txt")" = 3 ] || fail "the old passphrase still opens: $(cat "$OUT/rk-old.txt")"
  $BOOT --disk "$OUT/rk/$LAYOUT.vhd:vpc" --disk "$OUT/rk/data.vhd:vpc" --disk "$OUT/rk/bek.vhd:vpc" \
    --expect-report --timeout 900 --log "$OUT/rk-boot.log" > "$OUT/rk-boot.json" ||
    { tail -n 40 "$OUT/rk-boot.log"; fail "boot after rekey"; }
  python3 -c 'import json,sys; r=json.load(open(sys.argv[1]))["report"]; assert r["root.crypt"]=="yes" and r["data1.crypt"]=="yes" and r["data2.crypt"]=="yes", r' \
    "$OUT/rk-boot.json" || fail "boot report after rekey"
  rm -rf "$OUT/rk"
  ok "rekey: a wrong old passphrase changes nothing (exit 2); then the new one opens all 3 volumes, the old none, and the guest boots from the rekeyed bek.vhd ($(elapsed $t))"
fi

# 6. deploy: two instances of a golden, each with new volume keys, its own
# passphrase (vm1 from a file, with a recovery key; vm2 generated) and its own
# bek.vhd; the golden directory is untouched. vm1 decrypts to the inputs with
# its passphrase and with its recovery key, not with the golden's; status
# shows both key slots; vm1 boots with its own bek.vhd (gpt-esp: by BIOS and
# by UEFI) and stops in the initramfs with vm2's. KEYS=short leaves out the
# key slot checks (recovery key, golden passphrase, status) made already on
# the same code path.
deploy_instances() {  # GOLDEN_DIR OS_HEADER full|short
  local t golden=$1 os_header=$2 keys=$3 rc=0
  t=$(date +%s)
  (cd "$golden" && sha256sum ./*) > "$OUT/golden.sha256"
  printf 'the passphrase of vm1' > "$OUT/vm1.pass"
  "$BIN" deploy "$golden" --key-file "$golden/passphrase" --output-dir "$OUT/vm1" --new-key-file "$OUT/vm1.pass" \
    --recovery-key --pbkdf pbkdf2 --iter-time 20 --progress none 2> "$OUT/deploy1.err" ||
    { cat "$OUT/deploy1.err"; fail "deploy vm1"; }
  "$BIN" deploy "$golden" --key-file "$golden/passphrase" --output-dir "$OUT/vm2" \
    --pbkdf pbkdf2 --iter-time 20 --progress none 2> "$OUT/deploy2.err" || { cat "$OUT/deploy2.err"; fail "deploy vm2"; }
  (cd "$golden" && sha256sum -c --quiet "$OUT/golden.sha256") || fail "deploy changed the golden directory"
  if [ "$os_header" = detached ]; then
    grep -q "also in 1 initramfs image(s)" "$OUT/deploy1.err" || fail "the initramfs got no new header: $(cat "$OUT/deploy1.err")"
  elif grep -q "initramfs" "$OUT/deploy1.err"; then
    fail "an attached OS header went into an initramfs: $(cat "$OUT/deploy1.err")"
  fi
  [ "$(ls -A "$OUT/vm1" | sort | tr '\n' ' ')" = "$(printf '%s\n' "$LAYOUT.vhd" data.vhd bek.vhd recovery-key \
    manifest.json | sort | tr '\n' ' ')" ] || fail "vm1 holds: $(ls -A "$OUT/vm1")"
  python3 - "$OUT/vm1/manifest.json" "$OUT/golden.sha256" "$os_header" <<'PY' || fail "instance manifest"
import json, sys
m = json.load(open(sys.argv[1]))
sums = dict(line.split()[::-1] for line in open(sys.argv[2]))
assert m["golden"]["manifest_sha256"] == sums["./manifest.json"], m["golden"]
assert m["passphrase_file"] == "", m
assert m["volumes"][0]["header"] == sys.argv[3], m["volumes"][0]
PY
  "$BIN" verify "$OUT/vm1" --key-file "$OUT/vm1.pass" --against "$GUEST" --against "$DATA" > "$OUT/vm1-verify.txt" ||
    fail "verify vm1: $(cat "$OUT/vm1-verify.txt")"
  [ "$(grep -c '^ok ' "$OUT/vm1-verify.txt")" = 3 ] || fail "$(cat "$OUT/vm1-verify.txt")"
  [ "$keys" = full ] && check_instance_keys "$golden"
  [ $COMPARES = yes ] && compare_instances "$golden"
  boot_with_key "$OUT/vm1" vm1-boot
  if [ "$LAYOUT" = gpt-esp ]; then
    boot_with_key "$OUT/vm1" vm1-uefi --uefi
    grep -q "firmware=uefi" "$OUT/vm1-uefi.log" || fail "the UEFI boot did not run under UEFI"
  fi
  $BOOT --disk "$OUT/vm1/$LAYOUT.vhd:vpc" --disk "$OUT/vm1/data.vhd:vpc" --disk "$OUT/vm2/bek.vhd:vpc" \
    --expect-no-root --timeout 600 --log "$OUT/vm1-vm2key.log" > "$OUT/vm1-vm2key.json" ||
    { tail -n 40 "$OUT/vm1-vm2key.log"; fail "vm1 booted past its initramfs with vm2's bek.vhd"; }
  rm -rf "$OUT/vm1" "$OUT/vm2"
  ok "deploy (OS header $os_header): two instances, golden untouched, vm1 decrypts to the inputs with its own passphrase$([ "$keys" = full ] && echo " and recovery key (2 key slots), not the golden's"); boots with its bek.vhd, stops in the initramfs with vm2's ($(elapsed $t))"
}
# vm1's recovery key opens it, the golden passphrase does not; status shows
# both key slots and the systemd-recovery token.
check_instance_keys() {  # GOLDEN_DIR
  local golden=$1 rc=0
  "$BIN" verify "$OUT/vm1" --key-file "$OUT/vm1/recovery-key" > "$OUT/vm1-recovery.txt" ||
    fail "verify vm1 with its recovery key: $(cat "$OUT/vm1-recovery.txt")"
  "$BIN" verify "$OUT/vm1" --key-file "$golden/passphrase" > "$OUT/vm1-golden.txt" || rc=$?
  [ $rc = 1 ] && [ "$(grep -c '^FAILED ' "$OUT/vm1-golden.txt")" = 3 ] ||
    fail "the golden passphrase opens vm1 (exit $rc): $(cat "$OUT/vm1-golden.txt")"
  "$BIN" status --json "$OUT/vm1/$LAYOUT.vhd" --data "$OUT/vm1/data.vhd" > "$OUT/vm1-status.json" ||
    fail "status vm1"
  python3 - "$OUT/vm1-status.json" <<'PY' || { cat "$OUT/vm1-status.json"; fail "status vm1: key slots"; }
import json, sys
vols = [v for v in json.load(open(sys.argv[1]))["volumes"] if v["encrypted"]]
assert len(vols) == 3, vols
for v in vols:
    assert v["key_slots"] == [{"slot": 0, "kind": "passphrase"}, {"slot": 1, "kind": "recovery"}], v
    assert [t["type"] for t in v["tokens"]] == ["systemd-recovery"], v
PY
}
# The volume keys of the golden and of both instances all differ (read back by
# cryptsetup from the headers in the outputs: gpt-esp's are all attached, and
# in fixed VHDs a header lies at its manifest offset in the file), and each
# instance decrypts to the golden's plaintext (decrypted in 2b.).
compare_instances() {  # GOLDEN_DIR
  local golden=$1 dir key who t
  t=$(date +%s)
  : > "$OUT/volume-keys.txt"
  for who in golden vm1 vm2; do
    case $who in
      golden) dir=$golden key=$golden/passphrase ;;
      vm1) dir=$OUT/vm1 key=$OUT/vm1.pass ;;
      vm2) dir=$OUT/vm2 key=$OUT/vm2/passphrase ;;
    esac
    python3 - "$dir" "$OUT/hdr" <<'PY' || fail "extracting the headers of $dir"
import json, os, sys
d, out = sys.argv[1], sys.argv[2]
m = json.load(open(os.path.join(d, "manifest.json")))
assert len(m["volumes"]) == 3, m["volumes"]
for i, v in enumerate(m["volumes"]):
    assert v["header"] == "attached", v
    with open(os.path.join(d, m["disks"][v["disk"]]["output"]), "rb") as f:
        f.seek(v["header_offset"])
        open("%s.%d" % (out, i), "wb").write(f.read(v["data_offset"] - v["header_offset"]))
PY
    for i in 0 1 2; do
      cryptsetup luksDump --dump-volume-key --batch-mode --key-file "$key" "$OUT/hdr.$i" 2> /dev/null |
        sed -n '/^MK dump:/,$p' | sed 's/^MK dump://' | tr -d ' \t\n' > "$OUT/vk"
      [ -s "$OUT/vk" ] || fail "cryptsetup could not read the volume key of $who volume $i"
      sha256sum < "$OUT/vk" | cut -c1-64 >> "$OUT/volume-keys.txt"
    done
    rm -f "$OUT"/hdr.* "$OUT/vk"
    [ $who = golden ] && continue
    mkdir "$OUT/plain-$who"
    "$BIN" decrypt "$dir" --key-file "$key" --output-dir "$OUT/plain-$who" --to raw --progress none \
      2> "$OUT/decrypt-$who.err" || { cat "$OUT/decrypt-$who.err"; fail "decrypt $who"; }
    cmp -s "$OUT/plain/$LAYOUT.raw" "$OUT/plain-$who/$LAYOUT.raw" && cmp -s "$OUT/plain/data.raw" "$OUT/plain-$who/data.raw" ||
      fail "decrypt of $who differs from decrypt of the golden"
    rm -rf "$OUT/plain-$who"
  done
  [ "$(sort -u "$OUT/volume-keys.txt" | wc -l)" = 9 ] || fail "volume keys repeat: $(cat "$OUT/volume-keys.txt")"
  rm -rf "$OUT/plain"
  ok "golden, vm1, vm2: 9 volume keys, all different (cryptsetup luksDump --dump-volume-key); each instance decrypts to the golden's plaintext ($(elapsed $t))"
}
# mbr-boot: a --skip-free-space golden in fixed VHDs, initramfs-tools, header
# detached; gpt-esp: initramfs-tools, header attached; dracut: every block,
# header detached, or (the second dracut test) attached. The key slot checks
# run where the header is read from /boot (mbr-boot) and where it is attached
# (gpt-esp); dracut's instances come from the same code.
KEYS=full
[ "$LAYOUT" = dracut ] && KEYS=short
[ $DEPLOYS = yes ] && deploy_instances "$OUT/enc" "$OS_HEADER" $KEYS

sha256sum -c --quiet "$OUT/inputs.sha256" || fail "an input image changed"
ok "inputs byte-identical; suite $(elapsed $suite_start)"
