// FlagdEvaluationV1 and FlagdEvaluationV2: the flagd evaluation protocol
// (flagd.evaluation.v1.Service and v2, proto/flagd/) on cutoverd's gRPC
// port, so that the stock OpenFeature flagd providers in RPC mode get
// cutover's decisions. Each Resolve maps the request onto the core's Decide
// (server/flagd_edge.h), on the ChangeHub's current snapshot, exactly as
// cutover.v1.Evaluation/Decide does; EventStream follows the hub like Watch.
// Roles as for Evaluation (reader); decisions counted like Decide's.
//
// Thread-safe. Both services share one FlagdResolver, which must outlive
// them.
#ifndef CUTOVER_SERVER_FLAGD_SERVICE_H_
#define CUTOVER_SERVER_FLAGD_SERVICE_H_

#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "core/evaluate.h"
#include "flagd/evaluation/v1/evaluation.pb.h"
#include "flagd/evaluation/string_reply.pb.h"
#include "flagd/evaluation/v2/evaluation.pb.h"
#include "grpcpp/support/server_callback.h"
#include "server/auth.h"
#include "server/change_hub.h"
#include "server/evaluation_service.h"
#include "server/flagd_grpc.h"
#include "server/peer_stream_limit.h"
#include "server/server_metrics.h"

namespace cutover {

// What both protocol versions share: role checks, the lookup, the context
// mapping, Decide, counting, and the per-address limit on event streams.
// Thread-safe.
class FlagdResolver {
 public:
  // `metrics` and `authorizer` as for EvaluationService (nullptr: none).
  FlagdResolver(ChangeHub* hub, EvaluationLimits limits, ServerMetrics* metrics,
                const Authorizer* authorizer);

  // One decision, with what the response needs.
  struct Resolved {
    std::shared_ptr<const Snapshot> snapshot;  // keeps `flag` alive
    const Flag* flag = nullptr;
    Decision decision;
  };

  // Checks the caller may call `method`, finds `flag_key` (NOT_FOUND with
  // flagd's message for an unknown or archived flag), then, when
  // `type_matches` is false, refuses with INVALID_ARGUMENT (TYPE_MISMATCH);
  // else maps `context` (INVALID_ARGUMENT naming a key) and decides.
  absl::Status Resolve(const grpc::ServerContextBase& call,
                       absl::string_view method, const std::string& flag_key,
                       const google::protobuf::Struct& context,
                       bool type_matches, Resolved* out) const;

  // Every flag not archived, decided for `context` (v1 ResolveAll); calls
  // `each` per flag. INVALID_ARGUMENT for a bad context.
  absl::Status ResolveAll(
      const grpc::ServerContextBase& call,
      const google::protobuf::Struct& context,
      std::shared_ptr<const Snapshot>* snapshot,
      const std::function<void(const Flag&, const Decision&)>& each) const;

  // Role check and admission of an event stream from the caller's address
  // (max_watch_streams_per_peer, counted apart from Watch's);
  // ReleaseStream undoes the admission. The ticket tracks the stream
  // (QueuedStreamReactor::Track) so a token revocation ends it.
  absl::StatusOr<StreamTicket> AdmitStream(
      const grpc::ServerContextBase& call, const std::string& peer);
  void ReleaseStream(const std::string& peer);

  ChangeHub* hub() const { return hub_; }

 private:
  ChangeHub* const hub_;
  const EvaluationLimits limits_;
  ServerMetrics* const metrics_;
  const Authorizer* const authorizer_;
  // Event streams open per client address (v1 and v2 together).
  PeerStreamLimit streams_;
};

// flagd.evaluation.v1.Service. Thread-safe.
class FlagdEvaluationV1 final : public PathService {
 public:
  explicit FlagdEvaluationV1(FlagdResolver* resolver);

  grpc::ServerUnaryReactor* ResolveAll(
      grpc::CallbackServerContext* context,
      const flagd::evaluation::v1::ResolveAllRequest* request,
      flagd::evaluation::v1::ResolveAllResponse* response);
  grpc::ServerUnaryReactor* ResolveBoolean(
      grpc::CallbackServerContext* context,
      const flagd::evaluation::v1::ResolveBooleanRequest* request,
      flagd::evaluation::v1::ResolveBooleanResponse* response);
  grpc::ServerUnaryReactor* ResolveString(
      grpc::CallbackServerContext* context,
      const flagd::evaluation::v1::ResolveStringRequest* request,
      flagd_wire::ResolveStringReply* response);
  grpc::ServerUnaryReactor* ResolveFloat(
      grpc::CallbackServerContext* context,
      const flagd::evaluation::v1::ResolveFloatRequest* request,
      flagd::evaluation::v1::ResolveFloatResponse* response);
  grpc::ServerUnaryReactor* ResolveInt(
      grpc::CallbackServerContext* context,
      const flagd::evaluation::v1::ResolveIntRequest* request,
      flagd::evaluation::v1::ResolveIntResponse* response);
  grpc::ServerUnaryReactor* ResolveObject(
      grpc::CallbackServerContext* context,
      const flagd::evaluation::v1::ResolveObjectRequest* request,
      flagd::evaluation::v1::ResolveObjectResponse* response);
  grpc::ServerWriteReactor<flagd::evaluation::v1::EventStreamResponse>*
  EventStream(grpc::CallbackServerContext* context,
              const flagd::evaluation::v1::EventStreamRequest* request);

 private:
  FlagdResolver* const resolver_;
};

// flagd.evaluation.v2.Service (no ResolveAll). Thread-safe.
class FlagdEvaluationV2 final : public PathService {
 public:
  explicit FlagdEvaluationV2(FlagdResolver* resolver);

  grpc::ServerUnaryReactor* ResolveBoolean(
      grpc::CallbackServerContext* context,
      const flagd::evaluation::v2::ResolveBooleanRequest* request,
      flagd::evaluation::v2::ResolveBooleanResponse* response);
  grpc::ServerUnaryReactor* ResolveString(
      grpc::CallbackServerContext* context,
      const flagd::evaluation::v2::ResolveStringRequest* request,
      flagd_wire::ResolveStringReply* response);
  grpc::ServerUnaryReactor* ResolveFloat(
      grpc::CallbackServerContext* context,
      const flagd::evaluation::v2::ResolveFloatRequest* request,
      flagd::evaluation::v2::ResolveFloatResponse* response);
  grpc::ServerUnaryReactor* ResolveInt(
      grpc::CallbackServerContext* context,
      const flagd::evaluation::v2::ResolveIntRequest* request,
      flagd::evaluation::v2::ResolveIntResponse* response);
  grpc::ServerUnaryReactor* ResolveObject(
      grpc::CallbackServerContext* context,
      const flagd::evaluation::v2::ResolveObjectRequest* request,
      flagd::evaluation::v2::ResolveObjectResponse* response);
  grpc::ServerWriteReactor<flagd::evaluation::v2::EventStreamResponse>*
  EventStream(grpc::CallbackServerContext* context,
              const flagd::evaluation::v2::EventStreamRequest* request);

 private:
  FlagdResolver* const resolver_;
};

}  // namespace cutover

#endif  // CUTOVER_SERVER_FLAGD_SERVICE_H_
