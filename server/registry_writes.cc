#include "server/registry_writes.h"

#include <algorithm>
#include <string>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "core/currency.h"

namespace cutover::registry_writes {

void ClearOutputOnly(FlagRecord& flag) {
  flag.flag.version = 0;
  flag.flag.archived = false;
  flag.flag.currency = Currency();
  flag.last_change = LastChange();
}

void AssignRuleIds(Flag& flag) {
  absl::flat_hash_set<std::string> taken;
  for (const Rule& rule : flag.rules) taken.insert(rule.id);
  int next = 1;
  for (Rule& rule : flag.rules) {
    if (!rule.id.empty()) continue;
    while (taken.contains(absl::StrCat("rule-", next))) ++next;
    rule.id = absl::StrCat("rule-", next);
    taken.insert(rule.id);
  }
}

absl::Status CheckMembershipMoves(const Snapshot& snapshot,
                                  const Segment& before,
                                  const Segment& after) {
  const MembershipMoves moves = SegmentMoves(&before, after);
  std::vector<std::string> refusals;
  for (const auto& [key, entry] : snapshot.flags) {
    if (entry->record.flag.archived) continue;
    std::vector<std::string> lines =
        SegmentMovesOffDualWrites(entry->record.flag, after.key, moves);
    refusals.insert(refusals.end(), lines.begin(), lines.end());
  }
  if (refusals.empty()) return absl::OkStatus();
  std::sort(refusals.begin(), refusals.end());
  return absl::FailedPreconditionError(absl::StrCat(
      "segment ", after.key, ": replace refused: ",
      absl::StrJoin(refusals, "; "),
      "; moving users from dual writes to off makes the new database "
      "stale, so move them on the flag (a rule or rollback --to off), "
      "where the history and the flag's currency record it"));
}

}  // namespace cutover::registry_writes
