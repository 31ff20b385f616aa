// Numbers and semantic versions as clauses compare them: parsed once at
// compile time for a clause's value, and without allocation at decide time
// for a user's attribute. Semantic versions follow semver 2.0 precedence
// (build metadata ignored), with a leading "v" and leading zeros tolerated.
// Not part of the core's public interface (core/evaluate.h is).
//
// Pure functions and plain values; thread-safe.
#ifndef CUTOVER_CORE_INTERNAL_SEMVER_H_
#define CUTOVER_CORE_INTERNAL_SEMVER_H_

#include <cstdint>
#include <string>

#include "absl/strings/string_view.h"
#include "core/model.h"

namespace cutover::internal {

// A decimal number, finite (absl::SimpleAtod: no allocation).
bool ParseNumber(absl::string_view text, double* out);

// A parsed semantic version whose prerelease points into the parsed text;
// valid only as long as that text.
struct SemVerView {
  uint64_t major = 0;
  uint64_t minor = 0;
  uint64_t patch = 0;
  absl::string_view prerelease;  // empty: a release
};

// A semantic version owning its prerelease, for compiled clause values.
struct SemVer {
  uint64_t major = 0;
  uint64_t minor = 0;
  uint64_t patch = 0;
  std::string prerelease;

  SemVerView view() const { return {major, minor, patch, prerelease}; }
};

// [v]MAJOR.MINOR.PATCH[-PRERELEASE][+BUILD] into *out; false if `text` is
// not one. *out's prerelease points into `text`.
bool ParseSemVer(absl::string_view text, SemVerView* out);
// -1, 0 or 1 as `a` is below, equal to or above `b` in semver precedence.
int CompareSemVer(const SemVerView& a, const SemVerView& b);

// The semver_* and number_* operators, and whether a three-way comparison
// `c` (attribute against value) satisfies one of them.
bool IsSemVerOperator(Operator op);
bool IsNumberOperator(Operator op);
bool ComparisonHolds(Operator op, int c);

}  // namespace cutover::internal

#endif  // CUTOVER_CORE_INTERNAL_SEMVER_H_
