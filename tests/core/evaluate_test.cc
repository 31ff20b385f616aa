// Tests of Decide: every clause operator, semantic-version ordering,
// segments, the kill switch, rule order, rollouts and the decision fields.
#include "core/evaluate.h"

#include <catch2/catch.hpp>

#include "tests/printers.h"
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "core/bucketing.h"

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

Rule MakeRule(std::string id, std::vector<Clause> clauses, Serve serve) {
  Rule rule;
  rule.id = std::move(id);
  rule.clauses = std::move(clauses);
  rule.serve = std::move(serve);
  return rule;
}

// An enabled flag serving off by default, with no rules.
Flag BaseFlag() {
  Flag flag;
  flag.key = "orders";
  flag.old_target = "postgres-orders";
  flag.new_target = "dynamodb-orders";
  flag.enabled = true;
  flag.default_serve = StageServe(Stage::kOff);
  flag.version = 7;
  return flag;
}

std::shared_ptr<const CompiledFlag> MustCompile(Flag flag) {
  absl::StatusOr<std::shared_ptr<const CompiledFlag>> compiled =
      CompileFlag(std::move(flag));
  INFO(compiled.status().ToString());
  REQUIRE(compiled.ok());
  return *compiled;
}

std::shared_ptr<const CompiledSegment> MustCompile(Segment segment) {
  absl::StatusOr<std::shared_ptr<const CompiledSegment>> compiled =
      CompileSegment(std::move(segment));
  INFO(compiled.status().ToString());
  REQUIRE(compiled.ok());
  return *compiled;
}

Context MakeContext(std::string targeting_key,
                    std::map<std::string, std::string> attributes = {}) {
  return Context{std::move(targeting_key), std::move(attributes)};
}

// Whether a flag with the single rule `clause -> live` serves live.
bool ClauseMatches(const Clause& clause, const Context& context,
                   const SegmentIndex& segments = {}) {
  Flag flag = BaseFlag();
  flag.rules.push_back(MakeRule("r", {clause}, StageServe(Stage::kLive)));
  const Decision decision = Decide(*MustCompile(flag), segments, context);
  if (decision.reason == Reason::kRuleMatch) {
    CHECK(decision.stage == Stage::kLive);
    CHECK(decision.rule_id == "r");
    return true;
  }
  CHECK(decision.reason == Reason::kDefault);
  CHECK(decision.stage == Stage::kOff);
  return false;
}

TEST_CASE("Every clause operator matches and does not match", "[evaluate]") {
  struct Case {
    Operator op;
    std::vector<std::string> values;
    std::optional<std::string> attribute;  // nullopt: absent
    bool matches;
  };
  const std::vector<Case> cases = {
      {Operator::kIn, {"eu", "us"}, "eu", true},
      {Operator::kIn, {"eu", "us"}, "us", true},
      {Operator::kIn, {"eu", "us"}, "ap", false},
      {Operator::kIn, {"eu", "us"}, "EU", false},  // exact, case-sensitive
      {Operator::kIn, {"eu", "us"}, std::nullopt, false},
      {Operator::kNotIn, {"eu"}, "us", true},
      {Operator::kNotIn, {"eu"}, "eu", false},
      {Operator::kNotIn, {"eu"}, std::nullopt, false},  // absent: no match
      {Operator::kStartsWith, {"acme-", "globex-"}, "globex-42", true},
      {Operator::kStartsWith, {"acme-", "globex-"}, "initech-1", false},
      {Operator::kStartsWith, {"acme-"}, std::nullopt, false},
      {Operator::kEndsWith, {"@example.com"}, "bob@example.com", true},
      {Operator::kEndsWith, {"@example.com"}, "bob@example.org", false},
      {Operator::kEndsWith, {"@example.com"}, std::nullopt, false},
      {Operator::kMatches, {"^ten-[0-9]+$"}, "ten-12", true},
      {Operator::kMatches, {"^ten-[0-9]+$"}, "ten-12x", false},
      {Operator::kMatches, {"eu"}, "west-eu-1", true},  // partial match
      {Operator::kMatches, {"^x$", "^y$"}, "y", true},  // any value
      {Operator::kMatches, {"eu"}, std::nullopt, false},
      {Operator::kSemverEq, {"1.2.3"}, "v1.2.3", true},
      {Operator::kSemverEq, {"1.2.3"}, "1.2.3+build.5", true},
      {Operator::kSemverEq, {"1.2.3"}, "1.2.4", false},
      {Operator::kSemverEq, {"1.2.3"}, "1.2.3-rc.1", false},
      {Operator::kSemverEq, {"1.2.3"}, "not-a-version", false},
      {Operator::kSemverEq, {"1.2.3"}, std::nullopt, false},
      {Operator::kSemverLt, {"2.0.0"}, "1.9.9", true},
      {Operator::kSemverLt, {"2.0.0"}, "2.0.0-rc.1", true},
      {Operator::kSemverLt, {"2.0.0"}, "2.0.0", false},
      {Operator::kSemverLt, {"2.0.0"}, "1.9", false},  // unparseable
      {Operator::kSemverLe, {"2.0.0"}, "2.0.0", true},
      {Operator::kSemverLe, {"2.0.0"}, "2.0.1", false},
      {Operator::kSemverGt, {"1.0.0-alpha"}, "1.0.0", true},
      {Operator::kSemverGt, {"1.0.0-alpha"}, "1.0.0-alpha", false},
      {Operator::kSemverGt, {"1.9.0"}, "1.10.0", true},  // numeric, not text
      {Operator::kSemverGe, {"1.0.0"}, "1.0.0", true},
      {Operator::kSemverGe, {"1.0.0"}, "0.99.99", false},
      {Operator::kSemverGe, {"1.0.0"}, std::nullopt, false},
      {Operator::kNumberEq, {"42"}, "42.0", true},
      {Operator::kNumberEq, {"42"}, "43", false},
      {Operator::kNumberEq, {"42"}, "forty-two", false},
      {Operator::kNumberEq, {"42"}, std::nullopt, false},
      {Operator::kNumberLt, {"10"}, "9.5", true},
      {Operator::kNumberLt, {"10"}, "-3", true},
      {Operator::kNumberLt, {"10"}, "10", false},
      {Operator::kNumberLe, {"10"}, "10", true},
      {Operator::kNumberLe, {"10"}, "10.01", false},
      {Operator::kNumberGt, {"0.5"}, "0.75", true},
      {Operator::kNumberGt, {"0.5"}, "0.5", false},
      {Operator::kNumberGt, {"0.5"}, "inf", false},  // not finite
      {Operator::kNumberGe, {"1e3"}, "1000", true},
      {Operator::kNumberGe, {"1e3"}, "999.999", false},
      {Operator::kNumberGe, {"1e3"}, std::nullopt, false},
  };
  for (const Case& c : cases) {
    Context context = MakeContext("user-1");
    if (c.attribute) context.attributes["attr"] = *c.attribute;
    INFO(OperatorName(c.op)
         << " \"" << c.values[0] << "\" against "
         << (c.attribute ? "\"" + *c.attribute + "\"" : std::string("absent")));
    CHECK(ClauseMatches({"attr", c.op, c.values}, context) == c.matches);
  }
}

TEST_CASE("Attribute \"key\" reads the targeting key", "[evaluate]") {
  const Clause clause{"key", Operator::kIn, {"user-1"}};
  CHECK(ClauseMatches(clause, MakeContext("user-1")));
  CHECK_FALSE(ClauseMatches(clause, MakeContext("user-2")));
  // An attribute named "key" does not stand in for the targeting key.
  CHECK_FALSE(
      ClauseMatches(clause, MakeContext("user-2", {{"key", "user-1"}})));
  // An empty targeting key is absent: even not_in does not match.
  CHECK_FALSE(
      ClauseMatches({"key", Operator::kNotIn, {"user-1"}}, MakeContext("")));
  CHECK(ClauseMatches({"key", Operator::kNotIn, {"user-1"}},
                      MakeContext("user-2")));
}

TEST_CASE("Semantic versions order prereleases as semver 2.0 says",
          "[evaluate]") {
  // semver.org §11's example chain, plus numeric identifiers compared
  // numerically and numeric identifiers below alphanumeric ones.
  const std::vector<std::string> ascending = {
      "1.0.0-2",       "1.0.0-10",         "1.0.0-alpha",
      "1.0.0-alpha.1", "1.0.0-alpha.beta", "1.0.0-beta",
      "1.0.0-beta.2",  "1.0.0-beta.11",    "1.0.0-rc.1",
      "1.0.0",         "v1.0.1",           "1.1.0-0",
      "1.1.0",         "1.10.0",           "10.0.0",
  };
  for (size_t i = 0; i < ascending.size(); ++i) {
    for (size_t j = 0; j < ascending.size(); ++j) {
      INFO(ascending[i] << " vs " << ascending[j]);
      const Context context = MakeContext("u", {{"app", ascending[i]}});
      CHECK(ClauseMatches({"app", Operator::kSemverLt, {ascending[j]}},
                          context) == (i < j));
      CHECK(ClauseMatches({"app", Operator::kSemverEq, {ascending[j]}},
                          context) == (i == j));
      CHECK(ClauseMatches({"app", Operator::kSemverGe, {ascending[j]}},
                          context) == (i >= j));
    }
  }
  // Build metadata does not count.
  CHECK(ClauseMatches({"app", Operator::kSemverEq, {"1.0.0-rc.1+b1"}},
                      MakeContext("u", {{"app", "1.0.0-rc.1+b2"}})));
}

TEST_CASE("Segments: excluded wins, then included, then clauses",
          "[evaluate][segment]") {
  Segment beta;
  beta.key = "beta";
  beta.included = {"alice", "bob"};
  beta.excluded = {"bob", "mallory"};
  beta.clauses = {{"email", Operator::kEndsWith, {"@corp.example"}}};
  const std::shared_ptr<const CompiledSegment> segment = MustCompile(beta);

  CHECK(segment->Contains(MakeContext("alice")));
  CHECK_FALSE(segment->Contains(MakeContext("bob")));  // excluded wins
  CHECK(segment->Contains(MakeContext("carol", {{"email", "c@corp.example"}})));
  CHECK_FALSE(segment->Contains(MakeContext("carol", {{"email", "c@home"}})));
  CHECK_FALSE(segment->Contains(MakeContext("carol")));  // no email
  CHECK_FALSE(
      segment->Contains(MakeContext("mallory", {{"email", "m@corp.example"}})));
  // No targeting key: only the clauses can put the user in.
  CHECK(segment->Contains(MakeContext("", {{"email", "x@corp.example"}})));
  CHECK_FALSE(segment->Contains(MakeContext("")));

  Segment listed_only;
  listed_only.key = "listed";
  listed_only.included = {"alice"};
  const std::shared_ptr<const CompiledSegment> listed =
      MustCompile(listed_only);
  CHECK(listed->Contains(MakeContext("alice")));
  // Without clauses, nobody else is in.
  CHECK_FALSE(listed->Contains(MakeContext("carol", {{"email", "c@corp"}})));
}

TEST_CASE("in_segment matches users of any named segment that exists",
          "[evaluate][segment]") {
  Segment testers;
  testers.key = "testers";
  testers.included = {"alice"};
  Segment eu;
  eu.key = "eu-users";
  eu.clauses = {{"region", Operator::kIn, {"eu"}}};
  SegmentIndex segments;
  segments["testers"] = MustCompile(testers);
  segments["eu-users"] = MustCompile(eu);

  // The attribute of an in_segment clause is ignored.
  const Clause clause{
      "", Operator::kInSegment, {"missing", "testers", "eu-users"}};
  CHECK(ClauseMatches(clause, MakeContext("alice"), segments));
  CHECK(
      ClauseMatches(clause, MakeContext("bob", {{"region", "eu"}}), segments));
  CHECK_FALSE(
      ClauseMatches(clause, MakeContext("bob", {{"region", "us"}}), segments));
  // A segment that does not exist has no members.
  CHECK_FALSE(ClauseMatches({"", Operator::kInSegment, {"missing"}},
                            MakeContext("alice"), segments));
  CHECK_FALSE(ClauseMatches(clause, MakeContext("alice"), SegmentIndex{}));
}

TEST_CASE("A disabled flag serves no user past its data-safe fallback",
          "[evaluate]") {
  Flag flag = BaseFlag();
  flag.enabled = false;
  flag.default_serve = StageServe(Stage::kComplete);
  flag.rules.push_back(MakeRule("everyone",
                                {{"key", Operator::kStartsWith, {""}}},
                                StageServe(Stage::kComplete)));
  // Old still current: the computed fallback is dualwrite.
  Decision decision = Decide(*MustCompile(flag), {}, MakeContext("user-1"));
  CHECK(decision.stage == Stage::kDualWrite);
  CHECK(decision.reason == Reason::kDisabled);
  CHECK(decision.rule_id.empty());
  CHECK(decision.bucket == -1);
  CHECK(decision.flag_key == "orders");
  CHECK(decision.flag_version == 7);
  CHECK(decision.old_target == "postgres-orders");
  CHECK(decision.new_target == "dynamodb-orders");
  CHECK(decision.plan.read_authoritative == Origin::kOld);
  CHECK(decision.plan.write_secondary == Origin::kNew);

  // Old stale (complete was served): rampdown, which reads new and writes
  // both.
  flag.currency.old_stale = StaleMark{3, absl::UnixEpoch(), "complete", {}};
  decision = Decide(*MustCompile(flag), {}, MakeContext("user-1"));
  CHECK(decision.stage == Stage::kRampDown);
  CHECK(decision.plan.read_authoritative == Origin::kNew);
  CHECK(decision.plan.write_secondary == Origin::kOld);

  // A set fallback wins over the computed one.
  flag.fallback_stage = Stage::kLive;
  decision = Decide(*MustCompile(flag), {}, MakeContext("user-1"));
  CHECK(decision.stage == Stage::kLive);
  CHECK(decision.reason == Reason::kDisabled);
}

TEST_CASE("A disabled flag moves nobody forward", "[evaluate]") {
  Flag flag = BaseFlag();
  flag.enabled = false;
  flag.default_serve = StageServe(Stage::kOff);
  flag.rules.push_back(MakeRule("beta", {{"key", Operator::kIn, {"u-beta"}}},
                                StageServe(Stage::kShadow)));
  const auto compiled = MustCompile(flag);
  // Reach shadow: the fallback is dualwrite, which caps the rule's users,
  // and users at off stay at off.
  CHECK(Decide(*compiled, {}, MakeContext("u-beta")).stage ==
        Stage::kDualWrite);
  const Decision other = Decide(*compiled, {}, MakeContext("u-other"));
  CHECK(other.stage == Stage::kOff);
  CHECK(other.reason == Reason::kDisabled);
  // A flag that never served more than off falls back to off.
  flag.rules.clear();
  CHECK(Decide(*MustCompile(flag), {}, MakeContext("u-beta")).stage ==
        Stage::kOff);
}

TEST_CASE("An archived flag is evaluated like any other", "[evaluate]") {
  Flag flag = BaseFlag();
  flag.archived = true;  // the caller's business, not Decide's
  flag.default_serve = StageServe(Stage::kShadow);
  const Decision decision = Decide(*MustCompile(flag), {}, MakeContext("u"));
  CHECK(decision.stage == Stage::kShadow);
  CHECK(decision.reason == Reason::kDefault);
}

TEST_CASE("The first matching rule decides", "[evaluate]") {
  Flag flag = BaseFlag();
  flag.default_serve = StageServe(Stage::kDualWrite);
  flag.rules.push_back(MakeRule("internal",
                                {{"email", Operator::kEndsWith, {"@corp"}},
                                 {"region", Operator::kIn, {"eu"}}},
                                StageServe(Stage::kLive)));
  flag.rules.push_back(MakeRule("eu", {{"region", Operator::kIn, {"eu"}}},
                                StageServe(Stage::kShadow)));
  const std::shared_ptr<const CompiledFlag> compiled = MustCompile(flag);

  // Both rules match: the first wins.
  Decision d = Decide(
      *compiled, {}, MakeContext("u", {{"email", "a@corp"}, {"region", "eu"}}));
  CHECK(d.reason == Reason::kRuleMatch);
  CHECK(d.rule_id == "internal");
  CHECK(d.stage == Stage::kLive);
  CHECK(d.bucket == -1);

  // One clause of the first fails (clauses are ANDed): the second decides.
  d = Decide(*compiled, {},
             MakeContext("u", {{"email", "a@home"}, {"region", "eu"}}));
  CHECK(d.reason == Reason::kRuleMatch);
  CHECK(d.rule_id == "eu");
  CHECK(d.stage == Stage::kShadow);

  // No rule matches: the default, a single stage.
  d = Decide(*compiled, {}, MakeContext("u", {{"region", "us"}}));
  CHECK(d.reason == Reason::kDefault);
  CHECK(d.rule_id.empty());
  CHECK(d.stage == Stage::kDualWrite);
  CHECK(d.bucket == -1);
}

TEST_CASE("A rule serving a rollout reports the rule and the bucket",
          "[evaluate][rollout]") {
  Flag flag = BaseFlag();
  flag.rules.push_back(
      MakeRule("eu", {{"region", Operator::kIn, {"eu"}}},
               RolloutServe({{Stage::kShadow, 50000}, {Stage::kLive, 50000}})));
  const std::shared_ptr<const CompiledFlag> compiled = MustCompile(flag);
  const Rollout layout{{{Stage::kShadow, 50000}, {Stage::kLive, 50000}}};
  int live = 0;
  for (int i = 0; i < 200; ++i) {
    const std::string user = "user-" + std::to_string(i);
    const Decision d =
        Decide(*compiled, {}, MakeContext(user, {{"region", "eu"}}));
    INFO(user);
    CHECK(d.reason == Reason::kRuleMatch);
    CHECK(d.rule_id == "eu");
    REQUIRE(d.bucket >= 0);
    CHECK(static_cast<uint32_t>(d.bucket) == BucketFor("orders", user));
    CHECK(d.stage == StageForBucket(layout, static_cast<uint32_t>(d.bucket)));
    if (d.stage == Stage::kLive) ++live;
  }
  CHECK(live > 0);    // both stages are served...
  CHECK(live < 200);  // ...to someone
}

// Evaluate is the same evaluation as Decide without the names: for every
// way to a decision (a rule, a rule's rollout, the default rollout, the
// kill switch), its Verdict is the Decision's stage, reason and bucket,
// and its rule index names the Decision's rule.
TEST_CASE("Evaluate finds what Decide finds, without the names",
          "[evaluate]") {
  Flag flag = BaseFlag();
  flag.rules.push_back(MakeRule("beta", {{"key", Operator::kIn, {"u-beta"}}},
                                StageServe(Stage::kShadow)));
  flag.rules.push_back(
      MakeRule("eu", {{"region", Operator::kIn, {"eu"}}},
               RolloutServe({{Stage::kShadow, 50000}, {Stage::kLive, 50000}})));
  flag.default_serve =
      RolloutServe({{Stage::kOff, 50000}, {Stage::kDualWrite, 50000}});
  std::set<int> reasons;
  for (const bool enabled : {true, false}) {
    flag.enabled = enabled;
    const std::shared_ptr<const CompiledFlag> compiled = MustCompile(flag);
    for (int i = 0; i < 300; ++i) {
      const Context user =
          i == 0 ? MakeContext("u-beta")
                 : MakeContext("user-" + std::to_string(i),
                               {{"region", i % 2 == 0 ? "eu" : "us"}});
      const Decision decision = Decide(*compiled, {}, user);
      const Verdict verdict = Evaluate(*compiled, {}, user);
      INFO("enabled " << enabled << " user " << user.targeting_key);
      CHECK(verdict.stage == decision.stage);
      CHECK(verdict.reason == decision.reason);
      CHECK(verdict.bucket == decision.bucket);
      if (decision.rule_id.empty()) {
        CHECK(verdict.rule_index == -1);
      } else {
        REQUIRE(verdict.rule_index >= 0);
        CHECK(flag.rules[static_cast<size_t>(verdict.rule_index)].id ==
              decision.rule_id);
      }
      // The Decision is the Verdict with the names.
      Decision rebuilt;
      rebuilt.error = "left over";
      rebuilt.rule_id = "left over";
      DecisionFromVerdict(*compiled, verdict, rebuilt);
      CHECK(rebuilt.flag_key == decision.flag_key);
      CHECK(rebuilt.stage == decision.stage);
      CHECK(rebuilt.plan.read_authoritative ==
            decision.plan.read_authoritative);
      CHECK(rebuilt.old_target == decision.old_target);
      CHECK(rebuilt.new_target == decision.new_target);
      CHECK(rebuilt.reason == decision.reason);
      CHECK(rebuilt.rule_id == decision.rule_id);
      CHECK(rebuilt.bucket == decision.bucket);
      CHECK(rebuilt.flag_version == decision.flag_version);
      CHECK(rebuilt.error.empty());
      CHECK(rebuilt.compare_sample_rate == decision.compare_sample_rate);
      reasons.insert(static_cast<int>(verdict.reason));
    }
  }
  CHECK(reasons == std::set<int>{static_cast<int>(Reason::kRuleMatch),
                                 static_cast<int>(Reason::kSplit),
                                 static_cast<int>(Reason::kDisabled)});
}

TEST_CASE("A default rollout is a SPLIT with the user's bucket",
          "[evaluate][rollout]") {
  Flag flag = BaseFlag();
  flag.key = "orders-migration";
  flag.default_serve =
      RolloutServe({{Stage::kShadow, 95000}, {Stage::kLive, 5000}});
  const std::shared_ptr<const CompiledFlag> compiled = MustCompile(flag);
  // Golden buckets from docs/bucketing.md.
  Decision d = Decide(*compiled, {}, MakeContext("user-42"));
  CHECK(d.reason == Reason::kSplit);
  CHECK(d.bucket == 86549);
  CHECK(d.stage == Stage::kShadow);
  CHECK(d.rule_id.empty());
  // Bucket 6007 is just past the 5% live share (buckets 0-4999): shadow.
  d = Decide(*compiled, {}, MakeContext("\xE7\x94\xA8\xE6\x88\xB7-42"));
  CHECK(d.bucket == 6007);
  CHECK(d.stage == Stage::kShadow);

  flag.key = "orders";
  const std::shared_ptr<const CompiledFlag> orders = MustCompile(flag);
  d = Decide(*orders, {}, MakeContext("alice"));  // bucket 6297
  CHECK(d.bucket == 6297);
  CHECK(d.stage == Stage::kShadow);
  flag.default_serve =
      RolloutServe({{Stage::kShadow, 90000}, {Stage::kLive, 10000}});
  d = Decide(*MustCompile(flag), {}, MakeContext("alice"));
  CHECK(d.bucket == 6297);
  CHECK(d.stage == Stage::kLive);
}

TEST_CASE("Users without a bucket value get the least advanced stage",
          "[evaluate][rollout]") {
  Flag flag = BaseFlag();
  flag.bucket_by = "tenant_id";
  flag.default_serve =
      RolloutServe({{Stage::kLive, 50000}, {Stage::kShadow, 50000}});
  const std::shared_ptr<const CompiledFlag> compiled = MustCompile(flag);

  Decision d = Decide(*compiled, {}, MakeContext("user-1"));
  CHECK(d.stage == Stage::kShadow);
  CHECK(d.reason == Reason::kSplit);
  CHECK(d.bucket == -1);
  d = Decide(*compiled, {}, MakeContext("user-1", {{"tenant_id", ""}}));
  CHECK(d.stage == Stage::kShadow);
  CHECK(d.bucket == -1);

  // Bucketed by tenant: every user of a tenant shares its bucket.
  const Decision a =
      Decide(*compiled, {}, MakeContext("user-1", {{"tenant_id", "acme"}}));
  const Decision b =
      Decide(*compiled, {}, MakeContext("user-2", {{"tenant_id", "acme"}}));
  CHECK(a.bucket == static_cast<int32_t>(BucketFor("orders", "acme")));
  CHECK(a.bucket == b.bucket);
  CHECK(a.stage == b.stage);

  // By key (empty bucket_by or "key"): a missing targeting key is the case.
  for (const char* bucket_by : {"", "key"}) {
    INFO("bucket_by \"" << bucket_by << "\"");
    flag.bucket_by = bucket_by;
    const std::shared_ptr<const CompiledFlag> by_key = MustCompile(flag);
    d = Decide(*by_key, {}, MakeContext("", {{"tenant_id", "acme"}}));
    CHECK(d.stage == Stage::kShadow);
    CHECK(d.bucket == -1);
    d = Decide(*by_key, {}, MakeContext("user-1"));
    CHECK(d.bucket == static_cast<int32_t>(BucketFor("orders", "user-1")));
  }

  // A weight-0 share serves nobody, unbucketed users included.
  flag.bucket_by = "";
  flag.default_serve = RolloutServe({{Stage::kOff, 0}, {Stage::kLive, 100000}});
  d = Decide(*MustCompile(flag), {}, MakeContext(""));
  CHECK(d.stage == Stage::kLive);
  CHECK(d.reason == Reason::kSplit);
  CHECK(d.bucket == -1);
}

TEST_CASE("Each stage's decision carries its plan", "[evaluate]") {
  struct Row {
    Stage stage;
    Origin read_authoritative, read_shadow, write_authoritative,
        write_secondary;
  };
  const std::vector<Row> rows = {
      {Stage::kOff, Origin::kOld, Origin::kNone, Origin::kOld, Origin::kNone},
      {Stage::kDualWrite, Origin::kOld, Origin::kNone, Origin::kOld,
       Origin::kNew},
      {Stage::kShadow, Origin::kOld, Origin::kNew, Origin::kOld, Origin::kNew},
      {Stage::kLive, Origin::kNew, Origin::kOld, Origin::kNew, Origin::kOld},
      {Stage::kRampDown, Origin::kNew, Origin::kNone, Origin::kNew,
       Origin::kOld},
      {Stage::kComplete, Origin::kNew, Origin::kNone, Origin::kNew,
       Origin::kNone},
  };
  for (const Row& row : rows) {
    INFO(StageName(row.stage));
    Flag flag = BaseFlag();
    flag.default_serve = StageServe(row.stage);
    const Decision d = Decide(*MustCompile(flag), {}, MakeContext("u"));
    CHECK(d.stage == row.stage);
    CHECK(d.reason == Reason::kDefault);
    CHECK(d.plan.read_authoritative == row.read_authoritative);
    CHECK(d.plan.read_shadow == row.read_shadow);
    CHECK(d.plan.write_authoritative == row.write_authoritative);
    CHECK(d.plan.write_secondary == row.write_secondary);
  }
}

TEST_CASE("Decisions copy the flag's identity and sample rate", "[evaluate]") {
  Flag flag = BaseFlag();
  Decision d = Decide(*MustCompile(flag), {}, MakeContext("u"));
  CHECK(d.flag_key == "orders");
  CHECK(d.flag_version == 7);
  CHECK(d.old_target == "postgres-orders");
  CHECK(d.new_target == "dynamodb-orders");
  CHECK(d.compare_sample_rate == 1.0);  // unset means compare every read
  CHECK(d.error.empty());

  flag.compare_sample_rate = 0.25;
  d = Decide(*MustCompile(flag), {}, MakeContext("u"));
  CHECK(d.compare_sample_rate == 0.25);
  flag.compare_sample_rate = 0.0;
  d = Decide(*MustCompile(flag), {}, MakeContext("u"));
  CHECK(d.compare_sample_rate == 0.0);
}

TEST_CASE("Compiling keeps the flag as given", "[evaluate]") {
  Flag flag = BaseFlag();
  flag.default_serve =
      RolloutServe({{Stage::kShadow, 95000}, {Stage::kLive, 5000}});
  const std::shared_ptr<const CompiledFlag> compiled = MustCompile(flag);
  // The bucket layout is internal; what callers read back is unchanged.
  REQUIRE(compiled->flag().default_serve.rollout.has_value());
  CHECK(compiled->flag().default_serve.rollout->splits[0].stage ==
        Stage::kShadow);
  CHECK(compiled->flag().key == "orders");
}

TEST_CASE("SafeDecision is off, old database only", "[evaluate]") {
  const Decision d = SafeDecision("missing", Reason::kFlagNotFound);
  CHECK(d.flag_key == "missing");
  CHECK(d.stage == Stage::kOff);
  CHECK(d.reason == Reason::kFlagNotFound);
  CHECK(d.bucket == -1);
  CHECK(d.flag_version == 0);
  CHECK(d.compare_sample_rate == 1.0);
  CHECK(d.plan.read_authoritative == Origin::kOld);
  CHECK(d.plan.read_shadow == Origin::kNone);
  CHECK(d.plan.write_authoritative == Origin::kOld);
  CHECK(d.plan.write_secondary == Origin::kNone);
  const Decision e = SafeDecision("orders", Reason::kError, "store down");
  CHECK(e.reason == Reason::kError);
  CHECK(e.error == "store down");
}

TEST_CASE("ReasonName spells the wire names", "[evaluate]") {
  const std::vector<std::pair<Reason, std::string>> names = {
      {Reason::kUnspecified, "UNSPECIFIED"},
      {Reason::kDisabled, "DISABLED"},
      {Reason::kRuleMatch, "RULE_MATCH"},
      {Reason::kSplit, "SPLIT"},
      {Reason::kDefault, "DEFAULT"},
      {Reason::kFlagNotFound, "FLAG_NOT_FOUND"},
      {Reason::kError, "ERROR"},
      {Reason::kCached, "CACHED"},
      {Reason::kStale, "STALE"},
  };
  for (const auto& [reason, name] : names) {
    CHECK(ReasonName(reason) == name);
  }
}

TEST_CASE("OperatorName and ParseOperator round-trip", "[evaluate]") {
  const std::vector<std::pair<Operator, std::string>> names = {
      {Operator::kIn, "in"},
      {Operator::kNotIn, "not_in"},
      {Operator::kStartsWith, "starts_with"},
      {Operator::kEndsWith, "ends_with"},
      {Operator::kMatches, "matches"},
      {Operator::kSemverEq, "semver_eq"},
      {Operator::kSemverLt, "semver_lt"},
      {Operator::kSemverLe, "semver_le"},
      {Operator::kSemverGt, "semver_gt"},
      {Operator::kSemverGe, "semver_ge"},
      {Operator::kNumberEq, "number_eq"},
      {Operator::kNumberLt, "number_lt"},
      {Operator::kNumberLe, "number_le"},
      {Operator::kNumberGt, "number_gt"},
      {Operator::kNumberGe, "number_ge"},
      {Operator::kInSegment, "in_segment"},
  };
  for (const auto& [op, name] : names) {
    INFO(name);
    CHECK(OperatorName(op) == name);
    CHECK(ParseOperator(name) == op);
  }
  CHECK(ParseOperator("NOT_IN") == Operator::kNotIn);
  CHECK(std::string(OperatorName(Operator::kUnspecified)) == "unspecified");
  CHECK_FALSE(ParseOperator("unspecified").has_value());
  CHECK_FALSE(ParseOperator("contains").has_value());
  CHECK_FALSE(ParseOperator("").has_value());
}

}  // namespace
}  // namespace cutover
