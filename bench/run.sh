#!/usr/bin/env bash
# Side-by-side benchmarks (issue #6): builds the Airlock example components, the Extism and
# subprocess peers and the runner, measures everything in one run and writes the results into
# BENCHMARKS.md (between its results markers).
#
#   bash bench/run.sh                      # full run, rewrites the results in BENCHMARKS.md
#   bash bench/run.sh --only extism        # any runner options: prints only, writes nothing
#   bash bench/run.sh --soak               # only the soak (bench/soak, ~2-4 min): rewrites its section
#   bash bench/run.sh --scale-out          # only the scale-out run (bench/scale-out, ~1-2 min): its section
#   bash bench/run.sh --instructions [SIZE…] # instructions per call under callgrind (bench/instructions.sh): prints a table
#
# The full run ends with the soak (issue #12): a million tool calls through the registry, then
# 100,000 through MCP over HTTP, RSS at start/middle/end; its own section of BENCHMARKS.md.
# Then the scale-out run (issue #19): two `airlock serve --http` hosts on one throwaway
# PostgreSQL cluster (scripts/postgres.sh; as root it installs PostgreSQL if missing): how long
# a change on one takes to be in effect on the other, and calls/s on one host, on two, and on a
# SQLite registry for reference; its own section too. Options after --scale-out go to
# bench/scale-out (--changes N, --rounds N, --seconds N, --attempts N); it waits up to
# BENCH_WAIT_IDLE_MIN minutes (default 5 there) for the CPUs to be quiet first, and makes a
# measurement again (up to 3 times) when other processes took over 15 % of the CPUs during it.
#
# Build directories (kept between runs; a cold build compiles two wasmtimes, 30-50 min on 2 busy cores):
#   AIRLOCK_TARGET       main workspace, guests land in $AIRLOCK_TARGET/guests-<checkout> (default: $CARGO_TARGET_DIR, else ./target, the build the demo and the tests share)
#   AIRLOCK_BENCH_TARGET this workspace (default ~/.cache/airlock-bench-target)
# Before measuring, the full run waits up to BENCH_WAIT_IDLE_MIN minutes (default 20, 0 = not at
# all) for other processes to leave the CPUs idle, and measures again (up to BENCH_ATTEMPTS times,
# default 3) when they took more than 15 % of the CPUs meanwhile, keeping the quietest attempt;
# the report states how busy they were.
set -euo pipefail

BENCH="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$BENCH/.." && pwd)"
MAIN_TARGET="${AIRLOCK_TARGET:-${CARGO_TARGET_DIR:-$ROOT/target}}"
BENCH_TARGET="${AIRLOCK_BENCH_TARGET:-$HOME/.cache/airlock-bench-target}"

if command -v rustup >/dev/null; then
    rustup target add wasm32-wasip2 wasm32-unknown-unknown
fi

echo "== building the Airlock example components (main workspace, guest profile)" >&2
# airlock-guests' build script builds every guest component with `--profile guest`.
(cd "$ROOT" && CARGO_TARGET_DIR="$MAIN_TARGET" cargo build -p airlock-guests)
# One guest build per checkout: <target>/guests-<first 12 hex of sha256(checkout path)>
# (tests/guests/build.rs).
CHECKOUT=$(printf '%s' "$(cd "$ROOT" && pwd -P)" | sha256sum | cut -c1-12)
GUESTS="$MAIN_TARGET/guests-$CHECKOUT/wasm32-wasip2/guest"
# The assembled example plugin folders (manifest + pinned component), for the soak.
export AIRLOCK_BENCH_PLUGINS="$MAIN_TARGET/guests-$CHECKOUT/plugins"

echo "== the release airlock binary and wrk, for the servers-under-load rows" >&2
(cd "$ROOT" && CARGO_TARGET_DIR="$MAIN_TARGET" cargo build --release -q -p airlock-cli)
export AIRLOCK_BENCH_AIRLOCK="$MAIN_TARGET/release/airlock"
if ! command -v wrk >/dev/null; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
        apt-get install -y -q wrk >/dev/null
    else
        echo "bench/run.sh needs wrk (the HTTP load generator): sudo apt-get install wrk" >&2
        exit 1
    fi
fi

# The commit measured; "+ uncommitted changes" when the checkout differs from it (BENCHMARKS.md
# aside: it is the output, rewritten by every run).
commit_measured() {
    local commit
    commit="$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)"
    if [ -n "$(git -C "$ROOT" status --porcelain -- . ':!BENCHMARKS.md' 2>/dev/null)" ]; then
        commit="$commit + uncommitted changes"
    fi
    echo "$commit"
}
export AIRLOCK_BENCH_POSTGRES_SCRIPT="$ROOT/scripts/postgres.sh"

if [ "${1:-}" = "--scale-out" ]; then
    shift
    echo "== building the scale-out run (bench workspace)" >&2
    cd "$BENCH"
    export CARGO_TARGET_DIR="$BENCH_TARGET"
    cargo build --release -p airlock-scale-out
    unset RUST_BACKTRACE RUST_LIB_BACKTRACE
    export AIRLOCK_BENCH_DATE="$(date -u '+%Y-%m-%d %H:%M UTC')"
    export AIRLOCK_BENCH_COMMIT="$(commit_measured)"
    echo "== measuring" >&2
    exec "$BENCH_TARGET/release/airlock-scale-out" --reproduce "bash bench/run.sh --scale-out" \
        --wait-idle-min "${BENCH_WAIT_IDLE_MIN:-5}" --markdown "$ROOT/BENCHMARKS.md" "$@"
fi

echo "== building the Python and JavaScript count-vowels (airlock build, pinned toolchains)" >&2
# Each is built in a copy of its example folder, as an author would: `airlock build DIR`.
(cd "$ROOT" && source scripts/toolchains.sh &&
    CARGO_TARGET_DIR="$MAIN_TARGET" cargo build -q -p airlock-cli &&
    for lang in python js; do
        copy="$BENCH_TARGET/polyglot/$lang-count-vowels"
        rm -rf "$copy" && mkdir -p "$(dirname "$copy")" && cp -r "examples/$lang/count-vowels" "$copy"
        "$MAIN_TARGET/debug/airlock" build "$copy"
    done)
export AIRLOCK_BENCH_PY_COUNT_VOWELS="$BENCH_TARGET/polyglot/python-count-vowels/count_vowels.wasm"
export AIRLOCK_BENCH_JS_COUNT_VOWELS="$BENCH_TARGET/polyglot/js-count-vowels/count_vowels.wasm"

echo "== building the peers and the runner (bench workspace)" >&2
cd "$BENCH"
export CARGO_TARGET_DIR="$BENCH_TARGET"
if [ "${1:-}" = "--soak" ]; then
    shift
    cargo build --release -p airlock-soak
    unset RUST_BACKTRACE RUST_LIB_BACKTRACE
    export AIRLOCK_BENCH_DATE="$(date -u '+%Y-%m-%d %H:%M UTC')"
    export AIRLOCK_BENCH_COMMIT="$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)"
    exec "$BENCH_TARGET/release/airlock-soak" --reproduce "bash bench/run.sh --soak" \
        --markdown "$ROOT/BENCHMARKS.md" "$@"
fi
cargo build -p vowels-extism --profile guest --target wasm32-unknown-unknown
cargo build --release -p vowels-stdio -p airlock-bench -p airlock-soak -p airlock-scale-out

export AIRLOCK_BENCH_COUNT_VOWELS="$GUESTS/count_vowels.wasm"
export AIRLOCK_BENCH_CALCULATOR="$GUESTS/calculator.wasm"
export AIRLOCK_BENCH_COMPUTE="$GUESTS/compute.wasm"
export AIRLOCK_BENCH_GUESTS="$GUESTS"
export AIRLOCK_BENCH_EXTISM_WASM="$BENCH_TARGET/wasm32-unknown-unknown/guest/vowels_extism.wasm"
export AIRLOCK_BENCH_STDIO="$BENCH_TARGET/release/vowels-stdio"
export AIRLOCK_BENCH_RUSTC="$(rustc --version)"
export AIRLOCK_BENCH_CARGO="$(cargo --version)"
export AIRLOCK_BENCH_DATE="$(date -u '+%Y-%m-%d %H:%M UTC')"
export AIRLOCK_BENCH_COMMIT="$(commit_measured)"

# Measure as a production host runs: without RUST_BACKTRACE. With it set, error values capture
# a backtrace, and Extism 1.30 without fuel makes one per call (its `Store::get_fuel()` check
# fails when fuel is off): that alone doubled its per-call time here.
unset RUST_BACKTRACE RUST_LIB_BACKTRACE

RUNNER="$BENCH_TARGET/release/airlock-bench"
if [ "${1:-}" = "--instructions" ]; then
    shift
    exec bash "$BENCH/instructions.sh" "$RUNNER" "$@"
fi

echo "== measuring" >&2
if [ "$#" -gt 0 ]; then
    exec "$RUNNER" --reproduce "bash bench/run.sh $*" "$@"
fi
"$RUNNER" --reproduce "bash bench/run.sh" --wait-idle-min "${BENCH_WAIT_IDLE_MIN:-20}" --attempts "${BENCH_ATTEMPTS:-3}" \
    --markdown "$ROOT/BENCHMARKS.md" --json "$BENCH_TARGET/bench-results.json"

echo "== soak" >&2
"$BENCH_TARGET/release/airlock-soak" --reproduce "bash bench/run.sh" --markdown "$ROOT/BENCHMARKS.md"

echo "== scale-out" >&2
"$BENCH_TARGET/release/airlock-scale-out" --reproduce "bash bench/run.sh" \
    --wait-idle-min "${BENCH_WAIT_IDLE_MIN:-20}" --markdown "$ROOT/BENCHMARKS.md"
