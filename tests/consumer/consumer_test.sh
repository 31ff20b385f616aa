#!/usr/bin/env bash
# The client library as another team would use it: installs this build's
# `dev` component (libcutover-client-dev's files) into a temporary prefix,
# builds tests/consumer/ against it with find_package(cutover CONFIG
# REQUIRED) and again with pkg-config (cutover-client), and runs both
# programs against a real cutoverd on a free loopback port with a
# temporary data folder: a decision from the daemon, a Migrator read, a
# BackfillDriver run, cutover::Version() equal to the project's version.
#
# Usage: consumer_test.sh SOURCE_DIR BUILD_DIR VERSION (ctest passes them).
# About 40 s on 2 cores, mostly compiling and linking the two programs.
set -euo pipefail
SRC="$1"
BUILD="$2"
VERSION="$3"
JOBS="${CUTOVER_JOBS:-2}"

TMP=$(mktemp -d)
DAEMON_PID=""
cleanup() {
  if [ -n "$DAEMON_PID" ] && kill -0 "$DAEMON_PID" 2>/dev/null; then
    kill -TERM "$DAEMON_PID" 2>/dev/null || true
    for _ in $(seq 1 50); do
      kill -0 "$DAEMON_PID" 2>/dev/null || break
      sleep 0.1
    done
    kill -KILL "$DAEMON_PID" 2>/dev/null || true
    wait "$DAEMON_PID" 2>/dev/null || true
  fi
  rm -rf "$TMP"
}
trap cleanup EXIT

step() { echo "== consumer: $*"; }

step "install the dev component into $TMP/prefix"
cmake --install "$BUILD" --prefix "$TMP/prefix" --component dev > "$TMP/install.log"
if find "$TMP/prefix" -name '*.pb.h' -o -path '*/server/*' | grep -q .; then
  echo "installed a generated protobuf or server header:"
  find "$TMP/prefix" -name '*.pb.h' -o -path '*/server/*'
  exit 1
fi

step "start cutoverd on a free loopback port"
"$BUILD/cutoverd" --data-dir "$TMP/data" --listen 127.0.0.1:0 \
  --metrics-listen off --ready-file "$TMP/ready" --auth none \
  2> "$TMP/cutoverd.log" &
DAEMON_PID=$!
for _ in $(seq 1 200); do
  [ -s "$TMP/ready" ] && break
  kill -0 "$DAEMON_PID" 2>/dev/null || { cat "$TMP/cutoverd.log"; exit 1; }
  sleep 0.1
done
[ -s "$TMP/ready" ] || { echo "cutoverd not ready in 20 s"; exit 1; }
SERVER="127.0.0.1:$(cut -d' ' -f1 "$TMP/ready")"
ctl() { "$BUILD/cutoverctl" --server "$SERVER" "$@" > /dev/null; }
# One flag per build of the program (each backfills its flag's job once).
for flag in orders-cmake orders-pkgconfig; do
  ctl flags create "$flag" --old postgres-orders --new dynamodb-orders
  ctl stage "$flag" dualwrite
  ctl stage "$flag" shadow
done

# The compiler launcher of this build (ccache), if any, for speed only.
LAUNCHER=$(sed -n 's/^CMAKE_CXX_COMPILER_LAUNCHER:[A-Z]*=//p' \
  "$BUILD/CMakeCache.txt")

step "find_package(cutover CONFIG REQUIRED)"
cmake -S "$SRC/tests/consumer" -B "$TMP/cmake-build" \
  -DCMAKE_BUILD_TYPE=Release -DCMAKE_PREFIX_PATH="$TMP/prefix" \
  ${LAUNCHER:+-DCMAKE_CXX_COMPILER_LAUNCHER="$LAUNCHER"} \
  > "$TMP/configure.log" 2>&1 || { cat "$TMP/configure.log"; exit 1; }
cmake --build "$TMP/cmake-build" -j "$JOBS" > "$TMP/build.log" 2>&1 \
  || { cat "$TMP/build.log"; exit 1; }
"$TMP/cmake-build/consumer" "$SERVER" orders-cmake shadow "$VERSION"

step "pkg-config cutover-client"
export PKG_CONFIG_PATH
PKG_CONFIG_PATH=$(dirname "$(find "$TMP/prefix" -name cutover-client.pc)")
[ "$(pkg-config --modversion cutover-client)" = "$VERSION" ]
# shellcheck disable=SC2046  # pkg-config's words are meant to split
${LAUNCHER:+"$LAUNCHER"} c++ -std=c++17 -Wall -Wextra -Werror \
  "$SRC/tests/consumer/consumer.cc" -o "$TMP/consumer-pc" \
  $(pkg-config --cflags --libs cutover-client)
"$TMP/consumer-pc" "$SERVER" orders-pkgconfig shadow "$VERSION"

echo "consumer: find_package and pkg-config builds passed"
