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
  // A membership change must not move dual-written users to off behind
  // a flag's back (that would make its new database stale unrecorded).
  const MembershipMoves moves = SegmentMoves(&it->second->segment, segment);
  std::vector<std::string> refusals;
  for (const auto& [key, entry] : snapshot->flags) {
    if (entry->record.flag.archived) continue;
    std::vector<std::string> lines =
        SegmentMovesOffDualWrites(entry->record.flag, segment.key, moves);
    refusals.insert(refusals.end(), lines.begin(), lines.end());
  }
  if (!refusals.empty()) {
    std::sort(refusals.begin(), refusals.end());
    return absl::FailedPreconditionError(absl::StrCat(
        "segment ", segment.key, ": replace refused: ",
        absl::StrJoin(refusals, "; "),
        "; moving users from dual writes to off makes the new database "
        "stale, so move them on the flag (a rule or rollback --to off), "
        "where the history and the flag's currency record it"));
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
  const int64_t revision = store_->revision() + 1;
  const int64_t version = before ? before->segment.version + 1 : 1;
  const absl::Time now = ChangeTime();

  std::shared_ptr<const CompiledSegment> compiled;
  SegmentRecord after;
  if (next != nullptr) {
    after.segment = *next;
    after.segment.version = version;
    auto result = CompileSegment(after.segment);
    if (!result.ok()) return result.status();
    compiled = *std::move(result);
  }
  std::vector<std::string> diff =
      SegmentDiff(before, next != nullptr ? &after : nullptr);
  if (before != nullptr && next != nullptr && diff.empty()) return *before;
  if (next != nullptr) {
    after.last_change = LastChange{revision, now, caller.actor};
  }

  Mutation mutation;
  mutation.revision = revision;
  HistoryRecord& entry = mutation.history.emplace();
  entry.segment_key = before ? before->segment.key : after.segment.key;
  entry.version = version;
  entry.revision = revision;
  entry.action = action;
  entry.actor = caller.actor;
  entry.peer = caller.peer;
  entry.time = now;
  if (before) entry.segment_before = *before;
  if (next) entry.segment_after = after;
  entry.diff = std::move(diff);
  entry.comment = comment;
  mutation.change.revision = revision;
  if (next != nullptr) {
    mutation.put_segment = after;
    mutation.change.segment = after;
  } else {
    mutation.delete_segment = before->segment.key;
    mutation.change.segment = *before;
    mutation.change.segment_deleted = true;
  }

  if (absl::Status s = CommitTimed(mutation, "", action); !s.ok()) return s;

  auto published = CopyOf(*snapshot, revision);
  if (next != nullptr) {
    published->segment_records[after.segment.key] =
        std::make_shared<const SegmentRecord>(after);
    published->segments[after.segment.key] = std::move(compiled);
  } else {
    published->segment_records.erase(before->segment.key);
    published->segments.erase(before->segment.key);
  }
  hub_->Publish(std::move(published), ToWatchEvent(mutation.change));
  return next != nullptr ? after : *before;
}

}  // namespace cutover
