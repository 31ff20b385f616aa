// The RampEngine in-process, on a real store and registry, with a fake
// clock and ticks called by the test (no thread, no sleeps): a step only
// after the hold with passing checks, each step one version by "ramp"; a
// person's write pauses; reopened, the engine resumes in the stored step
// and takes no step twice.
#include "server/ramp_engine.h"

#include <catch2/catch.hpp>

#include <atomic>
#include <cmath>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "server/flag_registry.h"
#include "server/op_aggregator.h"
#include "server/store.h"
#include "tests/integration/harness.h"

namespace cutover {
namespace {

using testing::TempDir;

const Caller kAlice{"alice", "10.0.0.1:50000"};

Serve LiveShare(uint32_t weight) {
  Serve serve;
  serve.rollout = Rollout{{{Stage::kLive, weight},
                           {Stage::kShadow, kTotalWeight - weight}}};
  return serve;
}

// A registry and engine on `dir`, with the telemetry window and the
// engine on the fake clock `now`; with `query_promql`, the daemon has a
// Prometheus that answers through it.
struct World {
  World(const std::string& dir, absl::Time* now,
        decltype(RampEngine::Options::query_promql) query_promql = nullptr) {
    OpAggregator::Options window;
    window.window = absl::Seconds(20);
    window.slots = 20;
    aggregator = std::make_unique<OpAggregator>(window, [now] { return *now; });
    absl::StatusOr<std::unique_ptr<Store>> store = Store::Open(dir);
    REQUIRE(store.ok());
    absl::StatusOr<std::unique_ptr<FlagRegistry>> opened = FlagRegistry::Open(
        *std::move(store), 100, nullptr, aggregator.get());
    REQUIRE(opened.ok());
    registry = *std::move(opened);
    RampEngine::Options options;
    options.clock = [now] { return *now; };
    if (query_promql) {
      registry->AllowPromqlChecks();
      options.query_promql = std::move(query_promql);
    }
    engine = std::make_unique<RampEngine>(registry.get(), aggregator.get(),
                                          options);
  }

  // `matches` compared reads of orders now.
  void Compared(uint64_t matches) {
    OpCount count;
    count.flag_key = "orders";
    count.stage = Stage::kLive;
    count.origin = Origin::kNew;
    count.result = OpResult::kMatch;
    count.count = matches;
    REQUIRE(aggregator->Add(count));
  }

  FlagRecord Flag() {
    absl::StatusOr<FlagRecord> flag = registry->GetFlag("orders");
    REQUIRE(flag.ok());
    return *flag;
  }

  RampStatusRecord Status() {
    absl::StatusOr<RampStatusRecord> status = engine->Status("orders");
    REQUIRE(status.ok());
    return *status;
  }

  std::unique_ptr<OpAggregator> aggregator;
  std::unique_ptr<FlagRegistry> registry;
  std::unique_ptr<RampEngine> engine;
};

// orders at shadow with a plan: live 10%, 50%, 100%; hold 10 s, interval
// 1 s, window 5 s; mismatch rate <= 0.01 over at least 10 compared reads,
// or the checks `checks`.
void CreateOrders(World& world,
                  std::vector<RampCheck> checks = {
                      {RampCheckKind::kMismatchRate, 0.01, 10}}) {
  CreateFlagCommand create;
  create.flag.flag.key = "orders";
  create.flag.flag.old_target = "pg";
  create.flag.flag.new_target = "dynamo";
  create.flag.flag.enabled = true;
  create.flag.flag.default_serve.stage = Stage::kShadow;
  create.options.force = true;
  REQUIRE(world.registry->CreateFlag(create, kAlice).ok());
  RampPlan plan;
  Serve live;
  live.stage = Stage::kLive;
  plan.steps = {{LiveShare(10000), 0}, {LiveShare(50000), 0}, {live, 0}};
  plan.hold_seconds = 10;
  plan.interval_seconds = 1;
  plan.window_seconds = 5;
  plan.checks = std::move(checks);
  plan.inconclusive_limit_seconds = 5;
  SetRampPlanCommand set;
  set.key = "orders";
  set.plan = plan;
  REQUIRE(world.registry->SetRampPlan(set, kAlice).ok());
}

TEST_CASE("RampEngine: steps after the hold, one version each, and "
          "resumes in its stored step after a restart",
          "[ramp]") {
  TempDir dir;
  absl::Time now = absl::FromUnixSeconds(1'800'000'000);
  int64_t started_version = 0;
  {
    World world(dir.path(), &now);
    CreateOrders(world);
    absl::StatusOr<RampStatusRecord> started = world.engine->Control(
        "orders", RampControl::kStart, "go", kAlice);
    REQUIRE(started.ok());
    CHECK(started->state.phase == RampPhase::kRunning);
    CHECK(started->state.step == 0);
    started_version = world.Flag().flag.version;
    CHECK(ServeSummary(world.Flag().flag.default_serve) ==
          "live 10%, shadow 90%");

    // Within the hold: analysed, never advanced.
    for (int second = 1; second < 10; ++second) {
      now += absl::Seconds(1);
      world.Compared(100);
      world.engine->Tick();
      INFO("second " << second);
      REQUIRE(world.Status().state.step == 0);
      CHECK(world.Status().state.phase == RampPhase::kRunning);
    }
    CHECK(world.Flag().flag.version == started_version);
    // The hold is over: one step, by "ramp", with the figures.
    now += absl::Seconds(1);
    world.Compared(100);
    world.engine->Tick();
    const RampStatusRecord second = world.Status();
    CHECK(second.state.step == 1);
    CHECK(world.Flag().flag.version == started_version + 1);
    CHECK(world.Flag().last_change.actor == "ramp");
    absl::StatusOr<std::vector<HistoryRecord>> history =
        world.registry->History("orders", false, 1);
    REQUIRE(history.ok());
    CHECK((*history)[0].action == "ramp-step");
    CHECK(absl::StrContains((*history)[0].comment,
                            "step 2 of 3 (live 50%, shadow 50%): held 10s: "
                            "mismatch_rate 0 ("));
    // Ticking again at once takes nothing (not due, and the hold restarts).
    world.engine->Tick();
    CHECK(world.Flag().flag.version == started_version + 1);
  }

  // Reopened (as after a crash: the engine never stopped its ramp), five
  // seconds later: the same step, the hold counted from the stored start.
  now += absl::Seconds(5);
  World world(dir.path(), &now);
  CHECK(world.Status().state.step == 1);
  CHECK(world.Status().state.phase == RampPhase::kRunning);
  world.Compared(100);
  world.engine->Tick();
  CHECK(world.Status().state.step == 1);  // 5 s of 10 held
  now += absl::Seconds(5);
  world.Compared(100);
  world.engine->Tick();
  CHECK(world.Status().state.step == 2);
  CHECK(world.Flag().flag.version == started_version + 2);
  CHECK(world.Flag().flag.default_serve.stage == Stage::kLive);
  // The last step held: completed, no further write.
  now += absl::Seconds(10);
  world.Compared(100);
  world.engine->Tick();
  CHECK(world.Status().state.phase == RampPhase::kCompleted);
  CHECK(world.Flag().flag.version == started_version + 2);
}

TEST_CASE("RampEngine: a person's write pauses the ramp at the next tick",
          "[ramp]") {
  TempDir dir;
  absl::Time now = absl::FromUnixSeconds(1'800'000'000);
  World world(dir.path(), &now);
  CreateOrders(world);
  REQUIRE(world.engine->Control("orders", RampControl::kStart, "", kAlice)
              .ok());
  SetRolloutCommand rollout;
  rollout.key = "orders";
  rollout.rollout = *LiveShare(20000).rollout;
  REQUIRE(world.registry->SetRollout(rollout, Caller{"bob", "peer"}).ok());
  const int64_t version = world.Flag().flag.version;
  now += absl::Seconds(1);
  world.engine->Tick();
  const RampStatusRecord paused = world.Status();
  CHECK(paused.state.phase == RampPhase::kPaused);
  CHECK(absl::StartsWith(paused.state.reason, "the flag was changed by bob"));
  // Paused: ticks change nothing, whatever the figures.
  now += absl::Seconds(60);
  world.Compared(1000);
  world.engine->Tick();
  CHECK(world.Flag().flag.version == version);
  // Controls that do not apply are FAILED_PRECONDITION naming the state.
  absl::StatusOr<RampStatusRecord> pause =
      world.engine->Control("orders", RampControl::kPause, "", kAlice);
  CHECK(pause.status().code() == absl::StatusCode::kFailedPrecondition);
  CHECK(absl::StrContains(pause.status().message(), "is paused"));
  CHECK(world.engine->Control("orders", RampControl::kUnspecified, "", kAlice)
            .status()
            .code() == absl::StatusCode::kInvalidArgument);
  CHECK(world.engine->Control("nope", RampControl::kStart, "", kAlice)
            .status()
            .code() == absl::StatusCode::kNotFound);
}


// A PromQL check over what the fake Prometheus answers: `answer`.
RampCheck PromqlCheck(double threshold, RampBound bound) {
  RampCheck check;
  check.kind = RampCheckKind::kPromql;
  check.promql = "sum(rate(errors_total[1m]))";
  check.threshold = threshold;
  check.bound = bound;
  return check;
}

TEST_CASE("RampEngine: a PromQL check passes, breaches with its figure, "
          "and without a number is inconclusive, then paused, never passed",
          "[ramp][promql]") {
  TempDir dir;
  absl::Time now = absl::FromUnixSeconds(1'800'000'000);
  absl::StatusOr<double> answer = 0.5;
  std::vector<std::string> asked;
  World world(dir.path(), &now,
              [&](const std::string& promql, const std::atomic<bool>&) {
                asked.push_back(promql);
                return answer;
              });
  CreateOrders(world, {PromqlCheck(1, RampBound::kMax)});
  REQUIRE(world.engine->Control("orders", RampControl::kStart, "", kAlice)
              .ok());
  const int64_t started = world.Flag().flag.version;
  // A passing figure for the whole hold: the next step, with the figure.
  for (int second = 1; second <= 10; ++second) {
    now += absl::Seconds(1);
    world.engine->Tick();
  }
  CHECK(asked.size() == 10);
  CHECK(asked.back() == "sum(rate(errors_total[1m]))");
  REQUIRE(world.Status().state.step == 1);
  absl::StatusOr<std::vector<HistoryRecord>> history =
      world.registry->History("orders", false, 1);
  REQUIRE(history.ok());
  CHECK(absl::StrContains((*history)[0].comment,
                          "promql (sum(rate(errors_total[1m]))) = 0.5 <= 1"));

  SECTION("over the maximum: paused at once, the figure in the reason") {
    answer = 3;
    now += absl::Seconds(1);
    world.engine->Tick();
    const RampStatusRecord status = world.Status();
    CHECK(status.state.phase == RampPhase::kPaused);
    CHECK(status.state.reason ==
          "breach: promql (sum(rate(errors_total[1m]))) = 3 > 1");
    REQUIRE(status.state.last_analysis.checks.size() == 1);
    CHECK(status.state.last_analysis.checks[0].figure == 3);
    CHECK(status.state.last_analysis.checks[0].verdict ==
          RampVerdict::kBreach);
  }
  for (const auto& [problem, reason] :
       std::vector<std::pair<absl::StatusOr<double>, std::string>>{
           {absl::UnavailableError("Prometheus unreachable: refused"),
            "Prometheus unreachable: refused"},
           {absl::UnavailableError("empty result (no series)"),
            "empty result (no series)"},
           {std::nan(""), "the value is NaN"}}) {
    DYNAMIC_SECTION("no number: " << reason) {
      answer = problem;
      // Inconclusive for the limit (5 s), past the hold: waits, never
      // advances, then pauses saying why.
      for (int second = 1; second <= 4; ++second) {
        now += absl::Seconds(1);
        world.engine->Tick();
        const RampStatusRecord status = world.Status();
        INFO("second " << second);
        CHECK(status.state.phase == RampPhase::kWaiting);
        CHECK(status.state.reason ==
              absl::StrCat("waiting for data: promql "
                           "(sum(rate(errors_total[1m]))) inconclusive: ",
                           reason));
      }
      now += absl::Seconds(10);
      world.engine->Tick();
      const RampStatusRecord paused = world.Status();
      CHECK(paused.state.phase == RampPhase::kPaused);
      CHECK(absl::StartsWith(paused.state.reason, "inconclusive for "));
      CHECK(absl::StrContains(paused.state.reason, reason));
      CHECK(paused.state.step == 1);
      CHECK(world.Flag().flag.version == started + 1);
    }
  }
}

TEST_CASE("RampEngine: a PromQL minimum breaches below it", "[ramp][promql]") {
  TempDir dir;
  absl::Time now = absl::FromUnixSeconds(1'800'000'000);
  World world(dir.path(), &now,
              [](const std::string&, const std::atomic<bool>&) {
                return absl::StatusOr<double>(0.9);
              });
  CreateOrders(world, {PromqlCheck(0.99, RampBound::kMin)});
  REQUIRE(world.engine->Control("orders", RampControl::kStart, "", kAlice)
              .ok());
  now += absl::Seconds(1);
  world.engine->Tick();
  CHECK(world.Status().state.phase == RampPhase::kPaused);
  CHECK(world.Status().state.reason ==
        "breach: promql (sum(rate(errors_total[1m]))) = 0.9 < 0.99");
}

TEST_CASE("RampEngine: a PromQL check on a daemon without Prometheus is "
          "refused naming the field",
          "[ramp][promql]") {
  TempDir dir;
  absl::Time now = absl::FromUnixSeconds(1'800'000'000);
  World world(dir.path(), &now);
  CreateOrders(world);
  const int64_t version = world.Flag().flag.version;
  SetRampPlanCommand set;
  set.key = "orders";
  set.plan = *world.Flag().flag.ramp;
  set.plan->checks.push_back(PromqlCheck(1, RampBound::kMax));
  absl::StatusOr<FlagRecord> refused =
      world.registry->SetRampPlan(set, kAlice);
  CHECK(refused.status().code() == absl::StatusCode::kInvalidArgument);
  CHECK(absl::StartsWith(refused.status().message(),
                         "ramp.checks[1].promql: the daemon has no "
                         "Prometheus"));
  CHECK(world.Flag().flag.version == version);
}

TEST_CASE("RampEngine: Prometheus is asked with no lock held, and Stop "
          "cancels a query in flight",
          "[ramp][promql]") {
  TempDir dir;
  absl::Time now = absl::FromUnixSeconds(1'800'000'000);
  absl::Notification asking;
  std::atomic<bool> control_done{false};
  std::atomic<bool> saw_control_while_asking{false};
  std::atomic<bool> saw_cancel{false};
  std::atomic<int> calls{0};
  World world(dir.path(), &now,
              [&](const std::string&, const std::atomic<bool>& cancelled) {
                if (calls++ > 0) return absl::StatusOr<double>(0.0);
                asking.Notify();
                // Bounded waits: a control that cannot finish meanwhile
                // leaves saw_control_while_asking false.
                const absl::Time deadline = absl::Now() + absl::Seconds(30);
                while (!control_done && absl::Now() < deadline) {
                  absl::SleepFor(absl::Milliseconds(10));
                }
                saw_control_while_asking = control_done.load();
                while (!cancelled && absl::Now() < deadline) {
                  absl::SleepFor(absl::Milliseconds(10));
                }
                saw_cancel = cancelled.load();
                return absl::StatusOr<double>(
                    absl::CancelledError("cancelled"));
              });
  CreateOrders(world, {PromqlCheck(1, RampBound::kMax)});
  REQUIRE(world.engine->Control("orders", RampControl::kStart, "", kAlice)
              .ok());
  now += absl::Seconds(1);
  world.engine->Start();
  REQUIRE(asking.WaitForNotificationWithTimeout(absl::Seconds(30)));
  // The query is in flight: a control and a flag read go through.
  absl::StatusOr<RampStatusRecord> paused =
      world.engine->Control("orders", RampControl::kPause, "", kAlice);
  CHECK(paused.ok());
  CHECK(world.registry->GetFlag("orders").ok());
  control_done = true;
  world.engine->Stop();
  CHECK(saw_control_while_asking);
  CHECK(saw_cancel);
  CHECK(world.Status().state.phase == RampPhase::kPaused);
}

}  // namespace
}  // namespace cutover
