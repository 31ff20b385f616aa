// The server's model of what it keeps: flags and segments with the
// bookkeeping of their last change, history entries, committed changes
// and backfill jobs. Built on the core model (core/model.h) and free of
// wire formats: the Store persists these records (server/storage_codec.h
// maps them to the on-disk messages), FlagRegistry and BackfillJobs work on
// them, and the services convert them to and from the API at the edge
// (server/api_edge.h).
//
// Plain values; not synchronised. Share them between threads only as const.
#ifndef CUTOVER_SERVER_RECORDS_H_
#define CUTOVER_SERVER_RECORDS_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "core/model.h"
#include "core/ramp.h"

namespace cutover {

// The change that made an object's current version.
struct LastChange {
  int64_t revision = 0;  // the store revision of the change
  absl::Time time = absl::UnixEpoch();
  std::string actor;
};

// A flag as the server keeps it.
struct FlagRecord {
  Flag flag;  // configuration, version, archived
  // Whether the flag's author gave a gates block, even an empty one: the
  // flag reads back (and is compared for changes) as it was written.
  bool gates_given = false;
  LastChange last_change;
  // Whether flag.currency was kept by the daemon that wrote the record
  // (false: written before daemons kept it; see FlagRegistry::Open).
  bool currency_kept = true;
};

struct SegmentRecord {
  Segment segment;  // definition and version
  LastChange last_change;
};

// One change to a flag (flag_key set) or a segment (segment_key set).
struct HistoryRecord {
  std::string flag_key;
  std::string segment_key;
  int64_t version = 0;   // the version the change made
  int64_t revision = 0;  // the store revision of the change
  std::string action;    // "create", "stage", "segment-delete", ...
  std::string actor;
  std::string peer;
  absl::Time time = absl::UnixEpoch();
  std::optional<FlagRecord> flag_before;  // unset on create
  std::optional<FlagRecord> flag_after;
  std::optional<SegmentRecord> segment_before;  // unset on create
  std::optional<SegmentRecord> segment_after;   // unset on delete
  std::vector<std::string> diff;  // one line per changed field
  bool forced = false;            // a stage skip or gate overridden
  std::vector<std::string> overridden_gates;
  std::string comment;
};

// A committed change, as Watch replays it. Exactly one of flag and segment
// is set. A flag change whose flag is archived is the archiving.
struct ChangeRecord {
  int64_t revision = 0;
  std::optional<FlagRecord> flag;        // the flag after the change
  std::optional<SegmentRecord> segment;  // after, or last state if deleted
  bool segment_deleted = false;
};

// What an Apply did (or, dry, would do) with one entry of the file.
struct ApplyEntry {
  std::string path;  // "segments[0]", "flags[2]"
  std::string key;
  bool segment = false;
  // The change as its history entry says it (action "create", "replace",
  // "segment-create" or "segment-replace"); unset if the entry equals
  // what is stored.
  std::optional<HistoryRecord> change;
};

struct ApplyResult {
  // The revision committed; for a dry run or a file that changes nothing,
  // the revision checked against.
  int64_t revision = 0;
  bool committed = false;
  std::vector<ApplyEntry> entries;  // segments, then flags, in file order
};

// Where a flag's guarded ramp is (server/ramp_engine.h). Kept in the
// store's `ramps` family under the flag key; not part of the flag, so a
// change of state alone makes no flag version.
struct RampStateRecord {
  std::string flag_key;
  RampPhase phase = RampPhase::kNotStarted;
  int step = -1;  // the step in effect; -1 before the first
  absl::Time step_started = absl::UnixEpoch();
  // Since when the analyses have been inconclusive; unset otherwise.
  std::optional<absl::Time> inconclusive_since;
  std::string reason;  // why waiting, paused, aborted or rolled back
  // The flag version the ramp last wrote or started from: a flag at
  // another version was changed by someone else.
  int64_t flag_version = 0;
  absl::Time updated = absl::UnixEpoch();
  std::string updated_by;
  // The last analysis (time the Unix epoch: none yet).
  RampAnalysis last_analysis;
};

// A ramp as GetRampStatus shows it: its state, the flag's plan (if it has
// one), and when the hold of the current step ends (running or waiting).
struct RampStatusRecord {
  RampStateRecord state;
  std::optional<RampPlan> plan;
  std::optional<absl::Time> next_step;
};

// Where a backfill job is: COPYING -> VERIFYING -> DONE.
enum class BackfillPhase { kUnspecified, kCopying, kVerifying, kDone };
// The phases a job goes through, in order.
inline constexpr BackfillPhase kBackfillPhases[] = {
    BackfillPhase::kCopying, BackfillPhase::kVerifying, BackfillPhase::kDone};

// "copying", "verifying", "done"; "unspecified" otherwise.
const char* BackfillPhaseName(BackfillPhase phase);

// Which way a backfill job copies: kForward old -> new (the job the
// require_backfill gate reads), kReverse new -> old (the way back after
// `complete`). kUnspecified is not a direction: what a request's unknown
// value becomes, refused by BackfillJobs; a job never has it.
enum class BackfillDirection { kUnspecified, kForward, kReverse };
// Both directions, in the order jobs of one flag are listed.
inline constexpr BackfillDirection kBackfillDirections[] = {
    BackfillDirection::kForward, BackfillDirection::kReverse};

// "forward", "reverse"; "unspecified" otherwise.
const char* BackfillDirectionName(BackfillDirection direction);

// A flag's backfill job of one direction (server/backfill_jobs.h). For a
// kReverse job "old" and "new" swap: its cursors are positions in the new
// database and rows_copied were written to the old one.
struct BackfillJob {
  std::string flag_key;
  BackfillDirection direction = BackfillDirection::kForward;
  BackfillPhase phase = BackfillPhase::kUnspecified;
  std::string run_id;  // the run that may checkpoint
  int64_t sequence = 0;  // checkpoints recorded
  std::string cursor;         // next page of the copy
  std::string verify_cursor;  // next page of the verify pass
  int64_t rows_copied = 0;
  int64_t rows_verified = 0;
  int64_t rows_mismatched = 0;
  int64_t rows_repaired = 0;
  int64_t rows_total_estimate = 0;  // 0: unknown
  double verify_sample_rate = 1;
  double rows_per_second = 0;  // over the current pass's checkpoints
  absl::Time create_time = absl::UnixEpoch();
  absl::Time update_time = absl::UnixEpoch();
  std::optional<absl::Time> copy_done_time;
  std::optional<absl::Time> verify_done_time;
  int64_t runs = 0;
  std::string started_by;
};

// Seconds until the copy pass ends at the job's rate: what is left of the
// estimate over rows_per_second while copying; 0 if unknown or not copying.
double EtaSeconds(const BackfillJob& job);

// A backup of the store that Store::WriteBackup wrote (Admin.CreateBackup).
struct BackupRecord {
  std::string dir;           // the folder that holds it
  int64_t revision = 0;      // the store revision it holds
  int schema_version = 0;    // its store format (docs/storage.md)
  absl::Time create_time = absl::UnixEpoch();
};

}  // namespace cutover

#endif  // CUTOVER_SERVER_RECORDS_H_
