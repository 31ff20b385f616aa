#!/usr/bin/env bash
# The migration tutorial (docs/tutorial.md), runnable from start to finish:
# the orders table of examples/orders moves from SQLite to RocksDB under a
# live load, through backfill, shadow reads with a bug found and repaired,
# a gradual rollout with a rollback drill, rampdown and complete.
#
#   scripts/tutorial.sh [WORK_DIR]     (an empty or new folder, kept; default:
#                                       a temporary folder, removed after)
#
# Every command of the doc is a line of this script (tests check it), and
# the script checks at each step what the doc says happens; it exits 1 at
# the first claim that does not hold. CUTOVER_BUILD names the build folder
# (default ./build). Everything runs on loopback; every process it starts
# is ended when it exits.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=$(cd "${CUTOVER_BUILD:-$ROOT/build}" && pwd)
if [ $# -ge 1 ]; then
  WORK=$1
  [ ! -e "$WORK" ] || [ -z "$(ls -A "$WORK")" ] ||
    { echo "tutorial: $WORK is not empty" >&2; exit 2; }
  mkdir -p "$WORK"
  remove_work=0
else
  WORK=$(mktemp -d)
  remove_work=1
fi
cd "$WORK"
export PATH="$BUILD:$BUILD/examples:$PATH"

pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill -9 "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  if [ "$remove_work" = 1 ]; then rm -rf "$WORK"; fi
}
trap cleanup EXIT

step() { printf '\n== %s\n' "$*"; }
fail() {
  echo "tutorial: FAILED: $*" >&2
  echo "--- service stderr (last lines):" >&2
  tail -n 20 service.err >&2 2>/dev/null || true
  exit 1
}
# wait_for SECONDS 'shell condition': polls every half second, then fails.
wait_for() {
  local limit=$1 condition=$2 end=$((SECONDS + $1))
  until eval "$condition"; do
    [ "$SECONDS" -lt "$end" ] || fail "not true after ${limit}s: $condition"
    sleep 0.5
  done
}
# A number from `cutoverctl ... -o json` (uint64 fields are JSON strings).
num() { jq -r "($1 // 0) | tonumber"; }
# The share of users (percent, integer part) the flag serves `stage` now.
share() {
  cutoverctl split orders --users 10000 |
    awk -v s="$1" '$1 == s { sub("%", "", $3); v = int($3) } END { print v + 0 }'
}
# Expects the command to be refused by a gate; keeps the message.
refused() {
  if "$@" 2> refusal.txt; then fail "not refused: $*"; fi
  cat refusal.txt
  grep -q "held by its gates" refusal.txt || fail "refused otherwise: $*"
}
status_json() { cutoverctl status orders -o json; }
# Runs a gated move; while a gate holds it (a late mismatch still in the
# window, too few samples on a slow machine) waits and tries again, at most
# 90 s, as an operator would.
allowed() {
  local end=$((SECONDS + 90))
  until "$@" 2> refusal.txt; do
    grep -q "held by its gates" refusal.txt || { cat refusal.txt >&2; fail "$*"; }
    [ "$SECONDS" -lt "$end" ] || { cat refusal.txt >&2; fail "still held: $*"; }
    sleep 1
  done
}

step "1. Start the daemon (RocksDB in ./cutover-data; a 20 s telemetry window)"
cat > cutoverd.yaml <<'EOF'
data_dir: ./cutover-data
listen: 127.0.0.1:0
metrics_listen: 127.0.0.1:0
ready_file: ./cutoverd.ready
telemetry_window_seconds: 20
telemetry_slots: 10
EOF
cutoverd --config cutoverd.yaml --auth none 2> cutoverd.log &
pids+=($!)
wait_for 20 '[ -s cutoverd.ready ]'
export CUTOVER_SERVER=127.0.0.1:$(cut -d' ' -f1 cutoverd.ready)

step "2. The orders service serves traffic from the old database (SQLite)"
orders-demo --until-signal --users 300 --threads 4 --pause-ms 4 \
  --decide-deadline-ms 2000 --sqlite orders.sqlite --rocksdb orders-rocksdb \
  --read-repair --corrupt-new-every 9 > service.out 2> service.err &
SERVICE=$!
pids+=("$SERVICE")
sleep 3
kill -0 "$SERVICE" || fail "the service exited"

step "3. Create the migration flag, with its gates"
cutoverctl flags create orders --old sqlite-orders --new rocksdb-orders \
  --description "orders table, SQLite to RocksDB" \
  --require-backfill --max-mismatch-rate 0.001 --min-samples 200
cutoverctl flags get orders

step "4. Dual write: every new order goes to both databases"
cutoverctl stage orders dualwrite
refused cutoverctl stage orders shadow
sleep 1

step "5. Backfill the rows written before dual writes, and verify them"
kill -USR1 "$SERVICE"
wait_for 180 '[ "$(cutoverctl backfill status orders -o json | jq -r .phase)" = DONE ]'
cutoverctl backfill status orders
job=$(cutoverctl backfill status orders -o json)
[ "$(echo "$job" | num .rows_copied)" -gt 0 ] || fail "nothing copied"
[ "$(echo "$job" | num .rows_mismatched)" = "$(echo "$job" | num .rows_repaired)" ] ||
  fail "the verify pass left rows unrepaired"

step "6. Shadow: reads go to both, the new answer is compared (a bug shows)"
cutoverctl stage orders shadow
wait_for 60 '[ "$(status_json | num .mismatches)" -gt 0 ]'
cutoverctl status orders
refused cutoverctl rollout orders live=5 shadow=95

step "7. Fix the bug; read-repair rewrites the wrong rows; the window clears"
kill -USR2 "$SERVICE"
wait_for 120 '[ "$(status_json | num .mismatches)" = 0 ] &&
  [ "$(status_json | num .compared)" -ge 200 ]'
cutoverctl status orders

step "8. Live for 5% of users, then 25% and 50%"
allowed cutoverctl rollout orders live=5 shadow=95
cutoverctl split orders --users 10000
live=$(share live)
[ "$live" -ge 4 ] && [ "$live" -le 5 ] || fail "live share $live%, not about 5%"
allowed cutoverctl rollout orders live=25 shadow=75
live=$(share live)
[ "$live" -ge 24 ] && [ "$live" -le 25 ] || fail "live share $live%, not about 25%"
allowed cutoverctl rollout orders live=50 shadow=50
live=$(share live)
[ "$live" -ge 49 ] && [ "$live" -le 50 ] || fail "live share $live%, not about 50%"
sleep 2

step "9. Rollback drill: everyone back to shadow at once, then forward again"
shadow_version=$(cutoverctl history orders -o json |
  jq -r '[.entries[] | select(.after.default_serve.stage == "SHADOW")][0].version')
cutoverctl rollback orders --to-version "$shadow_version" -m "rollback drill"
[ "$(share shadow)" = 100 ] || fail "not everyone is back in shadow"
sleep 2
allowed cutoverctl rollout orders live=50 shadow=50
sleep 2

step "10. Live for everyone, then rampdown (new answers, old still written)"
allowed cutoverctl stage orders live
[ "$(share live)" = 100 ] || fail "not everyone is live"
sleep 2
cutoverctl stage orders rampdown
sleep 2

step "11. Stop the load; both databases hold the same rows"
kill -TERM "$SERVICE"
wait "$SERVICE" || fail "the service exited with an error"
cat service.out
grep -q '^failed_requests: 0$' service.out || fail "some user requests failed"
grep -q '^decision_errors: 0$' service.out || fail "some decisions failed"
orders-demo check --sqlite orders.sqlite --rocksdb orders-rocksdb ||
  fail "the two databases differ"

step "12. Complete: only the new database; then retire the flag"
cutoverctl stage orders complete
orders-demo --requests 200 --users 300 --sqlite orders.sqlite \
  --rocksdb orders-rocksdb > complete.out
grep -q '^decisions.complete: 200$' complete.out || fail "not all complete"
grep -q '^failed_requests: 0$' complete.out || fail "requests failed at complete"
cutoverctl flags archive orders
cutoverctl history orders --limit 3

step "The migration is complete"
