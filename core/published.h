// Published<T>: an immutable value that one writer replaces now and then
// and many threads read on a hot path: the client's synced flags, the
// daemon's snapshot of its store.
//
// Load() is std::atomic_load of the shared_ptr: libstdc++ takes one of its
// pool's mutexes and bumps the value's use count, two cache lines that
// every reading thread writes. Current() is the hot path's read, which
// writes nothing another thread reads while nothing is published: each
// thread keeps its own reference to the value with the generation it was
// published at and reads one atomic counter per call; after a Store, a
// thread's next Current() takes the new value once (through Load()).
//
// The pointer Current() returns is valid until this thread's next
// Current() on the same object (or the thread's exit). An old value lives
// until every thread that read it has called Current() again or exited:
// at most one old value per idle thread. Each thread remembers the values
// of 4 objects (direct-mapped by a process-unique id, never reused): more
// objects read by one thread only cost each other the slow path.
//
// Thread-safe: Store from one writer at a time, the rest from any thread.
#ifndef CUTOVER_CORE_PUBLISHED_H_
#define CUTOVER_CORE_PUBLISHED_H_

#include <atomic>
#include <cstdint>
#include <memory>
#include <utility>

namespace cutover {

// A number no other call in the process gets (Published's ids).
inline uint64_t NextPublishedId() noexcept {
  static std::atomic<uint64_t> next{1};
  return next.fetch_add(1, std::memory_order_relaxed);
}

template <typename T>
class Published {
 public:
  explicit Published(std::shared_ptr<const T> initial = nullptr)
      : value_(std::move(initial)) {}
  Published(const Published&) = delete;
  Published& operator=(const Published&) = delete;

  // The value (null before anything was published), shared: for a reader
  // that keeps it past its next Current(), or off the hot path.
  std::shared_ptr<const T> Load() const { return std::atomic_load(&value_); }

  // Makes `next` the value.
  void Store(std::shared_ptr<const T> next) {
    std::atomic_store(&value_, std::move(next));
    // After the store: a reader that sees the new generation loads (at
    // least) the new value.
    generation_.fetch_add(1, std::memory_order_release);
  }

  // The value for the hot path (see above), null before anything was
  // published.
  const T* Current() const noexcept {
    struct Slot {
      uint64_t owner = 0;
      uint64_t generation = 0;
      std::shared_ptr<const T> value;
    };
    static thread_local Slot slots[4];
    Slot& slot = slots[id_ % 4];
    const uint64_t generation = generation_.load(std::memory_order_acquire);
    if (slot.owner != id_ || slot.generation != generation) {
      slot.value = Load();  // the slow path: once per thread and change
      slot.owner = id_;
      slot.generation = generation;
    }
    return slot.value.get();
  }

 private:
  std::shared_ptr<const T> value_;  // atomic_load/atomic_store
  // Stores so far; Current()'s readers compare it with their copy's.
  std::atomic<uint64_t> generation_{0};
  const uint64_t id_ = NextPublishedId();  // Current()'s key
};

}  // namespace cutover

#endif  // CUTOVER_CORE_PUBLISHED_H_
