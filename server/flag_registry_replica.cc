// FlagRegistry's replica writes: a read replica taking its primary's
// changes as they are (see server/flag_registry.h and server/follower.h).
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "server/flag_registry.h"
#include "server/registry_writes.h"

namespace cutover {

using registry_writes::BuildSnapshot;

absl::Status FlagRegistry::ApplyReplicated(int64_t revision,
                                           std::vector<ChangeRecord> changes) {
  absl::MutexLock lock(&write_mu_);
  const std::shared_ptr<const Snapshot> base = hub_->snapshot();
  if (revision <= base->revision || changes.empty()) return absl::OkStatus();
  std::vector<Staged> staged;
  staged.reserve(changes.size());
  for (ChangeRecord& change : changes) {
    Staged one;
    if (change.flag) {
      auto compiled = CompileFlag(change.flag->flag);
      if (!compiled.ok()) {
        return absl::DataLossError(absl::StrCat(
            "the primary's flag '", change.flag->flag.key,
            "' is invalid here: ", compiled.status().message()));
      }
      one.compiled_flag = *std::move(compiled);
    } else if (change.segment && !change.segment_deleted) {
      auto compiled = CompileSegment(change.segment->segment);
      if (!compiled.ok()) {
        return absl::DataLossError(absl::StrCat(
            "the primary's segment '", change.segment->segment.key,
            "' is invalid here: ", compiled.status().message()));
      }
      one.compiled_segment = *std::move(compiled);
    }
    change.revision = revision;
    one.change = std::move(change);  // history left empty: not kept here
    staged.push_back(std::move(one));
  }
  return CommitStaged(*base, revision, std::move(staged));
}

absl::Status FlagRegistry::ResetReplicated(
    int64_t revision, std::vector<FlagRecord> flags,
    std::vector<SegmentRecord> segments) {
  absl::MutexLock lock(&write_mu_);
  // Compiled first: a state this build cannot serve is not stored.
  absl::StatusOr<std::shared_ptr<Snapshot>> snapshot =
      BuildSnapshot(revision, flags, segments, "the primary's");
  if (!snapshot.ok()) return snapshot.status();
  const absl::Time start = absl::Now();
  if (absl::Status s = store_->ReplaceAll(revision, flags, segments);
      !s.ok()) {
    return s;
  }
  metrics_->ObserveStoreWrite(absl::Now() - start);
  hub_->Replace(*std::move(snapshot));
  return absl::OkStatus();
}

}  // namespace cutover
