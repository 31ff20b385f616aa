// Tests of the stage-move rule: forward one stage at a time, back freely.
#include "core/stage_moves.h"

#include <catch2/catch.hpp>

#include "tests/core/flag_builders.h"
#include "tests/printers.h"
#include <optional>
#include <string>
#include <vector>

namespace cutover {
namespace {

TEST_CASE("Reach is the most advanced stage any serve can give", "[moves]") {
  CHECK(Reach(FlagServing(StageServe(Stage::kOff))) == Stage::kOff);
  CHECK(Reach(FlagServing(StageServe(Stage::kShadow))) == Stage::kShadow);
  CHECK(Reach(FlagServing(RolloutServe(
            {{Stage::kShadow, 95000}, {Stage::kLive, 5000}}))) == Stage::kLive);
  // A weight-0 split keeps its place but serves nobody.
  CHECK(Reach(FlagServing(RolloutServe({{Stage::kShadow, 100000},
                                        {Stage::kLive, 0},
                                        {Stage::kComplete, 0}}))) ==
        Stage::kShadow);
  // Rules count as much as the default.
  CHECK(Reach(FlagServing(StageServe(Stage::kDualWrite),
                          {StageServe(Stage::kOff),
                           StageServe(Stage::kLive)})) == Stage::kLive);
  CHECK(Reach(FlagServing(
            StageServe(Stage::kDualWrite),
            {RolloutServe({{Stage::kRampDown, 1}, {Stage::kLive, 99999}})})) ==
        Stage::kRampDown);
  // The kill switch is ignored: re-enabling must not jump stages.
  Flag disabled = FlagServing(StageServe(Stage::kLive));
  disabled.enabled = false;
  CHECK(Reach(disabled) == Stage::kLive);
}

TEST_CASE("CheckStageMove allows one stage forward and any move back",
          "[moves]") {
  struct Case {
    const char* name;
    std::optional<Flag> before;
    Flag after;
  };
  const std::vector<Case> allowed = {
      {"new flag at off", std::nullopt, FlagServing(StageServe(Stage::kOff))},
      {"new flag at dualwrite", std::nullopt,
       FlagServing(StageServe(Stage::kDualWrite))},
      {"off to dualwrite", FlagServing(StageServe(Stage::kOff)),
       FlagServing(StageServe(Stage::kDualWrite))},
      {"shadow to live", FlagServing(StageServe(Stage::kShadow)),
       FlagServing(StageServe(Stage::kLive))},
      {"shadow to a 5% live rollout", FlagServing(StageServe(Stage::kShadow)),
       FlagServing(
           RolloutServe({{Stage::kShadow, 95000}, {Stage::kLive, 5000}}))},
      {"5% to 100% live",
       FlagServing(
           RolloutServe({{Stage::kShadow, 95000}, {Stage::kLive, 5000}})),
       FlagServing(StageServe(Stage::kLive))},
      {"same stage", FlagServing(StageServe(Stage::kLive)),
       FlagServing(StageServe(Stage::kLive))},
      {"complete back to off", FlagServing(StageServe(Stage::kComplete)),
       FlagServing(StageServe(Stage::kOff))},
      {"live back to dualwrite", FlagServing(StageServe(Stage::kLive)),
       FlagServing(StageServe(Stage::kDualWrite))},
      {"weight-0 complete split does not count",
       FlagServing(StageServe(Stage::kShadow)),
       FlagServing(RolloutServe({{Stage::kShadow, 90000},
                                 {Stage::kLive, 10000},
                                 {Stage::kComplete, 0}}))},
      {"rule one stage ahead", FlagServing(StageServe(Stage::kLive)),
       FlagServing(StageServe(Stage::kLive), {StageServe(Stage::kRampDown)})},
  };
  for (const Case& c : allowed) {
    INFO(c.name);
    const absl::Status status =
        CheckStageMove(c.before ? &*c.before : nullptr, c.after);
    CHECK(status.ok());
  }
}

TEST_CASE("CheckStageMove refuses skips, naming the skipped stages",
          "[moves]") {
  struct Case {
    const char* name;
    std::optional<Flag> before;
    Flag after;
    std::string message;
  };
  const std::vector<Case> refused = {
      {"new flag at shadow", std::nullopt,
       FlagServing(StageServe(Stage::kShadow)),
       "stage move from off to shadow skips dualwrite; move one stage at a "
       "time or force it"},
      {"off to live", FlagServing(StageServe(Stage::kOff)),
       FlagServing(StageServe(Stage::kLive)),
       "stage move from off to live skips dualwrite, shadow; move one stage "
       "at a time or force it"},
      {"off to complete", FlagServing(StageServe(Stage::kOff)),
       FlagServing(StageServe(Stage::kComplete)),
       "stage move from off to complete skips dualwrite, shadow, live, "
       "rampdown; move one stage at a time or force it"},
      {"dualwrite to a 1% live rollout",
       FlagServing(StageServe(Stage::kDualWrite)),
       FlagServing(
           RolloutServe({{Stage::kDualWrite, 99000}, {Stage::kLive, 1000}})),
       "stage move from dualwrite to live skips shadow; move one stage at a "
       "time or force it"},
      {"a rule jumping ahead", FlagServing(StageServe(Stage::kLive)),
       FlagServing(StageServe(Stage::kLive), {StageServe(Stage::kComplete)}),
       "stage move from live to complete skips rampdown; move one stage at a "
       "time or force it"},
  };
  for (const Case& c : refused) {
    INFO(c.name);
    const absl::Status status =
        CheckStageMove(c.before ? &*c.before : nullptr, c.after);
    CHECK(status.code() == absl::StatusCode::kFailedPrecondition);
    CHECK(std::string(status.message()) == c.message);
  }
}

}  // namespace
}  // namespace cutover
