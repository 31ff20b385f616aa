// FlagRegistry's backfill jobs, and what a verified one does to its flag's
// currency (the rest is in server/flag_registry.cc).
#include <string>

#include "core/currency.h"
#include "server/flag_registry.h"
#include "server/registry_writes.h"

namespace cutover {

using registry_writes::Archived;
using registry_writes::FlagNotFound;

// --- backfill jobs ---------------------------------------------------------

absl::Status FlagRegistry::CheckBackfillFlag(const std::string& key,
                                             bool must_exist) const {
  auto snapshot = hub_->snapshot();
  const FlagTable::Slot* slot = snapshot->flags.Find(key);
  if (slot == nullptr) {
    return must_exist ? FlagNotFound(key) : absl::OkStatus();
  }
  return slot->second->record.flag.archived ? Archived(key)
                                            : absl::OkStatus();
}

absl::StatusOr<BackfillJob> FlagRegistry::StartBackfill(
    const StartBackfillCommand& command, const Caller& caller) {
  if (absl::Status s = CheckBackfillFlagKey(command.flag_key); !s.ok()) {
    return s;
  }
  if (absl::Status s = CheckBackfillFlag(command.flag_key, true); !s.ok()) {
    return s;
  }
  return backfills_->Start(command, caller.actor);
}

absl::StatusOr<BackfillJob> FlagRegistry::CheckpointBackfill(
    const CheckpointBackfillCommand& command, const Caller& /*caller*/) {
  // A run started before its flag was archived records no more pages. A
  // key that names no flag is the jobs' to refuse (bad field or no job).
  if (absl::Status s = CheckBackfillFlag(command.flag_key, false); !s.ok()) {
    return s;
  }
  absl::StatusOr<BackfillJob> job = backfills_->Checkpoint(command);
  if (job.ok() && job->phase == BackfillPhase::kDone) {
    // A verified backfill may make a stale database current again.
    absl::Status reconciled = ReconcileCurrency(command.flag_key);
    if (!reconciled.ok()) return reconciled;
  }
  return job;
}

absl::Status FlagRegistry::ReconcileCurrency(const std::string& key) {
  {
    auto snapshot = hub_->snapshot();
    const FlagTable::Slot* slot = snapshot->flags.Find(key);
    if (slot == nullptr || slot->second->record.flag.archived) {
      return absl::OkStatus();
    }
    Currency currency = slot->second->record.flag.currency;
    if (!ClearByBackfills(currency, backfills_->Facts(key),
                          backfills_->Facts(key, BackfillDirection::kReverse))) {
      return absl::OkStatus();
    }
  }
  // CommitFlag clears the marks; the change records it as its own version.
  FlagChange change{key, 0, "backfill-verified", false, false,
                    "a verified backfill made a stale database current"};
  absl::StatusOr<FlagRecord> changed = ChangeFlag(
      change, Caller{"cutoverd", ""}, [](FlagRecord&) { return absl::OkStatus(); });
  return changed.status();
}

absl::Status FlagRegistry::ReconcileAllCurrencies() {
  for (const FlagRecord& flag : ListFlags(false)) {
    if (absl::Status s = ReconcileCurrency(flag.flag.key); !s.ok()) return s;
  }
  return absl::OkStatus();
}

absl::StatusOr<BackfillJob> FlagRegistry::ResetBackfill(
    const ResetBackfillCommand& command, const Caller& /*caller*/) {
  return backfills_->Reset(command.flag_key, command.direction);
}

}  // namespace cutover
