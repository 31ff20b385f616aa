// Which of a flag's databases is current, and the data-safe stages that
// follow from it: the fallback a disabled flag serves, where a rollback
// lands, and which changes would make users read a database that missed
// their writes.
//
// A database is *stale* when it is known to have missed users' writes:
//   old   from the change that first serves `complete` to any share of users
//         (their writes skip old), until a verified reverse backfill
//         (new -> old) started after the flag last served `complete`;
//   new   from the change that serves `off` to a share that was being
//         dual-written, until a verified backfill (old -> new) started
//         after the flag last served `off` to anyone (while some users are
//         at off their writes keep skipping new).
// "Verified" is what the require_backfill gate asks: the job is done (copied
// and verified) and repaired every mismatch its verify pass found. The
// daemon keeps the marks on the flag (Flag::currency) and updates them on
// every change with NextCurrency and ClearByBackfills.
//
// What a flag serves is its configuration when enabled; disabled, every
// serve is clamped to its fallback stage (ServedFlag). The computed
// fallback (DataSafeStage) is the plain rollback target:
//   reach off                         -> off (nothing has begun)
//   reach dualwrite .. rampdown/complete, old current -> dualwrite
//   old stale                         -> rampdown (reads new, writes both:
//                                        the first step of the way back)
//
// Pure functions over plain data; thread-safe.
#ifndef CUTOVER_CORE_CURRENCY_H_
#define CUTOVER_CORE_CURRENCY_H_

#include <optional>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "core/gates.h"
#include "core/model.h"
#include "core/stage.h"

namespace cutover {

// Where a plain rollback moves users: off for a flag that never served
// more, else dualwrite (old authoritative, both databases written). With
// old stale it reads a stale database, so the rollback is refused (see
// StaleReads) and the way back goes through rampdown.
Stage RollbackStage(const Flag& flag);

// What a disabled flag serves at most when no fallback_stage is set:
// RollbackStage, or rampdown while old is stale (see the table above).
Stage DataSafeStage(const Flag& flag);

// fallback_stage if set, else DataSafeStage.
Stage FallbackStage(const Flag& flag);

// Lowers every stage above `ceiling` in the flag's serves (default and
// rules) to `ceiling`, merging the splits of a rollout that then name the
// same stage (a rollout left with one becomes that stage). Users at or
// below the ceiling keep their stage.
void ClampServes(Flag& flag, Stage ceiling);

// The flag as it serves users: a copy of `flag` if enabled; if disabled,
// enabled with every serve clamped to FallbackStage(flag).
Flag ServedFlag(const Flag& flag);

// The same without copying an enabled flag (the common case): `flag`
// itself when enabled; else the clamped copy, judged with `currency` (e.g.
// `flag.currency`, or the currency a change is checked with) and kept in
// `storage`, which must outlive the reference.
const Flag& Served(const Flag& flag, const Currency& currency,
                   std::optional<Flag>& storage);

// The currency after a change from `before` (nullptr: a new flag) to
// `after`, made as flag version `version` at `now`. Starts from
// before->currency and adds or extends marks from what the two serve;
// never clears one (ClearByBackfills does).
Currency NextCurrency(const Flag* before, const Flag& after, int64_t version,
                      absl::Time now);

// Clears each mark the matching verified backfill makes current (forward:
// the new database's mark; reverse: the old one's). Returns whether any was
// cleared.
bool ClearByBackfills(Currency& currency, const BackfillFacts& forward,
                      const BackfillFacts& reverse);

// One line per stale database, e.g. "old is stale since version 7 (complete
// served to 100% by the default serve)". Empty when both are current.
std::vector<std::string> DescribeCurrency(const Currency& currency);

// For the history: a line per database whose currency a change turned,
// e.g. "new is stale since version 9 (off served to 100% by the default
// serve)" or "old is current again (a verified backfill)".
std::vector<std::string> CurrencyChanges(const Currency& before,
                                         const Currency& after);

// What the change from `before` to `after` would make users read from a
// stale database under `currency` (the currency after the change, from
// NextCurrency): one line per problem, naming the stage, whom it serves,
// the database, since when and why, and how to make it current. A share
// that already read the stale database before the change is not counted
// again, unless the change itself made that database stale. An explicit
// fallback_stage that reads a stale database is always a problem. Empty if
// the change reads nothing stale.
std::vector<std::string> StaleReads(const Flag* before, const Flag& after,
                                    const Currency& currency);

// Whether a segment change may move users into its rules (adds) and out of
// them (removes): judged from the included and excluded lists; changed
// clauses may do both. `before` nullptr: a new segment (adds only).
struct MembershipMoves {
  bool adds = false;
  bool removes = false;
};
MembershipMoves SegmentMoves(const Segment* before, const Segment& after);

// The rules of `flag` through which a membership change of `segment_key`
// may move users who were dual-written to off (which would make new
// stale), one line each; empty if it cannot. The daemon refuses such a
// segment change: moves that make a database stale are made on the flag,
// where the history and the currency record them.
std::vector<std::string> SegmentMovesOffDualWrites(const Flag& flag,
                                                   const std::string& segment_key,
                                                   MembershipMoves moves);

}  // namespace cutover

#endif  // CUTOVER_CORE_CURRENCY_H_
