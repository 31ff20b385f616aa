// Status conversion at the RPC edge: absl::Status <-> grpc::Status. The
// codes are the same set (absl's are gRPC's), so the mapping is one to one.
// And which of them are refusals.
#ifndef CUTOVER_RPC_GRPC_STATUS_H_
#define CUTOVER_RPC_GRPC_STATUS_H_

#include "absl/status/status.h"
#include "grpcpp/support/status.h"

namespace cutover {

grpc::Status ToGrpcStatus(const absl::Status& status);
absl::Status FromGrpcStatus(const grpc::Status& status);

// Whether a call ended because the server answered no (the request, the
// caller's credentials or the server's state: trying again as it is will
// not help, someone must change the caller or the server), as opposed to
// not reaching the server, a deadline, or a cancellation.
bool IsRefusal(const absl::Status& status);

}  // namespace cutover

#endif  // CUTOVER_RPC_GRPC_STATUS_H_
