// The migration-flag model, as plain data: what a flag, a rule, a clause, a
// rollout and a segment are, independent of any wire format. These structs
// mirror the protobuf messages of proto/cutover/v1/cutover.proto field for
// field (one converter, convert/, maps between them), so validation messages
// name fields the way an API user sees them.
//
// Plain values; not synchronised. Share them between threads only as const.
#ifndef CUTOVER_CORE_MODEL_H_
#define CUTOVER_CORE_MODEL_H_

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/time/time.h"
#include "core/stage.h"

namespace cutover {

// How a clause compares an attribute with its values; see the proto enum.
enum class Operator {
  kUnspecified = 0,
  kIn,
  kNotIn,
  kStartsWith,
  kEndsWith,
  kMatches,
  kSemverEq,
  kSemverLt,
  kSemverLe,
  kSemverGt,
  kSemverGe,
  kNumberEq,
  kNumberLt,
  kNumberLe,
  kNumberGt,
  kNumberGe,
  kInSegment,
};

// The lowercase name used by the CLI and docs ("in", "not_in", "semver_lt",
// "in_segment"...). "unspecified" for kUnspecified.
const char* OperatorName(Operator op);
// Parses OperatorName's output, case-insensitively; nullopt if unknown or
// "unspecified" (not an operator anyone can ask for).
std::optional<Operator> ParseOperator(const std::string& name);

// The attribute name that means "the context's targeting key".
inline constexpr char kTargetingKeyAttribute[] = "key";

// One condition on a user.
struct Clause {
  std::string attribute;
  Operator op = Operator::kUnspecified;
  std::vector<std::string> values;
};

// Whether two clause lists are the same, clause by clause (a rule whose
// clauses changed counts as a new rule where shares are compared).
bool SameClauses(const std::vector<Clause>& a, const std::vector<Clause>& b);

// A share of a rollout: `weight` thousandths of a percent get `stage`.
struct Split {
  Stage stage = Stage::kUnspecified;
  uint32_t weight = 0;
};

// Weights of all splits sum to kTotalWeight.
inline constexpr uint32_t kTotalWeight = 100000;

struct Rollout {
  std::vector<Split> splits;
};

// One stage for everyone, or a rollout. Exactly one of the two is set.
struct Serve {
  std::optional<Stage> stage;
  std::optional<Rollout> rollout;
};

struct Rule {
  std::string id;
  std::string description;
  std::vector<Clause> clauses;
  Serve serve;
};

// What must hold before a flag serves more users shadow or later, or live
// or later (see core/gates.h and the proto's Gates).
struct Gates {
  bool require_backfill = false;
  std::optional<double> max_mismatch_rate;  // unset: no mismatch gate
  int64_t min_samples = 0;                  // 0: no sample gate
};

// A database known to have missed users' writes (core/currency.h says
// when one becomes stale and what makes it current again).
struct StaleMark {
  int64_t since_version = 0;  // the flag version that made it stale
  absl::Time since = absl::UnixEpoch();
  std::string why;  // e.g. "complete served to 100% (default serve)"
  // When the flag last stopped serving the stage that skips this database
  // (old: complete; new: off, to anyone); unset while it still serves it. Only a backfill started at or after this time can
  // make the database current again.
  std::optional<absl::Time> skipped_until;
};

// Which of a flag's databases are stale; unset marks are current.
struct Currency {
  std::optional<StaleMark> old_stale;
  std::optional<StaleMark> new_stale;
};

// The built-in checks of a ramp (core/ramp.h); numbers as the API's.
enum class RampCheckKind {
  kUnspecified = 0,
  kMismatchRate = 1,
  kNewErrorRate = 2,
  kErrorRateDelta = 3,
  kP99LatencyRatio = 4,
  kPromql = 5,
};

// Which side of a check's threshold passes; numbers as the API's RampBound.
enum class RampBound { kMax = 0, kMin = 1 };

// A ramp check: breached when its figure is above threshold (below it with
// RampBound::kMin) with at least max(1, min_samples) samples.
struct RampCheck {
  RampCheck() = default;
  // A telemetry check ({kind, threshold, min_samples}), or any with all.
  RampCheck(RampCheckKind kind, double threshold, int64_t min_samples,
            std::string promql = "", RampBound bound = RampBound::kMax)
      : kind(kind),
        threshold(threshold),
        min_samples(min_samples),
        promql(std::move(promql)),
        bound(bound) {}

  RampCheckKind kind = RampCheckKind::kUnspecified;
  double threshold = 0;
  int64_t min_samples = 0;
  std::string promql;  // the query of a kPromql check; empty otherwise
  RampBound bound = RampBound::kMax;
};

// One step: the default serve it sets, and its hold (0: the plan's).
struct RampStep {
  Serve serve;
  int64_t hold_seconds = 0;
};

// What a breach does.
enum class BreachAction { kPause = 0, kRollback = 1 };

// A guarded ramp plan (see the proto's RampPlan and core/ramp.h).
struct RampPlan {
  std::vector<RampStep> steps;
  int64_t hold_seconds = 0;
  int64_t interval_seconds = 0;
  int64_t window_seconds = 0;
  BreachAction on_breach = BreachAction::kPause;
  int64_t inconclusive_limit_seconds = 0;  // 0: 10 intervals
  std::vector<RampCheck> checks;
};

struct Flag {
  std::string key;
  std::string description;
  std::string owner;
  std::vector<std::string> tags;
  std::string old_target;
  std::string new_target;
  bool enabled = false;
  std::string bucket_by;  // empty or "key": the targeting key
  std::vector<Rule> rules;
  Serve default_serve;
  std::optional<double> compare_sample_rate;  // unset means 1
  Gates gates;
  // The stage a disabled flag serves (at most: see core/currency.h); unset:
  // the computed data-safe stage.
  std::optional<Stage> fallback_stage;
  // The guarded-ramp plan; unset: none.
  std::optional<RampPlan> ramp;
  int64_t version = 0;
  bool archived = false;
  // Kept by the daemon from what the flag served (output only).
  Currency currency;
};

struct Segment {
  std::string key;
  std::string description;
  std::vector<std::string> included;
  std::vector<std::string> excluded;
  std::vector<Clause> clauses;
  int64_t version = 0;
};

// The user a decision is for.
struct Context {
  std::string targeting_key;
  std::map<std::string, std::string> attributes;
};

}  // namespace cutover

#endif  // CUTOVER_CORE_MODEL_H_
