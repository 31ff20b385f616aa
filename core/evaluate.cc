// The decision: which stage a compiled flag serves one user, and why. Rules
// in order (clauses -> segments), then the serve (a stage, or a rollout's
// bucket). Everything it reads was prepared by CompileFlag
// (core/compile_flag.cc), so Evaluate parses no value, compiles no regular
// expression and allocates nothing; Decide adds the flag's names (the only
// strings it copies) to what Evaluate found.
#include "core/evaluate.h"

#include <string_view>
#include <utility>

#include "absl/base/attributes.h"
#include "core/bucketing.h"
#include "core/internal/clauses.h"
#include "core/internal/compiled.h"

namespace cutover {
namespace {

using internal::AllClausesMatch;
using internal::CompiledServe;

// The value a user is bucketed by; empty if the context lacks it.
// `indexed`: the value the membership probe found for a bucket attribute
// it indexes (bucket_attribute_number >= 0), null if the user has none.
absl::string_view BucketValue(const CompiledFlag::Internal& internal,
                              const Context& context,
                              const std::string* indexed) {
  if (internal.buckets_by_targeting_key) return context.targeting_key;
  if (internal.bucket_attribute_number >= 0) {
    return indexed != nullptr ? absl::string_view(*indexed)
                              : absl::string_view();
  }
  const auto it = context.attributes.find(internal.bucket_attribute);
  return it == context.attributes.end() ? absl::string_view() : it->second;
}

// The stage a serve gives this user, and the bucket if a rollout decided.
struct Resolved {
  Stage stage = Stage::kOff;
  int32_t bucket = -1;
};

ABSL_ATTRIBUTE_ALWAYS_INLINE inline Resolved ResolveServe(
    const CompiledServe& serve, const CompiledFlag::Internal& internal,
    const Context& context, const std::string* indexed_bucket_value) {
  if (!serve.is_rollout) return {serve.stage, -1};
  const absl::string_view value =
      BucketValue(internal, context, indexed_bucket_value);
  // Without a bucket value every such user would share one bucket and move
  // together; serve them the rollout's least advanced (safest) stage instead.
  if (value.empty()) return {serve.unbucketed_stage, -1};
  const uint32_t bucket = internal.bucketer.BucketFor(
      std::string_view(value.data(), value.size()));
  // StageForBucket, for splits compiled most advanced first with each stage
  // once: the first whose running sum passes the bucket (the fuzz target
  // checks the two agree).
  uint64_t running_sum = 0;
  for (const Split& split : serve.rollout.splits) {
    running_sum += split.weight;
    if (bucket < running_sum) {
      return {split.stage, static_cast<int32_t>(bucket)};
    }
  }
  return {serve.unbucketed_stage, static_cast<int32_t>(bucket)};
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

Decision Decide(const CompiledFlag& compiled, const SegmentIndex& segments,
                const Context& context) {
  Decision decision;
  DecideInto(compiled, segments, context, decision);
  return decision;
}

namespace {

// Evaluate's and DecisionFromVerdict's bodies, inlined into DecideInto as
// well, so that Decide makes one call, not three.
ABSL_ATTRIBUTE_ALWAYS_INLINE inline Verdict EvaluateInline(
    const CompiledFlag& compiled, const SegmentIndex& segments,
    const Context& context) {
  const Flag& flag = compiled.flag();
  const CompiledFlag::Internal& internal = compiled.internal();

  // Rules in order; the first whose clauses all match decides.
  const CompiledServe* serve = &internal.default_serve;
  int32_t matched_rule = -1;
  // The rules' in / not_in clauses first, all at once (MembershipIndex).
  const std::string* indexed_bucket_value = nullptr;
  const internal::ClauseBits bits = internal.membership.Probe(
      context, internal.bucket_attribute_number, &indexed_bucket_value);
  const internal::CompiledRule* const rules = internal.rules.data();
  const size_t rule_count = internal.rules.size();
  // Listed in none of the indexed lists: no rule that needs one matches.
  const size_t first =
      bits.contains == 0 ? internal.first_rule_without_list : 0;
  for (size_t i = first; i < rule_count; ++i) {
    const internal::CompiledRule& rule = rules[i];
    if ((bits.contains & rule.must_list) != rule.must_list ||
        (bits.present & rule.must_have_attribute) != rule.must_have_attribute ||
        (bits.contains & rule.must_not_list) != 0) {
      continue;
    }
    if (AllClausesMatch(rule.clauses, &segments, context)) {
      serve = &rule.serve;
      matched_rule = static_cast<int32_t>(i);
      break;
    }
  }

  const Resolved resolved =
      ResolveServe(*serve, internal, context, indexed_bucket_value);
  Verdict verdict;
  if (!flag.enabled) {
    // The kill switch: no user is served past the data-safe fallback stage;
    // users below it keep their stage (nobody is moved forward).
    verdict.stage = resolved.stage > internal.fallback_stage
                        ? internal.fallback_stage
                        : resolved.stage;
    verdict.reason = Reason::kDisabled;
    return verdict;
  }
  verdict.stage = resolved.stage;
  verdict.bucket = resolved.bucket;
  verdict.rule_index = matched_rule;
  if (matched_rule >= 0) {
    verdict.reason = Reason::kRuleMatch;
  } else {
    verdict.reason = serve->is_rollout ? Reason::kSplit : Reason::kDefault;
  }
  return verdict;
}

ABSL_ATTRIBUTE_ALWAYS_INLINE inline void NameVerdict(
    const CompiledFlag& compiled, const Verdict& verdict, Decision& decision) {
  const Flag& flag = compiled.flag();
  decision.flag_key = flag.key;
  decision.stage = verdict.stage;
  decision.plan = PlanFor(verdict.stage);
  decision.old_target = flag.old_target;
  decision.new_target = flag.new_target;
  decision.reason = verdict.reason;
  if (verdict.rule_index >= 0) {
    decision.rule_id = flag.rules[static_cast<size_t>(verdict.rule_index)].id;
  } else {
    decision.rule_id.clear();
  }
  decision.bucket = verdict.bucket;
  decision.flag_version = flag.version;
  decision.error.clear();
  decision.compare_sample_rate = compiled.internal().compare_sample_rate;
}

}  // namespace

Verdict Evaluate(const CompiledFlag& compiled, const SegmentIndex& segments,
                 const Context& context) {
  return EvaluateInline(compiled, segments, context);
}

void DecisionFromVerdict(const CompiledFlag& compiled, const Verdict& verdict,
                         Decision& decision) {
  NameVerdict(compiled, verdict, decision);
}

void DecideInto(const CompiledFlag& compiled, const SegmentIndex& segments,
                const Context& context, Decision& decision) {
  NameVerdict(compiled, EvaluateInline(compiled, segments, context), decision);
}

}  // namespace cutover