// cutover::AdminClient: the daemon's Admin, Evaluation and Telemetry APIs
// over one connection, one method per call, for programs that manage flags
// (cutoverctl, deployment tooling, the project's tests and benchmarks) as
// opposed to services that ask for decisions (those link cutover::Client).
//
//   AdminClientOptions options;
//   options.channel.server = "cutover.internal:7400";
//   options.channel.tls_ca_file = "/etc/cutover/ca.pem";
//   options.channel.token = TokenFromEnvironment();
//   options.actor = "deploy-bot";  // the history's actor when auth is off
//   auto admin = AdminClient::Create(options);  // StatusOr
//   v1::SetStageRequest request;
//   request.set_key("orders");
//   request.set_stage(v1::DUALWRITE);
//   absl::StatusOr<v1::Flag> flag = (*admin)->SetStage(request);
//   if (!flag.ok() && ClassifyError(flag.status().code()) ==
//                         ErrorClass::kBadInput) { ... fix the request ... }
//
// Every unary call carries the deadline and the "x-cutover-actor" header of
// the options (and, through the channel, the bearer token) and returns the
// daemon's answer or its status (rpc/grpc_status.h). A call that could not
// reach the daemon (UNAVAILABLE while the connection is down, or any
// DEADLINE_EXCEEDED) has a message starting "cannot reach cutoverd at
// <server>: "; UNAVAILABLE from a daemon that answered (e.g. "store:
// write: ..." when its disk fails) keeps the daemon's message.
//
// Thread-safe: calls may be made from any number of threads at once (gRPC
// stubs and channels are). The client must outlive the calls and the Watch
// streams made through it.
#ifndef CUTOVER_CLIENT_ADMIN_CLIENT_H_
#define CUTOVER_CLIENT_ADMIN_CLIENT_H_

#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "rpc/channel.h"
#include "cutover/v1/cutover.grpc.pb.h"

namespace cutover {

struct AdminClientOptions {
  // How to reach the daemon: address, TLS, token, reconnect backoff.
  ChannelOptions channel;
  // Longest each unary call waits, for the connection and the answer.
  absl::Duration deadline = absl::Seconds(10);
  // Sent as "x-cutover-actor" with every call: who the history names when
  // the daemon runs without auth (with auth the token or certificate names
  // the caller). Empty sends none; the daemon then records the peer.
  std::string actor;
  // Calls wait (within the deadline) for a connection to come up instead of
  // failing at once with UNAVAILABLE while the daemon cannot be reached:
  // for callers that start before the daemon listens.
  bool wait_for_ready = false;
};

// What a failed call means to its caller.
enum class ErrorClass {
  kNone,  // OK: not an error
  // The daemon refused the request for what it asks or for the state it
  // found (INVALID_ARGUMENT, FAILED_PRECONDITION, ALREADY_EXISTS,
  // NOT_FOUND, ABORTED, OUT_OF_RANGE): the same request will fail again.
  kBadInput,
  // The daemon failed, refused the caller (UNAUTHENTICATED,
  // PERMISSION_DENIED) or could not be reached: anything else.
  kServerOrConnection,
};

ErrorClass ClassifyError(absl::StatusCode code);

class AdminClient {
 public:
  // Makes the channel (rpc/channel.h); INVALID_ARGUMENT naming the option
  // for an unreadable TLS file or a certificate without its key. Connecting
  // happens on the first call.
  static absl::StatusOr<std::unique_ptr<AdminClient>> Create(
      AdminClientOptions options);

  // Over a channel the caller made (e.g. with channel arguments of its
  // own); options.channel.server names the daemon in errors, the rest of
  // options.channel is not used. The channel is shared, not copied.
  AdminClient(std::shared_ptr<grpc::Channel> channel,
              AdminClientOptions options);

  AdminClient(const AdminClient&) = delete;
  AdminClient& operator=(const AdminClient&) = delete;

  // Admin (cutover.proto documents each call).
  absl::StatusOr<v1::Flag> CreateFlag(
      const v1::CreateFlagRequest& request) const;
  absl::StatusOr<v1::Flag> GetFlag(const v1::GetFlagRequest& request) const;
  absl::StatusOr<v1::ListFlagsResponse> ListFlags(
      const v1::ListFlagsRequest& request) const;
  absl::StatusOr<v1::Flag> ReplaceFlag(
      const v1::ReplaceFlagRequest& request) const;
  absl::StatusOr<v1::Flag> ArchiveFlag(
      const v1::ArchiveFlagRequest& request) const;
  absl::StatusOr<v1::Flag> SetStage(const v1::SetStageRequest& request) const;
  absl::StatusOr<v1::Flag> SetRollout(
      const v1::SetRolloutRequest& request) const;
  absl::StatusOr<v1::Flag> AddRule(const v1::AddRuleRequest& request) const;
  absl::StatusOr<v1::Flag> RemoveRule(
      const v1::RemoveRuleRequest& request) const;
  absl::StatusOr<v1::Flag> SetEnabled(
      const v1::SetEnabledRequest& request) const;
  absl::StatusOr<v1::Flag> Rollback(const v1::RollbackRequest& request) const;
  absl::StatusOr<v1::GetHistoryResponse> GetHistory(
      const v1::GetHistoryRequest& request) const;
  absl::StatusOr<v1::ApplyResponse> Apply(
      const v1::ApplyRequest& request) const;
  absl::StatusOr<v1::Segment> CreateSegment(
      const v1::CreateSegmentRequest& request) const;
  absl::StatusOr<v1::Segment> GetSegment(
      const v1::GetSegmentRequest& request) const;
  absl::StatusOr<v1::ListSegmentsResponse> ListSegments(
      const v1::ListSegmentsRequest& request) const;
  absl::StatusOr<v1::Segment> ReplaceSegment(
      const v1::ReplaceSegmentRequest& request) const;
  absl::StatusOr<v1::Segment> DeleteSegment(
      const v1::DeleteSegmentRequest& request) const;
  absl::StatusOr<v1::FlagStatus> GetFlagStatus(
      const v1::GetFlagStatusRequest& request) const;
  absl::StatusOr<v1::Flag> SetRampPlan(
      const v1::SetRampPlanRequest& request) const;
  absl::StatusOr<v1::RampStatus> GetRampStatus(
      const v1::GetRampStatusRequest& request) const;
  absl::StatusOr<v1::RampStatus> ControlRamp(
      const v1::ControlRampRequest& request) const;
  absl::StatusOr<v1::ListFlagStatusResponse> ListFlagStatus(
      const v1::ListFlagStatusRequest& request) const;
  absl::StatusOr<v1::BackfillJob> StartBackfill(
      const v1::StartBackfillRequest& request) const;
  absl::StatusOr<v1::BackfillJob> CheckpointBackfill(
      const v1::CheckpointBackfillRequest& request) const;
  absl::StatusOr<v1::BackfillJob> GetBackfill(
      const v1::GetBackfillRequest& request) const;
  absl::StatusOr<v1::ListBackfillsResponse> ListBackfills(
      const v1::ListBackfillsRequest& request) const;
  absl::StatusOr<v1::BackfillJob> ResetBackfill(
      const v1::ResetBackfillRequest& request) const;
  absl::StatusOr<v1::ServerInfo> GetServerInfo(
      const v1::GetServerInfoRequest& request) const;
  absl::StatusOr<v1::Backup> CreateBackup(
      const v1::CreateBackupRequest& request) const;

  // Evaluation.
  absl::StatusOr<v1::DecideResponse> Decide(
      const v1::DecideRequest& request) const;
  absl::StatusOr<v1::DecideBatchResponse> DecideBatch(
      const v1::DecideBatchRequest& request) const;
  // Opens a Watch stream on `context`, a fresh context the caller keeps
  // for the stream's life (to set a deadline, to cancel, to Finish). The
  // actor header is added; no deadline is set (a stream may stay open for
  // as long as the caller wants).
  std::unique_ptr<grpc::ClientReader<v1::WatchEvent>> Watch(
      grpc::ClientContext* context, const v1::WatchRequest& request) const;

  // Telemetry.
  absl::StatusOr<v1::ReportMigrationOpsResponse> ReportMigrationOps(
      const v1::ReportMigrationOpsRequest& request) const;

  // The channel, to share with other users of the connection (generic
  // stubs, cutover::TelemetryReporter, cutover::BackfillDriver).
  const std::shared_ptr<grpc::Channel>& channel() const { return channel_; }
  const std::string& server() const { return options_.channel.server; }

 private:
  // One unary call through `stub`'s `method`, prepared and finished as the
  // header says.
  template <typename Stub, typename Request, typename Response>
  absl::StatusOr<Response> Call(
      Stub& stub,
      grpc::Status (Stub::*method)(grpc::ClientContext*, const Request&,
                                   Response*),
      const Request& request) const;

  // The call's status, with the connection blamed when it was the cause.
  absl::Status StatusOf(const grpc::Status& status) const;

  const AdminClientOptions options_;
  const std::shared_ptr<grpc::Channel> channel_;
  const std::unique_ptr<v1::Admin::Stub> admin_;
  const std::unique_ptr<v1::Evaluation::Stub> evaluation_;
  const std::unique_ptr<v1::Telemetry::Stub> telemetry_;
};

}  // namespace cutover

#endif  // CUTOVER_CLIENT_ADMIN_CLIENT_H_
