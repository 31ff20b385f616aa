#!/usr/bin/env bash
# Instructions per call for each RPC kind, client and server together, from
# tests/bench/cost_bench run under callgrind: a figure that a shared machine
# does not move (docs/performance.md). Takes about 15 seconds.
#   scripts/cost.sh [BUILD_DIR] [cost_bench arguments, e.g. --deadlock-detection=on]
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD="${1:-build}"
shift || true
OUT="$(mktemp -d)"
trap 'rm -rf "$OUT"' EXIT
CALLS=400
valgrind --tool=callgrind --collect-atstart=yes --callgrind-out-file="$OUT/cg.out" \
  "$BUILD/tests/bench/cost_bench" --calls="$CALLS" "$@" > "$OUT/stdout" 2> "$OUT/valgrind.log" \
  || { cat "$OUT/valgrind.log" "$OUT/stdout"; exit 1; }
printf '%-18s %8s %16s\n' call calls "instructions/call"
for dump in $(ls -v "$OUT"/cg.out.*); do
  name=$(sed -n 's/^desc: Trigger: Client Request: //p' "$dump")
  # The set-up and each kind's warm-up calls are dumped as "(warm-up)".
  [ -n "$name" ] && [ "$name" != "(warm-up)" ] || continue
  total=$(sed -n 's/^summary: //p' "$dump")
  calls=$(awk -v n="$name" '$1 == n { print $2 }' "$OUT/stdout")
  awk -v n="$name" -v t="$total" -v c="$calls" 'BEGIN { printf "%-18s %8d %16.0f\n", n, c, t / c }'
done
