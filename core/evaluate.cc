// The decision: which stage a compiled flag serves one user, and why. Rules
// in order (clauses -> segments), then the serve (a stage, or a rollout's
// bucket). Everything it reads was prepared by CompileFlag
// (core/compile_flag.cc), so Decide parses no value, compiles no regular
// expression and allocates only the strings of the Decision it returns.
#include "core/evaluate.h"

#include <string_view>
#include <utility>

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

Resolved ResolveServe(const CompiledServe& serve,
                      const CompiledFlag::Internal& internal,
                      const Context& context,
                      const std::string* indexed_bucket_value) {
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

void DecideInto(const CompiledFlag& compiled, const SegmentIndex& segments,
                const Context& context, Decision& decision) {
  const Flag& flag = compiled.flag();
  const CompiledFlag::Internal& internal = compiled.internal();

  decision.flag_key = flag.key;
  decision.old_target = flag.old_target;
  decision.new_target = flag.new_target;
  decision.flag_version = flag.version;
  decision.compare_sample_rate = internal.compare_sample_rate;
  decision.rule_id.clear();
  decision.bucket = -1;
  decision.error.clear();

  // Rules in order; the first whose clauses all match decides.
  const CompiledServe* serve = &internal.default_serve;
  const Rule* matched_rule = nullptr;
  // The rules' in / not_in clauses first, all at once (MembershipIndex).
  const std::string* indexed_bucket_value = nullptr;
  const internal::ClauseBits bits = internal.membership.Probe(
      context, internal.bucket_attribute_number, &indexed_bucket_value);
  const internal::CompiledRule* const rules = internal.rules.data();
  const size_t rule_count = internal.rules.size();
  for (size_t i = 0; i < rule_count; ++i) {
    const internal::CompiledRule& rule = rules[i];
    if ((bits.contains & rule.must_list) != rule.must_list ||
        (bits.present & rule.must_have_attribute) != rule.must_have_attribute ||
        (bits.contains & rule.must_not_list) != 0) {
      continue;
    }
    if (AllClausesMatch(rule.clauses, &segments, context)) {
      serve = &rule.serve;
      matched_rule = &flag.rules[i];
      break;
    }
  }

  const Resolved resolved =
      ResolveServe(*serve, internal, context, indexed_bucket_value);
  if (!flag.enabled) {
    // The kill switch: no user is served past the data-safe fallback stage;
    // users below it keep their stage (nobody is moved forward).
    decision.stage = resolved.stage > internal.fallback_stage
                         ? internal.fallback_stage
                         : resolved.stage;
    decision.plan = PlanFor(decision.stage);
    decision.reason = Reason::kDisabled;
    return;
  }
  decision.stage = resolved.stage;
  decision.bucket = resolved.bucket;
  decision.plan = PlanFor(decision.stage);
  if (matched_rule != nullptr) {
    decision.reason = Reason::kRuleMatch;
    decision.rule_id = matched_rule->id;
  } else {
    decision.reason = serve->is_rollout ? Reason::kSplit : Reason::kDefault;
  }
}

}  // namespace cutover