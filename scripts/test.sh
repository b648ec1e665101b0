#!/usr/bin/env bash
# The whole test suite, from a fresh machine: installs the wasm target, checks formatting
# and lints (host and guest crates), then runs every test on real components.
set -euo pipefail
cd "$(dirname "$0")/.."

rustup target add wasm32-wasip2
rustup component add rustfmt clippy >/dev/null 2>&1 || true

# One build for the demo, the tests and the examples: cargo's ./target, unless
# $CARGO_TARGET_DIR says otherwise (a cold build of wasmtime takes minutes).
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$PWD/target}"
# One full build: incremental caches would only add ~1.2 GB to the target dir (a CI run
# once ran out of disk), and nothing here is rebuilt piecemeal.
export CARGO_INCREMENTAL="${CARGO_INCREMENTAL:-0}"
df -h "$PWD" | sed 's/^/disk: /' # what there is to build in (a cold run writes ~6 GB)
guests=(-p airlock-sdk -p calculator -p redact -p count-vowels -p hostile -p prober -p hooky -p cli-command -p versioned -p versioned-v2 -p compute -p large -p sprawl -p sprawl-deep -p garish -p fetch -p webhook -p typed -p reporter -p legacy -p appfactory-tts-espeak -p appfactory-stt-pocketsphinx -p appfactory-llm-openai -p lleo-git-log -p lleo-needs -p victor-json -p orch-docs -p phasey)

# The real MCP clients the tests run (Inspector, conformance suite), pinned by lockfile.
if ! command -v npm >/dev/null 2>&1; then
  if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
    apt-get update -qq && apt-get install -y -qq nodejs npm
  else
    echo "error: Node.js (>= 20) and npm are needed for the MCP client tests; install them and re-run" >&2
    exit 1
  fi
fi
node_major=$(node -p 'process.versions.node.split(".")[0]')
if [ "$node_major" -lt 20 ]; then
  echo "error: Node.js 20 or newer is needed (found $(node --version)); install it (e.g. from https://nodejs.org) and re-run" >&2
  exit 1
fi
npm ci --prefix tests/mcp-clients --ignore-scripts --no-audit --no-fund --loglevel=error

# --- Web console in a real browser (issue #18) -------------------------------------------
# host/cli/tests/all/console.rs drives the console in Debian's headless Chromium through
# playwright-core (pinned by tests/console/package-lock.json; no browser is downloaded).
chromium="${AIRLOCK_CHROMIUM:-/usr/bin/chromium}"
if [ ! -x "$chromium" ]; then
  if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
    apt-get install -y -qq chromium || { apt-get update -qq && apt-get install -y -qq chromium; }
  else
    echo "error: the console tests need Chromium: apt-get install -y chromium (or set AIRLOCK_CHROMIUM)" >&2
    exit 1
  fi
fi
npm ci --prefix tests/console --ignore-scripts --no-audit --no-fund --loglevel=error
# --- end of the web console block ----------------------------------------------------------

# --- Python and JavaScript plugin toolchains (issue #14) ---------------------------------
# The Python/JS example and hostile plugins are built from source by the tests with the
# pinned toolchains. A missing toolchain fails those tests with the install command;
# nothing is skipped.
source scripts/toolchains.sh
python3 -m unittest discover -s sdk/python/tests -t sdk/python
node --test sdk/js/test/
# --- end of the Python and JavaScript toolchains block ---------------------------------

cargo fmt --all --check
cargo clippy --all-targets -- -D warnings
CARGO_TARGET_DIR="$CARGO_TARGET_DIR/guests" \
  cargo clippy --profile guest --target wasm32-wasip2 "${guests[@]}" -- -D warnings
# --- API fuzzing (issue #12) -------------------------------------------------------------
# host/cli/tests/all/api_fuzz.rs runs schemathesis (pinned in host/cli/tests/schemathesis.txt) against
# `airlock serve --http`; it looks for it in this venv and fails, never skips, without it.
fuzz_venv="$HOME/.cache/airlock-venv"
# Every pinned line must be installed (not just one of them).
if grep -v '^#' host/cli/tests/schemathesis.txt | grep -qvxFf <("$fuzz_venv/bin/pip" freeze 2>/dev/null || true); then
  if ! python3 -c 'import ensurepip, venv' >/dev/null 2>&1 && command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
    apt-get update -qq && apt-get install -y -qq python3 python3-venv
  fi
  python3 -m venv "$fuzz_venv"
  "$fuzz_venv/bin/pip" install --quiet --disable-pip-version-check -r host/cli/tests/schemathesis.txt
fi
export AIRLOCK_SCHEMATHESIS="$fuzz_venv/bin/schemathesis"
# --- end of API fuzzing ----------------------------------------------------------------------
# --- Signed plugins and OCI registries (issue #17) -----------------------------------
# The trust and OCI tests start a real registry (Debian's `docker-registry`) on loopback and
# check signatures against the standard `minisign` tool; they fail, never skip, without them.
# apt_install WHAT PACKAGE...: installs the Debian packages as root with apt, else stops
# naming the command that would (WHAT says which tests need them).
apt_install() {
  local what=$1
  shift
  [ "$#" -gt 0 ] || return 0
  if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
    apt-get install -y -qq "$@" || { apt-get update -qq && apt-get install -y -qq "$@"; }
  else
    echo "error: $what need: apt-get install -y $*" >&2
    exit 1
  fi
}
need=()
command -v docker-registry >/dev/null 2>&1 || need+=(docker-registry)
command -v minisign >/dev/null 2>&1 || need+=(minisign)
apt_install "the registry and signature tests" "${need[@]}"
# --- end of the signed plugins block ----------------------------------------------------
# --- The other plugin systems on Airlock (issue #16) ----------------------------------
# examples/systems/*: App Factory's TTS wraps espeak-ng and its STT PocketSphinx with its
# English model, LLEO's module wraps git. The tests run the real programs; they fail, never
# skip, without them.
need=()
command -v espeak-ng >/dev/null 2>&1 || need+=(espeak-ng)
command -v pocketsphinx_continuous >/dev/null 2>&1 || need+=(pocketsphinx)
[ -f /usr/share/pocketsphinx/model/en-us/en-us.lm.bin ] || need+=(pocketsphinx-en-us)
command -v git >/dev/null 2>&1 || need+=(git)
apt_install "the plugin-system examples" "${need[@]}"
# --- end of the plugin systems block -------------------------------------------------------
# --- PostgreSQL registry (issue #19) -----------------------------------------------------
# The PostgreSQL registry tests run against a real server: $AIRLOCK_TEST_POSTGRES if set,
# else a throwaway cluster that scripts/postgres.sh starts on loopback (installing
# PostgreSQL as root if needed) and that is stopped and removed on exit. Tests that need a
# private cluster start one with $AIRLOCK_TEST_POSTGRES_SCRIPT. They fail, never skip.
export AIRLOCK_TEST_POSTGRES_SCRIPT="$PWD/scripts/postgres.sh"
if [ -n "${AIRLOCK_TEST_POSTGRES:-}" ]; then
  if command -v pg_isready >/dev/null 2>&1 && ! pg_isready -q -d "$AIRLOCK_TEST_POSTGRES"; then
    echo "error: AIRLOCK_TEST_POSTGRES=$AIRLOCK_TEST_POSTGRES is not reachable (pg_isready failed); start that server or unset the variable to use a throwaway one" >&2
    exit 1
  fi
else
  pg_dir=$(mktemp -d /tmp/airlock-pg.XXXXXX)
  chmod 755 "$pg_dir" # the cluster belongs to the postgres user when we are root
  pg_prev_exit_trap=$(trap -p EXIT)
  pg_prev_exit_trap=${pg_prev_exit_trap#"trap -- "}
  pg_prev_exit_trap=${pg_prev_exit_trap%" EXIT"}
  trap 'bash "$AIRLOCK_TEST_POSTGRES_SCRIPT" stop "$pg_dir/data" || true; rm -rf "$pg_dir"; eval '"$pg_prev_exit_trap" EXIT
  AIRLOCK_TEST_POSTGRES=$(bash scripts/postgres.sh start "$pg_dir/data")
  export AIRLOCK_TEST_POSTGRES
fi
# --- end of the PostgreSQL block ---------------------------------------------------------

cargo test --no-fail-fast

# --- Fuzzing (issue #12) --------------------------------------------------------------
# Every cargo-fuzz target of tests/fuzz (stable Rust, `-s none`) for a short, bounded time
# from the checked-in corpora; fails on any crash, hang (2 s per input) or over-budget
# input (1 GiB RSS, 256 MiB per allocation). Its instrumented build persists in
# ~/.cache/airlock-fuzz-target ($AIRLOCK_FUZZ_TARGET_DIR). The long campaigns and their
# figures: FUZZING.md.
AIRLOCK_FUZZ_DEBUGINFO="${AIRLOCK_FUZZ_DEBUGINFO:-0}" bash scripts/fuzz.sh "${AIRLOCK_FUZZ_SECONDS:-15}"
# --- end of fuzzing ------------------------------------------------------------------------
