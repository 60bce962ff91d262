#!/usr/bin/env bash
# Builds the Consul agent the dcs/consul tests run. Debian has no Consul
# package; v1.14.11 is the last MPL-2.0 line that builds from the Go module
# proxy with our toolchain. The binary goes to GOBIN (GOPATH/bin) and is
# rebuilt only when it is missing or another version (about 8 minutes on 2
# cores); the pin is resolved against the module proxy on every run.
set -euo pipefail

VERSION=${CONSUL_VERSION:-v1.14.11}
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=scripts/lib.sh
. "$here/lib.sh"

gobin=$(go_bin_dir)
mkdir -p "$gobin"
resolve_module "github.com/hashicorp/consul" "$VERSION"
if [ -x "$gobin/consul" ] && "$gobin/consul" version 2>/dev/null | head -1 | grep -qx "Consul $VERSION"; then
  exit 0
fi

step "building consul $VERSION into $gobin (once per machine, about 8 minutes)"
dir=$(go mod download -json "github.com/hashicorp/consul@$VERSION" | sed -n 's/.*"Dir": "\(.*\)".*/\1/p')
[ -n "$dir" ] || die "go mod download github.com/hashicorp/consul@$VERSION failed"
work=$(mktemp -d)
trap 'chmod -R u+w "$work"; rm -rf "$work"' EXIT
cp -r "$dir" "$work/consul"
chmod -R u+w "$work/consul"
cd "$work/consul"
# The release's go.mod points its api, sdk and proto-public submodules at
# local directories; take the published modules instead.
go mod edit -dropreplace github.com/hashicorp/consul/api \
  -dropreplace github.com/hashicorp/consul/sdk \
  -dropreplace github.com/hashicorp/consul/proto-public
GOFLAGS=-mod=mod go build -o "$gobin/consul.tmp" . || die "building consul $VERSION failed"
mv "$gobin/consul.tmp" "$gobin/consul"
"$gobin/consul" version | head -1
