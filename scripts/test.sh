#!/usr/bin/env bash
# The whole test suite, from a fresh machine: installs the wasm target, checks formatting
# and lints (host and guest crates), then runs every test on real components.
set -euo pipefail
cd "$(dirname "$0")/.."

rustup target add wasm32-wasip2
rustup component add rustfmt clippy >/dev/null 2>&1 || true

# Reuse one target dir across clones: a cold build of wasmtime takes minutes.
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/airlock-target}"
guests=(-p airlock-sdk -p calculator -p redact -p count-vowels -p hostile -p prober -p hooky -p cli-command)

cargo fmt --all --check
cargo clippy --all-targets -- -D warnings
CARGO_TARGET_DIR="$CARGO_TARGET_DIR/guests" \
  cargo clippy --profile guest --target wasm32-wasip2 "${guests[@]}" -- -D warnings
cargo test --no-fail-fast
