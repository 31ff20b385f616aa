// Stage gates: the conditions a flag declares (Flag::gates) that a change
// must meet before it serves more users a stage that reads the new
// database.
//
//   require_backfill    before a larger share gets shadow or later, the
//                       flag's backfill job must be done (copied, verified,
//                       every mismatch it found repaired), and the new
//                       database not stale since (after.currency, see
//                       core/currency.h);
//   min_samples         before a larger share gets live or later, the last
//                       telemetry window must hold at least this many
//                       compared reads;
//   max_mismatch_rate   ... and their mismatch rate must not be above it.
//
// A "larger share" is measured per serve: the default serve, and each rule
// by id (a new rule, or a rule whose clauses changed, counts as all of its
// share). Moves back, and changes that leave every share the same, pass.
// Segment membership changes and rule reordering are not gated.
//
// Pure functions over plain data; thread-safe.
#ifndef CUTOVER_CORE_GATES_H_
#define CUTOVER_CORE_GATES_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "core/model.h"
#include "core/stage.h"

namespace cutover {

// What the daemon knows of a flag's backfill job of one direction when a
// change is checked. The require_backfill gate is given the FORWARD job's
// (old -> new); a rule on which database is current may ask for the
// REVERSE job's (new -> old) too: the direction is the one asked for.
struct BackfillFacts {
  bool exists = false;
  std::string phase;  // "copying", "verifying" or "done"
  bool done = false;  // phase is done
  int64_t rows_copied = 0;
  int64_t rows_total_estimate = 0;  // 0: unknown
  int64_t rows_verified = 0;
  int64_t rows_mismatched = 0;
  int64_t rows_repaired = 0;
  // When the job was created (the Unix epoch if it does not exist).
  absl::Time create_time = absl::UnixEpoch();
  // When its verify pass finished; unset before (and without a job).
  std::optional<absl::Time> verify_done_time;
};

// The flag's compared reads over the last telemetry window.
struct WindowFacts {
  int64_t window_seconds = 0;
  uint64_t compared = 0;
  uint64_t mismatches = 0;
};

struct GateFacts {
  BackfillFacts backfill;
  WindowFacts window;
};

// The share of users (thousandths of a percent, 0..kTotalWeight) a serve
// gives `stage` or a more advanced stage.
uint32_t ShareAtOrBeyond(const Serve& serve, Stage stage);

// Whether `after` gives a larger share of users `stage` or later than
// `before` (nullptr: a new flag, which gives nobody anything yet).
bool AdvancesTo(const Flag* before, const Flag& after, Stage stage);

// Whether `gates` declares any gate (a flag without gates is never held).
bool DeclaresGates(const Gates& gates);

// The gates of `after` that the change from `before` breaks, one line each
// naming the gate and the figure, e.g. "require_backfill: the backfill of
// orders is copying (1200 of about 5000 rows copied), not verified" or
// "max_mismatch_rate: mismatch rate 0.0042 (21 of 5000 compared reads in
// the last 300 s) is above 0.001". Empty if the change may go ahead.
std::vector<std::string> BrokenGates(const Flag* before, const Flag& after,
                                     const GateFacts& facts);

}  // namespace cutover

#endif  // CUTOVER_CORE_GATES_H_
