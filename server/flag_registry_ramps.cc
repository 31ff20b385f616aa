// FlagRegistry's writes for guarded ramps: the plan (a flag write), the
// steps and breach rollbacks a ramp makes (each with the ramp's state in
// the same batch), and ramp states alone.
#include <utility>

#include "absl/strings/str_cat.h"
#include "core/currency.h"
#include "core/ramp.h"
#include "server/flag_registry.h"
#include "server/op_aggregator.h"
#include "server/registry_writes.h"

namespace cutover {

using registry_writes::Archived;
using registry_writes::ChangeTime;
using registry_writes::FlagNotFound;
using registry_writes::RequireKey;
using registry_writes::StaleVersion;

absl::Status FlagRegistry::CheckRampForDaemon(const Flag& flag,
                                              const Flag* previous) const {
  if (!flag.ramp.has_value()) return absl::OkStatus();
  for (size_t i = 0; i < flag.ramp->checks.size(); ++i) {
    const bool had_promql =
        previous != nullptr && previous->ramp.has_value() &&
        FindRampCheck(*previous->ramp, RampCheckKind::kPromql) != nullptr;
    if (flag.ramp->checks[i].kind == RampCheckKind::kPromql &&
        !promql_allowed_ && !had_promql) {
      return absl::InvalidArgumentError(absl::StrCat(
          "ramp.checks[", i,
          "].promql: the daemon has no Prometheus to query (set "
          "prometheus_url in its config)"));
    }
  }
  if (window_ == nullptr) return absl::OkStatus();
  const int64_t kept = absl::ToInt64Seconds(window_->window());
  if (flag.ramp->window_seconds > kept) {
    return absl::InvalidArgumentError(absl::StrCat(
        "ramp.window_seconds: must be at most the daemon's telemetry window "
        "(telemetry_window_seconds, ",
        kept, "), got ", flag.ramp->window_seconds));
  }
  return absl::OkStatus();
}

absl::StatusOr<FlagRecord> FlagRegistry::SetRampPlan(
    const SetRampPlanCommand& command, const Caller& caller) {
  FlagChange change{command.key, command.options.expected_version,
                    "ramp-set", false, true, command.options.comment};
  return ChangeFlag(change, caller, [&](FlagRecord& flag) {
    flag.flag.ramp = command.plan;
    return absl::OkStatus();
  });
}

absl::StatusOr<FlagRecord> FlagRegistry::RampWrite(
    const RampWriteCommand& command, const Caller& caller) {
  if (absl::Status s = RequireKey(command.key); !s.ok()) return s;
  absl::MutexLock lock(&write_mu_);
  const auto snapshot = hub_->snapshot();
  const FlagTable::Slot* slot = snapshot->flags.Find(command.key);
  if (slot == nullptr) return FlagNotFound(command.key);
  const FlagRecord& before = slot->second->record;
  if (before.flag.archived) return Archived(command.key);
  if (command.expected_version != before.flag.version) {
    return StaleVersion("flag", command.key, before.flag.version,
                        command.expected_version);
  }
  const bool step = command.serve.has_value();
  FlagChange change{command.key, command.expected_version,
                    step ? "ramp-step" : "rollback", false, step,
                    command.comment};
  FlagRecord next = before;
  if (step) {
    next.flag.default_serve = *command.serve;
  } else {
    ClampServes(next.flag, RollbackStage(next.flag));
  }
  const StageAt at{store_->revision() + 1, ChangeTime()};
  absl::StatusOr<std::optional<Staged>> staged =
      StageFlag(*snapshot, &before, std::move(next), change, caller, at);
  if (!staged.ok()) return staged.status();
  RampStateRecord state = command.state;
  if (!staged->has_value()) {  // the flag already serves it
    state.flag_version = before.flag.version;
    if (absl::Status s = store_->PutRampState(state); !s.ok()) return s;
    return before;
  }
  FlagRecord after = *(*staged)->change.flag;
  state.flag_version = after.flag.version;
  std::vector<Staged> one(1, **std::move(staged));
  if (absl::Status s = CommitStaged(*snapshot, at.revision, std::move(one),
                                    {std::move(state)});
      !s.ok()) {
    return s;
  }
  return after;
}

absl::Status FlagRegistry::PutRampState(const RampStateRecord& state) {
  return store_->PutRampState(state);
}

std::vector<RampStateRecord> FlagRegistry::TakeLoadedRampStates() {
  absl::MutexLock lock(&write_mu_);
  return std::move(loaded_ramp_states_);
}

}  // namespace cutover
