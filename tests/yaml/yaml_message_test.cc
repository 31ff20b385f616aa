#include "yaml/yaml_message.h"

#include <catch2/catch.hpp>

#include <fstream>
#include <sstream>

#include "absl/strings/match.h"
#include "google/protobuf/util/message_differencer.h"

namespace cutover {
namespace {

TEST_CASE("a flag file parses with snake_case, camelCase and any-case enums",
          "[yaml]") {
  auto file = ParseFlagFile(R"(
segments:
  - key: internal
    included: [u-1, u-2]
flags:
  - key: orders
    oldTarget: pg
    new_target: ddb
    enabled: yes
    compare_sample_rate: 0.25
    rules:
      - id: r1
        clauses:
          - {attribute: tenant, op: IN, values: [acme, "007"]}
        serve: {stage: Live}
    default_serve:
      rollout:
        splits:
          - {stage: live, weight: 5000}
          - {stage: shadow, weight: 95000}
)");
  REQUIRE(file.ok());
  REQUIRE(file->flags_size() == 1);
  const v1::Flag& flag = file->flags(0);
  CHECK(flag.old_target() == "pg");
  CHECK(flag.enabled());
  CHECK(flag.has_compare_sample_rate());
  CHECK(flag.compare_sample_rate() == 0.25);
  CHECK(flag.rules(0).clauses(0).op() == v1::IN);
  CHECK(flag.rules(0).clauses(0).values(1) == "007");  // stays text
  CHECK(flag.rules(0).serve().stage() == v1::LIVE);
  CHECK(flag.default_serve().rollout().splits(1).weight() == 95000);
  CHECK(file->segments(0).included_size() == 2);
}

TEST_CASE("JSON is accepted too", "[yaml]") {
  v1::Flag flag;
  REQUIRE(YamlToMessage(R"({"key": "orders", "default_serve": {"stage": "OFF"},
                            "version": "7"})",
                        &flag)
              .ok());
  CHECK(flag.key() == "orders");
  CHECK(flag.version() == 7);
  CHECK(flag.default_serve().stage() == v1::OFF);
}

TEST_CASE("a text field with no value is empty text", "[yaml]") {
  auto file = ParseFlagFile("flags:\n  - key: orders\n    description:\n"
                            "    tags: [a, ~]\n");
  REQUIRE(file.ok());
  REQUIRE(file->flags_size() == 1);
  CHECK(file->flags(0).description().empty());
  REQUIRE(file->flags(0).tags_size() == 2);
  CHECK(file->flags(0).tags(1).empty());
  // Other fields still need a value.
  v1::FlagFile bad;
  absl::Status status = YamlToMessage("flags:\n  - enabled:\n", &bad);
  CHECK(absl::StrContains(status.message(),
                          "flags[0].enabled: expected a single value"));
}

TEST_CASE("bad files name the path and the rule", "[yaml]") {
  struct Case {
    const char* text;
    const char* message;
  };
  const Case cases[] = {
      {"flags:\n  - key: a\n    colour: red\n",
       "flags[0].colour: unknown field of Flag"},
      {"flags:\n  - default_serve: {stage: sideways}\n",
       "flags[0].default_serve.stage: 'sideways' is not one of off, "
       "dualwrite, shadow, live, rampdown, complete"},
      {"flags:\n  - default_serve: {stage: stage_unspecified}\n",
       "flags[0].default_serve.stage: 'stage_unspecified' is not one of"},
      {"flags:\n  - default_serve: {rollout: {splits: [{weight: -5}]}}\n",
       "flags[0].default_serve.rollout.splits[0].weight: not an unsigned "
       "integer: '-5'"},
      {"flags:\n  - enabled: maybe\n", "flags[0].enabled: not a boolean"},
      {"flags:\n  - compare_sample_rate: lots\n",
       "flags[0].compare_sample_rate: not a number"},
      {"flags:\n  - version: 1.5\n", "flags[0].version: not an integer"},
      {"flags:\n  - default_serve: {stage: off, rollout: {}}\n",
       "only one of kind may be set"},
      {"flags: {key: a}\n", "flags: expected a list"},
      {"flags:\n  - tags: {a: b}\n", "flags[0].tags: expected a list"},
      {"flags:\n  - key: [a]\n", "flags[0].key: expected a single value"},
      {"- a\n- b\n", "(top level): expected a mapping of fields"},
      {"flags: [\n", "not valid YAML or JSON"},
  };
  for (const auto& c : cases) {
    INFO(c.text);
    v1::FlagFile file;
    absl::Status status = YamlToMessage(c.text, &file);
    CHECK(status.code() == absl::StatusCode::kInvalidArgument);
    CHECK(absl::StrContains(status.message(), c.message));
  }
}

TEST_CASE("YAML output parses back to the same message", "[yaml]") {
  v1::HistoryEntry entry;
  entry.set_flag_key("orders");
  entry.set_version(3);
  entry.set_actor("alice \"the admin\": ops");
  entry.mutable_time()->set_seconds(1764000000);
  v1::Flag* after = entry.mutable_after();
  after->set_key("orders");
  after->set_enabled(true);
  after->set_compare_sample_rate(0.5);
  after->add_tags("yes");  // a YAML 1.1 boolean word must stay a string
  auto* rule = after->add_rules();
  rule->set_id("r1");
  auto* clause = rule->add_clauses();
  clause->set_attribute("version");
  clause->set_op(v1::SEMVER_GE);
  clause->add_values("1.2.0");
  rule->mutable_serve()->set_stage(v1::LIVE);
  auto* split = after->mutable_default_serve()->mutable_rollout()->add_splits();
  split->set_stage(v1::SHADOW);
  split->set_weight(100000);

  const std::string yaml = MessageToYaml(entry);
  CHECK(absl::StrContains(yaml, "op: semver_ge"));
  v1::HistoryEntry parsed;
  REQUIRE(YamlToMessage(yaml, &parsed).ok());
  CHECK(google::protobuf::util::MessageDifferencer::Equals(entry, parsed));
}

TEST_CASE("the example flag file parses", "[yaml]") {
  std::ifstream in(std::string(CUTOVER_SOURCE_DIR) +
                   "/config/flags.example.yaml");
  std::stringstream text;
  text << in.rdbuf();
  auto file = ParseFlagFile(text.str());
  REQUIRE(file.ok());
  CHECK(file->flags_size() >= 1);
  CHECK(file->segments_size() >= 1);
}

}  // namespace
}  // namespace cutover
