#!/usr/bin/env bash
# Installs what pgha's tests need on a fresh Debian machine: PostgreSQL 15
# server binaries, HAProxy and staticcheck. Idempotent; quiet when all is present.
set -euo pipefail

PG_MAJOR=${PG_MAJOR:-15}
need=()
[ -x "/usr/lib/postgresql/${PG_MAJOR}/bin/postgres" ] || need+=("postgresql-${PG_MAJOR}")
{ command -v haproxy >/dev/null 2>&1 || [ -x /usr/sbin/haproxy ]; } || need+=(haproxy)

if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "missing packages: ${need[*]}; run as root or: sudo apt-get install -y ${need[*]}" >&2
    exit 1
  fi
  echo "installing ${need[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  # policy-rc.d keeps Debian from starting a cluster/daemon we do not want.
  printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d
  trap 'rm -f /usr/sbin/policy-rc.d' EXIT
  apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

gobin=$(go env GOPATH)/bin
if [ ! -x "$gobin/staticcheck" ]; then
  echo "installing staticcheck"
  go install honnef.co/go/tools/cmd/staticcheck@2026.2.2
fi

# PostgreSQL refuses to run as root; tests run servers as this user.
if [ "$(id -u)" -eq 0 ] && ! id postgres >/dev/null 2>&1; then
  useradd --system --home-dir /var/lib/postgresql --shell /bin/bash postgres
fi

# dcs/consul tests run a real Consul agent; Debian has none, so build one.
"$(dirname "$0")/build-consul.sh"
