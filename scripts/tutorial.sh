#!/usr/bin/env bash
# The migration tutorial (docs/tutorial.md), runnable from start to finish:
# the orders table of examples/orders moves from SQLite to RocksDB under a
# live load, through backfill, shadow reads with a bug found and repaired,
# a gradual rollout with a rollback drill, rampdown and complete; then the
# drills for when things go wrong (a daemon outage, the kill switch, the way
# back from complete, a rollback to off) before the flag is retired.
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
# Expects the command to be refused because users would read a stale
# database ($1: old or new); keeps the message.
stale_refused() {
  local db=$1
  shift
  if "$@" 2> refusal.txt; then fail "not refused: $*"; fi
  cat refusal.txt
  grep -q "$db is stale since version" refusal.txt ||
    fail "refused otherwise: $*"
}
# A fact ("key: value") of an orders-demo output file.
fact() { awk -F': ' -v k="$1" '$1 == k { print $2 }' "$2"; }
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
DAEMON=$!
pids+=("$DAEMON")
wait_for 60 '[ -s cutoverd.ready ]'
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

step "9. Rollback drill: everyone off the new database at once, then forward"
cutoverctl rollback orders -m "rollback drill"
[ "$(share dualwrite)" = 100 ] || fail "not everyone is back in dualwrite"
sleep 2
cutoverctl stage orders shadow
allowed cutoverctl rollout orders live=50 shadow=50
[ "$(cutoverctl backfill status orders -o json | num .runs)" = 1 ] ||
  fail "the roll forward needed another backfill"
sleep 2

step "10. Live for everyone by a guarded ramp, then rampdown (new answers, old still written)"
cutoverctl ramp set orders --steps live=50,75,100 --hold 3s --interval 1s \
  --window 10s --max-mismatch-rate 0.001 --max-new-error-rate 0.01 \
  --min-samples 100
cutoverctl ramp start orders
# A step the gates hold (a late mismatch) pauses the ramp, saying so; an
# operator resumes it once the window is clean, and so does the script.
ramp_state() { cutoverctl ramp status orders -o json | jq -r .state; }
end=$((SECONDS + 120))
until [ "$(ramp_state)" = COMPLETED ]; do
  [ "$SECONDS" -lt "$end" ] || { cutoverctl ramp status orders; fail "the ramp did not complete"; }
  if [ "$(ramp_state)" = PAUSED ]; then
    cutoverctl ramp status orders
    cutoverctl ramp status orders -o json | jq -r .reason | grep -q "refused" ||
      fail "the ramp paused for another reason than a held step"
    sleep 2
    cutoverctl ramp resume orders
  fi
  sleep 0.5
done
cutoverctl ramp status orders
[ "$(share live)" = 100 ] || fail "not everyone is live"
cutoverctl history orders --limit 3
[ "$(cutoverctl history orders -o json | jq '[.entries[] | select(.action == "ramp-step")] | length')" -ge 2 ] ||
  fail "the ramp took fewer than 2 steps"
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

step "12. Complete: only the new database"
cutoverctl stage orders complete
orders-demo --requests 200 --users 300 --sqlite orders.sqlite \
  --rocksdb orders-rocksdb > complete.out
grep -q '^decisions.complete: 200$' complete.out || fail "not all complete"
grep -q '^failed_requests: 0$' complete.out || fail "requests failed at complete"

step "13a. Outage: the daemon dies; the restarted service serves its snapshot"
orders-demo --requests 200 --users 300 --snapshot-file orders-client.snapshot \
  --sqlite orders.sqlite --rocksdb orders-rocksdb > synced.out
[ -s orders-client.snapshot ] || fail "no snapshot file written"
kill -9 "$DAEMON"
wait "$DAEMON" 2> /dev/null || true
orders-demo --requests 200 --users 300 --seed 7 --write-ratio 1 \
  --snapshot-file orders-client.snapshot \
  --sqlite orders.sqlite --rocksdb orders-rocksdb > outage.out
grep -E '^(failed_requests|decisions.complete|decision_errors|client.local_serves):' outage.out
grep -q '^decisions.complete: 200$' outage.out || fail "not all complete in the outage"
grep -q '^decision_errors: 0$' outage.out || fail "decisions fell back to off"
grep -q '^failed_requests: 0$' outage.out || fail "requests failed in the outage"
[ "$(fact client.local_serves outage.out)" -ge 200 ] ||
  fail "decisions not served from the synced state (STALE)"
if orders-demo check --sqlite orders.sqlite --rocksdb orders-rocksdb > outage-check.txt; then
  fail "SQLite has orders placed at complete"
fi
cat outage-check.txt
grep -q '^check.missing_in_new: 0$' outage-check.txt ||
  fail "orders landed in SQLite only"
rm cutoverd.ready
cutoverd --config cutoverd.yaml --auth none 2>> cutoverd.log &
DAEMON=$!
pids+=("$DAEMON")
wait_for 60 '[ -s cutoverd.ready ]'
export CUTOVER_SERVER=127.0.0.1:$(cut -d' ' -f1 cutoverd.ready)

step "13b. The kill switch caps everyone at the fallback: rampdown, old is stale"
cutoverctl flags get orders | grep -E '^(fallback|currency)'
cutoverctl flags get orders | grep -q '^fallback  *rampdown (computed)$' ||
  fail "the fallback is not rampdown"
cutoverctl flags disable orders -m "kill switch drill"
[ "$(share rampdown)" = 100 ] || fail "the kill switch does not serve rampdown"
cutoverctl flags enable orders
[ "$(share complete)" = 100 ] || fail "not everyone is back at complete"

step "13c. Rollback from complete is refused; the way back, for real"
stale_refused old cutoverctl rollback orders
cutoverctl rollback orders --to rampdown
orders-demo --requests 200 --users 300 --seed 8 --sqlite orders.sqlite \
  --rocksdb orders-rocksdb > rampdown.out
grep -q '^decisions.rampdown: 200$' rampdown.out || fail "not all rampdown"
orders-demo backfill --reverse --sqlite orders.sqlite --rocksdb orders-rocksdb
cutoverctl rollback orders
[ "$(share dualwrite)" = 100 ] || fail "the rollback did not land on dualwrite"
orders-demo check --sqlite orders.sqlite --rocksdb orders-rocksdb ||
  fail "the two databases differ after the way back"

step "13d. Rollback to off makes new stale: shadow waits for a new backfill"
cutoverctl stage orders shadow
cutoverctl rollback orders --to off
cutoverctl flags get orders | grep '^currency'
cutoverctl flags get orders | grep -q '^currency  *new is stale since version' ||
  fail "new is not marked stale"
orders-demo --requests 200 --users 300 --seed 10 --sqlite orders.sqlite \
  --rocksdb orders-rocksdb > off.out
grep -q '^decisions.off: 200$' off.out || fail "not all off"
cutoverctl stage orders dualwrite
stale_refused new cutoverctl stage orders shadow
cutoverctl backfill reset orders
orders-demo backfill --sqlite orders.sqlite --rocksdb orders-rocksdb
cutoverctl flags get orders | grep -q '^currency  *both databases current$' ||
  fail "the backfill did not make new current"
cutoverctl stage orders shadow
orders-demo --requests 1000 --users 300 --seed 11 --sqlite orders.sqlite \
  --rocksdb orders-rocksdb > shadow.out
grep -q '^migrator.mismatches: 0$' shadow.out || fail "shadow reads differ"
allowed cutoverctl stage orders live
[ "$(share live)" = 100 ] || fail "not everyone is live"
orders-demo check --sqlite orders.sqlite --rocksdb orders-rocksdb ||
  fail "the two databases differ"

step "14. Complete again, and retire the flag"
cutoverctl stage orders rampdown
cutoverctl stage orders complete
cutoverctl flags archive orders --force -m "orders-demo no longer asks for it"
cutoverctl history orders --limit 3

step "The migration is complete"
