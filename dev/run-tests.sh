#!/usr/bin/env bash
# Run the compiled tests: `unit` (no servers: *.test.ts), `e2e` (a real Temporal server, S3 server or worker
# processes: *.e2e.test.ts) or `all`. The list comes from the sources, so compiled files of renamed or deleted tests
# left in dist/ never run. Unit tests run two files at a time; the end-to-end tests one at a time, as they start
# servers and worker processes of their own.
set -euo pipefail
cd "$(dirname "$0")/.."
kind="${1:-all}"
compiled() { for source in "$@"; do echo "dist/${source%.ts}.js"; done; }
unit() { node --test --test-concurrency=2 $(compiled $(find test -name '*.test.ts' ! -name '*.e2e.test.ts' | sort)); }
e2e() { node --test --test-concurrency=1 $(compiled $(find test -name '*.e2e.test.ts' | sort)); }
case "$kind" in
  unit) unit ;;
  e2e) e2e ;;
  all) unit && e2e ;;
  *) echo "usage: dev/run-tests.sh unit|e2e|all" >&2; exit 2 ;;
esac
