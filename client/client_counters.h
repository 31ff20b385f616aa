// Client's counters, their Prometheus export and its RPC stubs
// (client/client.h): an internal header of the client library, included
// by its sources only (client.cc, client_prefetch.cc).
//
// Counters: thread-safe (atomics; the hot paths' per thread). Metrics: set
// once by Client::RegisterMetrics, then only incremented.
#ifndef CUTOVER_CLIENT_CLIENT_COUNTERS_H_
#define CUTOVER_CLIENT_CLIENT_COUNTERS_H_

#include <atomic>
#include <cstdint>
#include <memory>

#include "client/client.h"
#include "client/local_decision_counts.h"
#include "client/per_thread_counter.h"
#include "cutover/v1/cutover.grpc.pb.h"
#include "grpcpp/channel.h"
#include "prometheus/counter.h"
#include "prometheus/gauge.h"
#include "prometheus/registry.h"

namespace cutover {

// The stubs Client calls the daemon through (one channel).
class Client::Stubs {
 public:
  explicit Stubs(const std::shared_ptr<grpc::Channel>& channel)
      : evaluation(v1::Evaluation::NewStub(channel)) {}
  std::unique_ptr<v1::Evaluation::Stub> evaluation;
};

// Prometheus counters, set once by RegisterMetrics.
class Client::Metrics {
 public:
  explicit Metrics(prometheus::Registry& registry) {
    auto& lookups = prometheus::BuildCounter()
                        .Name("cutover_client_decisions_total")
                        .Help("Client decisions by how they were served.")
                        .Register(registry);
    evaluated = &lookups.Add({{"source", "evaluated"}});
    hits = &lookups.Add({{"source", "cache"}});
    misses = &lookups.Add({{"source", "daemon"}});
    stale = &lookups.Add({{"source", "stale"}});
    local = &lookups.Add({{"source", "synced"}});
    errors = &lookups.Add({{"source", "default"}});
    reconnects = &prometheus::BuildCounter()
                      .Name("cutover_client_stream_reconnects_total")
                      .Help("Watch stream reconnections.")
                      .Register(registry)
                      .Add({});
    idle_timeouts =
        &prometheus::BuildCounter()
             .Name("cutover_client_stream_idle_timeouts_total")
             .Help("Watch streams cancelled for silence past the idle timeout.")
             .Register(registry)
             .Add({});
    invalidations = &prometheus::BuildCounter()
                         .Name("cutover_client_invalidations_total")
                         .Help("Cache invalidations applied from Watch.")
                         .Register(registry)
                         .Add({});
    auto& snapshots =
        prometheus::BuildCounter()
            .Name("cutover_client_snapshot_writes_total")
            .Help("Writes of the client's snapshot file, by result.")
            .Register(registry);
    snapshot_writes = &snapshots.Add({{"result", "ok"}});
    snapshot_failures = &snapshots.Add({{"result", "failed"}});
    entries = &prometheus::BuildGauge()
                   .Name("cutover_client_cache_entries")
                   .Help("Decisions in the cache (updated on misses).")
                   .Register(registry)
                   .Add({});
  }
  prometheus::Counter* evaluated;
  prometheus::Counter* hits;
  prometheus::Counter* misses;
  prometheus::Counter* stale;
  prometheus::Counter* local;
  prometheus::Counter* errors;
  prometheus::Counter* reconnects;
  prometheus::Counter* idle_timeouts;
  prometheus::Counter* invalidations;
  prometheus::Counter* snapshot_writes;
  prometheus::Counter* snapshot_failures;
  prometheus::Gauge* entries;
};

struct Client::Counters {
  // Cache hits are counted per thread: no locked instruction on the hit
  // path (tests/bench/client_bench).
  PerThreadCounter hits;
  // Local decisions while synced, by flag slot, stage and reason: for the
  // daemon, and (Total) for stats and the evaluated counter.
  LocalDecisionCounts local_decisions;
  std::atomic<uint64_t> misses{0}, stale{0}, local{0}, errors{0},
      reconnects{0}, idle_timeouts{0}, invalidations{0}, snapshot_writes{0},
      snapshot_failures{0};
  std::atomic<Metrics*> metrics{nullptr};

  // Counts one; exported at once (a per-thread counter is exported by
  // Client::ExportPerThreadCountsLocked instead: the hot paths write no
  // line another thread writes, and a prometheus::Counter is one).
  void Add(PerThreadCounter& counter) { counter.Add(); }
  void Add(std::atomic<uint64_t>& counter,
           prometheus::Counter* Metrics::*exported) {
    counter.fetch_add(1, std::memory_order_relaxed);
    if (Metrics* m = metrics.load(std::memory_order_acquire)) {
      (m->*exported)->Increment();
    }
  }
};

}  // namespace cutover

#endif  // CUTOVER_CLIENT_CLIENT_COUNTERS_H_
