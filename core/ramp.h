// Guarded ramps, the decision: given a flag's ramp plan (core/model.h
// RampPlan), where its ramp is, the telemetry figures of the plan's window
// and the time, what the ramp does next. No I/O and no clock: the daemon's
// RampEngine (server/ramp_engine.h) reads the figures, asks DecideRamp, and
// carries the answer out.
//
//   RampFigures figures = ...;             // the window's reported ops
//   RampDecision d = DecideRamp(plan, progress, figures, now);
//   switch (d.move) { case RampMove::kAdvance: ... }
//
// The rules:
//   * each check has a verdict: inconclusive with fewer than
//     max(1, min_samples) samples (no data is never a pass nor a breach),
//     else breach when the figure is above its threshold (below it for a
//     minimum), else pass; a PromQL check has one sample when Prometheus
//     answered a number, none (inconclusive, with the problem) otherwise,
//     NaN included;
//   * any breach: kBreach, at once, whatever the hold;
//   * otherwise any inconclusive check: kWait, unless the analyses have
//     been inconclusive since at least the plan's inconclusive limit, then
//     kPauseInconclusive; an inconclusive ramp never advances;
//   * all pass: kAdvance (kComplete after the last step) once the step's
//     hold has passed since the step began, else kWait.
//
// Pure functions over plain data; thread-safe.
#ifndef CUTOVER_CORE_RAMP_H_
#define CUTOVER_CORE_RAMP_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "core/migration_ops.h"
#include "core/model.h"

namespace cutover {

// Where a ramp is; numbers as the API's RampState.
enum class RampPhase {
  kNotStarted = 0,
  kRunning = 1,
  kWaiting = 2,
  kPaused = 3,
  kCompleted = 4,
  kAborted = 5,
  kRolledBack = 6,
};
inline constexpr RampPhase kRampPhases[] = {
    RampPhase::kNotStarted, RampPhase::kRunning,   RampPhase::kWaiting,
    RampPhase::kPaused,     RampPhase::kCompleted, RampPhase::kAborted,
    RampPhase::kRolledBack};
// "not_started", "running", "waiting", "paused", "completed", "aborted",
// "rolled_back".
const char* RampPhaseName(RampPhase phase);
// Running or waiting: analysed every interval.
inline bool RampActive(RampPhase phase) {
  return phase == RampPhase::kRunning || phase == RampPhase::kWaiting;
}

// A check's verdict; numbers as the API's RampVerdict.
enum class RampVerdict {
  kUnspecified = 0,
  kPass = 1,
  kBreach = 2,
  kInconclusive = 3,
};
// "pass", "breach", "inconclusive"; "unspecified" otherwise.
const char* RampVerdictName(RampVerdict verdict);

// "mismatch_rate", "new_error_rate", "error_rate_delta",
// "p99_latency_ratio", "promql"; "unspecified" otherwise.
const char* RampCheckName(RampCheckKind kind);
inline constexpr RampCheckKind kRampCheckKinds[] = {
    RampCheckKind::kMismatchRate, RampCheckKind::kNewErrorRate,
    RampCheckKind::kErrorRateDelta, RampCheckKind::kP99LatencyRatio,
    RampCheckKind::kPromql};

// One flag's reported operations over a ramp's window: the compared reads,
// and the reads and writes (not repairs) on each database.
struct RampFigures {
  int64_t window_seconds = 0;
  uint64_t compared = 0;
  uint64_t mismatches = 0;
  uint64_t new_ok = 0;
  uint64_t new_errors = 0;
  uint64_t old_ok = 0;
  uint64_t old_errors = 0;
  LatencyBuckets new_latency{};
  LatencyBuckets old_latency{};
  // The answer to the plan's PromQL check (the daemon queries Prometheus):
  // its value, or unset with why there is none in promql_problem
  // ("Prometheus unreachable: ...", "empty result", ...).
  std::optional<double> promql_value;
  std::string promql_problem;
};

struct RampCheckResult {
  RampCheck check;
  double figure = 0;
  uint64_t samples = 0;
  RampVerdict verdict = RampVerdict::kUnspecified;
  // e.g. "mismatch_rate 0.0004 (2 of 5000 compared reads in 60 s) <=
  // 0.001", or "... inconclusive: 12 compared reads in 60 s, fewer than
  // 100".
  std::string line;
};

struct RampAnalysis {
  absl::Time time = absl::UnixEpoch();
  // Breach if any check breached, else inconclusive if any was, else pass
  // (also with no checks).
  RampVerdict verdict = RampVerdict::kUnspecified;
  std::vector<RampCheckResult> checks;  // in the plan's order
};

RampCheckResult EvaluateCheck(const RampCheck& check,
                              const RampFigures& figures);
RampAnalysis Analyse(const RampPlan& plan, const RampFigures& figures,
                     absl::Time now);

// Where a running ramp is, as DecideRamp needs it.
struct RampProgress {
  int step = -1;  // the step in effect; -1 before the first
  absl::Time step_started = absl::UnixEpoch();
  // Since when the analyses have been inconclusive; unset after a pass.
  std::optional<absl::Time> inconclusive_since;
};

enum class RampMove {
  kWait,                // hold (or inconclusive, within the limit)
  kAdvance,             // write step + 1
  kComplete,            // the last step held: the ramp is done
  kBreach,              // the plan's on_breach, now
  kPauseInconclusive,   // inconclusive past the limit
};

struct RampDecision {
  RampMove move = RampMove::kWait;
  RampAnalysis analysis;
  // What progress.inconclusive_since becomes.
  std::optional<absl::Time> inconclusive_since;
  // Why, in words: the breaching figures, why it waits, the figures that
  // allowed an advance.
  std::string reason;
};

RampDecision DecideRamp(const RampPlan& plan, const RampProgress& progress,
                        const RampFigures& figures, absl::Time now);

// The plan's check of `kind`, or nullptr.
const RampCheck* FindRampCheck(const RampPlan& plan, RampCheckKind kind);

// The hold of `step` (its own, else the plan's).
absl::Duration StepHold(const RampPlan& plan, int step);
// The plan's inconclusive limit (0 means 10 intervals).
absl::Duration InconclusiveLimit(const RampPlan& plan);

// The last step whose serve is at or behind `serve` (no stage is given a
// larger share by the step than by `serve`): where a ramp started or
// resumed on a flag serving `serve` stands. -1 if none.
int StepAtOrBehind(const RampPlan& plan, const Serve& serve);

// A serve in words: "live", "live 5%, shadow 95%".
std::string ServeSummary(const Serve& serve);

}  // namespace cutover

#endif  // CUTOVER_CORE_RAMP_H_
