// The server's API edge: its records (server/records.h) and commands
// (server/commands.h) to and from the cutover.v1 messages. The Admin
// service converts each request and answer here, the Watch stream's events
// are built here (once per change, by FlagRegistry, and for a RESET's
// state by the ChangeHub), and history diffs compare the API form of a
// flag or segment. What maps between core and API types is convert/'s;
// this adds what only the server has (the last change of an object, its
// history, backfill jobs, commands).
//
// Conversions from the API are total, like convert/'s: an enum value this
// build does not know becomes unspecified, and the registry refuses it.
//
// Pure functions; thread-safe.
#ifndef CUTOVER_SERVER_API_EDGE_H_
#define CUTOVER_SERVER_API_EDGE_H_

#include "cutover/v1/cutover.pb.h"
#include "server/commands.h"
#include "server/records.h"

namespace cutover {

// Records to the API (into new, empty messages) ------------------------------
void ToApi(const FlagRecord& flag, v1::Flag* out);
void ToApi(const SegmentRecord& segment, v1::Segment* out);
void ToApi(const HistoryRecord& entry, v1::HistoryEntry* out);
void ToApi(const BackfillJob& job, v1::BackfillJob* out);
void ToApi(const ApplyResult& result, v1::ApplyResponse* out);
void ToApi(const BackupRecord& backup, v1::Backup* out);
// server/api_edge_ramps.cc
void ToApi(const RampStatusRecord& status, v1::RampStatus* out);
// The Watch event of a committed change: FLAG_UPSERTED or FLAG_ARCHIVED
// (the flag is archived), SEGMENT_UPSERTED or SEGMENT_DELETED.
v1::WatchEvent ToWatchEvent(const ChangeRecord& change);

// Records from the API --------------------------------------------------------
FlagRecord FromApi(const v1::Flag& flag);
SegmentRecord FromApi(const v1::Segment& segment);
HistoryRecord FromApi(const v1::HistoryEntry& entry);
BackfillJob FromApi(const v1::BackfillJob& job);
// An event that is no change (RESET, SYNCED, HEARTBEAT) gives a record
// with neither flag nor segment.
ChangeRecord FromApi(const v1::WatchEvent& event);

BackfillPhase FromApi(v1::BackfillPhase phase);
v1::BackfillPhase ToApi(BackfillPhase phase);
// A request's direction: unset is kForward (as before directions
// existed); a value the API does not define is kUnspecified, which
// BackfillJobs refuses.
BackfillDirection FromApi(v1::BackfillDirection direction);
v1::BackfillDirection ToApi(BackfillDirection direction);

// Admin requests to commands --------------------------------------------------
CreateFlagCommand ToCommand(const v1::CreateFlagRequest& request);
ReplaceFlagCommand ToCommand(const v1::ReplaceFlagRequest& request);
ArchiveFlagCommand ToCommand(const v1::ArchiveFlagRequest& request);
SetStageCommand ToCommand(const v1::SetStageRequest& request);
SetRolloutCommand ToCommand(const v1::SetRolloutRequest& request);
AddRuleCommand ToCommand(const v1::AddRuleRequest& request);
RemoveRuleCommand ToCommand(const v1::RemoveRuleRequest& request);
SetEnabledCommand ToCommand(const v1::SetEnabledRequest& request);
RollbackCommand ToCommand(const v1::RollbackRequest& request);
CreateSegmentCommand ToCommand(const v1::CreateSegmentRequest& request);
ReplaceSegmentCommand ToCommand(const v1::ReplaceSegmentRequest& request);
DeleteSegmentCommand ToCommand(const v1::DeleteSegmentRequest& request);
ApplyFileCommand ToCommand(const v1::ApplyRequest& request);
StartBackfillCommand ToCommand(const v1::StartBackfillRequest& request);
CheckpointBackfillCommand ToCommand(
    const v1::CheckpointBackfillRequest& request);
ResetBackfillCommand ToCommand(const v1::ResetBackfillRequest& request);
SetRampPlanCommand ToCommand(const v1::SetRampPlanRequest& request);
RampControl FromApi(v1::RampControl action);

}  // namespace cutover

#endif  // CUTOVER_SERVER_API_EDGE_H_
