#!/bin/bash
# `encrypt --skip-free-space` on the ext2/3/4 layouts mke2fs makes and on XFS
# with 4 and 16 AGs, checked through the kernel's dm-crypt in the libguestfs
# appliance: `e2fsck -fn` / `xfs_repair -n` clean on every unlocked volume
# and every file's sha256 equal to the source's. A file written and deleted
# before the run leaves its plaintext nowhere in the output, and with the
# flag its blocks are zero (never written). An XFS the kernel never unmounted
# is refused (exit 3). Three appliance launches.
#   skip_free_space.sh VHDCRYPT SOURCE_DIR
set -euo pipefail
. "$2/tests/integration/lib.sh"
test_setup "$@"
PASS='skip the free space'
printf '%s' "$PASS" > "$OUT/key"
chmod 600 "$OUT/key"
FAST=(--pbkdf pbkdf2 --iter-time 50)
MARK=VHDCRYPT-STALE-PLAINTEXT-MARKER

# 1. The source: a GPT disk with five ext layouts and two XFS, and a
# whole-disk ext4, all filled from one tree (mke2fs -d, mkfs.xfs -p).
t=$(date +%s)
mkdir "$OUT/tree" "$OUT/tree/dir"
head -c 5M /dev/urandom > "$OUT/tree/random.bin"
seq 1 20000 > "$OUT/tree/numbers.txt"
for i in $(seq 1 40); do head -c $((i * 997)) /dev/urandom > "$OUT/tree/dir/f$i"; done
python3 -c 'import sys; m = (sys.argv[1] + "\n").encode(); open(sys.argv[2], "wb").write((m * (3 << 20))[:3 << 20])' \
  "$MARK" "$OUT/marker.bin"
(cd "$OUT/tree" && find . -type f | sort | xargs sha256sum) > "$OUT/tree.sha256"
{
  printf '/dev/null\n0 0\nd--755 0 0\n'
  printf 'random.bin ---644 0 0 %s\nnumbers.txt ---644 0 0 %s\ndir d--755 0 0\n' \
    "$OUT/tree/random.bin" "$OUT/tree/numbers.txt"
  for i in $(seq 1 40); do printf 'f%s ---644 0 0 %s\n' "$i" "$OUT/tree/dir/f$i"; done
  printf '$\n$\n'
} > "$OUT/tree.proto"

# name|mkfs options|MiB (XFS: options start with -d; mkfs.xfs wants 300 MiB, and
# a 64 MiB log inside one AG: 16 AGs take 1200)
layouts=(
  "ext4-4k|-t ext4 -b 4096 -E lazy_itable_init=0|96"
  "ext4-1k|-t ext4 -b 1024|48"
  "ext4-no-flex-bg|-t ext4 -O ^flex_bg|64"
  "ext4-lazy-itable|-t ext4 -E lazy_itable_init=1|64"
  "ext3|-t ext3|64"
  "xfs-4-ags|-d agcount=4|320"
  "xfs-16-ags|-d agcount=16|1200"
)
make_fs() {  # file options MiB
  truncate -s "$3M" "$1"
  # shellcheck disable=SC2086
  if [[ $2 == -d* ]]; then
    mkfs.xfs -q -f $2 -p "$OUT/tree.proto" "$1"
  else
    mke2fs -q -F $2 -d "$OUT/tree" "$1"
  fi
}
parts=("label: gpt")
start=1
for i in "${!layouts[@]}"; do
  IFS='|' read -r name opts size <<< "${layouts[$i]}"
  make_fs "$OUT/p.fs" "$opts" "$size"
  [ $i = 0 ] && truncate -s 2000M "$OUT/disk.raw"
  dd if="$OUT/p.fs" of="$OUT/disk.raw" bs=1M seek="$start" conv=notrunc,sparse status=none
  parts+=("start=${start}MiB, size=${size}MiB, type=0FC63DAF-8483-4772-8E79-3D69D8477DE4, name=$name")
  start=$((start + size + 1))
done
rm -f "$OUT/p.fs"
printf "%s\n" "${parts[@]}" | sfdisk -q --wipe-partitions never "$OUT/disk.raw"
make_fs "$OUT/whole.raw" "-t ext4 -b 4096" 64
truncate -s 320M "$OUT/dirty.raw"
mkfs.xfs -q -f "$OUT/dirty.raw"

# Then the kernel writes to them in the appliance: in the first XFS 1500
# files are written and every other one deleted (a free-space b-tree of two
# levels); in it, the first ext4 and the whole disk the marker is then
# written and deleted; all are unmounted cleanly. dirty.raw: an XFS written
# to and shut down, never unmounted.
/usr/bin/python3 -I -W ignore::DeprecationWarning - "$OUT/disk.raw" "$OUT/whole.raw" "$OUT/dirty.raw" \
  "$OUT/marker.bin" <<'PY' ||
import guestfs, sys
g = guestfs.GuestFS(python_return_dict=True)
for path in sys.argv[1:4]:
    g.add_drive_opts(path, format="raw")
g.launch()
for dev in ("/dev/sda1", "/dev/sda6", "/dev/sdb"):
    g.mount(dev, "/")
    if dev == "/dev/sda6":
        g.debug("sh", ["mkdir /sysroot/frag && cd /sysroot/frag && for i in $(seq 1 1500); do "
                       "head -c 4096 /dev/urandom > f$i; done && sync && rm -f f*[13579] && sync"])
    g.upload(sys.argv[4], "/marker.bin")
    g.sync()
    g.rm("/marker.bin")
    g.umount_all()
# A file written and its transaction forced into the log, then the
# filesystem shut down before its metadata is written back: a log that needs
# recovery (a sync alone lets the kernel cover the log, which is clean).
g.mount("/dev/sdc", "/")
g.debug("sh", ["xfs_io -x -f -c 'pwrite 0 1m' -c fsync -c shutdown /sysroot/f"])
g.kill_subprocess()
PY
  fail "preparing the source filesystems in the appliance"
for f in disk.raw whole.raw; do grep -q "$MARK" "$OUT/$f" || fail "the deleted marker is not in $f"; done
xfs_logprint -t "$OUT/dirty.raw" 2>&1 | grep -q "state: <DIRTY>" || fail "xfs_logprint does not find dirty.raw's log dirty"
# The free-space b-tree the fragmenting left: two levels in some AG.
levels=$(for n in 6; do
  python3 -c 'import json,sys; p=[x for x in json.load(sys.stdin)["partitiontable"]["partitions"] if x["node"].endswith(sys.argv[1])][0]; print(p["start"] * 512, p["size"] * 512)' \
    "$n" < <(sfdisk -J "$OUT/disk.raw") | { read -r off size
    dd if="$OUT/disk.raw" of="$OUT/x.fs" bs=1M iflag=skip_bytes,count_bytes skip="$off" count="$size" conv=sparse status=none
    for ag in $(seq 0 15); do xfs_db -r -c "agf $ag" -c "p bnolevel" "$OUT/x.fs" 2>/dev/null; done; }
done | sort -u | tr '\n' ' ')
rm -f "$OUT/x.fs"
[[ $levels == *"bnolevel = 2"* ]] || fail "no XFS free-space b-tree of two levels: $levels"
sha256sum "$OUT/disk.raw" "$OUT/whole.raw" "$OUT/dirty.raw" > "$OUT/inputs.sha256"
ok "source: 5 ext2/3/4 layouts and 2 XFS on a GPT disk, a whole-disk ext4, a marker written and deleted ($(elapsed $t))"

# 2. Encrypted with and without the flag: the marker in neither output; with
# the flag, every block of the volume where the source still holds it is
# zero and unallocated, and the outputs allocate little more than the used bytes.
t=$(date +%s)
for mode in skip full; do
  flag=()
  [ $mode = skip ] && flag=(--skip-free-space)
  mkdir "$OUT/$mode"
  "$BIN" encrypt --data-only "$OUT/disk.raw" --data "$OUT/whole.raw" --output-dir "$OUT/$mode" \
    --key-file "$OUT/key" "${FAST[@]}" --to raw "${flag[@]}" --progress none 2> "$OUT/$mode.err" ||
    { cat "$OUT/$mode.err"; fail "encrypt ($mode)"; }
  for f in "$OUT/$mode"/*.raw; do
    if grep -q "$MARK" "$f"; then fail "the deleted marker's plaintext is in $f"; fi
  done
done
python3 - "$OUT" "$MARK" <<'PY' || fail "manifests or marker blocks"
import json, os, sys
out, mark = sys.argv[1], sys.argv[2].encode()
skip, full = (json.load(open(f"{out}/{m}/manifest.json"))["volumes"] for m in ("skip", "full"))
assert len(skip) == len(full) == 8, skip
assert [v["filesystem"] for v in skip] == ["ext4"] * 4 + ["ext3", "xfs", "xfs", "ext4"], skip
for s, f in zip(skip, full):
    assert s["free_space"] == "skipped" and f["free_space"] == "encrypted", (s, f)
    assert 0 < s["encrypted_bytes"] < s["size"] // 2 and f["encrypted_bytes"] == f["size"], (s, f)
    assert (s["disk"], s["partition"], s["size"]) == (f["disk"], f["partition"], f["size"]), (s, f)
images = ["disk.raw", "whole.raw"]
marked = 0
for v in skip:
    src, dst = open(f"{out}/{images[v['disk']]}", "rb"), open(f"{out}/skip/{images[v['disk']]}", "rb")
    src.seek(v["source_offset"])
    data = src.read(v["size"])
    at = data.find(mark)
    while at >= 0:
        block = at // 4096 * 4096
        dst.seek(v["data_offset"] + block)
        assert dst.read(4096) == bytes(4096), (v["partition"], block)
        marked += 1
        at = data.find(mark, block + 4096)
assert marked >= 3 * 768, marked  # three 3 MiB markers, every block of them
for image in images:
    st = os.stat(f"{out}/skip/{image}")
    assert st.st_blocks * 512 < st.st_size // 2, (image, st.st_blocks * 512, st.st_size)
PY
used=$(python3 -c 'import json,sys; print(sum(v["encrypted_bytes"] for v in json.load(open(sys.argv[1]))["volumes"]))' \
  "$OUT/skip/manifest.json")
alloc=$(( ($(stat -c %b "$OUT/skip/disk.raw") + $(stat -c %b "$OUT/skip/whole.raw")) * 512 ))
# Beyond the used bytes: each volume's 16 MiB LUKS2 header area (its key
# slot area is random, as cryptsetup fills it), the GPT.
[ "$alloc" -le $((used + 8 * (16 << 20) + (1 << 20))) ] || fail "skip output allocates $alloc bytes for $used used"
ok "--skip-free-space: 8 volumes, $((used >> 20)) MiB encrypted, $((alloc >> 20)) MiB allocated; the deleted markers in neither output, their blocks zero ($(elapsed $t))"

rc=0
mkdir "$OUT/dirty"
"$BIN" encrypt --data-only "$OUT/dirty.raw" --output-dir "$OUT/dirty" --key-file "$OUT/key" "${FAST[@]}" \
  --skip-free-space --progress none > "$OUT/dirty.err" 2>&1 || rc=$?
[ $rc = 3 ] && grep -q "dirty.raw (whole disk): XFS: its log does not end in an unmount record" "$OUT/dirty.err" &&
  grep -q "without --skip-free-space every block is encrypted" "$OUT/dirty.err" ||
  fail "XFS never unmounted: exit $rc: $(cat "$OUT/dirty.err")"
[ -z "$(ls -A "$OUT/dirty")" ] || fail "the refused run left $(ls -A "$OUT/dirty")"
ok "an XFS the kernel never unmounted: exit 3, named with the reason and the hint, nothing written"

# 3. verify --against: through dm-crypt, every used block equals the source's
# and e2fsck -f / xfs_repair -n find nothing.
t=$(date +%s)
"$BIN" verify "$OUT/skip" --key-file "$OUT/key" --against "$OUT/disk.raw" --against "$OUT/whole.raw" \
  > "$OUT/verify" 2>&1 || { cat "$OUT/verify"; fail "verify --against"; }
[ "$(grep -c "^ok .*its used blocks decrypt to the source's, and to a clean \(ext[34]\|xfs\)$" "$OUT/verify")" = 8 ] ||
  fail "verify: $(cat "$OUT/verify")"
ok "verify --against: the used blocks of all 8 volumes decrypt to the source's through dm-crypt ($(elapsed $t))"

# 4. Unlocked by dm-crypt in the appliance: e2fsck -fn / xfs_repair -n clean,
# every file of the tree as in the tree.
t=$(date +%s)
/usr/bin/python3 -I - "$OUT/key" "$OUT/skip/disk.raw" "$OUT/skip/whole.raw" "$OUT/tree.sha256" <<'PY' ||
import guestfs, sys
key = open(sys.argv[1]).read()
want = {}
for line in open(sys.argv[4]):
    digest, path = line.split(None, 1)
    want[path.strip()[2:]] = digest
g = guestfs.GuestFS(python_return_dict=True)
for path in sys.argv[2:4]:
    g.add_drive_opts(path, format="raw", readonly=True)
g.launch()
devs = ["/dev/sda%d" % i for i in range(1, 8)] + ["/dev/sdb"]
for i, dev in enumerate(devs):
    g.cryptsetup_open(dev, key, "v%d" % i, readonly=True)
    mapped = "/dev/mapper/v%d" % i
    check = "xfs_repair -n" if g.vfs_type(mapped) == "xfs" else "e2fsck -fn"
    said = g.debug("sh", ["%s %s > /tmp/check 2>&1; echo status=$?; cat /tmp/check" % (check, mapped)])
    assert said.startswith("status=0\n"), (dev, said)
    g.mount_options("ro,norecovery" if check.startswith("xfs") else "ro", mapped, "/")
    for f, digest in want.items():
        assert g.checksum("sha256", "/" + f) == digest, (dev, f)
    g.umount_all()
    g.cryptsetup_close(mapped)
g.shutdown()
PY
  fail "a volume is not clean or a file differs"
ok "dm-crypt in the appliance: e2fsck -fn / xfs_repair -n clean on all 8, the tree's $(wc -l < "$OUT/tree.sha256") files equal ($(elapsed $t))"

# 5. decrypt (vhdcrypt's engine): the filesystems check clean with the
# host's e2fsck and xfs_repair -n, the deleted markers in none.
t=$(date +%s)
mkdir "$OUT/plain"
"$BIN" -q decrypt "$OUT/skip" --key-file "$OUT/key" --output-dir "$OUT/plain" --to raw --progress none \
  2> "$OUT/decrypt.err" || { cat "$OUT/decrypt.err"; fail "decrypt"; }
python3 - "$OUT/skip/manifest.json" <<'PY' > "$OUT/plain.volumes" || fail "decrypt offsets"
import json, sys
for v in json.load(open(sys.argv[1]))["volumes"]:
    print(["disk.raw", "whole.raw"][v["disk"]], v["header_offset"], v["size"], v["filesystem"])
PY
while read -r img offset size fs; do
  dd if="$OUT/plain/$img" of="$OUT/vol" bs=1M iflag=skip_bytes,count_bytes skip="$offset" count="$size" \
    conv=sparse status=none
  if [ "$fs" = xfs ]; then
    xfs_repair -n -f "$OUT/vol" > "$OUT/vol.check" 2>&1 || fail "decrypted $img at $offset: $(cat "$OUT/vol.check")"
  else
    e2fsck -fn "$OUT/vol" > "$OUT/vol.check" 2>&1 || fail "decrypted $img at $offset: $(cat "$OUT/vol.check")"
  fi
  if grep -q "$MARK" "$OUT/vol"; then fail "decrypted $img at $offset holds the deleted marker"; fi
done < "$OUT/plain.volumes"
rm -f "$OUT/vol"
ok "decrypt: all 8 filesystems check clean on the host, the deleted markers in none ($(elapsed $t))"

sha256sum -c --quiet "$OUT/inputs.sha256" || fail "an input image changed"
ok "the input images are byte-identical afterwards"
