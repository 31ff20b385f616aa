#include "convert/convert.h"

#include "convert/currency_proto.h"

namespace cutover {
namespace {

template <typename To, typename From>
To EnumIn(From value, int first, int last) {
  const int n = static_cast<int>(value);
  return (n >= first && n <= last) ? static_cast<To>(n) : To{};
}

}  // namespace

// The core enums share the protobuf enums' numbers (see core/stage.h,
// core/evaluate.h); the range checks keep unknown wire values unspecified.
Stage FromProto(v1::Stage stage) {
  return EnumIn<Stage>(stage, v1::OFF, v1::COMPLETE);
}
v1::Stage ToProto(Stage stage) { return static_cast<v1::Stage>(stage); }
Origin FromProto(v1::Origin origin) {
  return EnumIn<Origin>(origin, v1::OLD, v1::NEW);
}
v1::Origin ToProto(Origin origin) { return static_cast<v1::Origin>(origin); }
Reason FromProto(v1::Reason reason) {
  return EnumIn<Reason>(reason, v1::DISABLED, v1::STALE);
}
v1::Reason ToProto(Reason reason) { return static_cast<v1::Reason>(reason); }

Operator FromProto(v1::Operator op) {
  return EnumIn<Operator>(op, v1::IN, v1::IN_SEGMENT);
}
v1::Operator ToProto(Operator op) { return static_cast<v1::Operator>(op); }

Clause FromProto(const v1::Clause& clause) {
  Clause out;
  out.attribute = clause.attribute();
  out.op = FromProto(clause.op());
  out.values.assign(clause.values().begin(), clause.values().end());
  return out;
}

void ToProto(const Clause& clause, v1::Clause* out) {
  out->set_attribute(clause.attribute);
  out->set_op(ToProto(clause.op));
  for (const auto& value : clause.values) out->add_values(value);
}

Rollout FromProto(const v1::Rollout& rollout) {
  Rollout out;
  for (const auto& split : rollout.splits()) {
    out.splits.push_back({FromProto(split.stage()), split.weight()});
  }
  return out;
}

void ToProto(const Rollout& rollout, v1::Rollout* out) {
  for (const auto& split : rollout.splits) {
    auto* s = out->add_splits();
    s->set_stage(ToProto(split.stage));
    s->set_weight(split.weight);
  }
}

Serve FromProto(const v1::Serve& serve) {
  Serve out;
  switch (serve.kind_case()) {
    case v1::Serve::kStage:
      out.stage = FromProto(serve.stage());
      break;
    case v1::Serve::kRollout:
      out.rollout = FromProto(serve.rollout());
      break;
    case v1::Serve::KIND_NOT_SET:
      break;
  }
  return out;
}

void ToProto(const Serve& serve, v1::Serve* out) {
  out->Clear();
  if (serve.stage) out->set_stage(ToProto(*serve.stage));
  if (serve.rollout) ToProto(*serve.rollout, out->mutable_rollout());
}

Rule FromProto(const v1::Rule& rule) {
  Rule out;
  out.id = rule.id();
  out.description = rule.description();
  for (const auto& clause : rule.clauses()) {
    out.clauses.push_back(FromProto(clause));
  }
  out.serve = FromProto(rule.serve());
  return out;
}

void ToProto(const Rule& rule, v1::Rule* out) {
  out->set_id(rule.id);
  out->set_description(rule.description);
  for (const auto& clause : rule.clauses) ToProto(clause, out->add_clauses());
  ToProto(rule.serve, out->mutable_serve());
}

RampCheck FromProto(const v1::RampCheck& check) {
  RampCheck out;
  out.kind = EnumIn<RampCheckKind>(check.kind(), 1, 5);
  out.threshold = check.threshold();
  out.min_samples = check.min_samples();
  out.promql = check.promql();
  out.bound = static_cast<RampBound>(check.bound());
  return out;
}

void ToProto(const RampCheck& check, v1::RampCheck* out) {
  out->set_kind(static_cast<v1::RampCheckKind>(check.kind));
  out->set_threshold(check.threshold);
  out->set_min_samples(check.min_samples);
  out->set_promql(check.promql);
  out->set_bound(static_cast<v1::RampBound>(check.bound));
}

RampPlan FromProto(const v1::RampPlan& plan) {
  RampPlan out;
  for (const v1::RampStep& step : plan.steps()) {
    out.steps.push_back(RampStep{FromProto(step.serve()), step.hold_seconds()});
  }
  out.hold_seconds = plan.hold_seconds();
  out.interval_seconds = plan.interval_seconds();
  out.window_seconds = plan.window_seconds();
  // An unknown action stays unknown (validation refuses it).
  out.on_breach = static_cast<BreachAction>(plan.on_breach());
  out.inconclusive_limit_seconds = plan.inconclusive_limit_seconds();
  for (const v1::RampCheck& check : plan.checks()) {
    out.checks.push_back(FromProto(check));
  }
  return out;
}

void ToProto(const RampPlan& plan, v1::RampPlan* out) {
  for (const RampStep& step : plan.steps) {
    v1::RampStep* s = out->add_steps();
    ToProto(step.serve, s->mutable_serve());
    s->set_hold_seconds(step.hold_seconds);
  }
  out->set_hold_seconds(plan.hold_seconds);
  out->set_interval_seconds(plan.interval_seconds);
  out->set_window_seconds(plan.window_seconds);
  out->set_on_breach(static_cast<v1::RampBreachAction>(plan.on_breach));
  out->set_inconclusive_limit_seconds(plan.inconclusive_limit_seconds);
  for (const RampCheck& check : plan.checks) {
    ToProto(check, out->add_checks());
  }
}

const char* BackfillPhaseName(v1::BackfillPhase phase) {
  switch (phase) {
    case v1::COPYING:
      return "copying";
    case v1::VERIFYING:
      return "verifying";
    case v1::DONE:
      return "done";
    default:
      return "unspecified";
  }
}

const char* BackfillDirectionName(v1::BackfillDirection direction) {
  switch (direction) {
    case v1::BACKFILL_DIRECTION_UNSPECIFIED:
    case v1::FORWARD:
      return "forward";
    case v1::REVERSE:
      return "reverse";
    default:
      return "unspecified";
  }
}

Flag FromProto(const v1::Flag& flag) {
  Flag out;
  out.key = flag.key();
  out.description = flag.description();
  out.owner = flag.owner();
  out.tags.assign(flag.tags().begin(), flag.tags().end());
  out.old_target = flag.old_target();
  out.new_target = flag.new_target();
  out.enabled = flag.enabled();
  out.bucket_by = flag.bucket_by();
  for (const auto& rule : flag.rules()) out.rules.push_back(FromProto(rule));
  out.default_serve = FromProto(flag.default_serve());
  if (flag.has_compare_sample_rate()) {
    out.compare_sample_rate = flag.compare_sample_rate();
  }
  out.gates.require_backfill = flag.gates().require_backfill();
  if (flag.gates().has_max_mismatch_rate()) {
    out.gates.max_mismatch_rate = flag.gates().max_mismatch_rate();
  }
  out.gates.min_samples = flag.gates().min_samples();
  if (flag.has_fallback_stage()) {
    out.fallback_stage = FromProto(flag.fallback_stage());
  }
  if (flag.has_ramp()) out.ramp = FromProto(flag.ramp());
  out.version = flag.version();
  out.archived = flag.archived();
  out.currency = CurrencyFromProto(flag);
  return out;
}

void ToProto(const Flag& flag, v1::Flag* out) {
  out->set_key(flag.key);
  out->set_description(flag.description);
  out->set_owner(flag.owner);
  for (const auto& tag : flag.tags) out->add_tags(tag);
  out->set_old_target(flag.old_target);
  out->set_new_target(flag.new_target);
  out->set_enabled(flag.enabled);
  out->set_bucket_by(flag.bucket_by);
  for (const auto& rule : flag.rules) ToProto(rule, out->add_rules());
  ToProto(flag.default_serve, out->mutable_default_serve());
  if (flag.compare_sample_rate) {
    out->set_compare_sample_rate(*flag.compare_sample_rate);
  }
  const Gates& gates = flag.gates;
  if (gates.require_backfill || gates.max_mismatch_rate ||
      gates.min_samples != 0) {
    v1::Gates* g = out->mutable_gates();
    g->set_require_backfill(gates.require_backfill);
    if (gates.max_mismatch_rate) {
      g->set_max_mismatch_rate(*gates.max_mismatch_rate);
    }
    g->set_min_samples(gates.min_samples);
  }
  if (flag.fallback_stage.has_value()) {
    out->set_fallback_stage(ToProto(*flag.fallback_stage));
  }
  if (flag.ramp.has_value()) ToProto(*flag.ramp, out->mutable_ramp());
  out->set_version(flag.version);
  out->set_archived(flag.archived);
  CurrencyToProto(flag.currency, out);
}

Segment FromProto(const v1::Segment& segment) {
  Segment out;
  out.key = segment.key();
  out.description = segment.description();
  out.included.assign(segment.included().begin(), segment.included().end());
  out.excluded.assign(segment.excluded().begin(), segment.excluded().end());
  for (const auto& clause : segment.clauses()) {
    out.clauses.push_back(FromProto(clause));
  }
  out.version = segment.version();
  return out;
}

void ToProto(const Segment& segment, v1::Segment* out) {
  out->set_key(segment.key);
  out->set_description(segment.description);
  for (const auto& key : segment.included) out->add_included(key);
  for (const auto& key : segment.excluded) out->add_excluded(key);
  for (const auto& clause : segment.clauses) {
    ToProto(clause, out->add_clauses());
  }
  out->set_version(segment.version);
}

Context FromProto(const v1::Context& context) {
  Context out;
  FromProto(context, &out);
  return out;
}

void FromProto(const v1::Context& context, Context* out) {
  out->targeting_key.assign(context.targeting_key());
  const auto& attributes = context.attributes();
  if (attributes.size() == out->attributes.size()) {
    // Names are unique on both sides: if every name is found, the name
    // sets are equal and only the values change.
    bool same_names = true;
    for (const auto& [name, value] : attributes) {
      auto it = out->attributes.find(name);
      if (it == out->attributes.end()) {
        same_names = false;
        break;
      }
      it->second.assign(value);
    }
    if (same_names) return;
  }
  out->attributes.clear();
  out->attributes.insert(attributes.begin(), attributes.end());
}

void ToProto(const Decision& decision, v1::Decision* out) {
  // A string set on an arena message is an allocation, even when empty.
  if (!decision.flag_key.empty()) out->set_flag_key(decision.flag_key);
  out->set_stage(ToProto(decision.stage));
  out->mutable_reads()->set_authoritative(ToProto(decision.plan.read_authoritative));
  out->mutable_reads()->set_shadow(ToProto(decision.plan.read_shadow));
  out->mutable_writes()->set_authoritative(
      ToProto(decision.plan.write_authoritative));
  out->mutable_writes()->set_secondary(ToProto(decision.plan.write_secondary));
  if (!decision.old_target.empty()) out->set_old_target(decision.old_target);
  if (!decision.new_target.empty()) out->set_new_target(decision.new_target);
  out->set_reason(ToProto(decision.reason));
  if (!decision.rule_id.empty()) out->set_rule_id(decision.rule_id);
  out->set_bucket(decision.bucket);
  out->set_flag_version(decision.flag_version);
  if (!decision.error.empty()) out->set_error(decision.error);
  out->set_compare_sample_rate(decision.compare_sample_rate);
}

Decision FromProto(const v1::Decision& decision) {
  Decision out;
  out.flag_key = decision.flag_key();
  out.stage = FromProto(decision.stage());
  out.plan.read_authoritative = FromProto(decision.reads().authoritative());
  out.plan.read_shadow = FromProto(decision.reads().shadow());
  out.plan.write_authoritative = FromProto(decision.writes().authoritative());
  out.plan.write_secondary = FromProto(decision.writes().secondary());
  out.old_target = decision.old_target();
  out.new_target = decision.new_target();
  out.reason = FromProto(decision.reason());
  out.rule_id = decision.rule_id();
  out.bucket = decision.bucket();
  out.flag_version = decision.flag_version();
  out.error = decision.error();
  out.compare_sample_rate = decision.compare_sample_rate();
  return out;
}

}  // namespace cutover
