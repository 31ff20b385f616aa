// QueuedStreamReactor<Message>: the server side of one long-lived stream
// that follows the ChangeHub (Watch, flagd's EventStream, flagd's
// SyncFlags). It subscribes to the hub through its subclass, turns each hub
// event into zero or more messages (the subclass's OnEventLocked, which
// calls PushLocked), queues them and writes them one at a time (gRPC's
// callback API allows one outstanding write). A consumer that falls more
// than `max_queued` messages behind is ended with RESOURCE_EXHAUSTED; the
// hub's Close (shutdown) ends it with UNAVAILABLE, a failed write with
// UNAVAILABLE, a cancelled call with CANCELLED, a token revoked by a reload
// of the token file with UNAUTHENTICATED or PERMISSION_DENIED (Track). When
// gRPC is done with the call, the stream leaves the token registry and the
// hub, runs `on_done` (e.g. to release its PeerStreamLimit slot) and
// deletes itself.
//
// A subclass calls hub()->Subscribe(this, revision) at the end of its
// constructor (the hub may deliver at once, and OnEventLocked must be
// callable by then), and may push messages before that under mu_.
//
// Thread-safe: the hub's threads (Deliver, Close), the reloading thread
// (End, under the token registry's lock, which comes before mu_) and
// gRPC's (the On* callbacks) meet under mu_, which OnEventLocked and
// OnWrittenLocked run under too. Made with new; deletes itself in OnDone.
#ifndef CUTOVER_SERVER_QUEUED_STREAM_REACTOR_H_
#define CUTOVER_SERVER_QUEUED_STREAM_REACTOR_H_

#include <cstddef>
#include <deque>
#include <functional>
#include <memory>
#include <string>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "cutover/v1/cutover.pb.h"
#include "grpcpp/support/server_callback.h"
#include "rpc/grpc_status.h"
#include "server/auth.h"
#include "server/change_hub.h"
#include "server/token_streams.h"

namespace cutover {

template <class Message>
class QueuedStreamReactor : public grpc::ServerWriteReactor<Message>,
                            public ChangeHub::Subscriber {
 public:
  // Passes `event` to OnEventLocked unless the stream is over.
  void Deliver(const v1::WatchEvent& event) override {
    absl::MutexLock lock(&mu_);
    if (done_) return;
    OnEventLocked(event);
  }

  void Close() override {
    absl::MutexLock lock(&mu_);
    FinishLocked(
        grpc::Status(grpc::StatusCode::UNAVAILABLE,
                     absl::StrCat(name_, ": cutoverd is shutting down")));
  }

  void OnWriteDone(bool ok) override {
    absl::MutexLock lock(&mu_);
    writing_ = false;
    if (ok) OnWrittenLocked(queue_.front());
    queue_.pop_front();
    if (!ok) {
      FinishLocked(grpc::Status(grpc::StatusCode::UNAVAILABLE,
                                absl::StrCat(name_, ": write failed")));
      return;
    }
    if (!queue_.empty() && !done_) WriteNextLocked();
  }

  void OnCancel() override {
    absl::MutexLock lock(&mu_);
    FinishLocked(grpc::Status::CANCELLED);
  }

  // Ends the stream with `status` unless it is over. Any thread.
  void End(const grpc::Status& status) {
    absl::MutexLock lock(&mu_);
    FinishLocked(status);
  }

  // Ends the stream (End) if a reload of the token file revokes the token
  // `ticket` (from Authorizer::AllowStream) was opened with. Called once,
  // by the thread that made the stream, before handing it to gRPC.
  void Track(const StreamTicket& ticket) {
    registration_ = ticket.Track(
        [this](const absl::Status& status) { End(ToGrpcStatus(status)); });
  }

  void OnDone() override {
    // First: once it returns, no reload calls End on this stream.
    registration_.reset();
    hub_->Unsubscribe(this);
    on_done_();
    delete this;
  }

 protected:
  // `name` starts the stream's status messages ("watch: write failed");
  // `behind` is the RESOURCE_EXHAUSTED message. `on_done` runs once the
  // call is over.
  QueuedStreamReactor(ChangeHub* hub, size_t max_queued, std::string name,
                      std::string behind, std::function<void()> on_done)
      : hub_(hub),
        max_queued_(max_queued),
        name_(std::move(name)),
        behind_(std::move(behind)),
        on_done_(std::move(on_done)) {}

  // The hook: turns a hub event into the stream's messages, calling
  // PushLocked for each (zero or more). Not called once the stream is over.
  virtual void OnEventLocked(const v1::WatchEvent& event)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) = 0;
  // `message` was written (e.g. to count it).
  virtual void OnWrittenLocked(const Message& /*message*/)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {}

  // Queues `message` and starts writing it if nothing is being written;
  // ends the stream (RESOURCE_EXHAUSTED) instead when max_queued are
  // waiting already.
  void PushLocked(Message message) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (queue_.size() >= max_queued_) {
      FinishLocked(
          grpc::Status(grpc::StatusCode::RESOURCE_EXHAUSTED, behind_));
      return;
    }
    queue_.push_back(std::move(message));
    if (!writing_) WriteNextLocked();
  }

  ChangeHub* hub() const { return hub_; }

  absl::Mutex mu_;

 private:
  void WriteNextLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    writing_ = true;
    this->StartWrite(&queue_.front());
  }

  void FinishLocked(const grpc::Status& status)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (done_) return;
    done_ = true;
    this->Finish(status);
  }

  ChangeHub* const hub_;
  const size_t max_queued_;
  const std::string name_;
  const std::string behind_;
  const std::function<void()> on_done_;
  // Set by Track before gRPC has the stream, reset by OnDone.
  std::unique_ptr<StreamRegistration> registration_;
  // Front is the message being written while writing_; std::deque keeps
  // its address stable while others are pushed behind it.
  std::deque<Message> queue_ ABSL_GUARDED_BY(mu_);
  bool writing_ ABSL_GUARDED_BY(mu_) = false;
  bool done_ ABSL_GUARDED_BY(mu_) = false;
};

// A stream refused before it started: finishes at once with `status`.
// Made with new; deletes itself in OnDone.
template <class Message>
class RefusedStream final : public grpc::ServerWriteReactor<Message> {
 public:
  explicit RefusedStream(const grpc::Status& status) { this->Finish(status); }
  void OnDone() override { delete this; }
};

}  // namespace cutover

#endif  // CUTOVER_SERVER_QUEUED_STREAM_REACTOR_H_
