// PrometheusMetrics (server/prometheus_metrics.h), its request-driven
// families: decisions (the daemon's own, and those clients made locally
// and reported), Decide latency and batch size, and the migration
// operations clients report. server/prometheus_metrics.cc has the rest:
// the Watch, admin and store families, the scrape-time gauges and the
// /metrics endpoint.
#include "server/prometheus_metrics.h"

#include <atomic>
#include <memory>
#include <string>
#include <vector>

#include "core/evaluate.h"
#include "core/migration_ops.h"
#include "core/stage.h"
#include "prometheus/counter.h"
#include "prometheus/family.h"
#include "prometheus/histogram.h"
#include "prometheus/registry.h"

namespace cutover {
namespace {

const prometheus::Histogram::BucketBoundaries kDecideSeconds = {
    5e-6, 1e-5, 2.5e-5, 5e-5, 1e-4,   2.5e-4, 5e-4, 1e-3, 2.5e-3,
    5e-3, 1e-2, 2.5e-2, 5e-2, 1e-1,   2.5e-1, 5e-1, 1};
const prometheus::Histogram::BucketBoundaries kBatchItems = {
    1, 10, 50, 100, 500, 1000, 5000, 10000};

// The buckets of v1::LatencyHistogram (2^i microseconds), so that reported
// histograms add bucket for bucket; the last reported bucket is +Inf.
const prometheus::Histogram::BucketBoundaries& MigrationLatencyBoundaries() {
  static const auto* const bounds = [] {
    auto* bounds = new prometheus::Histogram::BucketBoundaries;
    for (int i = 0; i < kLatencyBuckets - 1; ++i) {
      bounds->push_back(LatencyBucketUpperBoundSeconds(i));
    }
    return bounds;
  }();
  return *bounds;
}

const char* OpResultLabel(OpResult result) {
  return result == OpResult::kFailed ? "error" : "ok";
}

// The `where` label: the decision's maker.
const char* WhereLabel(PrometheusMetrics::DecisionSite where) {
  return where == PrometheusMetrics::DecisionSite::kClient ? "client"
                                                           : "daemon";
}

}  // namespace

void PrometheusMetrics::RegisterDecisionFamilies(prometheus::Registry& r) {
  decisions_ = &prometheus::BuildCounter()
                    .Name("cutover_decisions_total")
                    .Help("Decisions, by flag, stage, reason and where "
                          "they were made (daemon, or client: local "
                          "evaluation, reported).")
                    .Register(r);
  auto& latency = prometheus::BuildHistogram()
                      .Name("cutover_decide_duration_seconds")
                      .Help("Time in the Decide and DecideBatch handlers "
                            "(validation and evaluation, not transport).")
                      .Register(r);
  decide_latency_[static_cast<int>(DecideRpc::kDecide)] =
      &latency.Add({{"rpc", "Decide"}}, kDecideSeconds);
  decide_latency_[static_cast<int>(DecideRpc::kDecideBatch)] =
      &latency.Add({{"rpc", "DecideBatch"}}, kDecideSeconds);
  batch_size_ = &prometheus::BuildHistogram()
                     .Name("cutover_decide_batch_size")
                     .Help("Items per accepted DecideBatch call.")
                     .Register(r)
                     .Add({}, kBatchItems);
}

void PrometheusMetrics::RegisterTelemetryFamilies(prometheus::Registry& r) {
  migration_ops_ = &prometheus::BuildCounter()
                        .Name("cutover_migration_ops_total")
                        .Help("Database operations reported by clients, by "
                              "flag, stage, op, origin and result (ok, "
                              "error).")
                        .Register(r);
  comparisons_ = &prometheus::BuildCounter()
                      .Name("cutover_migration_comparisons_total")
                      .Help("Shadow and live reads whose two answers were "
                            "compared, by flag and stage.")
                      .Register(r);
  mismatches_ = &prometheus::BuildCounter()
                     .Name("cutover_migration_mismatches_total")
                     .Help("Compared reads whose answers differed, by flag "
                           "and stage.")
                     .Register(r);
  migration_latency_ = &prometheus::BuildHistogram()
                            .Name("cutover_migration_op_duration_seconds")
                            .Help("Latency of database operations reported "
                                  "by clients, by flag, op and origin.")
                            .Register(r);
  telemetry_rejected_ = &prometheus::BuildCounter()
                             .Name("cutover_telemetry_rejected_total")
                             .Help("Reported entries refused (unknown flag, "
                                   "malformed batch, aggregate full).")
                             .Register(r)
                             .Add({});
  client_dropped_ = &prometheus::BuildCounter()
                         .Name("cutover_telemetry_client_dropped_total")
                         .Help("Operations clients said they could not "
                               "report (queue full, daemon unreachable).")
                         .Register(r)
                         .Add({});
}

prometheus::Counter* PrometheusMetrics::DecisionCounter(
    absl::string_view flag_key, DecisionSite where, int slot, Stage stage,
    Reason reason) {
  absl::MutexLock lock(&decisions_mu_);
  auto& counters = decision_counters_[std::string(flag_key)];
  if (counters == nullptr) counters = std::make_unique<FlagDecisionCounters>();
  prometheus::Counter* counter =
      &decisions_->Add({{"flag", std::string(flag_key)},
                        {"stage", StageName(stage)},
                        {"reason", ReasonName(reason)},
                        {"where", WhereLabel(where)}});
  counters->by_site[static_cast<int>(where)][slot].store(
      counter, std::memory_order_release);
  return counter;
}

void PrometheusMetrics::CountDecisionsMadeBy(DecisionSite where,
                                             absl::string_view flag_key,
                                             Stage stage, Reason reason,
                                             uint64_t n) {
  const int stage_value = static_cast<int>(stage);
  const int reason_value = static_cast<int>(reason);
  if (stage_value < 0 || stage_value >= kStageValues || reason_value < 0 ||
      reason_value >= kReasonValues) {
    return;
  }
  const int slot = stage_value * kReasonValues + reason_value;
  prometheus::Counter* counter = nullptr;
  {
    absl::ReaderMutexLock lock(&decisions_mu_);
    auto it = decision_counters_.find(flag_key);
    if (it != decision_counters_.end()) {
      counter = it->second->by_site[static_cast<int>(where)][slot].load(
          std::memory_order_acquire);
    }
  }
  if (counter == nullptr) {
    counter = DecisionCounter(flag_key, where, slot, stage, reason);
  }
  counter->Increment(static_cast<double>(n));
}

void PrometheusMetrics::CountDecisions(absl::string_view flag_key,
                                       Stage stage, Reason reason,
                                       uint64_t n) {
  CountDecisionsMadeBy(DecisionSite::kDaemon, flag_key, stage, reason, n);
}

void PrometheusMetrics::CountClientDecisions(absl::string_view flag_key,
                                             Stage stage, Reason reason,
                                             uint64_t n) {
  CountDecisionsMadeBy(DecisionSite::kClient, flag_key, stage, reason, n);
}

void PrometheusMetrics::ObserveDecideLatency(DecideRpc rpc,
                                             absl::Duration latency) {
  decide_latency_[static_cast<int>(rpc)]->Observe(
      absl::ToDoubleSeconds(latency));
}

void PrometheusMetrics::ObserveBatchSize(int items) {
  batch_size_->Observe(items);
}

void PrometheusMetrics::CountMigrationOps(const OpCount& count) {
  const double n = static_cast<double>(count.count);
  const std::string stage = StageName(count.stage);
  switch (count.result) {
    case OpResult::kMatch:
    case OpResult::kMismatch:
      comparisons_->Add({{"flag", count.flag_key}, {"stage", stage}})
          .Increment(n);
      // Created on the first comparison, so the mismatch rate reads 0
      // rather than nothing while answers agree.
      mismatches_->Add({{"flag", count.flag_key}, {"stage", stage}})
          .Increment(count.result == OpResult::kMismatch ? n : 0);
      return;
    case OpResult::kOk:
    case OpResult::kFailed:
      break;
    default:
      return;
  }
  const std::string origin = OriginName(count.origin);
  const std::string op = OpKindName(count.op);
  auto ops = [&](OpResult result) -> prometheus::Counter& {
    return migration_ops_->Add({{"flag", count.flag_key},
                                {"stage", stage},
                                {"op", op},
                                {"origin", origin},
                                {"result", OpResultLabel(result)}});
  };
  ops(count.result).Increment(n);
  // Both results exist from the first report, so error rates read 0 (and
  // rate() sees the first errors) rather than nothing.
  ops(count.result == OpResult::kOk ? OpResult::kFailed : OpResult::kOk)
      .Increment(0);
  if (!count.has_latency) return;
  std::vector<double> increments(kLatencyBuckets, 0);
  for (int i = 0; i < kLatencyBuckets; ++i) {
    increments[i] = static_cast<double>(count.latency[i]);
  }
  migration_latency_
      ->Add({{"flag", count.flag_key}, {"op", op}, {"origin", origin}},
            MigrationLatencyBoundaries())
      .ObserveMultiple(increments, count.latency_sum_seconds);
}

void PrometheusMetrics::CountTelemetryRejected(uint64_t entries) {
  telemetry_rejected_->Increment(static_cast<double>(entries));
}

void PrometheusMetrics::CountClientDropped(uint64_t operations) {
  client_dropped_->Increment(static_cast<double>(operations));
}

}  // namespace cutover
