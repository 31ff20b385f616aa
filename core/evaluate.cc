// The evaluation core. Reading order:
//
//   1. Field rules and error messages (what a valid flag is).
//   2. Numbers and semantic versions (parsed once at compile time for clause
//      values, and without allocation at decide time for attributes).
//   3. The compiled forms: CompiledClause, CompiledServe, CompiledRule and
//      the two Internal structs.
//   4. Compiling: validate each field and precompute its compiled form.
//   5. Evaluating: clauses -> segments -> rules -> buckets -> stages.
//
// Everything Decide needs was prepared by CompileFlag, so Decide parses no
// value, compiles no regular expression and allocates only the strings of
// the Decision it returns.
#include "core/evaluate.h"

#include <algorithm>
#include <cmath>
#include <memory>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/string_view.h"
#include "core/bucketing.h"
#include "core/limits.h"
#include "re2/re2.h"

namespace cutover {
namespace {

// ---------------------------------------------------------------------------
// 1. Field rules and error messages
// ---------------------------------------------------------------------------

// Every validation error is INVALID_ARGUMENT with the field path first, as an
// API user spells it ("rules[1].clauses[0].values[2]"), so a CLI or UI can
// point at the field.
absl::Status FieldError(absl::string_view path, absl::string_view problem) {
  return absl::InvalidArgumentError(absl::StrCat(path, ": ", problem));
}

std::string Indexed(absl::string_view path, size_t index) {
  return absl::StrCat(path, "[", index, "]");
}

std::string Child(absl::string_view path, absl::string_view field) {
  return path.empty() ? std::string(field) : absl::StrCat(path, ".", field);
}

// A user value in a message: quoted, escaped (it may hold anything) and
// shortened, so that an error message stays one readable line.
std::string Quote(absl::string_view value) {
  constexpr size_t kShown = 64;
  if (value.size() <= kShown) {
    return absl::StrCat("\"", absl::CHexEscape(value), "\"");
  }
  return absl::StrCat("\"", absl::CHexEscape(value.substr(0, kShown)), "\"...");
}

bool IsDigit(char c) { return c >= '0' && c <= '9'; }
bool IsLower(char c) { return c >= 'a' && c <= 'z'; }
bool IsUpper(char c) { return c >= 'A' && c <= 'Z'; }
bool IsAlnum(char c) { return IsDigit(c) || IsLower(c) || IsUpper(c); }

// [a-z0-9][a-z0-9._-]{0,max_length-1}: flag keys, segment keys, rule ids.
// Lowercase only, so keys never differ by case alone.
bool IsKeyLike(absl::string_view s, size_t max_length) {
  if (s.empty() || s.size() > max_length) return false;
  if (!IsLower(s[0]) && !IsDigit(s[0])) return false;
  for (char c : s) {
    if (!IsLower(c) && !IsDigit(c) && c != '.' && c != '_' && c != '-') {
      return false;
    }
  }
  return true;
}

std::string KeyPattern(size_t max_length) {
  return absl::StrFormat("[a-z0-9][a-z0-9._-]{0,%d}", max_length - 1);
}

// [A-Za-z0-9_.-]{1,64}: attribute names (clauses, bucket_by).
bool IsAttributeName(absl::string_view s) {
  if (s.empty() || s.size() > kMaxAttributeLength) return false;
  for (char c : s) {
    if (!IsAlnum(c) && c != '_' && c != '.' && c != '-') return false;
  }
  return true;
}

std::string AttributePattern() {
  return absl::StrFormat("[A-Za-z0-9_.-]{1,%d}", kMaxAttributeLength);
}

// [A-Za-z0-9_.:-]{1,64}: tags ("team:payments").
bool IsTag(absl::string_view s) {
  if (s.empty() || s.size() > kMaxTagLength) return false;
  for (char c : s) {
    if (!IsAlnum(c) && c != '_' && c != '.' && c != ':' && c != '-') {
      return false;
    }
  }
  return true;
}

bool HasControlCharacter(absl::string_view s) {
  for (char c : s) {
    const auto byte = static_cast<unsigned char>(c);
    if (byte < 0x20 || byte == 0x7f) return true;
  }
  return false;
}

absl::Status CheckMaxLength(absl::string_view path, absl::string_view value,
                            size_t max_length) {
  if (value.size() > max_length) {
    return FieldError(path, absl::StrFormat("at most %d bytes, got %d",
                                            max_length, value.size()));
  }
  return absl::OkStatus();
}

bool IsStage(Stage stage) {
  return stage >= kFirstStage && stage <= kLastStage;
}

std::string StageForMessage(Stage stage) {
  if (stage == Stage::kUnspecified || IsStage(stage)) return StageName(stage);
  return absl::StrCat(static_cast<int>(stage));  // not a value of the enum
}

absl::Status CheckStage(absl::string_view path, Stage stage) {
  if (IsStage(stage)) return absl::OkStatus();
  return FieldError(path,
                    absl::StrCat("must be one of off, dualwrite, shadow, live, "
                                 "rampdown, complete, got ",
                                 StageForMessage(stage)));
}

// ---------------------------------------------------------------------------
// 2. Numbers and semantic versions
// ---------------------------------------------------------------------------

// A decimal number, finite. Used both for clause values (at compile time)
// and for attributes (at decide time); absl::SimpleAtod does not allocate.
bool ParseNumber(absl::string_view text, double* out) {
  return absl::SimpleAtod(text, out) && std::isfinite(*out);
}

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

// Reads a MAJOR, MINOR or PATCH number at the front of *text. Leading zeros
// are tolerated (semver forbids them, but app versions like "1.02.0" exist
// and their meaning is not in doubt).
bool ConsumeVersionNumber(absl::string_view* text, uint64_t* out) {
  constexpr size_t kMaxDigits = 18;  // fits in uint64_t without overflow
  size_t n = 0;
  uint64_t value = 0;
  while (n < text->size() && IsDigit((*text)[n])) {
    if (n == kMaxDigits) return false;
    value = value * 10 + static_cast<uint64_t>((*text)[n] - '0');
    ++n;
  }
  if (n == 0) return false;
  text->remove_prefix(n);
  *out = value;
  return true;
}

// Dot-separated non-empty identifiers of [0-9A-Za-z-], as semver requires
// of prerelease and build metadata.
bool IsDottedIdentifiers(absl::string_view s) {
  if (s.empty()) return false;
  bool identifier_empty = true;
  for (char c : s) {
    if (c == '.') {
      if (identifier_empty) return false;
      identifier_empty = true;
    } else if (IsAlnum(c) || c == '-') {
      identifier_empty = false;
    } else {
      return false;
    }
  }
  return !identifier_empty;
}

// [v]MAJOR.MINOR.PATCH[-PRERELEASE][+BUILD]; build metadata is checked and
// then ignored, as semver precedence ignores it.
bool ParseSemVer(absl::string_view text, SemVerView* out) {
  if (!text.empty() && (text[0] == 'v' || text[0] == 'V')) {
    text.remove_prefix(1);
  }
  SemVerView version;
  if (!ConsumeVersionNumber(&text, &version.major)) return false;
  if (text.empty() || text[0] != '.') return false;
  text.remove_prefix(1);
  if (!ConsumeVersionNumber(&text, &version.minor)) return false;
  if (text.empty() || text[0] != '.') return false;
  text.remove_prefix(1);
  if (!ConsumeVersionNumber(&text, &version.patch)) return false;

  const size_t plus = text.find('+');
  if (plus != absl::string_view::npos) {
    if (!IsDottedIdentifiers(text.substr(plus + 1))) return false;
    text = text.substr(0, plus);
  }
  if (!text.empty()) {
    if (text[0] != '-') return false;
    text.remove_prefix(1);
    if (!IsDottedIdentifiers(text)) return false;
    version.prerelease = text;
  }
  *out = version;
  return true;
}

bool IsAllDigits(absl::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), IsDigit);
}

int Sign(int x) { return (x > 0) - (x < 0); }

// One prerelease identifier against another (semver 2.0 §11.4): numeric ones
// numerically (by length after leading zeros, then digits, so any length
// works), numeric before alphanumeric, alphanumeric ones in ASCII order.
int CompareIdentifier(absl::string_view a, absl::string_view b) {
  const bool a_numeric = IsAllDigits(a);
  const bool b_numeric = IsAllDigits(b);
  if (a_numeric && b_numeric) {
    const auto strip_zeros = [](absl::string_view s) {
      while (s.size() > 1 && s[0] == '0') s.remove_prefix(1);
      return s;
    };
    a = strip_zeros(a);
    b = strip_zeros(b);
    if (a.size() != b.size()) return a.size() < b.size() ? -1 : 1;
    return Sign(a.compare(b));
  }
  if (a_numeric) return -1;
  if (b_numeric) return 1;
  return Sign(a.compare(b));
}

// Prerelease precedence: a release (empty) outranks any prerelease; else
// identifier by identifier, and a shorter list that is a prefix of a longer
// one ranks lower ("alpha" < "alpha.1").
int ComparePrerelease(absl::string_view a, absl::string_view b) {
  if (a.empty() || b.empty()) {
    return static_cast<int>(a.empty()) - static_cast<int>(b.empty());
  }
  while (true) {
    const size_t a_dot = a.find('.');
    const size_t b_dot = b.find('.');
    const int c = CompareIdentifier(a.substr(0, a_dot), b.substr(0, b_dot));
    if (c != 0) return c;
    const bool a_more = a_dot != absl::string_view::npos;
    const bool b_more = b_dot != absl::string_view::npos;
    if (!a_more || !b_more) {
      return static_cast<int>(a_more) - static_cast<int>(b_more);
    }
    a.remove_prefix(a_dot + 1);
    b.remove_prefix(b_dot + 1);
  }
}

int CompareSemVer(const SemVerView& a, const SemVerView& b) {
  if (a.major != b.major) return a.major < b.major ? -1 : 1;
  if (a.minor != b.minor) return a.minor < b.minor ? -1 : 1;
  if (a.patch != b.patch) return a.patch < b.patch ? -1 : 1;
  return ComparePrerelease(a.prerelease, b.prerelease);
}

bool IsSemVerOperator(Operator op) {
  return op >= Operator::kSemverEq && op <= Operator::kSemverGe;
}

bool IsNumberOperator(Operator op) {
  return op >= Operator::kNumberEq && op <= Operator::kNumberGe;
}

// The outcome of a three-way comparison `c` (attribute against value) for
// one of the *_eq/_lt/_le/_gt/_ge operators.
bool ComparisonHolds(Operator op, int c) {
  switch (op) {
    case Operator::kSemverEq:
    case Operator::kNumberEq:
      return c == 0;
    case Operator::kSemverLt:
    case Operator::kNumberLt:
      return c < 0;
    case Operator::kSemverLe:
    case Operator::kNumberLe:
      return c <= 0;
    case Operator::kSemverGt:
    case Operator::kNumberGt:
      return c > 0;
    case Operator::kSemverGe:
    case Operator::kNumberGe:
      return c >= 0;
    default:
      return false;
  }
}

// ---------------------------------------------------------------------------
// 3. Compiled forms
// ---------------------------------------------------------------------------

// A clause ready to match: its values in the shape its operator needs.
// Only the members for `op` are filled.
struct CompiledClause {
  Operator op = Operator::kUnspecified;
  // Attribute "key" reads Context::targeting_key, not Context::attributes.
  bool reads_targeting_key = false;
  std::string attribute;
  // kIn, kNotIn: membership is one hash lookup however many values.
  absl::flat_hash_set<std::string> value_set;
  // kStartsWith, kEndsWith, kInSegment (segment keys): tried in order.
  std::vector<std::string> values;
  // kMatches: compiled once; RE2 objects are thread-safe to match with.
  std::vector<std::unique_ptr<const RE2>> patterns;
  // kNumber*: the single value.
  double number = 0;
  // kSemver*: the single value.
  SemVer semver;
};

// A serve ready to resolve: a single stage, or a rollout whose splits are
// ordered most advanced stage first (the bucket layout).
struct CompiledServe {
  bool is_rollout = false;
  Stage stage = Stage::kOff;
  Rollout rollout;
  // What a user without a bucket value gets: the rollout's least advanced
  // stage, the safest it serves.
  Stage unbucketed_stage = Stage::kOff;
};

// A rule ready to match; its id is the flag's rules[i].id.
struct CompiledRule {
  std::vector<CompiledClause> clauses;
  CompiledServe serve;
};

}  // namespace

// What Decide reads besides the Flag itself: the rules and default serve in
// compiled form, and how to find the user's bucket value.
struct CompiledFlag::Internal {
  std::vector<CompiledRule> rules;  // parallel to Flag::rules
  CompiledServe default_serve;
  // bucket_by empty or "key": bucket by Context::targeting_key.
  bool buckets_by_targeting_key = true;
  std::string bucket_attribute;
  double compare_sample_rate = 1.0;
};

// A segment's lists as hash sets (they may hold 100,000 keys each) and its
// clauses in compiled form.
struct CompiledSegment::Internal {
  absl::flat_hash_set<std::string> included;
  absl::flat_hash_set<std::string> excluded;
  std::vector<CompiledClause> clauses;
};

namespace {

// ---------------------------------------------------------------------------
// 4. Compiling
// ---------------------------------------------------------------------------

// Where a clause is, which decides whether in_segment may appear: segments
// may not nest, so that membership never recurses.
enum class ClauseHome { kRule, kSegment };

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

absl::Status CompileRollout(const Rollout& rollout, const std::string& path,
                            CompiledServe* out) {
  const std::string splits_path = Child(path, "splits");
  if (rollout.splits.empty()) {
    return FieldError(splits_path, "at least one split required");
  }
  uint64_t total = 0;  // 64 bits: no sum of uint32 weights can wrap
  for (size_t i = 0; i < rollout.splits.size(); ++i) {
    const Split& split = rollout.splits[i];
    const std::string stage_path = Child(Indexed(splits_path, i), "stage");
    if (absl::Status s = CheckStage(stage_path, split.stage); !s.ok()) return s;
    for (size_t j = 0; j < i; ++j) {
      if (rollout.splits[j].stage == split.stage) {
        return FieldError(stage_path,
                          absl::StrFormat("%s is already served by splits[%d]; "
                                          "each stage at most once",
                                          StageName(split.stage), j));
      }
    }
    total += split.weight;
  }
  if (total != kTotalWeight) {
    return FieldError(splits_path, absl::StrFormat("weights must sum to %d, "
                                                   "got %d",
                                                   kTotalWeight, total));
  }
  out->is_rollout = true;
  out->rollout = rollout;
  // The bucket layout, made explicit: most advanced stage first.
  std::sort(out->rollout.splits.begin(), out->rollout.splits.end(),
            [](const Split& a, const Split& b) { return a.stage > b.stage; });
  out->unbucketed_stage = LeastAdvancedStage(out->rollout);
  return absl::OkStatus();
}

absl::Status CompileServe(const Serve& serve, const std::string& path,
                          CompiledServe* out) {
  if (serve.stage.has_value() == serve.rollout.has_value()) {
    return FieldError(path, "exactly one of stage or rollout must be set");
  }
  if (serve.stage.has_value()) {
    if (absl::Status s = CheckStage(Child(path, "stage"), *serve.stage);
        !s.ok()) {
      return s;
    }
    out->is_rollout = false;
    out->stage = *serve.stage;
    return absl::OkStatus();
  }
  return CompileRollout(*serve.rollout, Child(path, "rollout"), out);
}

absl::Status CompileRule(const Rule& rule, const std::string& path,
                         CompiledRule* out) {
  const std::string id_path = Child(path, "id");
  if (rule.id.empty()) {
    return FieldError(id_path, "required (the server assigns one on create)");
  }
  if (!IsKeyLike(rule.id, kMaxRuleIdLength)) {
    return FieldError(id_path,
                      absl::StrCat("must match ", KeyPattern(kMaxRuleIdLength),
                                   ", got ", Quote(rule.id)));
  }
  if (absl::Status s = CheckMaxLength(Child(path, "description"),
                                      rule.description, kMaxDescriptionLength);
      !s.ok()) {
    return s;
  }
  const std::string clauses_path = Child(path, "clauses");
  if (rule.clauses.empty()) {
    // A rule without clauses would match everyone and hide the default
    // serve; that is what default_serve is for.
    return FieldError(clauses_path, "at least one clause required");
  }
  if (absl::Status s = CompileClauses(rule.clauses, clauses_path,
                                      ClauseHome::kRule, &out->clauses);
      !s.ok()) {
    return s;
  }
  return CompileServe(rule.serve, Child(path, "serve"), &out->serve);
}

absl::Status CheckTarget(absl::string_view path, const std::string& target) {
  if (target.empty()) return FieldError(path, "required");
  if (absl::Status s = CheckMaxLength(path, target, kMaxTargetLength);
      !s.ok()) {
    return s;
  }
  if (HasControlCharacter(target)) {
    return FieldError(path, "must not contain control characters");
  }
  return absl::OkStatus();
}

absl::StatusOr<std::shared_ptr<const CompiledFlag::Internal>> CompileFlagData(
    const Flag& flag) {
  auto internal = std::make_shared<CompiledFlag::Internal>();

  if (!IsKeyLike(flag.key, kMaxKeyLength)) {
    return FieldError(
        "key", absl::StrCat("must match ", KeyPattern(kMaxKeyLength), ", got ",
                            Quote(flag.key)));
  }
  if (absl::Status s = CheckMaxLength("description", flag.description,
                                      kMaxDescriptionLength);
      !s.ok()) {
    return s;
  }
  if (absl::Status s = CheckMaxLength("owner", flag.owner, kMaxOwnerLength);
      !s.ok()) {
    return s;
  }
  if (flag.tags.size() > kMaxTagsPerFlag) {
    return FieldError(
        "tags", absl::StrFormat("at most %d tags, got %d", kMaxTagsPerFlag,
                                flag.tags.size()));
  }
  for (size_t i = 0; i < flag.tags.size(); ++i) {
    if (!IsTag(flag.tags[i])) {
      return FieldError(Indexed("tags", i),
                        absl::StrFormat("must match [A-Za-z0-9_.:-]{1,%d}, "
                                        "got %s",
                                        kMaxTagLength, Quote(flag.tags[i])));
    }
  }
  if (absl::Status s = CheckTarget("old_target", flag.old_target); !s.ok()) {
    return s;
  }
  if (absl::Status s = CheckTarget("new_target", flag.new_target); !s.ok()) {
    return s;
  }
  if (flag.old_target == flag.new_target) {
    // A migration onto itself would make shadow reads compare a database
    // with itself and report a perfect match: refuse it.
    return FieldError("new_target", "must differ from old_target");
  }
  if (!flag.bucket_by.empty() && !IsAttributeName(flag.bucket_by)) {
    return FieldError(
        "bucket_by", absl::StrCat("must be empty or match ", AttributePattern(),
                                  ", got ", Quote(flag.bucket_by)));
  }
  internal->buckets_by_targeting_key =
      flag.bucket_by.empty() || flag.bucket_by == kTargetingKeyAttribute;
  if (!internal->buckets_by_targeting_key) {
    internal->bucket_attribute = flag.bucket_by;
  }

  if (flag.rules.size() > kMaxRulesPerFlag) {
    return FieldError(
        "rules", absl::StrFormat("at most %d rules, got %d", kMaxRulesPerFlag,
                                 flag.rules.size()));
  }
  internal->rules.resize(flag.rules.size());
  absl::flat_hash_map<absl::string_view, size_t> rule_index_by_id;
  for (size_t i = 0; i < flag.rules.size(); ++i) {
    const std::string path = Indexed("rules", i);
    if (absl::Status s = CompileRule(flag.rules[i], path, &internal->rules[i]);
        !s.ok()) {
      return s;
    }
    const auto [it, inserted] = rule_index_by_id.emplace(flag.rules[i].id, i);
    if (!inserted) {
      return FieldError(Child(path, "id"),
                        absl::StrFormat("%s is already the id of rules[%d]",
                                        Quote(flag.rules[i].id), it->second));
    }
  }

  if (absl::Status s = CompileServe(flag.default_serve, "default_serve",
                                    &internal->default_serve);
      !s.ok()) {
    return s;
  }

  if (flag.compare_sample_rate.has_value()) {
    const double rate = *flag.compare_sample_rate;
    if (!std::isfinite(rate) || rate < 0 || rate > 1) {
      return FieldError("compare_sample_rate",
                        absl::StrCat("must be a number in [0, 1], got ", rate));
    }
  }
  internal->compare_sample_rate = flag.compare_sample_rate.value_or(1.0);

  if (flag.gates.max_mismatch_rate.has_value()) {
    const double rate = *flag.gates.max_mismatch_rate;
    if (!std::isfinite(rate) || rate < 0 || rate > 1) {
      return FieldError("gates.max_mismatch_rate",
                        absl::StrCat("must be a number in [0, 1], got ", rate));
    }
  }
  if (flag.gates.min_samples < 0 || flag.gates.min_samples > kMaxMinSamples) {
    return FieldError("gates.min_samples",
                      absl::StrCat("must be in [0, ", kMaxMinSamples,
                                   "], got ", flag.gates.min_samples));
  }
  return internal;
}

absl::Status CompileSegmentList(const std::vector<std::string>& entries,
                                const std::string& path,
                                absl::flat_hash_set<std::string>* out) {
  if (entries.size() > kMaxSegmentEntries) {
    return FieldError(
        path, absl::StrFormat("at most %d entries, got %d", kMaxSegmentEntries,
                              entries.size()));
  }
  out->reserve(entries.size());
  for (size_t i = 0; i < entries.size(); ++i) {
    const std::string& entry = entries[i];
    // Entries are targeting keys, which are non-empty and free of control
    // characters: anything else could never match and is a mistake.
    if (entry.empty()) return FieldError(Indexed(path, i), "must not be empty");
    if (absl::Status s =
            CheckMaxLength(Indexed(path, i), entry, kMaxValueLength);
        !s.ok()) {
      return s;
    }
    if (HasControlCharacter(entry)) {
      return FieldError(Indexed(path, i),
                        "must not contain control characters");
    }
    out->insert(entry);
  }
  return absl::OkStatus();
}

absl::StatusOr<std::shared_ptr<const CompiledSegment::Internal>>
CompileSegmentData(const Segment& segment) {
  auto internal = std::make_shared<CompiledSegment::Internal>();
  if (!IsKeyLike(segment.key, kMaxKeyLength)) {
    return FieldError(
        "key", absl::StrCat("must match ", KeyPattern(kMaxKeyLength), ", got ",
                            Quote(segment.key)));
  }
  if (absl::Status s = CheckMaxLength("description", segment.description,
                                      kMaxDescriptionLength);
      !s.ok()) {
    return s;
  }
  if (absl::Status s =
          CompileSegmentList(segment.included, "included", &internal->included);
      !s.ok()) {
    return s;
  }
  if (absl::Status s =
          CompileSegmentList(segment.excluded, "excluded", &internal->excluded);
      !s.ok()) {
    return s;
  }
  if (absl::Status s = CompileClauses(segment.clauses, "clauses",
                                      ClauseHome::kSegment, &internal->clauses);
      !s.ok()) {
    return s;
  }
  return internal;
}

// ---------------------------------------------------------------------------
// 5. Evaluating: clauses -> segments -> rules -> buckets -> stages
// ---------------------------------------------------------------------------

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

bool AllClausesMatch(const std::vector<CompiledClause>& clauses,
                     const SegmentIndex* segments, const Context& context) {
  for (const CompiledClause& clause : clauses) {
    if (!ClauseMatches(clause, segments, context)) return false;
  }
  return true;
}

// The value a user is bucketed by; empty if the context lacks it.
absl::string_view BucketValue(const CompiledFlag::Internal& internal,
                              const Context& context) {
  if (internal.buckets_by_targeting_key) return context.targeting_key;
  const auto it = context.attributes.find(internal.bucket_attribute);
  return it == context.attributes.end() ? absl::string_view() : it->second;
}

// The stage a serve gives this user, and the bucket if a rollout decided.
struct Resolved {
  Stage stage = Stage::kOff;
  int32_t bucket = -1;
};

Resolved ResolveServe(const CompiledServe& serve, const Flag& flag,
                      const CompiledFlag::Internal& internal,
                      const Context& context) {
  if (!serve.is_rollout) return {serve.stage, -1};
  const absl::string_view value = BucketValue(internal, context);
  // Without a bucket value every such user would share one bucket and move
  // together; serve them the rollout's least advanced (safest) stage instead.
  if (value.empty()) return {serve.unbucketed_stage, -1};
  const uint32_t bucket =
      BucketFor(flag.key, std::string_view(value.data(), value.size()));
  return {StageForBucket(serve.rollout, bucket), static_cast<int32_t>(bucket)};
}

}  // namespace

const char* ReasonName(Reason reason) {
  switch (reason) {
    case Reason::kUnspecified:
      return "UNSPECIFIED";
    case Reason::kDisabled:
      return "DISABLED";
    case Reason::kRuleMatch:
      return "RULE_MATCH";
    case Reason::kSplit:
      return "SPLIT";
    case Reason::kDefault:
      return "DEFAULT";
    case Reason::kFlagNotFound:
      return "FLAG_NOT_FOUND";
    case Reason::kError:
      return "ERROR";
    case Reason::kCached:
      return "CACHED";
    case Reason::kStale:
      return "STALE";
  }
  return "UNSPECIFIED";
}

Decision SafeDecision(std::string flag_key, Reason reason, std::string error) {
  Decision decision;
  decision.flag_key = std::move(flag_key);
  decision.stage = Stage::kOff;
  decision.plan = PlanFor(Stage::kOff);
  decision.reason = reason;
  decision.error = std::move(error);
  return decision;
}

absl::StatusOr<std::shared_ptr<const CompiledFlag>> CompileFlag(Flag flag) {
  absl::StatusOr<std::shared_ptr<const CompiledFlag::Internal>> internal =
      CompileFlagData(flag);
  if (!internal.ok()) return internal.status();
  return std::shared_ptr<const CompiledFlag>(
      std::make_shared<CompiledFlag>(std::move(flag), *std::move(internal)));
}

absl::StatusOr<std::shared_ptr<const CompiledSegment>> CompileSegment(
    Segment segment) {
  absl::StatusOr<std::shared_ptr<const CompiledSegment::Internal>> internal =
      CompileSegmentData(segment);
  if (!internal.ok()) return internal.status();
  return std::shared_ptr<const CompiledSegment>(
      std::make_shared<CompiledSegment>(std::move(segment),
                                        *std::move(internal)));
}

absl::Status ValidateFlag(const Flag& flag) {
  return CompileFlagData(flag).status();
}

absl::Status ValidateSegment(const Segment& segment) {
  return CompileSegmentData(segment).status();
}

bool CompiledSegment::Contains(const Context& context) const {
  const Internal& internal = *internal_;
  // Lists name targeting keys; an empty key names nobody.
  if (!context.targeting_key.empty()) {
    if (internal.excluded.contains(context.targeting_key)) return false;
    if (internal.included.contains(context.targeting_key)) return true;
  }
  return !internal.clauses.empty() &&
         AllClausesMatch(internal.clauses, /*segments=*/nullptr, context);
}

Decision Decide(const CompiledFlag& compiled, const SegmentIndex& segments,
                const Context& context) {
  const Flag& flag = compiled.flag();
  const CompiledFlag::Internal& internal = compiled.internal();

  Decision decision;
  decision.flag_key = flag.key;
  decision.old_target = flag.old_target;
  decision.new_target = flag.new_target;
  decision.flag_version = flag.version;
  decision.compare_sample_rate = internal.compare_sample_rate;

  if (!flag.enabled) {  // the kill switch beats every rule
    decision.stage = Stage::kOff;
    decision.reason = Reason::kDisabled;
    decision.plan = PlanFor(decision.stage);
    return decision;
  }

  // Rules in order; the first whose clauses all match decides.
  const CompiledServe* serve = &internal.default_serve;
  const Rule* matched_rule = nullptr;
  for (size_t i = 0; i < internal.rules.size(); ++i) {
    if (AllClausesMatch(internal.rules[i].clauses, &segments, context)) {
      serve = &internal.rules[i].serve;
      matched_rule = &flag.rules[i];
      break;
    }
  }

  const Resolved resolved = ResolveServe(*serve, flag, internal, context);
  decision.stage = resolved.stage;
  decision.bucket = resolved.bucket;
  decision.plan = PlanFor(decision.stage);
  if (matched_rule != nullptr) {
    decision.reason = Reason::kRuleMatch;
    decision.rule_id = matched_rule->id;
  } else {
    decision.reason = serve->is_rollout ? Reason::kSplit : Reason::kDefault;
  }
  return decision;
}

}  // namespace cutover
