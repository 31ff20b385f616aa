// ArenaMessageAllocator: a gRPC callback MessageAllocator that puts one
// call's request and response on one protobuf arena, freed whole when the
// call is done instead of every string and message one at a time (see
// docs/performance.md); used by flagd's Resolve calls. CallArena is such an
// arena for a handler that parses its own request (DecideBatch), there
// with a BlockPool: its arenas start in large blocks kept for reuse.
//
// The allocator and the pool are thread-safe; each holder and CallArena
// belongs to one call.
#ifndef CUTOVER_SERVER_ARENA_MESSAGES_H_
#define CUTOVER_SERVER_ARENA_MESSAGES_H_

#include <memory>
#include <optional>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "google/protobuf/arena.h"
#include "grpcpp/support/message_allocator.h"

namespace cutover {

// First blocks for the arenas of DecideBatch calls, kept for reuse. A
// batch's messages fill a few hundred KiB; handing that much back to malloc
// at once lets it return the memory to the system and the next batch fault
// it in again (~70 page faults per 1000-user batch, measured).
class BlockPool {
 public:
  static constexpr size_t kBlockSize = 512 << 10;  // a 1000-user batch fits
  static constexpr size_t kMaxKept = 8;

  std::unique_ptr<char[]> Take() {
    {
      absl::MutexLock lock(&mu_);
      if (!free_.empty()) {
        std::unique_ptr<char[]> block = std::move(free_.back());
        free_.pop_back();
        return block;
      }
    }
    return std::unique_ptr<char[]>(new char[kBlockSize]);
  }
  void Give(std::unique_ptr<char[]> block) {
    absl::MutexLock lock(&mu_);
    if (free_.size() < kMaxKept) free_.push_back(std::move(block));
  }

 private:
  absl::Mutex mu_;
  std::vector<std::unique_ptr<char[]>> free_ ABSL_GUARDED_BY(mu_);
};

// One call's protobuf arena. With a pool, it starts in a block taken from
// the pool and given back when the arena is gone.
//
// Belongs to one call.
class CallArena {
 public:
  explicit CallArena(BlockPool* pool) : pool_(pool) {
    google::protobuf::ArenaOptions options;
    options.start_block_size = 4096;  // a single resolve fits
    options.max_block_size = 65536;
    if (pool_ != nullptr) {
      block_ = pool_->Take();
      options.initial_block = block_.get();
      options.initial_block_size = BlockPool::kBlockSize;
    }
    arena_.emplace(options);
  }
  ~CallArena() {
    arena_.reset();  // it keeps its bookkeeping in the block: first
    if (pool_ != nullptr) pool_->Give(std::move(block_));
  }
  CallArena(const CallArena&) = delete;
  CallArena& operator=(const CallArena&) = delete;

  google::protobuf::Arena* arena() { return &*arena_; }

 private:
  BlockPool* const pool_;
  std::unique_ptr<char[]> block_;
  std::optional<google::protobuf::Arena> arena_;
};

// One call's request and response on one CallArena (no pool: small
// messages): parsing the request and building the response allocate from
// it, and releasing the call frees it whole instead of every string and
// message one at a time.
template <class Request, class Response>
class ArenaMessageHolder final
    : public grpc::MessageHolder<Request, Response> {
 public:
  ArenaMessageHolder() : arena_(nullptr) {
    this->set_request(
        google::protobuf::Arena::CreateMessage<Request>(arena_.arena()));
    this->set_response(
        google::protobuf::Arena::CreateMessage<Response>(arena_.arena()));
  }
  void Release() override { delete this; }

 private:
  CallArena arena_;
};

template <class Request, class Response>
class ArenaMessageAllocator final
    : public grpc::MessageAllocator<Request, Response> {
 public:
  grpc::MessageHolder<Request, Response>* AllocateMessages() override {
    return new ArenaMessageHolder<Request, Response>();
  }
};

}  // namespace cutover

#endif  // CUTOVER_SERVER_ARENA_MESSAGES_H_
