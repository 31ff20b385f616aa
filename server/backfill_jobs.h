// BackfillJobs: the daemon's record of each flag's backfills, checkpointed
// by the driver in the client library (client/backfill.h) and kept in the
// Store. A flag has at most one job per direction: FORWARD copies the old
// database's rows into the new one (the job the require_backfill gate
// reads), REVERSE the new database's into the old one (the way back after
// `complete`). The two are independent: each has its own run, sequence,
// cursors and counts, and every call names the one it means.
//
// A job belongs to one flag and direction and goes COPYING -> VERIFYING ->
// DONE. The
// driver starts a run (Start: a new run_id fences off any earlier run that
// is still going), then records each page with Checkpoint: the cursor after
// the page and the rows it copied, verified, found mismatched and
// repaired. A checkpoint must name the current run and the job's sequence
// (compare-and-set), so a page is counted at most once, however the driver
// crashes and resumes; every checkpoint is synced to disk before it is
// acknowledged.
//
// The rate is an exponentially weighted average of rows per second over
// the checkpoints of the current pass; the ETA is what is left of the copy
// (by the driver's estimate of the total) at that rate.
//
// Thread-safe.
#ifndef CUTOVER_SERVER_BACKFILL_JOBS_H_
#define CUTOVER_SERVER_BACKFILL_JOBS_H_

#include <functional>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "core/gates.h"
#include "server/commands.h"
#include "server/records.h"
#include "server/store.h"

namespace cutover {

// INVALID_ARGUMENT unless `flag_key` is set and no longer than a flag's key
// can be (kMaxKeyLength): every backfill rpc's first check.
absl::Status CheckBackfillFlagKey(absl::string_view flag_key);
// INVALID_ARGUMENT unless `direction` is kForward or kReverse: the second.
absl::Status CheckBackfillDirection(BackfillDirection direction);

class BackfillJobs {
 public:
  using Clock = std::function<absl::Time()>;

  // `store` must outlive this; `loaded` are the jobs the store holds.
  BackfillJobs(Store* store, std::vector<BackfillJob> loaded,
               Clock clock = &absl::Now);

  BackfillJobs(const BackfillJobs&) = delete;
  BackfillJobs& operator=(const BackfillJobs&) = delete;

  // Starts a run of the job of `command.flag_key` and `command.direction`
  // (the caller checked the flag exists and is not archived), creating the
  // job if it has none. INVALID_ARGUMENT for a bad field.
  absl::StatusOr<BackfillJob> Start(const StartBackfillCommand& command,
                                    const std::string& actor);
  // Records one page of the job of `page.flag_key` and `page.direction`.
  // INVALID_ARGUMENT for a bad field (or counts that would overflow the
  // job's totals); NOT_FOUND without a job; ABORTED for another run, a
  // stale sequence or a page of the wrong phase (nothing changes then).
  absl::StatusOr<BackfillJob> Checkpoint(
      const CheckpointBackfillCommand& page);
  // NOT_FOUND if the flag has no job of that direction.
  absl::StatusOr<BackfillJob> Get(
      const std::string& flag_key,
      BackfillDirection direction = BackfillDirection::kForward) const;
  // Sorted by flag key, then direction (forward first).
  std::vector<BackfillJob> List() const;
  // Deletes the job of that direction (returning it). NOT_FOUND if there
  // is none.
  absl::StatusOr<BackfillJob> Reset(
      const std::string& flag_key,
      BackfillDirection direction = BackfillDirection::kForward);

  // What the require_backfill gate needs to know of the flag's FORWARD job.
  BackfillFacts Facts(const std::string& flag_key) const;
  // The same of the flag's job of `direction` (exists false without one).
  BackfillFacts Facts(const std::string& flag_key,
                      BackfillDirection direction) const;

 private:
  using JobKey = std::pair<std::string, BackfillDirection>;

  Store* const store_;
  const Clock clock_;
  mutable absl::Mutex mu_;
  std::map<JobKey, BackfillJob> jobs_ ABSL_GUARDED_BY(mu_);
};

}  // namespace cutover

#endif  // CUTOVER_SERVER_BACKFILL_JOBS_H_
