// The storage codec of guarded ramps: a flag's ramp plan (inside its
// storage.v1.Flag) and the `ramps` family's RampState values.
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "convert/proto_time.h"
#include "cutover/storage/v1/storage.pb.h"
#include "server/storage_codec.h"
#include "server/storage_codec_internal.h"

namespace cutover {
namespace {

namespace disk = storage::v1;

// An enum from its stored number, or `fallback` outside [first, last].
template <typename E>
E EnumOr(int n, int first, int last, E fallback) {
  return (n >= first && n <= last) ? static_cast<E>(n) : fallback;
}

void ToDisk(const RampCheck& check, disk::RampCheck* out) {
  out->set_kind(static_cast<int>(check.kind));
  out->set_threshold(check.threshold);
  out->set_min_samples(check.min_samples);
  out->set_promql(check.promql);
  out->set_bound(static_cast<int>(check.bound));
}

RampCheck FromDisk(const disk::RampCheck& check) {
  RampCheck out;
  out.kind = EnumOr(check.kind(), 1, 5, RampCheckKind::kUnspecified);
  out.threshold = check.threshold();
  out.min_samples = check.min_samples();
  out.promql = check.promql();
  out.bound = EnumOr(check.bound(), 0, 1, RampBound::kMax);
  return out;
}

}  // namespace

namespace storage_internal {

void RampPlanToDisk(const RampPlan& plan, disk::RampPlan* out) {
  for (const RampStep& step : plan.steps) {
    disk::RampStep* s = out->add_steps();
    ServeToDisk(step.serve, s->mutable_serve());
    s->set_hold_seconds(step.hold_seconds);
  }
  out->set_hold_seconds(plan.hold_seconds);
  out->set_interval_seconds(plan.interval_seconds);
  out->set_window_seconds(plan.window_seconds);
  out->set_on_breach(static_cast<int>(plan.on_breach));
  out->set_inconclusive_limit_seconds(plan.inconclusive_limit_seconds);
  for (const RampCheck& check : plan.checks) ToDisk(check, out->add_checks());
}

RampPlan RampPlanFromDisk(const disk::RampPlan& plan) {
  RampPlan out;
  for (const disk::RampStep& step : plan.steps()) {
    out.steps.push_back(RampStep{ServeFromDisk(step.serve()),
                                 step.hold_seconds()});
  }
  out.hold_seconds = plan.hold_seconds();
  out.interval_seconds = plan.interval_seconds();
  out.window_seconds = plan.window_seconds();
  out.on_breach = static_cast<BreachAction>(plan.on_breach());
  out.inconclusive_limit_seconds = plan.inconclusive_limit_seconds();
  for (const disk::RampCheck& check : plan.checks()) {
    out.checks.push_back(FromDisk(check));
  }
  return out;
}

}  // namespace storage_internal

std::string EncodeRampState(const RampStateRecord& state) {
  disk::RampState out;
  out.set_state(static_cast<int>(state.phase));
  out.set_step(state.step);
  ToProtoTime(state.step_started, out.mutable_step_start_time());
  if (state.inconclusive_since) {
    ToProtoTime(*state.inconclusive_since, out.mutable_inconclusive_since());
  }
  out.set_reason(state.reason);
  out.set_flag_version(state.flag_version);
  ToProtoTime(state.updated, out.mutable_update_time());
  out.set_updated_by(state.updated_by);
  const RampAnalysis& analysis = state.last_analysis;
  ToProtoTime(analysis.time, out.mutable_analysis_time());
  out.set_analysis_verdict(static_cast<int>(analysis.verdict));
  for (const RampCheckResult& result : analysis.checks) {
    disk::RampCheckResult* r = out.add_analysis_checks();
    ToDisk(result.check, r->mutable_check());
    r->set_figure(result.figure);
    r->set_samples(result.samples);
    r->set_verdict(static_cast<int>(result.verdict));
    r->set_line(result.line);
  }
  return out.SerializeAsString();
}

absl::StatusOr<RampStateRecord> DecodeRampState(absl::string_view value) {
  disk::RampState in;
  if (!in.ParseFromArray(value.data(), static_cast<int>(value.size()))) {
    return absl::DataLossError("store: cannot parse ramp state");
  }
  RampStateRecord state;
  state.phase = EnumOr(in.state(), 0, 6, RampPhase::kNotStarted);
  state.step = in.step();
  state.step_started = FromProtoTime(in.step_start_time());
  if (in.has_inconclusive_since()) {
    state.inconclusive_since = FromProtoTime(in.inconclusive_since());
  }
  state.reason = in.reason();
  state.flag_version = in.flag_version();
  state.updated = FromProtoTime(in.update_time());
  state.updated_by = in.updated_by();
  RampAnalysis& analysis = state.last_analysis;
  analysis.time = FromProtoTime(in.analysis_time());
  analysis.verdict =
      EnumOr(in.analysis_verdict(), 1, 3, RampVerdict::kUnspecified);
  for (const disk::RampCheckResult& r : in.analysis_checks()) {
    RampCheckResult& result = analysis.checks.emplace_back();
    result.check = FromDisk(r.check());
    result.figure = r.figure();
    result.samples = r.samples();
    result.verdict = EnumOr(r.verdict(), 1, 3, RampVerdict::kUnspecified);
    result.line = r.line();
  }
  return state;
}

}  // namespace cutover
