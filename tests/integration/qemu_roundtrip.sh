#!/bin/bash
# Round trips against qemu-img, the peer implementation of VHD:
#  1. images qemu-img writes (fixed and dynamic, force_size=on, and the
#     CHS-sized default) are read by vhdcrypt exactly as qemu-img reads them;
#  2. images vhdcrypt writes are read by qemu-img (format vpc, always explicit)
#     exactly as vhdcrypt wrote them (qemu-img compare);
#  3. sparseness survives: unallocated stays unallocated.
set -euo pipefail
BIN=$1
WORK=$2
rm -rf "$WORK"
mkdir -p "$WORK"
cd "$WORK"
fail() { echo "FAIL: $*" >&2; exit 1; }
pass=0
ok() { pass=$((pass + 1)); echo "ok $pass - $*"; }

# A 96 MiB raw disk (not a whole number of CHS cylinders) with data scattered
# over holes, including a partial 2 MiB block and the very last sector.
SIZE=$((96 * 1024 * 1024))
truncate -s $SIZE src.raw
write_at() {  # offset_bytes count_bytes seed
  head -c "$2" /dev/urandom > chunk.bin
  dd if=chunk.bin of=src.raw bs=512 seek=$(($1 / 512)) conv=notrunc status=none
}
write_at 0 $((1024 * 1024))
write_at $((5 * 1024 * 1024 + 4096)) 12288
write_at $((40 * 1024 * 1024)) $((8 * 1024 * 1024))
write_at $((SIZE - 512)) 512
rm chunk.bin

# 1. qemu-img writes, vhdcrypt reads.
for sub in fixed dynamic; do
  qemu-img convert -f raw -O vpc -o subformat=$sub,force_size=on src.raw q_$sub.vhd
  "$BIN" -q convert --format vhd q_$sub.vhd v_from_q_$sub.raw --to raw
  qemu-img convert -f vpc -O raw q_$sub.vhd q_$sub.raw
  cmp q_$sub.raw v_from_q_$sub.raw || fail "vhdcrypt reads qemu's $sub VHD differently from qemu"
  cmp src.raw v_from_q_$sub.raw || fail "qemu $sub VHD content differs from the source"
  kind=$("$BIN" info --json q_$sub.vhd | python3 -c 'import json,sys; print(json.load(sys.stdin)["container"])')
  [ "$kind" = "vhd-$sub" ] || fail "detected $kind for qemu's $sub VHD"
  ok "qemu-img $sub VHD (force_size) reads identically"
done
sha256sum src.raw q_fixed.vhd q_dynamic.vhd > inputs.sha256
# qemu's own default (creator "qemu", CHS-rounded size) also agrees.
qemu-img create -q -f vpc -o subformat=dynamic chs.vhd 100M
qemu-io -f vpc -c 'write -P 0xab 1M 64k' chs.vhd >/dev/null
qemu-img convert -f vpc -O raw chs.vhd chs_q.raw
"$BIN" -q convert chs.vhd chs_v.raw --to raw
cmp chs_q.raw chs_v.raw || fail "CHS-sized qemu VHD read differently"
ok "qemu-img CHS-sized dynamic VHD reads identically"

# 2. vhdcrypt writes, qemu-img reads.
for to in vhd-fixed vhd-dynamic; do
  "$BIN" -q convert --format raw src.raw v_$to.vhd --to $to
  qemu-img compare -q -f raw -F vpc src.raw v_$to.vhd || fail "qemu-img compare: $to differs"
  vsize=$(qemu-img info -f vpc --output=json v_$to.vhd | python3 -c 'import json,sys; print(json.load(sys.stdin)["virtual-size"])')
  [ "$vsize" = "$SIZE" ] || fail "qemu sees $to as $vsize bytes, expected $SIZE"
  ok "vhdcrypt $to is read by qemu-img identically ($vsize bytes)"
done
# VHD -> VHD through qemu's readers in the other direction, too.
"$BIN" -q convert q_dynamic.vhd v_dyn_from_q.vhd --to vhd-dynamic
qemu-img compare -q -f vpc -F vpc q_dynamic.vhd v_dyn_from_q.vhd || fail "dynamic->dynamic differs"
ok "qemu dynamic -> vhdcrypt dynamic compares equal"

# Fixed output of a size that is not a whole MiB is rounded up for Azure.
truncate -s $((3 * 1024 * 1024 + 4096)) odd.raw
"$BIN" -q convert --format raw odd.raw odd.vhd --to vhd-fixed
[ $(stat -c %s odd.vhd) = $((4 * 1024 * 1024 + 512)) ] || fail "fixed VHD not rounded to MiB"
ok "fixed VHD rounded up to a whole MiB"

# 3. Sparseness.
alloc_blocks=$("$BIN" info --json v_vhd-dynamic.vhd | python3 -c 'import json,sys; print(json.load(sys.stdin)["vhd"]["allocated_blocks"])')
# Data touches blocks 0, 2, 20-23 and 47: 7 of 48.
[ "$alloc_blocks" = 7 ] || fail "dynamic output allocated $alloc_blocks blocks, expected 7"
ok "dynamic output allocates only the 7 blocks holding data"
"$BIN" -q convert q_dynamic.vhd sparse.raw --to raw
used=$(( $(stat -c %b sparse.raw) * 512 ))
[ $used -lt $((12 * 1024 * 1024)) ] || fail "raw output uses $used bytes on disk"
ok "raw output is sparse ($used bytes allocated for a 96 MiB disk)"
"$BIN" -q convert q_dynamic.vhd sparse_fixed.vhd --to vhd-fixed
used=$(( $(stat -c %b sparse_fixed.vhd) * 512 ))
[ $used -lt $((12 * 1024 * 1024)) ] || fail "fixed VHD output uses $used bytes on disk"
ok "fixed VHD output is sparse on the host ($used bytes allocated)"

# The inputs were never touched.
sha256sum -c --quiet inputs.sha256 || fail "an input image changed"
ok "inputs are byte-identical after every run"
echo "all $pass checks passed"
