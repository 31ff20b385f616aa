// UnparsableRequests: a gRPC server interceptor factory that answers a
// request whose bytes do not parse as its method's request message with
// INVALID_ARGUMENT "request does not parse as cutover.v1.DecideRequest",
// for every method that takes one request message (unary and
// server-streaming), of every service registered, without code per method.
// Methods registered raw (Evaluation's Decide and DecideBatch) get bytes,
// which always "parse": their handlers parse and refuse with the same
// message themselves.
//
// gRPC parses such a request before any handler runs and, when it does not
// parse, answers by itself: UNIMPLEMENTED with no message on the callback
// API (Evaluation, Telemetry), INTERNAL with no message on the synchronous
// one (Admin), which a client cannot tell from a missing method or a server
// bug. gRPC hands interceptors a null message for a request that did not
// parse; the interceptor remembers that and rewrites the status gRPC then
// sends. Since no handler runs, the refusal comes before the caller's role
// is checked (with auth on, bad bytes get INVALID_ARGUMENT with or without
// a valid token) and is not counted in the services' metrics.
//
// Thread-safe: the factory holds nothing; each call gets its own
// interceptor.
#ifndef CUTOVER_SERVER_UNPARSABLE_REQUESTS_H_
#define CUTOVER_SERVER_UNPARSABLE_REQUESTS_H_

#include <string>

#include "absl/strings/string_view.h"
#include "grpcpp/support/server_interceptor.h"

namespace cutover {

class UnparsableRequests final
    : public grpc::experimental::ServerInterceptorFactoryInterface {
 public:
  // An interceptor for a unary or server-streaming call; nullptr (no
  // interceptor) for the others, whose messages their handlers read.
  grpc::experimental::Interceptor* CreateServerInterceptor(
      grpc::experimental::ServerRpcInfo* info) override;
};

// The message of the refusal for `method` ("/cutover.v1.Evaluation/Decide"):
// "request does not parse as cutover.v1.DecideRequest", the type found in
// the generated descriptor pool (or "as the request message of <method>"
// for a method the pool does not know).
std::string UnparsableRequestMessage(absl::string_view method);

}  // namespace cutover

#endif  // CUTOVER_SERVER_UNPARSABLE_REQUESTS_H_
