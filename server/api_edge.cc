#include "server/api_edge.h"

#include "convert/convert.h"
#include "convert/proto_time.h"

namespace cutover {

// --- records to the API ------------------------------------------------------

void ToApi(const FlagRecord& flag, v1::Flag* out) {
  ToProto(flag.flag, out);
  if (flag.gates_given) out->mutable_gates();  // kept even when empty
  out->set_revision(flag.last_change.revision);
  ToProtoTime(flag.last_change.time, out->mutable_update_time());
  out->set_updated_by(flag.last_change.actor);
}

void ToApi(const SegmentRecord& segment, v1::Segment* out) {
  ToProto(segment.segment, out);
  out->set_revision(segment.last_change.revision);
  ToProtoTime(segment.last_change.time, out->mutable_update_time());
  out->set_updated_by(segment.last_change.actor);
}

void ToApi(const HistoryRecord& entry, v1::HistoryEntry* out) {
  out->set_flag_key(entry.flag_key);
  out->set_version(entry.version);
  out->set_revision(entry.revision);
  out->set_action(entry.action);
  out->set_actor(entry.actor);
  out->set_peer(entry.peer);
  ToProtoTime(entry.time, out->mutable_time());
  if (entry.flag_before) ToApi(*entry.flag_before, out->mutable_before());
  if (entry.flag_after) ToApi(*entry.flag_after, out->mutable_after());
  for (const auto& line : entry.diff) out->add_diff(line);
  out->set_forced(entry.forced);
  for (const auto& gate : entry.overridden_gates) {
    out->add_overridden_gates(gate);
  }
  out->set_comment(entry.comment);
  out->set_segment_key(entry.segment_key);
  if (entry.segment_before) {
    ToApi(*entry.segment_before, out->mutable_segment_before());
  }
  if (entry.segment_after) {
    ToApi(*entry.segment_after, out->mutable_segment_after());
  }
}

void ToApi(const BackfillJob& job, v1::BackfillJob* out) {
  out->set_flag_key(job.flag_key);
  out->set_phase(ToApi(job.phase));
  out->set_run_id(job.run_id);
  out->set_sequence(job.sequence);
  out->set_cursor(job.cursor);
  out->set_verify_cursor(job.verify_cursor);
  out->set_rows_copied(job.rows_copied);
  out->set_rows_verified(job.rows_verified);
  out->set_rows_mismatched(job.rows_mismatched);
  out->set_rows_repaired(job.rows_repaired);
  out->set_rows_total_estimate(job.rows_total_estimate);
  out->set_verify_sample_rate(job.verify_sample_rate);
  out->set_rows_per_second(job.rows_per_second);
  out->set_eta_seconds(EtaSeconds(job));
  ToProtoTime(job.create_time, out->mutable_create_time());
  ToProtoTime(job.update_time, out->mutable_update_time());
  if (job.copy_done_time) {
    ToProtoTime(*job.copy_done_time, out->mutable_copy_done_time());
  }
  if (job.verify_done_time) {
    ToProtoTime(*job.verify_done_time, out->mutable_verify_done_time());
  }
  out->set_runs(job.runs);
  out->set_started_by(job.started_by);
  out->set_direction(ToApi(job.direction));
}

v1::WatchEvent ToWatchEvent(const ChangeRecord& change) {
  v1::WatchEvent event;
  event.set_revision(change.revision);
  if (change.flag) {
    event.set_kind(change.flag->flag.archived ? v1::WatchEvent::FLAG_ARCHIVED
                                              : v1::WatchEvent::FLAG_UPSERTED);
    ToApi(*change.flag, event.mutable_flag());
  } else if (change.segment) {
    event.set_kind(change.segment_deleted ? v1::WatchEvent::SEGMENT_DELETED
                                          : v1::WatchEvent::SEGMENT_UPSERTED);
    ToApi(*change.segment, event.mutable_segment());
  }
  return event;
}

// --- records from the API ----------------------------------------------------

FlagRecord FromApi(const v1::Flag& flag) {
  FlagRecord record;
  record.flag = FromProto(flag);
  record.gates_given = flag.has_gates();
  record.last_change = LastChange{flag.revision(),
                                  FromProtoTime(flag.update_time()),
                                  flag.updated_by()};
  return record;
}

SegmentRecord FromApi(const v1::Segment& segment) {
  SegmentRecord record;
  record.segment = FromProto(segment);
  record.last_change = LastChange{segment.revision(),
                                  FromProtoTime(segment.update_time()),
                                  segment.updated_by()};
  return record;
}

HistoryRecord FromApi(const v1::HistoryEntry& entry) {
  HistoryRecord out;
  out.flag_key = entry.flag_key();
  out.segment_key = entry.segment_key();
  out.version = entry.version();
  out.revision = entry.revision();
  out.action = entry.action();
  out.actor = entry.actor();
  out.peer = entry.peer();
  out.time = FromProtoTime(entry.time());
  if (entry.has_before()) out.flag_before = FromApi(entry.before());
  if (entry.has_after()) out.flag_after = FromApi(entry.after());
  if (entry.has_segment_before()) {
    out.segment_before = FromApi(entry.segment_before());
  }
  if (entry.has_segment_after()) {
    out.segment_after = FromApi(entry.segment_after());
  }
  out.diff.assign(entry.diff().begin(), entry.diff().end());
  out.forced = entry.forced();
  out.overridden_gates.assign(entry.overridden_gates().begin(),
                              entry.overridden_gates().end());
  out.comment = entry.comment();
  return out;
}

BackfillJob FromApi(const v1::BackfillJob& job) {
  BackfillJob out;
  out.flag_key = job.flag_key();
  out.phase = FromApi(job.phase());
  out.run_id = job.run_id();
  out.sequence = job.sequence();
  out.cursor = job.cursor();
  out.verify_cursor = job.verify_cursor();
  out.rows_copied = job.rows_copied();
  out.rows_verified = job.rows_verified();
  out.rows_mismatched = job.rows_mismatched();
  out.rows_repaired = job.rows_repaired();
  out.rows_total_estimate = job.rows_total_estimate();
  out.verify_sample_rate = job.verify_sample_rate();
  out.rows_per_second = job.rows_per_second();
  out.create_time = FromProtoTime(job.create_time());
  out.update_time = FromProtoTime(job.update_time());
  if (job.has_copy_done_time()) {
    out.copy_done_time = FromProtoTime(job.copy_done_time());
  }
  if (job.has_verify_done_time()) {
    out.verify_done_time = FromProtoTime(job.verify_done_time());
  }
  out.runs = job.runs();
  out.started_by = job.started_by();
  out.direction = FromApi(job.direction());
  return out;
}

ChangeRecord FromApi(const v1::WatchEvent& event) {
  ChangeRecord change;
  change.revision = event.revision();
  switch (event.kind()) {
    case v1::WatchEvent::FLAG_UPSERTED:
    case v1::WatchEvent::FLAG_ARCHIVED:
      change.flag = FromApi(event.flag());
      break;
    case v1::WatchEvent::SEGMENT_UPSERTED:
    case v1::WatchEvent::SEGMENT_DELETED:
      change.segment = FromApi(event.segment());
      change.segment_deleted =
          event.kind() == v1::WatchEvent::SEGMENT_DELETED;
      break;
    default:
      break;
  }
  return change;
}

BackfillPhase FromApi(v1::BackfillPhase phase) {
  switch (phase) {
    case v1::COPYING:
      return BackfillPhase::kCopying;
    case v1::VERIFYING:
      return BackfillPhase::kVerifying;
    case v1::DONE:
      return BackfillPhase::kDone;
    default:
      return BackfillPhase::kUnspecified;
  }
}

v1::BackfillPhase ToApi(BackfillPhase phase) {
  switch (phase) {
    case BackfillPhase::kCopying:
      return v1::COPYING;
    case BackfillPhase::kVerifying:
      return v1::VERIFYING;
    case BackfillPhase::kDone:
      return v1::DONE;
    case BackfillPhase::kUnspecified:
      break;
  }
  return v1::BACKFILL_PHASE_UNSPECIFIED;
}

BackfillDirection FromApi(v1::BackfillDirection direction) {
  switch (direction) {
    case v1::BACKFILL_DIRECTION_UNSPECIFIED:
    case v1::FORWARD:
      return BackfillDirection::kForward;
    case v1::REVERSE:
      return BackfillDirection::kReverse;
    default:
      return BackfillDirection::kUnspecified;
  }
}

v1::BackfillDirection ToApi(BackfillDirection direction) {
  switch (direction) {
    case BackfillDirection::kForward:
      return v1::FORWARD;
    case BackfillDirection::kReverse:
      return v1::REVERSE;
    case BackfillDirection::kUnspecified:
      break;
  }
  return v1::BACKFILL_DIRECTION_UNSPECIFIED;
}

// --- requests to commands ----------------------------------------------------

CreateFlagCommand ToCommand(const v1::CreateFlagRequest& request) {
  return {FromApi(request.flag()), {0, request.force(), request.comment()}};
}

ReplaceFlagCommand ToCommand(const v1::ReplaceFlagRequest& request) {
  return {FromApi(request.flag()),
          {request.expected_version(), request.force(), request.comment()}};
}

ArchiveFlagCommand ToCommand(const v1::ArchiveFlagRequest& request) {
  return {request.key(),
          {request.expected_version(), request.force(), request.comment()}};
}

SetStageCommand ToCommand(const v1::SetStageRequest& request) {
  return {request.key(), FromProto(request.stage()),
          {request.expected_version(), request.force(), request.comment()}};
}

SetRolloutCommand ToCommand(const v1::SetRolloutRequest& request) {
  return {request.key(), FromProto(request.rollout()),
          {request.expected_version(), request.force(), request.comment()}};
}

AddRuleCommand ToCommand(const v1::AddRuleRequest& request) {
  return {request.key(), FromProto(request.rule()), request.index(),
          {request.expected_version(), request.force(), request.comment()}};
}

RemoveRuleCommand ToCommand(const v1::RemoveRuleRequest& request) {
  return {request.key(), request.rule_id(),
          {request.expected_version(), request.force(), request.comment()}};
}

SetEnabledCommand ToCommand(const v1::SetEnabledRequest& request) {
  return {request.key(), request.enabled(),
          {request.expected_version(), request.force(), request.comment()}};
}

RollbackCommand ToCommand(const v1::RollbackRequest& request) {
  return {request.key(), request.to_version(), FromProto(request.to_stage()),
          request.force(), request.comment()};
}

CreateSegmentCommand ToCommand(const v1::CreateSegmentRequest& request) {
  return {FromProto(request.segment()), request.comment()};
}

ReplaceSegmentCommand ToCommand(const v1::ReplaceSegmentRequest& request) {
  return {FromProto(request.segment()), request.expected_version(),
          request.comment()};
}

DeleteSegmentCommand ToCommand(const v1::DeleteSegmentRequest& request) {
  return {request.key(), request.expected_version(), request.comment()};
}

ApplyFileCommand ToCommand(const v1::ApplyRequest& request) {
  ApplyFileCommand command;
  command.segments.reserve(request.segments_size());
  for (const v1::Segment& segment : request.segments()) {
    command.segments.push_back(FromProto(segment));
  }
  command.flags.reserve(request.flags_size());
  for (const v1::Flag& flag : request.flags()) {
    command.flags.push_back(FromApi(flag));
  }
  if (request.has_expected_revision()) {
    command.expected_revision = request.expected_revision();
  }
  command.dry_run = request.dry_run();
  command.force = request.force();
  command.comment = request.comment();
  return command;
}

void ToApi(const ApplyResult& result, v1::ApplyResponse* out) {
  out->set_revision(result.revision);
  out->set_committed(result.committed);
  for (const ApplyEntry& entry : result.entries) {
    v1::ApplyResult* item = out->add_results();
    item->set_path(entry.path);
    item->set_key(entry.key);
    item->set_segment(entry.segment);
    if (entry.change) ToApi(*entry.change, item->mutable_change());
  }
}

void ToApi(const BackupRecord& backup, v1::Backup* out) {
  out->set_dir(backup.dir);
  out->set_revision(backup.revision);
  out->set_schema_version(backup.schema_version);
  ToProtoTime(backup.create_time, out->mutable_create_time());
}

StartBackfillCommand ToCommand(const v1::StartBackfillRequest& request) {
  return {request.flag_key(), request.rows_total_estimate(),
          request.verify_sample_rate(), FromApi(request.direction())};
}

CheckpointBackfillCommand ToCommand(
    const v1::CheckpointBackfillRequest& request) {
  CheckpointBackfillCommand command;
  command.flag_key = request.flag_key();
  command.direction = FromApi(request.direction());
  command.run_id = request.run_id();
  command.sequence = request.sequence();
  command.phase = FromApi(request.phase());
  command.cursor = request.cursor();
  command.pass_done = request.pass_done();
  command.rows_copied = request.rows_copied();
  command.rows_verified = request.rows_verified();
  command.rows_mismatched = request.rows_mismatched();
  command.rows_repaired = request.rows_repaired();
  return command;
}

ResetBackfillCommand ToCommand(const v1::ResetBackfillRequest& request) {
  return {request.flag_key(), FromApi(request.direction())};
}

}  // namespace cutover
