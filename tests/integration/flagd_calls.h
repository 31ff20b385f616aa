// FlagdCaller: calls the flagd evaluation protocol (v1 or v2) on a channel
// by method path, as a flagd provider would, for tests. gRPC's C++
// generator cannot compile flagd's service (server/flagd_grpc.h says why),
// so these use the blocking helpers generated stubs are made of.
//
// Thread-compatible: one per thread, or calls serialized by the caller.
#ifndef CUTOVER_TESTS_INTEGRATION_FLAGD_CALLS_H_
#define CUTOVER_TESTS_INTEGRATION_FLAGD_CALLS_H_

#include <chrono>
#include <memory>
#include <string>

#include "absl/strings/str_cat.h"
#include "grpcpp/channel.h"
#include "grpcpp/client_context.h"
#include "grpcpp/impl/client_unary_call.h"
#include "grpcpp/impl/rpc_method.h"
#include "grpcpp/support/sync_stream.h"

namespace cutover::testing {

class FlagdCaller {
 public:
  // `version`: "v1" or "v2".
  FlagdCaller(std::shared_ptr<grpc::Channel> channel, std::string version)
      : channel_(std::move(channel)),
        prefix_(absl::StrCat("/flagd.evaluation.", version, ".Service/")) {}

  // One unary call of `method` ("ResolveString"), bounded by 10 s.
  template <class Request, class Response>
  grpc::Status Call(const std::string& method, const Request& request,
                    Response* response) const {
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() +
                         std::chrono::seconds(10));
    const std::string path = prefix_ + method;
    return grpc::internal::BlockingUnaryCall(
        channel_.get(),
        grpc::internal::RpcMethod(
            path.c_str(), grpc::internal::RpcMethod::NORMAL_RPC, channel_),
        &context, request, response);
  }

  // Opens EventStream on `context` (the caller sets its deadline and keeps
  // it alive while reading).
  template <class Response, class Request>
  std::unique_ptr<grpc::ClientReader<Response>> Events(
      grpc::ClientContext* context, const Request& request) {
    path_ = prefix_ + "EventStream";
    return std::unique_ptr<grpc::ClientReader<Response>>(
        grpc::internal::ClientReaderFactory<Response>::Create(
            channel_.get(),
            grpc::internal::RpcMethod(
                path_.c_str(), grpc::internal::RpcMethod::SERVER_STREAMING,
                channel_),
            context, request));
  }

 private:
  std::shared_ptr<grpc::Channel> channel_;
  std::string prefix_;
  std::string path_;  // the stream's method name, alive while it runs
};

}  // namespace cutover::testing

#endif  // CUTOVER_TESTS_INTEGRATION_FLAGD_CALLS_H_
