#include "core/internal/clauses.h"

#include <algorithm>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "core/internal/field_rules.h"
#include "core/internal/semver.h"
#include "core/limits.h"

namespace cutover::internal {
namespace {

absl::Status CompileClauseValue(const std::string& path, Operator op,
                                const std::string& value, CompiledClause* out) {
  if (absl::Status s = CheckMaxLength(path, value, kMaxValueLength); !s.ok()) {
    return s;
  }
  switch (op) {
    case Operator::kIn:
    case Operator::kNotIn:
      out->value_set.insert(value);
      break;
    case Operator::kStartsWith:
    case Operator::kEndsWith:
      out->values.push_back(value);
      break;
    case Operator::kMatches: {
      RE2::Options options;
      options.set_log_errors(false);  // the core does no I/O; we report it
      auto pattern = std::make_unique<const RE2>(value, options);
      if (!pattern->ok()) {
        return FieldError(
            path, absl::StrCat("invalid RE2 pattern: ", pattern->error()));
      }
      out->patterns.push_back(std::move(pattern));
      break;
    }
    case Operator::kInSegment:
      if (!IsKeyLike(value, kMaxKeyLength)) {
        return FieldError(path, absl::StrCat("must be a segment key matching ",
                                             KeyPattern(kMaxKeyLength),
                                             ", got ", Quote(value)));
      }
      out->values.push_back(value);
      break;
    default:
      if (IsNumberOperator(op)) {
        if (!ParseNumber(value, &out->number)) {
          return FieldError(path, absl::StrCat("must be a finite decimal "
                                               "number, got ",
                                               Quote(value)));
        }
      } else if (IsSemVerOperator(op)) {
        SemVerView version;
        if (!ParseSemVer(value, &version)) {
          return FieldError(path,
                            absl::StrCat("must be a semantic version "
                                         "MAJOR.MINOR.PATCH[-PRERELEASE], got ",
                                         Quote(value)));
        }
        out->semver = {version.major, version.minor, version.patch,
                       std::string(version.prerelease)};
      }
      break;
  }
  return absl::OkStatus();
}

absl::Status CompileClause(const Clause& clause, const std::string& path,
                           ClauseHome home, CompiledClause* out) {
  const std::string op_path = Child(path, "op");
  if (clause.op == Operator::kUnspecified) {
    return FieldError(op_path, "required");
  }
  if (clause.op < Operator::kUnspecified || clause.op > Operator::kInSegment) {
    return FieldError(op_path, absl::StrCat("unknown operator ",
                                            static_cast<int>(clause.op)));
  }
  if (clause.op == Operator::kInSegment && home == ClauseHome::kSegment) {
    return FieldError(op_path, "in_segment is not allowed in a segment");
  }
  out->op = clause.op;

  // in_segment ignores the attribute (it may be anything, even empty).
  if (clause.op != Operator::kInSegment) {
    if (!IsAttributeName(clause.attribute)) {
      return FieldError(Child(path, "attribute"),
                        absl::StrCat("must match ", AttributePattern(),
                                     ", got ", Quote(clause.attribute)));
    }
    out->attribute = clause.attribute;
    out->reads_targeting_key = clause.attribute == kTargetingKeyAttribute;
  }

  const std::string values_path = Child(path, "values");
  if (clause.values.empty()) {
    return FieldError(values_path, "at least one value required");
  }
  if (clause.values.size() > kMaxValuesPerClause) {
    return FieldError(values_path, absl::StrFormat("at most %d values, got %d",
                                                   kMaxValuesPerClause,
                                                   clause.values.size()));
  }
  if ((IsSemVerOperator(clause.op) || IsNumberOperator(clause.op)) &&
      clause.values.size() != 1) {
    return FieldError(
        values_path,
        absl::StrFormat("%s takes exactly one value, got %d",
                        OperatorName(clause.op), clause.values.size()));
  }
  for (size_t i = 0; i < clause.values.size(); ++i) {
    if (absl::Status s = CompileClauseValue(Indexed(values_path, i), clause.op,
                                            clause.values[i], out);
        !s.ok()) {
      return s;
    }
  }
  return absl::OkStatus();
}

// The attribute a clause reads, or nullptr if the context lacks it. An empty
// targeting key counts as absent: it identifies nobody.
const std::string* AttributeOf(const CompiledClause& clause,
                               const Context& context) {
  if (clause.reads_targeting_key) {
    return context.targeting_key.empty() ? nullptr : &context.targeting_key;
  }
  const auto it = context.attributes.find(clause.attribute);
  return it == context.attributes.end() ? nullptr : &it->second;
}

bool SegmentsContain(const std::vector<std::string>& segment_keys,
                     const SegmentIndex& segments, const Context& context) {
  for (const std::string& key : segment_keys) {
    const auto it = segments.find(key);
    // A segment that does not exist (yet, or any more) has no members.
    if (it != segments.end() && it->second != nullptr &&
        it->second->Contains(context)) {
      return true;
    }
  }
  return false;
}

// `segments` is null inside a segment, where in_segment cannot occur.
bool ClauseMatches(const CompiledClause& clause, const SegmentIndex* segments,
                   const Context& context) {
  if (clause.op == Operator::kInSegment) {
    return segments != nullptr &&
           SegmentsContain(clause.values, *segments, context);
  }
  const std::string* attribute = AttributeOf(clause, context);
  // A user without the attribute matches no clause on it, not_in included:
  // "not in the beta list" should not select users we know nothing about.
  if (attribute == nullptr) return false;

  switch (clause.op) {
    case Operator::kIn:
      return clause.value_set.contains(*attribute);
    case Operator::kNotIn:
      return !clause.value_set.contains(*attribute);
    case Operator::kStartsWith:
      return std::any_of(clause.values.begin(), clause.values.end(),
                         [attribute](const std::string& prefix) {
                           return absl::StartsWith(*attribute, prefix);
                         });
    case Operator::kEndsWith:
      return std::any_of(clause.values.begin(), clause.values.end(),
                         [attribute](const std::string& suffix) {
                           return absl::EndsWith(*attribute, suffix);
                         });
    case Operator::kMatches:
      return std::any_of(clause.patterns.begin(), clause.patterns.end(),
                         [attribute](const std::unique_ptr<const RE2>& re) {
                           return RE2::PartialMatch(*attribute, *re);
                         });
    default:
      break;
  }
  if (IsNumberOperator(clause.op)) {
    double number;
    if (!ParseNumber(*attribute, &number)) return false;
    const int c = (number > clause.number) - (number < clause.number);
    return ComparisonHolds(clause.op, c);
  }
  if (IsSemVerOperator(clause.op)) {
    SemVerView version;
    if (!ParseSemVer(*attribute, &version)) return false;
    return ComparisonHolds(clause.op,
                           CompareSemVer(version, clause.semver.view()));
  }
  return false;  // kUnspecified cannot be compiled
}

}  // namespace

absl::Status CompileClauses(const std::vector<Clause>& clauses,
                            const std::string& path, ClauseHome home,
                            std::vector<CompiledClause>* out) {
  if (clauses.size() > kMaxClausesPerRule) {
    return FieldError(
        path, absl::StrFormat("at most %d clauses, got %d", kMaxClausesPerRule,
                              clauses.size()));
  }
  out->resize(clauses.size());
  for (size_t i = 0; i < clauses.size(); ++i) {
    if (absl::Status s =
            CompileClause(clauses[i], Indexed(path, i), home, &(*out)[i]);
        !s.ok()) {
      return s;
    }
  }
  return absl::OkStatus();
}

bool AllClausesMatch(const std::vector<CompiledClause>& clauses,
                     const SegmentIndex* segments, const Context& context) {
  for (const CompiledClause& clause : clauses) {
    if (!ClauseMatches(clause, segments, context)) return false;
  }
  return true;
}

}  // namespace cutover::internal
