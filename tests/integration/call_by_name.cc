#include "tests/integration/call_by_name.h"

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <utility>

#include "grpcpp/client_context.h"

namespace cutover::testing {

grpc::Status CallByName(grpc::GenericStub& stub, const std::string& method,
                        const grpc::ByteBuffer& request,
                        grpc::ByteBuffer* response, double deadline_seconds) {
  grpc::ClientContext context;
  const auto deadline = std::chrono::duration_cast<std::chrono::milliseconds>(
      std::chrono::duration<double>(deadline_seconds));
  if (deadline_seconds > 0) {
    context.set_deadline(std::chrono::system_clock::now() + deadline);
  }
  grpc::ByteBuffer ignored;
  std::mutex mu;
  std::condition_variable cv;
  bool done = false;
  grpc::Status result;
  stub.UnaryCall(&context, method, grpc::StubOptions(), &request,
                 response != nullptr ? response : &ignored,
                 [&](grpc::Status status) {
                   std::lock_guard<std::mutex> lock(mu);
                   result = std::move(status);
                   done = true;
                   cv.notify_one();
                 });
  std::unique_lock<std::mutex> lock(mu);
  if (deadline_seconds > 0 &&
      !cv.wait_for(lock, deadline + std::chrono::seconds(5),
                   [&] { return done; })) {
    // The call's deadline should have ended it: cancel, then its callback
    // still runs (the context must outlive it).
    context.TryCancel();
  }
  cv.wait(lock, [&] { return done; });
  return result;
}

grpc::ByteBuffer EmptyRequest() {
  grpc::Slice empty(std::string{});
  return grpc::ByteBuffer(&empty, 1);
}

}  // namespace cutover::testing
