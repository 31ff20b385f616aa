// PerThreadCounter: a monotonic counter that many threads bump at once
// without a locked instruction or a shared cache line, for the cache-hit
// path of Client::Decide.
//
// Each thread owns one slot (process-wide slot numbers, handed out on a
// thread's first Add and handed back when it exits), so a slot has one
// writer at a time and a relaxed load and store update it; Load() sums the
// slots. Threads beyond kSlots at once share an atomic overflow count.
//
// Thread-safe.
#ifndef CUTOVER_CLIENT_PER_THREAD_COUNTER_H_
#define CUTOVER_CLIENT_PER_THREAD_COUNTER_H_

#include <atomic>
#include <cstdint>

namespace cutover {

class PerThreadCounter {
 public:
  static constexpr int kSlots = 64;

  void Add(uint64_t n = 1) noexcept {
    const int slot = ThreadSlot();
    if (slot < kSlots) {
      std::atomic<uint64_t>& value = slots_[slot].value;
      value.store(value.load(std::memory_order_relaxed) + n,
                  std::memory_order_relaxed);
    } else {
      slots_[kSlots].value.fetch_add(n, std::memory_order_relaxed);
    }
  }

  uint64_t Load() const noexcept {
    uint64_t total = 0;
    for (const Slot& slot : slots_) {
      total += slot.value.load(std::memory_order_relaxed);
    }
    return total;
  }

 private:
  // This thread's slot: in [0, kSlots) if it owns one, else kSlots.
  static int ThreadSlot() noexcept {
    if (thread_slot_ < 0) TakeSlot();
    return thread_slot_;
  }
  // Sets thread_slot_ to a free slot number (or kSlots) and arranges for
  // it to be handed back (and thread_slot_ set to kSlots) at thread exit.
  static void TakeSlot() noexcept;

  // -1 until the thread's first Add.
  inline static thread_local int thread_slot_ = -1;

  struct alignas(64) Slot {
    std::atomic<uint64_t> value{0};
  };
  Slot slots_[kSlots + 1];  // the last: overflow, shared
};

}  // namespace cutover

#endif  // CUTOVER_CLIENT_PER_THREAD_COUNTER_H_
