// Compiling a flag: every field validated (INVALID_ARGUMENT naming the
// first bad one) and its rules and serves put in the form Decide reads
// (core/internal/compiled.h). Clauses compile in core/internal/clauses.cc.
#include <algorithm>
#include <cmath>
#include <memory>
#include <tuple>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "core/bucketing.h"
#include "core/evaluate.h"
#include "core/internal/clauses.h"
#include "core/currency.h"
#include "core/internal/compiled.h"
#include "core/internal/field_rules.h"
#include "core/limits.h"

namespace cutover {
namespace {

using internal::AttributePattern;
using internal::CheckMaxLength;
using internal::CheckStage;
using internal::Child;
using internal::ClauseHome;
using internal::CompileClauses;
using internal::CompiledRule;
using internal::CompiledServe;
using internal::FieldError;
using internal::HasControlCharacter;
using internal::Indexed;
using internal::IsAttributeName;
using internal::IsKeyLike;
using internal::IsTag;
using internal::KeyPattern;
using internal::Quote;

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

// FieldError unless `value` is in [low, high] seconds.
absl::Status CheckSeconds(const std::string& path, int64_t value, int64_t low,
                          int64_t high) {
  if (value < low || value > high) {
    return FieldError(path, absl::StrCat("must be in [", low, ", ", high,
                                         "] seconds, got ", value));
  }
  return absl::OkStatus();
}

// Whether the brackets of a PromQL query pair up and its quotes close
// (the slips a typed query makes; the rest of its syntax is Prometheus's to
// judge, and a query it refuses is inconclusive). Quotes are ', " and `,
// with backslash escapes in the first two.
bool PromqlBalanced(const std::string& query) {
  std::string open;  // the brackets not yet closed
  char quote = 0;
  for (size_t i = 0; i < query.size(); ++i) {
    const char c = query[i];
    if (quote != 0) {
      if (c == '\\' && quote != '`') {
        ++i;
      } else if (c == quote) {
        quote = 0;
      }
    } else if (c == '"' || c == '\'' || c == '`') {
      quote = c;
    } else if (c == '(' || c == '[' || c == '{') {
      open.push_back(c);
    } else if (c == ')' || c == ']' || c == '}') {
      const char want = c == ')' ? '(' : c == ']' ? '[' : '{';
      if (open.empty() || open.back() != want) return false;
      open.pop_back();
    }
  }
  return quote == 0 && open.empty();
}

// A promql check's rules: its query, a finite threshold, no min_samples.
absl::Status CheckPromqlCheck(const RampCheck& check, const std::string& path) {
  const std::string query_path = Child(path, "promql");
  if (absl::StripAsciiWhitespace(check.promql).empty()) {
    return FieldError(query_path, "required for a promql check");
  }
  if (absl::Status s =
          CheckMaxLength(query_path, check.promql, kMaxPromqlLength);
      !s.ok()) {
    return s;
  }
  if (HasControlCharacter(check.promql)) {
    return FieldError(query_path, "must not contain control characters");
  }
  if (!PromqlBalanced(check.promql)) {
    return FieldError(query_path,
                      "brackets must pair up and quotes must close");
  }
  if (!std::isfinite(check.threshold)) {
    return FieldError(Child(path, "threshold"),
                      absl::StrCat("must be a finite number, got ",
                                   check.threshold));
  }
  if (check.bound != RampBound::kMax && check.bound != RampBound::kMin) {
    return FieldError(Child(path, "bound"), "must be at_most or at_least");
  }
  if (check.min_samples != 0) {
    return FieldError(Child(path, "min_samples"),
                      absl::StrCat("must be 0 for a promql check (its answer "
                                   "is one number), got ",
                                   check.min_samples));
  }
  return absl::OkStatus();
}

// The ramp plan's rules (proto RampPlan).
absl::Status CheckRampPlan(const RampPlan& plan) {
  constexpr int64_t kDay = 86400;
  if (plan.steps.empty() || plan.steps.size() > kMaxRampSteps) {
    return FieldError("ramp.steps", absl::StrCat("1 to ", kMaxRampSteps,
                                                 " steps, got ",
                                                 plan.steps.size()));
  }
  for (size_t i = 0; i < plan.steps.size(); ++i) {
    const std::string path = Indexed("ramp.steps", i);
    CompiledServe ignored;
    if (absl::Status s = CompileServe(plan.steps[i].serve,
                                      Child(path, "serve"), &ignored);
        !s.ok()) {
      return s;
    }
    if (absl::Status s = CheckSeconds(Child(path, "hold_seconds"),
                                      plan.steps[i].hold_seconds, 0,
                                      30 * kDay);
        !s.ok()) {
      return s;
    }
  }
  for (const auto& [path, value, low, high] :
       {std::tuple<const char*, int64_t, int64_t, int64_t>{
            "ramp.hold_seconds", plan.hold_seconds, 0, 30 * kDay},
        {"ramp.interval_seconds", plan.interval_seconds, 1, kDay},
        {"ramp.window_seconds", plan.window_seconds, 1, 30 * kDay},
        {"ramp.inconclusive_limit_seconds", plan.inconclusive_limit_seconds,
         0, 30 * kDay}}) {
    if (absl::Status s = CheckSeconds(path, value, low, high); !s.ok()) {
      return s;
    }
  }
  if (plan.on_breach != BreachAction::kPause &&
      plan.on_breach != BreachAction::kRollback) {
    return FieldError("ramp.on_breach", "must be pause or rollback");
  }
  bool seen[6] = {};
  for (size_t i = 0; i < plan.checks.size(); ++i) {
    const RampCheck& check = plan.checks[i];
    const std::string path = Indexed("ramp.checks", i);
    const int kind = static_cast<int>(check.kind);
    if (kind < 1 || kind > 5) {
      return FieldError(Child(path, "kind"),
                        "required: mismatch_rate, new_error_rate, "
                        "error_rate_delta, p99_latency_ratio or promql");
    }
    if (seen[kind]) {
      return FieldError(Child(path, "kind"), "each check at most once");
    }
    seen[kind] = true;
    if (check.kind == RampCheckKind::kPromql) {
      if (absl::Status s = CheckPromqlCheck(check, path); !s.ok()) return s;
      continue;
    }
    if (!check.promql.empty()) {
      return FieldError(Child(path, "promql"), "only for a promql check");
    }
    if (check.bound != RampBound::kMax) {
      return FieldError(Child(path, "bound"),
                        "must be at_most (at_least is for a promql check "
                        "only)");
    }
    const double t = check.threshold;
    const bool ratio = check.kind == RampCheckKind::kP99LatencyRatio;
    if (!std::isfinite(t) || (ratio ? t <= 0 : (t < 0 || t > 1))) {
      return FieldError(Child(path, "threshold"),
                        absl::StrCat(ratio ? "must be a number > 0"
                                           : "must be a number in [0, 1]",
                                     ", got ", t));
    }
    if (check.min_samples < 0 || check.min_samples > kMaxMinSamples) {
      return FieldError(Child(path, "min_samples"),
                        absl::StrCat("must be in [0, ", kMaxMinSamples,
                                     "], got ", check.min_samples));
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<std::shared_ptr<const CompiledFlag::Internal>> CompileFlagData(
    const Flag& flag) {
  auto internal = std::make_shared<CompiledFlag::Internal>();

  if (absl::Status s = ValidateFlagKey(flag.key); !s.ok()) {
    return FieldError("key", s.message());
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
  internal->bucketer = FlagBucketer(flag.key);
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

  internal->membership.Build(internal->rules);
  internal->first_rule_without_list = internal->rules.size();
  for (size_t i = 0; i < internal->rules.size(); ++i) {
    if (internal->rules[i].must_list == 0) {
      internal->first_rule_without_list = i;
      break;
    }
  }
  if (!internal->buckets_by_targeting_key) {
    internal->bucket_attribute_number =
        internal->membership.AttributeNumber(internal->bucket_attribute);
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
                      absl::StrCat("must be in [0, ", kMaxMinSamples, "], got ",
                                   flag.gates.min_samples));
  }
  if (flag.fallback_stage.has_value() && !IsStage(*flag.fallback_stage)) {
    return FieldError("fallback_stage",
                      "must be one of off, dualwrite, shadow, live, rampdown, "
                      "complete (or unset for the computed data-safe stage)");
  }
  internal->fallback_stage = FallbackStage(flag);
  if (flag.ramp.has_value()) {
    if (absl::Status s = CheckRampPlan(*flag.ramp); !s.ok()) return s;
  }
  return internal;
}

}  // namespace

absl::StatusOr<std::shared_ptr<const CompiledFlag>> CompileFlag(Flag flag) {
  absl::StatusOr<std::shared_ptr<const CompiledFlag::Internal>> internal =
      CompileFlagData(flag);
  if (!internal.ok()) return internal.status();
  return std::shared_ptr<const CompiledFlag>(
      std::make_shared<CompiledFlag>(std::move(flag), *std::move(internal)));
}

absl::Status ValidateFlagKey(absl::string_view key) {
  if (IsKeyLike(key, kMaxKeyLength)) return absl::OkStatus();
  return absl::InvalidArgumentError(absl::StrCat(
      "must match ", KeyPattern(kMaxKeyLength), ", got ", Quote(key)));
}

absl::Status ValidateFlag(const Flag& flag) {
  return CompileFlagData(flag).status();
}

}  // namespace cutover
