#include "cli/parse.h"

#include <catch2/catch.hpp>

#include "absl/strings/match.h"
#include "cli/commands.h"
#include "cli/output.h"

namespace cutover::cli {
namespace {

TEST_CASE("percentages parse exactly to thousandths", "[cli]") {
  const std::pair<const char*, uint32_t> good[] = {
      {"5", 5000}, {"2.5", 2500}, {"0.125", 125}, {"100", 100000},
      {"0", 0},    {"10%", 10000}, {"99.999", 99999}};
  for (const auto& [text, weight] : good) {
    INFO(text);
    auto parsed = ParsePercent(text);
    REQUIRE(parsed.ok());
    CHECK(*parsed == weight);
  }
  for (const char* bad : {"", "-5", "5.", ".5", "1.2345", "abc", "100.001",
                          "1000", "5 ", "1e2"}) {
    INFO(bad);
    CHECK(ParsePercent(bad).status().code() ==
          absl::StatusCode::kInvalidArgument);
  }
  CHECK(FormatPercent(5000) == "5%");
  CHECK(FormatPercent(2500) == "2.5%");
  CHECK(FormatPercent(125) == "0.125%");
  CHECK(FormatPercent(100000) == "100%");
}

TEST_CASE("rollouts parse from items and comma lists", "[cli]") {
  auto rollout = ParseRolloutArgs({"live=5", "shadow=95"});
  REQUIRE(rollout.ok());
  REQUIRE(rollout->splits_size() == 2);
  CHECK(rollout->splits(0).stage() == v1::LIVE);
  CHECK(rollout->splits(0).weight() == 5000);
  CHECK(rollout->splits(1).weight() == 95000);
  CHECK(ParseRolloutArgs({"LIVE=2.5,shadow=97.5"}).ok());

  struct Case {
    std::vector<std::string> items;
    const char* message;
  };
  const Case bad[] = {
      {{"live=5", "shadow=90"}, "add up to 95%, not 100%"},
      {{"live=5", "live=95"}, "given twice"},
      {{"live"}, "is not STAGE=PERCENT"},
      {{"sideways=100"}, "'sideways' is not one of"},
      {{}, "at least one"},
  };
  for (const auto& c : bad) {
    auto parsed = ParseRolloutArgs(c.items);
    CHECK(parsed.status().code() == absl::StatusCode::kInvalidArgument);
    CHECK(absl::StrContains(parsed.status().message(), c.message));
  }
}

TEST_CASE("serves are a stage or a rollout", "[cli]") {
  auto stage = ParseServeArg("live");
  REQUIRE(stage.ok());
  CHECK(stage->stage() == v1::LIVE);
  auto rollout = ParseServeArg("live=5,shadow=95");
  REQUIRE(rollout.ok());
  CHECK(rollout->rollout().splits_size() == 2);
  CHECK(!ParseServeArg("nope").ok());
  CHECK(FormatServe(*rollout) == "live 5%, shadow 95%");
  CHECK(FormatServe(*stage) == "live");
}

TEST_CASE("clauses parse from 'ATTRIBUTE OPERATOR VALUES'", "[cli]") {
  auto in = ParseClauseArg("tenant in acme, globex");
  REQUIRE(in.ok());
  CHECK(in->attribute() == "tenant");
  CHECK(in->op() == v1::IN);
  CHECK(in->values_size() == 2);
  CHECK(in->values(1) == "globex");

  auto segment = ParseClauseArg("in_segment internal,beta");
  REQUIRE(segment.ok());
  CHECK(segment->op() == v1::IN_SEGMENT);
  CHECK(segment->attribute().empty());
  CHECK(segment->values_size() == 2);

  auto regex = ParseClauseArg("email matches ^[a-z]{1,3}@example\\.com$");
  REQUIRE(regex.ok());
  CHECK(regex->op() == v1::MATCHES);
  REQUIRE(regex->values_size() == 1);
  CHECK(regex->values(0) == "^[a-z]{1,3}@example\\.com$");

  auto semver = ParseClauseArg("app_version SEMVER_GE 2.3.0");
  REQUIRE(semver.ok());
  CHECK(semver->op() == v1::SEMVER_GE);
  CHECK(FormatClause(*in) == "tenant in acme, globex");

  for (const char* bad : {"tenant", "tenant like acme", "", "a in ,"}) {
    INFO(bad);
    CHECK(ParseClauseArg(bad).status().code() ==
          absl::StatusCode::kInvalidArgument);
  }
}

TEST_CASE("attributes are NAME=VALUE", "[cli]") {
  auto attrs = ParseAttributeArgs({"tenant=acme", "note=a=b"});
  REQUIRE(attrs.ok());
  CHECK((*attrs)[1].second == "a=b");
  CHECK(!ParseAttributeArgs({"tenant"}).ok());
  CHECK(!ParseAttributeArgs({"=x"}).ok());
}

TEST_CASE("exit codes: 2 for rejected input, 1 for server trouble", "[cli]") {
  using absl::StatusCode;
  for (auto code : {StatusCode::kInvalidArgument, StatusCode::kFailedPrecondition,
                    StatusCode::kAlreadyExists, StatusCode::kNotFound,
                    StatusCode::kAborted, StatusCode::kOutOfRange}) {
    CHECK(ExitCodeFor(code) == 2);
  }
  for (auto code : {StatusCode::kUnavailable, StatusCode::kDeadlineExceeded,
                    StatusCode::kInternal, StatusCode::kDataLoss,
                    StatusCode::kUnauthenticated, StatusCode::kUnknown}) {
    CHECK(ExitCodeFor(code) == 1);
  }
  CHECK(ExitCodeFor(StatusCode::kOk) == 0);
}

TEST_CASE("output formats", "[cli]") {
  CHECK(*ParseFormat("json") == Format::kJson);
  CHECK(!ParseFormat("xml").ok());
  v1::Flag flag;
  flag.set_key("orders");
  flag.set_enabled(true);
  flag.mutable_default_serve()->set_stage(v1::SHADOW);
  CHECK(absl::StrContains(Render(flag, Format::kJson), "\"key\": \"orders\""));
  CHECK(absl::StrContains(Render(flag, Format::kYaml), "stage: shadow"));
  CHECK(absl::StrContains(Render(flag, Format::kTable), "default"));
}

}  // namespace
}  // namespace cutover::cli
