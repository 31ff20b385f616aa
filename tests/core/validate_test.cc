// Tests of validation: each bad input is refused with INVALID_ARGUMENT and a
// message that starts with the path of the bad field as an API user spells
// it; good inputs are accepted.
#include <catch2/catch.hpp>
#include <functional>
#include <limits>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "core/evaluate.h"
#include "core/limits.h"

namespace cutover {
namespace {

Serve StageServe(Stage stage) {
  Serve serve;
  serve.stage = stage;
  return serve;
}

Serve RolloutServe(std::vector<Split> splits) {
  Serve serve;
  serve.rollout = Rollout{std::move(splits)};
  return serve;
}

// A valid flag using most features; each bad case breaks one field of it.
Flag GoodFlag() {
  Flag flag;
  flag.key = "orders-migration";
  flag.description = "orders table, Postgres to DynamoDB";
  flag.owner = "team-orders";
  flag.tags = {"team:orders", "tier-1"};
  flag.old_target = "postgres-orders";
  flag.new_target = "dynamodb-orders";
  flag.enabled = true;
  flag.bucket_by = "tenant_id";
  Rule internal;
  internal.id = "internal";
  internal.clauses = {{"email", Operator::kEndsWith, {"@corp.example"}},
                      {"app_version", Operator::kSemverGe, {"v2.3.0-rc.1"}}};
  internal.serve = StageServe(Stage::kLive);
  Rule regions;
  regions.id = "regions";
  regions.clauses = {{"region", Operator::kMatches, {"^eu-", "^us-"}}};
  regions.serve =
      RolloutServe({{Stage::kShadow, 90000}, {Stage::kLive, 10000}});
  flag.rules = {internal, regions};
  flag.default_serve = RolloutServe(
      {{Stage::kDualWrite, 50000}, {Stage::kShadow, 50000}, {Stage::kLive, 0}});
  flag.compare_sample_rate = 0.5;
  return flag;
}

Segment GoodSegment() {
  Segment segment;
  segment.key = "beta-testers";
  segment.description = "people who asked for it";
  segment.included = {"alice", "bob"};
  segment.excluded = {"mallory"};
  segment.clauses = {{"email", Operator::kEndsWith, {"@corp.example"}}};
  return segment;
}

// A bad input: how to break the good one, the path the message must start
// with, and optionally the whole expected message.
struct FlagCase {
  const char* name;
  std::function<void(Flag&)> mutate;
  std::string path;
  std::string message = "";  // empty: only the path is checked
};

struct SegmentCase {
  const char* name;
  std::function<void(Segment&)> mutate;
  std::string path;
  std::string message = "";
};

void CheckRefused(const absl::Status& status, const std::string& path,
                  const std::string& message) {
  INFO("status: " << status.ToString());
  CHECK(status.code() == absl::StatusCode::kInvalidArgument);
  CHECK(absl::StartsWith(status.message(), path + ": "));
  if (!message.empty()) CHECK(std::string(status.message()) == message);
}

Clause& FirstClause(Flag& flag) { return flag.rules[0].clauses[0]; }

TEST_CASE("Bad flags are refused naming the field", "[validate]") {
  const std::string long_text(kMaxDescriptionLength + 1, 'x');
  const std::vector<FlagCase> cases = {
      // key, description, owner, tags
      {"empty key", [](Flag& f) { f.key = ""; }, "key"},
      {"uppercase key", [](Flag& f) { f.key = "Orders"; }, "key",
       "key: must match [a-z0-9][a-z0-9._-]{0,127}, got \"Orders\""},
      {"key starting with -", [](Flag& f) { f.key = "-orders"; }, "key"},
      {"key with a space", [](Flag& f) { f.key = "orders v2"; }, "key"},
      {"key too long", [](Flag& f) { f.key = std::string(129, 'a'); }, "key"},
      {"description too long", [&](Flag& f) { f.description = long_text; },
       "description"},
      {"owner too long", [](Flag& f) { f.owner = std::string(129, 'o'); },
       "owner"},
      {"tag with a space",
       [](Flag& f) {
         f.tags = {"ok", "not ok"};
       },
       "tags[1]"},
      {"empty tag", [](Flag& f) { f.tags = {""}; }, "tags[0]"},
      {"tag too long", [](Flag& f) { f.tags = {std::string(65, 't')}; },
       "tags[0]"},
      {"too many tags",
       [](Flag& f) {
         f.tags.clear();
         for (size_t i = 0; i <= kMaxTagsPerFlag; ++i) {
           f.tags.push_back("t" + std::to_string(i));
         }
       },
       "tags"},
      // targets and bucketing
      {"missing old_target", [](Flag& f) { f.old_target = ""; }, "old_target",
       "old_target: required"},
      {"old_target too long",
       [](Flag& f) { f.old_target = std::string(129, 'p'); }, "old_target"},
      {"missing new_target", [](Flag& f) { f.new_target = ""; }, "new_target"},
      {"new_target with a newline",
       [](Flag& f) { f.new_target = "dynamo\norders"; }, "new_target"},
      {"same targets", [](Flag& f) { f.new_target = f.old_target; },
       "new_target", "new_target: must differ from old_target"},
      {"bucket_by with a space", [](Flag& f) { f.bucket_by = "tenant id"; },
       "bucket_by"},
      {"bucket_by too long",
       [](Flag& f) { f.bucket_by = std::string(65, 'b'); }, "bucket_by"},
      // rules
      {"too many rules",
       [](Flag& f) {
         const Rule rule = f.rules[0];
         f.rules.clear();
         for (size_t i = 0; i <= kMaxRulesPerFlag; ++i) {
           f.rules.push_back(rule);
           f.rules.back().id = "rule-" + std::to_string(i);
         }
       },
       "rules"},
      {"rule without id", [](Flag& f) { f.rules[0].id = ""; }, "rules[0].id"},
      {"rule id in uppercase", [](Flag& f) { f.rules[1].id = "Regions"; },
       "rules[1].id"},
      {"rule id too long",
       [](Flag& f) { f.rules[0].id = std::string(65, 'r'); }, "rules[0].id"},
      {"duplicate rule id", [](Flag& f) { f.rules[1].id = f.rules[0].id; },
       "rules[1].id"},
      {"rule description too long",
       [&](Flag& f) { f.rules[1].description = long_text; },
       "rules[1].description"},
      {"rule without clauses", [](Flag& f) { f.rules[0].clauses.clear(); },
       "rules[0].clauses"},
      {"too many clauses",
       [](Flag& f) {
         f.rules[0].clauses.assign(kMaxClausesPerRule + 1,
                                   f.rules[0].clauses[0]);
       },
       "rules[0].clauses"},
      // clauses
      {"empty attribute", [](Flag& f) { FirstClause(f).attribute = ""; },
       "rules[0].clauses[0].attribute"},
      {"attribute with !", [](Flag& f) { FirstClause(f).attribute = "e!"; },
       "rules[0].clauses[0].attribute"},
      {"unspecified operator",
       [](Flag& f) { FirstClause(f).op = Operator::kUnspecified; },
       "rules[0].clauses[0].op"},
      {"operator out of range",
       [](Flag& f) { FirstClause(f).op = static_cast<Operator>(17); },
       "rules[0].clauses[0].op"},
      {"no values", [](Flag& f) { FirstClause(f).values.clear(); },
       "rules[0].clauses[0].values"},
      {"too many values",
       [](Flag& f) {
         FirstClause(f).values.assign(kMaxValuesPerClause + 1, "@x");
       },
       "rules[0].clauses[0].values"},
      {"value too long",
       [](Flag& f) { FirstClause(f).values = {std::string(257, 'v')}; },
       "rules[0].clauses[0].values[0]"},
      {"two values for semver_ge",
       [](Flag& f) {
         f.rules[0].clauses[1].values = {"1.0.0", "2.0.0"};
       },
       "rules[0].clauses[1].values",
       "rules[0].clauses[1].values: semver_ge takes exactly one value, got 2"},
      {"short semver", [](Flag& f) { f.rules[0].clauses[1].values = {"2.3"}; },
       "rules[0].clauses[1].values[0]"},
      {"semver with empty prerelease",
       [](Flag& f) { f.rules[0].clauses[1].values = {"2.3.0-"}; },
       "rules[0].clauses[1].values[0]"},
      {"semver with bad build",
       [](Flag& f) { f.rules[0].clauses[1].values = {"2.3.0+"}; },
       "rules[0].clauses[1].values[0]"},
      {"number that is not one",
       [](Flag& f) {
         FirstClause(f) = {"age", Operator::kNumberGt, {"eighteen"}};
       },
       "rules[0].clauses[0].values[0]"},
      {"infinite number",
       [](Flag& f) {
         FirstClause(f) = {"age", Operator::kNumberLt, {"inf"}};
       },
       "rules[0].clauses[0].values[0]"},
      {"NaN number",
       [](Flag& f) {
         FirstClause(f) = {"age", Operator::kNumberEq, {"nan"}};
       },
       "rules[0].clauses[0].values[0]"},
      {"out-of-range number",
       [](Flag& f) {
         FirstClause(f) = {"age", Operator::kNumberEq, {"1e999"}};
       },
       "rules[0].clauses[0].values[0]"},
      {"two values for number_le",
       [](Flag& f) {
         FirstClause(f) = {"age", Operator::kNumberLe, {"1", "2"}};
       },
       "rules[0].clauses[0].values"},
      {"bad RE2 pattern", [](Flag& f) { f.rules[1].clauses[0].values = {"("}; },
       "rules[1].clauses[0].values[0]",
       "rules[1].clauses[0].values[0]: invalid RE2 pattern: missing ): ("},
      {"bad second RE2 pattern",
       [](Flag& f) {
         f.rules[1].clauses[0].values = {"ok", "[z-a]"};
       },
       "rules[1].clauses[0].values[1]"},
      {"segment key in uppercase",
       [](Flag& f) {
         FirstClause(f) = {"", Operator::kInSegment, {"beta", "Beta"}};
       },
       "rules[0].clauses[0].values[1]"},
      // serves
      {"rule serve unset", [](Flag& f) { f.rules[0].serve = Serve{}; },
       "rules[0].serve"},
      {"rule serve with both",
       [](Flag& f) {
         f.rules[0].serve.rollout = Rollout{{{Stage::kLive, 100000}}};
       },
       "rules[0].serve"},
      {"rule rollout short",
       [](Flag& f) {
         f.rules[1].serve = RolloutServe({{Stage::kLive, 10000}});
       },
       "rules[1].serve.rollout.splits"},
      {"default serve unset", [](Flag& f) { f.default_serve = Serve{}; },
       "default_serve",
       "default_serve: exactly one of stage or rollout must be set"},
      {"unspecified default stage",
       [](Flag& f) { f.default_serve = StageServe(Stage::kUnspecified); },
       "default_serve.stage"},
      {"default stage out of range",
       [](Flag& f) { f.default_serve = StageServe(static_cast<Stage>(7)); },
       "default_serve.stage"},
      {"rollout without splits",
       [](Flag& f) { f.default_serve = RolloutServe({}); },
       "default_serve.rollout.splits"},
      {"split without stage",
       [](Flag& f) {
         f.default_serve = RolloutServe(
             {{Stage::kShadow, 50000}, {Stage::kUnspecified, 50000}});
       },
       "default_serve.rollout.splits[1].stage"},
      {"stage twice",
       [](Flag& f) {
         f.default_serve = RolloutServe({{Stage::kShadow, 50000},
                                         {Stage::kLive, 0},
                                         {Stage::kShadow, 50000}});
       },
       "default_serve.rollout.splits[2].stage"},
      {"weights short",
       [](Flag& f) {
         f.default_serve =
             RolloutServe({{Stage::kShadow, 94000}, {Stage::kLive, 5000}});
       },
       "default_serve.rollout.splits",
       "default_serve.rollout.splits: weights must sum to 100000, got 99000"},
      {"weights that would wrap 32 bits",
       [](Flag& f) {
         f.default_serve = RolloutServe(
             {{Stage::kShadow, 4294967295u}, {Stage::kLive, 100001}});
       },
       "default_serve.rollout.splits"},
      // compare_sample_rate
      {"sample rate above 1", [](Flag& f) { f.compare_sample_rate = 1.5; },
       "compare_sample_rate"},
      {"negative sample rate", [](Flag& f) { f.compare_sample_rate = -0.1; },
       "compare_sample_rate"},
      {"NaN sample rate",
       [](Flag& f) {
         f.compare_sample_rate = std::numeric_limits<double>::quiet_NaN();
       },
       "compare_sample_rate"},
  };
  for (const FlagCase& c : cases) {
    INFO(c.name);
    Flag flag = GoodFlag();
    c.mutate(flag);
    CheckRefused(ValidateFlag(flag), c.path, c.message);
    CheckRefused(CompileFlag(flag).status(), c.path, c.message);
  }
}

TEST_CASE("Bad segments are refused naming the field", "[validate]") {
  const std::vector<SegmentCase> cases = {
      {"empty key", [](Segment& s) { s.key = ""; }, "key"},
      {"uppercase key", [](Segment& s) { s.key = "Beta"; }, "key",
       "key: must match [a-z0-9][a-z0-9._-]{0,127}, got \"Beta\""},
      {"description too long",
       [](Segment& s) { s.description = std::string(1025, 'd'); },
       "description"},
      {"empty included entry",
       [](Segment& s) {
         s.included = {"a", ""};
       },
       "included[1]"},
      {"included entry too long",
       [](Segment& s) { s.included = {std::string(257, 'u')}; }, "included[0]"},
      {"too many included",
       [](Segment& s) {
         s.included.clear();
         for (size_t i = 0; i <= kMaxSegmentEntries; ++i) {
           s.included.push_back("u" + std::to_string(i));
         }
       },
       "included"},
      {"empty excluded entry", [](Segment& s) { s.excluded = {""}; },
       "excluded[0]"},
      {"excluded entry with a control character",
       [](Segment& s) {
         s.excluded = {"ok", "tab\there"};
       },
       "excluded[1]"},
      {"in_segment inside a segment",
       [](Segment& s) {
         s.clauses = {{"", Operator::kInSegment, {"other"}}};
       },
       "clauses[0].op"},
      {"bad RE2 pattern",
       [](Segment& s) {
         s.clauses.push_back({"email", Operator::kMatches, {"a**"}});
       },
       "clauses[1].values[0]"},
      {"empty attribute", [](Segment& s) { s.clauses[0].attribute = ""; },
       "clauses[0].attribute"},
      {"no values", [](Segment& s) { s.clauses[0].values.clear(); },
       "clauses[0].values"},
      {"too many clauses",
       [](Segment& s) {
         s.clauses.assign(kMaxClausesPerRule + 1, s.clauses[0]);
       },
       "clauses"},
  };
  for (const SegmentCase& c : cases) {
    INFO(c.name);
    Segment segment = GoodSegment();
    c.mutate(segment);
    CheckRefused(ValidateSegment(segment), c.path, c.message);
    CheckRefused(CompileSegment(segment).status(), c.path, c.message);
  }
}

TEST_CASE("Good flags are accepted", "[validate]") {
  std::vector<std::pair<const char*, Flag>> good;
  good.emplace_back("the base flag", GoodFlag());
  {
    Flag f = GoodFlag();
    f.rules.clear();
    f.tags.clear();
    f.description.clear();
    f.owner.clear();
    f.bucket_by.clear();
    f.compare_sample_rate.reset();
    f.default_serve = StageServe(Stage::kOff);
    good.emplace_back("a minimal flag", f);
  }
  {
    Flag f = GoodFlag();
    f.key = std::string(1, '0') + std::string(127, 'a');  // 128 chars
    f.rules[0].id = "0" + std::string(63, '.');           // 64 chars
    f.old_target = std::string(128, 'o');
    f.new_target = "dynamo orders (eu-west-1)";  // spaces are fine
    f.tags = {std::string(64, 'T'), "a.b_c:d-e"};
    f.description = std::string(kMaxDescriptionLength, 'd');
    f.bucket_by = "key";
    f.compare_sample_rate = 0.0;
    good.emplace_back("limits reached, not passed", f);
  }
  {
    Flag f = GoodFlag();
    f.compare_sample_rate = 1.0;
    Rule all;
    all.id = "every-operator";
    all.clauses = {
        {"a", Operator::kIn, {"x", ""}},
        {"a", Operator::kNotIn, {"y"}},
        {"a", Operator::kStartsWith, {"x"}},
        {"a", Operator::kEndsWith, {"x"}},
        {"a", Operator::kMatches, {"(?i)^x+$"}},
        {"v", Operator::kSemverEq, {"1.2.3"}},
        {"v", Operator::kSemverLt, {"v1.2.3-alpha.1+build.7"}},
        {"v", Operator::kSemverLe, {"0.0.0"}},
        {"v", Operator::kSemverGt, {"10.20.30-rc.1.x-y"}},
        {"v", Operator::kSemverGe, {"1.2.3+meta"}},
        {"n", Operator::kNumberEq, {"-1.5e3"}},
        {"n", Operator::kNumberLt, {"0"}},
        {"n", Operator::kNumberLe, {"3.14"}},
        {"n", Operator::kNumberGt, {"+7"}},
        {"n", Operator::kNumberGe, {"1000000"}},
        {"", Operator::kInSegment, {"beta-testers", "eu"}},
        {"anything at all: ignored", Operator::kInSegment, {"eu"}},
    };
    all.clauses.push_back({"key", Operator::kIn,
                           std::vector<std::string>(kMaxValuesPerClause, "u")});
    all.serve = StageServe(Stage::kComplete);
    f.rules.push_back(all);
    good.emplace_back("every operator", f);
  }
  {
    Flag f = GoodFlag();
    f.default_serve = RolloutServe(
        {{Stage::kComplete, 0}, {Stage::kOff, 1}, {Stage::kRampDown, 99999}});
    good.emplace_back("rollout in any order with weight 0", f);
  }
  for (const auto& [name, flag] : good) {
    INFO(name);
    const absl::Status status = ValidateFlag(flag);
    INFO(status.ToString());
    CHECK(status.ok());
    CHECK(CompileFlag(flag).ok());
  }
}

TEST_CASE("Good segments are accepted", "[validate]") {
  std::vector<std::pair<const char*, Segment>> good;
  good.emplace_back("the base segment", GoodSegment());
  {
    Segment s;
    s.key = "empty";
    good.emplace_back("an empty segment", s);
  }
  {
    Segment s = GoodSegment();
    s.included = {std::string(kMaxValueLength, 'u'), "user with spaces"};
    s.clauses = {{"key", Operator::kStartsWith, {"test-"}},
                 {"build", Operator::kNumberGe, {"1200"}}};
    good.emplace_back("long entries and several clauses", s);
  }
  for (const auto& [name, segment] : good) {
    INFO(name);
    const absl::Status status = ValidateSegment(segment);
    INFO(status.ToString());
    CHECK(status.ok());
    CHECK(CompileSegment(segment).ok());
  }
}

}  // namespace
}  // namespace cutover
