#!/bin/bash
# `vhdcrypt check` on a real Debian 12 guest built with debootstrap (cached
# under CACHE, keyed by its recipe), as raw and as a dynamic VHD.
#   check_debian.sh VHDCRYPT SOURCE_DIR
set -euo pipefail
. "$2/tests/integration/lib.sh"
test_setup "$@"
F="python3 $SRC/tests/integration/findings.py"
# Layout gpt-boot, without the data disk's fstab lines (no --data here).
IMG=$(cached_fixture "$CACHE" debian12 "$SRC/fixtures/debian-guest-gpt-boot.guestfish" \
      "$SRC/fixtures/debian-guest-common.guestfish" "$SRC"/fixtures/guest-* "$SRC/scripts/build-debian-guest" \
      -- "$SRC/scripts/build-debian-guest" --no-data-fstab @DIR@/debian12.raw gpt-boot)/debian12.raw
before=$(sha256sum < "$IMG")

start=$(date +%s)
rc=0
"$BIN" check --json --policy generic "$IMG" > "$OUT/generic.json" || rc=$?
secs=$(( $(date +%s) - start ))
[ $rc = 0 ] || { echo "FAIL: exit $rc"; cat "$OUT/generic.json"; exit 1; }
$F "$OUT/generic.json" --ok true --ids "" --distro "debian 12.$(python3 -c "import json;print(json.load(open('$OUT/generic.json'))['os']['minor'])")"
echo "ok - Debian 12 (3 GiB) passes --policy generic: ${secs}s, one appliance launch"

rc=0
"$BIN" check --json "$IMG" > "$OUT/azure.json" || rc=$?
[ $rc = 1 ] || { echo "FAIL: azure policy exit $rc"; exit 1; }
$F "$OUT/azure.json" --ok false --ids distro-unsupported
echo "ok - Debian 12 is outside ADE's matrix under --policy azure"

"$BIN" -q convert --format raw "$IMG" "$OUT/debian12.vhd" --to vhd-dynamic
rc=0
"$BIN" check --json --policy generic "$OUT/debian12.vhd" > "$OUT/vhd.json" || rc=$?
[ $rc = 0 ] || { echo "FAIL: VHD check exit $rc"; cat "$OUT/vhd.json"; exit 1; }
python3 - "$OUT/generic.json" "$OUT/vhd.json" <<'PY'
import json, sys
a, b = (json.load(open(p)) for p in sys.argv[1:])
del a["image"], b["image"]
assert a == b, f"raw and VHD reports differ:\n{a}\n{b}"
PY
echo "ok - the same guest as a dynamic VHD (format vpc) gives the same report"

[ "$(sha256sum < "$IMG")" = "$before" ] || { echo "FAIL: the image changed"; exit 1; }
echo "ok - image byte-identical"
