#!/usr/bin/env bash
# Run the compiled tests: `unit` (no servers: *.test.ts), `e2e` (a real Temporal server, S3 server or worker
# processes: *.e2e.test.ts) or `all`. The list comes from the sources, so compiled files of renamed or deleted tests
# left in dist/ never run. One file at a time: the end-to-end tests start servers and worker processes of their own.
set -euo pipefail
cd "$(dirname "$0")/.."
kind="${1:-all}"
case "$kind" in
  unit) sources=$(find test -name '*.test.ts' ! -name '*.e2e.test.ts' | sort) ;;
  e2e) sources=$(find test -name '*.e2e.test.ts' | sort) ;;
  all) sources="$(find test -name '*.test.ts' ! -name '*.e2e.test.ts' | sort) $(find test -name '*.e2e.test.ts' | sort)" ;;
  *) echo "usage: dev/run-tests.sh unit|e2e|all" >&2; exit 2 ;;
esac
files=()
for source in $sources; do files+=("dist/${source%.ts}.js"); done
exec node --test --test-concurrency=1 "${files[@]}"
