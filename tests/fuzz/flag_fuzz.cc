// libFuzzer target: flag validation and evaluation from arbitrary protobuf
// bytes.
//
// Input: a serialized cutover.v1.FlagFile (segments = 1, flags = 2). The
// users to decide for travel in the same bytes as length-delimited field 15,
// which FlagFile does not define: each occurrence is a serialized
// cutover.v1.Context (protobuf keeps unknown fields, so a seed is just
// `FlagFile bytes + (tag 0x7a, varint length, Context bytes)*`).
//
// Every segment and flag goes through FromProto and CompileSegment /
// CompileFlag. For each flag that compiles, Decide runs for the given
// contexts and for contexts derived from the flag itself (each clause's
// attribute set to its first value, segment members, no targeting key), and
// the invariants below must hold; a violation aborts (a libFuzzer crash).
//
//   - validation agrees with compilation (ValidateFlag == CompileFlag status);
//   - a decision names the flag, its targets and version; its stage is one
//     of the six; its plan is PlanFor(stage);
//   - a disabled flag decides off, DISABLED, no bucket, no rule;
//   - an enabled flag decides RULE_MATCH (naming a rule of the flag, whose
//     serve then decides), SPLIT or DEFAULT (the default serve decides);
//     a single-stage serve gives that stage and no bucket; a rollout gives
//     BucketFor(key, bucket value) and StageForBucket of it (a stage with
//     weight > 0), or, without a bucket value, LeastAdvancedStage;
//   - Decide is deterministic (twice, the same decision);
//   - a decision survives ToProto/FromProto;
//   - the daemon's wire form of the same evaluation (convert/decide_wire.h:
//     Evaluate, then the answer's bytes) parses as the DecideResponse the
//     generated message makes of the decision, byte for byte once
//     reserialized;
//   - moving rollout weight onto the most advanced stage never moves a
//     user back a stage (the ramp invariant of docs/bucketing.md).
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/string_view.h"
#include "convert/convert.h"
#include "convert/decide_wire.h"
#include "core/bucketing.h"
#include "core/currency.h"
#include "core/evaluate.h"
#include "core/model.h"
#include "core/stage.h"
#include "cutover/v1/cutover.pb.h"
#include "google/protobuf/unknown_field_set.h"

namespace cutover {
namespace {

constexpr int kContextField = 15;
constexpr size_t kMaxGivenContexts = 8;
constexpr size_t kMaxContexts = 32;
constexpr size_t kMaxFlags = 8;

[[noreturn]] void Fail(const char* what, const std::string& detail = "") {
  std::fprintf(stderr, "flag_fuzz: invariant violated: %s %s\n", what,
               detail.c_str());
  std::abort();
}

#define FUZZ_CHECK(cond, detail)             \
  do {                                       \
    if (!(cond)) Fail(#cond, (detail));      \
  } while (0)

bool SamePlan(const StagePlan& a, const StagePlan& b) {
  return a.read_authoritative == b.read_authoritative &&
         a.read_shadow == b.read_shadow &&
         a.write_authoritative == b.write_authoritative &&
         a.write_secondary == b.write_secondary;
}

bool SameDecision(const Decision& a, const Decision& b) {
  return a.flag_key == b.flag_key && a.stage == b.stage &&
         SamePlan(a.plan, b.plan) && a.old_target == b.old_target &&
         a.new_target == b.new_target && a.reason == b.reason &&
         a.rule_id == b.rule_id && a.bucket == b.bucket &&
         a.flag_version == b.flag_version && a.error == b.error &&
         a.compare_sample_rate == b.compare_sample_rate;
}

std::string Describe(const Decision& d) {
  return std::string("flag=") + d.flag_key + " stage=" + StageName(d.stage) +
         " reason=" + ReasonName(d.reason) + " rule=" + d.rule_id +
         " bucket=" + std::to_string(d.bucket);
}

absl::string_view BucketValueOf(const Flag& flag, const Context& context) {
  if (flag.bucket_by.empty() || flag.bucket_by == kTargetingKeyAttribute) {
    return context.targeting_key;
  }
  const auto it = context.attributes.find(flag.bucket_by);
  return it == context.attributes.end() ? absl::string_view() : it->second;
}

bool RolloutServes(const Rollout& rollout, Stage stage, bool needs_weight) {
  for (const Split& split : rollout.splits) {
    if (split.stage == stage && (!needs_weight || split.weight > 0)) {
      return true;
    }
  }
  return false;
}

// The invariants of one decision of `flag` for `context`.
void CheckDecision(const Flag& flag, const Context& context,
                   const Decision& d) {
  const std::string what = Describe(d);
  FUZZ_CHECK(d.flag_key == flag.key, what);
  FUZZ_CHECK(d.old_target == flag.old_target, what);
  FUZZ_CHECK(d.new_target == flag.new_target, what);
  FUZZ_CHECK(d.flag_version == flag.version, what);
  FUZZ_CHECK(d.compare_sample_rate == flag.compare_sample_rate.value_or(1.0),
             what);
  FUZZ_CHECK(IsStage(d.stage), what);
  FUZZ_CHECK(SamePlan(d.plan, PlanFor(d.stage)), what);
  FUZZ_CHECK(d.error.empty(), what);

  if (!flag.enabled) {
    // The kill switch caps every user at the data-safe fallback stage.
    FUZZ_CHECK(d.stage <= FallbackStage(flag), what);
    FUZZ_CHECK(d.reason == Reason::kDisabled, what);
    FUZZ_CHECK(d.bucket == -1, what);
    FUZZ_CHECK(d.rule_id.empty(), what);
    return;
  }

  const Serve* serve = &flag.default_serve;
  if (d.reason == Reason::kRuleMatch) {
    const Rule* rule = nullptr;
    for (const Rule& r : flag.rules) {
      if (r.id == d.rule_id) {
        rule = &r;
        break;
      }
    }
    FUZZ_CHECK(rule != nullptr, what);
    serve = &rule->serve;
  } else {
    FUZZ_CHECK(d.rule_id.empty(), what);
    FUZZ_CHECK(d.reason == Reason::kDefault || d.reason == Reason::kSplit,
               what);
    FUZZ_CHECK((d.reason == Reason::kSplit) == serve->rollout.has_value(),
               what);
  }

  if (serve->stage.has_value()) {
    FUZZ_CHECK(d.stage == *serve->stage, what);
    FUZZ_CHECK(d.bucket == -1, what);
    return;
  }
  FUZZ_CHECK(serve->rollout.has_value(), what);
  const Rollout& rollout = *serve->rollout;
  const absl::string_view value = BucketValueOf(flag, context);
  if (value.empty()) {
    FUZZ_CHECK(d.bucket == -1, what);
    FUZZ_CHECK(d.stage == LeastAdvancedStage(rollout), what);
    return;
  }
  FUZZ_CHECK(d.bucket >= 0 && d.bucket < static_cast<int32_t>(kTotalWeight),
             what);
  FUZZ_CHECK(static_cast<uint32_t>(d.bucket) ==
                 BucketFor(flag.key, std::string_view(value.data(),
                                                      value.size())),
             what);
  FUZZ_CHECK(d.stage == StageForBucket(rollout, d.bucket), what);
  FUZZ_CHECK(RolloutServes(rollout, d.stage, /*needs_weight=*/true), what);
}

// Decide, with the invariants, determinism and the protobuf round trip.
Decision CheckedDecide(const CompiledFlag& compiled,
                       const SegmentIndex& segments, const Context& context) {
  const Decision d = Decide(compiled, segments, context);
  CheckDecision(compiled.flag(), context, d);
  const Decision again = Decide(compiled, segments, context);
  FUZZ_CHECK(SameDecision(d, again), Describe(d) + " vs " + Describe(again));

  v1::Decision proto;
  ToProto(d, &proto);
  const Decision back = FromProto(proto);
  FUZZ_CHECK(SameDecision(d, back), Describe(d) + " vs " + Describe(back));

  // The wire form: written from the verdict, read as the message.
  const std::string constant = ConstantDecisionBytes(compiled);
  const DecideAnswer answer =
      AnswerFor(compiled, constant, Evaluate(compiled, segments, context));
  const int64_t revision = compiled.flag().version;
  std::string bytes(DecideResponsesSize({&answer, 1}, revision), '\0');
  WriteDecideResponses({&answer, 1}, revision,
                       reinterpret_cast<uint8_t*>(bytes.data()));
  v1::DecideResponse written;
  FUZZ_CHECK(written.ParseFromString(bytes), Describe(d));
  v1::DecideResponse expected;
  *expected.mutable_decision() = proto;
  expected.set_revision(revision);
  FUZZ_CHECK(written.SerializeAsString() == expected.SerializeAsString(),
             Describe(d) + " vs " + Describe(FromProto(written.decision())));
  return d;
}

// The contexts to try for `flag`: the given ones, then ones made to hit its
// clauses and segments, then one without a targeting key.
std::vector<Context> ContextsFor(const Flag& flag,
                                 const std::vector<Context>& given,
                                 const SegmentIndex& segments) {
  std::vector<Context> out = given;
  const Context base = given.empty() ? Context{"user-1", {}} : given.front();
  if (given.empty()) out.push_back(base);

  const auto add = [&](Context c) {
    if (out.size() < kMaxContexts) out.push_back(std::move(c));
  };
  const auto with_attribute = [&](const std::string& attribute,
                                  const std::string& value) {
    Context c = base;
    if (attribute == kTargetingKeyAttribute) {
      c.targeting_key = value;
    } else {
      c.attributes[attribute] = value;
    }
    return c;
  };
  const auto add_segment_members = [&](const std::string& key) {
    const auto it = segments.find(key);
    if (it == segments.end() || it->second == nullptr) return;
    const Segment& segment = it->second->segment();
    if (!segment.included.empty()) {
      Context c = base;
      c.targeting_key = segment.included.front();
      add(std::move(c));
    }
    if (!segment.excluded.empty()) {
      Context c = base;
      c.targeting_key = segment.excluded.front();
      add(std::move(c));
    }
    for (const Clause& clause : segment.clauses) {
      if (!clause.values.empty()) {
        add(with_attribute(clause.attribute, clause.values.front()));
      }
    }
  };

  for (const Rule& rule : flag.rules) {
    // All of a rule's clauses at once (so the rule can match), then each.
    Context all = base;
    for (const Clause& clause : rule.clauses) {
      if (clause.values.empty()) continue;
      if (clause.op == Operator::kInSegment) {
        add_segment_members(clause.values.front());
        continue;
      }
      if (clause.attribute == kTargetingKeyAttribute) {
        all.targeting_key = clause.values.front();
      } else {
        all.attributes[clause.attribute] = clause.values.front();
      }
      add(with_attribute(clause.attribute, clause.values.back()));
    }
    add(std::move(all));
  }
  Context anonymous = base;
  anonymous.targeting_key.clear();
  add(std::move(anonymous));
  Context bare;
  bare.targeting_key = base.targeting_key;
  add(std::move(bare));
  return out;
}

// The same flag (in *out) with some weight of one split of its default
// rollout moved onto the rollout's most advanced split; false if the default
// serve is not a rollout of two or more splits or the chosen split is empty.
bool RampedUp(const Flag& flag, uint32_t salt, Flag* out) {
  if (!flag.default_serve.rollout.has_value()) return false;
  const Rollout& rollout = *flag.default_serve.rollout;
  if (rollout.splits.size() < 2) return false;
  size_t top = 0;
  for (size_t i = 1; i < rollout.splits.size(); ++i) {
    if (rollout.splits[i].stage > rollout.splits[top].stage) top = i;
  }
  const size_t from = (top + 1 + salt % (rollout.splits.size() - 1)) %
                      rollout.splits.size();
  const uint32_t available = rollout.splits[from].weight;
  if (available == 0) return false;
  const uint32_t moved = 1 + salt % available;
  *out = flag;
  Rollout& ramped = *out->default_serve.rollout;
  ramped.splits[from].weight -= moved;
  ramped.splits[top].weight += moved;
  return true;
}

void CheckFlag(const v1::Flag& proto, const std::vector<Context>& given,
               const SegmentIndex& segments, uint32_t salt) {
  Flag flag = FromProto(proto);
  const absl::Status valid = ValidateFlag(flag);
  absl::StatusOr<std::shared_ptr<const CompiledFlag>> compiled =
      CompileFlag(flag);
  FUZZ_CHECK(valid == compiled.status(), valid.ToString());
  if (!compiled.ok()) {
    FUZZ_CHECK(absl::IsInvalidArgument(compiled.status()),
               compiled.status().ToString());
    return;
  }
  const std::vector<Context> contexts = ContextsFor(flag, given, segments);
  std::vector<Decision> decisions;
  decisions.reserve(contexts.size());
  for (const Context& context : contexts) {
    decisions.push_back(CheckedDecide(**compiled, segments, context));
  }

  // The kill switch: the same flag disabled serves off to everyone.
  Flag disabled = flag;
  disabled.enabled = false;
  absl::StatusOr<std::shared_ptr<const CompiledFlag>> compiled_disabled =
      CompileFlag(disabled);
  FUZZ_CHECK(compiled_disabled.ok(), compiled_disabled.status().ToString());
  for (const Context& context : contexts) {
    CheckedDecide(**compiled_disabled, segments, context);
  }

  // Ramping up never moves a user back.
  Flag ramped;
  if (!RampedUp(flag, salt, &ramped)) return;
  absl::StatusOr<std::shared_ptr<const CompiledFlag>> compiled_ramped =
      CompileFlag(ramped);
  FUZZ_CHECK(compiled_ramped.ok(), compiled_ramped.status().ToString());
  for (size_t i = 0; i < contexts.size(); ++i) {
    const Decision after =
        CheckedDecide(**compiled_ramped, segments, contexts[i]);
    const Decision& before = decisions[i];
    if (before.reason == Reason::kSplit && after.reason == Reason::kSplit) {
      FUZZ_CHECK(after.stage >= before.stage,
                 Describe(before) + " -> " + Describe(after));
    }
  }
}

}  // namespace
}  // namespace cutover

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace cutover;
  v1::FlagFile file;
  if (!file.ParseFromArray(data, static_cast<int>(size))) return 0;

  std::vector<Context> contexts;
  const google::protobuf::UnknownFieldSet& unknown =
      file.GetReflection()->GetUnknownFields(file);
  for (int i = 0; i < unknown.field_count(); ++i) {
    const google::protobuf::UnknownField& field = unknown.field(i);
    if (field.number() != kContextField ||
        field.type() != google::protobuf::UnknownField::TYPE_LENGTH_DELIMITED) {
      continue;
    }
    v1::Context context;
    if (!context.ParseFromString(field.length_delimited())) continue;
    contexts.push_back(FromProto(context));
    if (contexts.size() == kMaxGivenContexts) break;
  }

  SegmentIndex segments;
  for (const v1::Segment& proto : file.segments()) {
    Segment segment = FromProto(proto);
    const absl::Status valid = ValidateSegment(segment);
    absl::StatusOr<std::shared_ptr<const CompiledSegment>> compiled =
        CompileSegment(segment);
    FUZZ_CHECK(valid == compiled.status(), valid.ToString());
    if (!compiled.ok()) continue;
    // Membership is a pure function too.
    for (const Context& context : contexts) {
      FUZZ_CHECK((*compiled)->Contains(context) ==
                     (*compiled)->Contains(context),
                 segment.key);
      if (!context.targeting_key.empty()) {
        bool excluded = false;
        for (const std::string& key : segment.excluded) {
          excluded = excluded || key == context.targeting_key;
        }
        FUZZ_CHECK(!excluded || !(*compiled)->Contains(context), segment.key);
      }
    }
    segments.emplace(segment.key, *std::move(compiled));
  }

  const uint32_t salt =
      size == 0 ? 0 : static_cast<uint32_t>(data[size - 1]) * 257u + size;
  size_t checked = 0;
  for (const v1::Flag& flag : file.flags()) {
    if (checked++ == kMaxFlags) break;
    CheckFlag(flag, contexts, segments, salt);
  }
  return 0;
}
