// The API edge of guarded ramps: requests into commands, ramp states into
// v1.RampStatus.
#include "convert/convert.h"
#include "convert/proto_time.h"
#include "server/api_edge.h"

namespace cutover {

SetRampPlanCommand ToCommand(const v1::SetRampPlanRequest& request) {
  SetRampPlanCommand command;
  command.key = request.key();
  if (request.has_plan()) command.plan = FromProto(request.plan());
  command.options.expected_version = request.expected_version();
  command.options.comment = request.comment();
  return command;
}

RampControl FromApi(v1::RampControl action) {
  switch (action) {
    case v1::START:
      return RampControl::kStart;
    case v1::PAUSE:
      return RampControl::kPause;
    case v1::RESUME:
      return RampControl::kResume;
    case v1::ABORT:
      return RampControl::kAbort;
    case v1::SKIP:
      return RampControl::kSkip;
    default:
      return RampControl::kUnspecified;
  }
}

void ToApi(const RampStatusRecord& status, v1::RampStatus* out) {
  const RampStateRecord& state = status.state;
  out->set_flag_key(state.flag_key);
  out->set_state(static_cast<v1::RampState>(state.phase));
  out->set_step(state.step);
  out->set_steps(status.plan ? static_cast<int>(status.plan->steps.size())
                             : 0);
  if (state.phase != RampPhase::kNotStarted) {
    ToProtoTime(state.step_started, out->mutable_step_start_time());
    ToProtoTime(state.updated, out->mutable_update_time());
  }
  if (status.next_step) {
    ToProtoTime(*status.next_step, out->mutable_next_step_time());
  }
  out->set_reason(state.reason);
  const RampAnalysis& analysis = state.last_analysis;
  if (analysis.time != absl::UnixEpoch()) {
    v1::RampAnalysis* a = out->mutable_last_analysis();
    ToProtoTime(analysis.time, a->mutable_time());
    a->set_verdict(static_cast<v1::RampVerdict>(analysis.verdict));
    for (const RampCheckResult& result : analysis.checks) {
      v1::RampCheckResult* r = a->add_checks();
      ToProto(result.check, r->mutable_check());
      r->set_figure(result.figure);
      r->set_samples(result.samples);
      r->set_verdict(static_cast<v1::RampVerdict>(result.verdict));
      r->set_line(result.line);
    }
  }
  if (state.inconclusive_since) {
    ToProtoTime(*state.inconclusive_since, out->mutable_inconclusive_since());
  }
  out->set_flag_version(state.flag_version);
  out->set_updated_by(state.updated_by);
  if (status.plan) ToProto(*status.plan, out->mutable_plan());
}

}  // namespace cutover
