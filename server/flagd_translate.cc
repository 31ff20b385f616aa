#include "server/flagd_translate.h"

#include <algorithm>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "core/stage.h"
#include "google/protobuf/struct.pb.h"
#include "google/protobuf/util/json_util.h"

namespace cutover {
namespace {

using google::protobuf::ListValue;
using google::protobuf::Struct;
using google::protobuf::Value;

Value Str(absl::string_view s) {
  Value v;
  v.set_string_value(std::string(s));
  return v;
}
Value Num(double n) {
  Value v;
  v.set_number_value(n);
  return v;
}
Value Bool(bool b) {
  Value v;
  v.set_bool_value(b);
  return v;
}
Value Null() {
  Value v;
  v.set_null_value(google::protobuf::NULL_VALUE);
  return v;
}
Value List(std::vector<Value> items) {
  Value v;
  for (Value& item : items) *v.mutable_list_value()->add_values() = item;
  return v;
}
Value Strings(const std::vector<std::string>& items) {
  Value v;
  for (const std::string& s : items) {
    v.mutable_list_value()->add_values()->set_string_value(s);
  }
  return v;
}
// {"op": args}
Value Op(const char* op, Value args) {
  Value v;
  (*v.mutable_struct_value()->mutable_fields())[op] = std::move(args);
  return v;
}
Value Var(absl::string_view name) { return Op("var", Str(name)); }

// The targeting key is present when it is neither missing nor empty.
Value TargetingKeyPresent() {
  return Op("!",
            Op("in", List({Var("targetingKey"), List({Null(), Str("")})})));
}

// Cutover's attribute: the targeting key for "key", else the attribute;
// `present` tests that the user has it, `text` is its string form (a JSON
// number or bool as its JavaScript string, which is how flagd_edge.cc
// canonicalises them for Decide).
struct Attribute {
  Value present;
  Value text;
};
Attribute AttributeOf(const std::string& name) {
  if (name == kTargetingKeyAttribute) {
    return {TargetingKeyPresent(), Var("targetingKey")};
  }
  return {Op("!==", List({Var(name), Null()})), Op("cat", List({Var(name)}))};
}

absl::StatusOr<Value> Clauses(
    const std::vector<Clause>& clauses, const std::string& path,
    const absl::flat_hash_map<std::string, const Segment*>& segments,
    bool in_segment);

absl::StatusOr<Value> SegmentContains(
    const Segment& segment,
    const absl::flat_hash_map<std::string, const Segment*>& segments) {
  Value clauses = Bool(false);
  if (!segment.clauses.empty()) {
    auto translated =
        Clauses(segment.clauses, absl::StrCat("segment ", segment.key, ": "),
                segments, true);
    if (!translated.ok()) return translated.status();
    clauses = *std::move(translated);
  }
  const Value key = Var("targetingKey");
  return Op(
      "if",
      List({Op("and", List({TargetingKeyPresent(),
                            Op("in", List({key, Strings(segment.excluded)}))})),
            Bool(false),
            Op("and", List({TargetingKeyPresent(),
                            Op("in", List({key, Strings(segment.included)}))})),
            Bool(true), clauses}));
}

absl::StatusOr<Value> ClauseOf(
    const Clause& clause, const std::string& path,
    const absl::flat_hash_map<std::string, const Segment*>& segments,
    bool in_segment) {
  if (clause.op == Operator::kInSegment) {
    if (in_segment) return absl::InvalidArgumentError(path + "in_segment");
    std::vector<Value> any;
    for (const std::string& key : clause.values) {
      auto it = segments.find(key);
      if (it == segments.end()) continue;  // no members
      auto contains = SegmentContains(*it->second, segments);
      if (!contains.ok()) return contains.status();
      any.push_back(*std::move(contains));
    }
    if (any.empty()) return Bool(false);
    return Op("or", List(std::move(any)));
  }
  const Attribute attribute = AttributeOf(clause.attribute);
  Value test;
  switch (clause.op) {
    case Operator::kIn:
      test = Op("in", List({attribute.text, Strings(clause.values)}));
      break;
    case Operator::kNotIn:
      test = Op("!", Op("in", List({attribute.text, Strings(clause.values)})));
      break;
    case Operator::kStartsWith:
    case Operator::kEndsWith: {
      std::vector<Value> any;
      for (const std::string& value : clause.values) {
        any.push_back(
            Op(clause.op == Operator::kStartsWith ? "starts_with" : "ends_with",
               List({attribute.text, Str(value)})));
      }
      test = Op("or", List(std::move(any)));
      break;
    }
    default:
      return absl::InvalidArgumentError(absl::StrCat(
          path, "op ", OperatorName(clause.op),
          " has no exact JsonLogic equivalent (flagd compares numbers, "
          "versions and patterns by its own rules)"));
  }
  return Op("and", List({attribute.present, test}));
}

absl::StatusOr<Value> Clauses(
    const std::vector<Clause>& clauses, const std::string& path,
    const absl::flat_hash_map<std::string, const Segment*>& segments,
    bool in_segment) {
  std::vector<Value> all;
  for (size_t i = 0; i < clauses.size(); ++i) {
    auto clause = ClauseOf(clauses[i], absl::StrCat(path, "clauses[", i, "]: "),
                           segments, in_segment);
    if (!clause.ok()) return clause.status();
    all.push_back(*std::move(clause));
  }
  if (all.empty()) return Bool(true);
  return Op("and", List(std::move(all)));
}

// A serve as JsonLogic: a variant name, or the rollout.
Value ServeOf(const Flag& flag, const Serve& serve) {
  if (serve.stage.has_value()) return Str(StageName(*serve.stage));
  std::vector<Split> splits = serve.rollout->splits;
  std::sort(splits.begin(), splits.end(), [](const Split& a, const Split& b) {
    return a.stage > b.stage;  // most advanced first: cutover's layout
  });
  // Not bucketed (no bucket value): the least advanced stage with weight.
  Stage least = splits.back().stage;
  for (const Split& split : splits) {
    if (split.weight > 0) least = split.stage;
  }
  const bool by_key = flag.bucket_by.empty() || flag.bucket_by == "key";
  const Value value = by_key ? Var("targetingKey") : Var(flag.bucket_by);
  std::vector<Value> fractional = {
      Op("cat", List({Var("$flagd.flagKey"), value}))};
  for (const Split& split : splits) {
    fractional.push_back(List(
        {Str(StageName(split.stage)), Num(static_cast<double>(split.weight))}));
  }
  return Op("if", List({Op("in", List({value, List({Null(), Str("")})})),
                        Str(StageName(least)),
                        Op("fractional", List(std::move(fractional)))}));
}

absl::StatusOr<Value> FlagOf(
    const Flag& flag,
    const absl::flat_hash_map<std::string, const Segment*>& segments) {
  if (!flag.enabled) {
    return absl::InvalidArgumentError(
        "disabled: the kill switch's data-safe fallback and the DISABLED "
        "reason have no flagd equivalent");
  }
  Struct out;
  auto& f = *out.mutable_fields();
  f["state"] = Str("ENABLED");
  Value& variants = f["variants"];
  for (int s = static_cast<int>(kFirstStage); s <= static_cast<int>(kLastStage);
       ++s) {
    const char* name = StageName(static_cast<Stage>(s));
    (*variants.mutable_struct_value()->mutable_fields())[name] = Str(name);
  }
  (*f["metadata"].mutable_struct_value()->mutable_fields())["flagVersion"] =
      Num(static_cast<double>(flag.version));
  const Serve& fallback = flag.default_serve;
  if (flag.rules.empty() && fallback.stage.has_value()) {
    f["defaultVariant"] = Str(StageName(*fallback.stage));  // STATIC
    Value v;
    *v.mutable_struct_value() = std::move(out);
    return v;
  }
  std::vector<Value> chain;
  for (size_t i = 0; i < flag.rules.size(); ++i) {
    auto clauses = Clauses(flag.rules[i].clauses,
                           absl::StrCat("rules[", i, "]."), segments, false);
    if (!clauses.ok()) return clauses.status();
    chain.push_back(*std::move(clauses));
    chain.push_back(ServeOf(flag, flag.rules[i].serve));
  }
  if (fallback.stage.has_value()) {
    // No rule matched: null, so flagd serves defaultVariant with DEFAULT.
    f["defaultVariant"] = Str(StageName(*fallback.stage));
    chain.push_back(Null());
  } else {
    f["defaultVariant"] = Null();
    chain.push_back(ServeOf(flag, fallback));
  }
  f["targeting"] = chain.size() == 1 ? chain[0] : Op("if", List(chain));
  Value v;
  *v.mutable_struct_value() = std::move(out);
  return v;
}

}  // namespace

FlagdPayload TranslateForFlagd(
    const std::vector<const Flag*>& flags,
    const absl::flat_hash_map<std::string, const Segment*>& segments) {
  FlagdPayload payload;
  Struct root;
  Struct& out = *(*root.mutable_fields())["flags"].mutable_struct_value();
  for (const Flag* flag : flags) {
    if (flag->archived) continue;
    auto translated = FlagOf(*flag, segments);
    if (!translated.ok()) {
      payload.left_out.emplace_back(flag->key,
                                    std::string(translated.status().message()));
      continue;
    }
    (*out.mutable_fields())[flag->key] = *std::move(translated);
  }
  google::protobuf::util::JsonPrintOptions options;
  (void)google::protobuf::util::MessageToJsonString(root, &payload.json,
                                                    options);
  return payload;
}

}  // namespace cutover
