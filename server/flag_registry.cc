#include "server/flag_registry.h"

#include <algorithm>
#include <optional>
#include <utility>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "convert/flag_diff.h"
#include "core/currency.h"
#include "core/gates.h"
#include "core/stage_moves.h"
#include "server/api_edge.h"
#include "server/op_aggregator.h"
#include "server/registry_writes.h"

namespace cutover {
namespace {

using registry_writes::Archived;
using registry_writes::AssignRuleIds;
using registry_writes::BuildSnapshot;
using registry_writes::ClearOutputOnly;
using registry_writes::ChangeTime;
using registry_writes::CopyOf;
using registry_writes::FlagNotFound;
using registry_writes::RequireKey;
using registry_writes::SegmentNotFound;
using registry_writes::StaleVersion;

// INVALID_ARGUMENT naming the first IN_SEGMENT value that is not a segment.
absl::Status CheckSegmentsExist(const Flag& flag, const Snapshot& snapshot) {
  for (size_t r = 0; r < flag.rules.size(); ++r) {
    const Rule& rule = flag.rules[r];
    for (size_t c = 0; c < rule.clauses.size(); ++c) {
      const Clause& clause = rule.clauses[c];
      if (clause.op != Operator::kInSegment) continue;
      for (size_t v = 0; v < clause.values.size(); ++v) {
        if (!snapshot.segment_records.contains(clause.values[v])) {
          return absl::InvalidArgumentError(absl::StrCat(
              "rules[", r, "].clauses[", c, "].values[", v, "]: segment '",
              clause.values[v], "' does not exist"));
        }
      }
    }
  }
  return absl::OkStatus();
}

// The currency of a flag last written before daemons kept it, worked out
// by replaying its history (oldest first) as the daemon would have.
// Whatever backfill made a database current since is applied at start
// (ReconcileAllCurrencies).
absl::StatusOr<Currency> CurrencyFromHistory(const Store& store,
                                             const std::string& key) {
  absl::StatusOr<std::vector<HistoryRecord>> history = store.History(key, 0);
  if (!history.ok()) return history.status();
  Currency currency;
  std::optional<Flag> previous;
  for (auto it = history->rbegin(); it != history->rend(); ++it) {
    if (!it->flag_after.has_value()) continue;
    if (previous.has_value()) previous->currency = currency;
    const Flag& after = it->flag_after->flag;
    currency = NextCurrency(previous.has_value() ? &*previous : nullptr,
                            after, it->version, it->time);
    previous = after;
  }
  return currency;
}

// The diff lines of a flag change, as the API shows the flag (nullptr
// before: a new flag).
std::vector<std::string> FlagDiff(const FlagRecord* before,
                                  const FlagRecord& after) {
  v1::Flag api_before;
  v1::Flag api_after;
  if (before != nullptr) ToApi(*before, &api_before);
  ToApi(after, &api_after);
  return DiffMessages(api_before, api_after);
}

}  // namespace

absl::StatusOr<std::unique_ptr<FlagRegistry>> FlagRegistry::Open(
    std::unique_ptr<Store> store, size_t watch_ring_capacity,
    ServerMetrics* metrics, const OpAggregator* window) {
  absl::StatusOr<StoredState> state = store->Load();
  if (!state.ok()) return state.status();
  for (FlagRecord& record : state->flags) {
    if (!record.currency_kept) {
      absl::StatusOr<Currency> currency =
          CurrencyFromHistory(*store, record.flag.key);
      if (!currency.ok()) return currency.status();
      record.flag.currency = *std::move(currency);
      record.currency_kept = true;
    }
  }
  absl::StatusOr<std::shared_ptr<Snapshot>> snapshot =
      BuildSnapshot(state->revision, std::move(state->flags),
                    std::move(state->segments), "stored");
  if (!snapshot.ok()) return snapshot.status();
  // Watch resumes from the kept changes: their events, built once here.
  std::vector<v1::WatchEvent> recent;
  recent.reserve(state->recent_changes.size());
  for (const ChangeRecord& change : state->recent_changes) {
    recent.push_back(ToWatchEvent(change));
  }
  state->recent_changes.clear();
  auto hub = std::make_unique<ChangeHub>(*std::move(snapshot),
                                         std::move(recent),
                                         watch_ring_capacity);
  std::unique_ptr<FlagRegistry> registry(
      new FlagRegistry(std::move(store), std::move(hub), metrics, window,
                       std::move(state->backfills),
                       std::move(state->ramp_states)));
  // A backfill verified just before a crash, whose flag change was not
  // made yet, makes it now.
  if (absl::Status s = registry->ReconcileAllCurrencies(); !s.ok()) return s;
  return registry;
}

FlagRegistry::FlagRegistry(std::unique_ptr<Store> store,
                           std::unique_ptr<ChangeHub> hub,
                           ServerMetrics* metrics, const OpAggregator* window,
                           std::vector<BackfillJob> backfills,
                           std::vector<RampStateRecord> ramp_states)
    : store_(std::move(store)),
      hub_(std::move(hub)),
      metrics_(OrNoMetrics(metrics)),
      window_(window),
      backfills_(std::make_unique<BackfillJobs>(store_.get(),
                                                std::move(backfills))),
      loaded_ramp_states_(std::move(ramp_states)) {}

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

// --- reads -----------------------------------------------------------------

absl::StatusOr<FlagRecord> FlagRegistry::GetFlag(
    const std::string& key) const {
  if (absl::Status s = RequireKey(key); !s.ok()) return s;
  auto snapshot = hub_->snapshot();
  const FlagTable::Slot* slot = snapshot->flags.Find(key);
  if (slot == nullptr) return FlagNotFound(key);
  return slot->second->record;
}

std::vector<FlagRecord> FlagRegistry::ListFlags(bool include_archived) const {
  auto snapshot = hub_->snapshot();
  std::vector<FlagRecord> flags;
  for (const auto& [key, entry] : snapshot->flags) {
    if (include_archived || !entry->record.flag.archived) {
      flags.push_back(entry->record);
    }
  }
  std::sort(flags.begin(), flags.end(), [](const auto& a, const auto& b) {
    return a.flag.key < b.flag.key;
  });
  return flags;
}

absl::StatusOr<std::vector<HistoryRecord>> FlagRegistry::History(
    const std::string& key, bool segment, int limit) const {
  if (absl::Status s = RequireKey(key); !s.ok()) return s;
  auto entries =
      store_->History(segment ? SegmentHistorySubject(key) : key, limit);
  if (entries.ok() && entries->empty()) {
    return segment ? SegmentNotFound(key) : FlagNotFound(key);
  }
  return entries;
}

absl::StatusOr<SegmentRecord> FlagRegistry::GetSegment(
    const std::string& key) const {
  if (absl::Status s = RequireKey(key); !s.ok()) return s;
  auto snapshot = hub_->snapshot();
  auto it = snapshot->segment_records.find(key);
  if (it == snapshot->segment_records.end()) return SegmentNotFound(key);
  return *it->second;
}

std::vector<SegmentRecord> FlagRegistry::ListSegments() const {
  auto snapshot = hub_->snapshot();
  std::vector<SegmentRecord> segments;
  for (const auto& [key, segment] : snapshot->segment_records) {
    segments.push_back(*segment);
  }
  std::sort(segments.begin(), segments.end(),
            [](const auto& a, const auto& b) {
              return a.segment.key < b.segment.key;
            });
  return segments;
}

// --- flag writes -----------------------------------------------------------

absl::StatusOr<FlagRecord> FlagRegistry::CreateFlag(
    const CreateFlagCommand& command, const Caller& caller) {
  FlagRecord flag = command.flag;
  ClearOutputOnly(flag);
  AssignRuleIds(flag.flag);
  const std::string key = flag.flag.key;
  if (absl::Status s = RequireKey(key); !s.ok()) {
    return absl::InvalidArgumentError("flag.key: required");
  }
  absl::MutexLock lock(&write_mu_);
  if (hub_->snapshot()->flags.Find(key) != nullptr) {
    return absl::AlreadyExistsError(
        absl::StrCat("flag '", key, "' already exists"));
  }
  FlagChange change{key, 0, "create", command.options.force, true,
                    command.options.comment};
  return CommitFlag(nullptr, std::move(flag), change, caller);
}

absl::StatusOr<FlagRecord> FlagRegistry::ReplaceFlag(
    const ReplaceFlagCommand& command, const Caller& caller) {
  if (command.options.expected_version <= 0) {
    return absl::InvalidArgumentError(
        "expected_version: required (the version you last read, > 0)");
  }
  FlagRecord replacement = command.flag;
  ClearOutputOnly(replacement);
  AssignRuleIds(replacement.flag);
  FlagChange change{command.flag.flag.key, command.options.expected_version,
                    "replace", command.options.force, true,
                    command.options.comment};
  return ChangeFlag(change, caller, [&](FlagRecord& flag) {
    flag = replacement;
    return absl::OkStatus();
  });
}

absl::StatusOr<FlagRecord> FlagRegistry::ArchiveFlag(
    const ArchiveFlagCommand& command, const Caller& caller) {
  FlagChange change{command.key, command.options.expected_version, "archive",
                    command.options.force, false, command.options.comment,
                    false};
  return ChangeFlag(change, caller, [&](FlagRecord& flag) -> absl::Status {
    std::optional<Flag> storage;
    const Stage reach = Reach(Served(flag.flag, flag.flag.currency, storage));
    if (reach != Stage::kOff && !command.options.force) {
      return absl::FailedPreconditionError(absl::StrCat(
          "flag ", flag.flag.key, " serves users up to ", StageName(reach),
          ": once archived, services that still ask it get FLAG_NOT_FOUND "
          "and their own default stage; archive it when they no longer "
          "ask (force), or roll it back to off first"));
    }
    flag.flag.archived = true;
    return absl::OkStatus();
  });
}

absl::StatusOr<FlagRecord> FlagRegistry::SetStage(
    const SetStageCommand& command, const Caller& caller) {
  if (command.stage == Stage::kUnspecified) {
    return absl::InvalidArgumentError(
        "stage: required, one of off, dualwrite, shadow, live, rampdown, "
        "complete");
  }
  FlagChange change{command.key, command.options.expected_version, "stage",
                    command.options.force, true, command.options.comment};
  return ChangeFlag(change, caller, [&](FlagRecord& flag) {
    flag.flag.default_serve.rollout.reset();
    flag.flag.default_serve.stage = command.stage;
    return absl::OkStatus();
  });
}

absl::StatusOr<FlagRecord> FlagRegistry::SetRollout(
    const SetRolloutCommand& command, const Caller& caller) {
  if (command.rollout.splits.empty()) {
    return absl::InvalidArgumentError("rollout.splits: at least one split");
  }
  FlagChange change{command.key, command.options.expected_version, "rollout",
                    command.options.force, true, command.options.comment};
  return ChangeFlag(change, caller, [&](FlagRecord& flag) {
    flag.flag.default_serve.stage.reset();
    flag.flag.default_serve.rollout = command.rollout;
    return absl::OkStatus();
  });
}

absl::StatusOr<FlagRecord> FlagRegistry::AddRule(const AddRuleCommand& command,
                                                 const Caller& caller) {
  FlagChange change{command.key, command.options.expected_version,
                    "rule-add", command.options.force, true,
                    command.options.comment};
  return ChangeFlag(change, caller, [&](FlagRecord& flag) {
    std::vector<Rule>& rules = flag.flag.rules;
    // At `index`, or last if it is negative or past the end.
    const int index = command.index;
    const bool at_index =
        index >= 0 && index < static_cast<int>(rules.size());
    rules.insert(at_index ? rules.begin() + index : rules.end(),
                 command.rule);
    AssignRuleIds(flag.flag);
    return absl::OkStatus();
  });
}

absl::StatusOr<FlagRecord> FlagRegistry::RemoveRule(
    const RemoveRuleCommand& command, const Caller& caller) {
  FlagChange change{command.key, command.options.expected_version,
                    "rule-remove", command.options.force, false,
                    command.options.comment};
  return ChangeFlag(change, caller, [&](FlagRecord& flag) {
    std::vector<Rule>& rules = flag.flag.rules;
    for (auto it = rules.begin(); it != rules.end(); ++it) {
      if (it->id == command.rule_id) {
        rules.erase(it);
        return absl::OkStatus();
      }
    }
    return absl::NotFoundError(absl::StrCat("rule_id: flag '", flag.flag.key,
                                            "' has no rule '",
                                            command.rule_id, "'"));
  });
}

absl::StatusOr<FlagRecord> FlagRegistry::SetEnabled(
    const SetEnabledCommand& command, const Caller& caller) {
  FlagChange change{command.key, command.options.expected_version,
                    command.enabled ? "enable" : "disable",
                    command.options.force, false, command.options.comment};
  return ChangeFlag(change, caller, [&](FlagRecord& flag) {
    flag.flag.enabled = command.enabled;
    return absl::OkStatus();
  });
}

absl::StatusOr<FlagRecord> FlagRegistry::Rollback(
    const RollbackCommand& command, const Caller& caller) {
  if (command.to_version < 0) {
    return absl::InvalidArgumentError("to_version: must be >= 0");
  }
  if (command.to_version > 0 && command.to_stage != Stage::kUnspecified) {
    return absl::InvalidArgumentError(
        "to_stage: not with to_version (a version is restored as it was)");
  }
  FlagChange change{command.key, 0, "rollback", command.force, false,
                    command.comment};
  if (command.to_version == 0) {
    return ChangeFlag(change, caller, [&](FlagRecord& flag) {
      const Stage target = command.to_stage != Stage::kUnspecified
                               ? command.to_stage
                               : RollbackStage(flag.flag);
      ClampServes(flag.flag, target);
      return absl::OkStatus();
    });
  }
  return ChangeFlag(change, caller, [&](FlagRecord& flag) -> absl::Status {
    // A version not yet made is not found below; the current one is a
    // version, but not an earlier one.
    if (command.to_version == flag.flag.version) {
      return absl::InvalidArgumentError(absl::StrCat(
          "to_version: must be an earlier version than the current ",
          flag.flag.version));
    }
    auto history = store_->History(flag.flag.key, 0);
    if (!history.ok()) return history.status();
    for (const HistoryRecord& entry : *history) {
      if (entry.version == command.to_version) {
        FlagRecord restored = entry.flag_after.value_or(FlagRecord());
        ClearOutputOnly(restored);
        restored.flag.key = flag.flag.key;
        flag = std::move(restored);
        return absl::OkStatus();
      }
    }
    return absl::NotFoundError(absl::StrCat("to_version: flag '",
                                            flag.flag.key, "' has no version ",
                                            command.to_version));
  });
}

absl::StatusOr<FlagRecord> FlagRegistry::ChangeFlag(const FlagChange& change,
                                                    const Caller& caller,
                                                    const FlagEdit& edit) {
  if (absl::Status s = RequireKey(change.key); !s.ok()) return s;
  absl::MutexLock lock(&write_mu_);
  auto snapshot = hub_->snapshot();
  const FlagTable::Slot* slot = snapshot->flags.Find(change.key);
  if (slot == nullptr) return FlagNotFound(change.key);
  const FlagRecord& before = slot->second->record;
  if (before.flag.archived) return Archived(change.key);
  if (change.expected_version > 0 &&
      change.expected_version != before.flag.version) {
    return StaleVersion("flag", change.key, before.flag.version,
                        change.expected_version);
  }
  FlagRecord next = before;
  if (absl::Status s = edit(next); !s.ok()) return s;
  next.flag.key = change.key;
  return CommitFlag(&before, std::move(next), change, caller);
}

absl::StatusOr<FlagRecord> FlagRegistry::CommitFlag(const FlagRecord* before,
                                                    FlagRecord next,
                                                    const FlagChange& change,
                                                    const Caller& caller) {
  const auto snapshot = hub_->snapshot();
  const StageAt at{store_->revision() + 1, ChangeTime()};
  absl::StatusOr<std::optional<Staged>> staged =
      StageFlag(*snapshot, before, std::move(next), change, caller, at);
  if (!staged.ok()) return staged.status();
  if (!staged->has_value()) return *before;  // nothing to do
  FlagRecord after = *(*staged)->change.flag;
  std::vector<Staged> one(1, **std::move(staged));
  if (absl::Status s = CommitStaged(*snapshot, at.revision, std::move(one));
      !s.ok()) {
    return s;
  }
  return after;
}

absl::StatusOr<std::optional<FlagRegistry::Staged>> FlagRegistry::StageFlag(
    const Snapshot& working, const FlagRecord* before, FlagRecord next,
    const FlagChange& change, const Caller& caller, StageAt at) const {
  const int64_t version = before ? before->flag.version + 1 : 1;
  next.flag.version = version;
  const Flag* previous = before ? &before->flag : nullptr;
  // Which databases are current after the change; the compiled flag's
  // fallback stage depends on it. Its times are exact (not whole seconds
  // like the change time), as a backfill's start is compared with them.
  next.flag.currency =
      NextCurrency(previous, next.flag, version, absl::Now());
  ClearByBackfills(
      next.flag.currency, backfills_->Facts(next.flag.key),
      backfills_->Facts(next.flag.key, BackfillDirection::kReverse));

  auto compiled = CompileFlag(next.flag);
  if (!compiled.ok()) return compiled.status();
  if (absl::Status s = CheckRampForDaemon(next.flag, previous); !s.ok()) {
    return s;
  }
  if (absl::Status s = CheckSegmentsExist(next.flag, working); !s.ok()) {
    return s;
  }

  bool forced = false;
  std::vector<std::string> broken_gates;
  if (change.stage_check) {
    absl::Status move = CheckStageMove(previous, (*compiled)->flag());
    if (!move.ok()) {
      if (!change.force) return move;
      forced = true;
    }
    // Only a flag that declares gates pays for reading their facts (the
    // telemetry window is summed under its lock).
    if (DeclaresGates((*compiled)->flag().gates)) {
      broken_gates = BrokenGates(previous, (*compiled)->flag(),
                                 FactsFor(next.flag.key));
    }
  }
  std::vector<std::string> stale_reads;
  if (change.stale_check) {
    stale_reads = StaleReads(previous, next.flag, next.flag.currency);
  }
  if (!broken_gates.empty() || !stale_reads.empty()) {
    if (!change.force) {
      // Every reason at once, so one fix is not followed by another refusal.
      std::string refusal = absl::StrCat("flag ", next.flag.key);
      if (!broken_gates.empty()) {
        absl::StrAppend(&refusal, " is held by its gates: gate ",
                        absl::StrJoin(broken_gates, "; gate "));
      }
      if (!stale_reads.empty()) {
        absl::StrAppend(&refusal, broken_gates.empty() ? ": " : "; and ",
                        change.action, " refused: ",
                        absl::StrJoin(stale_reads, "; "));
      }
      return absl::FailedPreconditionError(absl::StrCat(
          refusal, " (force overrides, and the history records it)"));
    }
    forced = true;
  }
  std::vector<std::string> overridden_gates = std::move(broken_gates);
  for (const std::string& line : stale_reads) {
    overridden_gates.push_back(absl::StrCat("stale read: ", line));
  }

  // Said first, in words: a database turned stale or current.
  std::vector<std::string> diff =
      CurrencyChanges(before ? before->flag.currency : Currency(),
                      next.flag.currency);
  std::vector<std::string> config_diff = FlagDiff(before, next);
  if (before != nullptr && diff.empty() && config_diff.empty()) {
    return std::nullopt;
  }
  diff.insert(diff.end(), config_diff.begin(), config_diff.end());

  next.last_change = LastChange{at.revision, at.time, caller.actor};

  Staged staged;
  HistoryRecord& entry = staged.history;
  entry.flag_key = next.flag.key;
  entry.version = version;
  entry.revision = at.revision;
  entry.action = change.action;
  entry.actor = caller.actor;
  entry.peer = caller.peer;
  entry.time = at.time;
  if (before) entry.flag_before = *before;
  entry.flag_after = next;
  entry.diff = std::move(diff);
  entry.forced = forced;
  entry.overridden_gates = std::move(overridden_gates);
  entry.comment = change.comment;
  staged.change.revision = at.revision;
  staged.change.flag = std::move(next);
  staged.compiled_flag = *std::move(compiled);
  return std::optional<Staged>(std::move(staged));
}

}  // namespace cutover
