#!/usr/bin/env bash
# Builds a Consul agent for the dcs/consul tests when none is on PATH. Debian
# has no Consul package; v1.14.11 is the last MPL-2.0 line that builds from the
# Go module proxy with our toolchain. The binary is cached in GOPATH/bin, so
# this runs once per machine (about 7 minutes on 2 cores).
set -euo pipefail

VERSION=${CONSUL_VERSION:-v1.14.11}
gobin=$(go env GOPATH)/bin
if command -v consul >/dev/null 2>&1 || [ -x "$gobin/consul" ]; then
  exit 0
fi
echo "building consul $VERSION (once per machine)"
dir=$(go mod download -json "github.com/hashicorp/consul@$VERSION" | sed -n 's/.*"Dir": "\(.*\)".*/\1/p')
work=$(mktemp -d)
trap 'chmod -R u+w "$work"; rm -rf "$work"' EXIT
cp -r "$dir" "$work/consul"
chmod -R u+w "$work/consul"
cd "$work/consul"
go mod edit -dropreplace github.com/hashicorp/consul/api \
  -dropreplace github.com/hashicorp/consul/sdk \
  -dropreplace github.com/hashicorp/consul/proto-public
GOFLAGS=-mod=mod go build -o "$gobin/consul.tmp" .
mv "$gobin/consul.tmp" "$gobin/consul"
"$gobin/consul" version | head -1
