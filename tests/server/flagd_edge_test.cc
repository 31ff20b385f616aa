// The flagd edge's mappings, table by table: context values to cutover's
// attribute strings, refusals naming the key, reasons, and the metadata
// bytes of ResolveString's reply read as flagd's own responses.
#include "server/flagd_edge.h"

#include <catch2/catch.hpp>
#include <string>

#include "core/stage.h"
#include "flagd/evaluation/string_reply.pb.h"
#include "flagd/evaluation/v1/evaluation.pb.h"
#include "flagd/evaluation/v2/evaluation.pb.h"

namespace cutover {
namespace {

TEST_CASE("numbers become the strings cutover's clauses compare") {
  struct Case {
    double value;
    const char* text;
  };
  const Case cases[] = {
      {0, "0"},
      {42, "42"},
      {-3, "-3"},
      {0.5, "0.5"},
      {0.1, "0.1"},
      {1e21, "1e+21"},
      {123456789012.0, "123456789012"},
      {2.25, "2.25"},
      {1e16, "10000000000000000"},
      {1e-7, "1e-7"},
      {0.000001, "0.000001"},
      {-0.0, "0"},
      {1.5e300, "1.5e+300"},
      {123.456, "123.456"},
      {5e-324, "5e-324"},
      {0.30000000000000004, "0.30000000000000004"},
  };
  for (const Case& c : cases) {
    INFO(c.text);
    CHECK(CanonicalNumber(c.value) == c.text);
  }
}

TEST_CASE("a flagd context becomes cutover's Context") {
  google::protobuf::Struct context;
  auto& f = *context.mutable_fields();
  f["targetingKey"].set_string_value("u-42");
  f["tenant"].set_string_value("acme");
  f["seats"].set_number_value(500);
  f["ratio"].set_number_value(0.25);
  f["beta"].set_bool_value(true);
  f["gone"].set_null_value(google::protobuf::NULL_VALUE);
  Context out;
  REQUIRE(ContextFromFlagd(context, EvaluationLimits(), &out).ok());
  CHECK(out.targeting_key == "u-42");
  CHECK(out.attributes == std::map<std::string, std::string>{{"tenant", "acme"},
                                                             {"seats", "500"},
                                                             {"ratio", "0.25"},
                                                             {"beta", "true"}});
}

TEST_CASE("nested objects, lists and a non-string targetingKey are refused") {
  struct Case {
    const char* key;
    google::protobuf::Value value;
  };
  google::protobuf::Value nested;
  (*nested.mutable_struct_value()->mutable_fields())["a"].set_string_value("b");
  google::protobuf::Value list;
  list.mutable_list_value()->add_values()->set_number_value(1);
  google::protobuf::Value number;
  number.set_number_value(7);
  const Case cases[] = {
      {"address", nested}, {"groups", list}, {"targetingKey", number}};
  for (const Case& c : cases) {
    INFO(c.key);
    google::protobuf::Struct context;
    (*context.mutable_fields())[c.key] = c.value;
    Context out;
    const absl::Status status =
        ContextFromFlagd(context, EvaluationLimits(), &out);
    CHECK(status.code() == absl::StatusCode::kInvalidArgument);
    CHECK(status.message().find(std::string("\"") + c.key + "\"") !=
          std::string::npos);
  }
}

TEST_CASE("a context past the limits is refused") {
  EvaluationLimits limits;
  limits.max_attributes = 2;
  limits.max_attribute_length = 8;
  google::protobuf::Struct context;
  auto& f = *context.mutable_fields();
  f["targetingKey"].set_string_value("u-1");
  f["a"].set_string_value("1");
  f["b"].set_string_value("2");
  Context out;
  CHECK(ContextFromFlagd(context, limits, &out).ok());
  f["c"].set_string_value("3");
  CHECK(ContextFromFlagd(context, limits, &out).code() ==
        absl::StatusCode::kInvalidArgument);
  f.erase("c");
  f["b"].set_string_value("123456789");
  const absl::Status long_value = ContextFromFlagd(context, limits, &out);
  CHECK(long_value.code() == absl::StatusCode::kInvalidArgument);
  CHECK(long_value.message().find("\"b\"") != std::string::npos);
}

TEST_CASE("reasons: STATIC, DEFAULT, TARGETING_MATCH, DISABLED, ERROR") {
  Flag plain;
  Flag with_rules;
  with_rules.rules.push_back(Rule());
  struct Case {
    const Flag* flag;
    Reason reason;
    const char* flagd;
  };
  const Case cases[] = {
      {&plain, Reason::kDefault, "STATIC"},
      {&with_rules, Reason::kDefault, "DEFAULT"},
      {&with_rules, Reason::kRuleMatch, "TARGETING_MATCH"},
      {&plain, Reason::kSplit, "TARGETING_MATCH"},
      {&plain, Reason::kDisabled, "DISABLED"},
      {&plain, Reason::kError, "ERROR"},
  };
  for (const Case& c : cases) {
    Decision decision;
    decision.reason = c.reason;
    CHECK(std::string(FlagdReason(*c.flag, decision)) == c.flagd);
  }
}

TEST_CASE("ResolveString's reply reads as flagd's v1 and v2 responses") {
  Decision decision;
  decision.stage = Stage::kLive;
  decision.plan = PlanFor(Stage::kLive);
  decision.flag_version = 7;
  decision.old_target = "postgres-orders";
  // Longer than 127 bytes: two-byte lengths, in the entry and the Value.
  decision.new_target = std::string(200, 'n');
  const int64_t revision = 123456789012;

  flagd_wire::ResolveStringReply reply;
  reply.set_value("live");
  reply.set_variant("live");
  reply.set_reason("TARGETING_MATCH");
  FlagdMetadataBytes(decision, revision, reply.mutable_metadata());
  const std::string wire = reply.SerializeAsString();

  auto check = [&](const google::protobuf::Struct& metadata) {
    const auto& fields = metadata.fields();
    REQUIRE(fields.size() == 6);
    CHECK(fields.at("flagVersion").number_value() == 7);
    CHECK(fields.at("revision").number_value() == 123456789012.0);
    CHECK(fields.at("oldTarget").string_value() == "postgres-orders");
    CHECK(fields.at("newTarget").string_value() == std::string(200, 'n'));
    CHECK(fields.at("reads").string_value() == "new+old");
    CHECK(fields.at("writes").string_value() == "new+old");
  };
  flagd::evaluation::v1::ResolveStringResponse v1;
  REQUIRE(v1.ParseFromString(wire));
  CHECK(v1.value() == "live");
  CHECK(v1.variant() == "live");
  CHECK(v1.reason() == "TARGETING_MATCH");
  check(v1.metadata());
  flagd::evaluation::v2::ResolveStringResponse v2;
  REQUIRE(v2.ParseFromString(wire));
  CHECK(v2.has_value());
  CHECK(v2.value() == "live");
  CHECK(v2.has_variant());
  check(v2.metadata());
  // Nothing left over that a provider would keep as unknown fields.
  CHECK(v1.GetReflection()->GetUnknownFields(v1).empty());
  CHECK(v1.metadata().GetReflection()->GetUnknownFields(v1.metadata()).empty());

  // The Struct form is the same bytes, parsed.
  google::protobuf::Struct metadata;
  FlagdMetadata(decision, revision, &metadata);
  check(metadata);

  // ResolveObject's whole decision, encoded the same way.
  decision.reason = Reason::kSplit;
  decision.bucket = 4242;
  google::protobuf::Struct whole;
  DecisionStruct(decision, revision, &whole);
  const auto& fields = whole.fields();
  CHECK(fields.size() == 10);  // no error field: none set
  CHECK(fields.at("stage").string_value() == "live");
  CHECK(fields.at("reads").string_value() == "new+old");
  CHECK(fields.at("writes").string_value() == "new+old");
  CHECK(fields.at("oldTarget").string_value() == "postgres-orders");
  CHECK(fields.at("newTarget").string_value() == std::string(200, 'n'));
  CHECK(fields.at("reason").string_value() == ReasonName(Reason::kSplit));
  CHECK(fields.at("ruleId").string_value().empty());
  CHECK(fields.at("bucket").number_value() == 4242);
  CHECK(fields.at("flagVersion").number_value() == 7);
  CHECK(fields.at("revision").number_value() == 123456789012.0);
  decision.error = "broken";
  DecisionStruct(decision, revision, &whole);
  CHECK(whole.fields().at("error").string_value() == "broken");
}

}  // namespace
}  // namespace cutover
