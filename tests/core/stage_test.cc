// Tests of stage names, their order, and the read/write plan of each stage
// (README.md, "The stages").
#include "core/stage.h"

#include <catch2/catch.hpp>

#include "tests/printers.h"
#include <string>
#include <vector>

namespace cutover {
namespace {

TEST_CASE("Stages are ordered least to most advanced", "[stage]") {
  CHECK(kFirstStage == Stage::kOff);
  CHECK(kLastStage == Stage::kComplete);
  CHECK(Stage::kOff < Stage::kDualWrite);
  CHECK(Stage::kDualWrite < Stage::kShadow);
  CHECK(Stage::kShadow < Stage::kLive);
  CHECK(Stage::kLive < Stage::kRampDown);
  CHECK(Stage::kRampDown < Stage::kComplete);
  // The numeric values are the wire values of cutover.v1.Stage.
  CHECK(static_cast<int>(Stage::kUnspecified) == 0);
  CHECK(static_cast<int>(Stage::kOff) == 1);
  CHECK(static_cast<int>(Stage::kComplete) == 6);
}

TEST_CASE("StageName and ParseStage round-trip", "[stage]") {
  const std::vector<std::pair<Stage, std::string>> names = {
      {Stage::kOff, "off"},           {Stage::kDualWrite, "dualwrite"},
      {Stage::kShadow, "shadow"},     {Stage::kLive, "live"},
      {Stage::kRampDown, "rampdown"}, {Stage::kComplete, "complete"},
  };
  for (const auto& [stage, name] : names) {
    INFO(name);
    CHECK(StageName(stage) == name);
    CHECK(ParseStage(name) == stage);
  }
  CHECK(std::string(StageName(Stage::kUnspecified)) == "unspecified");
}

TEST_CASE("ParseStage is case-insensitive and rejects non-stages", "[stage]") {
  CHECK(ParseStage("LIVE") == Stage::kLive);
  CHECK(ParseStage("DualWrite") == Stage::kDualWrite);
  CHECK(ParseStage("RampDown") == Stage::kRampDown);
  for (const char* bad :
       {"", "unspecified", "live ", " off", "dual-write", "dual_write",
        "ramp_down", "on", "stage_unspecified", "lives"}) {
    INFO("\"" << bad << "\"");
    CHECK_FALSE(ParseStage(bad).has_value());
  }
}

TEST_CASE("OriginName names the two databases", "[stage]") {
  CHECK(std::string(OriginName(Origin::kNone)) == "none");
  CHECK(std::string(OriginName(Origin::kOld)) == "old");
  CHECK(std::string(OriginName(Origin::kNew)) == "new");
}

TEST_CASE("PlanFor follows the stage table of the design", "[stage]") {
  struct Row {
    Stage stage;
    Origin read_authoritative;
    Origin read_shadow;
    Origin write_authoritative;
    Origin write_secondary;
  };
  const Origin kNone = Origin::kNone;
  const Origin kOld = Origin::kOld;
  const Origin kNew = Origin::kNew;
  const std::vector<Row> table = {
      {Stage::kOff, kOld, kNone, kOld, kNone},
      {Stage::kDualWrite, kOld, kNone, kOld, kNew},
      {Stage::kShadow, kOld, kNew, kOld, kNew},
      {Stage::kLive, kNew, kOld, kNew, kOld},
      {Stage::kRampDown, kNew, kNone, kNew, kOld},
      {Stage::kComplete, kNew, kNone, kNew, kNone},
      // Not a stage: the safe plan, off's.
      {Stage::kUnspecified, kOld, kNone, kOld, kNone},
  };
  for (const Row& row : table) {
    INFO("stage " << StageName(row.stage));
    const StagePlan plan = PlanFor(row.stage);
    CHECK(plan.read_authoritative == row.read_authoritative);
    CHECK(plan.read_shadow == row.read_shadow);
    CHECK(plan.write_authoritative == row.write_authoritative);
    CHECK(plan.write_secondary == row.write_secondary);
  }
}

TEST_CASE("Every plan writes the database it reads authoritatively",
          "[stage]") {
  // The invariant behind the table: a user never reads from a database that
  // does not get their writes first.
  for (int s = static_cast<int>(kFirstStage); s <= static_cast<int>(kLastStage);
       ++s) {
    const StagePlan plan = PlanFor(static_cast<Stage>(s));
    INFO("stage " << StageName(static_cast<Stage>(s)));
    CHECK(plan.read_authoritative == plan.write_authoritative);
    CHECK(plan.read_shadow != plan.read_authoritative);
    CHECK(plan.write_secondary != plan.write_authoritative);
  }
}

}  // namespace
}  // namespace cutover
