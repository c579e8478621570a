# Sourced by the integration tests.
#
# test_setup VHDCRYPT SOURCE_DIR CACHE_DIR: the arguments every appliance
# test takes, as BIN, SRC and CACHE; libguestfs' direct backend; OUT, a
# scratch directory removed when the test exits.
test_setup() {
  BIN=$1
  SRC=$2
  CACHE=$3
  export LIBGUESTFS_BACKEND=direct
  OUT=$(mktemp -d)
  trap 'rm -rf "$OUT"' EXIT
}
#
# ok MESSAGE: numbers and prints a passed check; fail MESSAGE: prints it and
# stops the test; elapsed START: seconds since START (date +%s), as "12s".
n=0
ok() { n=$((n + 1)); echo "ok $n - $*"; }
fail() { echo "FAIL: $*"; exit 1; }
elapsed() { echo "$(( $(date +%s) - $1 ))s"; }
#
# cached_fixture CACHE KIND FILE... -- BUILD-COMMAND...
#   Echoes CACHE/KIND-HASH, where HASH covers the FILEs (recipe and builder),
#   running BUILD-COMMAND with "@DIR@" replaced by that directory first when it
#   is not complete yet. Older builds of KIND are removed. Build output goes to
#   stderr. Tests run in parallel: one builder per KIND at a time (flock), the
#   others wait and reuse its result.
cached_fixture() {
  local cache=$1 kind=$2
  shift 2
  local files=()
  while [ "$1" != "--" ]; do files+=("$1"); shift; done
  shift
  local hash
  hash=$(cat "${files[@]}" | sha256sum | cut -c1-12)
  local dir=$cache/$kind-$hash lock
  mkdir -p "$cache"
  exec {lock}>"$cache/.$kind.lock"
  flock "$lock"
  if [ ! -f "$dir/.complete" ]; then
    rm -rf "$cache/$kind"-*
    mkdir -p "$dir"
    local cmd=()
    for a in "$@"; do cmd+=("${a//@DIR@/$dir}"); done
    "${cmd[@]}" >&2
    touch "$dir/.complete"
  fi
  exec {lock}>&-
  echo "$dir"
}

# The fixtures several tests share, by the scripts that build them (cached):
#   data_disks_fixture SRC CACHE    -> dir with data.raw (ext4, XFS, ...) and whole.raw
#   phony_guests_fixture SRC CACHE  -> dir with the small guests of build-phony-guests
data_disks_fixture() {
  cached_fixture "$2" data-disks "$1/fixtures/data-disks.guestfish" "$1/scripts/build-data-disks" \
    -- "$1/scripts/build-data-disks" @DIR@
}
phony_guests_fixture() {
  cached_fixture "$2" phony "$1/fixtures/phony-guests.guestfish" "$1/scripts/build-phony-guests" \
    -- "$1/scripts/build-phony-guests" @DIR@
}
