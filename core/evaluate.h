// The evaluation core: which stage a flag serves to a user, and why.
//
//   absl::StatusOr<CompiledFlag> flag = CompileFlag(model_flag);  // validates
//   Decision d = Decide(*flag, segments, context);
//
// Compiling validates every field (errors are INVALID_ARGUMENT naming the
// field, e.g. "rules[1].clauses[0].values[0]: invalid RE2 pattern: ...")
// and precomputes what evaluation needs (RE2 programs, parsed numbers and
// versions, rollouts ordered most advanced first), so Decide does no parsing
// and no allocation beyond the Decision, and Evaluate (the Verdict alone,
// for a request path that only routes) none at all.
//
// No I/O, clock, metrics or locks: Decide is a pure function of its
// arguments. Compiled objects are immutable and safe to share across threads.
#ifndef CUTOVER_CORE_EVALUATE_H_
#define CUTOVER_CORE_EVALUATE_H_

#include <cstdint>
#include <memory>
#include <string>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "core/model.h"
#include "core/stage.h"

namespace cutover {

// Why a decision is what it is (numeric values match cutover.v1.Reason).
enum class Reason {
  kUnspecified = 0,
  kDisabled = 1,
  kRuleMatch = 2,
  kSplit = 3,
  kDefault = 4,
  kFlagNotFound = 5,
  kError = 6,
  kCached = 7,
  kStale = 8,
};

const char* ReasonName(Reason reason);  // "DISABLED", "RULE_MATCH", ...

// The answer for one flag and one user.
struct Decision {
  std::string flag_key;
  Stage stage = Stage::kOff;
  StagePlan plan;  // PlanFor(stage)
  std::string old_target;
  std::string new_target;
  Reason reason = Reason::kUnspecified;
  std::string rule_id;   // set for kRuleMatch
  int32_t bucket = -1;   // set when a rollout decided
  int64_t flag_version = 0;
  std::string error;     // set for kError
  double compare_sample_rate = 1.0;
};

// What evaluating a flag for one user found, without the flag's names: the
// stage (which database to read, which to write: PlanFor), why, and the
// bucket and rule that decided. A request path that only routes needs no
// more, and it copies like two ints; a Decision is this plus the flag's
// key, targets, version and rule id (DecisionFromVerdict).
struct Verdict {
  Stage stage = Stage::kOff;
  Reason reason = Reason::kUnspecified;
  int32_t bucket = -1;      // set when a rollout decided
  int32_t rule_index = -1;  // the matched rule in flag().rules (kRuleMatch)
};

// The safe decision: off, old database only, with the given reason.
Decision SafeDecision(std::string flag_key, Reason reason,
                      std::string error = "");

class CompiledFlag;
class CompiledSegment;

// Segments by key, as a flag's IN_SEGMENT clauses look them up.
using SegmentIndex =
    absl::flat_hash_map<std::string, std::shared_ptr<const CompiledSegment>>;

// Validates and compiles. INVALID_ARGUMENT names the first bad field.
// Does not check that IN_SEGMENT clauses name existing segments (that is
// the store's business); an unknown segment simply does not match.
absl::StatusOr<std::shared_ptr<const CompiledFlag>> CompileFlag(Flag flag);
absl::StatusOr<std::shared_ptr<const CompiledSegment>> CompileSegment(
    Segment segment);

// Validation only (CompileFlag(...).status()).
absl::Status ValidateFlag(const Flag& flag);
// Whether `key` may name a flag: INVALID_ARGUMENT "must match <pattern>,
// got \"<key>\"" (no field name: the caller's field prefixes it).
absl::Status ValidateFlagKey(absl::string_view key);
absl::Status ValidateSegment(const Segment& segment);

// The decision for `context`. Never fails: a context that cannot be
// evaluated (e.g. no targeting key while bucketing by key) gets the
// rollout's least advanced stage or, for broken input, off with kError.
Decision Decide(const CompiledFlag& flag, const SegmentIndex& segments,
                const Context& context);
// Decide into `out`, every field of which it sets: for a caller that
// builds the Decision in place (the client's local evaluation returns it
// without a move). DecisionFromVerdict(flag, Evaluate(...), out).
void DecideInto(const CompiledFlag& flag, const SegmentIndex& segments,
                const Context& context, Decision& out);
// The same evaluation without the names: no string is read or copied.
Verdict Evaluate(const CompiledFlag& flag, const SegmentIndex& segments,
                 const Context& context);
// Sets every field of `out`: `verdict` (which Evaluate found for `flag`)
// with the flag's key, targets, version, rule id and compare rate.
void DecisionFromVerdict(const CompiledFlag& flag, const Verdict& verdict,
                         Decision& out);

// A flag after validation, ready to evaluate. Immutable.
class CompiledFlag {
 public:
  const Flag& flag() const { return flag_; }
  struct Internal;  // precomputed evaluation data, see evaluate.cc
  const Internal& internal() const { return *internal_; }

  CompiledFlag(Flag flag, std::shared_ptr<const Internal> internal)
      : flag_(std::move(flag)), internal_(std::move(internal)) {}

 private:
  Flag flag_;
  std::shared_ptr<const Internal> internal_;
};

// A segment after validation, ready to evaluate. Immutable.
class CompiledSegment {
 public:
  const Segment& segment() const { return segment_; }
  // Whether the user is in the segment (excluded wins, then included, then
  // the clauses if any).
  bool Contains(const Context& context) const;

  struct Internal;
  CompiledSegment(Segment segment, std::shared_ptr<const Internal> internal)
      : segment_(std::move(segment)), internal_(std::move(internal)) {}

 private:
  Segment segment_;
  std::shared_ptr<const Internal> internal_;
};

}  // namespace cutover

#endif  // CUTOVER_CORE_EVALUATE_H_
