// TranslateForFlagd: the flagd JSON of each construct, and what is left
// out (never approximated). The in-process provider test
// (tests/openfeature/) checks the JSON's decisions against Decide.
#include "server/flagd_translate.h"

#include <catch2/catch.hpp>
#include <string>

#include "google/protobuf/struct.pb.h"
#include "google/protobuf/util/json_util.h"

namespace cutover {
namespace {

using google::protobuf::Struct;

Struct Parse(const std::string& json) {
  Struct out;
  REQUIRE(google::protobuf::util::JsonStringToMessage(json, &out).ok());
  return out;
}

Flag Plain(const std::string& key) {
  Flag flag;
  flag.key = key;
  flag.enabled = true;
  flag.version = 3;
  flag.default_serve.stage = Stage::kShadow;
  return flag;
}

TEST_CASE("one stage and no rules: defaultVariant, no targeting (STATIC)") {
  const Flag flag = Plain("ledger");
  const FlagdPayload payload = TranslateForFlagd({&flag}, {});
  REQUIRE(payload.left_out.empty());
  const Struct root = Parse(payload.json);
  const auto& f = root.fields()
                      .at("flags")
                      .struct_value()
                      .fields()
                      .at("ledger")
                      .struct_value()
                      .fields();
  CHECK(f.at("state").string_value() == "ENABLED");
  CHECK(f.at("defaultVariant").string_value() == "shadow");
  CHECK(f.count("targeting") == 0);
  CHECK(
      f.at("variants").struct_value().fields().at("rampdown").string_value() ==
      "rampdown");
  CHECK(f.at("metadata")
            .struct_value()
            .fields()
            .at("flagVersion")
            .number_value() == 3);
}

TEST_CASE(
    "a rollout: fractional on flag key + bucket value, most advanced "
    "stage first, cutover's weights") {
  Flag flag = Plain("orders");
  flag.bucket_by = "tenant";
  flag.default_serve.stage.reset();
  flag.default_serve.rollout =
      Rollout{{{Stage::kShadow, 70000}, {Stage::kLive, 30000}}};
  const FlagdPayload payload = TranslateForFlagd({&flag}, {});
  REQUIRE(payload.left_out.empty());
  // No bucket value: the least advanced stage with weight; else fractional.
  CHECK(payload.json.find(
            R"({"if":[{"in":[{"var":"tenant"},[null,""]]},"shadow",)"
            R"({"fractional":[{"cat":[{"var":"$flagd.flagKey"},)"
            R"({"var":"tenant"}]},["live",30000],["shadow",70000]]}]})") !=
        std::string::npos);
}

TEST_CASE("what flagd cannot express is left out whole, with the reason") {
  struct Case {
    Operator op;
    const char* value;
  };
  const Case cases[] = {{Operator::kMatches, "^u-1"},
                        {Operator::kNumberGe, "500"},
                        {Operator::kSemverLt, "1.2.3"}};
  for (const Case& c : cases) {
    Flag flag = Plain("sessions");
    Rule rule;
    rule.id = "r";
    rule.clauses.push_back(Clause{"seats", c.op, {c.value}});
    rule.serve.stage = Stage::kLive;
    flag.rules.push_back(rule);
    const Flag ok = Plain("ledger");
    const FlagdPayload payload = TranslateForFlagd({&flag, &ok}, {});
    INFO(OperatorName(c.op));
    REQUIRE(payload.left_out.size() == 1);
    CHECK(payload.left_out[0].first == "sessions");
    CHECK(payload.left_out[0].second.find(OperatorName(c.op)) !=
          std::string::npos);
    CHECK(payload.json.find("sessions") == std::string::npos);
    CHECK(payload.json.find("ledger") != std::string::npos);
  }
  Flag disabled = Plain("audit");
  disabled.enabled = false;
  const FlagdPayload payload = TranslateForFlagd({&disabled}, {});
  REQUIRE(payload.left_out.size() == 1);
  CHECK(payload.left_out[0].second.find("disabled") == 0);
}

}  // namespace
}  // namespace cutover
