// PathService: a gRPC callback service whose methods are registered by
// their full path ("/flagd.evaluation.v1.Service/ResolveString") instead of
// by generated code. gRPC's C++ generator cannot compile flagd's service,
// whose name is "Service" (the generated class would hold a class of its own
// name), so the flagd services (server/flagd_service.h) are wired here with
// the same handlers the generated code would use.
//
// Methods are added in the constructor only; after that the service is
// used by gRPC alone. Thread-safety is the handlers'.
#ifndef CUTOVER_SERVER_FLAGD_GRPC_H_
#define CUTOVER_SERVER_FLAGD_GRPC_H_

#include <functional>
#include <memory>
#include <vector>

#include "grpcpp/impl/rpc_method.h"
#include "grpcpp/impl/rpc_service_method.h"
#include "grpcpp/impl/service_type.h"
#include "grpcpp/server_context.h"
#include "grpcpp/support/callback_common.h"
#include "grpcpp/support/server_callback.h"
#include "server/arena_messages.h"

namespace cutover {

class PathService : public grpc::Service {
 protected:
  // `path` must outlive the service (a string literal). Each call's
  // request and response live on one arena (server/arena_messages.h), as
  // Decide's do.
  template <class Request, class Response>
  void AddUnary(const char* path,
                std::function<grpc::ServerUnaryReactor*(
                    grpc::CallbackServerContext*, const Request*, Response*)>
                    handler) {
    AddMethod(new grpc::internal::RpcServiceMethod(
        path, grpc::internal::RpcMethod::NORMAL_RPC, nullptr));
    auto* unary = new grpc::internal::CallbackUnaryHandler<Request, Response>(
        std::move(handler));
    auto allocator =
        std::make_shared<ArenaMessageAllocator<Request, Response>>();
    unary->SetMessageAllocator(allocator.get());
    allocators_.push_back(std::move(allocator));
    MarkMethodCallback(next_++, unary);
  }

  template <class Request, class Response>
  void AddServerStream(const char* path,
                       std::function<grpc::ServerWriteReactor<Response>*(
                           grpc::CallbackServerContext*, const Request*)>
                           handler) {
    AddMethod(new grpc::internal::RpcServiceMethod(
        path, grpc::internal::RpcMethod::SERVER_STREAMING, nullptr));
    MarkMethodCallback(
        next_++,
        new grpc::internal::CallbackServerStreamingHandler<Request, Response>(
            std::move(handler)));
  }

 private:
  size_t next_ = 0;
  std::vector<std::shared_ptr<void>> allocators_;  // outlive the handlers
};

}  // namespace cutover

#endif  // CUTOVER_SERVER_FLAGD_GRPC_H_
