// Tests of the Decide answer's wire form: for many flags, users and
// revisions, the bytes WriteDecideResponse writes parse as exactly the
// DecideResponse the generated message makes of the same decision.
#include "server/decide_wire.h"

#include <catch2/catch.hpp>

#include <algorithm>
#include <memory>
#include <string>
#include <vector>

#include "convert/convert.h"
#include "core/evaluate.h"
#include "cutover/v1/cutover.pb.h"
#include "google/protobuf/util/message_differencer.h"

namespace cutover {
namespace {

std::shared_ptr<const CompiledFlag> Compile(Flag flag) {
  auto compiled = CompileFlag(std::move(flag));
  INFO(compiled.status().ToString());
  REQUIRE(compiled.ok());
  return *compiled;
}

Serve Single(Stage stage) {
  Serve serve;
  serve.stage = stage;
  return serve;
}

Serve Split3(Stage a, Stage b, Stage c) {
  Serve serve;
  serve.rollout = Rollout{{{a, 20000}, {b, 30000}, {c, 50000}}};
  return serve;
}

// Flags that between them give every reason the daemon sends, every
// stage, rule ids and buckets, and names long enough that the decision's
// length takes two bytes.
std::vector<Flag> Flags() {
  std::vector<Flag> flags;
  Flag rules;
  rules.key = "orders";
  rules.old_target = "postgres-orders";
  rules.new_target = "dynamo-orders";
  rules.enabled = true;
  rules.bucket_by = "key";
  rules.rules.push_back(
      Rule{"beta-testers", "", {{"group", Operator::kIn, {"beta"}}},
           Single(Stage::kLive)});
  rules.rules.push_back(
      Rule{"eu", "", {{"region", Operator::kIn, {"eu"}}},
           Split3(Stage::kDualWrite, Stage::kShadow, Stage::kRampDown)});
  rules.default_serve =
      Split3(Stage::kOff, Stage::kDualWrite, Stage::kShadow);
  rules.compare_sample_rate = 0.25;
  rules.version = 7;
  flags.push_back(rules);

  Flag disabled = rules;
  disabled.key = "disabled";
  disabled.enabled = false;
  disabled.version = 300;
  flags.push_back(disabled);

  Flag named = rules;
  named.key = std::string(120, 'k');
  named.old_target = std::string(100, 'o');
  named.new_target = "n";
  named.rules.clear();
  named.default_serve = Single(Stage::kComplete);
  named.version = 1LL << 40;
  flags.push_back(named);
  return flags;
}

std::vector<Context> Users() {
  std::vector<Context> users;
  users.push_back(Context{});  // no targeting key
  for (int i = 0; i < 200; ++i) {
    Context user;
    user.targeting_key = "user-" + std::to_string(i);
    if (i % 3 == 0) user.attributes["group"] = "beta";
    if (i % 5 == 0) user.attributes["region"] = "eu";
    users.push_back(user);
  }
  return users;
}

std::string Bytes(const DecideAnswer& answer) {
  std::string bytes(DecideResponseSize(answer), '\0');
  WriteDecideResponse(answer, reinterpret_cast<uint8_t*>(bytes.data()));
  return bytes;
}

// The bytes parse, and as `expected`.
void CheckSame(const std::string& bytes, const v1::DecideResponse& expected) {
  v1::DecideResponse parsed;
  REQUIRE(parsed.ParseFromString(bytes));
  std::string difference;
  google::protobuf::util::MessageDifferencer differ;
  differ.ReportDifferencesToString(&difference);
  INFO(difference);
  CHECK(differ.Compare(expected, parsed));
}

TEST_CASE("a written answer parses as the generated message of the same "
          "decision") {
  const SegmentIndex no_segments;
  int answers = 0;
  std::vector<Reason> reasons;
  for (const Flag& flag : Flags()) {
    const auto compiled = Compile(flag);
    const std::string constant = ConstantDecisionBytes(*compiled);
    for (const Context& user : Users()) {
      for (const int64_t revision : {0LL, 1LL, 1LL << 50}) {
        const Verdict verdict = Evaluate(*compiled, no_segments, user);
        v1::DecideResponse expected;
        ToProto(Decide(*compiled, no_segments, user),
                expected.mutable_decision());
        expected.set_revision(revision);
        CheckSame(Bytes(AnswerFor(*compiled, constant, verdict, revision)),
                  expected);
        reasons.push_back(verdict.reason);
        ++answers;
      }
    }
  }
  CHECK(answers == 3 * 201 * 3);
  // The flags reached what they were built for.
  for (const Reason reason : {Reason::kDisabled, Reason::kRuleMatch,
                              Reason::kSplit, Reason::kDefault}) {
    CHECK(std::count(reasons.begin(), reasons.end(), reason) > 0);
  }
}

TEST_CASE("a written not-found answer parses as the safe decision's") {
  const std::vector<std::string> keys = {"missing", std::string(256, 'x')};
  for (const std::string& key : keys) {
    const std::string constant =
        ConstantDecisionBytes(SafeDecision(key, Reason::kFlagNotFound));
    DecideAnswer answer;
    answer.constant_bytes = constant;
    answer.stage = Stage::kOff;
    answer.reason = Reason::kFlagNotFound;
    answer.revision = 42;
    v1::DecideResponse expected;
    ToProto(SafeDecision(key, Reason::kFlagNotFound),
            expected.mutable_decision());
    expected.set_revision(42);
    CheckSame(Bytes(answer), expected);
  }
}

TEST_CASE("every stage's plan is written as the stage table says") {
  const std::string constant =
      ConstantDecisionBytes(SafeDecision("orders", Reason::kDefault));
  for (int i = static_cast<int>(kFirstStage);
       i <= static_cast<int>(kLastStage); ++i) {
    const Stage stage = static_cast<Stage>(i);
    DecideAnswer answer;
    answer.constant_bytes = constant;
    answer.stage = stage;
    answer.reason = Reason::kDefault;
    answer.bucket = 0;  // proto3 leaves a zero out; so must the writer
    Decision decision = SafeDecision("orders", Reason::kDefault);
    decision.stage = stage;
    decision.plan = PlanFor(stage);
    decision.bucket = 0;
    v1::DecideResponse expected;
    ToProto(decision, expected.mutable_decision());
    INFO("stage " << i);
    CheckSame(Bytes(answer), expected);
    CHECK(Bytes(answer).size() == expected.ByteSizeLong());
  }
}

}  // namespace
}  // namespace cutover
