#include "server/admin_service.h"

#include <algorithm>
#include <memory>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "convert/proto_time.h"
#include "convert/telemetry.h"
#include "grpcpp/client_context.h"
#include "rpc/grpc_status.h"
#include "server/api_edge.h"

namespace cutover {
namespace {

// The gRPC reply for `result`, a record converted into `response`, counting
// a failure of `method`.
template <typename Record, typename Response>
grpc::Status Reply(ServerMetrics& metrics, const char* method,
                   const absl::StatusOr<Record>& result, Response* response) {
  if (!result.ok()) {
    metrics.CountAdminRejected(method, result.status().code());
    return ToGrpcStatus(result.status());
  }
  ToApi(*result, response);
  return grpc::Status::OK;
}

// The Admin calls a read replica answers itself: reads of what it holds.
bool ServedByReplica(absl::string_view method) {
  return method == "GetFlag" || method == "ListFlags" ||
         method == "GetSegment" || method == "ListSegments" ||
         method == "GetServerInfo";
}

// The Admin calls a read replica sends on to its primary: the backfill
// driver's, so that a driver pointed at the replicas works (the primary
// keeps the jobs).
bool ForwardedByReplica(absl::string_view method) {
  return method == "StartBackfill" || method == "CheckpointBackfill" ||
         method == "GetBackfill";
}

// Metadata a forwarded call carries on: who the caller is.
constexpr const char* kForwardedMetadata[] = {"authorization",
                                              "x-cutover-actor"};

// A call refused because the daemon is draining for shutdown.
grpc::Status ShuttingDown() {
  return grpc::Status(grpc::StatusCode::UNAVAILABLE,
                      "cutoverd is shutting down; retry on another instance "
                      "or after the restart");
}

}  // namespace

absl::StatusOr<Caller> AdminService::Authorize(
    const grpc::ServerContext& context, const char* method) const {
  absl::StatusOr<Principal> who = authorizer_->Authorize(context, method);
  if (!who.ok()) {
    metrics_->CountAdminRejected(method, who.status().code());
    return who.status();
  }
  if (follower_ != nullptr && !ServedByReplica(method)) {
    metrics_->CountAdminRejected(method, absl::StatusCode::kFailedPrecondition);
    return absl::FailedPreconditionError(absl::StrCat(
        "this cutoverd is a read replica of ", follower_->state().primary,
        ": send Admin.", method, " to the primary"));
  }
  return Caller{who->name, context.peer()};
}

grpc::Status AdminService::ForwardToPrimary(
    const grpc::ServerContext& context, const char* method,
    const std::function<grpc::Status(v1::Admin::Stub&, grpc::ClientContext*)>&
        call) {
  CallGate::Pass pass(calls_);
  if (!pass.admitted()) return ShuttingDown();
  // The replica's own role check first; the primary checks again.
  if (absl::StatusOr<Principal> who = authorizer_->Authorize(context, method);
      !who.ok()) {
    metrics_->CountAdminRejected(method, who.status().code());
    return ToGrpcStatus(who.status());
  }
  // The caller's deadline and cancellation, and its own credentials: the
  // replica lends it no role of its own.
  std::unique_ptr<grpc::ClientContext> forwarded =
      grpc::ClientContext::FromServerContext(context);
  for (const char* key : kForwardedMetadata) {
    for (auto [it, end] = context.client_metadata().equal_range(key);
         it != end; ++it) {
      forwarded->AddMetadata(key,
                             std::string(it->second.data(), it->second.size()));
    }
  }
  const grpc::Status status = call(follower_->primary_admin(), forwarded.get());
  if (status.ok()) return status;
  metrics_->CountAdminRejected(method, static_cast<absl::StatusCode>(
                                           status.error_code()));
  return grpc::Status(
      status.error_code(),
      absl::StrCat("forwarded by read replica to ",
                   follower_->state().primary, ": ", status.error_message()));
}

// On a replica, the calls it forwards go to the primary as they are.
#define CUTOVER_ADMIN_FORWARD_FROM_REPLICA(Method)                       \
  if (follower_ != nullptr && ForwardedByReplica(#Method)) {             \
    return ForwardToPrimary(                                             \
        *context, #Method,                                               \
        [&](v1::Admin::Stub& primary, grpc::ClientContext* call) {       \
          return primary.Method(call, *request, response);               \
        });                                                              \
  }

// Each write: authorized, then the request converted into the registry's
// command, which the registry carries out with the caller named; the
// result (or error) converted back.
#define CUTOVER_ADMIN_WRITE(Method, Request, Response)                   \
  grpc::Status AdminService::Method(grpc::ServerContext* context,        \
                                    const v1::Request* request,          \
                                    v1::Response* response) {            \
    CUTOVER_ADMIN_FORWARD_FROM_REPLICA(Method)                           \
    CallGate::Pass pass(calls_);                                         \
    if (!pass.admitted()) return ShuttingDown();                         \
    absl::StatusOr<Caller> caller = Authorize(*context, #Method);        \
    if (!caller.ok()) return ToGrpcStatus(caller.status());              \
    return Reply(*metrics_, #Method,                                     \
                 registry_->Method(ToCommand(*request), *caller),        \
                 response);                                              \
  }

// Reads: admitted through the gate and authorized first.
#define CUTOVER_ADMIN_AUTHORIZE(context, Method)                         \
  CallGate::Pass pass(calls_);                                           \
  if (!pass.admitted()) return ShuttingDown();                           \
  if (absl::StatusOr<Caller> caller = Authorize(*context, #Method);      \
      !caller.ok()) {                                                    \
    return ToGrpcStatus(caller.status());                                \
  }

CUTOVER_ADMIN_WRITE(CreateFlag, CreateFlagRequest, Flag)
CUTOVER_ADMIN_WRITE(ReplaceFlag, ReplaceFlagRequest, Flag)
CUTOVER_ADMIN_WRITE(ArchiveFlag, ArchiveFlagRequest, Flag)
CUTOVER_ADMIN_WRITE(SetStage, SetStageRequest, Flag)
CUTOVER_ADMIN_WRITE(SetRollout, SetRolloutRequest, Flag)
CUTOVER_ADMIN_WRITE(AddRule, AddRuleRequest, Flag)
CUTOVER_ADMIN_WRITE(RemoveRule, RemoveRuleRequest, Flag)
CUTOVER_ADMIN_WRITE(SetEnabled, SetEnabledRequest, Flag)
CUTOVER_ADMIN_WRITE(Rollback, RollbackRequest, Flag)
CUTOVER_ADMIN_WRITE(CreateSegment, CreateSegmentRequest, Segment)
CUTOVER_ADMIN_WRITE(ReplaceSegment, ReplaceSegmentRequest, Segment)
CUTOVER_ADMIN_WRITE(Apply, ApplyRequest, ApplyResponse)
CUTOVER_ADMIN_WRITE(DeleteSegment, DeleteSegmentRequest, Segment)
CUTOVER_ADMIN_WRITE(StartBackfill, StartBackfillRequest, BackfillJob)
CUTOVER_ADMIN_WRITE(CheckpointBackfill, CheckpointBackfillRequest, BackfillJob)
CUTOVER_ADMIN_WRITE(ResetBackfill, ResetBackfillRequest, BackfillJob)
CUTOVER_ADMIN_WRITE(SetRampPlan, SetRampPlanRequest, Flag)
#undef CUTOVER_ADMIN_WRITE

grpc::Status AdminService::GetFlag(grpc::ServerContext* context,
                                   const v1::GetFlagRequest* request,
                                   v1::Flag* response) {
  CUTOVER_ADMIN_AUTHORIZE(context, GetFlag)
  return Reply(*metrics_, "GetFlag", registry_->GetFlag(request->key()),
               response);
}

grpc::Status AdminService::ListFlags(grpc::ServerContext* context,
                                     const v1::ListFlagsRequest* request,
                                     v1::ListFlagsResponse* response) {
  CUTOVER_ADMIN_AUTHORIZE(context, ListFlags)
  for (const FlagRecord& flag :
       registry_->ListFlags(request->include_archived())) {
    ToApi(flag, response->add_flags());
  }
  return grpc::Status::OK;
}

grpc::Status AdminService::GetHistory(grpc::ServerContext* context,
                                      const v1::GetHistoryRequest* request,
                                      v1::GetHistoryResponse* response) {
  CUTOVER_ADMIN_AUTHORIZE(context, GetHistory)
  auto entries = registry_->History(request->key(), request->segment(),
                                    request->limit());
  if (!entries.ok()) {
    metrics_->CountAdminRejected("GetHistory", entries.status().code());
    return ToGrpcStatus(entries.status());
  }
  for (const HistoryRecord& entry : *entries) {
    ToApi(entry, response->add_entries());
  }
  return grpc::Status::OK;
}

grpc::Status AdminService::GetSegment(grpc::ServerContext* context,
                                      const v1::GetSegmentRequest* request,
                                      v1::Segment* response) {
  CUTOVER_ADMIN_AUTHORIZE(context, GetSegment)
  return Reply(*metrics_, "GetSegment", registry_->GetSegment(request->key()),
               response);
}

grpc::Status AdminService::ListSegments(grpc::ServerContext* context,
                                        const v1::ListSegmentsRequest*,
                                        v1::ListSegmentsResponse* response) {
  CUTOVER_ADMIN_AUTHORIZE(context, ListSegments)
  for (const SegmentRecord& segment : registry_->ListSegments()) {
    ToApi(segment, response->add_segments());
  }
  return grpc::Status::OK;
}

grpc::Status AdminService::GetFlagStatus(grpc::ServerContext* context,
                                         const v1::GetFlagStatusRequest* request,
                                         v1::FlagStatus* response) {
  CUTOVER_ADMIN_AUTHORIZE(context, GetFlagStatus)
  auto flag = registry_->GetFlag(request->key());
  if (!flag.ok()) {
    metrics_->CountAdminRejected("GetFlagStatus", flag.status().code());
    return ToGrpcStatus(flag.status());
  }
  ToApi(*flag, response->mutable_flag());
  if (aggregator_ != nullptr) {
    ToProto(aggregator_->Status(request->key()), response);
  }
  return grpc::Status::OK;
}

grpc::Status AdminService::ListFlagStatus(grpc::ServerContext* context,
                                          const v1::ListFlagStatusRequest*,
                                          v1::ListFlagStatusResponse* response) {
  CUTOVER_ADMIN_AUTHORIZE(context, ListFlagStatus)
  for (const FlagRecord& flag :
       registry_->ListFlags(/*include_archived=*/false)) {
    v1::FlagStatus* status = response->add_statuses();
    if (aggregator_ != nullptr) {
      ToProto(aggregator_->Status(flag.flag.key), status);
    }
    ToApi(flag, status->mutable_flag());
  }
  return grpc::Status::OK;
}

grpc::Status AdminService::GetBackfill(grpc::ServerContext* context,
                                       const v1::GetBackfillRequest* request,
                                       v1::BackfillJob* response) {
  CUTOVER_ADMIN_FORWARD_FROM_REPLICA(GetBackfill)
  CUTOVER_ADMIN_AUTHORIZE(context, GetBackfill)
  return Reply(*metrics_, "GetBackfill",
               registry_->backfills().Get(request->flag_key(),
                                          FromApi(request->direction())),
               response);
}

grpc::Status AdminService::ListBackfills(grpc::ServerContext* context,
                                         const v1::ListBackfillsRequest*,
                                         v1::ListBackfillsResponse* response) {
  CUTOVER_ADMIN_AUTHORIZE(context, ListBackfills)
  for (const BackfillJob& job : registry_->backfills().List()) {
    ToApi(job, response->add_jobs());
  }
  return grpc::Status::OK;
}

grpc::Status AdminService::GetServerInfo(grpc::ServerContext* context,
                                         const v1::GetServerInfoRequest*,
                                         v1::ServerInfo* response) {
  CUTOVER_ADMIN_AUTHORIZE(context, GetServerInfo)
  const absl::Time now = absl::Now();
  response->set_version(CUTOVER_VERSION);
  response->set_revision(registry_->hub().snapshot()->revision);
  ToProtoTime(start_time_, response->mutable_start_time());
  response->set_uptime_seconds(
      absl::ToInt64Seconds(std::max(now - start_time_, absl::ZeroDuration())));
  if (follower_ != nullptr) {
    const Follower::State state = follower_->state();
    v1::ReplicaInfo* replica = response->mutable_replica();
    replica->set_primary(state.primary);
    replica->set_connected(state.connected);
    replica->set_synced(state.synced);
    replica->set_primary_revision(state.primary_revision);
    replica->set_revision_lag(
        std::max<int64_t>(0, state.primary_revision - state.revision));
    if (state.last_heard) {
      ToProtoTime(*state.last_heard, replica->mutable_last_heard_time());
    }
  }
  return grpc::Status::OK;
}

grpc::Status AdminService::GetRampStatus(
    grpc::ServerContext* context, const v1::GetRampStatusRequest* request,
    v1::RampStatus* response) {
  CUTOVER_ADMIN_AUTHORIZE(context, GetRampStatus)
  if (ramps_ == nullptr) {
    return grpc::Status(grpc::StatusCode::UNIMPLEMENTED, "no ramp engine");
  }
  return Reply(*metrics_, "GetRampStatus", ramps_->Status(request->key()),
               response);
}

grpc::Status AdminService::ControlRamp(grpc::ServerContext* context,
                                       const v1::ControlRampRequest* request,
                                       v1::RampStatus* response) {
  CallGate::Pass pass(calls_);
  if (!pass.admitted()) return ShuttingDown();
  absl::StatusOr<Caller> caller = Authorize(*context, "ControlRamp");
  if (!caller.ok()) return ToGrpcStatus(caller.status());
  if (ramps_ == nullptr) {
    return grpc::Status(grpc::StatusCode::UNIMPLEMENTED, "no ramp engine");
  }
  return Reply(*metrics_, "ControlRamp",
               ramps_->Control(request->key(), FromApi(request->action()),
                               request->comment(), *caller),
               response);
}

grpc::Status AdminService::CreateBackup(grpc::ServerContext* context,
                                        const v1::CreateBackupRequest* request,
                                        v1::Backup* response) {
  CUTOVER_ADMIN_AUTHORIZE(context, CreateBackup)
  return Reply(*metrics_, "CreateBackup",
               registry_->store().WriteBackup(request->dir()), response);
}

#undef CUTOVER_ADMIN_AUTHORIZE

}  // namespace cutover
