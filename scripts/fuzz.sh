#!/usr/bin/env bash
# Runs the cargo-fuzz targets of tests/fuzz on stable Rust (no sanitizer: `-s none`), one
# after the other, and fails on any crash, hang or over-budget input.
#
#   scripts/fuzz.sh [SECONDS]           each target for SECONDS (default 20)
#   scripts/fuzz.sh --runs N            each target for N executions (a campaign)
#   scripts/fuzz.sh ... --targets "a b" only those targets
#   scripts/fuzz.sh ... --update-corpus minimise what was found (cargo fuzz cmin, set cover) into the
#                                       checked-in corpora, tests/fuzz/corpus/TARGET
#
# Budgets that make "hang" and "over budget" concrete, per input: 2 s (-timeout), 1 GiB
# resident (-rss_limit_mb), no single allocation over 256 MiB (-malloc_limit_mb), inputs
# up to 4 KiB (-max_len). New inputs go to a work corpus beside the build
# ($AIRLOCK_FUZZ_TARGET_DIR/corpus), so the checked-in corpora only change on request.
# The build directory persists across runs ($AIRLOCK_FUZZ_TARGET_DIR, default
# ~/.cache/airlock-fuzz-target): it is instrumented, so it cannot share the main one.
# Prints a table of the figures FUZZING.md records; full logs are in the work directory.
set -euo pipefail
cd "$(dirname "$0")/.."

CARGO_FUZZ_VERSION=0.13.2
ALL_TARGETS="manifest policy exec_pattern network_grant http_grant jsonrpc mcp schema"
seconds=20
runs=""
targets="$ALL_TARGETS"
update_corpus=false
while [ $# -gt 0 ]; do
  case "$1" in
    --runs) runs="$2"; shift 2 ;;
    --targets) targets="$2"; shift 2 ;;
    --update-corpus) update_corpus=true; shift ;;
    -h|--help) sed -n '2,18p' "$0"; exit 0 ;;
    *[!0-9]*) echo "error: unknown argument \`$1\` (see --help)" >&2; exit 2 ;;
    *) seconds="$1"; shift ;;
  esac
done

work="${AIRLOCK_FUZZ_TARGET_DIR:-$HOME/.cache/airlock-fuzz-target}"
export CARGO_TARGET_DIR="$work"
# AIRLOCK_FUZZ_DEBUGINFO=0 builds without cargo-fuzz's line tables: ~2.5 GB less on disk
# (what the test suite's short run uses); crash stacks then name functions, not lines.
if [ "${AIRLOCK_FUZZ_DEBUGINFO:-1}" = 0 ]; then
  export RUSTFLAGS="${RUSTFLAGS:-} -Cdebuginfo=0"
fi
fuzz=(--fuzz-dir tests/fuzz)

if ! cargo fuzz --version 2>/dev/null | grep -q "$CARGO_FUZZ_VERSION"; then
  cargo install cargo-fuzz --locked --version "$CARGO_FUZZ_VERSION"
fi

started=$(date +%s)
cargo fuzz build -s none "${fuzz[@]}"
echo "fuzz targets built in $(( $(date +%s) - started )) s"

budget=(-timeout=2 -rss_limit_mb=1024 -malloc_limit_mb=256 -max_len=4096 -print_final_stats=1)
if [ -n "$runs" ]; then
  budget+=("-runs=$runs")
else
  budget+=("-max_total_time=$seconds")
fi

dictionary() {
  case "$1" in
    manifest|policy) echo tests/fuzz/dict/toml.dict ;;
    jsonrpc|mcp) echo tests/fuzz/dict/jsonrpc.dict ;;
    *) echo "tests/fuzz/dict/$1.dict" ;;
  esac
}

# One row of the summary from a libFuzzer log: executions, wall time, exec/s, corpus
# (files in the work corpus), cov and ft of the final status line, peak RSS.
row() {
  local target=$1 log=$2 wall=$3 corpus=$4
  local done_line execs rate rss
  done_line=$(grep -E '^#[0-9]+[[:space:]]+DONE' "$log" | tail -1 || true)
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
  rss=$(sed -n 's/^stat::peak_rss_mb: *//p' "$log" | tail -1)
  local cov ft
  cov=$(echo "$done_line" | sed -n 's/.*cov: \([0-9]*\).*/\1/p')
  ft=$(echo "$done_line" | sed -n 's/.*ft: \([0-9]*\).*/\1/p')
  printf '| %s | %s | %s s | %s | %s | %s | %s | %s MB | 0 |\n' \
    "$target" "${execs:-?}" "$wall" "${rate:-?}" "$corpus" "${cov:-?}" "${ft:-?}" "${rss:-?}"
}

mkdir -p "$work/fuzz-logs"
table=()
failed=()
for target in $targets; do
  corpus="$work/corpus/$target"
  # Absolute paths: the protocol targets change their working directory (lib.rs).
  seeds="$PWD/tests/fuzz/corpus/$target"
  artifacts="$PWD/tests/fuzz/artifacts/$target/"
  mkdir -p "$corpus" "$seeds" "$artifacts"
  log="$work/fuzz-logs/$target.log"
  echo "== fuzzing $target ($( [ -n "$runs" ] && echo "$runs runs" || echo "$seconds s"))"
  t0=$(date +%s)
  if cargo fuzz run -s none "${fuzz[@]}" "$target" "$corpus" "$seeds" -- \
      -dict="$PWD/$(dictionary "$target")" -artifact_prefix="$artifacts" "${budget[@]}" \
      >"$log" 2>&1; then
    wall=$(( $(date +%s) - t0 ))
    files=$(find "$corpus" "$seeds" -type f | wc -l)
    table+=("$(row "$target" "$log" "$wall" "$files")")
    tail -n 12 "$log" | grep -E 'DONE|stat::(number_of_executed_units|average_exec_per_sec)' || true
  else
    failed+=("$target")
    echo "FAILED: $target (crash, hang or over-budget input); the end of $log:" >&2
    tail -n 40 "$log" >&2
    continue
  fi
  if $update_corpus; then
    # Minimise the seeds and everything found into a fresh set, then check that in.
    merged="$work/corpus-min/$target"
    rm -rf "$merged" && mkdir -p "$merged"
    cp "$seeds"/* "$corpus"/ 2>/dev/null || true
    cp "$corpus"/* "$merged"/
    cargo fuzz cmin -s none "${fuzz[@]}" "$target" "$merged" -- -max_len=4096 -set_cover_merge=1 \
      >"$work/fuzz-logs/$target.cmin.log" 2>&1
    rm -rf "$seeds" && mkdir -p "$seeds" && cp "$merged"/* "$seeds"/
    echo "corpus of $target minimised to $(find "$seeds" -type f | wc -l) files"
  fi
done

# The scratch directories the protocol targets make for their registries.
rm -rf "${TMPDIR:-/tmp}/airlock-fuzz"

echo
echo "| target | executions | wall time | exec/s | corpus files | cov | ft | peak RSS | crashes |"
echo "|---|---|---|---|---|---|---|---|---|"
printf '%s\n' "${table[@]}"
if [ ${#failed[@]} -gt 0 ]; then
  echo "error: fuzz targets failed: ${failed[*]} (crash inputs under tests/fuzz/artifacts/)" >&2
  exit 1
fi
