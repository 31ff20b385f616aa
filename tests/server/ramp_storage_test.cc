// Guarded ramps in the store: a flag's plan and a ramp's state read back
// as written, and a ramp state committed with a flag change (one batch) or
// put alone survives reopening.
#include <catch2/catch.hpp>

#include <memory>
#include <string>
#include <utility>

#include "absl/time/time.h"
#include "server/storage_codec.h"
#include "server/store.h"
#include "tests/integration/harness.h"

namespace cutover {
namespace {

using testing::TempDir;

RampPlan Plan() {
  RampPlan plan;
  Serve five;
  five.rollout = Rollout{{{Stage::kLive, 5000}, {Stage::kShadow, 95000}}};
  Serve live;
  live.stage = Stage::kLive;
  plan.steps = {{five, 0}, {live, 600}};
  plan.hold_seconds = 1800;
  plan.interval_seconds = 60;
  plan.window_seconds = 300;
  plan.on_breach = BreachAction::kRollback;
  plan.inconclusive_limit_seconds = 900;
  plan.checks = {{RampCheckKind::kMismatchRate, 0.001, 500},
                 {RampCheckKind::kP99LatencyRatio, 2, 100}};
  return plan;
}

RampStateRecord State() {
  RampStateRecord state;
  state.flag_key = "orders";
  state.phase = RampPhase::kWaiting;
  state.step = 1;
  state.step_started = absl::FromUnixNanos(1796535235123456789);
  state.inconclusive_since = absl::FromUnixSeconds(1796535300);
  state.reason = "waiting for data: ...";
  state.flag_version = 9;
  state.updated = absl::FromUnixSeconds(1796535301);
  state.updated_by = "ramp";
  state.last_analysis.time = absl::FromUnixSeconds(1796535301);
  state.last_analysis.verdict = RampVerdict::kInconclusive;
  RampCheckResult result;
  result.check = {RampCheckKind::kMismatchRate, 0.001, 500};
  result.figure = 0.25;
  result.samples = 12;
  result.verdict = RampVerdict::kInconclusive;
  result.line = "mismatch_rate inconclusive: 12 compared reads";
  state.last_analysis.checks.push_back(result);
  return state;
}

void CheckSame(const RampPlan& a, const RampPlan& b) {
  REQUIRE(a.steps.size() == b.steps.size());
  for (size_t i = 0; i < a.steps.size(); ++i) {
    CHECK(ServeSummary(a.steps[i].serve) == ServeSummary(b.steps[i].serve));
    CHECK(a.steps[i].hold_seconds == b.steps[i].hold_seconds);
  }
  CHECK(a.hold_seconds == b.hold_seconds);
  CHECK(a.interval_seconds == b.interval_seconds);
  CHECK(a.window_seconds == b.window_seconds);
  CHECK(a.on_breach == b.on_breach);
  CHECK(a.inconclusive_limit_seconds == b.inconclusive_limit_seconds);
  REQUIRE(a.checks.size() == b.checks.size());
  for (size_t i = 0; i < a.checks.size(); ++i) {
    CHECK(a.checks[i].kind == b.checks[i].kind);
    CHECK(a.checks[i].threshold == b.checks[i].threshold);
    CHECK(a.checks[i].min_samples == b.checks[i].min_samples);
  }
}

void CheckSame(const RampStateRecord& a, const RampStateRecord& b) {
  CHECK(a.phase == b.phase);
  CHECK(a.step == b.step);
  CHECK(a.step_started == b.step_started);
  CHECK(a.inconclusive_since == b.inconclusive_since);
  CHECK(a.reason == b.reason);
  CHECK(a.flag_version == b.flag_version);
  CHECK(a.updated == b.updated);
  CHECK(a.updated_by == b.updated_by);
  CHECK(a.last_analysis.time == b.last_analysis.time);
  CHECK(a.last_analysis.verdict == b.last_analysis.verdict);
  REQUIRE(a.last_analysis.checks.size() == b.last_analysis.checks.size());
  const RampCheckResult& x = a.last_analysis.checks[0];
  const RampCheckResult& y = b.last_analysis.checks[0];
  CHECK(x.check.kind == y.check.kind);
  CHECK(x.figure == y.figure);
  CHECK(x.samples == y.samples);
  CHECK(x.verdict == y.verdict);
  CHECK(x.line == y.line);
}

FlagRecord FlagWithPlan(int64_t version) {
  FlagRecord flag;
  flag.flag.key = "orders";
  flag.flag.old_target = "pg";
  flag.flag.new_target = "dynamo";
  flag.flag.default_serve.stage = Stage::kShadow;
  flag.flag.ramp = Plan();
  flag.flag.version = version;
  return flag;
}

TEST_CASE("StorageCodec: a flag's ramp plan and a ramp state read back",
          "[ramp]") {
  absl::StatusOr<FlagRecord> flag = DecodeFlag(EncodeFlag(FlagWithPlan(3)));
  REQUIRE(flag.ok());
  REQUIRE(flag->flag.ramp.has_value());
  CheckSame(*flag->flag.ramp, Plan());

  absl::StatusOr<RampStateRecord> state = DecodeRampState(EncodeRampState(State()));
  REQUIRE(state.ok());
  CHECK(state->flag_key.empty());  // the key's part
  CheckSame(*state, State());
  CHECK(DecodeRampState("\xff\xff").status().code() ==
        absl::StatusCode::kDataLoss);
}

TEST_CASE("Store: a ramp state committed with its step, or put alone, "
          "survives reopening",
          "[ramp]") {
  TempDir dir;
  {
    absl::StatusOr<std::unique_ptr<Store>> store = Store::Open(dir.path());
    REQUIRE(store.ok());
    Mutation step;
    step.revision = 1;
    ChangeRecord change;
    change.revision = 1;
    change.flag = FlagWithPlan(1);
    step.changes.push_back(change);
    HistoryRecord entry;
    entry.flag_key = "orders";
    entry.version = 1;
    entry.revision = 1;
    entry.action = "ramp-step";
    step.history.push_back(entry);
    step.ramp_states.push_back(State());
    REQUIRE((*store)->Commit(step).ok());
    RampStateRecord other = State();
    other.flag_key = "payments";
    other.phase = RampPhase::kPaused;
    REQUIRE((*store)->PutRampState(other).ok());
  }
  absl::StatusOr<std::unique_ptr<Store>> store = Store::Open(dir.path());
  REQUIRE(store.ok());
  absl::StatusOr<StoredState> loaded = (*store)->Load();
  REQUIRE(loaded.ok());
  REQUIRE(loaded->ramp_states.size() == 2);
  CHECK(loaded->ramp_states[0].flag_key == "orders");
  CheckSame(loaded->ramp_states[0], State());
  CHECK(loaded->ramp_states[1].flag_key == "payments");
  CHECK(loaded->ramp_states[1].phase == RampPhase::kPaused);
  REQUIRE(loaded->flags.size() == 1);
  CheckSame(*loaded->flags[0].flag.ramp, Plan());
}

}  // namespace
}  // namespace cutover
