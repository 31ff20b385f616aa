#!/usr/bin/env bash
# Installs the Debian packages, builds, and runs every test with ctest:
# once in a normal build (./build), then a short libFuzzer run of each fuzz
# target (./build-fuzz, clang), then every test again under
# AddressSanitizer and UndefinedBehaviorSanitizer (./build-asan), then the
# client library's tests under ThreadSanitizer (./build-tsan,
# scripts/tsan.sh). The normal build's tests include the stock OpenFeature
# flagd provider for Node against cutoverd (ctest's
# openfeature:node_provider, tests/openfeature/run.sh): it installs pinned
# packages from the npm registry and fails if it cannot.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/install-deps.sh
JOBS="${CUTOVER_JOBS:-2}"

echo "== build (RelWithDebInfo)"
./scripts/build.sh build
echo "== test (RelWithDebInfo)"
ctest --test-dir build --output-on-failure -j "$JOBS"

if [ "${CUTOVER_SKIP_FUZZ:-0}" != 1 ]; then
  echo "== fuzz (libFuzzer, ${CUTOVER_FUZZ_SECONDS:=30} s per target)"
  CUTOVER_FUZZ_SECONDS="$CUTOVER_FUZZ_SECONDS" ./scripts/fuzz.sh
fi

if [ "${CUTOVER_SKIP_SANITIZERS:-0}" != 1 ]; then
  echo "== build (ASan + UBSan)"
  CUTOVER_SANITIZE=ON ./scripts/build.sh build-asan
  echo "== test (ASan + UBSan)"
  ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
  UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
    ctest --test-dir build-asan --output-on-failure -j "$JOBS"
  echo "== build and test (ThreadSanitizer, client library)"
  ./scripts/tsan.sh build-tsan
fi
