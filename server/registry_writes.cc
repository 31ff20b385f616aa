#include "server/registry_writes.h"

#include <algorithm>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
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

absl::StatusOr<std::shared_ptr<Snapshot>> BuildSnapshot(
    int64_t revision, std::vector<FlagRecord> flags,
    std::vector<SegmentRecord> segments, absl::string_view source) {
  auto snapshot = std::make_shared<Snapshot>();
  snapshot->revision = revision;
  for (SegmentRecord& record : segments) {
    auto compiled = CompileSegment(record.segment);
    if (!compiled.ok()) {
      return absl::DataLossError(absl::StrCat(
          source, " segment '", record.segment.key,
          "' is invalid: ", compiled.status().message()));
    }
    const std::string key = record.segment.key;  // before the move below
    snapshot->segments[key] = *std::move(compiled);
    snapshot->segment_records[key] =
        std::make_shared<const SegmentRecord>(std::move(record));
  }
  absl::flat_hash_map<std::string, FlagTable::Entry> table;
  for (FlagRecord& record : flags) {
    auto compiled = CompileFlag(record.flag);
    if (!compiled.ok()) {
      return absl::DataLossError(absl::StrCat(source, " flag '",
                                              record.flag.key, "' is invalid: ",
                                              compiled.status().message()));
    }
    std::string key = record.flag.key;
    table[key] = MakeFlagEntry(std::move(record), *std::move(compiled));
  }
  snapshot->flags = FlagTable(std::move(table));
  return snapshot;
}

}  // namespace cutover::registry_writes
