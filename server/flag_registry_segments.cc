// FlagRegistry's segment writes (the rest is in server/flag_registry.cc).
#include "server/flag_registry.h"

#include <algorithm>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "convert/flag_diff.h"
#include "core/currency.h"
#include "server/api_edge.h"
#include "server/registry_writes.h"

namespace cutover {
namespace {

using registry_writes::ChangeTime;
using registry_writes::CheckMembershipMoves;
using registry_writes::CopyOf;
using registry_writes::RequireKey;
using registry_writes::SegmentNotFound;
using registry_writes::StaleVersion;

// The diff lines of a segment change, as the API shows the segment
// (nullptr before: a new segment; nullptr after: deleted).
std::vector<std::string> SegmentDiff(const SegmentRecord* before,
                                     const SegmentRecord* after) {
  v1::Segment api_before;
  v1::Segment api_after;
  if (before != nullptr) ToApi(*before, &api_before);
  if (after != nullptr) ToApi(*after, &api_after);
  return DiffMessages(api_before, api_after);
}

}  // namespace

absl::StatusOr<SegmentRecord> FlagRegistry::CreateSegment(
    const CreateSegmentCommand& command, const Caller& caller) {
  Segment segment = command.segment;
  segment.version = 0;
  if (segment.key.empty()) {
    return absl::InvalidArgumentError("segment.key: required");
  }
  absl::MutexLock lock(&write_mu_);
  if (hub_->snapshot()->segment_records.contains(segment.key)) {
    return absl::AlreadyExistsError(
        absl::StrCat("segment '", segment.key, "' already exists"));
  }
  return CommitSegment(nullptr, &segment, "segment-create", command.comment,
                       caller);
}

absl::StatusOr<SegmentRecord> FlagRegistry::ReplaceSegment(
    const ReplaceSegmentCommand& command, const Caller& caller) {
  if (command.expected_version <= 0) {
    return absl::InvalidArgumentError(
        "expected_version: required (the version you last read, > 0)");
  }
  Segment segment = command.segment;
  segment.version = 0;
  if (absl::Status s = RequireKey(segment.key); !s.ok()) {
    return absl::InvalidArgumentError("segment.key: required");
  }
  absl::MutexLock lock(&write_mu_);
  auto snapshot = hub_->snapshot();
  auto it = snapshot->segment_records.find(segment.key);
  if (it == snapshot->segment_records.end()) {
    return SegmentNotFound(segment.key);
  }
  const int64_t current = it->second->segment.version;
  if (current != command.expected_version) {
    return StaleVersion("segment", segment.key, current,
                        command.expected_version);
  }
  if (absl::Status s = CheckMembershipMoves(*snapshot, it->second->segment,
                                            segment);
      !s.ok()) {
    return s;
  }
  return CommitSegment(it->second.get(), &segment, "segment-replace",
                       command.comment, caller);
}

absl::StatusOr<SegmentRecord> FlagRegistry::DeleteSegment(
    const DeleteSegmentCommand& command, const Caller& caller) {
  if (absl::Status s = RequireKey(command.key); !s.ok()) return s;
  absl::MutexLock lock(&write_mu_);
  auto snapshot = hub_->snapshot();
  auto it = snapshot->segment_records.find(command.key);
  if (it == snapshot->segment_records.end()) {
    return SegmentNotFound(command.key);
  }
  const int64_t current = it->second->segment.version;
  if (command.expected_version > 0 && current != command.expected_version) {
    return StaleVersion("segment", command.key, current,
                        command.expected_version);
  }
  std::vector<std::string> users;
  for (const auto& [key, entry] : snapshot->flags) {
    if (entry->record.flag.archived) continue;
    for (const Rule& rule : entry->record.flag.rules) {
      for (const Clause& clause : rule.clauses) {
        if (clause.op == Operator::kInSegment &&
            std::find(clause.values.begin(), clause.values.end(),
                      command.key) != clause.values.end()) {
          users.push_back(absl::StrCat(key, " (rule ", rule.id, ")"));
        }
      }
    }
  }
  if (!users.empty()) {
    std::sort(users.begin(), users.end());
    return absl::FailedPreconditionError(
        absl::StrCat("segment '", command.key, "' is used by flag ",
                     absl::StrJoin(users, ", "), "; remove those rules first"));
  }
  return CommitSegment(it->second.get(), nullptr, "segment-delete",
                       command.comment, caller);
}

absl::StatusOr<SegmentRecord> FlagRegistry::CommitSegment(
    const SegmentRecord* before, const Segment* next,
    const std::string& action, const std::string& comment,
    const Caller& caller) {
  const auto snapshot = hub_->snapshot();
  const StageAt at{store_->revision() + 1, ChangeTime()};
  absl::StatusOr<std::optional<Staged>> staged =
      StageSegment(before, next, action, comment, caller, at);
  if (!staged.ok()) return staged.status();
  if (!staged->has_value()) return *before;  // nothing to do
  SegmentRecord after = *(*staged)->change.segment;
  std::vector<Staged> one(1, **std::move(staged));
  if (absl::Status s = CommitStaged(*snapshot, at.revision, std::move(one));
      !s.ok()) {
    return s;
  }
  return after;
}

absl::StatusOr<std::optional<FlagRegistry::Staged>>
FlagRegistry::StageSegment(const SegmentRecord* before, const Segment* next,
                           const std::string& action,
                           const std::string& comment, const Caller& caller,
                           StageAt at) const {
  const int64_t version = before ? before->segment.version + 1 : 1;
  Staged staged;
  SegmentRecord after;
  if (next != nullptr) {
    after.segment = *next;
    after.segment.version = version;
    auto result = CompileSegment(after.segment);
    if (!result.ok()) return result.status();
    staged.compiled_segment = *std::move(result);
  }
  std::vector<std::string> diff =
      SegmentDiff(before, next != nullptr ? &after : nullptr);
  if (before != nullptr && next != nullptr && diff.empty()) {
    return std::nullopt;
  }
  if (next != nullptr) {
    after.last_change = LastChange{at.revision, at.time, caller.actor};
  }

  HistoryRecord& entry = staged.history;
  entry.segment_key = before ? before->segment.key : after.segment.key;
  entry.version = version;
  entry.revision = at.revision;
  entry.action = action;
  entry.actor = caller.actor;
  entry.peer = caller.peer;
  entry.time = at.time;
  if (before) entry.segment_before = *before;
  if (next) entry.segment_after = after;
  entry.diff = std::move(diff);
  entry.comment = comment;
  staged.change.revision = at.revision;
  if (next != nullptr) {
    staged.change.segment = std::move(after);
  } else {
    staged.change.segment = *before;
    staged.change.segment_deleted = true;
  }
  return std::optional<Staged>(std::move(staged));
}

}  // namespace cutover
