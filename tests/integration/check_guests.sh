#!/bin/bash
# `vhdcrypt check` on phony guests inspected by a real libguestfs appliance:
# every rule id is triggered by at least one guest, and ubuntu-good (with its
# data disk) triggers none. Guests are cached under CACHE, keyed by a hash of
# their recipe, so only a changed recipe rebuilds them.
#   check_guests.sh VHDCRYPT SOURCE_DIR
set -euo pipefail
. "$2/tests/integration/lib.sh"
test_setup "$@"
F="python3 $SRC/tests/integration/findings.py"
G=$(phony_guests_fixture "$SRC" "$CACHE")
sha256sum "$G"/*.raw > "$OUT/inputs.sha256"
n=0
check() {  # name expected_rc vhdcrypt-args...
  local name=$1 want=$2
  shift 2
  local rc=0
  "$BIN" check --json "$@" > "$OUT/$name.json" 2> "$OUT/$name.err" || rc=$?
  if [ "$rc" != "$want" ]; then
    echo "FAIL $name: exit $rc, expected $want"; cat "$OUT/$name.err"; cat "$OUT/$name.json"; exit 1
  fi
  n=$((n + 1))
}

start=$(date +%s)
check good 0 "$G/ubuntu-good.raw" --data "$G/ubuntu-good-data.raw"
$F "$OUT/good.json" --ok true --ids "" --distro "ubuntu 22.4"
echo "ok - ubuntu-good with its data disk: no findings ($(( $(date +%s) - start ))s for one check, one appliance launch)"

check good-generic 0 --policy generic "$G/ubuntu-good.raw" --data "$G/ubuntu-good-data.raw"
$F "$OUT/good-generic.json" --ok true --ids ""
cmp "$OUT/good.json" "$OUT/good-generic.json" || { echo "FAIL: policies differ on a clean guest"; exit 1; }
echo "ok - same findings, byte for byte, on a second run"

check good-nodata 0 "$G/ubuntu-good.raw"
$F "$OUT/good-nodata.json" --ok true --ids fstab-unresolved --subject fstab-unresolved /etc/fstab:4
echo "ok - without --data the data volume is unresolved (a warning)"

check bad 1 "$G/bad.raw" --data "$G/bad-data.raw"
$F "$OUT/bad.json" --ok false --ids agent-too-old,already-encrypted,cryptsetup-missing,dm-crypt-missing,fstab-missing-nofail,fstab-nested-mount,fstab-nonpersistent-name,fstab-under-mnt,fstab-unresolved,initramfs-tool-missing,legacy-extension,no-plaintext-boot,selinux-enforcing,unsupported-filesystem,vfat-disabled,vfat-missing \
  --subject fstab-nonpersistent-name /etc/fstab:3 --subject fstab-missing-nofail /etc/fstab:4 \
  --subject fstab-under-mnt /etc/fstab:5 --subject fstab-nested-mount /etc/fstab:6 \
  --subject vfat-disabled /etc/modprobe.d/cis-hardening.conf:2 --subject legacy-extension /var/lib/azure_disk_encryption_config
echo "ok - bad guest: 16 rule ids, each naming its line or file"

check centos68 1 "$G/centos68.raw"
$F "$OUT/centos68.json" --ok false --ids os-volume-unsupported --distro "centos 6.8"
check centos68-data 0 --volume-type data "$G/centos68.raw"
$F "$OUT/centos68-data.json" --ok true --ids ""
echo "ok - CentOS 6.8: data volumes only"

check debian-lvm 1 "$G/debian-lvm.raw"
$F "$OUT/debian-lvm.json" --ok false --ids boot-too-small,distro-unsupported,lvm-os-volume
check debian-lvm-generic 1 --policy generic "$G/debian-lvm.raw"
$F "$OUT/debian-lvm-generic.json" --ok false --ids boot-too-small,lvm-os-volume
echo "ok - Debian on LVM with a small /boot; Debian accepted by --policy generic"

# Text output: grouped by severity, errors first, exit code as with --json.
rc=0
"$BIN" check "$G/bad.raw" --data "$G/bad-data.raw" > "$OUT/bad.txt" || rc=$?
[ $rc = 1 ] || { echo "FAIL: text mode exit $rc"; exit 1; }
first_warning=$(grep -n '^warning' "$OUT/bad.txt" | head -1 | cut -d: -f1)
last_error=$(grep -n '^error' "$OUT/bad.txt" | tail -1 | cut -d: -f1)
[ "$last_error" -lt "$first_warning" ] || { echo "FAIL: errors not first"; cat "$OUT/bad.txt"; exit 1; }
grep -q '^  fix: ' "$OUT/bad.txt" || { echo "FAIL: no remedies in text output"; exit 1; }
echo "ok - text output groups errors first, each with a fix"

sha256sum -c --quiet "$OUT/inputs.sha256" || { echo "FAIL: a guest image changed"; exit 1; }
echo "ok - all $n checks left their images byte-identical"
