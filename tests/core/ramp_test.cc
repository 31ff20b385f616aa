// Tests of the guarded-ramp decision (core/ramp.h): each check's verdict
// and line, and what DecideRamp does with a plan, a position, figures and
// the time: advance only after the hold with every check passing, breach
// at once, wait on too few samples and pause past the limit, never
// advance while inconclusive.
#include "core/ramp.h"

#include <catch2/catch.hpp>

#include <cmath>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/time/time.h"
#include "core/evaluate.h"
#include "tests/core/flag_builders.h"

namespace cutover {
namespace {

const absl::Time kT0 = absl::FromUnixSeconds(1'800'000'000);

Serve LiveShare(uint32_t weight) {
  Serve serve;
  serve.rollout = Rollout{{{Stage::kLive, weight},
                           {Stage::kShadow, kTotalWeight - weight}}};
  return serve;
}

// live 1%, 5%, 100%; hold 60 s, interval 10 s, window 60 s, limit 30 s;
// mismatch rate <= 0.001 and new error rate <= 0.01, 100 samples each.
RampPlan Plan() {
  RampPlan plan;
  plan.steps = {{LiveShare(1000), 0}, {LiveShare(5000), 120},
                {StageServe(Stage::kLive), 0}};
  plan.hold_seconds = 60;
  plan.interval_seconds = 10;
  plan.window_seconds = 60;
  plan.inconclusive_limit_seconds = 30;
  plan.checks = {{RampCheckKind::kMismatchRate, 0.001, 100},
                 {RampCheckKind::kNewErrorRate, 0.01, 100}};
  return plan;
}

RampFigures Healthy() {
  RampFigures figures;
  figures.window_seconds = 60;
  figures.compared = 5000;
  figures.mismatches = 1;
  figures.new_ok = 1000;
  figures.new_errors = 2;
  figures.old_ok = 1000;
  return figures;
}

TEST_CASE("a check with enough samples passes at or under its threshold",
          "[ramp]") {
  const RampCheckResult result =
      EvaluateCheck({RampCheckKind::kMismatchRate, 0.001, 100}, Healthy());
  CHECK(result.verdict == RampVerdict::kPass);
  CHECK(result.samples == 5000);
  CHECK(result.figure == Approx(0.0002));
  CHECK(result.line ==
        "mismatch_rate 0.0002 (1 of 5000 compared reads in 60 s) <= 0.001");
}

TEST_CASE("a check over its threshold with enough samples is a breach",
          "[ramp]") {
  RampFigures figures = Healthy();
  figures.mismatches = 50;
  const RampCheckResult result =
      EvaluateCheck({RampCheckKind::kMismatchRate, 0.001, 100}, figures);
  CHECK(result.verdict == RampVerdict::kBreach);
  CHECK(result.line ==
        "mismatch_rate 0.01 (50 of 5000 compared reads in 60 s) > 0.001");
}

TEST_CASE("too few samples, or none, is inconclusive, never pass or breach",
          "[ramp]") {
  RampFigures figures;
  figures.window_seconds = 60;
  figures.compared = 10;
  figures.mismatches = 10;  // a rate of 1, but only 10 samples
  RampCheckResult few =
      EvaluateCheck({RampCheckKind::kMismatchRate, 0.001, 100}, figures);
  CHECK(few.verdict == RampVerdict::kInconclusive);
  CHECK(few.line ==
        "mismatch_rate inconclusive: 10 compared reads in 60 s, fewer than "
        "100");
  // min_samples 0 still needs one sample: no data is not a pass.
  RampFigures empty;
  empty.window_seconds = 60;
  RampCheckResult none =
      EvaluateCheck({RampCheckKind::kNewErrorRate, 0.5, 0}, empty);
  CHECK(none.verdict == RampVerdict::kInconclusive);
  CHECK(absl::EndsWith(none.line, "(no data)"));
}

TEST_CASE("error rate delta and p99 ratio compare new with old", "[ramp]") {
  RampFigures figures = Healthy();
  figures.new_ok = 900;
  figures.new_errors = 100;  // 10%
  figures.old_ok = 990;
  figures.old_errors = 10;  // 1%
  const RampCheckResult delta =
      EvaluateCheck({RampCheckKind::kErrorRateDelta, 0.05, 100}, figures);
  CHECK(delta.figure == Approx(0.09));
  CHECK(delta.verdict == RampVerdict::kBreach);
  figures.new_latency[12] = 1000;  // ~4 ms
  figures.old_latency[10] = 1000;  // ~1 ms
  const RampCheckResult p99 =
      EvaluateCheck({RampCheckKind::kP99LatencyRatio, 2, 100}, figures);
  CHECK(p99.samples == 1000);
  CHECK(p99.figure == Approx(4.0));
  CHECK(p99.verdict == RampVerdict::kBreach);
  // Old without timings: nothing to compare with.
  figures.old_latency = {};
  CHECK(EvaluateCheck({RampCheckKind::kP99LatencyRatio, 2, 100}, figures)
            .verdict == RampVerdict::kInconclusive);
}

TEST_CASE("a passing ramp waits for its hold, then advances", "[ramp]") {
  const RampPlan plan = Plan();
  const RampProgress at_first{0, kT0, std::nullopt};
  RampDecision early = DecideRamp(plan, at_first, Healthy(), kT0 + absl::Seconds(59));
  CHECK(early.move == RampMove::kWait);
  CHECK(early.analysis.verdict == RampVerdict::kPass);
  RampDecision held = DecideRamp(plan, at_first, Healthy(), kT0 + absl::Seconds(60));
  CHECK(held.move == RampMove::kAdvance);
  CHECK(absl::StartsWith(held.reason, "held 1m: mismatch_rate 0.0002"));
  // Step 2 holds its own 120 s.
  const RampProgress at_second{1, kT0, std::nullopt};
  CHECK(DecideRamp(plan, at_second, Healthy(), kT0 + absl::Seconds(100)).move ==
        RampMove::kWait);
  CHECK(DecideRamp(plan, at_second, Healthy(), kT0 + absl::Seconds(120)).move ==
        RampMove::kAdvance);
  // The last step held: complete.
  const RampProgress at_last{2, kT0, std::nullopt};
  CHECK(DecideRamp(plan, at_last, Healthy(), kT0 + absl::Seconds(60)).move ==
        RampMove::kComplete);
}

TEST_CASE("a breach acts at once, whatever the hold", "[ramp]") {
  RampFigures figures = Healthy();
  figures.new_errors = 500;
  const RampDecision d =
      DecideRamp(Plan(), RampProgress{0, kT0, std::nullopt}, figures,
                 kT0 + absl::Seconds(1));
  CHECK(d.move == RampMove::kBreach);
  CHECK(absl::StartsWith(d.reason, "breach: new_error_rate 0.333"));
}

TEST_CASE("inconclusive waits, then pauses past the limit, never advances",
          "[ramp]") {
  const RampPlan plan = Plan();
  RampFigures few = Healthy();
  few.compared = 20;  // mismatch_rate inconclusive; error rate passes
  // Long past the hold: still no advance.
  const absl::Time now = kT0 + absl::Seconds(600);
  RampDecision first =
      DecideRamp(plan, RampProgress{0, kT0, std::nullopt}, few, now);
  CHECK(first.move == RampMove::kWait);
  CHECK(first.analysis.verdict == RampVerdict::kInconclusive);
  REQUIRE(first.inconclusive_since.has_value());
  CHECK(*first.inconclusive_since == now);
  CHECK(absl::StrContains(first.reason, "20 compared reads in 60 s"));
  RampDecision later = DecideRamp(
      plan, RampProgress{0, kT0, now}, few, now + absl::Seconds(29));
  CHECK(later.move == RampMove::kWait);
  CHECK(*later.inconclusive_since == now);
  RampDecision limit = DecideRamp(
      plan, RampProgress{0, kT0, now}, few, now + absl::Seconds(30));
  CHECK(limit.move == RampMove::kPauseInconclusive);
  CHECK(absl::StartsWith(limit.reason, "inconclusive for 30s (limit 30s)"));
  // A pass clears it.
  RampDecision pass = DecideRamp(
      plan, RampProgress{0, kT0, now}, Healthy(), now + absl::Seconds(31));
  CHECK(pass.move == RampMove::kAdvance);
  CHECK_FALSE(pass.inconclusive_since.has_value());
}

TEST_CASE("the inconclusive limit defaults to ten intervals", "[ramp]") {
  RampPlan plan = Plan();
  plan.inconclusive_limit_seconds = 0;
  CHECK(InconclusiveLimit(plan) == absl::Seconds(100));
}

TEST_CASE("a plan without checks advances on time alone", "[ramp]") {
  RampPlan plan = Plan();
  plan.checks.clear();
  const RampDecision d = DecideRamp(plan, RampProgress{0, kT0, std::nullopt},
                                    RampFigures{}, kT0 + absl::Seconds(60));
  CHECK(d.move == RampMove::kAdvance);
  CHECK(d.reason == "held 1m (no checks)");
}

TEST_CASE("StepAtOrBehind finds where a serve stands in the plan", "[ramp]") {
  const RampPlan plan = Plan();
  CHECK(StepAtOrBehind(plan, StageServe(Stage::kShadow)) == -1);
  CHECK(StepAtOrBehind(plan, LiveShare(1000)) == 0);
  CHECK(StepAtOrBehind(plan, LiveShare(3000)) == 0);
  CHECK(StepAtOrBehind(plan, LiveShare(5000)) == 1);
  CHECK(StepAtOrBehind(plan, StageServe(Stage::kLive)) == 2);
  CHECK(StepAtOrBehind(plan, StageServe(Stage::kComplete)) == 2);
}

TEST_CASE("ServeSummary names shares from the most advanced stage",
          "[ramp]") {
  CHECK(ServeSummary(LiveShare(5000)) == "live 5%, shadow 95%");
  CHECK(ServeSummary(LiveShare(500)) == "live 0.5%, shadow 99.5%");
  CHECK(ServeSummary(StageServe(Stage::kComplete)) == "complete");
}

TEST_CASE("a flag's ramp plan is validated with the flag", "[ramp]") {
  Flag flag = FlagServing(StageServe(Stage::kShadow));
  flag.ramp = Plan();
  CHECK(ValidateFlag(flag).ok());
  struct Case {
    const char* name;
    void (*edit)(RampPlan&);
    const char* message;
  };
  const Case cases[] = {
      {"no steps", [](RampPlan& p) { p.steps.clear(); },
       "ramp.steps: 1 to 100 steps, got 0"},
      {"bad serve", [](RampPlan& p) { p.steps[1].serve = Serve(); },
       "ramp.steps[1].serve: exactly one of stage or rollout must be set"},
      {"interval 0", [](RampPlan& p) { p.interval_seconds = 0; },
       "ramp.interval_seconds: must be in [1, 86400] seconds, got 0"},
      {"window 0", [](RampPlan& p) { p.window_seconds = 0; },
       "ramp.window_seconds: must be in [1, 2592000] seconds, got 0"},
      {"negative hold", [](RampPlan& p) { p.hold_seconds = -1; },
       "ramp.hold_seconds: must be in [0, 2592000] seconds, got -1"},
      {"rate above 1", [](RampPlan& p) { p.checks[0].threshold = 2; },
       "ramp.checks[0].threshold: must be a number in [0, 1], got 2"},
      {"kind twice",
       [](RampPlan& p) { p.checks[1].kind = RampCheckKind::kMismatchRate; },
       "ramp.checks[1].kind: each check at most once"},
      {"no kind",
       [](RampPlan& p) { p.checks[0].kind = RampCheckKind::kUnspecified; },
       "ramp.checks[0].kind: required: mismatch_rate, new_error_rate, "
       "error_rate_delta, p99_latency_ratio or promql"},
      {"promql without a query",
       [](RampPlan& p) { p.checks[1] = {RampCheckKind::kPromql, 1, 0}; },
       "ramp.checks[1].promql: required for a promql check"},
      {"promql unbalanced",
       [](RampPlan& p) {
         p.checks[1] = {RampCheckKind::kPromql, 1, 0, "sum(rate(x[1m])"};
       },
       "ramp.checks[1].promql: brackets must pair up and quotes must close"},
      {"promql open quote",
       [](RampPlan& p) {
         p.checks[1] = {RampCheckKind::kPromql, 1, 0, "up{job=\"a}"};
       },
       "ramp.checks[1].promql: brackets must pair up and quotes must close"},
      {"promql threshold",
       [](RampPlan& p) {
         p.checks[1] = {RampCheckKind::kPromql, std::nan(""), 0, "up"};
       },
       "ramp.checks[1].threshold: must be a finite number, got nan"},
      {"promql min_samples",
       [](RampPlan& p) { p.checks[1] = {RampCheckKind::kPromql, 1, 5, "up"}; },
       "ramp.checks[1].min_samples: must be 0 for a promql check (its "
       "answer is one number), got 5"},
      {"query on another kind",
       [](RampPlan& p) { p.checks[0].promql = "up"; },
       "ramp.checks[0].promql: only for a promql check"},
      {"minimum on another kind",
       [](RampPlan& p) { p.checks[0].bound = RampBound::kMin; },
       "ramp.checks[0].bound: must be at_most (at_least is for a promql "
       "check only)"},
      {"ratio 0",
       [](RampPlan& p) {
         p.checks[0] = {RampCheckKind::kP99LatencyRatio, 0, 10};
       },
       "ramp.checks[0].threshold: must be a number > 0, got 0"},
      {"bad action",
       [](RampPlan& p) { p.on_breach = static_cast<BreachAction>(7); },
       "ramp.on_breach: must be pause or rollback"},
  };
  for (const Case& c : cases) {
    INFO(c.name);
    Flag bad = flag;
    c.edit(*bad.ramp);
    const absl::Status status = ValidateFlag(bad);
    CHECK(status.code() == absl::StatusCode::kInvalidArgument);
    CHECK(status.message() == c.message);
  }
  // A PromQL query with brackets inside quotes, and a minimum, is fine.
  Flag good = flag;
  good.ramp->checks[1] = {RampCheckKind::kPromql, 0.99, 0,
                          "min(up{job=~\"cut(over\"}) or vector(1)",
                          RampBound::kMin};
  CHECK(ValidateFlag(good).ok());
}

TEST_CASE("a PromQL check: a number passes or breaches by its bound, no "
          "number is inconclusive with the reason",
          "[ramp]") {
  const RampCheck max{RampCheckKind::kPromql, 1, 0, "sum(x)"};
  RampFigures figures;
  figures.promql_value = 0.5;
  RampCheckResult pass = EvaluateCheck(max, figures);
  CHECK(pass.verdict == RampVerdict::kPass);
  CHECK(pass.samples == 1);
  CHECK(pass.line == "promql (sum(x)) = 0.5 <= 1");
  figures.promql_value = 1.5;
  CHECK(EvaluateCheck(max, figures).verdict == RampVerdict::kBreach);
  const RampCheck min{RampCheckKind::kPromql, 1, 0, "sum(x)", RampBound::kMin};
  CHECK(EvaluateCheck(min, figures).verdict == RampVerdict::kPass);
  figures.promql_value = 0.5;
  RampCheckResult low = EvaluateCheck(min, figures);
  CHECK(low.verdict == RampVerdict::kBreach);
  CHECK(low.line == "promql (sum(x)) = 0.5 < 1");
  figures.promql_value = std::nan("");
  RampCheckResult nan = EvaluateCheck(max, figures);
  CHECK(nan.verdict == RampVerdict::kInconclusive);
  CHECK(nan.samples == 0);
  CHECK(nan.line == "promql (sum(x)) inconclusive: the value is NaN");
  figures.promql_value.reset();
  figures.promql_problem = "Prometheus unreachable: refused";
  CHECK(EvaluateCheck(max, figures).line ==
        "promql (sum(x)) inconclusive: Prometheus unreachable: refused");
  CHECK(EvaluateCheck(min, figures).verdict == RampVerdict::kInconclusive);
}

}  // namespace
}  // namespace cutover
