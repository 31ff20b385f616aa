// FlagRegistry: the admin operations on flags and segments.
//
// Each write is validated by the core (CompileFlag / CompileSegment),
// checked for a stale expected_version (ABORTED), for a forward stage skip
// and against the flag's gates (core/gates.h: FAILED_PRECONDITION naming
// each broken gate, unless forced), committed durably to the Store
// with a history entry and a change event, and only then published as a new
// Snapshot through the ChangeHub. A refused or failed write changes nothing.
// A write that changes nothing (e.g. setting the stage a flag already has)
// is acknowledged without a new version.
//
// Thread-safe: writes are serialised by one mutex; reads use the current
// snapshot and never wait for writes.
#ifndef CUTOVER_SERVER_FLAG_REGISTRY_H_
#define CUTOVER_SERVER_FLAG_REGISTRY_H_

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "cutover/v1/cutover.pb.h"
#include "server/backfill_jobs.h"
#include "server/change_hub.h"
#include "server/server_metrics.h"
#include "server/store.h"

namespace cutover {

// Who is making a change, for the history.
struct Caller {
  std::string actor;  // who (token name, user, or the peer if unknown)
  std::string peer;   // network address
};

class OpAggregator;

class FlagRegistry {
 public:
  // Loads the store's state and compiles it. DATA_LOSS if a stored flag no
  // longer compiles. `metrics` counts committed changes (nullptr: nothing
  // counted) and must outlive the registry. `window` gives the telemetry
  // figures the min_samples and max_mismatch_rate gates read (nullptr: an
  // empty window) and must outlive the registry.
  static absl::StatusOr<std::unique_ptr<FlagRegistry>> Open(
      std::unique_ptr<Store> store, size_t watch_ring_capacity = 10000,
      ServerMetrics* metrics = nullptr, const OpAggregator* window = nullptr);

  ChangeHub& hub() { return *hub_; }
  const Store& store() const { return *store_; }
  const BackfillJobs& backfills() const { return *backfills_; }

  // Reads ------------------------------------------------------------------
  // NOT_FOUND if there is no such flag (archived flags are returned).
  absl::StatusOr<v1::Flag> GetFlag(const std::string& key) const;
  std::vector<v1::Flag> ListFlags(bool include_archived) const;
  absl::StatusOr<std::vector<v1::HistoryEntry>> History(const std::string& key,
                                                        bool segment,
                                                        int limit) const;
  absl::StatusOr<v1::Segment> GetSegment(const std::string& key) const;
  std::vector<v1::Segment> ListSegments() const;

  // Flag writes (return the flag as stored) ---------------------------------
  absl::StatusOr<v1::Flag> CreateFlag(const v1::CreateFlagRequest& request,
                                      const Caller& caller);
  absl::StatusOr<v1::Flag> ReplaceFlag(const v1::ReplaceFlagRequest& request,
                                       const Caller& caller);
  absl::StatusOr<v1::Flag> ArchiveFlag(const v1::ArchiveFlagRequest& request,
                                       const Caller& caller);
  absl::StatusOr<v1::Flag> SetStage(const v1::SetStageRequest& request,
                                    const Caller& caller);
  absl::StatusOr<v1::Flag> SetRollout(const v1::SetRolloutRequest& request,
                                      const Caller& caller);
  absl::StatusOr<v1::Flag> AddRule(const v1::AddRuleRequest& request,
                                   const Caller& caller);
  absl::StatusOr<v1::Flag> RemoveRule(const v1::RemoveRuleRequest& request,
                                      const Caller& caller);
  absl::StatusOr<v1::Flag> SetEnabled(const v1::SetEnabledRequest& request,
                                      const Caller& caller);
  absl::StatusOr<v1::Flag> Rollback(const v1::RollbackRequest& request,
                                    const Caller& caller);

  // Backfill jobs (see BackfillJobs) -----------------------------------------
  // NOT_FOUND for an unknown flag, FAILED_PRECONDITION for an archived one.
  absl::StatusOr<v1::BackfillJob> StartBackfill(
      const v1::StartBackfillRequest& request, const Caller& caller);
  // FAILED_PRECONDITION once the flag is archived.
  absl::StatusOr<v1::BackfillJob> CheckpointBackfill(
      const v1::CheckpointBackfillRequest& request, const Caller& caller);
  absl::StatusOr<v1::BackfillJob> ResetBackfill(
      const v1::ResetBackfillRequest& request, const Caller& caller);

  // Segment writes ----------------------------------------------------------
  absl::StatusOr<v1::Segment> CreateSegment(
      const v1::CreateSegmentRequest& request, const Caller& caller);
  absl::StatusOr<v1::Segment> ReplaceSegment(
      const v1::ReplaceSegmentRequest& request, const Caller& caller);
  absl::StatusOr<v1::Segment> DeleteSegment(
      const v1::DeleteSegmentRequest& request, const Caller& caller);

 private:
  // How a flag write is described in history and checked.
  struct FlagChange {
    std::string key;
    int64_t expected_version = 0;  // 0: any
    std::string action;
    bool force = false;        // allow forward stage skips
    bool stage_check = true;   // false for rollback, archive, enable
    std::string comment;
  };
  using FlagEdit = std::function<absl::Status(v1::Flag& flag)>;

  FlagRegistry(std::unique_ptr<Store> store, std::unique_ptr<ChangeHub> hub,
               ServerMetrics* metrics, const OpAggregator* window,
               std::vector<v1::BackfillJob> backfills);
  // FAILED_PRECONDITION if `key` is an archived flag; NOT_FOUND if it is no
  // flag and `must_exist`.
  absl::Status CheckBackfillFlag(const std::string& key,
                                 bool must_exist) const;
  // What the gates of `flag_key` are checked against now.
  GateFacts FactsFor(const std::string& flag_key) const;
  // store_->Commit, timed and counted as a change of `flag_key` (empty for
  // a segment) by `action`.
  absl::Status CommitTimed(const Mutation& mutation,
                           absl::string_view flag_key,
                           absl::string_view action);

  absl::StatusOr<v1::Flag> ChangeFlag(const FlagChange& change,
                                      const Caller& caller,
                                      const FlagEdit& edit);
  // Validates `next` against `before` (nullptr on create), commits and
  // publishes it. Requires write_mu_.
  absl::StatusOr<v1::Flag> CommitFlag(const v1::Flag* before, v1::Flag next,
                                      const FlagChange& change,
                                      const Caller& caller)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(write_mu_);
  absl::StatusOr<v1::Segment> CommitSegment(const v1::Segment* before,
                                            const v1::Segment* next,
                                            const std::string& action,
                                            const std::string& comment,
                                            const Caller& caller)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(write_mu_);

  std::unique_ptr<Store> store_;
  std::unique_ptr<ChangeHub> hub_;
  ServerMetrics* const metrics_;
  const OpAggregator* const window_;
  std::unique_ptr<BackfillJobs> backfills_;
  absl::Mutex write_mu_;
};

}  // namespace cutover

#endif  // CUTOVER_SERVER_FLAG_REGISTRY_H_
