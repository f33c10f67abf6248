#!/usr/bin/env bash
# Build the Temporal server (`temporal-server`) and its SQL schema tool (`temporal-sql-tool`), MIT, from the module
# pinned in scripts/temporal-server through the Go module proxy, for `orchard cluster` (PostgreSQL persistence). The
# binaries and the PostgreSQL schemas of that version are cached outside the checkout, so other clones and later
# runs reuse them. Prints the cache folder.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
version=$(awk '{ for (i = 1; i < NF; i++) if ($i == "go.temporal.io/server") { print $(i + 1); exit } }' "$here/temporal-server/go.mod")
cache="${ORCHARD_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/orchard}/temporal-server-$version"
if [ ! -x "$cache/temporal-server" ] || [ ! -x "$cache/temporal-sql-tool" ] || [ ! -d "$cache/schema/postgresql" ]; then
  command -v go >/dev/null || { echo "Go is needed to build the Temporal server; install Go 1.26+" >&2; exit 1; }
  echo "building the Temporal server $version (several minutes, once per machine)..." >&2
  mkdir -p "$cache"
  cd "$here/temporal-server"
  go build -o "$cache/temporal-server.tmp" go.temporal.io/server/cmd/server
  go build -o "$cache/temporal-sql-tool.tmp" go.temporal.io/server/cmd/tools/sql
  module=$(go list -m -f '{{.Dir}}' go.temporal.io/server)
  rm -rf "$cache/schema" && mkdir -p "$cache/schema"
  cp -r "$module/schema/postgresql" "$cache/schema/postgresql"
  chmod -R u+w "$cache/schema"
  mv "$cache/temporal-server.tmp" "$cache/temporal-server"
  mv "$cache/temporal-sql-tool.tmp" "$cache/temporal-sql-tool"
fi
echo "$cache"
