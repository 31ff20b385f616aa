// EvaluationService: the gRPC Evaluation API (Decide, DecideBatch, Watch)
// on gRPC's callback API. Decisions come from the ChangeHub's current
// snapshot; a call never touches the store or waits for a writer.
//
// Decide and DecideBatch are registered raw: each parses its request on a
// protobuf arena (Decide's starts in its stack frame, DecideBatch's in a
// block kept for reuse) and writes its answer's bytes directly, most of
// them serialized once per flag version (convert/decide_wire.h). The arena
// is freed at once when the call is done (a 1000-user batch otherwise
// makes and frees some 20000 small objects one by one; see
// docs/performance.md).
//
// Thread-safe.
#ifndef CUTOVER_SERVER_EVALUATION_SERVICE_H_
#define CUTOVER_SERVER_EVALUATION_SERVICE_H_

#include "cutover/v1/cutover.grpc.pb.h"
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "grpcpp/support/byte_buffer.h"
#include "server/arena_messages.h"
#include "server/auth.h"
#include "server/change_hub.h"
#include "server/peer_stream_limit.h"
#include "server/server_metrics.h"

namespace cutover {

// Limits on evaluation requests.
struct EvaluationLimits {
  int max_batch = 10000;
  int max_key_length = 256;        // targeting key, flag key
  int max_attributes = 64;
  int max_attribute_length = 1024; // attribute name or value
  int max_watch_streams_per_peer = 1000;  // by client address
};

// Decide and DecideBatch raw, Watch typed (see above).
using EvaluationServiceBase = v1::Evaluation::WithRawCallbackMethod_Decide<
    v1::Evaluation::WithRawCallbackMethod_DecideBatch<
        v1::Evaluation::WithCallbackMethod_Watch<v1::Evaluation::Service>>>;

class EvaluationService final : public EvaluationServiceBase {
 public:
  // `metrics` counts decisions and streams (nullptr: nothing counted); it
  // must outlive the service.
  // `authorizer` decides who may call (nullptr: everyone).
  // `check_resume`, if set, may refuse a Watch resuming from a revision
  // (a read replica behind it: Follower::CheckResumeFrom).
  EvaluationService(
      ChangeHub* hub, EvaluationLimits limits,
      ServerMetrics* metrics = nullptr, const Authorizer* authorizer = nullptr,
      std::function<absl::Status(int64_t)> check_resume = nullptr);

  // A DecideRequest's bytes in, a DecideResponse's out.
  grpc::ServerUnaryReactor* Decide(grpc::CallbackServerContext* context,
                                   const grpc::ByteBuffer* request,
                                   grpc::ByteBuffer* response) override;
  // A DecideBatchRequest's bytes in, a DecideBatchResponse's out.
  grpc::ServerUnaryReactor* DecideBatch(grpc::CallbackServerContext* context,
                                        const grpc::ByteBuffer* request,
                                        grpc::ByteBuffer* response) override;
  grpc::ServerWriteReactor<v1::WatchEvent>* Watch(
      grpc::CallbackServerContext* context,
      const v1::WatchRequest* request) override;

 private:
  ChangeHub* const hub_;
  const EvaluationLimits limits_;
  ServerMetrics* const metrics_;
  const Authorizer* const authorizer_;
  const std::function<absl::Status(int64_t)> check_resume_;
  // The first blocks of DecideBatch's arenas.
  BlockPool batch_blocks_;
  // Watch streams open per client address.
  PeerStreamLimit watch_streams_;
};

}  // namespace cutover

#endif  // CUTOVER_SERVER_EVALUATION_SERVICE_H_
