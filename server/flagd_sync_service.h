// FlagdSync: the flagd sync protocol (flagd.sync.v1.FlagSyncService,
// proto/flagd/sync/v1/) on cutoverd's gRPC port, so that the stock
// OpenFeature flagd providers in in-process mode evaluate cutover's flags
// themselves. The payload is the current snapshot's flags translated by
// TranslateForFlagd (server/flagd_translate.h), re-sent whole after every
// change that alters it; flags it cannot express are left out, written to
// stderr once per snapshot and counted (ServerMetrics::CountFlagdLeftOut).
//
// Selector (the "flagd-selector" header, else the request's selector): a
// comma-separated list of flag keys; empty means every flag.
//
// Thread-safe. The hub, metrics and authorizer must outlive it.
#ifndef CUTOVER_SERVER_FLAGD_SYNC_SERVICE_H_
#define CUTOVER_SERVER_FLAGD_SYNC_SERVICE_H_

#include <cstdint>
#include <memory>
#include <string>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/synchronization/mutex.h"
#include "flagd/sync/v1/sync.pb.h"
#include "server/auth.h"
#include "server/change_hub.h"
#include "server/evaluation_service.h"
#include "server/flagd_grpc.h"
#include "server/flagd_translate.h"
#include "server/peer_stream_limit.h"
#include "server/server_metrics.h"

namespace cutover {

class FlagdSync final : public PathService {
 public:
  FlagdSync(ChangeHub* hub, EvaluationLimits limits, ServerMetrics* metrics,
            const Authorizer* authorizer);

  grpc::ServerWriteReactor<flagd::sync::v1::SyncFlagsResponse>* SyncFlags(
      grpc::CallbackServerContext* context,
      const flagd::sync::v1::SyncFlagsRequest* request);
  grpc::ServerUnaryReactor* FetchAllFlags(
      grpc::CallbackServerContext* context,
      const flagd::sync::v1::FetchAllFlagsRequest* request,
      flagd::sync::v1::FetchAllFlagsResponse* response);
  grpc::ServerUnaryReactor* GetMetadata(
      grpc::CallbackServerContext* context,
      const flagd::sync::v1::GetMetadataRequest* request,
      flagd::sync::v1::GetMetadataResponse* response);

  // The payload of `snapshot` for `selected` keys (empty: all). Logs and
  // counts the flags left out, once per snapshot revision.
  FlagdPayload Payload(const Snapshot& snapshot,
                       const absl::flat_hash_set<std::string>& selected);

  ChangeHub* hub() const { return hub_; }
  void ReleaseStream(const std::string& peer);

 private:
  // The role check and the admission; the ticket as for FlagdResolver's.
  absl::StatusOr<StreamTicket> AdmitStream(
      const grpc::ServerContextBase& call, const std::string& peer);

  ChangeHub* const hub_;
  const EvaluationLimits limits_;
  ServerMetrics* const metrics_;
  const Authorizer* const authorizer_;
  // SyncFlags streams open per client address.
  PeerStreamLimit streams_;
  absl::Mutex mu_;
  int64_t logged_revision_ ABSL_GUARDED_BY(mu_) = -1;
};

}  // namespace cutover

#endif  // CUTOVER_SERVER_FLAGD_SYNC_SERVICE_H_
