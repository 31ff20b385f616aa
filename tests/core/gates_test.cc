// Tests of the stage gates: which changes each gate refuses, with what
// message, and that moves back and unchanged shares always pass.
#include "core/gates.h"

#include <catch2/catch.hpp>

#include <optional>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/time/time.h"
#include "core/evaluate.h"
#include "tests/core/flag_builders.h"
#include "tests/printers.h"

namespace cutover {
namespace {

GateFacts DoneBackfill() {
  GateFacts facts;
  facts.backfill.exists = true;
  facts.backfill.phase = "done";
  facts.backfill.done = true;
  facts.backfill.rows_copied = 5000;
  facts.backfill.rows_verified = 5000;
  return facts;
}

Flag Gated(Flag flag) {
  flag.gates.require_backfill = true;
  flag.gates.max_mismatch_rate = 0.001;
  flag.gates.min_samples = 1000;
  return flag;
}

TEST_CASE("ShareAtOrBeyond sums the weights of a stage and later ones",
          "[gates]") {
  CHECK(ShareAtOrBeyond(StageServe(Stage::kShadow), Stage::kShadow) ==
        kTotalWeight);
  CHECK(ShareAtOrBeyond(StageServe(Stage::kLive), Stage::kShadow) ==
        kTotalWeight);
  CHECK(ShareAtOrBeyond(StageServe(Stage::kDualWrite), Stage::kShadow) == 0);
  const Serve ramp = RolloutServe({{Stage::kLive, 5000},
                                   {Stage::kShadow, 95000}});
  CHECK(ShareAtOrBeyond(ramp, Stage::kLive) == 5000);
  CHECK(ShareAtOrBeyond(ramp, Stage::kShadow) == kTotalWeight);
  CHECK(ShareAtOrBeyond(ramp, Stage::kComplete) == 0);
}

TEST_CASE("AdvancesTo sees larger shares by default serve and by rule",
          "[gates]") {
  const Flag dualwrite = FlagServing(StageServe(Stage::kDualWrite));
  const Flag shadow = FlagServing(StageServe(Stage::kShadow));
  CHECK(AdvancesTo(&dualwrite, shadow, Stage::kShadow));
  CHECK_FALSE(AdvancesTo(&shadow, dualwrite, Stage::kShadow));  // back
  CHECK_FALSE(AdvancesTo(&shadow, shadow, Stage::kShadow));     // same
  CHECK_FALSE(AdvancesTo(nullptr, dualwrite, Stage::kShadow));
  CHECK(AdvancesTo(nullptr, shadow, Stage::kShadow));

  const Flag live5 = FlagServing(
      RolloutServe({{Stage::kLive, 5000}, {Stage::kShadow, 95000}}));
  const Flag live25 = FlagServing(
      RolloutServe({{Stage::kLive, 25000}, {Stage::kShadow, 75000}}));
  CHECK(AdvancesTo(&shadow, live5, Stage::kLive));
  CHECK(AdvancesTo(&live5, live25, Stage::kLive));     // a ramp step
  CHECK_FALSE(AdvancesTo(&live5, live25, Stage::kShadow));  // all there
  CHECK_FALSE(AdvancesTo(&live25, live5, Stage::kLive));

  // A rule: new, grown, or re-targeted (clauses changed) counts.
  const Flag with_rule = FlagServing(StageServe(Stage::kShadow),
                                     {StageServe(Stage::kLive)});
  CHECK(AdvancesTo(&shadow, with_rule, Stage::kLive));
  CHECK_FALSE(AdvancesTo(&with_rule, with_rule, Stage::kLive));
  Flag retargeted = with_rule;
  retargeted.rules[0].clauses[0].values = {"eu", "us"};
  CHECK(AdvancesTo(&with_rule, retargeted, Stage::kLive));
  CHECK_FALSE(AdvancesTo(&with_rule, shadow, Stage::kLive));  // removed
}

TEST_CASE("a flag without gates is never refused by them", "[gates]") {
  const Flag off = FlagServing(StageServe(Stage::kOff));
  const Flag complete = FlagServing(StageServe(Stage::kComplete));
  CHECK(BrokenGates(&off, complete, GateFacts()).empty());
}

TEST_CASE("require_backfill refuses shadow until the backfill is done",
          "[gates]") {
  const Flag dualwrite = Gated(FlagServing(StageServe(Stage::kDualWrite)));
  const Flag shadow = Gated(FlagServing(StageServe(Stage::kShadow)));

  GateFacts none;
  std::vector<std::string> broken = BrokenGates(&dualwrite, shadow, none);
  REQUIRE(broken.size() == 1);
  CHECK(broken[0] ==
        "require_backfill: flag orders has no backfill job; run the backfill "
        "and its verify pass first");

  GateFacts copying;
  copying.backfill = {true, "copying", false, 1200, 5000, 0, 0, 0,
                      absl::UnixEpoch(), std::nullopt};
  broken = BrokenGates(&dualwrite, shadow, copying);
  REQUIRE(broken.size() == 1);
  CHECK(broken[0] ==
        "require_backfill: the backfill of orders is copying (1200 of about "
        "5000 rows copied, 0 verified), not done");

  GateFacts unrepaired = DoneBackfill();
  unrepaired.backfill.rows_mismatched = 12;
  unrepaired.backfill.rows_repaired = 10;
  broken = BrokenGates(&dualwrite, shadow, unrepaired);
  REQUIRE(broken.size() == 1);
  CHECK(absl::StrContains(broken[0], "found 12 rows mismatched and repaired "
                                     "only 10"));

  CHECK(BrokenGates(&dualwrite, shadow, DoneBackfill()).empty());
  // Going back to dualwrite is never refused.
  CHECK(BrokenGates(&shadow, dualwrite, none).empty());
  // Nor is a change that leaves the shadow share as it is.
  Flag described = shadow;
  described.description = "orders table";
  CHECK(BrokenGates(&shadow, described, none).empty());
}

TEST_CASE("the window gates refuse live until enough clean samples",
          "[gates]") {
  const Flag shadow = Gated(FlagServing(StageServe(Stage::kShadow)));
  const Flag live5 = Gated(FlagServing(
      RolloutServe({{Stage::kLive, 5000}, {Stage::kShadow, 95000}})));

  GateFacts few = DoneBackfill();
  few.window = {300, 350, 0};
  std::vector<std::string> broken = BrokenGates(&shadow, live5, few);
  REQUIRE(broken.size() == 1);
  CHECK(broken[0] ==
        "min_samples: 350 compared reads in the last 300 s window, fewer "
        "than 1000");

  GateFacts dirty = DoneBackfill();
  dirty.window = {300, 5000, 21};
  broken = BrokenGates(&shadow, live5, dirty);
  REQUIRE(broken.size() == 1);
  CHECK(broken[0] ==
        "max_mismatch_rate: mismatch rate 0.0042 (21 of 5000 compared reads "
        "in the last 300 s window) is above 0.001");

  GateFacts both = DoneBackfill();
  both.window = {300, 10, 5};
  CHECK(BrokenGates(&shadow, live5, both).size() == 2);

  GateFacts clean = DoneBackfill();
  clean.window = {300, 5000, 5};  // exactly at the threshold passes
  CHECK(BrokenGates(&shadow, live5, clean).empty());
  // Rolling back from live never needs samples.
  CHECK(BrokenGates(&live5, shadow, GateFacts()).empty());
}

TEST_CASE("gate values are validated with the flag", "[gates]") {
  Flag flag = FlagServing(StageServe(Stage::kOff));
  flag.gates.max_mismatch_rate = 1.5;
  absl::Status status = ValidateFlag(flag);
  CHECK(status.code() == absl::StatusCode::kInvalidArgument);
  CHECK(absl::StrContains(status.message(), "gates.max_mismatch_rate"));
  flag.gates.max_mismatch_rate = 0.01;
  flag.gates.min_samples = -1;
  status = ValidateFlag(flag);
  CHECK(absl::StrContains(status.message(), "gates.min_samples"));
  flag.gates.min_samples = 1000;
  CHECK(ValidateFlag(flag).ok());
}

}  // namespace
}  // namespace cutover
