// ServerMetrics: what cutoverd counts as it serves, as a thin interface so
// that the services never see Prometheus (prometheus_metrics.h is the one
// implementation that does; docs/operations.md lists the metric each call
// feeds).
//
// The base class counts nothing: it is what a service gets when metrics are
// off, and what unit tests pass. Every method is cheap and never blocks on
// I/O; the Decide path calls CountDecisions once per call
// (DecideBatch tallies its items first).
//
// Label values are bounded by construction: callers pass flag keys only for
// flags that exist in the store (unknown keys are counted under
// kUnknownFlagLabel), and never a user id.
//
// Implementations are thread-safe.
#ifndef CUTOVER_SERVER_SERVER_METRICS_H_
#define CUTOVER_SERVER_SERVER_METRICS_H_

#include <cstdint>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "core/evaluate.h"
#include "core/migration_ops.h"
#include "cutover/v1/cutover.pb.h"

namespace cutover {

// The flag label of decisions for keys the store does not have: a
// service asking for a mistyped flag must not add one series per typo.
inline constexpr char kUnknownFlagLabel[] = "(unknown)";

// The evaluation RPCs whose latency is measured.
enum class DecideRpc { kDecide, kDecideBatch };

class ServerMetrics {
 public:
  virtual ~ServerMetrics() = default;

  // Evaluation --------------------------------------------------------------
  // `n` decisions served for `flag_key` (kUnknownFlagLabel for a flag not
  // in the store) with the same stage and reason.
  virtual void CountDecisions(absl::string_view /*flag_key*/, Stage /*stage*/,
                              Reason /*reason*/, uint64_t /*n*/) {}
  // `n` decisions a client made itself (local evaluation) and reported
  // (Telemetry API), labelled as CountDecisions labels the daemon's own.
  virtual void CountClientDecisions(absl::string_view /*flag_key*/,
                                    Stage /*stage*/, Reason /*reason*/,
                                    uint64_t /*n*/) {}
  // Time spent handling one successful Decide or DecideBatch call.
  virtual void ObserveDecideLatency(DecideRpc /*rpc*/,
                                    absl::Duration /*latency*/) {}
  // Items in one accepted DecideBatch call.
  virtual void ObserveBatchSize(int /*items*/) {}

  // Watch -------------------------------------------------------------------
  // A Watch stream opened: from revision 0 (`from_revision` false), or
  // resumed from a revision, replayed (`reset` false) or answered with a
  // RESET and the whole state because it was too old (`reset` true).
  virtual void CountWatchOpened(bool /*from_revision*/, bool /*reset*/) {}
  // One event written to a Watch stream.
  virtual void CountWatchEventSent(v1::WatchEvent::Kind /*kind*/) {}

  // Admin -------------------------------------------------------------------
  // A change of one object committed to the store: `action` as in
  // HistoryEntry.action; `flag_key` empty for a segment change. An Apply
  // counts one per object.
  virtual void CountAdminChange(absl::string_view /*flag_key*/,
                                absl::string_view /*action*/) {}
  // One store commit (one revision, synced) took `write`.
  virtual void ObserveStoreWrite(absl::Duration /*write*/) {}
  // An admin call refused or failed, by method ("SetStage") and code.
  virtual void CountAdminRejected(absl::string_view /*method*/,
                                  absl::StatusCode /*code*/) {}

  // Telemetry ---------------------------------------------------------------
  // One accepted entry of a ReportMigrationOps batch (flag known).
  virtual void CountMigrationOps(const OpCount& /*count*/) {}
  // Entries of reports refused (unknown flag, malformed, over a limit).
  virtual void CountTelemetryRejected(uint64_t /*entries*/) {}
  // Operations clients said they dropped.
  virtual void CountClientDropped(uint64_t /*operations*/) {}
  // Flags the flagd sync left out of a payload (untranslatable), counted
  // once per snapshot revision that has them (server/flagd_sync_service.h).
  virtual void CountFlagdLeftOut(uint64_t /*flags*/) {}
  // A reading of the token file after it changed (server/auth.h):
  // "changed", "unchanged" or "failed" (the old tokens stay).
  virtual void CountTokenFileReload(absl::string_view /*result*/) {}
  // Open streams a reload of the token file ended (their token removed, or
  // its role lowered below the stream's method).
  virtual void CountStreamsRevoked(uint64_t /*streams*/) {}
};

// Decisions of one call counted by kind, so that a DecideBatch of many
// items makes one CountDecisions per distinct (flag, stage, reason). Flag
// labels are compared by address: pass views of the snapshot's keys (or
// kUnknownFlagLabel), alive until Flush.
//
// Not thread-safe: one per call.
class DecisionTally {
 public:
  void Add(absl::string_view flag_label, Stage stage, Reason reason) {
    const Kind kind{flag_label, stage, reason};
    if (run_length_ > 0 && kind == run_kind_) {
      run_length_ += 1;  // the usual batch: one flag, few kinds, in runs
      return;
    }
    EndRun();
    run_kind_ = kind;
    run_length_ = 1;
  }
  void Flush(ServerMetrics& metrics) {
    EndRun();
    for (const auto& [kind, n] : counts_) {
      metrics.CountDecisions(kind.flag_label, kind.stage, kind.reason, n);
    }
    counts_.clear();
  }

 private:
  struct Kind {
    absl::string_view flag_label;
    Stage stage;
    Reason reason;
    bool operator==(const Kind& o) const {
      return flag_label.data() == o.flag_label.data() && stage == o.stage &&
             reason == o.reason;
    }
    template <typename H>
    friend H AbslHashValue(H h, const Kind& k) {
      return H::combine(std::move(h), k.flag_label.data(), k.stage, k.reason);
    }
  };
  void EndRun() {
    if (run_length_ > 0) counts_[run_kind_] += run_length_;
    run_length_ = 0;
  }
  // The latest decisions of one kind, not yet in counts_.
  Kind run_kind_{};
  uint64_t run_length_ = 0;
  absl::flat_hash_map<Kind, uint64_t> counts_;
};

// `metrics`, or a shared ServerMetrics that counts nothing if it is null:
// what components that take an optional ServerMetrics* keep.
inline ServerMetrics* OrNoMetrics(ServerMetrics* metrics) {
  static ServerMetrics* const none = new ServerMetrics;
  return metrics != nullptr ? metrics : none;
}

}  // namespace cutover

#endif  // CUTOVER_SERVER_SERVER_METRICS_H_
