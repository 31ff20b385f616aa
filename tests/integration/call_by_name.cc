#include "tests/integration/call_by_name.h"

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <utility>

#include "grpcpp/client_context.h"
#include "grpcpp/support/client_callback.h"

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

namespace {

// One message sent (and the sending side closed), every response read and
// dropped, until the call ends.
class OneMessageStream final
    : public grpc::ClientBidiReactor<grpc::ByteBuffer, grpc::ByteBuffer> {
 public:
  explicit OneMessageStream(const grpc::ByteBuffer& request)
      : request_(request) {}

  void Start() {
    StartWriteLast(&request_, grpc::WriteOptions());
    StartRead(&response_);
    StartCall();
  }
  void OnReadDone(bool ok) override {
    if (ok) StartRead(&response_);
  }
  void OnDone(const grpc::Status& status) override {
    std::lock_guard<std::mutex> lock(mu_);
    status_ = status;
    done_ = true;
    cv_.notify_one();
  }
  // The status, once the call has ended; false if it has not after
  // `timeout`.
  bool WaitFor(std::chrono::milliseconds timeout) {
    std::unique_lock<std::mutex> lock(mu_);
    return cv_.wait_for(lock, timeout, [&] { return done_; });
  }
  grpc::Status Wait() {
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait(lock, [&] { return done_; });
    return status_;
  }

 private:
  grpc::ByteBuffer request_;
  grpc::ByteBuffer response_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool done_ = false;
  grpc::Status status_;
};

}  // namespace

grpc::Status StreamByName(grpc::GenericStub& stub, const std::string& method,
                          const grpc::ByteBuffer& request,
                          double deadline_seconds) {
  grpc::ClientContext context;
  const auto deadline = std::chrono::duration_cast<std::chrono::milliseconds>(
      std::chrono::duration<double>(deadline_seconds));
  context.set_deadline(std::chrono::system_clock::now() + deadline);
  OneMessageStream stream(request);
  stub.PrepareBidiStreamingCall(&context, method, grpc::StubOptions(), &stream);
  stream.Start();
  if (!stream.WaitFor(deadline + std::chrono::seconds(5))) {
    context.TryCancel();  // as in CallByName
  }
  return stream.Wait();
}

grpc::ByteBuffer EmptyRequest() {
  grpc::Slice empty(std::string{});
  return grpc::ByteBuffer(&empty, 1);
}

}  // namespace cutover::testing
