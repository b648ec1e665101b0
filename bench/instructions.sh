#!/usr/bin/env bash
# Instructions per warm count-vowels call, counted by valgrind's callgrind (issue #21): the
# guarantee floor, Airlock's `call_tool` and `call_tool_json`, and `call_tool_json`'s host-side
# JSON work alone. A count does not depend on what else the machine runs, so these ratios are
# the same in every run, where the timed ones move by ±20 % on a shared VM. Instructions are
# not time (a cache miss or a stalled vector load costs more than its one instruction), so
# read them next to the timed targets, not instead of them.
#
# Run through run.sh, which builds the runner and sets the environment:
#   bash bench/run.sh --instructions            # 96 B and 10 KiB
#   bash bench/run.sh --instructions 96 1k      # any of 96, 1k, 10k, 100k
#
# Each kind runs twice, with CALLS and 31 × CALLS calls: the difference ÷ 30 × CALLS is one
# call's instructions, set-up (compiling, loading, instantiating) cancelled out. Compiling on
# several threads is not quite the same work twice (±250,000 instructions): spread over
# 30 × CALLS calls that is under 1 % of the smallest count.
set -euo pipefail

RUNNER="$1"
shift
SIZES=("$@")
[ "${#SIZES[@]}" -gt 0 ] || SIZES=(96 10k)

if ! command -v valgrind >/dev/null; then
    echo "valgrind is not installed: run \`apt-get install -y valgrind\` and try again" >&2
    exit 1
fi

# Total instructions of `RUNNER --instructions-child KIND CALLS`.
count() {
    local out
    out="$(mktemp)"
    if ! valgrind --tool=callgrind --callgrind-out-file="$out" \
        "$RUNNER" --instructions-child "$1" "$2" >/dev/null 2>"$out.log"; then
        echo "the $1 child failed under valgrind; its output:" >&2
        tail -20 "$out.log" >&2
        exit 1
    fi
    awk '/^(summary|totals):/ { print $2; exit }' "$out"
    rm -f "$out" "$out.log"
}

# Instructions of one call of KIND, with CALLS as the smaller run.
per_call() {
    local kind="$1" calls="$2" few many
    few="$(count "$kind" "$calls")"
    many="$(count "$kind" $((31 * calls)))"
    echo $(((many - few) / (30 * calls)))
}

echo "| size (instructions per call) | guarantee floor | Airlock \`call_tool\` | ÷ floor | Airlock \`call_tool_json\` | ÷ floor | \`call_tool_json\`'s JSON work alone | ceiling: (floor + JSON work) ÷ floor |"
echo "|---|---:|---:|---:|---:|---:|---:|---:|"
for size in "${SIZES[@]}"; do
    case "$size" in
        96) calls=200 label="96 B" ;;
        1k) calls=60 label="1 KiB" ;;
        10k) calls=8 label="10 KiB" ;;
        100k) calls=1 label="100 KiB" ;;
        *) echo "unknown size $size (96, 1k, 10k, 100k)" >&2; exit 1 ;;
    esac
    echo "counting $size ($calls and $((31 * calls)) calls of each kind)…" >&2
    floor="$(per_call "floor_$size" "$calls")"
    value="$(per_call "airlock_$size" "$calls")"
    text="$(per_call "airlock_json_$size" "$calls")"
    json="$(per_call "host_text_$size" "$calls")"
    awk -v s="$label" -v f="$floor" -v v="$value" -v t="$text" -v j="$json" 'BEGIN {
        printf "| %s | %d | %d | %.2f× | %d | %.2f× | %d | %.2f× |\n", s, f, v, v / f, t, t / f, j, (f + j) / f
    }'
done
