#include "convert/convert.h"

#include <catch2/catch.hpp>
#include <map>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "convert/flag_diff.h"
#include "google/protobuf/util/message_differencer.h"
#include "rpc/grpc_status.h"

namespace cutover {
namespace {

TEST_CASE("enums map one to one, unknown wire values become unspecified",
          "[convert]") {
  for (int n = 0; n <= 6; ++n) {
    CHECK(static_cast<int>(FromProto(static_cast<v1::Stage>(n))) == n);
    CHECK(ToProto(static_cast<Stage>(n)) == static_cast<v1::Stage>(n));
  }
  CHECK(FromProto(static_cast<v1::Stage>(42)) == Stage::kUnspecified);
  CHECK(FromProto(static_cast<v1::Operator>(-1)) == Operator::kUnspecified);
  CHECK(FromProto(v1::IN_SEGMENT) == Operator::kInSegment);
  CHECK(ToProto(Reason::kSplit) == v1::SPLIT);
  CHECK(FromProto(v1::NEW) == Origin::kNew);
}

TEST_CASE("a flag converts with every configuration field", "[convert]") {
  v1::Flag proto;
  proto.set_key("orders");
  proto.set_description("d");
  proto.set_owner("o");
  proto.add_tags("t");
  proto.set_old_target("pg");
  proto.set_new_target("ddb");
  proto.set_enabled(true);
  proto.set_bucket_by("tenant_id");
  proto.set_compare_sample_rate(0.5);
  proto.set_version(4);
  auto* rule = proto.add_rules();
  rule->set_id("r1");
  rule->set_description("rd");
  auto* clause = rule->add_clauses();
  clause->set_attribute("tenant");
  clause->set_op(v1::NOT_IN);
  clause->add_values("acme");
  rule->mutable_serve()->set_stage(v1::SHADOW);
  auto* split = proto.mutable_default_serve()->mutable_rollout()->add_splits();
  split->set_stage(v1::LIVE);
  split->set_weight(100000);

  const Flag flag = FromProto(proto);
  CHECK(flag.key == "orders");
  CHECK(flag.tags == std::vector<std::string>{"t"});
  CHECK(flag.enabled);
  CHECK(flag.bucket_by == "tenant_id");
  CHECK(flag.compare_sample_rate == 0.5);
  CHECK(flag.version == 4);
  REQUIRE(flag.rules.size() == 1);
  CHECK(flag.rules[0].clauses[0].op == Operator::kNotIn);
  CHECK(flag.rules[0].serve.stage == Stage::kShadow);
  REQUIRE(flag.default_serve.rollout.has_value());
  CHECK(flag.default_serve.rollout->splits[0].stage == Stage::kLive);
  CHECK(!flag.default_serve.stage.has_value());

  v1::Flag unset;
  CHECK(!FromProto(unset).compare_sample_rate.has_value());
}

TEST_CASE("a flag and a segment convert back to the same message",
          "[convert]") {
  v1::Flag flag;
  flag.set_key("orders");
  flag.set_description("d");
  flag.set_owner("o");
  flag.add_tags("t1");
  flag.add_tags("t2");
  flag.set_old_target("pg");
  flag.set_new_target("ddb");
  flag.set_enabled(true);
  flag.set_bucket_by("tenant_id");
  flag.set_compare_sample_rate(0);
  flag.set_version(4);
  flag.set_archived(true);
  auto* rule = flag.add_rules();
  rule->set_id("r1");
  rule->set_description("rd");
  auto* clause = rule->add_clauses();
  clause->set_attribute("tenant");
  clause->set_op(v1::NOT_IN);
  clause->add_values("acme");
  clause->add_values("globex");
  auto* segment_clause = rule->add_clauses();
  segment_clause->set_op(v1::IN_SEGMENT);
  segment_clause->add_values("internal");
  auto* rule_split = rule->mutable_serve()->mutable_rollout()->add_splits();
  rule_split->set_stage(v1::SHADOW);
  rule_split->set_weight(0);
  flag.add_rules()->mutable_serve()->set_stage(v1::DUALWRITE);
  flag.mutable_default_serve()->set_stage(v1::OFF);
  flag.mutable_gates()->set_max_mismatch_rate(0);
  flag.mutable_gates()->set_min_samples(100);

  v1::Flag back;
  ToProto(FromProto(flag), &back);
  CHECK(google::protobuf::util::MessageDifferencer::Equals(back, flag));

  // No gate declared: no gates message.
  v1::Flag plain;
  plain.set_key("plain");
  plain.mutable_default_serve()->set_stage(v1::OFF);
  v1::Flag plain_back;
  ToProto(FromProto(plain), &plain_back);
  CHECK_FALSE(plain_back.has_gates());
  CHECK_FALSE(plain_back.has_compare_sample_rate());
  CHECK(google::protobuf::util::MessageDifferencer::Equals(plain_back, plain));

  v1::Segment segment;
  segment.set_key("internal");
  segment.set_description("staff");
  segment.add_included("u-1");
  segment.add_excluded("u-2");
  auto* segment_rule = segment.add_clauses();
  segment_rule->set_attribute("app_version");
  segment_rule->set_op(v1::SEMVER_GE);
  segment_rule->add_values("2.0.0");
  segment.set_version(3);
  v1::Segment segment_back;
  ToProto(FromProto(segment), &segment_back);
  CHECK(google::protobuf::util::MessageDifferencer::Equals(segment_back,
                                                           segment));
}

TEST_CASE("decisions round-trip", "[convert]") {
  Decision d;
  d.flag_key = "orders";
  d.stage = Stage::kLive;
  d.plan = PlanFor(Stage::kLive);
  d.reason = Reason::kRuleMatch;
  d.rule_id = "r1";
  d.bucket = 17;
  d.flag_version = 9;
  d.compare_sample_rate = 0.25;
  v1::Decision proto;
  ToProto(d, &proto);
  CHECK(proto.reads().authoritative() == v1::NEW);
  CHECK(proto.reads().shadow() == v1::OLD);
  CHECK(proto.writes().secondary() == v1::OLD);
  const Decision back = FromProto(proto);
  CHECK(back.stage == Stage::kLive);
  CHECK(back.plan.write_authoritative == Origin::kNew);
  CHECK(back.rule_id == "r1");
  CHECK(back.bucket == 17);
  CHECK(back.flag_version == 9);
}

TEST_CASE("a decision without a rule or error sets neither string",
          "[convert]") {
  Decision d;
  d.flag_key = "orders";
  d.stage = Stage::kShadow;
  d.plan = PlanFor(Stage::kShadow);
  d.reason = Reason::kSplit;
  d.old_target = "postgres-orders";
  d.new_target = "dynamodb-orders";
  v1::Decision proto;
  ToProto(d, &proto);
  CHECK(proto.old_target() == "postgres-orders");
  CHECK(proto.new_target() == "dynamodb-orders");
  CHECK(proto.rule_id().empty());
  CHECK(proto.error().empty());
  // The wire form is the same as with the empty strings set.
  v1::Decision with_empty = proto;
  with_empty.set_rule_id("");
  with_empty.set_error("");
  CHECK(proto.SerializeAsString() == with_empty.SerializeAsString());
}

TEST_CASE("a context converted into a reused one holds exactly the new "
          "attributes",
          "[convert]") {
  struct Step {
    const char* name;
    std::map<std::string, std::string> attributes;
  };
  // One Context reused across the steps, as DecideBatch reuses it.
  const std::vector<Step> steps = {
      {"first", {{"tenant", "acme"}}},
      {"same names, new values", {{"tenant", "globex"}}},
      {"same count, another name", {{"region", "eu"}}},
      {"more names", {{"region", "us"}, {"tenant", "acme"}}},
      {"fewer names", {{"tenant", "initech"}}},
      {"none", {}},
      {"back to two", {{"a", "1"}, {"b", "2"}}},
  };
  Context reused;
  int n = 0;
  for (const Step& step : steps) {
    v1::Context proto;
    proto.set_targeting_key("user-" + std::to_string(++n));
    for (const auto& [name, value] : step.attributes) {
      (*proto.mutable_attributes())[name] = value;
    }
    FromProto(proto, &reused);
    INFO(step.name);
    CHECK(reused.targeting_key == "user-" + std::to_string(n));
    CHECK(reused.attributes == step.attributes);
    CHECK(FromProto(proto).attributes == step.attributes);
  }
}

TEST_CASE("diffs list changed configuration, not output-only fields",
          "[convert]") {
  v1::Flag before;
  before.set_key("orders");
  before.mutable_default_serve()->set_stage(v1::SHADOW);
  before.set_version(3);
  v1::Flag after = before;
  after.set_version(4);
  after.set_revision(10);
  after.set_updated_by("alice");
  CHECK(DiffMessages(before, after).empty());

  after.mutable_default_serve()->set_stage(v1::LIVE);
  const auto diff = DiffMessages(before, after);
  REQUIRE(diff.size() == 1);
  CHECK(diff[0] == "modified: default_serve.stage: SHADOW -> LIVE");
}

TEST_CASE("status codes map one to one at the RPC edge", "[convert]") {
  const absl::Status aborted = absl::AbortedError("stale");
  const grpc::Status g = ToGrpcStatus(aborted);
  CHECK(g.error_code() == grpc::StatusCode::ABORTED);
  CHECK(g.error_message() == "stale");
  CHECK(FromGrpcStatus(g) == aborted);
  CHECK(ToGrpcStatus(absl::OkStatus()).ok());
}

TEST_CASE("refusals are the server's no, not an unreachable server",
          "[convert]") {
  CHECK(IsRefusal(absl::InvalidArgumentError("flag_keys: too many")));
  CHECK(IsRefusal(absl::PermissionDeniedError("reader")));
  CHECK(IsRefusal(absl::UnauthenticatedError("no token")));
  CHECK(IsRefusal(absl::ResourceExhaustedError("streams per peer")));
  CHECK_FALSE(IsRefusal(absl::OkStatus()));
  CHECK_FALSE(IsRefusal(absl::UnavailableError("connection refused")));
  CHECK_FALSE(IsRefusal(absl::DeadlineExceededError("deadline")));
  CHECK_FALSE(IsRefusal(absl::CancelledError("idle")));
}

}  // namespace
}  // namespace cutover

namespace cutover {
namespace {

TEST_CASE("a diff keeps kMaxDiffLines lines and counts the rest") {
  v1::Segment before, after;
  before.set_key("big");
  after.set_key("big");
  for (int i = 0; i < 1000; ++i) after.add_included("u-" + std::to_string(i));
  const auto diff = DiffMessages(before, after);
  REQUIRE(diff.size() == kMaxDiffLines + 1);
  CHECK(diff.back() == "... and 800 more changes");
  CHECK(absl::StrContains(diff.front(), "included"));
}

}  // namespace
}  // namespace cutover
