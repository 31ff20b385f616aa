// Status conversion at the RPC edge: absl::Status <-> grpc::Status. The
// codes are the same set (absl's are gRPC's), so the mapping is one to one.
#ifndef CUTOVER_RPC_GRPC_STATUS_H_
#define CUTOVER_RPC_GRPC_STATUS_H_

#include "absl/status/status.h"
#include "grpcpp/support/status.h"

namespace cutover {

grpc::Status ToGrpcStatus(const absl::Status& status);
absl::Status FromGrpcStatus(const grpc::Status& status);

}  // namespace cutover

#endif  // CUTOVER_RPC_GRPC_STATUS_H_
