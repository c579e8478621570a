#!/bin/bash
# `vhdcrypt status` on images in every state it names: plain, encrypted by
# vhdcrypt, encrypted as ADE does inside a VM (built here with cryptsetup:
# detached OS header on /boot, attached data header), interrupted (an ADE-like
# reencryption under way; a vhdcrypt output left by SIGKILL).
#   status.sh VHDCRYPT SOURCE_DIR
set -euo pipefail
. "$2/tests/integration/lib.sh"
test_setup "$@"
D=$(data_disks_fixture "$SRC" "$CACHE")
G=$(phony_guests_fixture "$SRC" "$CACHE")
printf 'status test passphrase' > "$OUT/key"
FAST=(--pbkdf pbkdf2 --iter-time 20)
# expect NAME PYTHON-ASSERTIONS IMAGE [--data DISK]...: status --json, then the assertions on j.
expect() {
  local name=$1 checks=$2
  shift 2
  "$BIN" status --json "$@" > "$OUT/$name.json" 2> "$OUT/$name.err" ||
    fail "status ($name) exited $?: $(cat "$OUT/$name.err")"
  python3 - "$OUT/$name.json" "$checks" <<'PY' || { cat "$OUT/$name.json"; fail "status ($name)"; }
import json, sys
j = json.load(open(sys.argv[1]))
vols = j["volumes"]
by_dev = {v["device"]: v for v in vols}
exec(sys.argv[2])
PY
}

# 1. Plain: an Ubuntu-like guest and its data disk.
expect plain '
assert j["os_volume_encrypted"] == "NotEncrypted" and j["data_volumes_encrypted"] == "NotEncrypted", j
assert by_dev["/dev/sda2"]["role"] == "os" and by_dev["/dev/sda2"]["mountpoint"] == "/", vols
assert "/dev/sda1" not in by_dev, vols  # /boot is neither
assert by_dev["/dev/sdb1"] == dict(by_dev["/dev/sdb1"], role="data", mountpoint="/data", encrypted=False, filesystem="ext4")
' "$G/ubuntu-good.raw" --data "$G/ubuntu-good-data.raw"
"$BIN" status "$G/ubuntu-good.raw" --data "$G/ubuntu-good-data.raw" > "$OUT/plain.txt"
grep -q "^OsVolumeEncrypted: *NotEncrypted$" "$OUT/plain.txt" || fail "text: $(cat "$OUT/plain.txt")"
ok "plain guest: OsVolumeEncrypted NotEncrypted, DataVolumesEncrypted NotEncrypted, /data found by fstab"

# 2. Encrypted by vhdcrypt (data volume; the OS stays plain); bek.vhd is not a volume.
mkdir "$OUT/enc"
"$BIN" -q encrypt "$G/ubuntu-good.raw" --data "$G/ubuntu-good-data.raw" --output-dir "$OUT/enc" \
  --key-file "$OUT/key" "${FAST[@]}" --progress none
luks=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["volumes"][0]["luks_uuid"])' "$OUT/enc/manifest.json")
expect vhdcrypt "
assert j['os_volume_encrypted'] == 'NotEncrypted' and j['data_volumes_encrypted'] == 'Encrypted', j
d = by_dev['/dev/sdb1']
assert d['encrypted'] and d['mountpoint'] == '/data' and d['uuid'] == '$luks', d
assert (d['luks_version'], d['cipher'], d['key_bits'], d['header']) == (2, 'aes-xts-plain64', 512, 'attached'), d
assert d['sector_size'] in (512, 4096) and not d['encryption_in_progress'], d
assert d['key_slots'] == [{'slot': 0, 'kind': 'passphrase'}] and d['tokens'] == [], d
assert '/dev/sdc' not in by_dev, vols
" "$OUT/enc/ubuntu-good.raw" --data "$OUT/enc/ubuntu-good-data.raw" --data "$OUT/enc/bek.vhd"
ok "vhdcrypt output: data Encrypted (LUKS2 aes-xts-plain64 512-bit, header attached, /data, one passphrase key slot), the key volume left out"

# 3. ADE-style, built with cryptsetup: MBR, p1 ext4 /boot holding
# luks/osluksheader, p2 the OS volume (ciphertext only), p3 a data volume
# with its header attached.
mkdir -p "$OUT/ade/boot/luks" "$OUT/ade/boot/grub" "$OUT/ade/tree"
head -c 3000000 /dev/urandom > "$OUT/ade/tree/blob"
truncate -s 40M "$OUT/ade/os.raw" "$OUT/ade/data.raw"
mkfs.ext4 -q -F -d "$OUT/ade/tree" "$OUT/ade/os.raw"
mkfs.ext4 -q -F -b 4096 -d "$OUT/ade/tree" "$OUT/ade/data.raw" 24M
cp "$OUT/ade/os.raw" "$OUT/ade/os.plain"
cp "$OUT/ade/data.raw" "$OUT/ade/data.plain"
# Encrypted in place, as ADE does in the VM: the OS volume with a detached
# header, the data volume shifted behind its attached one.
truncate -s 16M "$OUT/ade/boot/luks/osluksheader"
cryptsetup reencrypt -q --encrypt --pbkdf pbkdf2 --iter-time 10 --key-file "$OUT/key" \
  --header "$OUT/ade/boot/luks/osluksheader" "$OUT/ade/os.raw"
cryptsetup reencrypt -q --encrypt --reduce-device-size 16M --sector-size 4096 --pbkdf pbkdf2 --iter-time 10 \
  --key-file "$OUT/key" "$OUT/ade/data.raw"
os_uuid=$(cryptsetup luksUUID "$OUT/ade/boot/luks/osluksheader")
data_uuid=$(cryptsetup luksUUID "$OUT/ade/data.raw")
truncate -s 64M "$OUT/ade/boot.raw"
mkfs.ext4 -q -F -d "$OUT/ade/boot" "$OUT/ade/boot.raw"
truncate -s 150M "$OUT/ade.raw"
printf 'label: dos\nstart=2048, size=131072, type=83\nstart=133120, size=81920, type=83\nstart=215040, size=81920, type=83\n' |
  sfdisk -q "$OUT/ade.raw"
dd if="$OUT/ade/boot.raw" of="$OUT/ade.raw" bs=512 seek=2048 conv=notrunc status=none
dd if="$OUT/ade/os.raw" of="$OUT/ade.raw" bs=512 seek=133120 conv=notrunc status=none
dd if="$OUT/ade/data.raw" of="$OUT/ade.raw" bs=512 seek=215040 conv=notrunc status=none
expect ade "
assert j['os_volume_encrypted'] == 'Encrypted' and j['data_volumes_encrypted'] == 'Encrypted', j
os = by_dev['/dev/sda2']
assert os['role'] == 'os' and os['mountpoint'] == '/' and os['uuid'] == '$os_uuid', os
assert os['header'] == 'detached' and os['header_location'] == '/dev/sda1:/luks/osluksheader', os
d = by_dev['/dev/sda3']
assert d['role'] == 'data' and d['header'] == 'attached' and d['uuid'] == '$data_uuid' and d['sector_size'] == 4096, d
assert '/dev/sda1' not in by_dev, vols
" "$OUT/ade.raw"
ok "ADE-style image: OS Encrypted (header detached at /dev/sda1:/luks/osluksheader), data Encrypted (attached)"

# 3b. decrypt takes such an image (no manifest) with its passphrase: the OS
# partition and the data filesystem come back byte for byte.
mkdir "$OUT/plain"
"$BIN" decrypt "$OUT/ade.raw" --key-file "$OUT/key" --output-dir "$OUT/plain" --progress none 2> "$OUT/decrypt.err" ||
  fail "decrypt of the ADE-style image: $(cat "$OUT/decrypt.err")"
cmp -n $((40 << 20)) -i $((133120 * 512)):0 "$OUT/plain/ade.raw" "$OUT/ade/os.plain" || fail "the OS volume differs"
cmp -n $((24 << 20)) -i $((215040 * 512)):0 "$OUT/plain/ade.raw" "$OUT/ade/data.plain" || fail "the data volume differs"
cmp -n $((2048 * 512 + (64 << 20))) "$OUT/plain/ade.raw" "$OUT/ade.raw" || fail "the partition table or /boot changed"
ok "decrypt of the ADE-style image (no manifest): the OS and data volumes equal what was encrypted"

# 4. Interrupted: the data volume in the middle of an in-place encryption
# (cryptsetup reencrypt --init-only, as ADE's would be when cut off).
truncate -s 40M "$OUT/ade/plain.raw"
mkfs.ext4 -q -F "$OUT/ade/plain.raw"
cryptsetup reencrypt -q --encrypt --init-only --reduce-device-size 16M --pbkdf pbkdf2 --iter-time 10 \
  --key-file "$OUT/key" "$OUT/ade/plain.raw"
dd if="$OUT/ade/plain.raw" of="$OUT/ade.raw" bs=512 seek=215040 conv=notrunc status=none
expect reencrypt "
assert j['os_volume_encrypted'] == 'Encrypted' and j['data_volumes_encrypted'] == 'EncryptionInProgress', j
assert by_dev['/dev/sda3']['encryption_in_progress'], by_dev['/dev/sda3']
" "$OUT/ade.raw"
rc=0
"$BIN" decrypt "$OUT/ade.raw" --key-file "$OUT/key" --output-dir "$OUT/plain" --force > "$OUT/d2.err" 2>&1 || rc=$?
[ $rc = 2 ] && grep -q "encryption is still in progress" "$OUT/d2.err" || fail "decrypt mid-reencryption: $rc $(cat "$OUT/d2.err")"
ok "a data volume with a reencryption under way: DataVolumesEncrypted EncryptionInProgress; decrypt refuses it (exit 2)"

# 5. Interrupted: what SIGKILL leaves of a vhdcrypt run (its temporary output).
mkdir "$OUT/k"
"$BIN" encrypt "$D/data.raw" --data-only --output-dir "$OUT/k" --key-file "$OUT/key" "${FAST[@]}" --threads 1 \
  --progress json > "$OUT/k.progress" 2>/dev/null &
pid=$!
for _ in $(seq 3000); do
  grep -q '"phase":"encrypt"' "$OUT/k.progress" 2>/dev/null && break
  kill -0 "$pid" 2>/dev/null || break
  sleep 0.1
done
kill -KILL $pid
wait $pid || true
partial=$(ls -d "$OUT"/k/.data.raw.vhdcrypt-* 2>/dev/null | head -n 1)
[ -n "$partial" ] || fail "SIGKILL left no temporary output: $(ls -A "$OUT/k")"
expect partial "
assert j['os_volume_encrypted'] == 'EncryptionInProgress' and j['data_volumes_encrypted'] == 'EncryptionInProgress', j
assert j['images'][0]['unfinished'] and 'interrupted' in j['images'][0]['note'], j['images']
" "$partial"
ok "an output left by SIGKILL mid-run: EncryptionInProgress"

# 6. LUKS made by other tools, in one run: LUKS1 in an MBR partition (status
# failed whole with exit 3 and no JSON) and on a whole disk (libguestfs'
# read-only overlay let qemu probe it as its own luks format, which wanted a
# key: exit 5; vhdcrypt makes that overlay itself); whole-disk LUKS2 with a requirement flag this
# libcryptsetup does not know (it was reported as EncryptionInProgress); LUKS2
# whose primary header is damaged but whose secondary copy is whole
# (cryptsetup opens it; vhdcrypt read only the primary and refused it).
mkdir "$OUT/foreign"
for f in luks1-volume req damaged; do truncate -s 24M "$OUT/foreign/$f.raw"; done
cryptsetup luksFormat -q --type luks1 --pbkdf-force-iterations 1000 --key-file "$OUT/key" "$OUT/foreign/luks1-volume.raw"
truncate -s 26M "$OUT/foreign/luks1.raw"
printf 'label: dos\nstart=2048, size=49152, type=83\n' | sfdisk -q "$OUT/foreign/luks1.raw"
dd if="$OUT/foreign/luks1-volume.raw" of="$OUT/foreign/luks1.raw" bs=512 seek=2048 conv=notrunc status=none
for f in req damaged; do  # not n: lib.sh's ok() counts in it
  cryptsetup luksFormat -q --type luks2 --pbkdf pbkdf2 --pbkdf-force-iterations 1000 --luks2-metadata-size 16k \
    --key-file "$OUT/key" "$OUT/foreign/$f.raw"
done
python3 - "$OUT/foreign/req.raw" "$OUT/foreign/damaged.raw" <<'PY'
import hashlib, json, sys
def edit(path, change):  # both copies' JSON, checksums made right
    b = bytearray(open(path, "rb").read())
    for at in (0, 16384):
        text = bytes(b[at + 4096:at + 16384]).split(b"\0")[0]
        j = json.loads(text)
        change(j)
        out = json.dumps(j).encode()
        b[at + 4096:at + 16384] = out + b"\0" * (12288 - len(out))
        b[at + 448:at + 512] = b"\0" * 64
        b[at + 448:at + 480] = hashlib.sha256(bytes(b[at:at + 16384])).digest()
    open(path, "wb").write(b)
edit(sys.argv[1], lambda j: j["config"].update(requirements={"mandatory": ["frobnicate-v9"]}))
with open(sys.argv[2], "r+b") as f:
    f.write(b"\xee" * 8192)  # the primary's signature and JSON gone
PY
whole_before=$(sha256sum < "$OUT/foreign/luks1-volume.raw")
expect foreign "
l1 = by_dev['/dev/sda1']
assert l1['encrypted'] and l1['luks_version'] == 1 and l1['cipher'] == 'aes-xts-plain64', l1
r = by_dev['/dev/sdb']
assert r['luks_version'] == 2 and r['unknown_requirements'] and not r['encryption_in_progress'], r
d = by_dev['/dev/sdc']
assert d['luks_version'] == 2 and d['uuid'] and not d['unknown_requirements'], d
w = by_dev['/dev/sdd']
assert w['encrypted'] and w['luks_version'] == 1 and w['cipher'] == 'aes-xts-plain64', w
assert j['data_volumes_encrypted'] == 'Encrypted', j
" "$OUT/foreign/luks1.raw" --data "$OUT/foreign/req.raw" --data "$OUT/foreign/damaged.raw" \
  --data "$OUT/foreign/luks1-volume.raw"
ok "LUKS1 in a partition and on a whole disk, unknown LUKS2 requirements and a damaged primary header: each reported, in one run"
for f in luks1 luks1-volume req; do
  rc=0
  "$BIN" decrypt "$OUT/foreign/$f.raw" --key-file "$OUT/key" --output-dir "$OUT/foreign/out-$f" > "$OUT/foreign/$f.err" 2>&1 || rc=$?
  [ $rc = 3 ] || fail "decrypt of $f: exit $rc, expected 3: $(cat "$OUT/foreign/$f.err")"
  grep -q "$f.raw" "$OUT/foreign/$f.err" || fail "decrypt of $f: the error does not name the image: $(cat "$OUT/foreign/$f.err")"
  if grep -q "/dev/sd" "$OUT/foreign/$f.err"; then fail "decrypt of $f names an appliance device: $(cat "$OUT/foreign/$f.err")"; fi
done
[ "$(sha256sum < "$OUT/foreign/luks1-volume.raw")" = "$whole_before" ] ||
  fail "the whole-disk LUKS1 image changed (it is read through a writable overlay)"
ok "decrypt refuses LUKS1 (partition and whole disk) and unknown requirement flags (exit 3), naming the image, not the appliance's device"
