#!/usr/bin/env bash
# Runs every benchmark with the settings docs/performance.md reports, on the
# release build in ./build (or $1), and prints the machine first. Takes
# about 9 minutes. Each command can also be run alone (docs/performance.md).
set -euo pipefail
cd "$(dirname "$0")/.."
B="${1:-build}/tests/bench"
echo "== machine"
nproc
grep -m1 "model name" /proc/cpuinfo || true
uptime
echo "== core_bench (pure evaluation vs MurmurHash3)"
"$B/core_bench" --benchmark_min_time=1
echo "== decide_bench (Decide vs empty RPC, server APIs, DecideBatch)"
"$B/decide_bench" --seconds=3
echo "== decide_bench on 1 core, then 2 cores (taskset: daemon and callers)"
taskset -c 0 "$B/decide_bench" --phases=closed --callers=64 --seconds=3
taskset -c 0,1 "$B/decide_bench" --phases=closed --callers=64 --seconds=3
echo "== flagd_bench (flagd ResolveString vs Decide vs empty RPC)"
"$B/flagd_bench" --seconds=3
echo "== admin_bench (synced writes vs write+fsync and GetFlag, Decide during writes)"
"$B/admin_bench" --writes=300 --seconds=3 --write-rates=0,100
echo "== admin_bench with tokens on"
"$B/admin_bench" --writes=300 --seconds=3 --write-rates=0,100 --auth=token
echo "== prod_bench (token, TLS, mutual TLS: Decide and DecideBatch vs the empty RPC of each)"
"$B/prod_bench" --seconds=3 --rounds=5 --callers=16
echo "== invalidation_bench (ack to the last watching stream)"
"$B/invalidation_bench" --streams=1,100,1000 --changes=100
echo "== invalidation_bench (the same, every stream with a token)"
"$B/invalidation_bench" --streams=1,100,1000 --changes=100 --auth=token
echo "== invalidation_bench (through three read replicas, next to direct streams)"
"$B/invalidation_bench" --streams=30,300,999 --replicas=3 --changes=100
echo "== invalidation_bench (100 clients: local evaluation, then remote)"
"$B/invalidation_bench" 100 30
"$B/invalidation_bench" 100 30 --evaluation=remote
echo "== client_bench (cache hit and local decision vs a map lookup)"
"$B/client_bench" --benchmark_min_time=1
echo "== client_memory_bench (a local client's heap per 1,000 flags)"
"$B/client_memory_bench" --flags=1000,5000 --named=10
echo "== cost (instructions per call under callgrind, client and server)"
"$(dirname "$0")/cost.sh" "${1:-build}"
echo "== cost with a token on every call"
"$(dirname "$0")/cost.sh" "${1:-build}" --auth=token
echo "== scale_bench (start-up, memory, writes and a scrape by flag count)"
"$B/scale_bench" --flags=10,1000,10000 --watch=1000
