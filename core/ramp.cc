#include "core/ramp.h"

#include <algorithm>
#include <cmath>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "core/gates.h"

namespace cutover {
namespace {

double Ratio(uint64_t part, uint64_t whole) {
  return whole == 0 ? 0.0
                    : static_cast<double>(part) / static_cast<double>(whole);
}

uint64_t Total(const LatencyBuckets& buckets) {
  uint64_t total = 0;
  for (uint64_t n : buckets) total += n;
  return total;
}

// A figure as the lines show it: up to 6 significant digits.
std::string Figure(double value) { return absl::StrFormat("%.6g", value); }

// The lines of the checks with `verdict`, joined.
std::string Lines(const RampAnalysis& analysis, RampVerdict verdict) {
  std::vector<std::string> lines;
  for (const RampCheckResult& result : analysis.checks) {
    if (result.verdict == verdict) lines.push_back(result.line);
  }
  return absl::StrJoin(lines, "; ");
}

// A PromQL check: one sample when Prometheus answered a number (NaN is
// none), the threshold a maximum or a minimum.
RampCheckResult EvaluatePromqlCheck(const RampCheck& check,
                                    const RampFigures& figures,
                                    RampCheckResult& result) {
  const std::string query = absl::StrCat("(", check.promql, ")");
  if (!figures.promql_value.has_value() || std::isnan(*figures.promql_value)) {
    result.verdict = RampVerdict::kInconclusive;
    result.line = absl::StrCat(
        "promql ", query, " inconclusive: ",
        figures.promql_value.has_value()
            ? std::string("the value is NaN")
            : (figures.promql_problem.empty() ? std::string("no answer")
                                              : figures.promql_problem));
    return result;
  }
  result.samples = 1;
  result.figure = *figures.promql_value;
  const bool minimum = check.bound == RampBound::kMin;
  const bool breach = minimum ? result.figure < check.threshold
                              : result.figure > check.threshold;
  result.verdict = breach ? RampVerdict::kBreach : RampVerdict::kPass;
  result.line = absl::StrCat(
      "promql ", query, " = ", Figure(result.figure), " ",
      minimum ? (breach ? "< " : ">= ") : (breach ? "> " : "<= "),
      Figure(check.threshold));
  return result;
}

}  // namespace

const char* RampPhaseName(RampPhase phase) {
  switch (phase) {
    case RampPhase::kNotStarted:
      return "not_started";
    case RampPhase::kRunning:
      return "running";
    case RampPhase::kWaiting:
      return "waiting";
    case RampPhase::kPaused:
      return "paused";
    case RampPhase::kCompleted:
      return "completed";
    case RampPhase::kAborted:
      return "aborted";
    case RampPhase::kRolledBack:
      return "rolled_back";
  }
  return "not_started";
}

const char* RampVerdictName(RampVerdict verdict) {
  switch (verdict) {
    case RampVerdict::kPass:
      return "pass";
    case RampVerdict::kBreach:
      return "breach";
    case RampVerdict::kInconclusive:
      return "inconclusive";
    case RampVerdict::kUnspecified:
      break;
  }
  return "unspecified";
}

const char* RampCheckName(RampCheckKind kind) {
  switch (kind) {
    case RampCheckKind::kMismatchRate:
      return "mismatch_rate";
    case RampCheckKind::kNewErrorRate:
      return "new_error_rate";
    case RampCheckKind::kErrorRateDelta:
      return "error_rate_delta";
    case RampCheckKind::kP99LatencyRatio:
      return "p99_latency_ratio";
    case RampCheckKind::kPromql:
      return "promql";
    case RampCheckKind::kUnspecified:
      break;
  }
  return "unspecified";
}

RampCheckResult EvaluateCheck(const RampCheck& check,
                              const RampFigures& figures) {
  RampCheckResult result;
  result.check = check;
  // What the figure is, and what its samples are called, for the line.
  std::string detail;
  std::string samples_are;
  const uint64_t new_ops = figures.new_ok + figures.new_errors;
  const uint64_t old_ops = figures.old_ok + figures.old_errors;
  switch (check.kind) {
    case RampCheckKind::kMismatchRate:
      result.samples = figures.compared;
      result.figure = Ratio(figures.mismatches, figures.compared);
      samples_are = "compared reads";
      detail = absl::StrCat(figures.mismatches, " of ", figures.compared,
                            " compared reads");
      break;
    case RampCheckKind::kNewErrorRate:
      result.samples = new_ops;
      result.figure = Ratio(figures.new_errors, new_ops);
      samples_are = "operations on new";
      detail = absl::StrCat(figures.new_errors, " of ", new_ops,
                            " operations on new failed");
      break;
    case RampCheckKind::kErrorRateDelta: {
      result.samples = std::min(new_ops, old_ops);
      const double new_rate = Ratio(figures.new_errors, new_ops);
      const double old_rate = Ratio(figures.old_errors, old_ops);
      result.figure = new_rate - old_rate;
      samples_are = "operations on the database with fewer";
      detail = absl::StrCat("new ", Figure(new_rate), " of ", new_ops,
                            ", old ", Figure(old_rate), " of ", old_ops);
      break;
    }
    case RampCheckKind::kP99LatencyRatio: {
      const uint64_t new_timed = Total(figures.new_latency);
      const uint64_t old_timed = Total(figures.old_latency);
      result.samples = std::min(new_timed, old_timed);
      const double new_p99 = LatencyPercentileSeconds(figures.new_latency, 0.99);
      const double old_p99 = LatencyPercentileSeconds(figures.old_latency, 0.99);
      result.figure = old_p99 > 0 ? new_p99 / old_p99 : 0;
      samples_are = "timed operations on the database with fewer";
      detail = absl::StrCat("p99 new ", Figure(new_p99), " s over old ",
                            Figure(old_p99), " s");
      break;
    }
    case RampCheckKind::kPromql:
      return EvaluatePromqlCheck(check, figures, result);
    case RampCheckKind::kUnspecified:
      result.verdict = RampVerdict::kInconclusive;
      result.line = "unspecified check: inconclusive";
      return result;
  }
  const char* name = RampCheckName(check.kind);
  const uint64_t needed =
      static_cast<uint64_t>(std::max<int64_t>(1, check.min_samples));
  if (result.samples < needed) {
    result.verdict = RampVerdict::kInconclusive;
    result.figure = result.samples == 0 ? 0 : result.figure;
    result.line = absl::StrCat(
        name, " inconclusive: ", result.samples, " ", samples_are, " in ",
        figures.window_seconds, " s, fewer than ", needed,
        result.samples == 0 ? " (no data)" : "");
    return result;
  }
  const bool breach = result.figure > check.threshold;
  result.verdict = breach ? RampVerdict::kBreach : RampVerdict::kPass;
  result.line = absl::StrCat(name, " ", Figure(result.figure), " (", detail,
                             " in ", figures.window_seconds, " s) ",
                             breach ? "> " : "<= ", Figure(check.threshold));
  return result;
}

RampAnalysis Analyse(const RampPlan& plan, const RampFigures& figures,
                     absl::Time now) {
  RampAnalysis analysis;
  analysis.time = now;
  bool breach = false;
  bool inconclusive = false;
  for (const RampCheck& check : plan.checks) {
    RampCheckResult result = EvaluateCheck(check, figures);
    breach = breach || result.verdict == RampVerdict::kBreach;
    inconclusive = inconclusive || result.verdict == RampVerdict::kInconclusive;
    analysis.checks.push_back(std::move(result));
  }
  analysis.verdict = breach         ? RampVerdict::kBreach
                     : inconclusive ? RampVerdict::kInconclusive
                                    : RampVerdict::kPass;
  return analysis;
}

const RampCheck* FindRampCheck(const RampPlan& plan, RampCheckKind kind) {
  for (const RampCheck& check : plan.checks) {
    if (check.kind == kind) return &check;
  }
  return nullptr;
}

absl::Duration StepHold(const RampPlan& plan, int step) {
  int64_t seconds = plan.hold_seconds;
  if (step >= 0 && step < static_cast<int>(plan.steps.size()) &&
      plan.steps[static_cast<size_t>(step)].hold_seconds > 0) {
    seconds = plan.steps[static_cast<size_t>(step)].hold_seconds;
  }
  return absl::Seconds(seconds);
}

absl::Duration InconclusiveLimit(const RampPlan& plan) {
  if (plan.inconclusive_limit_seconds > 0) {
    return absl::Seconds(plan.inconclusive_limit_seconds);
  }
  return absl::Seconds(10 * plan.interval_seconds);
}

RampDecision DecideRamp(const RampPlan& plan, const RampProgress& progress,
                        const RampFigures& figures, absl::Time now) {
  RampDecision decision;
  decision.analysis = Analyse(plan, figures, now);
  switch (decision.analysis.verdict) {
    case RampVerdict::kBreach:
      decision.move = RampMove::kBreach;
      decision.inconclusive_since = progress.inconclusive_since;
      decision.reason =
          absl::StrCat("breach: ", Lines(decision.analysis, RampVerdict::kBreach));
      return decision;
    case RampVerdict::kInconclusive: {
      const absl::Time since = progress.inconclusive_since.value_or(now);
      decision.inconclusive_since = since;
      const std::string lines =
          Lines(decision.analysis, RampVerdict::kInconclusive);
      if (now - since >= InconclusiveLimit(plan)) {
        decision.move = RampMove::kPauseInconclusive;
        decision.reason = absl::StrCat(
            "inconclusive for ", absl::FormatDuration(now - since),
            " (limit ", absl::FormatDuration(InconclusiveLimit(plan)),
            "): ", lines);
      } else {
        decision.move = RampMove::kWait;
        decision.reason = absl::StrCat("waiting for data: ", lines);
      }
      return decision;
    }
    default:
      break;
  }
  decision.inconclusive_since.reset();
  const std::string passed = Lines(decision.analysis, RampVerdict::kPass);
  if (progress.step >= 0 &&
      now - progress.step_started < StepHold(plan, progress.step)) {
    decision.move = RampMove::kWait;
    return decision;
  }
  const bool last =
      progress.step + 1 >= static_cast<int>(plan.steps.size());
  decision.move = last ? RampMove::kComplete : RampMove::kAdvance;
  decision.reason = absl::StrCat(
      "held ", absl::FormatDuration(StepHold(plan, progress.step)),
      passed.empty() ? " (no checks)" : absl::StrCat(": ", passed));
  return decision;
}

int StepAtOrBehind(const RampPlan& plan, const Serve& serve) {
  int found = -1;
  for (size_t i = 0; i < plan.steps.size(); ++i) {
    bool behind = true;
    for (int s = static_cast<int>(kFirstStage);
         s <= static_cast<int>(kLastStage) && behind; ++s) {
      const Stage stage = static_cast<Stage>(s);
      behind = ShareAtOrBeyond(plan.steps[i].serve, stage) <=
               ShareAtOrBeyond(serve, stage);
    }
    if (behind) found = static_cast<int>(i);
  }
  return found;
}

std::string ServeSummary(const Serve& serve) {
  if (serve.stage.has_value()) return StageName(*serve.stage);
  if (!serve.rollout.has_value()) return "(none)";
  std::vector<Split> splits = serve.rollout->splits;
  std::sort(splits.begin(), splits.end(), [](const Split& a, const Split& b) {
    return a.stage > b.stage;
  });
  std::vector<std::string> parts;
  for (const Split& split : splits) {
    if (split.weight == 0) continue;
    parts.push_back(absl::StrCat(
        StageName(split.stage), " ",
        absl::StrFormat("%g", static_cast<double>(split.weight) / 1000.0),
        "%"));
  }
  return absl::StrJoin(parts, ", ");
}

}  // namespace cutover
