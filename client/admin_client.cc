#include "client/admin_client.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "grpcpp/channel.h"
#include "grpcpp/client_context.h"
#include "rpc/channel.h"
#include "rpc/grpc_status.h"

namespace cutover {
namespace {

constexpr char kActorMetadataKey[] = "x-cutover-actor";

}  // namespace

ErrorClass ClassifyError(absl::StatusCode code) {
  switch (code) {
    case absl::StatusCode::kOk:
      return ErrorClass::kNone;
    case absl::StatusCode::kInvalidArgument:
    case absl::StatusCode::kFailedPrecondition:
    case absl::StatusCode::kAlreadyExists:
    case absl::StatusCode::kNotFound:
    case absl::StatusCode::kAborted:
    case absl::StatusCode::kOutOfRange:
      return ErrorClass::kBadInput;
    default:
      return ErrorClass::kServerOrConnection;
  }
}

absl::StatusOr<std::unique_ptr<AdminClient>> AdminClient::Create(
    AdminClientOptions options) {
  absl::StatusOr<std::shared_ptr<grpc::Channel>> channel =
      MakeChannel(options.channel);
  if (!channel.ok()) return channel.status();
  return std::make_unique<AdminClient>(*std::move(channel), std::move(options));
}

AdminClient::AdminClient(std::shared_ptr<grpc::Channel> channel,
                         AdminClientOptions options)
    : options_(std::move(options)),
      channel_(std::move(channel)),
      admin_(v1::Admin::NewStub(channel_)),
      evaluation_(v1::Evaluation::NewStub(channel_)),
      telemetry_(v1::Telemetry::NewStub(channel_)) {}

template <typename Stub, typename Request, typename Response>
absl::StatusOr<Response> AdminClient::Call(
    Stub& stub,
    grpc::Status (Stub::*method)(grpc::ClientContext*, const Request&,
                                 Response*),
    const Request& request) const {
  grpc::ClientContext context;
  context.set_deadline(DeadlineIn(options_.deadline));
  if (!options_.actor.empty()) {
    context.AddMetadata(kActorMetadataKey, options_.actor);
  }
  context.set_wait_for_ready(options_.wait_for_ready);
  Response response;
  const grpc::Status status = (stub.*method)(&context, request, &response);
  if (!status.ok()) return StatusOf(status);
  return response;
}

absl::Status AdminClient::StatusOf(const grpc::Status& status) const {
  // UNAVAILABLE from a daemon that answered (its channel is connected, e.g.
  // "store: write: ..." when its disk fails) is the daemon's own error, not
  // a connection problem.
  const bool answered = channel_->GetState(false) == GRPC_CHANNEL_READY;
  if ((status.error_code() == grpc::StatusCode::UNAVAILABLE && !answered) ||
      status.error_code() == grpc::StatusCode::DEADLINE_EXCEEDED) {
    return absl::Status(
        FromGrpcStatus(status).code(),
        absl::StrCat("cannot reach cutoverd at ", server(), ": ",
                     status.error_message()));
  }
  return FromGrpcStatus(status);
}

// --- Admin ------------------------------------------------------------------

absl::StatusOr<v1::Flag> AdminClient::CreateFlag(
    const v1::CreateFlagRequest& request) const {
  return Call(*admin_, &v1::Admin::Stub::CreateFlag, request);
}

absl::StatusOr<v1::Flag> AdminClient::GetFlag(
    const v1::GetFlagRequest& request) const {
  return Call(*admin_, &v1::Admin::Stub::GetFlag, request);
}

absl::StatusOr<v1::ListFlagsResponse> AdminClient::ListFlags(
    const v1::ListFlagsRequest& request) const {
  return Call(*admin_, &v1::Admin::Stub::ListFlags, request);
}

absl::StatusOr<v1::Flag> AdminClient::ReplaceFlag(
    const v1::ReplaceFlagRequest& request) const {
  return Call(*admin_, &v1::Admin::Stub::ReplaceFlag, request);
}

absl::StatusOr<v1::Flag> AdminClient::ArchiveFlag(
    const v1::ArchiveFlagRequest& request) const {
  return Call(*admin_, &v1::Admin::Stub::ArchiveFlag, request);
}

absl::StatusOr<v1::Flag> AdminClient::SetStage(
    const v1::SetStageRequest& request) const {
  return Call(*admin_, &v1::Admin::Stub::SetStage, request);
}

absl::StatusOr<v1::Flag> AdminClient::SetRollout(
    const v1::SetRolloutRequest& request) const {
  return Call(*admin_, &v1::Admin::Stub::SetRollout, request);
}

absl::StatusOr<v1::Flag> AdminClient::AddRule(
    const v1::AddRuleRequest& request) const {
  return Call(*admin_, &v1::Admin::Stub::AddRule, request);
}

absl::StatusOr<v1::Flag> AdminClient::RemoveRule(
    const v1::RemoveRuleRequest& request) const {
  return Call(*admin_, &v1::Admin::Stub::RemoveRule, request);
}

absl::StatusOr<v1::Flag> AdminClient::SetEnabled(
    const v1::SetEnabledRequest& request) const {
  return Call(*admin_, &v1::Admin::Stub::SetEnabled, request);
}

absl::StatusOr<v1::Flag> AdminClient::Rollback(
    const v1::RollbackRequest& request) const {
  return Call(*admin_, &v1::Admin::Stub::Rollback, request);
}

absl::StatusOr<v1::GetHistoryResponse> AdminClient::GetHistory(
    const v1::GetHistoryRequest& request) const {
  return Call(*admin_, &v1::Admin::Stub::GetHistory, request);
}

absl::StatusOr<v1::ApplyResponse> AdminClient::Apply(
    const v1::ApplyRequest& request) const {
  return Call(*admin_, &v1::Admin::Stub::Apply, request);
}

absl::StatusOr<v1::Segment> AdminClient::CreateSegment(
    const v1::CreateSegmentRequest& request) const {
  return Call(*admin_, &v1::Admin::Stub::CreateSegment, request);
}

absl::StatusOr<v1::Segment> AdminClient::GetSegment(
    const v1::GetSegmentRequest& request) const {
  return Call(*admin_, &v1::Admin::Stub::GetSegment, request);
}

absl::StatusOr<v1::ListSegmentsResponse> AdminClient::ListSegments(
    const v1::ListSegmentsRequest& request) const {
  return Call(*admin_, &v1::Admin::Stub::ListSegments, request);
}

absl::StatusOr<v1::Segment> AdminClient::ReplaceSegment(
    const v1::ReplaceSegmentRequest& request) const {
  return Call(*admin_, &v1::Admin::Stub::ReplaceSegment, request);
}

absl::StatusOr<v1::Segment> AdminClient::DeleteSegment(
    const v1::DeleteSegmentRequest& request) const {
  return Call(*admin_, &v1::Admin::Stub::DeleteSegment, request);
}

absl::StatusOr<v1::FlagStatus> AdminClient::GetFlagStatus(
    const v1::GetFlagStatusRequest& request) const {
  return Call(*admin_, &v1::Admin::Stub::GetFlagStatus, request);
}

absl::StatusOr<v1::Flag> AdminClient::SetRampPlan(
    const v1::SetRampPlanRequest& request) const {
  return Call(*admin_, &v1::Admin::Stub::SetRampPlan, request);
}

absl::StatusOr<v1::RampStatus> AdminClient::GetRampStatus(
    const v1::GetRampStatusRequest& request) const {
  return Call(*admin_, &v1::Admin::Stub::GetRampStatus, request);
}

absl::StatusOr<v1::RampStatus> AdminClient::ControlRamp(
    const v1::ControlRampRequest& request) const {
  return Call(*admin_, &v1::Admin::Stub::ControlRamp, request);
}

absl::StatusOr<v1::ListFlagStatusResponse> AdminClient::ListFlagStatus(
    const v1::ListFlagStatusRequest& request) const {
  return Call(*admin_, &v1::Admin::Stub::ListFlagStatus, request);
}

absl::StatusOr<v1::BackfillJob> AdminClient::StartBackfill(
    const v1::StartBackfillRequest& request) const {
  return Call(*admin_, &v1::Admin::Stub::StartBackfill, request);
}

absl::StatusOr<v1::BackfillJob> AdminClient::CheckpointBackfill(
    const v1::CheckpointBackfillRequest& request) const {
  return Call(*admin_, &v1::Admin::Stub::CheckpointBackfill, request);
}

absl::StatusOr<v1::BackfillJob> AdminClient::GetBackfill(
    const v1::GetBackfillRequest& request) const {
  return Call(*admin_, &v1::Admin::Stub::GetBackfill, request);
}

absl::StatusOr<v1::ListBackfillsResponse> AdminClient::ListBackfills(
    const v1::ListBackfillsRequest& request) const {
  return Call(*admin_, &v1::Admin::Stub::ListBackfills, request);
}

absl::StatusOr<v1::BackfillJob> AdminClient::ResetBackfill(
    const v1::ResetBackfillRequest& request) const {
  return Call(*admin_, &v1::Admin::Stub::ResetBackfill, request);
}

absl::StatusOr<v1::ServerInfo> AdminClient::GetServerInfo(
    const v1::GetServerInfoRequest& request) const {
  return Call(*admin_, &v1::Admin::Stub::GetServerInfo, request);
}

absl::StatusOr<v1::Backup> AdminClient::CreateBackup(
    const v1::CreateBackupRequest& request) const {
  return Call(*admin_, &v1::Admin::Stub::CreateBackup, request);
}

// --- Evaluation -------------------------------------------------------------

absl::StatusOr<v1::DecideResponse> AdminClient::Decide(
    const v1::DecideRequest& request) const {
  return Call(*evaluation_, &v1::Evaluation::Stub::Decide, request);
}

absl::StatusOr<v1::DecideBatchResponse> AdminClient::DecideBatch(
    const v1::DecideBatchRequest& request) const {
  return Call(*evaluation_, &v1::Evaluation::Stub::DecideBatch, request);
}

std::unique_ptr<grpc::ClientReader<v1::WatchEvent>> AdminClient::Watch(
    grpc::ClientContext* context, const v1::WatchRequest& request) const {
  if (!options_.actor.empty()) {
    context->AddMetadata(kActorMetadataKey, options_.actor);
  }
  return evaluation_->Watch(context, request);
}

// --- Telemetry --------------------------------------------------------------

absl::StatusOr<v1::ReportMigrationOpsResponse> AdminClient::ReportMigrationOps(
    const v1::ReportMigrationOpsRequest& request) const {
  return Call(*telemetry_, &v1::Telemetry::Stub::ReportMigrationOps, request);
}

}  // namespace cutover
