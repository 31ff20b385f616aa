#!/usr/bin/env bash
# Builds the libFuzzer targets with clang into ./build-fuzz and runs each for
# a bounded time on a copy of its checked-in corpus (tests/fuzz/corpus/<target>;
# the repository is never written to). Exits non-zero if any target crashes,
# leaks, times out or runs out of memory, printing the reproducer's path.
#
#   CUTOVER_FUZZ_SECONDS=60   seconds per target (default 60)
#   CUTOVER_JOBS=2            build parallelism
#   CUTOVER_FUZZ_ARTIFACTS    where reproducers and logs go
#                             (default build-fuzz/fuzz-artifacts)
#
# Reproduce a crash:  build-fuzz/tests/fuzz/<target> <reproducer>
set -euo pipefail
cd "$(dirname "$0")/.."

SECONDS_PER_TARGET="${CUTOVER_FUZZ_SECONDS:-60}"
JOBS="${CUTOVER_JOBS:-2}"
BUILD_DIR=build-fuzz
TARGETS=(flag_fuzz flag_file_fuzz)
ARTIFACTS="${CUTOVER_FUZZ_ARTIFACTS:-$BUILD_DIR/fuzz-artifacts}"

command -v clang++ >/dev/null || {
  echo "fuzz: clang++ not found (scripts/install-deps.sh installs clang)" >&2
  exit 1
}

echo "== fuzz: configure $BUILD_DIR (clang)"
mkdir -p "$BUILD_DIR"
CC=clang CXX=clang++ cmake -S . -B "$BUILD_DIR" \
  -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCUTOVER_FUZZ=ON -DBUILD_TESTING=OFF \
  > "$BUILD_DIR.cmake.log" 2>&1 || { cat "$BUILD_DIR.cmake.log"; exit 1; }
echo "== fuzz: build ${TARGETS[*]}"
cmake --build "$BUILD_DIR" -j "$JOBS" --target "${TARGETS[@]}"

WORK="$(mktemp -d "${TMPDIR:-/tmp}/cutover-fuzz.XXXXXX")"
trap 'rm -rf "$WORK"' EXIT
mkdir -p "$ARTIFACTS"
ARTIFACTS="$(cd "$ARTIFACTS" && pwd)"

export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"

passed=0
failed=0
failures=()
for target in "${TARGETS[@]}"; do
  corpus="$WORK/$target"
  mkdir -p "$corpus" "$ARTIFACTS/$target"
  cp -R "tests/fuzz/corpus/$target/." "$corpus/"
  log="$ARTIFACTS/$target/fuzz.log"
  echo "== fuzz: $target for ${SECONDS_PER_TARGET}s"
  status=0
  "$BUILD_DIR/tests/fuzz/$target" "$corpus" \
    -max_total_time="$SECONDS_PER_TARGET" -rss_limit_mb=2048 -timeout=10 \
    -print_final_stats=1 -artifact_prefix="$ARTIFACTS/$target/" \
    > "$log" 2>&1 || status=$?
  runs="$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)"
  rate="$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)"
  if [ "$status" -eq 0 ]; then
    passed=$((passed + 1))
    echo "fuzz: $target passed: ${runs:-?} runs, ${rate:-?} exec/s"
  else
    failed=$((failed + 1))
    reproducer="$(sed -n 's/.*Test unit written to \(.*\)$/\1/p' "$log" | tail -1)"
    echo "fuzz: $target FAILED (exit $status) after ${runs:-?} runs; log: $log"
    tail -n 60 "$log"
    echo "fuzz: $target reproducer: ${reproducer:-none written (see the log)}"
    echo "fuzz: reproduce with: $BUILD_DIR/tests/fuzz/$target ${reproducer:-<input>}"
    failures+=("$target: ${reproducer:-$log}")
  fi
done

for f in ${failures[@]+"${failures[@]}"}; do echo "fuzz: failed $f"; done
echo "fuzz: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
