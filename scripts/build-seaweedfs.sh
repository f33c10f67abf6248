#!/usr/bin/env bash
# Build the SeaweedFS server (`weed`, Apache-2.0), the S3-compatible server of the tests and `npm run s3-server`,
# from the pinned module in scripts/seaweedfs through the Go module proxy. The binary is cached outside the
# checkout, so other clones and later runs reuse it. Prints the binary's path.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
version=$(awk '$1 == "github.com/seaweedfs/seaweedfs" { print $2 }' "$here/seaweedfs/go.mod")
cache="${ORCHARD_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/orchard}/seaweedfs-$version"
if [ ! -x "$cache/weed" ]; then
  command -v go >/dev/null || { echo "Go is needed to build the S3 test server (SeaweedFS); install Go 1.26+" >&2; exit 1; }
  echo "building SeaweedFS $version (a few minutes, once per machine)..." >&2
  mkdir -p "$cache"
  (cd "$here/seaweedfs" && go build -o "$cache/weed.tmp" github.com/seaweedfs/seaweedfs/weed)
  mv "$cache/weed.tmp" "$cache/weed"
fi
echo "$cache/weed"
