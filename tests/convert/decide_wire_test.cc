// Tests of the Decide and DecideBatch answers' wire form: for many flags,
// users and revisions, the bytes WriteDecideResponses writes parse as
// exactly the DecideResponse (or DecideBatchResponse) the generated
// messages make of the same decisions.
#include "convert/decide_wire.h"

#include <catch2/catch.hpp>

#include <algorithm>
#include <memory>
#include <string>
#include <vector>

#include "convert/convert.h"
#include "core/evaluate.h"
#include "cutover/v1/cutover.pb.h"
#include "absl/types/span.h"
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

std::string Bytes(absl::Span<const DecideAnswer> answers, int64_t revision) {
  std::string bytes(DecideResponsesSize(answers, revision), '\0');
  WriteDecideResponses(answers, revision,
                       reinterpret_cast<uint8_t*>(bytes.data()));
  return bytes;
}
std::string Bytes(const DecideAnswer& answer, int64_t revision) {
  return Bytes({&answer, 1}, revision);
}

// The bytes parse as a Response, and as `expected`.
template <class Response>
void CheckSame(const std::string& bytes, const Response& expected) {
  Response parsed;
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
        CheckSame(Bytes(AnswerFor(*compiled, constant, verdict), revision),
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
    v1::DecideResponse expected;
    ToProto(SafeDecision(key, Reason::kFlagNotFound),
            expected.mutable_decision());
    expected.set_revision(42);
    CheckSame(Bytes(NotFoundAnswer(constant), 42), expected);
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
    CheckSame(Bytes(answer, 0), expected);
    CHECK(Bytes(answer, 0).size() == expected.ByteSizeLong());
  }
}

TEST_CASE("written answers parse as the generated batch of the same "
          "decisions, in order") {
  const SegmentIndex no_segments;
  std::vector<std::shared_ptr<const CompiledFlag>> flags;
  std::vector<std::string> constants;
  for (const Flag& flag : Flags()) {
    flags.push_back(Compile(flag));
    constants.push_back(ConstantDecisionBytes(*flags.back()));
  }
  const std::string missing =
      ConstantDecisionBytes(SafeDecision("missing", Reason::kFlagNotFound));
  // Items of every flag and of a missing one, interleaved.
  std::vector<DecideAnswer> answers;
  v1::DecideBatchResponse expected;
  const std::vector<Context> users = Users();
  for (size_t i = 0; i < users.size(); ++i) {
    const size_t which = i % (flags.size() + 1);
    if (which == flags.size()) {
      answers.push_back(NotFoundAnswer(missing));
      ToProto(SafeDecision("missing", Reason::kFlagNotFound),
              expected.add_decisions());
      continue;
    }
    const CompiledFlag& flag = *flags[which];
    answers.push_back(AnswerFor(flag, constants[which],
                                Evaluate(flag, no_segments, users[i])));
    ToProto(Decide(flag, no_segments, users[i]), expected.add_decisions());
  }
  expected.set_revision(9);
  CheckSame(Bytes(answers, 9), expected);
  CHECK(expected.decisions_size() == 201);
}

}  // namespace
}  // namespace cutover
