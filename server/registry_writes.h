// Small pieces FlagRegistry's writes share between its source files
// (server/flag_registry.cc: flags, server/flag_registry_segments.cc:
// segments, server/flag_registry_apply.cc: whole files): the errors they
// return, the time a change is stamped with, how input is normalised and
// checked, the copy of a snapshot a write publishes, and the snapshot of a
// whole state (opening, and a replica's reset).
//
// Pure functions; thread-safe.
#ifndef CUTOVER_SERVER_REGISTRY_WRITES_H_
#define CUTOVER_SERVER_REGISTRY_WRITES_H_

#include <cstdint>
#include <memory>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "server/snapshot.h"

namespace cutover::registry_writes {

// The time of a change: whole seconds, as change times have always been.
inline absl::Time ChangeTime() {
  return absl::FromUnixSeconds(absl::ToUnixSeconds(absl::Now()));
}

inline absl::Status StaleVersion(absl::string_view kind,
                                 absl::string_view key, int64_t actual,
                                 int64_t expected) {
  return absl::AbortedError(absl::StrCat(
      "expected_version: ", kind, " '", key, "' is at version ", actual,
      ", not ", expected, "; read it again and retry"));
}

inline absl::Status Archived(absl::string_view key) {
  return absl::FailedPreconditionError(absl::StrCat(
      "flag '", key, "' is archived; archived flags cannot change"));
}

inline absl::Status FlagNotFound(absl::string_view key) {
  return absl::NotFoundError(absl::StrCat("flag '", key, "' not found"));
}

inline absl::Status SegmentNotFound(absl::string_view key) {
  return absl::NotFoundError(absl::StrCat("segment '", key, "' not found"));
}

inline absl::Status RequireKey(absl::string_view key) {
  if (key.empty()) return absl::InvalidArgumentError("key: required");
  return absl::OkStatus();
}

// Drops what the server owns from a flag given as input (version,
// archived, currency, last change), so input cannot set it.
void ClearOutputOnly(FlagRecord& flag);

// Gives every rule without an id the first free "rule-N".
void AssignRuleIds(Flag& flag);

// FAILED_PRECONDITION if replacing segment `before` by `after` moves users
// of a flag in `snapshot` from dual writes to off: a membership change
// must not do that behind a flag's back (it would make the flag's new
// database stale, unrecorded).
absl::Status CheckMembershipMoves(const Snapshot& snapshot,
                                  const Segment& before, const Segment& after);

// The action a replica counts its primary's changes under (its metrics;
// it keeps no history of them).
inline constexpr char kReplicatedAction[] = "replicated";

// The snapshot a write publishes: `snapshot` at `revision`, sharing what
// the write does not change.
inline std::shared_ptr<Snapshot> CopyOf(const Snapshot& snapshot,
                                        int64_t revision) {
  auto next = std::make_shared<Snapshot>(snapshot);
  next->revision = revision;
  return next;
}

// The snapshot of a whole state at `revision`: every flag and segment
// compiled. DATA_LOSS naming the first that does not compile (`source`
// says where they came from: "stored", "the primary's").
absl::StatusOr<std::shared_ptr<Snapshot>> BuildSnapshot(
    int64_t revision, std::vector<FlagRecord> flags,
    std::vector<SegmentRecord> segments, absl::string_view source);

}  // namespace cutover::registry_writes

#endif  // CUTOVER_SERVER_REGISTRY_WRITES_H_
