// FlagRegistry's commit of staged changes, and Apply: a whole file as one
// revision (the rest is in server/flag_registry.cc and
// server/flag_registry_segments.cc).
//
// Why one revision for a whole file rather than one per object: a revision
// names a state of the store, and every state a reader can see (Watch,
// resumption, --expected-revision, a replica following the stream) should
// be one some file or command made, never half a file. Each object still
// gets its own version and history entry, all at that revision.
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "server/api_edge.h"
#include "server/flag_registry.h"
#include "server/registry_writes.h"

namespace cutover {
namespace {

using registry_writes::Archived;
using registry_writes::AssignRuleIds;
using registry_writes::ChangeTime;
using registry_writes::CheckMembershipMoves;
using registry_writes::ClearOutputOnly;
using registry_writes::CopyOf;
using registry_writes::kReplicatedAction;

// Every refusal of an Apply, each named by its entry's path, refused as
// one status.
class Refusals {
 public:
  // A field path follows the entry's with '.' (INVALID_ARGUMENT messages
  // start with the field they name), a sentence follows the entry's key.
  void Add(const std::string& path, const std::string& key,
           const absl::Status& status) {
    if (status.code() == absl::StatusCode::kInvalidArgument) {
      lines_.push_back(absl::StrCat(path, ".", status.message()));
    } else {
      lines_.push_back(
          absl::StrCat(path, " (", key, "): ", status.message()));
    }
    // Bad input outranks a refused move: fix the file first.
    if (code_ == absl::StatusCode::kOk ||
        status.code() == absl::StatusCode::kInvalidArgument) {
      code_ = status.code();
    }
  }
  bool empty() const { return lines_.empty(); }
  absl::Status ToStatus() const {
    return absl::Status(code_,
                        absl::StrCat("apply refused, nothing changed: ",
                                     absl::StrJoin(lines_, "; ")));
  }

 private:
  std::vector<std::string> lines_;
  absl::StatusCode code_ = absl::StatusCode::kOk;
};

// Refuses an empty key and a key given twice in one list ("segments",
// "flags") of the file.
template <typename T, typename KeyOf>
void CheckKeys(const std::vector<T>& entries, const char* list, KeyOf key_of,
               Refusals& refusals) {
  absl::flat_hash_map<std::string, size_t> seen;
  for (size_t i = 0; i < entries.size(); ++i) {
    const std::string& key = key_of(entries[i]);
    const std::string path = absl::StrCat(list, "[", i, "]");
    if (key.empty()) {
      refusals.Add(path, key, absl::InvalidArgumentError("key: required"));
      continue;
    }
    const auto [it, added] = seen.emplace(key, i);
    if (!added) {
      refusals.Add(path, key, absl::InvalidArgumentError(absl::StrCat(
                             "key: '", key, "' is already the key of ", list,
                             "[", it->second, "]")));
    }
  }
}

}  // namespace

absl::Status FlagRegistry::CommitStaged(
    const Snapshot& base, int64_t revision, std::vector<Staged> staged,
    std::vector<RampStateRecord> ramp_states) {
  Mutation mutation;
  mutation.revision = revision;
  mutation.ramp_states = std::move(ramp_states);
  std::vector<std::string> actions;  // for the metrics
  for (Staged& change : staged) {
    mutation.changes.push_back(std::move(change.change));
    if (change.history.action.empty()) {  // replicated: no history here
      actions.push_back(kReplicatedAction);
      continue;
    }
    actions.push_back(change.history.action);
    mutation.history.push_back(std::move(change.history));
  }
  const absl::Time start = absl::Now();
  if (absl::Status s = store_->Commit(mutation); !s.ok()) return s;
  metrics_->ObserveStoreWrite(absl::Now() - start);

  auto published = CopyOf(base, revision);
  std::vector<v1::WatchEvent> events;
  events.reserve(staged.size());
  for (size_t i = 0; i < staged.size(); ++i) {
    const ChangeRecord& change = mutation.changes[i];
    const std::string& action = actions[i];
    if (change.flag) {
      const std::string& key = change.flag->flag.key;
      metrics_->CountAdminChange(key, action);
      published->flags = published->flags.With(
          key, MakeFlagEntry(*change.flag, staged[i].compiled_flag));
    } else {
      const std::string& key = change.segment->segment.key;
      metrics_->CountAdminChange("", action);
      if (change.segment_deleted) {
        published->segment_records.erase(key);
        published->segments.erase(key);
      } else {
        published->segment_records[key] =
            std::make_shared<const SegmentRecord>(*change.segment);
        published->segments[key] = staged[i].compiled_segment;
      }
    }
    events.push_back(ToWatchEvent(change));
  }
  hub_->Publish(std::move(published), std::move(events));
  return absl::OkStatus();
}

absl::StatusOr<ApplyResult> FlagRegistry::Apply(
    const ApplyFileCommand& command, const Caller& caller) {
  Refusals refusals;
  CheckKeys(command.segments, "segments",
            [](const Segment& segment) -> const std::string& {
              return segment.key;
            },
            refusals);
  CheckKeys(command.flags, "flags",
            [](const FlagRecord& flag) -> const std::string& {
              return flag.flag.key;
            },
            refusals);
  if (!refusals.empty()) return refusals.ToStatus();

  absl::MutexLock lock(&write_mu_);
  const auto snapshot = hub_->snapshot();
  if (command.expected_revision.has_value() &&
      *command.expected_revision != snapshot->revision) {
    return absl::AbortedError(absl::StrCat(
        "expected_revision: the store is at revision ", snapshot->revision,
        ", not ", *command.expected_revision,
        "; something changed since: check the file again (dry run) and "
        "retry"));
  }
  const StageAt at{store_->revision() + 1, ChangeTime()};
  // The state the file makes, for its flags' checks: its segments first.
  Snapshot working = *snapshot;
  ApplyResult result;
  result.revision = snapshot->revision;
  std::vector<Staged> staged;

  for (size_t i = 0; i < command.segments.size(); ++i) {
    Segment next = command.segments[i];
    next.version = 0;
    ApplyEntry entry{absl::StrCat("segments[", i, "]"), next.key, true, {}};
    auto it = snapshot->segment_records.find(next.key);
    const SegmentRecord* before =
        it == snapshot->segment_records.end() ? nullptr : it->second.get();
    if (before != nullptr) {
      absl::Status moves =
          CheckMembershipMoves(*snapshot, before->segment, next);
      if (!moves.ok()) {
        refusals.Add(entry.path, entry.key, moves);
        continue;
      }
    }
    absl::StatusOr<std::optional<Staged>> change = StageSegment(
        before, &next, before ? "segment-replace" : "segment-create",
        command.comment, caller, at);
    if (!change.ok()) {
      refusals.Add(entry.path, entry.key, change.status());
      continue;
    }
    if (change->has_value()) {
      Staged& segment = **change;
      working.segment_records[next.key] =
          std::make_shared<const SegmentRecord>(*segment.change.segment);
      working.segments[next.key] = segment.compiled_segment;
      entry.change = segment.history;
      staged.push_back(std::move(segment));
    }
    result.entries.push_back(std::move(entry));
  }

  for (size_t i = 0; i < command.flags.size(); ++i) {
    FlagRecord next = command.flags[i];
    ClearOutputOnly(next);
    AssignRuleIds(next.flag);
    ApplyEntry entry{absl::StrCat("flags[", i, "]"), next.flag.key, false, {}};
    const FlagTable::Slot* slot = snapshot->flags.Find(next.flag.key);
    const FlagRecord* before = slot ? &slot->second->record : nullptr;
    if (before != nullptr && before->flag.archived) {
      refusals.Add(entry.path, entry.key, Archived(entry.key));
      continue;
    }
    const FlagChange change_kind{next.flag.key,   0,    before ? "replace" : "create",
                                 command.force,   true, command.comment};
    absl::StatusOr<std::optional<Staged>> change =
        StageFlag(working, before, std::move(next), change_kind, caller, at);
    if (!change.ok()) {
      refusals.Add(entry.path, entry.key, change.status());
      continue;
    }
    if (change->has_value()) {
      entry.change = (*change)->history;
      staged.push_back(**std::move(change));
    }
    result.entries.push_back(std::move(entry));
  }

  if (!refusals.empty()) return refusals.ToStatus();
  if (command.dry_run || staged.empty()) return result;
  if (absl::Status s = CommitStaged(*snapshot, at.revision, std::move(staged));
      !s.ok()) {
    return s;
  }
  result.revision = at.revision;
  result.committed = true;
  return result;
}

}  // namespace cutover
