#include "server/flag_registry.h"

#include <algorithm>
#include <utility>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "convert/convert.h"
#include "convert/flag_diff.h"
#include "core/gates.h"
#include "core/stage_moves.h"
#include "server/op_aggregator.h"
#include "google/protobuf/util/time_util.h"

namespace cutover {
namespace {

using google::protobuf::util::TimeUtil;

// Drops what the server owns, so input cannot set it.
void ClearOutputOnly(v1::Flag& flag) {
  flag.clear_version();
  flag.clear_archived();
  flag.clear_revision();
  flag.clear_update_time();
  flag.clear_updated_by();
}

void ClearOutputOnly(v1::Segment& segment) {
  segment.clear_version();
  segment.clear_revision();
  segment.clear_update_time();
  segment.clear_updated_by();
}

// Gives every rule without an id the first free "rule-N".
void AssignRuleIds(v1::Flag& flag) {
  absl::flat_hash_set<std::string> taken;
  for (const auto& rule : flag.rules()) taken.insert(rule.id());
  int next = 1;
  for (auto& rule : *flag.mutable_rules()) {
    if (!rule.id().empty()) continue;
    while (taken.contains(absl::StrCat("rule-", next))) ++next;
    rule.set_id(absl::StrCat("rule-", next));
    taken.insert(rule.id());
  }
}

// INVALID_ARGUMENT naming the first IN_SEGMENT value that is not a segment.
absl::Status CheckSegmentsExist(const v1::Flag& flag,
                                const Snapshot& snapshot) {
  for (int r = 0; r < flag.rules_size(); ++r) {
    const auto& rule = flag.rules(r);
    for (int c = 0; c < rule.clauses_size(); ++c) {
      const auto& clause = rule.clauses(c);
      if (clause.op() != v1::IN_SEGMENT) continue;
      for (int v = 0; v < clause.values_size(); ++v) {
        if (!snapshot.segment_protos.contains(clause.values(v))) {
          return absl::InvalidArgumentError(absl::StrCat(
              "rules[", r, "].clauses[", c, "].values[", v, "]: segment '",
              clause.values(v), "' does not exist"));
        }
      }
    }
  }
  return absl::OkStatus();
}

absl::Status StaleVersion(absl::string_view kind, absl::string_view key,
                          int64_t actual, int64_t expected) {
  return absl::AbortedError(absl::StrCat(
      "expected_version: ", kind, " '", key, "' is at version ", actual,
      ", not ", expected, "; read it again and retry"));
}

absl::Status Archived(absl::string_view key) {
  return absl::FailedPreconditionError(absl::StrCat(
      "flag '", key, "' is archived; archived flags cannot change"));
}

absl::Status FlagNotFound(absl::string_view key) {
  return absl::NotFoundError(absl::StrCat("flag '", key, "' not found"));
}

absl::Status SegmentNotFound(absl::string_view key) {
  return absl::NotFoundError(absl::StrCat("segment '", key, "' not found"));
}

absl::Status RequireKey(absl::string_view key) {
  if (key.empty()) return absl::InvalidArgumentError("key: required");
  return absl::OkStatus();
}

std::shared_ptr<Snapshot> CopyOf(const Snapshot& snapshot, int64_t revision) {
  auto next = std::make_shared<Snapshot>(snapshot);
  next->revision = revision;
  return next;
}

}  // namespace

absl::StatusOr<std::unique_ptr<FlagRegistry>> FlagRegistry::Open(
    std::unique_ptr<Store> store, size_t watch_ring_capacity,
    ServerMetrics* metrics, const OpAggregator* window) {
  absl::StatusOr<StoredState> state = store->Load();
  if (!state.ok()) return state.status();
  auto snapshot = std::make_shared<Snapshot>();
  snapshot->revision = state->revision;
  for (auto& proto : state->segments) {
    auto compiled = CompileSegment(FromProto(proto));
    if (!compiled.ok()) {
      return absl::DataLossError(absl::StrCat("stored segment '", proto.key(),
                                              "' is invalid: ",
                                              compiled.status().message()));
    }
    const std::string key = proto.key();  // before the move below
    snapshot->segments[key] = *std::move(compiled);
    snapshot->segment_protos[key] =
        std::make_shared<const v1::Segment>(std::move(proto));
  }
  absl::flat_hash_map<std::string, FlagTable::Entry> flags;
  for (auto& proto : state->flags) {
    auto compiled = CompileFlag(FromProto(proto));
    if (!compiled.ok()) {
      return absl::DataLossError(absl::StrCat("stored flag '", proto.key(),
                                              "' is invalid: ",
                                              compiled.status().message()));
    }
    std::string key = proto.key();
    flags[key] = std::make_shared<const FlagEntry>(
        FlagEntry{std::move(proto), *std::move(compiled)});
  }
  snapshot->flags = FlagTable(std::move(flags));
  auto hub = std::make_unique<ChangeHub>(std::move(snapshot),
                                         std::move(state->recent_changes),
                                         watch_ring_capacity);
  return std::unique_ptr<FlagRegistry>(
      new FlagRegistry(std::move(store), std::move(hub), metrics, window,
                       std::move(state->backfills)));
}

FlagRegistry::FlagRegistry(std::unique_ptr<Store> store,
                           std::unique_ptr<ChangeHub> hub,
                           ServerMetrics* metrics, const OpAggregator* window,
                           std::vector<v1::BackfillJob> backfills)
    : store_(std::move(store)),
      hub_(std::move(hub)),
      metrics_(OrNoMetrics(metrics)),
      window_(window),
      backfills_(std::make_unique<BackfillJobs>(store_.get(),
                                                std::move(backfills))) {}

GateFacts FlagRegistry::FactsFor(const std::string& flag_key) const {
  GateFacts facts;
  facts.backfill = backfills_->Facts(flag_key);
  if (window_ != nullptr) {
    const OpWindowFigures figures = window_->Status(flag_key);
    facts.window.window_seconds = figures.window_seconds;
    facts.window.compared = figures.compared;
    facts.window.mismatches = figures.mismatches;
  }
  return facts;
}

absl::Status FlagRegistry::CommitTimed(const Mutation& mutation,
                                       absl::string_view flag_key,
                                       absl::string_view action) {
  const absl::Time start = absl::Now();
  absl::Status status = store_->Commit(mutation);
  if (status.ok()) {
    metrics_->CountAdminChange(flag_key, action, absl::Now() - start);
  }
  return status;
}

// --- reads -----------------------------------------------------------------

absl::StatusOr<v1::Flag> FlagRegistry::GetFlag(const std::string& key) const {
  if (absl::Status s = RequireKey(key); !s.ok()) return s;
  auto snapshot = hub_->snapshot();
  const FlagTable::Slot* slot = snapshot->flags.Find(key);
  if (slot == nullptr) return FlagNotFound(key);
  return slot->second->proto;
}

std::vector<v1::Flag> FlagRegistry::ListFlags(bool include_archived) const {
  auto snapshot = hub_->snapshot();
  std::vector<v1::Flag> flags;
  for (const auto& [key, entry] : snapshot->flags) {
    if (include_archived || !entry->proto.archived()) {
      flags.push_back(entry->proto);
    }
  }
  std::sort(flags.begin(), flags.end(),
            [](const auto& a, const auto& b) { return a.key() < b.key(); });
  return flags;
}

absl::StatusOr<std::vector<v1::HistoryEntry>> FlagRegistry::History(
    const std::string& key, bool segment, int limit) const {
  if (absl::Status s = RequireKey(key); !s.ok()) return s;
  auto entries =
      store_->History(segment ? SegmentHistorySubject(key) : key, limit);
  if (entries.ok() && entries->empty()) {
    return segment ? SegmentNotFound(key) : FlagNotFound(key);
  }
  return entries;
}

absl::StatusOr<v1::Segment> FlagRegistry::GetSegment(
    const std::string& key) const {
  if (absl::Status s = RequireKey(key); !s.ok()) return s;
  auto snapshot = hub_->snapshot();
  auto it = snapshot->segment_protos.find(key);
  if (it == snapshot->segment_protos.end()) return SegmentNotFound(key);
  return *it->second;
}

std::vector<v1::Segment> FlagRegistry::ListSegments() const {
  auto snapshot = hub_->snapshot();
  std::vector<v1::Segment> segments;
  for (const auto& [key, segment] : snapshot->segment_protos) {
    segments.push_back(*segment);
  }
  std::sort(segments.begin(), segments.end(),
            [](const auto& a, const auto& b) { return a.key() < b.key(); });
  return segments;
}

// --- flag writes -----------------------------------------------------------

absl::StatusOr<v1::Flag> FlagRegistry::CreateFlag(
    const v1::CreateFlagRequest& request, const Caller& caller) {
  v1::Flag flag = request.flag();
  ClearOutputOnly(flag);
  AssignRuleIds(flag);
  if (absl::Status s = RequireKey(flag.key()); !s.ok()) {
    return absl::InvalidArgumentError("flag.key: required");
  }
  absl::MutexLock lock(&write_mu_);
  if (hub_->snapshot()->flags.Find(flag.key()) != nullptr) {
    return absl::AlreadyExistsError(
        absl::StrCat("flag '", flag.key(), "' already exists"));
  }
  FlagChange change{flag.key(), 0, "create", request.force(), true,
                    request.comment()};
  return CommitFlag(nullptr, std::move(flag), change, caller);
}

absl::StatusOr<v1::Flag> FlagRegistry::ReplaceFlag(
    const v1::ReplaceFlagRequest& request, const Caller& caller) {
  if (request.expected_version() <= 0) {
    return absl::InvalidArgumentError(
        "expected_version: required (the version you last read, > 0)");
  }
  v1::Flag replacement = request.flag();
  ClearOutputOnly(replacement);
  AssignRuleIds(replacement);
  FlagChange change{request.flag().key(), request.expected_version(),
                    "replace", request.force(), true, request.comment()};
  return ChangeFlag(change, caller, [&](v1::Flag& flag) {
    flag = replacement;
    return absl::OkStatus();
  });
}

absl::StatusOr<v1::Flag> FlagRegistry::ArchiveFlag(
    const v1::ArchiveFlagRequest& request, const Caller& caller) {
  FlagChange change{request.key(), request.expected_version(), "archive",
                    false, false, request.comment()};
  return ChangeFlag(change, caller, [](v1::Flag& flag) {
    flag.set_archived(true);
    return absl::OkStatus();
  });
}

absl::StatusOr<v1::Flag> FlagRegistry::SetStage(
    const v1::SetStageRequest& request, const Caller& caller) {
  if (FromProto(request.stage()) == Stage::kUnspecified) {
    return absl::InvalidArgumentError(
        "stage: required, one of off, dualwrite, shadow, live, rampdown, "
        "complete");
  }
  FlagChange change{request.key(), request.expected_version(), "stage",
                    request.force(), true, request.comment()};
  return ChangeFlag(change, caller, [&](v1::Flag& flag) {
    flag.mutable_default_serve()->set_stage(request.stage());
    return absl::OkStatus();
  });
}

absl::StatusOr<v1::Flag> FlagRegistry::SetRollout(
    const v1::SetRolloutRequest& request, const Caller& caller) {
  if (request.rollout().splits_size() == 0) {
    return absl::InvalidArgumentError("rollout.splits: at least one split");
  }
  FlagChange change{request.key(), request.expected_version(), "rollout",
                    request.force(), true, request.comment()};
  return ChangeFlag(change, caller, [&](v1::Flag& flag) {
    *flag.mutable_default_serve()->mutable_rollout() = request.rollout();
    return absl::OkStatus();
  });
}

absl::StatusOr<v1::Flag> FlagRegistry::AddRule(
    const v1::AddRuleRequest& request, const Caller& caller) {
  FlagChange change{request.key(), request.expected_version(), "rule-add",
                    request.force(), true, request.comment()};
  return ChangeFlag(change, caller, [&](v1::Flag& flag) {
    auto* rules = flag.mutable_rules();
    rules->Add()->CopyFrom(request.rule());
    // Move the new rule from the end to its place.
    const int index = request.index();
    if (index >= 0 && index < rules->size() - 1) {
      for (int i = rules->size() - 1; i > index; --i) {
        rules->SwapElements(i, i - 1);
      }
    }
    AssignRuleIds(flag);
    return absl::OkStatus();
  });
}

absl::StatusOr<v1::Flag> FlagRegistry::RemoveRule(
    const v1::RemoveRuleRequest& request, const Caller& caller) {
  FlagChange change{request.key(), request.expected_version(), "rule-remove",
                    false, false, request.comment()};
  return ChangeFlag(change, caller, [&](v1::Flag& flag) {
    auto* rules = flag.mutable_rules();
    for (int i = 0; i < rules->size(); ++i) {
      if (rules->Get(i).id() == request.rule_id()) {
        rules->erase(rules->begin() + i);
        return absl::OkStatus();
      }
    }
    return absl::NotFoundError(absl::StrCat("rule_id: flag '", flag.key(),
                                            "' has no rule '",
                                            request.rule_id(), "'"));
  });
}

absl::StatusOr<v1::Flag> FlagRegistry::SetEnabled(
    const v1::SetEnabledRequest& request, const Caller& caller) {
  FlagChange change{request.key(), request.expected_version(),
                    request.enabled() ? "enable" : "disable", false, false,
                    request.comment()};
  return ChangeFlag(change, caller, [&](v1::Flag& flag) {
    flag.set_enabled(request.enabled());
    return absl::OkStatus();
  });
}

absl::StatusOr<v1::Flag> FlagRegistry::Rollback(
    const v1::RollbackRequest& request, const Caller& caller) {
  if (request.to_version() < 0) {
    return absl::InvalidArgumentError("to_version: must be >= 0");
  }
  FlagChange change{request.key(), 0, "rollback", false, false,
                    request.comment()};
  if (request.to_version() == 0) {
    return ChangeFlag(change, caller, [](v1::Flag& flag) {
      flag.clear_rules();
      flag.mutable_default_serve()->set_stage(v1::OFF);
      return absl::OkStatus();
    });
  }
  return ChangeFlag(change, caller, [&](v1::Flag& flag) -> absl::Status {
    // A version not yet made is not found below; the current one is a
    // version, but not an earlier one.
    if (request.to_version() == flag.version()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "to_version: must be an earlier version than the current ",
          flag.version()));
    }
    auto history = store_->History(flag.key(), 0);
    if (!history.ok()) return history.status();
    for (const auto& entry : *history) {
      if (entry.version() == request.to_version()) {
        v1::Flag restored = entry.after();
        ClearOutputOnly(restored);
        restored.set_key(flag.key());
        flag = std::move(restored);
        return absl::OkStatus();
      }
    }
    return absl::NotFoundError(absl::StrCat("to_version: flag '", flag.key(),
                                            "' has no version ",
                                            request.to_version()));
  });
}

absl::StatusOr<v1::Flag> FlagRegistry::ChangeFlag(const FlagChange& change,
                                                  const Caller& caller,
                                                  const FlagEdit& edit) {
  if (absl::Status s = RequireKey(change.key); !s.ok()) return s;
  absl::MutexLock lock(&write_mu_);
  auto snapshot = hub_->snapshot();
  const FlagTable::Slot* slot = snapshot->flags.Find(change.key);
  if (slot == nullptr) return FlagNotFound(change.key);
  const v1::Flag& before = slot->second->proto;
  if (before.archived()) return Archived(change.key);
  if (change.expected_version > 0 &&
      change.expected_version != before.version()) {
    return StaleVersion("flag", change.key, before.version(),
                        change.expected_version);
  }
  v1::Flag next = before;
  if (absl::Status s = edit(next); !s.ok()) return s;
  next.set_key(change.key);
  return CommitFlag(&before, std::move(next), change, caller);
}

absl::StatusOr<v1::Flag> FlagRegistry::CommitFlag(const v1::Flag* before,
                                                  v1::Flag next,
                                                  const FlagChange& change,
                                                  const Caller& caller) {
  const auto snapshot = hub_->snapshot();
  const int64_t revision = store_->revision() + 1;
  const int64_t version = before ? before->version() + 1 : 1;
  next.set_version(version);

  auto compiled = CompileFlag(FromProto(next));
  if (!compiled.ok()) return compiled.status();
  if (absl::Status s = CheckSegmentsExist(next, *snapshot); !s.ok()) return s;

  bool forced = false;
  std::vector<std::string> overridden_gates;
  if (change.stage_check) {
    const Flag before_model = before ? FromProto(*before) : Flag();
    const Flag* previous = before ? &before_model : nullptr;
    absl::Status move = CheckStageMove(previous, (*compiled)->flag());
    if (!move.ok()) {
      if (!change.force) return move;
      forced = true;
    }
    // Only a flag that declares gates pays for reading their facts (the
    // telemetry window is summed under its lock).
    if (DeclaresGates((*compiled)->flag().gates)) {
      overridden_gates =
          BrokenGates(previous, (*compiled)->flag(), FactsFor(next.key()));
    }
    if (!overridden_gates.empty()) {
      if (!change.force) {
        return absl::FailedPreconditionError(absl::StrCat(
            "flag ", next.key(), " is held by its gates: gate ",
            absl::StrJoin(overridden_gates, "; gate "),
            " (force overrides, and the history records it)"));
      }
      forced = true;
    }
  }

  std::vector<std::string> diff =
      DiffMessages(before ? *before : v1::Flag(), next);
  if (before != nullptr && diff.empty()) return *before;  // nothing to do

  const auto now = TimeUtil::GetCurrentTime();
  next.set_revision(revision);
  *next.mutable_update_time() = now;
  next.set_updated_by(caller.actor);

  Mutation mutation;
  mutation.revision = revision;
  mutation.put_flag = next;
  v1::HistoryEntry& entry = mutation.history.emplace();
  entry.set_flag_key(next.key());
  entry.set_version(version);
  entry.set_revision(revision);
  entry.set_action(change.action);
  entry.set_actor(caller.actor);
  entry.set_peer(caller.peer);
  *entry.mutable_time() = now;
  if (before) *entry.mutable_before() = *before;
  *entry.mutable_after() = next;
  for (auto& line : diff) entry.add_diff(std::move(line));
  entry.set_forced(forced);
  for (std::string& gate : overridden_gates) {
    entry.add_overridden_gates(std::move(gate));
  }
  entry.set_comment(change.comment);
  mutation.event.set_kind(next.archived() ? v1::WatchEvent::FLAG_ARCHIVED
                                          : v1::WatchEvent::FLAG_UPSERTED);
  mutation.event.set_revision(revision);
  *mutation.event.mutable_flag() = next;

  if (absl::Status s = CommitTimed(mutation, next.key(), change.action);
      !s.ok()) {
    return s;
  }

  auto published = CopyOf(*snapshot, revision);
  published->flags = published->flags.With(
      next.key(),
      std::make_shared<const FlagEntry>(FlagEntry{next, *std::move(compiled)}));
  hub_->Publish(std::move(published), std::move(mutation.event));
  return next;
}

// --- backfill jobs ---------------------------------------------------------

absl::Status FlagRegistry::CheckBackfillFlag(const std::string& key,
                                             bool must_exist) const {
  auto snapshot = hub_->snapshot();
  const FlagTable::Slot* slot = snapshot->flags.Find(key);
  if (slot == nullptr) {
    return must_exist ? FlagNotFound(key) : absl::OkStatus();
  }
  return slot->second->proto.archived() ? Archived(key) : absl::OkStatus();
}

absl::StatusOr<v1::BackfillJob> FlagRegistry::StartBackfill(
    const v1::StartBackfillRequest& request, const Caller& caller) {
  if (absl::Status s = CheckBackfillFlagKey(request.flag_key()); !s.ok()) {
    return s;
  }
  if (absl::Status s = CheckBackfillFlag(request.flag_key(), true); !s.ok()) {
    return s;
  }
  return backfills_->Start(request, caller.actor);
}

absl::StatusOr<v1::BackfillJob> FlagRegistry::CheckpointBackfill(
    const v1::CheckpointBackfillRequest& request, const Caller& /*caller*/) {
  // A run started before its flag was archived records no more pages. A
  // key that names no flag is the jobs' to refuse (bad field or no job).
  if (absl::Status s = CheckBackfillFlag(request.flag_key(), false); !s.ok()) {
    return s;
  }
  return backfills_->Checkpoint(request);
}

absl::StatusOr<v1::BackfillJob> FlagRegistry::ResetBackfill(
    const v1::ResetBackfillRequest& request, const Caller& /*caller*/) {
  return backfills_->Reset(request.flag_key());
}

// --- segment writes --------------------------------------------------------

absl::StatusOr<v1::Segment> FlagRegistry::CreateSegment(
    const v1::CreateSegmentRequest& request, const Caller& caller) {
  v1::Segment segment = request.segment();
  ClearOutputOnly(segment);
  if (segment.key().empty()) {
    return absl::InvalidArgumentError("segment.key: required");
  }
  absl::MutexLock lock(&write_mu_);
  if (hub_->snapshot()->segment_protos.contains(segment.key())) {
    return absl::AlreadyExistsError(
        absl::StrCat("segment '", segment.key(), "' already exists"));
  }
  return CommitSegment(nullptr, &segment, "segment-create", request.comment(),
                       caller);
}

absl::StatusOr<v1::Segment> FlagRegistry::ReplaceSegment(
    const v1::ReplaceSegmentRequest& request, const Caller& caller) {
  if (request.expected_version() <= 0) {
    return absl::InvalidArgumentError(
        "expected_version: required (the version you last read, > 0)");
  }
  v1::Segment segment = request.segment();
  ClearOutputOnly(segment);
  if (absl::Status s = RequireKey(segment.key()); !s.ok()) {
    return absl::InvalidArgumentError("segment.key: required");
  }
  absl::MutexLock lock(&write_mu_);
  auto snapshot = hub_->snapshot();
  auto it = snapshot->segment_protos.find(segment.key());
  if (it == snapshot->segment_protos.end()) {
    return SegmentNotFound(segment.key());
  }
  if (it->second->version() != request.expected_version()) {
    return StaleVersion("segment", segment.key(), it->second->version(),
                        request.expected_version());
  }
  return CommitSegment(it->second.get(), &segment, "segment-replace",
                       request.comment(), caller);
}

absl::StatusOr<v1::Segment> FlagRegistry::DeleteSegment(
    const v1::DeleteSegmentRequest& request, const Caller& caller) {
  if (absl::Status s = RequireKey(request.key()); !s.ok()) return s;
  absl::MutexLock lock(&write_mu_);
  auto snapshot = hub_->snapshot();
  auto it = snapshot->segment_protos.find(request.key());
  if (it == snapshot->segment_protos.end()) {
    return SegmentNotFound(request.key());
  }
  if (request.expected_version() > 0 &&
      it->second->version() != request.expected_version()) {
    return StaleVersion("segment", request.key(), it->second->version(),
                        request.expected_version());
  }
  std::vector<std::string> users;
  for (const auto& [key, entry] : snapshot->flags) {
    if (entry->proto.archived()) continue;
    for (const auto& rule : entry->proto.rules()) {
      for (const auto& clause : rule.clauses()) {
        if (clause.op() == v1::IN_SEGMENT &&
            std::find(clause.values().begin(), clause.values().end(),
                      request.key()) != clause.values().end()) {
          users.push_back(absl::StrCat(key, " (rule ", rule.id(), ")"));
        }
      }
    }
  }
  if (!users.empty()) {
    std::sort(users.begin(), users.end());
    return absl::FailedPreconditionError(
        absl::StrCat("segment '", request.key(), "' is used by flag ",
                     absl::StrJoin(users, ", "), "; remove those rules first"));
  }
  return CommitSegment(it->second.get(), nullptr, "segment-delete",
                       request.comment(), caller);
}

absl::StatusOr<v1::Segment> FlagRegistry::CommitSegment(
    const v1::Segment* before, const v1::Segment* next_in,
    const std::string& action, const std::string& comment,
    const Caller& caller) {
  const auto snapshot = hub_->snapshot();
  const int64_t revision = store_->revision() + 1;
  const int64_t version = before ? before->version() + 1 : 1;
  const auto now = TimeUtil::GetCurrentTime();

  std::shared_ptr<const CompiledSegment> compiled;
  v1::Segment next;
  if (next_in != nullptr) {
    next = *next_in;
    next.set_version(version);
    auto result = CompileSegment(FromProto(next));
    if (!result.ok()) return result.status();
    compiled = *std::move(result);
  }
  std::vector<std::string> diff =
      DiffMessages(before ? *before : v1::Segment(), next);
  if (before != nullptr && next_in != nullptr && diff.empty()) return *before;
  if (next_in != nullptr) {
    next.set_revision(revision);
    *next.mutable_update_time() = now;
    next.set_updated_by(caller.actor);
  }

  Mutation mutation;
  mutation.revision = revision;
  v1::HistoryEntry& entry = mutation.history.emplace();
  entry.set_segment_key(before ? before->key() : next.key());
  entry.set_version(version);
  entry.set_revision(revision);
  entry.set_action(action);
  entry.set_actor(caller.actor);
  entry.set_peer(caller.peer);
  *entry.mutable_time() = now;
  if (before) *entry.mutable_segment_before() = *before;
  if (next_in) *entry.mutable_segment_after() = next;
  for (auto& line : diff) entry.add_diff(std::move(line));
  entry.set_comment(comment);
  mutation.event.set_revision(revision);
  if (next_in != nullptr) {
    mutation.put_segment = next;
    mutation.event.set_kind(v1::WatchEvent::SEGMENT_UPSERTED);
    *mutation.event.mutable_segment() = next;
  } else {
    mutation.delete_segment = before->key();
    mutation.event.set_kind(v1::WatchEvent::SEGMENT_DELETED);
    *mutation.event.mutable_segment() = *before;
  }

  if (absl::Status s = CommitTimed(mutation, "", action); !s.ok()) return s;

  auto published = CopyOf(*snapshot, revision);
  if (next_in != nullptr) {
    published->segment_protos[next.key()] =
        std::make_shared<const v1::Segment>(next);
    published->segments[next.key()] = std::move(compiled);
  } else {
    published->segment_protos.erase(before->key());
    published->segments.erase(before->key());
  }
  const v1::Segment result = next_in != nullptr ? next : *before;
  hub_->Publish(std::move(published), std::move(mutation.event));
  return result;
}

}  // namespace cutover
