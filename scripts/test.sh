#!/usr/bin/env bash
# Installs the Debian packages, builds, and runs every test with ctest:
# once in a normal build (./build), once under AddressSanitizer and
# UndefinedBehaviorSanitizer (./build-asan).
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/install-deps.sh
JOBS="${CUTOVER_JOBS:-2}"

echo "== build (RelWithDebInfo)"
./scripts/build.sh build
echo "== test (RelWithDebInfo)"
ctest --test-dir build --output-on-failure -j "$JOBS"

if [ "${CUTOVER_SKIP_SANITIZERS:-0}" != 1 ]; then
  echo "== build (ASan + UBSan)"
  CUTOVER_SANITIZE=ON ./scripts/build.sh build-asan
  echo "== test (ASan + UBSan)"
  ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
  UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
    ctest --test-dir build-asan --output-on-failure -j "$JOBS"
fi
