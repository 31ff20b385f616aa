// Which database is current, and the data-safe stages that follow from it
// (core/currency.h): the rollback table of docs/operations.md, row by row,
// the kill switch's fallback at each stage, and what makes a stale database
// current again.
#include "core/currency.h"

#include <string>
#include <vector>

#include "catch2/catch.hpp"
#include "core/gates.h"
#include "tests/core/flag_builders.h"

namespace cutover {
namespace {

const absl::Time kStart = absl::FromUnixSeconds(1'800'000'000);

// A flag and the daemon's bookkeeping of it, changed the way the daemon
// changes it: the currency follows every change, and a change that would
// read a stale database is refused (and then not made).
struct Migration {
  Flag flag = FlagServing(StageServe(Stage::kOff));
  absl::Time now = kStart;
  BackfillFacts forward;
  BackfillFacts reverse;

  // Makes `next` the flag's configuration; returns the refusal lines
  // (empty: the change was made).
  std::vector<std::string> Change(Flag next) {
    now += absl::Minutes(1);
    next.version = flag.version + 1;
    next.currency = NextCurrency(&flag, next, next.version, now);
    ClearByBackfills(next.currency, forward, reverse);
    std::vector<std::string> problems =
        StaleReads(&flag, next, next.currency);
    if (problems.empty()) flag = next;
    return problems;
  }
  std::vector<std::string> Stage(cutover::Stage stage) {
    Flag next = flag;
    next.default_serve = StageServe(stage);
    return Change(next);
  }
  // Every stage from dualwrite up to `last`, one at a time.
  void AdvanceTo(cutover::Stage last) {
    for (int s = static_cast<int>(cutover::Stage::kDualWrite);
         s <= static_cast<int>(last); ++s) {
      REQUIRE(Stage(static_cast<cutover::Stage>(s)).empty());
    }
  }
  std::vector<std::string> Rollback(
      cutover::Stage to = cutover::Stage::kUnspecified) {
    Flag next = flag;
    ClampServes(next, to == cutover::Stage::kUnspecified ? RollbackStage(flag)
                                                          : to);
    return Change(next);
  }
  // A verified backfill job started now.
  static BackfillFacts VerifiedJob(absl::Time created) {
    BackfillFacts job;
    job.exists = true;
    job.done = true;
    job.phase = "done";
    job.create_time = created;
    return job;
  }
};

std::string Joined(const std::vector<std::string>& lines) {
  std::string text;
  for (const std::string& line : lines) text += line + "\n";
  return text;
}

struct RollbackRow {
  Stage at;
  Stage to;  // kUnspecified: a plain rollback
  bool refused;
  Stage lands;  // the default serve after it (if not refused)
  bool old_stale_after;
  bool new_stale_after;
};

TEST_CASE("Rollback: each stage and target, as the operations table says",
          "[currency]") {
  const Stage U = Stage::kUnspecified;
  const std::vector<RollbackRow> rows = {
      // at          to                refused lands             old    new
      {Stage::kOff, U, false, Stage::kOff, false, false},
      {Stage::kDualWrite, U, false, Stage::kDualWrite, false, false},
      {Stage::kShadow, U, false, Stage::kDualWrite, false, false},
      {Stage::kLive, U, false, Stage::kDualWrite, false, false},
      {Stage::kRampDown, U, false, Stage::kDualWrite, false, false},
      {Stage::kComplete, U, true, Stage::kComplete, true, false},
      {Stage::kShadow, Stage::kShadow, false, Stage::kShadow, false, false},
      {Stage::kLive, Stage::kShadow, false, Stage::kShadow, false, false},
      {Stage::kComplete, Stage::kShadow, true, Stage::kComplete, true, false},
      {Stage::kComplete, Stage::kRampDown, false, Stage::kRampDown, true,
       false},
      {Stage::kDualWrite, Stage::kOff, false, Stage::kOff, false, true},
      {Stage::kShadow, Stage::kOff, false, Stage::kOff, false, true},
      {Stage::kLive, Stage::kOff, false, Stage::kOff, false, true},
      {Stage::kRampDown, Stage::kOff, false, Stage::kOff, false, true},
      {Stage::kComplete, Stage::kOff, true, Stage::kComplete, true, false},
  };
  for (const RollbackRow& row : rows) {
    INFO("at " << StageName(row.at) << ", rollback to "
               << StageName(row.to));
    Migration m;
    m.AdvanceTo(row.at);
    const std::vector<std::string> problems = m.Rollback(row.to);
    CHECK(problems.empty() == !row.refused);
    CHECK(*m.flag.default_serve.stage == row.lands);
    CHECK(m.flag.currency.old_stale.has_value() == row.old_stale_after);
    CHECK(m.flag.currency.new_stale.has_value() == row.new_stale_after);
    if (row.refused) {
      // The refusal names the database, since when, and the way back.
      CHECK_THAT(Joined(problems),
                 Catch::Contains("but old is stale since version 5 "
                                 "(complete served to 100% by the default "
                                 "serve); the way back: serve rampdown"));
    }
  }
}

TEST_CASE("The kill switch's computed fallback at each stage", "[currency]") {
  const std::vector<std::pair<Stage, Stage>> rows = {
      {Stage::kOff, Stage::kOff},          {Stage::kDualWrite, Stage::kDualWrite},
      {Stage::kShadow, Stage::kDualWrite}, {Stage::kLive, Stage::kDualWrite},
      {Stage::kRampDown, Stage::kDualWrite}, {Stage::kComplete, Stage::kRampDown},
  };
  for (const auto& [at, fallback] : rows) {
    INFO("at " << StageName(at));
    Migration m;
    m.AdvanceTo(at);
    CHECK(FallbackStage(m.flag) == fallback);
    // Disabling is never refused and never makes a database stale.
    Flag disabled = m.flag;
    disabled.enabled = false;
    const Currency before = m.flag.currency;
    CHECK(m.Change(disabled).empty());
    CHECK(m.flag.currency.old_stale.has_value() ==
          before.old_stale.has_value());
    CHECK_FALSE(m.flag.currency.new_stale.has_value());
    // Served as the daemon evaluates it: nobody past the fallback.
    CHECK(*ServedFlag(m.flag).default_serve.stage == fallback);
  }
}

TEST_CASE("A set fallback that reads a stale database is refused",
          "[currency]") {
  Migration m;
  m.AdvanceTo(Stage::kRampDown);
  Flag next = m.flag;
  next.fallback_stage = Stage::kDualWrite;
  REQUIRE(m.Change(next).empty());
  // Going to complete would leave the kill switch reading stale old.
  const std::vector<std::string> problems = m.Stage(Stage::kComplete);
  REQUIRE(problems.size() == 1);
  CHECK_THAT(problems[0], Catch::StartsWith("fallback_stage dualwrite reads "
                                            "old, but old is stale since"));
}

TEST_CASE("Old is current again only after a reverse backfill started once "
          "complete was no longer served",
          "[currency]") {
  Migration m;
  m.AdvanceTo(Stage::kComplete);
  REQUIRE(m.flag.currency.old_stale.has_value());
  CHECK(m.flag.currency.old_stale->since_version == 5);
  CHECK_FALSE(m.flag.currency.old_stale->skipped_until.has_value());

  // A reverse backfill run while users are still at complete does not
  // count: their writes kept skipping old.
  m.reverse = Migration::VerifiedJob(m.now);
  REQUIRE(m.Rollback(Stage::kRampDown).empty());
  REQUIRE(m.flag.currency.old_stale.has_value());
  CHECK(m.flag.currency.old_stale->skipped_until == m.now);
  CHECK_FALSE(m.Rollback().empty());

  // Started after rampdown, but its verify pass left mismatches unrepaired.
  m.reverse = Migration::VerifiedJob(m.now + absl::Seconds(1));
  m.reverse.rows_mismatched = 3;
  m.reverse.rows_repaired = 2;
  CHECK_FALSE(m.Rollback().empty());

  // Verified and repaired: old is current, and the plain rollback lands.
  m.reverse.rows_repaired = 3;
  REQUIRE(m.Rollback().empty());
  CHECK(*m.flag.default_serve.stage == Stage::kDualWrite);
  CHECK_FALSE(m.flag.currency.old_stale.has_value());
  CHECK(FallbackStage(m.flag) == Stage::kDualWrite);
}

TEST_CASE("New is current again only after a backfill started once nobody "
          "was served off",
          "[currency]") {
  Migration m;
  m.forward = Migration::VerifiedJob(kStart);  // the migration's first one
  m.AdvanceTo(Stage::kShadow);
  REQUIRE(m.Rollback(Stage::kOff).empty());
  REQUIRE(m.flag.currency.new_stale.has_value());
  CHECK(m.flag.currency.new_stale->since_version == 3);
  CHECK(m.flag.currency.new_stale->why ==
        "off served to 100% by the default serve");
  CHECK_FALSE(m.flag.currency.new_stale->skipped_until.has_value());

  // A backfill run while users are still at off does not count: their
  // writes keep skipping new after it.
  m.forward = Migration::VerifiedJob(m.now + absl::Seconds(1));
  // Reading old stays allowed; reading new is refused.
  REQUIRE(m.Stage(Stage::kDualWrite).empty());
  const absl::Time off_ended = m.now;
  CHECK(m.flag.currency.new_stale->skipped_until == off_ended);
  REQUIRE(m.Stage(Stage::kShadow).empty());
  const std::vector<std::string> refused = m.Stage(Stage::kLive);
  REQUIRE(refused.size() == 1);
  CHECK_THAT(refused[0],
             Catch::Contains("would read new for 100% of its users, but new "
                             "is stale since version 3"));
  CHECK_THAT(refused[0], Catch::Contains("serve no user off"));

  // One started once everyone was dual-written counts.
  m.forward = Migration::VerifiedJob(off_ended);
  REQUIRE(m.Stage(Stage::kLive).empty());
  CHECK_FALSE(m.flag.currency.new_stale.has_value());
}

TEST_CASE("New stays skipped while any share is served off", "[currency]") {
  Migration m;
  m.AdvanceTo(Stage::kDualWrite);
  Flag next = m.flag;
  next.default_serve =
      RolloutServe({{Stage::kDualWrite, 50000}, {Stage::kOff, 50000}});
  REQUIRE(m.Change(next).empty());
  REQUIRE(m.flag.currency.new_stale.has_value());
  CHECK_FALSE(m.flag.currency.new_stale->skipped_until.has_value());
  // Everyone dual-written again: the skip ends now.
  REQUIRE(m.Stage(Stage::kDualWrite).empty());
  CHECK(m.flag.currency.new_stale->skipped_until == m.now);
  // Off again (a rule now serves it): skipped again.
  next = m.flag;
  next.rules.push_back(
      FlagServing(StageServe(Stage::kOff), {StageServe(Stage::kOff)}).rules[0]);
  REQUIRE(m.Change(next).empty());
  CHECK_FALSE(m.flag.currency.new_stale->skipped_until.has_value());
}

TEST_CASE("New goes stale only when dual-written users are served off",
          "[currency]") {
  Migration m;
  // 10% dual-written, 90% off: nobody moved off yet.
  Flag next = m.flag;
  next.default_serve =
      RolloutServe({{Stage::kDualWrite, 10000}, {Stage::kOff, 90000}});
  REQUIRE(m.Change(next).empty());
  CHECK_FALSE(m.flag.currency.new_stale.has_value());
  // Growing the dual-written share moves nobody off.
  next.default_serve =
      RolloutServe({{Stage::kDualWrite, 20000}, {Stage::kOff, 80000}});
  REQUIRE(m.Change(next).empty());
  CHECK_FALSE(m.flag.currency.new_stale.has_value());
  // Shrinking it does.
  next.default_serve =
      RolloutServe({{Stage::kDualWrite, 15000}, {Stage::kOff, 85000}});
  REQUIRE(m.Change(next).empty());
  REQUIRE(m.flag.currency.new_stale.has_value());
  CHECK(m.flag.currency.new_stale->why ==
        "off served to 85% by the default serve");
}

TEST_CASE("A rule's users moved off dual writes make new stale", "[currency]") {
  Migration m;
  Flag next = FlagServing(StageServe(Stage::kOff), {StageServe(Stage::kDualWrite)});
  next.version = m.flag.version;
  REQUIRE(m.Change(next).empty());
  CHECK_FALSE(m.flag.currency.new_stale.has_value());
  // Removing the rule sends its users to the default serve's off.
  next = m.flag;
  next.rules.clear();
  REQUIRE(m.Change(next).empty());
  CHECK(m.flag.currency.new_stale.has_value());
}

TEST_CASE("Clamping merges a rollout's shares", "[currency]") {
  Flag flag = FlagServing(
      RolloutServe({{Stage::kComplete, 5000},
                    {Stage::kLive, 15000},
                    {Stage::kDualWrite, 30000},
                    {Stage::kOff, 50000}}),
      {StageServe(Stage::kRampDown), StageServe(Stage::kOff)});
  ClampServes(flag, Stage::kDualWrite);
  const std::vector<Split>& splits = flag.default_serve.rollout->splits;
  REQUIRE(splits.size() == 2);
  CHECK(splits[0].stage == Stage::kDualWrite);
  CHECK(splits[0].weight == 50000);
  CHECK(splits[1].stage == Stage::kOff);
  CHECK(splits[1].weight == 50000);
  CHECK(*flag.rules[0].serve.stage == Stage::kDualWrite);
  CHECK(*flag.rules[1].serve.stage == Stage::kOff);
  // A rollout left with one stage becomes that stage.
  Flag merged = FlagServing(RolloutServe(
      {{Stage::kLive, 50000}, {Stage::kShadow, 50000}}));
  ClampServes(merged, Stage::kDualWrite);
  CHECK_FALSE(merged.default_serve.rollout.has_value());
  CHECK(merged.default_serve.stage == Stage::kDualWrite);
}

TEST_CASE("require_backfill does not count a job verified before new went "
          "stale",
          "[currency]") {
  Flag before = FlagServing(StageServe(Stage::kDualWrite));
  before.gates.require_backfill = true;
  Flag after = before;
  after.default_serve = StageServe(Stage::kShadow);
  GateFacts facts;
  facts.backfill = Migration::VerifiedJob(kStart);
  CHECK(BrokenGates(&before, after, facts).empty());
  after.currency.new_stale = StaleMark{4, kStart, "off served", kStart};
  const std::vector<std::string> broken = BrokenGates(&before, after, facts);
  REQUIRE(broken.size() == 1);
  CHECK_THAT(broken[0], Catch::StartsWith("require_backfill: new is stale "
                                          "since version 4"));
}

TEST_CASE("Segment changes that could move dual-written users to off",
          "[currency]") {
  Segment before;
  before.key = "beta";
  before.included = {"u1", "u2"};
  Segment added = before;
  added.included.push_back("u3");
  Segment removed = before;
  removed.included = {"u1"};
  CHECK(SegmentMoves(&before, added).adds);
  CHECK_FALSE(SegmentMoves(&before, added).removes);
  CHECK(SegmentMoves(&before, removed).removes);
  CHECK_FALSE(SegmentMoves(&before, removed).adds);
  Segment excluded = before;
  excluded.excluded = {"u2"};
  CHECK(SegmentMoves(&before, excluded).removes);

  // beta's users dual-written, everyone else off.
  Flag flag = FlagServing(StageServe(Stage::kOff));
  Rule rule;
  rule.id = "beta";
  rule.clauses.push_back({"", Operator::kInSegment, {"beta"}});
  rule.serve = StageServe(Stage::kDualWrite);
  flag.rules.push_back(rule);
  CHECK(SegmentMovesOffDualWrites(flag, "beta", {true, false}).empty());
  const std::vector<std::string> lines =
      SegmentMovesOffDualWrites(flag, "beta", {false, true});
  REQUIRE(lines.size() == 1);
  CHECK(lines[0] ==
        "flag orders dual-writes 100% of rule beta: users removed from "
        "segment beta may get off");
  // Another segment's change moves nobody through this rule.
  CHECK(SegmentMovesOffDualWrites(flag, "other", {true, true}).empty());
  // With everyone else dual-written too, leaving beta moves nobody off.
  flag.default_serve = StageServe(Stage::kDualWrite);
  CHECK(SegmentMovesOffDualWrites(flag, "beta", {true, true}).empty());
}

}  // namespace
}  // namespace cutover
