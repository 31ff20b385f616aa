#include "client/per_thread_counter.h"

#include <mutex>
#include <vector>

namespace cutover {
namespace {

// The process's slot numbers: those handed back, and the next never used.
// Leaked, so that threads exiting during static destruction can still
// hand theirs back.
struct SlotPool {
  SlotPool() { free.reserve(PerThreadCounter::kSlots); }  // push_back: no throw
  std::mutex mu;
  std::vector<int> free;
  int next = 0;
};

SlotPool& Pool() {
  static SlotPool* pool = new SlotPool();
  return *pool;
}

// Hands the thread's slot back when the thread exits; an Add after that
// (from another thread_local's destructor) goes to the shared overflow.
// The mutex orders the old owner's last store before the next owner's
// first load.
struct SlotLease {
  int* owner = nullptr;  // the thread's thread_slot_
  ~SlotLease() {
    if (owner == nullptr || *owner >= PerThreadCounter::kSlots) return;
    SlotPool& pool = Pool();
    std::lock_guard lock(pool.mu);
    pool.free.push_back(*owner);
    *owner = PerThreadCounter::kSlots;
  }
};

}  // namespace

void PerThreadCounter::TakeSlot() noexcept {
  thread_local SlotLease lease;
  SlotPool& pool = Pool();
  std::lock_guard lock(pool.mu);
  thread_slot_ = kSlots;
  if (!pool.free.empty()) {
    thread_slot_ = pool.free.back();
    pool.free.pop_back();
  } else if (pool.next < kSlots) {
    thread_slot_ = pool.next++;
  }
  lease.owner = &thread_slot_;
}

}  // namespace cutover
