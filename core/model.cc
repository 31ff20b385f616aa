#include "core/model.h"

#include "absl/strings/match.h"

namespace cutover {

const char* OperatorName(Operator op) {
  switch (op) {
    case Operator::kUnspecified:
      return "unspecified";
    case Operator::kIn:
      return "in";
    case Operator::kNotIn:
      return "not_in";
    case Operator::kStartsWith:
      return "starts_with";
    case Operator::kEndsWith:
      return "ends_with";
    case Operator::kMatches:
      return "matches";
    case Operator::kSemverEq:
      return "semver_eq";
    case Operator::kSemverLt:
      return "semver_lt";
    case Operator::kSemverLe:
      return "semver_le";
    case Operator::kSemverGt:
      return "semver_gt";
    case Operator::kSemverGe:
      return "semver_ge";
    case Operator::kNumberEq:
      return "number_eq";
    case Operator::kNumberLt:
      return "number_lt";
    case Operator::kNumberLe:
      return "number_le";
    case Operator::kNumberGt:
      return "number_gt";
    case Operator::kNumberGe:
      return "number_ge";
    case Operator::kInSegment:
      return "in_segment";
  }
  return "unspecified";
}

std::optional<Operator> ParseOperator(const std::string& name) {
  // "unspecified" is deliberately not parsed: it is not an operator a user
  // can ask for, and accepting it would only defer the error to validation.
  for (int i = static_cast<int>(Operator::kIn);
       i <= static_cast<int>(Operator::kInSegment); ++i) {
    const Operator op = static_cast<Operator>(i);
    if (absl::EqualsIgnoreCase(name, OperatorName(op))) return op;
  }
  return std::nullopt;
}

bool SameClauses(const std::vector<Clause>& a, const std::vector<Clause>& b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (a[i].attribute != b[i].attribute || a[i].op != b[i].op ||
        a[i].values != b[i].values) {
      return false;
    }
  }
  return true;
}

}  // namespace cutover
