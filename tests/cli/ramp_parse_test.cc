// `cutoverctl ramp set`'s short forms: steps and durations.
#include "cli/ramp_parse.h"

#include <catch2/catch.hpp>

#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "cli/output.h"

namespace cutover::cli {
namespace {

std::vector<std::string> Shown(const std::vector<v1::Serve>& serves) {
  std::vector<std::string> out;
  for (const v1::Serve& serve : serves) out.push_back(FormatServe(serve));
  return out;
}

TEST_CASE("ramp steps: a stage's share, the rest at the stage before it",
          "[cli]") {
  auto steps = ParseRampSteps("live=1,5,25,100");
  REQUIRE(steps.ok());
  REQUIRE(steps->size() == 4);
  const v1::Rollout& first = (*steps)[0].rollout();
  REQUIRE(first.splits_size() == 2);
  CHECK(first.splits(0).stage() == v1::LIVE);
  CHECK(first.splits(0).weight() == 1000);
  CHECK(first.splits(1).stage() == v1::SHADOW);
  CHECK(first.splits(1).weight() == 99000);
  CHECK((*steps)[2].rollout().splits(0).weight() == 25000);
  CHECK((*steps)[3].stage() == v1::LIVE);  // 100: the stage alone

  auto mixed = ParseRampSteps("shadow, live=2.5,50, rampdown,complete");
  REQUIRE(mixed.ok());
  REQUIRE(mixed->size() == 5);
  CHECK((*mixed)[0].stage() == v1::SHADOW);
  CHECK((*mixed)[1].rollout().splits(0).weight() == 2500);
  CHECK((*mixed)[3].stage() == v1::RAMPDOWN);
  CHECK((*mixed)[4].stage() == v1::COMPLETE);
  CHECK(Shown(*mixed).size() == 5);
}

TEST_CASE("ramp steps: bad input names --steps and the item", "[cli]") {
  const std::pair<const char*, const char*> bad[] = {
      {"", "--steps: at least one step"},
      {"5,25", "--steps: '5' is neither a stage nor a percentage"},
      {"live=abc", "--steps: 'live=abc': percent:"},
      {"live=0", "--steps: 'live=0': the percentage must be above 0"},
      {"off=5", "--steps: 'off=5': off has no stage before it"},
      {"warp=5", "--steps: 'warp' is not one of"},
      {"live=5,rampdown,7", "--steps: '7' is neither"},
  };
  for (const auto& [text, message] : bad) {
    INFO(text);
    auto steps = ParseRampSteps(text);
    REQUIRE(steps.status().code() == absl::StatusCode::kInvalidArgument);
    CHECK(absl::StartsWith(steps.status().message(), message));
  }
}

TEST_CASE("ramp durations are whole seconds", "[cli]") {
  CHECK(*ParseSeconds("30m", "--hold") == 1800);
  CHECK(*ParseSeconds("1h30m", "--hold") == 5400);
  CHECK(*ParseSeconds("0s", "--hold") == 0);
  CHECK(ParseSeconds("0s", "--interval", 1).status().message() ==
        "--interval: '0s' must be at least 1s");
  CHECK(ParseSeconds("1.5s", "--hold").status().code() ==
        absl::StatusCode::kInvalidArgument);
  CHECK(absl::StartsWith(ParseSeconds("30", "--hold").status().message(),
                         "--hold: '30' is not a duration"));
}

}  // namespace
}  // namespace cutover::cli
