// AdminService: the gRPC Admin API, a thin adapter from RPCs to
// FlagRegistry. It checks the caller's role (Authorizer), names the caller
// in history (token name or certificate; with auth off, the metadata
// "x-cutover-actor", else the peer), converts each request into the
// registry's command and its records into the answer (server/api_edge.h),
// and absl::Status to grpc::Status; all rules live in the registry and the
// core.
//
// Uses gRPC's synchronous API: admin writes wait for an fsync, which must
// not block the callback threads that serve evaluation.
//
// GetServerInfo reports the version this daemon was built as, the revision
// it serves and when it started (taken as the service's construction,
// which Daemon::Start does just before listening).
//
// Every call passes a CallGate: Drain (at shutdown) refuses new calls with
// UNAVAILABLE and waits for those in flight.
//
// On a read replica (a Follower given) only the reads of what the replica
// holds are served (flags, segments, server info, which then says how the
// replica follows); the backfill driver's calls (StartBackfill,
// CheckpointBackfill, GetBackfill) are sent on to the primary with the
// caller's credentials and deadline, and its answer returned; every other
// call, writes first, is refused with FAILED_PRECONDITION naming the
// primary.
//
// Thread-safe.
#ifndef CUTOVER_SERVER_ADMIN_SERVICE_H_
#define CUTOVER_SERVER_ADMIN_SERVICE_H_

#include <functional>

#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "cutover/v1/cutover.grpc.pb.h"
#include "server/auth.h"
#include "server/call_gate.h"
#include "server/flag_registry.h"
#include "server/follower.h"
#include "server/op_aggregator.h"
#include "server/ramp_engine.h"
#include "server/server_metrics.h"

namespace cutover {

class AdminService final : public v1::Admin::Service {
 public:
  // `aggregator` holds the reported migration operations that
  // GetFlagStatus shows; nullptr shows none. `metrics` counts refused calls
  // (nullptr: nothing counted). Both must outlive the service.
  // `authorizer` decides who may call what and names the actor in
  // history (nullptr: every call allowed, as with `auth: none`). `ramps`
  // carries out guarded ramps (nullptr: GetRampStatus and ControlRamp are
  // UNIMPLEMENTED); it must outlive the service. `follower` makes this a
  // replica's service (nullptr: a primary's); it must outlive the service.
  explicit AdminService(FlagRegistry* registry,
                        const OpAggregator* aggregator = nullptr,
                        ServerMetrics* metrics = nullptr,
                        const Authorizer* authorizer = nullptr,
                        RampEngine* ramps = nullptr,
                        const Follower* follower = nullptr)
      : registry_(registry),
        ramps_(ramps),
        follower_(follower),
        aggregator_(aggregator),
        metrics_(OrNoMetrics(metrics)),
        authorizer_(Authorizer::OrAllowAll(authorizer)),
        start_time_(absl::Now()) {}

  grpc::Status CreateFlag(grpc::ServerContext* context,
                          const v1::CreateFlagRequest* request,
                          v1::Flag* response) override;
  grpc::Status GetFlag(grpc::ServerContext* context,
                       const v1::GetFlagRequest* request,
                       v1::Flag* response) override;
  grpc::Status ListFlags(grpc::ServerContext* context,
                         const v1::ListFlagsRequest* request,
                         v1::ListFlagsResponse* response) override;
  grpc::Status ReplaceFlag(grpc::ServerContext* context,
                           const v1::ReplaceFlagRequest* request,
                           v1::Flag* response) override;
  grpc::Status ArchiveFlag(grpc::ServerContext* context,
                           const v1::ArchiveFlagRequest* request,
                           v1::Flag* response) override;
  grpc::Status SetStage(grpc::ServerContext* context,
                        const v1::SetStageRequest* request,
                        v1::Flag* response) override;
  grpc::Status SetRollout(grpc::ServerContext* context,
                          const v1::SetRolloutRequest* request,
                          v1::Flag* response) override;
  grpc::Status AddRule(grpc::ServerContext* context,
                       const v1::AddRuleRequest* request,
                       v1::Flag* response) override;
  grpc::Status RemoveRule(grpc::ServerContext* context,
                          const v1::RemoveRuleRequest* request,
                          v1::Flag* response) override;
  grpc::Status SetEnabled(grpc::ServerContext* context,
                          const v1::SetEnabledRequest* request,
                          v1::Flag* response) override;
  grpc::Status Rollback(grpc::ServerContext* context,
                        const v1::RollbackRequest* request,
                        v1::Flag* response) override;
  grpc::Status GetHistory(grpc::ServerContext* context,
                          const v1::GetHistoryRequest* request,
                          v1::GetHistoryResponse* response) override;
  grpc::Status CreateSegment(grpc::ServerContext* context,
                             const v1::CreateSegmentRequest* request,
                             v1::Segment* response) override;
  grpc::Status GetSegment(grpc::ServerContext* context,
                          const v1::GetSegmentRequest* request,
                          v1::Segment* response) override;
  grpc::Status ListSegments(grpc::ServerContext* context,
                            const v1::ListSegmentsRequest* request,
                            v1::ListSegmentsResponse* response) override;
  grpc::Status ReplaceSegment(grpc::ServerContext* context,
                              const v1::ReplaceSegmentRequest* request,
                              v1::Segment* response) override;
  grpc::Status Apply(grpc::ServerContext* context,
                     const v1::ApplyRequest* request,
                     v1::ApplyResponse* response) override;
  grpc::Status DeleteSegment(grpc::ServerContext* context,
                             const v1::DeleteSegmentRequest* request,
                             v1::Segment* response) override;
  // NOT_FOUND for an unknown flag.
  grpc::Status GetFlagStatus(grpc::ServerContext* context,
                             const v1::GetFlagStatusRequest* request,
                             v1::FlagStatus* response) override;
  grpc::Status ListFlagStatus(grpc::ServerContext* context,
                              const v1::ListFlagStatusRequest* request,
                              v1::ListFlagStatusResponse* response) override;
  grpc::Status StartBackfill(grpc::ServerContext* context,
                             const v1::StartBackfillRequest* request,
                             v1::BackfillJob* response) override;
  grpc::Status CheckpointBackfill(grpc::ServerContext* context,
                                  const v1::CheckpointBackfillRequest* request,
                                  v1::BackfillJob* response) override;
  grpc::Status GetBackfill(grpc::ServerContext* context,
                           const v1::GetBackfillRequest* request,
                           v1::BackfillJob* response) override;
  grpc::Status ListBackfills(grpc::ServerContext* context,
                             const v1::ListBackfillsRequest* request,
                             v1::ListBackfillsResponse* response) override;
  grpc::Status ResetBackfill(grpc::ServerContext* context,
                             const v1::ResetBackfillRequest* request,
                             v1::BackfillJob* response) override;
  grpc::Status SetRampPlan(grpc::ServerContext* context,
                           const v1::SetRampPlanRequest* request,
                           v1::Flag* response) override;
  grpc::Status GetRampStatus(grpc::ServerContext* context,
                             const v1::GetRampStatusRequest* request,
                             v1::RampStatus* response) override;
  grpc::Status ControlRamp(grpc::ServerContext* context,
                           const v1::ControlRampRequest* request,
                           v1::RampStatus* response) override;
  grpc::Status GetServerInfo(grpc::ServerContext* context,
                             const v1::GetServerInfoRequest* request,
                             v1::ServerInfo* response) override;
  // Has the store write a backup into request->dir (Store::WriteBackup).
  grpc::Status CreateBackup(grpc::ServerContext* context,
                            const v1::CreateBackupRequest* request,
                            v1::Backup* response) override;

  // Refuses new calls (UNAVAILABLE) and waits, at most `timeout`, for the
  // calls in flight to end; whether they all did.
  bool Drain(absl::Duration timeout) { return calls_.Drain(timeout); }

 private:
  // The caller of `method` if it may call it here (the refusal counted):
  // its role, and on a replica whether a replica serves it.
  absl::StatusOr<Caller> Authorize(const grpc::ServerContext& context,
                                   const char* method) const;
  // On a replica: `method` authorized here, then made to the primary by
  // `call` with the caller's credentials, deadline and cancellation.
  grpc::Status ForwardToPrimary(
      const grpc::ServerContext& context, const char* method,
      const std::function<grpc::Status(v1::Admin::Stub&,
                                       grpc::ClientContext*)>& call);

  FlagRegistry* const registry_;
  RampEngine* const ramps_;
  const Follower* const follower_;
  const OpAggregator* const aggregator_;
  ServerMetrics* const metrics_;
  const Authorizer* const authorizer_;
  const absl::Time start_time_;
  CallGate calls_;
};

}  // namespace cutover

#endif  // CUTOVER_SERVER_ADMIN_SERVICE_H_
