// Decide's merged in / not_in index (core/internal/membership_index.h)
// against a plain reading of the rules: random flags whose rules mix in,
// not_in and starts_with clauses on a few attributes (the targeting key
// among them), more than 64 indexable clauses in some, and random users
// with attributes present, absent or empty. The first rule whose clauses
// all hold, clause by clause as docs/architecture.md defines them, must be
// the rule Decide reports. The flags' default serve is a rollout bucketed
// by one of those attributes, or by one no rule reads: a user no rule
// matches gets the bucket of their own value (Decide reads an indexed
// bucket attribute from the index's lookup).
#include <catch2/catch.hpp>

#include <map>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "core/bucketing.h"
#include "core/evaluate.h"
#include "tests/printers.h"

namespace cutover {
namespace {

const std::vector<std::string> kAttributes = {"key", "tenant", "region",
                                              "plan"};
const std::vector<std::string> kValues = {"a", "b", "c", "d", "e", "f", "acme",
                                          "u-1", "u-2", ""};

// The attribute's value for a clause, or nullptr: "key" is the targeting
// key, and an empty targeting key identifies nobody.
const std::string* ValueOf(const Context& context,
                           const std::string& attribute) {
  if (attribute == "key") {
    return context.targeting_key.empty() ? nullptr : &context.targeting_key;
  }
  const auto it = context.attributes.find(attribute);
  return it == context.attributes.end() ? nullptr : &it->second;
}

bool Lists(const Clause& clause, const std::string& value) {
  for (const std::string& listed : clause.values) {
    if (listed == value) return true;
  }
  return false;
}

// One clause read literally: a user without the attribute matches nothing.
bool Holds(const Clause& clause, const Context& context) {
  const std::string* value = ValueOf(context, clause.attribute);
  if (value == nullptr) return false;
  switch (clause.op) {
    case Operator::kIn:
      return Lists(clause, *value);
    case Operator::kNotIn:
      return !Lists(clause, *value);
    case Operator::kStartsWith:
      for (const std::string& prefix : clause.values) {
        if (absl::StartsWith(*value, prefix)) return true;
      }
      return false;
    default:
      FAIL("unexpected operator");
      return false;
  }
}

// The id of the first rule whose clauses all hold, or "".
std::string FirstMatchingRule(const Flag& flag, const Context& context) {
  for (const Rule& rule : flag.rules) {
    bool all = true;
    for (const Clause& clause : rule.clauses) all = all && Holds(clause, context);
    if (all) return rule.id;
  }
  return "";
}

// The bucket a user gets for `flag`: -1 without a value to bucket by.
int32_t ExpectedBucket(const Flag& flag, const Context& context) {
  const std::string attribute = flag.bucket_by.empty() ? "key" : flag.bucket_by;
  const std::string* value = ValueOf(context, attribute);
  if (value == nullptr || value->empty()) return -1;
  return static_cast<int32_t>(BucketFor(flag.key, *value));
}

// An enabled flag serving off, without rules.
Flag EmptyFlag() {
  Flag flag;
  flag.key = "membership";
  flag.old_target = "old-db";
  flag.new_target = "new-db";
  flag.enabled = true;
  flag.default_serve.stage = Stage::kOff;
  return flag;
}

Flag RandomFlag(std::mt19937& random, int rules, int min_clauses,
                int max_clauses) {
  Flag flag = EmptyFlag();
  auto pick = [&random](size_t n) {
    return std::uniform_int_distribution<size_t>(0, n - 1)(random);
  };
  const std::vector<std::string> bucket_by = {"", "key", "tenant", "region",
                                              "plan", "group"};
  flag.bucket_by = bucket_by[pick(bucket_by.size())];
  flag.default_serve.stage.reset();
  flag.default_serve.rollout =
      Rollout{{{Stage::kLive, 50000}, {Stage::kShadow, 50000}}};
  for (int r = 0; r < rules; ++r) {
    Rule rule;
    rule.id = "r" + std::to_string(r);
    rule.serve.stage = Stage::kDualWrite;
    const size_t clauses = min_clauses + pick(max_clauses - min_clauses + 1);
    for (size_t c = 0; c < clauses; ++c) {
      Clause clause;
      clause.attribute = kAttributes[pick(kAttributes.size())];
      const size_t op = pick(5);
      clause.op = op < 2   ? Operator::kIn
                  : op < 4 ? Operator::kNotIn
                           : Operator::kStartsWith;
      const size_t values = 1 + pick(3);
      for (size_t v = 0; v < values; ++v) {
        std::string value = kValues[pick(kValues.size() - 1)];  // not ""
        if (clause.op != Operator::kStartsWith || !Lists(clause, value)) {
          clause.values.push_back(value);
        }
      }
      if (clause.op != Operator::kStartsWith) {
        // Duplicates are allowed in a clause; keep one in a few.
        if (pick(8) == 0) clause.values.push_back(clause.values.front());
      }
      rule.clauses.push_back(clause);
    }
    flag.rules.push_back(rule);
  }
  return flag;
}

Context RandomUser(std::mt19937& random) {
  auto pick = [&random](size_t n) {
    return std::uniform_int_distribution<size_t>(0, n - 1)(random);
  };
  Context context;
  context.targeting_key = kValues[pick(kValues.size())];  // may be ""
  for (const std::string& attribute : kAttributes) {
    if (attribute == "key" || pick(4) == 0) continue;  // absent
    context.attributes[attribute] = kValues[pick(kValues.size())];
  }
  return context;
}

void CheckAgainstPlainReading(uint32_t seed, int flags, int rules,
                              int min_clauses, int max_clauses) {
  std::mt19937 random(seed);
  int matched = 0;
  int matched_late = 0;  // by one of the second half of the rules
  int checked = 0;
  int bucketed = 0;  // users no rule matched who had a value to bucket by
  for (int f = 0; f < flags; ++f) {
    const Flag flag = RandomFlag(random, rules, min_clauses, max_clauses);
    absl::StatusOr<std::shared_ptr<const CompiledFlag>> compiled =
        CompileFlag(flag);
    REQUIRE(compiled.ok());
    for (int u = 0; u < 200; ++u) {
      const Context user = RandomUser(random);
      const std::string expected = FirstMatchingRule(flag, user);
      const Decision decision = Decide(**compiled, {}, user);
      INFO("seed " << seed << " flag " << f << " user " << u);
      REQUIRE(decision.rule_id == expected);
      const Verdict verdict = Evaluate(**compiled, {}, user);
      REQUIRE(verdict.stage == decision.stage);
      REQUIRE(verdict.bucket == decision.bucket);
      REQUIRE(verdict.rule_index ==
              (expected.empty() ? -1 : std::stoi(expected.substr(1))));
      REQUIRE(decision.reason ==
              (expected.empty() ? Reason::kSplit : Reason::kRuleMatch));
      if (expected.empty()) {
        REQUIRE(decision.bucket == ExpectedBucket(flag, user));
        bucketed += decision.bucket >= 0 ? 1 : 0;
      }
      matched += expected.empty() ? 0 : 1;
      if (!expected.empty() && std::stoi(expected.substr(1)) >= rules / 2) {
        ++matched_late;
      }
      ++checked;
    }
  }
  // The random flags must exercise both outcomes, or the test says little.
  CHECK(matched > checked / 20);
  CHECK(matched < checked - checked / 20);
  CHECK(matched_late > checked / 100);
  CHECK(bucketed > checked / 20);
}

TEST_CASE("merged in/not_in clauses decide as the rules read one by one") {
  CheckAgainstPlainReading(/*seed=*/1, /*flags=*/300, /*rules=*/10,
                           /*min_clauses=*/1, /*max_clauses=*/3);
}

TEST_CASE("flags with more than 64 in/not_in clauses: the rest match as "
          "before") {
  // 30 rules of 2 to 4 clauses: about 70 indexable clauses per flag, so
  // the index takes the first 64 and the others stay clause by clause (the
  // late rules' matches are counted to show they decide too).
  CheckAgainstPlainReading(/*seed=*/2, /*flags=*/60, /*rules=*/30,
                           /*min_clauses=*/2, /*max_clauses=*/4);
}

TEST_CASE("a not_in clause does not match a user without the attribute") {
  Flag flag = EmptyFlag();
  Rule rule;
  rule.id = "outsiders";
  rule.clauses.push_back(Clause{"tenant", Operator::kNotIn, {"acme"}});
  rule.serve.stage = Stage::kLive;
  flag.rules.push_back(rule);
  const auto compiled = CompileFlag(flag);
  REQUIRE(compiled.ok());
  CHECK(Decide(**compiled, {}, Context{"u-1", {}}).reason == Reason::kDefault);
  CHECK(Decide(**compiled, {}, Context{"u-1", {{"tenant", "acme"}}}).reason ==
        Reason::kDefault);
  CHECK(Decide(**compiled, {}, Context{"u-1", {{"tenant", "other"}}}).rule_id ==
        "outsiders");
}

}  // namespace
}  // namespace cutover
