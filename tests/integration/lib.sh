# Sourced by the integration tests.
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
