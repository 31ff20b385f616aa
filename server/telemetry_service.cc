#include "server/telemetry_service.h"

#include <string>

#include "absl/strings/str_cat.h"
#include "convert/convert.h"
#include "convert/telemetry.h"
#include "core/stage.h"
#include "rpc/grpc_status.h"

namespace cutover {
namespace {

// INVALID_ARGUMENT for the entry at `field` (e.g. "counts[2].").
absl::Status Bad(const std::string& field, absl::string_view name,
                 absl::string_view rule) {
  return absl::InvalidArgumentError(absl::StrCat(field, name, ": ", rule));
}

// The flag key and stage every reported entry carries.
absl::Status CheckKeyAndStage(const std::string& flag_key, v1::Stage stage,
                              const TelemetryLimits& limits,
                              const std::string& field) {
  if (flag_key.empty()) return Bad(field, "flag_key", "required");
  if (static_cast<int>(flag_key.size()) > limits.max_flag_key_length) {
    return Bad(field, "flag_key",
               absl::StrCat("longer than ", limits.max_flag_key_length,
                            " bytes"));
  }
  if (stage == v1::STAGE_UNSPECIFIED || !v1::Stage_IsValid(stage)) {
    return Bad(field, "stage", "must be a stage (off ... complete)");
  }
  return absl::OkStatus();
}

absl::Status CheckCount(const v1::MigrationOpCount& count,
                        const TelemetryLimits& limits,
                        const std::string& field) {
  auto bad = [&field](absl::string_view name, absl::string_view rule) {
    return Bad(field, name, rule);
  };
  if (absl::Status s =
          CheckKeyAndStage(count.flag_key(), count.stage(), limits, field);
      !s.ok()) {
    return s;
  }
  if (!ParseOpKind(count.op()).has_value()) {
    return bad("op", "must be \"read\", \"write\" or \"repair\"");
  }
  if (count.origin() != v1::OLD && count.origin() != v1::NEW) {
    return bad("origin", "must be OLD or NEW");
  }
  if (count.result() == v1::OP_RESULT_UNSPECIFIED ||
      !v1::OpResult_IsValid(count.result())) {
    return bad("result", "must be OK, FAILED, MATCH or MISMATCH");
  }
  if ((count.result() == v1::MATCH || count.result() == v1::MISMATCH) &&
      count.origin() != v1::NEW) {
    return bad("origin", "MATCH and MISMATCH are counted on NEW");
  }
  if (count.latency().buckets_size() > kLatencyBuckets) {
    return bad("latency.buckets",
               absl::StrCat("more than ", kLatencyBuckets, " buckets"));
  }
  return absl::OkStatus();
}

// The reasons of an evaluation: what a client's local decision may give.
bool IsEvaluationReason(v1::Reason reason) {
  switch (reason) {
    case v1::DISABLED:
    case v1::RULE_MATCH:
    case v1::SPLIT:
    case v1::DEFAULT:
    case v1::FLAG_NOT_FOUND:
      return true;
    default:
      return false;
  }
}

absl::Status CheckDecisionCount(const v1::DecisionCount& count,
                                const TelemetryLimits& limits,
                                const std::string& field) {
  if (absl::Status s =
          CheckKeyAndStage(count.flag_key(), count.stage(), limits, field);
      !s.ok()) {
    return s;
  }
  if (!IsEvaluationReason(count.reason())) {
    return Bad(field, "reason",
               "must be DISABLED, RULE_MATCH, SPLIT, DEFAULT or "
               "FLAG_NOT_FOUND");
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status CheckReport(const v1::ReportMigrationOpsRequest& request,
                         const TelemetryLimits& limits) {
  if (request.counts_size() > limits.max_counts) {
    return absl::InvalidArgumentError(
        absl::StrCat("counts: ", request.counts_size(),
                     " entries, more than the limit of ", limits.max_counts));
  }
  if (static_cast<int>(request.client().size()) > limits.max_client_length) {
    return absl::InvalidArgumentError(absl::StrCat(
        "client: longer than ", limits.max_client_length, " bytes"));
  }
  if (request.decisions_size() > limits.max_decisions) {
    return absl::InvalidArgumentError(absl::StrCat(
        "decisions: ", request.decisions_size(),
        " entries, more than the limit of ", limits.max_decisions));
  }
  for (int i = 0; i < request.counts_size(); ++i) {
    absl::Status status =
        CheckCount(request.counts(i), limits, absl::StrCat("counts[", i, "]."));
    if (!status.ok()) return status;
  }
  for (int i = 0; i < request.decisions_size(); ++i) {
    absl::Status status = CheckDecisionCount(
        request.decisions(i), limits, absl::StrCat("decisions[", i, "]."));
    if (!status.ok()) return status;
  }
  return absl::OkStatus();
}

TelemetryService::TelemetryService(ChangeHub* hub, OpAggregator* aggregator,
                                   TelemetryLimits limits,
                                   ServerMetrics* metrics,
                                   const Authorizer* authorizer,
                                   Follower* follower)
    : hub_(hub),
      aggregator_(aggregator),
      limits_(limits),
      metrics_(OrNoMetrics(metrics)),
      authorizer_(Authorizer::OrAllowAll(authorizer)),
      follower_(follower) {}

grpc::ServerUnaryReactor* TelemetryService::ReportMigrationOps(
    grpc::CallbackServerContext* context,
    const v1::ReportMigrationOpsRequest* request,
    v1::ReportMigrationOpsResponse* response) {
  auto* reactor = context->DefaultReactor();
  if (absl::Status allowed =
          authorizer_->Allow(*context, "ReportMigrationOps");
      !allowed.ok()) {
    reactor->Finish(ToGrpcStatus(allowed));
    return reactor;
  }
  absl::Status status = CheckReport(*request, limits_);
  if (!status.ok()) {
    aggregator_->RejectReports(static_cast<uint64_t>(request->counts_size()));
    metrics_->CountTelemetryRejected(static_cast<uint64_t>(
        request->counts_size() + request->decisions_size()));
    reactor->Finish(ToGrpcStatus(status));
    return reactor;
  }
  if (follower_ != nullptr) {
    follower_->ForwardReport(*request);
    response->set_accepted(static_cast<uint64_t>(request->counts_size()));
    reactor->Finish(grpc::Status::OK);
    return reactor;
  }
  const auto snapshot = hub_->snapshot();
  uint64_t accepted = 0, unknown = 0, full = 0;
  for (const auto& reported : request->counts()) {
    const FlagTable::Slot* flag = snapshot->flags.Find(reported.flag_key());
    if (flag == nullptr || flag->second->record.flag.archived) {
      unknown += 1;
      continue;
    }
    const OpCount count = FromProto(reported);
    if (aggregator_->Add(count)) {
      accepted += 1;
      metrics_->CountMigrationOps(count);
    } else {
      full += 1;  // Add counted it as rejected
    }
  }
  // Decisions: counted as the daemon counts its own, so a key it does not
  // have adds no series of its own.
  for (const v1::DecisionCount& reported : request->decisions()) {
    if (reported.count() == 0) continue;
    const FlagTable::Slot* flag = snapshot->flags.Find(reported.flag_key());
    metrics_->CountClientDecisions(
        flag != nullptr ? absl::string_view(flag->first)
                        : absl::string_view(kUnknownFlagLabel),
        FromProto(reported.stage()), FromProto(reported.reason()),
        reported.count());
  }
  aggregator_->RejectReports(unknown);
  aggregator_->AddClientDropped(request->dropped());
  metrics_->CountTelemetryRejected(unknown + full);
  metrics_->CountClientDropped(request->dropped());
  response->set_accepted(accepted);
  response->set_rejected(unknown + full);
  reactor->Finish(grpc::Status::OK);
  return reactor;
}

}  // namespace cutover
