#!/usr/bin/env bash
# Installs what pgha's tests and demo need on a Debian machine that has never
# seen this project: PostgreSQL 15 server binaries, HAProxy, Keepalived and
# iproute2 (the proxy tests run Keepalived in network namespaces), the
# `postgres` OS user, staticcheck and a Consul agent, each at a pinned version.
#
# Every pinned Go module is resolved against the module proxy on every run,
# even when its binary is already installed, so a pin the proxy does not
# serve fails here on any machine instead of hiding behind a warm one.
#
# As root it installs Debian packages directly; otherwise through `sudo -n`,
# and when that is not possible it stops and prints the command to run.
#
# With --demo it installs only what `make demo` runs (PostgreSQL, HAProxy,
# the postgres user), not the test tools.
set -euo pipefail

demo_only=false
[ "${1:-}" = "--demo" ] && demo_only=true

PG_MAJOR=${PG_MAJOR:-15}
# staticcheck's release names (2025.1, ...) are not module versions: the
# proxy serves honnef.co/go/tools at v0.x.y.
STATICCHECK_VERSION=${STATICCHECK_VERSION:-v0.8.2}
export STATICCHECK_VERSION

here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=scripts/lib.sh
. "$here/lib.sh"

# --- Debian packages -------------------------------------------------------
need=()
[ -x "/usr/lib/postgresql/${PG_MAJOR}/bin/postgres" ] || need+=("postgresql-${PG_MAJOR}")
{ command -v haproxy >/dev/null 2>&1 || [ -x /usr/sbin/haproxy ]; } || need+=(haproxy)
if ! $demo_only; then
  { command -v keepalived >/dev/null 2>&1 || [ -x /usr/sbin/keepalived ]; } || need+=(keepalived)
  { command -v ip >/dev/null 2>&1 || [ -x /usr/sbin/ip ] || [ -x /sbin/ip ]; } || need+=(iproute2)
fi

if [ ${#need[@]} -gt 0 ]; then
  step "installing Debian packages: ${need[*]}"
  as_root_check "apt-get install -y ${need[*]}"
  export DEBIAN_FRONTEND=noninteractive
  as_root apt-get update -qq || die "apt-get update failed"
  # Debian starts a freshly installed PostgreSQL cluster and HAProxy; a
  # policy-rc.d that answers 101 stops that. One the machine already has is
  # put back afterwards.
  saved=""
  if [ -e /usr/sbin/policy-rc.d ]; then
    saved=$(mktemp)
    as_root cp -p /usr/sbin/policy-rc.d "$saved"
  fi
  restore_policy() {
    if [ -n "$saved" ]; then as_root mv "$saved" /usr/sbin/policy-rc.d; else as_root rm -f /usr/sbin/policy-rc.d; fi
  }
  trap restore_policy EXIT
  printf '#!/bin/sh\nexit 101\n' | as_root tee /usr/sbin/policy-rc.d >/dev/null
  as_root chmod +x /usr/sbin/policy-rc.d
  as_root apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null ||
    die "apt-get install ${need[*]} failed"
  restore_policy
  trap - EXIT
fi
[ -x "/usr/lib/postgresql/${PG_MAJOR}/bin/postgres" ] ||
  die "postgresql-${PG_MAJOR} is installed but /usr/lib/postgresql/${PG_MAJOR}/bin/postgres is missing"
if ! $demo_only; then
  { command -v keepalived >/dev/null 2>&1 || [ -x /usr/sbin/keepalived ]; } ||
    die "keepalived is installed but no keepalived binary was found"
  { command -v ip >/dev/null 2>&1 || [ -x /usr/sbin/ip ] || [ -x /sbin/ip ]; } ||
    die "iproute2 is installed but no ip binary was found"
fi

# PostgreSQL refuses to run as root: tests and the demo run as root start it
# as this user. The Debian package creates it; a hand-built server may not.
if [ "$(id -u)" -eq 0 ] && ! id postgres >/dev/null 2>&1; then
  step "creating the postgres OS user"
  useradd --system --user-group --home-dir /var/lib/postgresql --shell /bin/bash postgres ||
    die "useradd postgres failed"
fi

# --- Go tools --------------------------------------------------------------
$demo_only && exit 0
gobin=$(go_bin_dir)
mkdir -p "$gobin"

resolve_module "honnef.co/go/tools" "$STATICCHECK_VERSION"
if ! { [ -x "$gobin/staticcheck" ] && "$gobin/staticcheck" -version 2>/dev/null | grep -q "(${STATICCHECK_VERSION#v})"; }; then
  step "installing staticcheck $STATICCHECK_VERSION"
  GOBIN="$gobin" go install "honnef.co/go/tools/cmd/staticcheck@$STATICCHECK_VERSION" ||
    die "go install honnef.co/go/tools/cmd/staticcheck@$STATICCHECK_VERSION failed"
fi

# dcs/consul tests run a real Consul agent; Debian has none, so build one.
"$here/build-consul.sh"
