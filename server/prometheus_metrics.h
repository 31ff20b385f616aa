// PrometheusMetrics: ServerMetrics counted with prometheus-cpp, plus the
// gauges read at scrape time (flags' stages and rollouts, the store's
// revision and sizes, Watch subscribers, process CPU/memory/fds), served as
// the Prometheus text format on /metrics. The one place in cutoverd that
// includes prometheus-cpp; docs/operations.md describes every metric.
// Implemented in three files: prometheus_metrics_traffic.cc has the
// request-driven families (decisions, Decide latency, reported migration
// operations), prometheus_metrics_ramps.cc the guarded ramps' gauges,
// prometheus_metrics.cc the rest.
//
//   PrometheusMetrics metrics;
//   metrics.WatchState(registry.get());          // scrape-time gauges
//   RETURN_IF_ERROR(metrics.Serve("127.0.0.1:7401"));
//   metrics.CountDecisions("orders", Stage::kLive, Reason::kSplit, 1);
//
// Thread-safe. The FlagRegistry given to WatchState must outlive the
// endpoint (destroy this first, or call StopServing).
#ifndef CUTOVER_SERVER_PROMETHEUS_METRICS_H_
#define CUTOVER_SERVER_PROMETHEUS_METRICS_H_

#include <array>
#include <atomic>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "server/server_metrics.h"

namespace prometheus {
class Collectable;
class Counter;
class Exposer;
class Histogram;
class Registry;
template <typename T>
class Family;
}  // namespace prometheus

namespace cutover {

class FlagRegistry;
class RampEngine;

class PrometheusMetrics final : public ServerMetrics {
 public:
  PrometheusMetrics();
  ~PrometheusMetrics() override;

  PrometheusMetrics(const PrometheusMetrics&) = delete;
  PrometheusMetrics& operator=(const PrometheusMetrics&) = delete;

  // Adds the scrape-time gauges of `registry` (flags, store, Watch).
  void WatchState(FlagRegistry* registry);

  // Adds the gauges of guarded ramps (prometheus_metrics_ramps.cc): each
  // ramp's step and state, each check's last figure and verdict. Call
  // before Serve; `ramps` must outlive serving (StopServing forgets it).
  void WatchRamps(const RampEngine* ramps);

  // Adds gauges a part of the daemon builds at scrape time (a replica's
  // Follower). Call before Serve; `collectable` must work until the
  // metrics are destroyed.
  void AddCollectable(std::shared_ptr<prometheus::Collectable> collectable);

  // Serves /metrics on `listen` ("host:port", port 0 for any).
  // UNAVAILABLE if the address cannot be bound.
  [[nodiscard]] absl::Status Serve(const std::string& listen);
  // The port /metrics is served on (0 if not serving).
  int port() const { return port_; }
  // Stops serving /metrics. Idempotent.
  void StopServing();

  // Everything, in the Prometheus text format, as /metrics serves it.
  std::string ExpositionText() const;

  // Where a decision was made: cutover_decisions_total's `where` label.
  enum class DecisionSite { kDaemon = 0, kClient = 1 };

  void CountDecisions(absl::string_view flag_key, Stage stage, Reason reason,
                      uint64_t n) override;
  void CountClientDecisions(absl::string_view flag_key, Stage stage,
                            Reason reason, uint64_t n) override;
  void ObserveDecideLatency(DecideRpc rpc, absl::Duration latency) override;
  void ObserveBatchSize(int items) override;
  void CountWatchOpened(bool from_revision, bool reset) override;
  void CountWatchEventSent(v1::WatchEvent::Kind kind) override;
  void CountAdminChange(absl::string_view flag_key,
                        absl::string_view action) override;
  void ObserveStoreWrite(absl::Duration write) override;
  void CountAdminRejected(absl::string_view method,
                          absl::StatusCode code) override;
  void CountMigrationOps(const OpCount& count) override;
  void CountTelemetryRejected(uint64_t entries) override;
  void CountClientDropped(uint64_t operations) override;
  void CountFlagdLeftOut(uint64_t flags) override;
  void CountTokenFileReload(absl::string_view result) override;
  void CountStreamsRevoked(uint64_t streams) override;

 private:
  // Stage values 0..6 times Reason values 0..8.
  static constexpr int kStageValues = 7;
  static constexpr int kReasonValues = 9;
  static constexpr int kWatchKinds = 8;
  // One flag's decision counters by DecisionSite, then stage and reason,
  // created on first use.
  struct FlagDecisionCounters {
    std::array<std::array<std::atomic<prometheus::Counter*>,
                          kStageValues * kReasonValues>,
               2>
        by_site{};
  };
  class StateCollector;
  class RampCollector;
  // The ramp collector as the exposer takes it, and forgetting its engine
  // (prometheus_metrics_ramps.cc, where RampCollector is complete).
  std::shared_ptr<prometheus::Collectable> RampsCollectable() const;
  void ForgetRamps();

  // The families of prometheus_metrics_traffic.cc, registered in `r`.
  void RegisterDecisionFamilies(prometheus::Registry& r);
  void RegisterTelemetryFamilies(prometheus::Registry& r);
  void CountDecisionsMadeBy(DecisionSite where, absl::string_view flag_key,
                            Stage stage, Reason reason, uint64_t n);
  prometheus::Counter* DecisionCounter(absl::string_view flag_key,
                                       DecisionSite where, int slot,
                                       Stage stage, Reason reason);

  std::shared_ptr<prometheus::Registry> registry_;
  std::shared_ptr<StateCollector> state_;
  std::shared_ptr<RampCollector> ramps_;  // null until WatchRamps
  std::vector<std::shared_ptr<prometheus::Collectable>> added_;
  std::unique_ptr<prometheus::Exposer> exposer_;
  int port_ = 0;
  // The numeric address StopServing connects to (the listen address, or
  // loopback for a wildcard one); empty if it is a name.
  std::string wake_host_;

  prometheus::Family<prometheus::Counter>* decisions_;
  std::array<prometheus::Histogram*, 2> decide_latency_;  // by DecideRpc
  prometheus::Histogram* batch_size_;
  std::array<prometheus::Counter*, 3> watch_opened_;  // new, resume, resync
  std::array<prometheus::Counter*, kWatchKinds> watch_events_;
  prometheus::Family<prometheus::Counter>* admin_changes_;
  prometheus::Family<prometheus::Counter>* admin_rejected_;
  prometheus::Histogram* store_write_;
  prometheus::Family<prometheus::Counter>* migration_ops_;
  prometheus::Family<prometheus::Counter>* comparisons_;
  prometheus::Family<prometheus::Counter>* mismatches_;
  prometheus::Family<prometheus::Histogram>* migration_latency_;
  prometheus::Counter* telemetry_rejected_;
  prometheus::Counter* client_dropped_;
  prometheus::Counter* flagd_left_out_;
  prometheus::Family<prometheus::Counter>* token_file_reloads_;
  prometheus::Counter* streams_revoked_;

  mutable absl::Mutex decisions_mu_;
  absl::flat_hash_map<std::string, std::unique_ptr<FlagDecisionCounters>>
      decision_counters_ ABSL_GUARDED_BY(decisions_mu_);
};

}  // namespace cutover

#endif  // CUTOVER_SERVER_PROMETHEUS_METRICS_H_
