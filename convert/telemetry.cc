#include "convert/telemetry.h"

#include "convert/convert.h"

namespace cutover {

OpResult FromProto(v1::OpResult result) {
  const int n = static_cast<int>(result);
  return n >= v1::OK && n <= v1::MISMATCH ? static_cast<OpResult>(n)
                                          : OpResult::kUnspecified;
}

v1::OpResult ToProto(OpResult result) {
  return static_cast<v1::OpResult>(result);
}

OpCount FromProto(const v1::MigrationOpCount& count) {
  OpCount out;
  out.flag_key = count.flag_key();
  out.stage = FromProto(count.stage());
  out.op = ParseOpKind(count.op()).value_or(OpKind::kRead);
  out.origin = FromProto(count.origin());
  out.result = FromProto(count.result());
  out.count = count.count();
  const auto& buckets = count.latency().buckets();
  out.has_latency = !buckets.empty();
  for (int i = 0; i < buckets.size() && i < kLatencyBuckets; ++i) {
    out.latency[i] = buckets[i];
  }
  out.latency_sum_seconds = count.latency().sum_seconds();
  return out;
}

void ToProto(const OpCount& count, v1::MigrationOpCount* out) {
  out->set_flag_key(count.flag_key);
  out->set_stage(ToProto(count.stage));
  out->set_op(OpKindName(count.op));
  out->set_origin(ToProto(count.origin));
  out->set_result(ToProto(count.result));
  out->set_count(count.count);
  int used = kLatencyBuckets;
  while (used > 0 && count.latency[used - 1] == 0) --used;
  for (int i = 0; i < used; ++i) {
    out->mutable_latency()->add_buckets(count.latency[i]);
  }
  if (used > 0) {
    out->mutable_latency()->set_sum_seconds(count.latency_sum_seconds);
  }
}

void ToProto(const OpWindowFigures& figures, v1::FlagStatus* out) {
  out->set_window_seconds(figures.window_seconds);
  out->clear_ops();
  for (const OpTotals& totals : figures.ops) {
    v1::OpWindow* window = out->add_ops();
    window->set_op(OpKindName(totals.op));
    window->set_origin(ToProto(totals.origin));
    window->set_ok(totals.ok);
    window->set_errors(totals.errors);
    window->set_error_rate(totals.error_rate);
    window->set_p50_seconds(totals.p50_seconds);
    window->set_p95_seconds(totals.p95_seconds);
  }
  out->set_compared(figures.compared);
  out->set_mismatches(figures.mismatches);
  out->set_mismatch_rate(figures.mismatch_rate);
  out->set_rejected_reports(figures.rejected_reports);
  out->set_client_dropped(figures.client_dropped);
}

}  // namespace cutover
