#!/bin/bash
# The Packer example of docs/packer.md, run for real with Debian's packer: the
# template in fixtures/packer copies a test VHD (the file builder stands in
# for a real builder), its shell-local post-processor runs vhdcrypt on it and
# artifice hands the encrypted VHD and its manifest on as the artifact.
#   packer_example.sh VHDCRYPT SOURCE_DIR
set -euo pipefail
BIN=$(realpath "$1")
SRC=$2
TEMPLATE=$SRC/fixtures/packer/vhdcrypt.json
export CHECKPOINT_DISABLE=1 PACKER_NO_COLOR=1  # no update check (no internet), plain output
OUT=$(mktemp -d)
trap 'rm -rf "$OUT"' EXIT
export PACKER_CACHE_DIR=$OUT/packer-cache PACKER_CONFIG_DIR=$OUT/packer-config
n=0
ok() { n=$((n + 1)); echo "ok $n - $*"; }
fail() { echo "FAIL: $*"; exit 1; }
command -v packer >/dev/null || fail "packer is not installed (scripts/setup installs it)"

# A data disk: ext4 written straight onto a 64 MiB disk by mke2fs -d, as a fixed VHD.
mkdir -p "$OUT/tree/docs"
head -c 5000000 /dev/urandom > "$OUT/tree/docs/blob"
echo "built by packer_example" > "$OUT/tree/hello.txt"
truncate -s 64M "$OUT/disk.raw"
mkfs.ext4 -q -F -b 4096 -d "$OUT/tree" "$OUT/disk.raw"
"$BIN" -q convert "$OUT/disk.raw" "$OUT/source.vhd" --to vhd-fixed
sha256sum "$OUT/source.vhd" > "$OUT/source.sha256"
printf 'packer example passphrase' > "$OUT/key"
chmod 600 "$OUT/key"

packer validate -var "source_vhd=$OUT/source.vhd" "$TEMPLATE" > "$OUT/validate.txt" ||
  fail "packer validate: $(cat "$OUT/validate.txt")"
ok "packer validate accepts the template"

# packer_build NAME EXTRA-VAR...: builds into $OUT/NAME-{work,enc}.
packer_build() {
  local name=$1
  shift
  (cd "$OUT" && packer build -color=false -var "source_vhd=$OUT/source.vhd" -var "work_dir=$OUT/$name-work" \
    -var "output_dir=$OUT/$name-enc" -var "vhdcrypt=$BIN" \
    -var "vhdcrypt_args=--data-only --pbkdf pbkdf2 --iter-time 20" "$@" "$TEMPLATE") > "$OUT/$name.log" 2>&1 ||
    { cat "$OUT/$name.log"; fail "packer build ($name)"; }
}
t=$(date +%s)
packer_build a -var "key_file=$OUT/key"
grep -q -- "--> file: Created artifact from files: $OUT/a-enc/disk.vhd, $OUT/a-enc/manifest.json" "$OUT/a.log" ||
  fail "artifice did not hand on the encrypted VHD: $(tail -n 5 "$OUT/a.log")"
[ ! -e "$OUT/a-work/disk.vhd" ] || fail "the plaintext build output was left behind"
[ "$(ls "$OUT/a-enc" | tr '\n' ' ')" = "disk.vhd manifest.json " ] || fail "outputs: $(ls "$OUT/a-enc")"
ok "packer build: shell-local ran vhdcrypt, artifice hands on disk.vhd and manifest.json, the plaintext copy is gone ($(( $(date +%s) - t ))s)"

"$BIN" info --json "$OUT/a-enc/disk.vhd" > "$OUT/info.json" || fail "info on the artifact"
read -r container offset size < <(python3 - "$OUT/info.json" "$OUT/a-enc/manifest.json" <<'PY'
import json, sys
info, m = json.load(open(sys.argv[1])), json.load(open(sys.argv[2]))
v = m["volumes"]
assert len(v) == 1 and v[0]["filesystem"] == "ext4" and v[0]["partition"] == 0, v
print(info["container"], v[0]["header_offset"], v[0]["size"])
PY
)
[ "$container" = vhd-fixed ] || fail "the artifact is $container, not a fixed VHD"
dd if="$OUT/a-enc/disk.vhd" of="$OUT/hdr" bs=1M iflag=skip_bytes skip="$offset" count=16 status=none
cryptsetup luksDump "$OUT/hdr" | grep -q "^Version:[[:space:]]*2" || fail "no LUKS2 header at byte $offset"
cryptsetup open --test-passphrase --key-file "$OUT/key" "$OUT/hdr" || fail "the passphrase does not open the artifact"
printf 'wrong' > "$OUT/wrong"
if cryptsetup open --test-passphrase --key-file "$OUT/wrong" "$OUT/hdr" 2>/dev/null; then fail "a wrong key opens it"; fi
ok "the artifact is a fixed VHD whose LUKS2 header cryptsetup accepts and opens with the key"

mkdir "$OUT/plain"
"$BIN" -q decrypt "$OUT/a-enc" --key-file "$OUT/key" --output-dir "$OUT/plain" --to raw
cmp -n "$size" "$OUT/plain/disk.raw" "$OUT/disk.raw" || fail "the artifact does not decrypt to the built disk"
ok "the artifact decrypts to the built disk byte for byte"

# Without key_file: vhdcrypt generates the passphrase into the output directory (0600).
packer_build b
[ "$(stat -c %a "$OUT/b-enc/passphrase")" = 600 ] || fail "generated passphrase missing or not 0600"
[ "$(stat -c %s "$OUT/b-enc/passphrase")" = 172 ] || fail "generated passphrase is not 172 base64 bytes"
if grep -qF "$(cat "$OUT/b-enc/passphrase")" "$OUT/b.log"; then fail "the passphrase appears in packer's output"; fi
ok "without key_file the passphrase is generated into the output directory (0600) and not in packer's log"

sha256sum -c --quiet "$OUT/source.sha256" || fail "the source VHD changed"
ok "the source VHD is byte-identical"
