// PrometheusMetrics' gauges of guarded ramps, read from the RampEngine at
// scrape time:
//   cutover_ramp_step{flag}                   the step in effect, 1-based
//                                             (0 before the first)
//   cutover_ramp_steps{flag}                  steps in the plan
//   cutover_ramp_state{flag,state}            1 for the ramp's state
//   cutover_ramp_check_value{flag,check}      the last analysis's figure
//   cutover_ramp_check_samples{flag,check}    ... and its samples
//   cutover_ramp_check_verdict{flag,check,verdict}  1 for its verdict
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "core/ramp.h"
#include "prometheus/collectable.h"
#include "prometheus/metric_family.h"
#include "server/prometheus_gauges.h"
#include "server/prometheus_metrics.h"
#include "server/ramp_engine.h"

namespace cutover {

using prometheus_gauges::AddSample;
using prometheus_gauges::GaugeFamily;

// Reads the engine's ramps when scraped; forgets the engine when told.
// Thread-safe.
class PrometheusMetrics::RampCollector final
    : public prometheus::Collectable {
 public:
  void Watch(const RampEngine* ramps) {
    absl::MutexLock lock(&mu_);
    ramps_ = ramps;
  }

  std::vector<prometheus::MetricFamily> Collect() const override {
    absl::MutexLock lock(&mu_);
    if (ramps_ == nullptr) return {};
    auto step = GaugeFamily("cutover_ramp_step",
                      "The step a flag's guarded ramp is in, 1-based (0 "
                      "before the first).");
    auto steps =
        GaugeFamily("cutover_ramp_steps", "Steps in the flag's ramp plan.");
    auto state = GaugeFamily("cutover_ramp_state",
                       "1 for the state the flag's ramp is in (not_started, "
                       "running, waiting, paused, completed, aborted, "
                       "rolled_back), 0 for the others.");
    auto value = GaugeFamily("cutover_ramp_check_value",
                       "The figure of the ramp check in its last analysis.");
    auto samples = GaugeFamily("cutover_ramp_check_samples",
                         "The samples of the ramp check in its last analysis.");
    auto verdict = GaugeFamily("cutover_ramp_check_verdict",
                         "1 for the verdict of the ramp check in its last "
                         "analysis (pass, breach, inconclusive), 0 for the "
                         "others.");
    for (const RampStatusRecord& ramp : ramps_->List()) {
      const std::string& flag = ramp.state.flag_key;
      AddSample(step, {{"flag", flag}}, ramp.state.step + 1);
      AddSample(steps, {{"flag", flag}},
          ramp.plan ? static_cast<double>(ramp.plan->steps.size()) : 0);
      for (RampPhase phase : kRampPhases) {
        AddSample(state, {{"flag", flag}, {"state", RampPhaseName(phase)}},
            ramp.state.phase == phase ? 1 : 0);
      }
      for (const RampCheckResult& result : ramp.state.last_analysis.checks) {
        const std::string check = RampCheckName(result.check.kind);
        AddSample(value, {{"flag", flag}, {"check", check}}, result.figure);
        AddSample(samples, {{"flag", flag}, {"check", check}},
            static_cast<double>(result.samples));
        for (RampVerdict v : {RampVerdict::kPass, RampVerdict::kBreach,
                              RampVerdict::kInconclusive}) {
          AddSample(verdict,
              {{"flag", flag}, {"check", check}, {"verdict", RampVerdictName(v)}},
              result.verdict == v ? 1 : 0);
        }
      }
    }
    return {std::move(step), std::move(steps), std::move(state),
            std::move(value), std::move(samples), std::move(verdict)};
  }

 private:
  mutable absl::Mutex mu_;
  const RampEngine* ramps_ ABSL_GUARDED_BY(mu_) = nullptr;
};

void PrometheusMetrics::WatchRamps(const RampEngine* ramps) {
  if (ramps_ == nullptr) ramps_ = std::make_shared<RampCollector>();
  ramps_->Watch(ramps);
}

std::shared_ptr<prometheus::Collectable> PrometheusMetrics::RampsCollectable()
    const {
  return ramps_;
}

void PrometheusMetrics::ForgetRamps() {
  if (ramps_ != nullptr) ramps_->Watch(nullptr);
}

}  // namespace cutover
