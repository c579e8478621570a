# Sourced by the integration tests.
#
# test_setup VHDCRYPT SOURCE_DIR: the arguments every appliance test takes, as
# BIN and SRC; CACHE, the machine-wide fixture cache (test_cache_dir);
# libguestfs' direct backend; OUT, a scratch directory removed when the test
# exits.
test_setup() {
  BIN=$1
  SRC=$2
  CACHE=$(test_cache_dir)
  export LIBGUESTFS_BACKEND=direct
  # The debootstrap tarballs of scripts/build-debian-guest, shared by every guest.
  export DEBIAN_GUEST_BASE_CACHE=$CACHE/guest-base
  OUT=$(mktemp -d)
  trap 'rm -rf "$OUT"' EXIT
}
#
# test_cache_dir: where fixtures are kept, outside any clone, so that every
# clone and build directory on this machine reuses them: $VHDCRYPT_TEST_CACHE,
# else ${XDG_CACHE_HOME:-$HOME/.cache}/vhdcrypt-tests.
test_cache_dir() {
  local home=${HOME:-$(getent passwd "$(id -u)" | cut -d: -f6)}
  echo "${VHDCRYPT_TEST_CACHE:-${XDG_CACHE_HOME:-$home/.cache}/vhdcrypt-tests}"
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
#   Echoes CACHE/KIND-HASH, where HASH covers the FILEs (recipe and builder).
#   When that entry is missing, BUILD-COMMAND runs with "@DIR@" replaced by a
#   temporary directory beside it, which is renamed into place only once the
#   command has succeeded: a cut-off build leaves no entry. Build output goes
#   to stderr. One builder per KIND at a time on the whole machine (flock on
#   CACHE/.KIND.lock): a second test, or a second clone's test, needing the same
#   fixture waits and reuses the result. Entries of KIND other than the newest
#   VHDCRYPT_TEST_CACHE_KEEP (default 3, by last use) are removed.
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
  if [ ! -d "$dir" ]; then
    local tmp=$cache/.$kind-$hash.tmp-$$ t
    t=$(date +%s)
    rm -rf "$cache/.$kind-"*.tmp-*  # what a killed builder left (we hold the lock)
    mkdir -p "$tmp"
    local cmd=()
    for a in "$@"; do cmd+=("${a//@DIR@/$tmp}"); done
    echo "# fixture $kind-$hash: building (${cmd[*]##*/})" >&2
    if ! "${cmd[@]}" >&2; then
      rm -rf "$tmp"
      exec {lock}>&-
      echo "FAIL: building fixture $kind-$hash" >&2
      return 1
    fi
    sync -f "$tmp"
    mv -T "$tmp" "$dir"
    echo "# fixture $kind-$hash: built in $(elapsed "$t")" >&2
  else
    echo "# fixture $kind-$hash: cached" >&2
  fi
  touch "$dir"
  prune_fixtures "$cache" "$kind" "${VHDCRYPT_TEST_CACHE_KEEP:-3}"
  exec {lock}>&-
  echo "$dir"
}
#
# prune_fixtures CACHE KIND N: removes all but the N most recently used
# entries CACHE/KIND-HASH (12 hex digits). Called with KIND's lock held.
prune_fixtures() {
  local old
  find "$1" -mindepth 1 -maxdepth 1 -type d -regextype posix-extended \
    -regex ".*/$2-[0-9a-f]{12}" -printf '%T@ %p\n' | sort -rn | tail -n +"$(($3 + 1))" | cut -d' ' -f2- |
    while read -r old; do rm -rf "$old"; done
}

# The fixtures several tests share, by the scripts that build them (cached):
#   data_disks_fixture SRC CACHE    -> dir with data.raw (ext4, XFS, ...) and whole.raw
#   phony_guests_fixture SRC CACHE  -> dir with the small guests of build-phony-guests
#   hostile_guests_fixture SRC CACHE  -> dir with the guests of build-hostile-guests
data_disks_fixture() {
  cached_fixture "$2" data-disks "$1/fixtures/data-disks.guestfish" "$1/scripts/build-data-disks" \
    -- "$1/scripts/build-data-disks" @DIR@
}
hostile_guests_fixture() {
  cached_fixture "$2" hostile "$1/fixtures/hostile-guests.guestfish" "$1/scripts/build-hostile-guests" \
    -- "$1/scripts/build-hostile-guests" @DIR@
}
phony_guests_fixture() {
  cached_fixture "$2" phony "$1/fixtures/phony-guests.guestfish" "$1/scripts/build-phony-guests" \
    -- "$1/scripts/build-phony-guests" @DIR@
}
