#!/usr/bin/env bash
# The whole test suite, from a fresh machine: installs the wasm target, checks formatting
# and lints (host and guest crates), then runs every test on real components.
set -euo pipefail
cd "$(dirname "$0")/.."

rustup target add wasm32-wasip2
rustup component add rustfmt clippy >/dev/null 2>&1 || true

# Reuse one target dir across clones: a cold build of wasmtime takes minutes.
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/airlock-target}"
guests=(-p airlock-sdk -p calculator -p redact -p count-vowels -p hostile -p prober -p hooky -p cli-command -p versioned -p versioned-v2 -p compute -p large)

# The real MCP clients the tests run (Inspector, conformance suite), pinned by lockfile.
if ! command -v npm >/dev/null 2>&1; then
  if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
    apt-get update -qq && apt-get install -y -qq nodejs npm
  else
    echo "error: Node.js (>= 20) and npm are needed for the MCP client tests; install them and re-run" >&2
    exit 1
  fi
fi
npm ci --prefix tests/mcp-clients --ignore-scripts --no-audit --no-fund --loglevel=error

cargo fmt --all --check
cargo clippy --all-targets -- -D warnings
CARGO_TARGET_DIR="$CARGO_TARGET_DIR/guests" \
  cargo clippy --profile guest --target wasm32-wasip2 "${guests[@]}" -- -D warnings
# --- Signed plugins and OCI registries (issue #17) -----------------------------------
# The trust and OCI tests start a real registry (Debian's `docker-registry`) on loopback and
# check signatures against the standard `minisign` tool; they fail, never skip, without them.
need=()
command -v docker-registry >/dev/null 2>&1 || need+=(docker-registry)
command -v minisign >/dev/null 2>&1 || need+=(minisign)
if [ "${#need[@]}" -gt 0 ]; then
  if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
    apt-get install -y -qq "${need[@]}" || { apt-get update -qq && apt-get install -y -qq "${need[@]}"; }
  else
    echo "error: the registry and signature tests need: apt-get install -y ${need[*]}" >&2
    exit 1
  fi
fi
# --- end of the signed plugins block ----------------------------------------------------

cargo test --no-fail-fast
