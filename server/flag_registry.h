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
// The registry speaks the server's types: commands in (server/commands.h),
// records out (server/records.h); the services convert at the API edge
// (server/api_edge.h). Two things it makes are API-shaped, built once per
// change: the Watch event it publishes, and the history's diff lines,
// which compare the API form of the flag or segment.
//
// Thread-safe: writes are serialised by one mutex; reads use the current
// snapshot and never wait for writes.
#ifndef CUTOVER_SERVER_FLAG_REGISTRY_H_
#define CUTOVER_SERVER_FLAG_REGISTRY_H_

#include <atomic>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "server/backfill_jobs.h"
#include "server/change_hub.h"
#include "server/commands.h"
#include "server/records.h"
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

  // A read replica's writes (server/flag_registry_replica.cc): what the
  // primary's Watch stream says, taken as it is (versions, revisions,
  // currencies; no checks, no history), stored durably, then published to
  // this daemon's own watchers. Not mixed with the admin writes above: a
  // replica's AdminService refuses those.
  //
  // One revision's changes, in the order the primary sent them. A revision
  // at or behind the registry's is ignored (already taken); INTERNAL for
  // one that is not the next (the Follower then starts over from what it
  // stored). DATA_LOSS if a flag or segment does not compile here (a
  // primary of a newer version?); nothing is then stored.
  absl::Status ApplyReplicated(int64_t revision,
                               std::vector<ChangeRecord> changes);
  // The primary's whole state after a RESET: every flag and segment
  // replaced, at `revision`; this daemon's watchers get a RESET too.
  absl::Status ResetReplicated(int64_t revision,
                               std::vector<FlagRecord> flags,
                               std::vector<SegmentRecord> segments);

  // Reads ------------------------------------------------------------------
  // NOT_FOUND if there is no such flag (archived flags are returned).
  absl::StatusOr<FlagRecord> GetFlag(const std::string& key) const;
  // Sorted by key.
  std::vector<FlagRecord> ListFlags(bool include_archived) const;
  // Newest first; NOT_FOUND if the flag (or segment) never existed.
  absl::StatusOr<std::vector<HistoryRecord>> History(const std::string& key,
                                                     bool segment,
                                                     int limit) const;
  absl::StatusOr<SegmentRecord> GetSegment(const std::string& key) const;
  // Sorted by key.
  std::vector<SegmentRecord> ListSegments() const;

  // Flag writes (return the flag as stored) ---------------------------------
  absl::StatusOr<FlagRecord> CreateFlag(const CreateFlagCommand& command,
                                        const Caller& caller);
  absl::StatusOr<FlagRecord> ReplaceFlag(const ReplaceFlagCommand& command,
                                         const Caller& caller);
  absl::StatusOr<FlagRecord> ArchiveFlag(const ArchiveFlagCommand& command,
                                         const Caller& caller);
  absl::StatusOr<FlagRecord> SetStage(const SetStageCommand& command,
                                      const Caller& caller);
  absl::StatusOr<FlagRecord> SetRollout(const SetRolloutCommand& command,
                                        const Caller& caller);
  absl::StatusOr<FlagRecord> AddRule(const AddRuleCommand& command,
                                     const Caller& caller);
  absl::StatusOr<FlagRecord> RemoveRule(const RemoveRuleCommand& command,
                                        const Caller& caller);
  absl::StatusOr<FlagRecord> SetEnabled(const SetEnabledCommand& command,
                                        const Caller& caller);
  absl::StatusOr<FlagRecord> Rollback(const RollbackCommand& command,
                                      const Caller& caller);

  // Guarded ramps (server/flag_registry_ramps.cc) ---------------------------
  // Sets or removes a flag's ramp plan (action "ramp-set").
  absl::StatusOr<FlagRecord> SetRampPlan(const SetRampPlanCommand& command,
                                         const Caller& caller);
  // A ramp's step (action "ramp-step", checked as SetRollout is, never
  // forced) or breach rollback (action "rollback"), committed with the
  // ramp's state in one synced batch; if the flag would not change, the
  // state alone is written. ABORTED if the flag is not at
  // expected_version; FAILED_PRECONDITION for a refused step.
  absl::StatusOr<FlagRecord> RampWrite(const RampWriteCommand& command,
                                       const Caller& caller);
  // Writes a ramp state alone (no flag change).
  absl::Status PutRampState(const RampStateRecord& state);
  // The ramp states stored when the registry opened (RampEngine loads
  // them once); emptied by the first call.
  std::vector<RampStateRecord> TakeLoadedRampStates();
  // The daemon has a Prometheus (config prometheus_url): ramp plans may
  // have PROMQL checks. Call before serving.
  void AllowPromqlChecks() { promql_allowed_ = true; }

  // A whole file at once (see ApplyFileCommand): every entry checked with
  // the rules of the single writes, against the state the file makes
  // (its segments are there for its flags), then one revision for all of
  // it: each object its own version and history entry, one Watch step.
  // Refused as a whole, naming every refused entry by its path, with
  // nothing stored changed; a dry run returns what the real run would
  // commit, at the revision it checked.
  absl::StatusOr<ApplyResult> Apply(const ApplyFileCommand& command,
                                    const Caller& caller);

  // Backfill jobs (see BackfillJobs) -----------------------------------------
  // NOT_FOUND for an unknown flag, FAILED_PRECONDITION for an archived one.
  absl::StatusOr<BackfillJob> StartBackfill(
      const StartBackfillCommand& command, const Caller& caller);
  // FAILED_PRECONDITION once the flag is archived.
  absl::StatusOr<BackfillJob> CheckpointBackfill(
      const CheckpointBackfillCommand& command, const Caller& caller);
  absl::StatusOr<BackfillJob> ResetBackfill(
      const ResetBackfillCommand& command, const Caller& caller);

  // Segment writes (return the segment as stored; a deleted one as it
  // last was) ----------------------------------------------------------------
  absl::StatusOr<SegmentRecord> CreateSegment(
      const CreateSegmentCommand& command, const Caller& caller);
  absl::StatusOr<SegmentRecord> ReplaceSegment(
      const ReplaceSegmentCommand& command, const Caller& caller);
  absl::StatusOr<SegmentRecord> DeleteSegment(
      const DeleteSegmentCommand& command, const Caller& caller);

 private:
  // How a flag write is described in history and checked.
  struct FlagChange {
    std::string key;
    int64_t expected_version = 0;  // 0: any
    std::string action;
    bool force = false;        // allow skips, broken gates, stale reads
    bool stage_check = true;   // false for rollback, archive, enable
    std::string comment;
    bool stale_check = true;   // false for archive
  };
  using FlagEdit = std::function<absl::Status(FlagRecord& flag)>;

  // One object's change, checked and ready to commit.
  struct Staged {
    ChangeRecord change;  // the flag or segment after the change
    // Its history entry; for a change a replica takes from its primary,
    // none (action empty): the primary keeps the history.
    HistoryRecord history;
    std::shared_ptr<const CompiledFlag> compiled_flag;
    std::shared_ptr<const CompiledSegment> compiled_segment;  // null: deleted
  };
  // Where staged changes are committed: the revision and its time.
  struct StageAt {
    int64_t revision = 0;
    absl::Time time;
  };

  FlagRegistry(std::unique_ptr<Store> store, std::unique_ptr<ChangeHub> hub,
               ServerMetrics* metrics, const OpAggregator* window,
               std::vector<BackfillJob> backfills,
               std::vector<RampStateRecord> ramp_states);
  // FAILED_PRECONDITION if `key` is an archived flag; NOT_FOUND if it is no
  // flag and `must_exist`.
  absl::Status CheckBackfillFlag(const std::string& key,
                                 bool must_exist) const;
  // If a verified backfill clears a stale mark of flag `key`, commits the
  // flag with the mark cleared (action "backfill-verified").
  absl::Status ReconcileCurrency(const std::string& key);
  absl::Status ReconcileAllCurrencies();
  // INVALID_ARGUMENT if the flag's ramp plan reads a longer window than
  // the daemon keeps (config telemetry_window_seconds), or brings a PROMQL
  // check (`previous`, the flag before the write, had none) to a daemon
  // without a Prometheus (AllowPromqlChecks not called). A PROMQL check
  // already stored stays writable: it is inconclusive.
  absl::Status CheckRampForDaemon(const Flag& flag,
                                  const Flag* previous) const;
  // What the gates of `flag_key` are checked against now.
  GateFacts FactsFor(const std::string& flag_key) const;

  absl::StatusOr<FlagRecord> ChangeFlag(const FlagChange& change,
                                        const Caller& caller,
                                        const FlagEdit& edit);
  // Checks `next` against `before` (nullptr on create) and `working` (the
  // segments its rules may name), as every flag write does. nullopt if
  // nothing would change.
  absl::StatusOr<std::optional<Staged>> StageFlag(
      const Snapshot& working, const FlagRecord* before, FlagRecord next,
      const FlagChange& change, const Caller& caller, StageAt at) const;
  // The same for a segment: `next` nullptr deletes `before`.
  absl::StatusOr<std::optional<Staged>> StageSegment(
      const SegmentRecord* before, const Segment* next,
      const std::string& action, const std::string& comment,
      const Caller& caller, StageAt at) const;
  // Commits `staged` (at least one) as revision at.revision on top of
  // `base` and publishes the result as one Watch step. Requires write_mu_.
  absl::Status CommitStaged(const Snapshot& base, int64_t revision,
                            std::vector<Staged> staged,
                            std::vector<RampStateRecord> ramp_states = {})
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(write_mu_);
  // StageFlag then CommitStaged for a single flag write. Requires
  // write_mu_.
  absl::StatusOr<FlagRecord> CommitFlag(const FlagRecord* before,
                                        FlagRecord next,
                                        const FlagChange& change,
                                        const Caller& caller)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(write_mu_);
  // The same for a segment: `next` nullptr deletes `before`.
  absl::StatusOr<SegmentRecord> CommitSegment(const SegmentRecord* before,
                                              const Segment* next,
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
  std::vector<RampStateRecord> loaded_ramp_states_ ABSL_GUARDED_BY(write_mu_);
  std::atomic<bool> promql_allowed_{false};
};

}  // namespace cutover

#endif  // CUTOVER_SERVER_FLAG_REGISTRY_H_
