#!/usr/bin/env bash
# The real OpenFeature flagd provider for Node against a real cutoverd, in
# RPC mode and in in-process mode.
#
#   tests/openfeature/run.sh [BUILD_DIR]     # default: ./build
#
# Installs the pinned npm packages of tests/openfeature/package.json with
# `npm ci` (package-lock.json: exact versions and their integrity hashes)
# into a temporary folder, starts cutoverd from BUILD_DIR on a free loopback
# port with a temporary data folder (tokens on, the evaluation rpcs open:
# the Node provider cannot send a token, docs/openfeature.md), applies
# tests/fixtures/flagd_world.yaml and runs provider_test.js in each mode
# (each on a fresh daemon, since each moves a flag). Everything it
# started is ended on exit. Fails (exit 1) if npm or the registry is not
# reachable: this test is never skipped silently.
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
source_dir="$(cd "$here/../.." && pwd)"
build_dir="$(cd "${1:-$source_dir/build}" && pwd)"
cutoverd="$build_dir/cutoverd"
cutoverctl="$build_dir/cutoverctl"
for program in "$cutoverd" "$cutoverctl"; do
  [[ -x "$program" ]] || { echo "openfeature: FAIL: $program not built" >&2; exit 1; }
done
command -v node >/dev/null && command -v npm >/dev/null ||
  { echo "openfeature: FAIL: node and npm are needed (Node 20)" >&2; exit 1; }

work="$(mktemp -d "${TMPDIR:-/tmp}/cutover-openfeature.XXXXXX")"
daemon_pid=""
stop_daemon() {
  if [[ -n "$daemon_pid" ]] && kill -0 "$daemon_pid" 2>/dev/null; then
    kill -TERM "$daemon_pid" 2>/dev/null || true
    for _ in $(seq 1 100); do kill -0 "$daemon_pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$daemon_pid" 2>/dev/null || true
    wait "$daemon_pid" 2>/dev/null || true
  fi
  daemon_pid=""
}
cleanup() {
  stop_daemon
  rm -rf "$work"
}
trap cleanup EXIT

cp "$here/package.json" "$here/package-lock.json" "$work/"
echo "openfeature: npm ci (pinned: $(node -e 'const d=require(process.argv[1]).dependencies;console.log(Object.entries(d).map(([k,v])=>k+"@"+v).join(" "))' "$here/package.json"))"
if ! (cd "$work" && timeout 300 npm ci --no-audit --no-fund --ignore-scripts \
        --loglevel=error > "$work/npm.log" 2>&1); then
  cat "$work/npm.log" >&2
  echo "openfeature: FAIL: npm ci could not install the pinned packages (is the npm registry reachable?)" >&2
  exit 1
fi

run_mode() {
  local mode="$1"
  rm -rf "$work/data" "$work/ready"
  token="$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')"
  cat > "$work/cutoverd.yaml" <<YAML
auth: tokens
open_evaluation: true
tokens:
  - name: openfeature-test
    role: admin
    env: CUTOVER_OPENFEATURE_TEST_TOKEN
YAML
  echo "openfeature: $mode mode"
  CUTOVER_OPENFEATURE_TEST_TOKEN="$token" "$cutoverd" --config "$work/cutoverd.yaml" \
    --data-dir "$work/data" --listen 127.0.0.1:0 --metrics-listen off \
    --ready-file "$work/ready" > "$work/cutoverd.log" 2>&1 &
  daemon_pid=$!
  for _ in $(seq 1 200); do
    [[ -s "$work/ready" ]] && break
    kill -0 "$daemon_pid" 2>/dev/null || break
    sleep 0.1
  done
  [[ -s "$work/ready" ]] || { cat "$work/cutoverd.log" >&2; echo "openfeature: FAIL: cutoverd did not start" >&2; exit 1; }
  address="127.0.0.1:$(cut -d' ' -f1 "$work/ready")"

  export CUTOVER_TOKEN="$token"
  "$cutoverctl" --server "$address" apply --force -f "$source_dir/tests/fixtures/flagd_world.yaml" > /dev/null

  MODE="$mode" CUTOVER_ADDRESS="$address" CUTOVER_SOURCE_DIR="$source_dir" CUTOVERCTL="$cutoverctl" \
    NODE_PATH="$work/node_modules" timeout 600 node "$here/provider_test.js"
  stop_daemon
}

run_mode rpc
run_mode in-process
