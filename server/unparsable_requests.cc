#include "server/unparsable_requests.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "google/protobuf/descriptor.h"
#include "grpcpp/support/interceptor.h"
#include "grpcpp/support/status.h"

namespace cutover {
namespace {

using grpc::experimental::InterceptionHookPoints;

// One call's interceptor: notes whether the request parsed, and if it did
// not, replaces the status gRPC sends for it.
class UnparsableRequestInterceptor final
    : public grpc::experimental::Interceptor {
 public:
  explicit UnparsableRequestInterceptor(grpc::experimental::ServerRpcInfo* info)
      : info_(info) {}

  void Intercept(
      grpc::experimental::InterceptorBatchMethods* methods) override {
    if (methods->QueryInterceptionHookPoint(
            InterceptionHookPoints::POST_RECV_MESSAGE)) {
      unparsed_ = methods->GetRecvMessage() == nullptr;
    }
    if (unparsed_ && methods->QueryInterceptionHookPoint(
                         InterceptionHookPoints::PRE_SEND_STATUS)) {
      // Only the answers gRPC gives to a request that did not parse: a
      // sync server out of threads also runs no handler (and hands on no
      // message), but answers RESOURCE_EXHAUSTED, which stays.
      const grpc::StatusCode code = methods->GetSendStatus().error_code();
      if (code == grpc::StatusCode::UNIMPLEMENTED ||
          code == grpc::StatusCode::INTERNAL) {
        methods->ModifySendStatus(
            grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                         UnparsableRequestMessage(info_->method())));
      }
    }
    methods->Proceed();
  }

 private:
  grpc::experimental::ServerRpcInfo* const info_;
  bool unparsed_ = false;
};

}  // namespace

grpc::experimental::Interceptor* UnparsableRequests::CreateServerInterceptor(
    grpc::experimental::ServerRpcInfo* info) {
  using Type = grpc::experimental::ServerRpcInfo::Type;
  if (info->type() != Type::UNARY && info->type() != Type::SERVER_STREAMING) {
    return nullptr;
  }
  return new UnparsableRequestInterceptor(info);
}

std::string UnparsableRequestMessage(absl::string_view method) {
  // "/cutover.v1.Evaluation/Decide" is the method
  // "cutover.v1.Evaluation.Decide" of the descriptor pool.
  absl::string_view name = method;
  if (!name.empty() && name.front() == '/') name.remove_prefix(1);
  const google::protobuf::MethodDescriptor* descriptor =
      google::protobuf::DescriptorPool::generated_pool()->FindMethodByName(
          absl::StrReplaceAll(name, {{"/", "."}}));
  if (descriptor == nullptr) {
    return absl::StrCat("request does not parse as the request message of ",
                        method);
  }
  return absl::StrCat("request does not parse as ",
                      descriptor->input_type()->full_name());
}

}  // namespace cutover
