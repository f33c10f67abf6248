#!/usr/bin/env bash
# Build the Temporal Web UI server (`ui-server`, MIT, the UI's assets embedded) from the module pinned in
# scripts/temporal-ui through the Go module proxy, for `orchard cluster`. Cached outside the checkout with its
# configuration template; prints the cache folder.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
version=$(awk '{ for (i = 1; i < NF; i++) if ($i == "github.com/temporalio/ui-server/v2") { print $(i + 1); exit } }' "$here/temporal-ui/go.mod")
cache="${ORCHARD_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/orchard}/temporal-ui-$version"
if [ ! -x "$cache/ui-server" ] || [ ! -f "$cache/config/docker.yaml" ]; then
  command -v go >/dev/null || { echo "Go is needed to build the Temporal Web UI; install Go 1.26+" >&2; exit 1; }
  echo "building the Temporal Web UI $version (a few minutes, once per machine)..." >&2
  mkdir -p "$cache/config"
  cd "$here/temporal-ui"
  go build -o "$cache/ui-server.tmp" github.com/temporalio/ui-server/v2/cmd/server
  cp "$(go list -m -f '{{.Dir}}' github.com/temporalio/ui-server/v2)/config/docker.yaml" "$cache/config/docker.yaml"
  chmod u+w "$cache/config/docker.yaml"
  mv "$cache/ui-server.tmp" "$cache/ui-server"
fi
echo "$cache"
