#!/usr/bin/env bash
# Build Orchard's JPEG decoder (native/jpeg: libjpeg-turbo with DCT scaling + a SIMD resize, a Node-API module in
# Rust) and install it as .orchard/native/orchard_jpeg.node. Built once per machine and source version: the module
# is cached outside the checkout, keyed by a hash of its sources, so other clones and later runs reuse it.
# Prints the installed module's path.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
crate="$root/native/jpeg"
installed="$root/.orchard/native/orchard_jpeg.node"
hash=$(cd "$crate" && cat Cargo.toml Cargo.lock build.rs src/*.rs | sha256sum | cut -c1-16)
cache="${ORCHARD_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/orchard}/native-jpeg"
if [ ! -f "$cache/$hash.node" ]; then
  for tool in cargo cmake nasm; do
    command -v "$tool" >/dev/null || {
      echo "$tool is needed to build the JPEG decoder (native/jpeg): install Rust (cargo), CMake and NASM, e.g. apt-get install cmake nasm" >&2
      exit 1
    }
  done
  echo "building the JPEG decoder (native/jpeg; a few minutes, once per machine)..." >&2
  mkdir -p "$cache"
  CARGO_TARGET_DIR="$cache/target" cargo build --release --locked --manifest-path "$crate/Cargo.toml" >&2
  cp "$cache/target/release/liborchard_jpeg.so" "$cache/$hash.node.tmp"
  mv "$cache/$hash.node.tmp" "$cache/$hash.node"
fi
mkdir -p "$(dirname "$installed")"
cp "$cache/$hash.node" "$installed.tmp"
mv "$installed.tmp" "$installed"
echo "$installed"
