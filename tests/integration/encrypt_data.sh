#!/bin/bash
# `vhdcrypt encrypt` and `vhdcrypt verify` on real filesystems, checked by
# independent tools: the kernel's dm-crypt in the libguestfs appliance
# (verify, and libguestfs' Python binding) and cryptsetup luksDump on the host.
#   encrypt_data.sh VHDCRYPT SOURCE_DIR
set -euo pipefail
. "$2/tests/integration/lib.sh"
test_setup "$@"
D=$(data_disks_fixture "$SRC" "$CACHE")
G=$(phony_guests_fixture "$SRC" "$CACHE")
PASS='correct horse battery staple'
printf '%s' "$PASS" > "$OUT/key"
printf 'not the passphrase' > "$OUT/wrong-key"
chmod 600 "$OUT/key" "$OUT/wrong-key"
sha256sum "$D"/*.raw "$G"/ubuntu-good*.raw > "$OUT/inputs.sha256"
FAST=(--pbkdf pbkdf2 --iter-time 50)

# 1. Two data disks without an OS: every filesystem, dynamic VHD outputs.
t=$(date +%s)
mkdir "$OUT/a"
rc=0
"$BIN" encrypt "$D/data.raw" --data "$D/whole.raw" --output-dir "$OUT/a" --key-file "$OUT/key" "${FAST[@]}" \
  --to vhd-dynamic --progress json > "$OUT/a.progress" 2> "$OUT/a.err" || rc=$?
[ $rc = 0 ] || { cat "$OUT/a.err"; fail "encrypt exited $rc"; }
[ "$(cd "$OUT/a" && ls -A | sort | tr '\n' ' ')" = "data.vhd manifest.json whole.vhd " ] ||
  fail "unexpected outputs: $(ls -A "$OUT/a")"
python3 - "$OUT/a/manifest.json" "$OUT/a.progress" <<'PY' || fail "manifest or progress"
import json, sys
m = json.load(open(sys.argv[1]))
vols = m["volumes"]
assert [(v["disk"], v["partition"]) for v in vols] == [(0, 1), (0, 2), (0, 3), (0, 4), (1, 0)], vols
assert [v["sector_size"] for v in vols] == [4096, 512, 4096, 512, 4096], [v["sector_size"] for v in vols]
assert [v["filesystem"] for v in vols] == ["ext4", "xfs", "ext4", "ext4", "ext4"]
assert all(v["cipher"] == "aes-xts-plain64" and v["key_bits"] == 512 for v in vols)
assert all(v["data_offset"] - v["header_offset"] == 16 << 20 for v in vols)
assert len({v["luks_uuid"] for v in vols}) == 5
assert m["passphrase_file"] == "" and m["disks"][1]["partition_table"] == "none"
assert all(len(d["input_sha256"]) == 64 for d in m["disks"])
lines = [json.loads(l) for l in open(sys.argv[2])]
assert len(lines) >= 2 and lines[-1] == {"type": "result", "command": "encrypt", "exit_code": 0,
                                         "output_dir": sys.argv[1].rsplit("/", 1)[0]}, lines[-2:]
assert lines[-2]["type"] == "progress-done", lines[-2:]
assert lines[-2]["bytes_done"] == lines[-2]["bytes_total"] > 0
assert {"copy", "encrypt"} <= {l["phase"] for l in lines[:-1]}
PY
ok "data disks encrypted: 5 volumes, 4096/512-byte sectors as the filesystems allow ($(elapsed $t))"

# 2. Each header, cut out of the output, is a LUKS2 header cryptsetup accepts
# and opens with the passphrase (and not with another).
"$BIN" -q convert "$OUT/a/data.vhd" "$OUT/data-out.raw" --to raw
"$BIN" -q convert "$OUT/a/whole.vhd" "$OUT/whole-out.raw" --to raw
python3 - "$OUT/a/manifest.json" > "$OUT/headers" <<'PY'
import json, sys
m = json.load(open(sys.argv[1]))
for v in m["volumes"]:
    print(["data-out.raw", "whole-out.raw"][v["disk"]], v["header_offset"], v["luks_uuid"], v["sector_size"])
PY
while read -r img offset uuid sector; do
  dd if="$OUT/$img" of="$OUT/hdr" bs=1M iflag=skip_bytes skip="$offset" count=16 status=none
  cryptsetup luksDump "$OUT/hdr" > "$OUT/dump" || fail "luksDump refused the header at byte $offset of $img"
  grep -q "^Version:[[:space:]]*2" "$OUT/dump" || fail "not LUKS2"
  grep -q "^UUID:[[:space:]]*$uuid" "$OUT/dump" || fail "UUID $uuid missing"
  grep -q "cipher:[[:space:]]*aes-xts-plain64" "$OUT/dump" || fail "cipher"
  grep -q "sector:[[:space:]]*$sector \[bytes\]" "$OUT/dump" || fail "sector size $sector"
  cryptsetup open --test-passphrase --key-file "$OUT/key" "$OUT/hdr" || fail "passphrase does not open $uuid"
  if cryptsetup open --test-passphrase --key-file "$OUT/wrong-key" "$OUT/hdr" 2>/dev/null; then
    fail "a wrong passphrase opens $uuid"
  fi
done < "$OUT/headers"
rm -f "$OUT/hdr" "$OUT/whole-out.raw"
ok "cryptsetup luksDump accepts all 5 headers; the passphrase opens each, a wrong one none"

# 3. dm-crypt decrypts every volume to the source partition, byte for byte.
t=$(date +%s)
"$BIN" verify "$OUT/a" --key-file "$OUT/key" --against "$D/data.raw" --against "$D/whole.raw" > "$OUT/verify" ||
  { cat "$OUT/verify"; fail "verify --against"; }
[ "$(grep -c '^ok ' "$OUT/verify")" = 5 ] || fail "verify: $(cat "$OUT/verify")"
ok "verify --against: dm-crypt decrypts all 5 volumes to their sources ($(elapsed $t))"

t=$(date +%s)
"$BIN" verify "$OUT/a" --key-file "$OUT/key" > "$OUT/verify-fsck" || { cat "$OUT/verify-fsck"; fail "verify (fsck)"; }
grep -q "decrypts to a clean xfs" "$OUT/verify-fsck" || fail "no xfs check: $(cat "$OUT/verify-fsck")"
ok "verify without --against: fsck/xfs_repair -n find clean filesystems ($(elapsed $t))"

rc=0
"$BIN" verify "$OUT/a" --key-file "$OUT/wrong-key" > "$OUT/verify-wrong" 2>&1 || rc=$?
[ $rc = 1 ] || fail "verify with a wrong key exited $rc"
[ "$(grep -c '^FAILED .*No key available' "$OUT/verify-wrong")" = 5 ] || fail "$(cat "$OUT/verify-wrong")"
ok "verify with a wrong passphrase: exit 1, every volume named as FAILED"
# A volume whose partition is not there: named with the reason.
mkdir "$OUT/gone"
ln -s "$OUT/a/data.vhd" "$OUT/gone/data.vhd"
ln -s "$OUT/a/whole.vhd" "$OUT/gone/whole.vhd"
python3 - "$OUT/a/manifest.json" "$OUT/gone/manifest.json" <<'PY'
import json, sys
m = json.load(open(sys.argv[1]))
m["volumes"] = m["volumes"][:1]
m["volumes"][0]["partition"] = 9
json.dump(m, open(sys.argv[2], "w"))
PY
rc=0
"$BIN" verify "$OUT/gone" --key-file "$OUT/key" > "$OUT/verify-gone" 2>&1 || rc=$?
[ $rc = 1 ] || fail "verify of a missing partition exited $rc: $(cat "$OUT/verify-gone")"
grep -q "^FAILED .*partition 9.*cannot be unlocked.*/dev/sda9" "$OUT/verify-gone" || fail "$(cat "$OUT/verify-gone")"
ok "verify of a partition that is not there: FAILED naming /dev/sda9"

# 3b. decrypt (vhdcrypt's engine, the other way) gives each volume back,
# byte for byte, at the start of its partition; the rest of the disk is as
# encrypt wrote it.
t=$(date +%s)
mkdir "$OUT/plain"
"$BIN" decrypt "$OUT/a" --key-file "$OUT/key" --output-dir "$OUT/plain" --to raw --progress none \
  2> "$OUT/decrypt.err" || { cat "$OUT/decrypt.err"; fail "decrypt"; }
"$BIN" -q convert "$OUT/a/data.vhd" "$OUT/data-enc.raw" --to raw
python3 - "$OUT/a/manifest.json" "$D/data.raw" "$D/whole.raw" "$OUT/plain/data.raw" "$OUT/plain/whole.raw" \
  "$OUT/data-enc.raw" <<'PY2' || fail "decrypted volumes"
import hashlib, json, sys
m = json.load(open(sys.argv[1]))
src, plain, enc = sys.argv[2:4], sys.argv[4:6], sys.argv[6]
def digest(path, offset, size):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        f.seek(offset)
        left = size
        while left:
            b = f.read(min(left, 1 << 20))
            assert b, (path, offset, size)
            h.update(b)
            left -= len(b)
    return h.hexdigest()
for v in m["volumes"]:
    d = v["disk"]
    assert digest(plain[d], v["header_offset"], v["size"]) == digest(src[d], v["source_offset"], v["size"]), v
# Outside the volumes the decrypted disk 0 equals the encrypted one (partition tables, gaps).
areas = sorted((v["header_offset"], v["data_offset"] + v["size"]) for v in m["volumes"] if v["disk"] == 0)
at = 0
for start, end in areas + [(m["disks"][0]["output_virtual_size"], None)]:
    if start > at:
        assert digest(plain[0], at, start - at) == digest(enc, at, start - at), (at, start)
    at = end or at
PY2
rm -f "$OUT/data-enc.raw" "$OUT/plain"/*.raw
ok "decrypt: all 5 volumes equal their source partitions byte for byte, the rest as encrypted ($(elapsed $t))"

# 4. Unlocked and mounted in the appliance, the files read back as written.
t=$(date +%s)
/usr/bin/python3 -I - "$OUT/key" "$OUT/a/data.vhd" "$OUT/a/whole.vhd" "$D/data.raw" "$D/whole.raw" <<'PY' ||
import guestfs, sys
key = open(sys.argv[1]).read()
g = guestfs.GuestFS(python_return_dict=True)
for path, fmt in zip(sys.argv[2:], ["vpc", "vpc", "raw", "raw"]):
    g.add_drive_opts(path, format=fmt, readonly=True)
g.launch()
pairs = [("/dev/sda1", "/dev/sdc1"), ("/dev/sda2", "/dev/sdc2"), ("/dev/sda3", "/dev/sdc3"),
         ("/dev/sda4", "/dev/sdc4"), ("/dev/sdb", "/dev/sdd")]
for i, (enc, src) in enumerate(pairs):
    g.cryptsetup_open(enc, key, "v%d" % i, readonly=True)
    seen = []
    for dev in ("/dev/mapper/v%d" % i, src):
        g.mount_ro(dev, "/")
        seen.append((g.cat("/hello.txt"), g.checksum("sha256", "/pattern")))
        g.umount_all()
    assert seen[0] == seen[1] and seen[0][0].startswith(("data volume", "a whole-disk")), (enc, seen)
g.shutdown()
PY
  fail "files differ after decryption"
ok "unlocked and mounted in the appliance, all 5 filesystems hold the files written before ($(elapsed $t))"

# 5-7 are about the outputs, not about how the disk is read: --data-only
# spares them an appliance launch each (1 and 8 take the appliance path).
# 5. A generated passphrase: DIR/passphrase, 0600, exactly the base64 text.
mkdir "$OUT/b"
"$BIN" -q encrypt --data-only "$D/whole.raw" --output-dir "$OUT/b" --iter-time 100 --progress none 2> "$OUT/b.err" ||
  { cat "$OUT/b.err"; fail "encrypt with a generated passphrase"; }
[ "$(stat -c %a "$OUT/b/passphrase")" = 600 ] || fail "passphrase mode $(stat -c %a "$OUT/b/passphrase")"
[ "$(stat -c %s "$OUT/b/passphrase")" = 172 ] || fail "passphrase is $(stat -c %s "$OUT/b/passphrase") bytes"
grep -qE '^[A-Za-z0-9+/]{170}==$' "$OUT/b/passphrase" || fail "passphrase is not base64 of 127 bytes"
grep -q '"passphrase_file": "passphrase"' "$OUT/b/manifest.json" || fail "manifest does not name the passphrase"
[ "$(stat -c %a "$OUT/b/keyvault-secret.json")" = 600 ] || fail "keyvault-secret.json mode $(stat -c %a "$OUT/b/keyvault-secret.json")"
python3 - "$OUT/b/keyvault-secret.json" "$OUT/b/passphrase" <<'PY' || fail "keyvault-secret.json"
import base64, json, sys
s = json.load(open(sys.argv[1]))
assert base64.b64decode(s["value"], validate=True) == open(sys.argv[2], "rb").read()
assert s["tags"] == {"DiskEncryptionKeyFileName": "LinuxPassPhraseFileName"}, s["tags"]
PY
for f in "$OUT/b.err" "$OUT/b/manifest.json" "$OUT/a.progress" "$OUT/a.err" "$OUT/a/manifest.json"; do
  if grep -qF "$(cat "$OUT/b/passphrase")" "$f" || grep -qF "$PASS" "$f"; then fail "a passphrase leaked into $f"; fi
done
ok "generated passphrase: 172 base64 bytes, no newline, mode 0600, in no log or manifest; keyvault-secret.json 0600"

# 6. Existing outputs are not replaced without --force.
rc=0
"$BIN" -q encrypt --data-only "$D/whole.raw" --output-dir "$OUT/b" --iter-time 100 2> "$OUT/b2.err" || rc=$?
[ $rc = 2 ] && grep -q "already exists" "$OUT/b2.err" || fail "second run: exit $rc: $(cat "$OUT/b2.err")"
[ "$(ls -A "$OUT/b" | wc -l)" = 4 ] || fail "leftovers: $(ls -A "$OUT/b")"
ok "a second run into the same directory refuses (exit 2) and leaves the first run's files"

# 7. Killed mid-run: SIGTERM leaves nothing at all, SIGKILL nothing under the final names.
for sig in TERM KILL; do
  mkdir "$OUT/k$sig"
  "$BIN" encrypt --data-only "$D/data.raw" --output-dir "$OUT/k$sig" --key-file "$OUT/key" "${FAST[@]}" \
    --threads 1 --progress json > "$OUT/k$sig.progress" 2>/dev/null &
  pid=$!
  for _ in $(seq 6000); do
    grep -q '"phase":"encrypt"' "$OUT/k$sig.progress" 2>/dev/null && break
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  grep -q '"phase":"encrypt"' "$OUT/k$sig.progress" || fail "never reached the encrypt phase"
  kill -$sig $pid
  rc=0
  wait $pid || rc=$?
  [ $rc -ge 128 ] || fail "SIG$sig: exit $rc (finished before the signal?)"
  for f in data.raw manifest.json passphrase; do
    [ ! -e "$OUT/k$sig/$f" ] || fail "SIG$sig left $f"
  done
  if [ $sig = TERM ] && [ -n "$(ls -A "$OUT/k$sig")" ]; then fail "SIGTERM left $(ls -A "$OUT/k$sig")"; fi
done
ok "killed while encrypting: nothing under the final names (SIGTERM: no temporaries either)"

# 8. With an OS: its fstab now mounts the data volume from /dev/mapper and
# crypttab opens it; the OS disk's own partitions are copied unchanged.
t=$(date +%s)
mkdir "$OUT/os"
"$BIN" -q encrypt "$G/ubuntu-good.raw" --data "$G/ubuntu-good-data.raw" --output-dir "$OUT/os" \
  --key-file "$OUT/key" "${FAST[@]}" --progress none 2> "$OUT/os.err" || { cat "$OUT/os.err"; fail "encrypt with an OS"; }
uuid=$(python3 -c 'import json,sys; v=json.load(open(sys.argv[1]))["volumes"]; assert len(v)==1 and v[0]["mountpoint"]=="/data", v; print(v[0]["luks_uuid"])' "$OUT/os/manifest.json")
guestfish --ro --format=raw -a "$OUT/os/ubuntu-good.raw" -i cat /etc/fstab : cat /etc/crypttab > "$OUT/os.files" 2>&1 ||
  fail "$(cat "$OUT/os.files")"
grep -q "^/dev/mapper/luks-$uuid /data ext4 defaults,nofail 0 2$" "$OUT/os.files" || fail "fstab: $(cat "$OUT/os.files")"
grep -q "^UUID=900d0000-0000-4000-8000-0000000000a1 / ext4 defaults 0 1$" "$OUT/os.files" || fail "root line changed"
grep -qxF "luks-$uuid UUID=$uuid /LinuxPassPhraseFileName:/dev/disk/by-label/BEK\x20VOLUME luks,nofail" "$OUT/os.files" ||
  fail "crypttab: $(cat "$OUT/os.files")"
"$BIN" verify "$OUT/os" --key-file "$OUT/key" --against "$G/ubuntu-good.raw" --against "$G/ubuntu-good-data.raw" \
  > "$OUT/os.verify" || fail "$(cat "$OUT/os.verify")"
# The key volume: a fixed VHD (format given), 0600, vfat "BEK VOLUME" holding exactly the passphrase.
[ "$(stat -c %a "$OUT/os/bek.vhd")" = 600 ] || fail "bek.vhd mode $(stat -c %a "$OUT/os/bek.vhd")"
# Azure's layout: an MBR, and in partition 1 the vfat labelled BEK VOLUME.
guestfish --ro --format=vpc -a "$OUT/os/bek.vhd" run : part-get-parttype /dev/sda : part-get-mbr-id /dev/sda 1 : \
  vfs-type /dev/sda1 : vfs-label /dev/sda1 : mount-ro /dev/sda1 / : \
  download /LinuxPassPhraseFileName "$OUT/bek.key" > "$OUT/bek.txt" 2>&1 || fail "$(cat "$OUT/bek.txt")"
[ "$(cat "$OUT/bek.txt")" = "$(printf 'msdos\n0xc\nvfat\nBEK VOLUME')" ] || fail "key volume: $(cat "$OUT/bek.txt")"
cmp -s "$OUT/bek.key" "$OUT/key" || fail "the key volume does not hold the passphrase"
ok "with an OS: fstab and crypttab name the LUKS volume and the key volume, verify --against passes, bek.vhd holds the passphrase ($(elapsed $t))"

# 8b. The OS volume of a root on LVM whose /boot is too small (10 MiB free)
# for the header and a new initramfs: check stops it (exit 1) before anything
# is written; forced, the guest edit fails (no space in /boot, exit 5) and
# nothing is left either. (Encrypting an LVM root that fits is encrypt_os's
# test: it needs a real guest.)
t=$(date +%s)
rc=0
mkdir "$OUT/lvm"
"$BIN" encrypt "$G/debian-lvm.raw" --volume-type os --output-dir "$OUT/lvm" --key-file "$OUT/key" "${FAST[@]}" \
  --policy generic --progress none > "$OUT/lvm.err" 2>&1 || rc=$?
[ $rc = 1 ] && grep -q "boot-too-small" "$OUT/lvm.err" && grep -q "lvm-os-volume .*on the physical volume /dev/sda2" \
  "$OUT/lvm.err" || fail "LVM root, small /boot: exit $rc $(cat "$OUT/lvm.err")"
[ -z "$(ls -A "$OUT/lvm")" ] || fail "the refused run left $(ls -A "$OUT/lvm")"
rc=0
"$BIN" encrypt "$G/debian-lvm.raw" --volume-type os --output-dir "$OUT/lvm" --key-file "$OUT/key" "${FAST[@]}" \
  --policy generic --force --progress none > "$OUT/lvm.err" 2>&1 || rc=$?
[ $rc = 5 ] && grep -q "No space left on device" "$OUT/lvm.err" || fail "LVM root, forced: exit $rc $(cat "$OUT/lvm.err")"
[ -z "$(ls -A "$OUT/lvm")" ] || fail "the failed run left $(ls -A "$OUT/lvm")"
ok "--volume-type os, / on LVM, /boot too small: check refuses (exit 1); forced, the guest edit fails (exit 5); nothing written ($(elapsed $t))"

# 9. A guest whose check has errors is refused (exit 1) unless --force.
mkdir "$OUT/bad"
rc=0
"$BIN" encrypt "$G/bad.raw" --data "$G/bad-data.raw" --output-dir "$OUT/bad" --key-file "$OUT/key" "${FAST[@]}" \
  > /dev/null 2> "$OUT/bad.err" || rc=$?
[ $rc = 1 ] && grep -q "fstab-missing-nofail" "$OUT/bad.err" || fail "bad guest: exit $rc: $(cat "$OUT/bad.err")"
[ -z "$(ls -A "$OUT/bad")" ] || fail "refused run left $(ls -A "$OUT/bad")"
ok "check errors refuse the run (exit 1, report printed, nothing written)"

sha256sum -c --quiet "$OUT/inputs.sha256" || fail "an input image changed"
ok "every input image is byte-identical afterwards"
