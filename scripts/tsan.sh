#!/usr/bin/env bash
# ThreadSanitizer run of the client library's tests and the core's (concurrent
# Decide from 8 threads, TSan-clean). Builds only the client library and its
# test programs with -fsanitize=thread into ./build-tsan (or $1), and runs
# them against the normal build's cutoverd and cutoverctl (./build, built
# here if missing: the daemon is another process and is not under test).
#
# Debian's gRPC, protobuf and Abseil are not built with TSan, so their
# internal synchronisation is invisible to it: accesses the interceptors
# see from inside them are ignored (ignore_noninstrumented_modules below),
# and tests/tsan.supp may only suppress reports whose accesses are all
# inside those libraries (it says why for each; none are needed today).
# Any other report fails the test that caused it.
#
# About 3.5 minutes on 2 free cores once ./build exists: 4.3 CPU-minutes
# to build, under a minute of tests (README.md).
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR="${1:-build-tsan}"
JOBS="${CUTOVER_JOBS:-2}"
TARGETS=(core_test client_test client_reporter_test client_integration_test)

[ -f build/CMakeCache.txt ] || ./scripts/build.sh build
cmake --build build -j "$JOBS" --target cutoverd cutoverctl
cmake -S . -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DCUTOVER_SANITIZE=thread -DCUTOVER_TEST_PROGRAMS_DIR="$PWD/build" \
  > "$BUILD_DIR.cmake.log" 2>&1 || { cat "$BUILD_DIR.cmake.log"; exit 1; }
cmake --build "$BUILD_DIR" -j "$JOBS" --target "${TARGETS[@]}"

# A report makes the test exit with 66 at its end (not at once: the
# harness's destructors must still end the daemons it started).
# ignore_noninstrumented_modules: the interceptors (memcpy, epoll, ...) do
# not record accesses made from inside the uninstrumented libraries, whose
# own locking TSan cannot see.
export TSAN_OPTIONS="suppressions=$PWD/tests/tsan.supp \
ignore_noninstrumented_modules=1 second_deadlock_stack=1 history_size=4 \
${TSAN_OPTIONS:-}"
ctest --test-dir "$BUILD_DIR" --output-on-failure -j "$JOBS" \
  -R "^($(IFS='|'; echo "${TARGETS[*]}")):"
