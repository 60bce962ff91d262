# Helpers shared by the install scripts; sourced, not run.

step() { echo "deps: $*"; }
die() { echo "deps: error: $*" >&2; exit 1; }

# as_root runs a command as root: directly when we are root, else through
# sudo without a password prompt.
as_root() {
  if [ "$(id -u)" -eq 0 ]; then
    "$@"
  else
    sudo -n "$@"
  fi
}

# as_root_check stops with the command to run by hand when we are neither
# root nor allowed to use sudo without a password.
as_root_check() {
  [ "$(id -u)" -eq 0 ] && return 0
  if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
    return 0
  fi
  die "not root and sudo needs a password; run as root, or first: sudo $1"
}

# go_bin_dir prints where `go install` puts binaries: GOBIN, else the first
# GOPATH entry's bin.
go_bin_dir() {
  local b
  b=$(go env GOBIN)
  if [ -z "$b" ]; then
    b=$(go env GOPATH)
    b="${b%%:*}/bin"
  fi
  echo "$b"
}

# resolve_module asks the module proxy for MODULE@VERSION through an empty
# module cache, so the answer never comes from this machine's cache: a pin
# the proxy does not serve fails on every machine, warm or cold.
resolve_module() {
  local mod=$1 ver=$2 cache out
  cache=$(mktemp -d)
  if ! out=$(cd "$cache" && GOMODCACHE="$cache/mod" GOFLAGS=-modcacherw GO111MODULE=on \
    go list -m -json "$mod@$ver" 2>&1); then
    rm -rf "$cache"
    die "the Go module proxy does not serve $mod@$ver (pinned in scripts/): $out"
  fi
  rm -rf "$cache"
  case "$out" in
  *"\"Version\": \"$ver\""*) ;;
  *) die "the Go module proxy resolved $mod@$ver to something else: $out" ;;
  esac
}
