#include "server/storage_codec.h"

#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "cutover/storage/v1/storage.pb.h"
#include "convert/currency_proto.h"
#include "convert/proto_time.h"
#include "server/storage_codec_internal.h"

namespace cutover {
namespace {

namespace disk = storage::v1;

// --- enums -------------------------------------------------------------------

disk::Stage ToDisk(Stage stage) {
  switch (stage) {
    case Stage::kOff:
      return disk::STAGE_OFF;
    case Stage::kDualWrite:
      return disk::STAGE_DUALWRITE;
    case Stage::kShadow:
      return disk::STAGE_SHADOW;
    case Stage::kLive:
      return disk::STAGE_LIVE;
    case Stage::kRampDown:
      return disk::STAGE_RAMPDOWN;
    case Stage::kComplete:
      return disk::STAGE_COMPLETE;
    case Stage::kUnspecified:
      break;
  }
  return disk::STAGE_UNSPECIFIED;
}

Stage FromDisk(disk::Stage stage) {
  switch (stage) {
    case disk::STAGE_OFF:
      return Stage::kOff;
    case disk::STAGE_DUALWRITE:
      return Stage::kDualWrite;
    case disk::STAGE_SHADOW:
      return Stage::kShadow;
    case disk::STAGE_LIVE:
      return Stage::kLive;
    case disk::STAGE_RAMPDOWN:
      return Stage::kRampDown;
    case disk::STAGE_COMPLETE:
      return Stage::kComplete;
    default:
      return Stage::kUnspecified;
  }
}

disk::Operator ToDisk(Operator op) {
  switch (op) {
    case Operator::kIn:
      return disk::OPERATOR_IN;
    case Operator::kNotIn:
      return disk::OPERATOR_NOT_IN;
    case Operator::kStartsWith:
      return disk::OPERATOR_STARTS_WITH;
    case Operator::kEndsWith:
      return disk::OPERATOR_ENDS_WITH;
    case Operator::kMatches:
      return disk::OPERATOR_MATCHES;
    case Operator::kSemverEq:
      return disk::OPERATOR_SEMVER_EQ;
    case Operator::kSemverLt:
      return disk::OPERATOR_SEMVER_LT;
    case Operator::kSemverLe:
      return disk::OPERATOR_SEMVER_LE;
    case Operator::kSemverGt:
      return disk::OPERATOR_SEMVER_GT;
    case Operator::kSemverGe:
      return disk::OPERATOR_SEMVER_GE;
    case Operator::kNumberEq:
      return disk::OPERATOR_NUMBER_EQ;
    case Operator::kNumberLt:
      return disk::OPERATOR_NUMBER_LT;
    case Operator::kNumberLe:
      return disk::OPERATOR_NUMBER_LE;
    case Operator::kNumberGt:
      return disk::OPERATOR_NUMBER_GT;
    case Operator::kNumberGe:
      return disk::OPERATOR_NUMBER_GE;
    case Operator::kInSegment:
      return disk::OPERATOR_IN_SEGMENT;
    case Operator::kUnspecified:
      break;
  }
  return disk::OPERATOR_UNSPECIFIED;
}

Operator FromDisk(disk::Operator op) {
  switch (op) {
    case disk::OPERATOR_IN:
      return Operator::kIn;
    case disk::OPERATOR_NOT_IN:
      return Operator::kNotIn;
    case disk::OPERATOR_STARTS_WITH:
      return Operator::kStartsWith;
    case disk::OPERATOR_ENDS_WITH:
      return Operator::kEndsWith;
    case disk::OPERATOR_MATCHES:
      return Operator::kMatches;
    case disk::OPERATOR_SEMVER_EQ:
      return Operator::kSemverEq;
    case disk::OPERATOR_SEMVER_LT:
      return Operator::kSemverLt;
    case disk::OPERATOR_SEMVER_LE:
      return Operator::kSemverLe;
    case disk::OPERATOR_SEMVER_GT:
      return Operator::kSemverGt;
    case disk::OPERATOR_SEMVER_GE:
      return Operator::kSemverGe;
    case disk::OPERATOR_NUMBER_EQ:
      return Operator::kNumberEq;
    case disk::OPERATOR_NUMBER_LT:
      return Operator::kNumberLt;
    case disk::OPERATOR_NUMBER_LE:
      return Operator::kNumberLe;
    case disk::OPERATOR_NUMBER_GT:
      return Operator::kNumberGt;
    case disk::OPERATOR_NUMBER_GE:
      return Operator::kNumberGe;
    case disk::OPERATOR_IN_SEGMENT:
      return Operator::kInSegment;
    default:
      return Operator::kUnspecified;
  }
}

disk::BackfillPhase ToDisk(BackfillPhase phase) {
  switch (phase) {
    case BackfillPhase::kCopying:
      return disk::BACKFILL_PHASE_COPYING;
    case BackfillPhase::kVerifying:
      return disk::BACKFILL_PHASE_VERIFYING;
    case BackfillPhase::kDone:
      return disk::BACKFILL_PHASE_DONE;
    case BackfillPhase::kUnspecified:
      break;
  }
  return disk::BACKFILL_PHASE_UNSPECIFIED;
}

BackfillPhase FromDisk(disk::BackfillPhase phase) {
  switch (phase) {
    case disk::BACKFILL_PHASE_COPYING:
      return BackfillPhase::kCopying;
    case disk::BACKFILL_PHASE_VERIFYING:
      return BackfillPhase::kVerifying;
    case disk::BACKFILL_PHASE_DONE:
      return BackfillPhase::kDone;
    default:
      return BackfillPhase::kUnspecified;
  }
}

disk::BackfillDirection ToDisk(BackfillDirection direction) {
  return direction == BackfillDirection::kReverse
             ? disk::BACKFILL_DIRECTION_REVERSE
             : disk::BACKFILL_DIRECTION_FORWARD;
}

// Unset is a job written before directions existed: FORWARD. Another value
// is kUnspecified, which the decoder refuses.
BackfillDirection FromDisk(disk::BackfillDirection direction) {
  switch (direction) {
    case disk::BACKFILL_DIRECTION_UNSPECIFIED:
    case disk::BACKFILL_DIRECTION_FORWARD:
      return BackfillDirection::kForward;
    case disk::BACKFILL_DIRECTION_REVERSE:
      return BackfillDirection::kReverse;
    default:
      return BackfillDirection::kUnspecified;
  }
}

// --- flags and segments ------------------------------------------------------

void ToDisk(const Clause& clause, disk::Clause* out) {
  out->set_attribute(clause.attribute);
  out->set_op(ToDisk(clause.op));
  for (const auto& value : clause.values) out->add_values(value);
}

Clause FromDisk(const disk::Clause& clause) {
  Clause out;
  out.attribute = clause.attribute();
  out.op = FromDisk(clause.op());
  out.values.assign(clause.values().begin(), clause.values().end());
  return out;
}

void ToDisk(const Serve& serve, disk::Serve* out) {
  if (serve.stage) out->set_stage(ToDisk(*serve.stage));
  if (serve.rollout) {
    disk::Rollout* rollout = out->mutable_rollout();
    for (const Split& split : serve.rollout->splits) {
      disk::Split* s = rollout->add_splits();
      s->set_stage(ToDisk(split.stage));
      s->set_weight(split.weight);
    }
  }
}

Serve FromDisk(const disk::Serve& serve) {
  Serve out;
  switch (serve.kind_case()) {
    case disk::Serve::kStage:
      out.stage = FromDisk(serve.stage());
      break;
    case disk::Serve::kRollout: {
      Rollout& rollout = out.rollout.emplace();
      for (const auto& split : serve.rollout().splits()) {
        rollout.splits.push_back({FromDisk(split.stage()), split.weight()});
      }
      break;
    }
    case disk::Serve::KIND_NOT_SET:
      break;
  }
  return out;
}

void ToDisk(const LastChange& change, disk::LastChange* out) {
  out->set_revision(change.revision);
  ToProtoTime(change.time, out->mutable_time());
  out->set_actor(change.actor);
}

LastChange FromDisk(const disk::LastChange& change) {
  return LastChange{change.revision(), FromProtoTime(change.time()),
                    change.actor()};
}

void ToDisk(const FlagRecord& record, disk::Flag* out) {
  const Flag& flag = record.flag;
  out->set_key(flag.key);
  out->set_description(flag.description);
  out->set_owner(flag.owner);
  for (const auto& tag : flag.tags) out->add_tags(tag);
  out->set_old_target(flag.old_target);
  out->set_new_target(flag.new_target);
  out->set_enabled(flag.enabled);
  out->set_bucket_by(flag.bucket_by);
  for (const Rule& rule : flag.rules) {
    disk::Rule* r = out->add_rules();
    r->set_id(rule.id);
    r->set_description(rule.description);
    for (const Clause& clause : rule.clauses) ToDisk(clause, r->add_clauses());
    ToDisk(rule.serve, r->mutable_serve());
  }
  ToDisk(flag.default_serve, out->mutable_default_serve());
  if (flag.compare_sample_rate) {
    out->set_compare_sample_rate(*flag.compare_sample_rate);
  }
  const Gates& gates = flag.gates;
  if (record.gates_given || gates.require_backfill ||
      gates.max_mismatch_rate || gates.min_samples != 0) {
    disk::Gates* g = out->mutable_gates();
    g->set_require_backfill(gates.require_backfill);
    if (gates.max_mismatch_rate) {
      g->set_max_mismatch_rate(*gates.max_mismatch_rate);
    }
    g->set_min_samples(gates.min_samples);
  }
  if (flag.fallback_stage.has_value()) {
    out->set_fallback_stage(ToDisk(*flag.fallback_stage));
  }
  if (flag.ramp) storage_internal::RampPlanToDisk(*flag.ramp, out->mutable_ramp());
  out->set_version(flag.version);
  out->set_archived(flag.archived);
  ToDisk(record.last_change, out->mutable_last_change());
  CurrencyToProto(flag.currency, out);
  out->set_currency_kept(record.currency_kept);
}

FlagRecord FromDisk(const disk::Flag& flag) {
  FlagRecord record;
  Flag& out = record.flag;
  out.key = flag.key();
  out.description = flag.description();
  out.owner = flag.owner();
  out.tags.assign(flag.tags().begin(), flag.tags().end());
  out.old_target = flag.old_target();
  out.new_target = flag.new_target();
  out.enabled = flag.enabled();
  out.bucket_by = flag.bucket_by();
  for (const auto& rule : flag.rules()) {
    Rule& r = out.rules.emplace_back();
    r.id = rule.id();
    r.description = rule.description();
    for (const auto& clause : rule.clauses()) {
      r.clauses.push_back(FromDisk(clause));
    }
    r.serve = FromDisk(rule.serve());
  }
  out.default_serve = FromDisk(flag.default_serve());
  if (flag.has_compare_sample_rate()) {
    out.compare_sample_rate = flag.compare_sample_rate();
  }
  record.gates_given = flag.has_gates();
  out.gates.require_backfill = flag.gates().require_backfill();
  if (flag.gates().has_max_mismatch_rate()) {
    out.gates.max_mismatch_rate = flag.gates().max_mismatch_rate();
  }
  out.gates.min_samples = flag.gates().min_samples();
  if (flag.has_fallback_stage()) {
    out.fallback_stage = FromDisk(flag.fallback_stage());
  }
  if (flag.has_ramp()) out.ramp = storage_internal::RampPlanFromDisk(flag.ramp());
  out.version = flag.version();
  out.archived = flag.archived();
  out.currency = CurrencyFromProto(flag);
  record.currency_kept = flag.currency_kept();
  record.last_change = FromDisk(flag.last_change());
  return record;
}

void ToDisk(const SegmentRecord& record, disk::Segment* out) {
  const Segment& segment = record.segment;
  out->set_key(segment.key);
  out->set_description(segment.description);
  for (const auto& key : segment.included) out->add_included(key);
  for (const auto& key : segment.excluded) out->add_excluded(key);
  for (const Clause& clause : segment.clauses) {
    ToDisk(clause, out->add_clauses());
  }
  out->set_version(segment.version);
  ToDisk(record.last_change, out->mutable_last_change());
}

SegmentRecord FromDisk(const disk::Segment& segment) {
  SegmentRecord record;
  Segment& out = record.segment;
  out.key = segment.key();
  out.description = segment.description();
  out.included.assign(segment.included().begin(), segment.included().end());
  out.excluded.assign(segment.excluded().begin(), segment.excluded().end());
  for (const auto& clause : segment.clauses()) {
    out.clauses.push_back(FromDisk(clause));
  }
  out.version = segment.version();
  record.last_change = FromDisk(segment.last_change());
  return record;
}

template <typename Message>
absl::StatusOr<Message> Parse(absl::string_view value, const char* what) {
  Message message;
  if (!message.ParseFromArray(value.data(), static_cast<int>(value.size()))) {
    return absl::DataLossError(absl::StrCat("store: cannot parse ", what));
  }
  return message;
}

}  // namespace

namespace storage_internal {
void ServeToDisk(const Serve& serve, storage::v1::Serve* out) {
  ToDisk(serve, out);
}
Serve ServeFromDisk(const storage::v1::Serve& serve) { return FromDisk(serve); }
}  // namespace storage_internal

std::string EncodeFlag(const FlagRecord& flag) {
  disk::Flag message;
  ToDisk(flag, &message);
  return message.SerializeAsString();
}

absl::StatusOr<FlagRecord> DecodeFlag(absl::string_view value) {
  absl::StatusOr<disk::Flag> message = Parse<disk::Flag>(value, "flag");
  if (!message.ok()) return message.status();
  return FromDisk(*message);
}

std::string EncodeSegment(const SegmentRecord& segment) {
  disk::Segment message;
  ToDisk(segment, &message);
  return message.SerializeAsString();
}

absl::StatusOr<SegmentRecord> DecodeSegment(absl::string_view value) {
  absl::StatusOr<disk::Segment> message =
      Parse<disk::Segment>(value, "segment");
  if (!message.ok()) return message.status();
  return FromDisk(*message);
}

std::string EncodeHistory(const HistoryRecord& entry) {
  disk::HistoryEntry message;
  message.set_revision(entry.revision);
  message.set_action(entry.action);
  message.set_actor(entry.actor);
  message.set_peer(entry.peer);
  ToProtoTime(entry.time, message.mutable_time());
  if (entry.flag_before) {
    ToDisk(*entry.flag_before, message.mutable_flag_before());
  }
  if (entry.flag_after) ToDisk(*entry.flag_after, message.mutable_flag_after());
  if (entry.segment_before) {
    ToDisk(*entry.segment_before, message.mutable_segment_before());
  }
  if (entry.segment_after) {
    ToDisk(*entry.segment_after, message.mutable_segment_after());
  }
  for (const auto& line : entry.diff) message.add_diff(line);
  message.set_forced(entry.forced);
  for (const auto& gate : entry.overridden_gates) {
    message.add_overridden_gates(gate);
  }
  message.set_comment(entry.comment);
  return message.SerializeAsString();
}

absl::StatusOr<HistoryRecord> DecodeHistory(absl::string_view value) {
  absl::StatusOr<disk::HistoryEntry> message =
      Parse<disk::HistoryEntry>(value, "history entry");
  if (!message.ok()) return message.status();
  HistoryRecord entry;
  entry.revision = message->revision();
  entry.action = message->action();
  entry.actor = message->actor();
  entry.peer = message->peer();
  entry.time = FromProtoTime(message->time());
  if (message->has_flag_before()) {
    entry.flag_before = FromDisk(message->flag_before());
  }
  if (message->has_flag_after()) {
    entry.flag_after = FromDisk(message->flag_after());
  }
  if (message->has_segment_before()) {
    entry.segment_before = FromDisk(message->segment_before());
  }
  if (message->has_segment_after()) {
    entry.segment_after = FromDisk(message->segment_after());
  }
  entry.diff.assign(message->diff().begin(), message->diff().end());
  entry.forced = message->forced();
  entry.overridden_gates.assign(message->overridden_gates().begin(),
                                message->overridden_gates().end());
  entry.comment = message->comment();
  return entry;
}

namespace {

void ToDisk(const ChangeRecord& change, disk::Change* message) {
  if (change.flag) {
    ToDisk(*change.flag, message->mutable_flag());
  } else if (change.segment) {
    ToDisk(*change.segment, change.segment_deleted
                                ? message->mutable_deleted_segment()
                                : message->mutable_segment());
  }
}

absl::StatusOr<ChangeRecord> FromDisk(const disk::Change& message) {
  ChangeRecord change;
  switch (message.object_case()) {
    case disk::Change::kFlag:
      change.flag = FromDisk(message.flag());
      break;
    case disk::Change::kSegment:
      change.segment = FromDisk(message.segment());
      break;
    case disk::Change::kDeletedSegment:
      change.segment = FromDisk(message.deleted_segment());
      change.segment_deleted = true;
      break;
    case disk::Change::OBJECT_NOT_SET:
      return absl::DataLossError("store: a change names no flag or segment");
  }
  return change;
}

}  // namespace

std::string EncodeChanges(const std::vector<ChangeRecord>& changes) {
  disk::Change message;
  for (size_t i = 0; i < changes.size(); ++i) {
    ToDisk(changes[i], i == 0 ? &message : message.add_more_objects());
  }
  return message.SerializeAsString();
}

absl::StatusOr<std::vector<ChangeRecord>> DecodeChanges(
    absl::string_view value) {
  absl::StatusOr<disk::Change> message = Parse<disk::Change>(value, "change");
  if (!message.ok()) return message.status();
  std::vector<ChangeRecord> changes;
  changes.reserve(1 + message->more_objects_size());
  absl::StatusOr<ChangeRecord> first = FromDisk(*message);
  if (!first.ok()) return first.status();
  changes.push_back(*std::move(first));
  for (const disk::Change& more : message->more_objects()) {
    absl::StatusOr<ChangeRecord> change = FromDisk(more);
    if (!change.ok()) return change.status();
    changes.push_back(*std::move(change));
  }
  return changes;
}

std::string EncodeBackfillJob(const BackfillJob& job) {
  disk::BackfillJob message;
  message.set_phase(ToDisk(job.phase));
  message.set_run_id(job.run_id);
  message.set_sequence(job.sequence);
  message.set_cursor(job.cursor);
  message.set_verify_cursor(job.verify_cursor);
  message.set_rows_copied(job.rows_copied);
  message.set_rows_verified(job.rows_verified);
  message.set_rows_mismatched(job.rows_mismatched);
  message.set_rows_repaired(job.rows_repaired);
  message.set_rows_total_estimate(job.rows_total_estimate);
  message.set_verify_sample_rate(job.verify_sample_rate);
  message.set_rows_per_second(job.rows_per_second);
  ToProtoTime(job.create_time, message.mutable_create_time());
  ToProtoTime(job.update_time, message.mutable_update_time());
  if (job.copy_done_time) {
    ToProtoTime(*job.copy_done_time, message.mutable_copy_done_time());
  }
  if (job.verify_done_time) {
    ToProtoTime(*job.verify_done_time, message.mutable_verify_done_time());
  }
  message.set_runs(job.runs);
  message.set_started_by(job.started_by);
  message.set_direction(ToDisk(job.direction));
  return message.SerializeAsString();
}

absl::StatusOr<BackfillJob> DecodeBackfillJob(absl::string_view value) {
  absl::StatusOr<disk::BackfillJob> message =
      Parse<disk::BackfillJob>(value, "backfill job");
  if (!message.ok()) return message.status();
  BackfillJob job;
  job.phase = FromDisk(message->phase());
  job.run_id = message->run_id();
  job.sequence = message->sequence();
  job.cursor = message->cursor();
  job.verify_cursor = message->verify_cursor();
  job.rows_copied = message->rows_copied();
  job.rows_verified = message->rows_verified();
  job.rows_mismatched = message->rows_mismatched();
  job.rows_repaired = message->rows_repaired();
  job.rows_total_estimate = message->rows_total_estimate();
  job.verify_sample_rate = message->verify_sample_rate();
  job.rows_per_second = message->rows_per_second();
  job.create_time = FromProtoTime(message->create_time());
  job.update_time = FromProtoTime(message->update_time());
  if (message->has_copy_done_time()) {
    job.copy_done_time = FromProtoTime(message->copy_done_time());
  }
  if (message->has_verify_done_time()) {
    job.verify_done_time = FromProtoTime(message->verify_done_time());
  }
  job.runs = message->runs();
  job.started_by = message->started_by();
  job.direction = FromDisk(message->direction());
  if (job.direction == BackfillDirection::kUnspecified) {
    return absl::DataLossError(
        absl::StrCat("store: a backfill job of unknown direction ",
                     static_cast<int>(message->direction())));
  }
  return job;
}

}  // namespace cutover
