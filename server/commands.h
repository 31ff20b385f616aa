// The admin writes as FlagRegistry and BackfillJobs take them: one command
// per write, in core and server types (core/model.h, server/records.h).
// The Admin service makes each from its request (server/api_edge.h); what
// a field means, and which values are refused, is the registry's to say
// (server/flag_registry.h) and follows the API's documentation.
//
// Plain values; not synchronised.
#ifndef CUTOVER_SERVER_COMMANDS_H_
#define CUTOVER_SERVER_COMMANDS_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "core/model.h"
#include "core/stage.h"
#include "server/records.h"

namespace cutover {

// What most flag writes carry besides their subject and payload.
struct WriteOptions {
  int64_t expected_version = 0;  // 0: any (required > 0 by the replaces)
  bool force = false;   // allow a stage skip or a move a gate refuses
  std::string comment;  // for the history
};

// A new flag. Its version, archived and last change are ignored.
struct CreateFlagCommand {
  FlagRecord flag;
  WriteOptions options;  // expected_version ignored
};

// A flag's whole configuration replaced; flag.flag.key names it.
struct ReplaceFlagCommand {
  FlagRecord flag;
  WriteOptions options;
};

struct ArchiveFlagCommand {
  std::string key;
  WriteOptions options;  // force: archive a flag that serves more than off
};

struct SetStageCommand {
  std::string key;
  Stage stage = Stage::kUnspecified;
  WriteOptions options;
};

struct SetRolloutCommand {
  std::string key;
  Rollout rollout;
  WriteOptions options;
};

struct AddRuleCommand {
  std::string key;
  Rule rule;      // an empty id is assigned
  int index = 0;  // negative or past the end appends
  WriteOptions options;
};

struct RemoveRuleCommand {
  std::string key;
  std::string rule_id;
  WriteOptions options;  // force: allow reading a stale database
};

struct SetEnabledCommand {
  std::string key;
  bool enabled = false;
  WriteOptions options;  // force: allow reading a stale database
};

struct RollbackCommand {
  std::string key;
  int64_t to_version = 0;  // 0: users back to to_stage
  // With to_version 0: the stage no user is served past; kUnspecified:
  // the data-safe one (core/currency.h DataSafeStage).
  Stage to_stage = Stage::kUnspecified;
  bool force = false;  // allow reading a stale database
  std::string comment;
};

// A new segment. Its version and last change are ignored.
struct CreateSegmentCommand {
  Segment segment;
  std::string comment;
};

// A segment's definition replaced; segment.key names it.
struct ReplaceSegmentCommand {
  Segment segment;
  int64_t expected_version = 0;
  std::string comment;
};

struct DeleteSegmentCommand {
  std::string key;
  int64_t expected_version = 0;  // 0: any
  std::string comment;
};

// A whole file's desired state (Admin.Apply): each segment and flag is
// created, or replaced where it differs from the stored one; nothing else
// changes. Each is checked as CreateFlag/ReplaceFlag/CreateSegment/
// ReplaceSegment check it, all against the state the file makes, then all
// are committed as one revision, or none.
struct ApplyFileCommand {
  std::vector<Segment> segments;  // "segments[i]" in refusals
  std::vector<FlagRecord> flags;  // "flags[i]"; output-only fields ignored
  // ABORTED unless the store is at this revision; nullopt: any.
  std::optional<int64_t> expected_revision;
  bool dry_run = false;           // check and report, commit nothing
  bool force = false;  // allow stage skips, broken gates and stale reads
  std::string comment;
};

// Sets (plan set) or removes (plan unset) a flag's ramp plan.
struct SetRampPlanCommand {
  std::string key;
  std::optional<RampPlan> plan;
  WriteOptions options;  // force ignored
};

// What a person asks of a ramp (the API's RampControl; RampEngine::Control).
enum class RampControl { kUnspecified, kStart, kPause, kResume, kAbort, kSkip };

// A change a guarded ramp makes (server/ramp_engine.h): the default serve
// of a step, or (serve unset) the data-safe rollback of a breach; and the
// ramp's state after it, written in the same batch.
struct RampWriteCommand {
  std::string key;
  int64_t expected_version = 0;  // ABORTED if the flag is at another
  std::optional<Serve> serve;
  std::string comment;
  // Its flag_version is set to the version the write leaves the flag at.
  RampStateRecord state;
};

// Starts (or takes over) a run of a flag's backfill job of `direction`.
struct StartBackfillCommand {
  std::string flag_key;
  int64_t rows_total_estimate = 0;  // 0: unknown, or keep the job's
  double verify_sample_rate = 0;    // 0 means 1; kept from the first run
  BackfillDirection direction = BackfillDirection::kForward;
};

// One page of a backfill run.
struct CheckpointBackfillCommand {
  std::string flag_key;
  BackfillDirection direction = BackfillDirection::kForward;
  std::string run_id;
  int64_t sequence = 0;
  BackfillPhase phase = BackfillPhase::kUnspecified;
  std::string cursor;  // the position after the page
  bool pass_done = false;
  int64_t rows_copied = 0;
  int64_t rows_verified = 0;
  int64_t rows_mismatched = 0;
  int64_t rows_repaired = 0;
};

struct ResetBackfillCommand {
  std::string flag_key;
  BackfillDirection direction = BackfillDirection::kForward;
};

}  // namespace cutover

#endif  // CUTOVER_SERVER_COMMANDS_H_
