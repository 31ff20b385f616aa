// What a Client counts of the decisions it makes itself (local evaluation,
// ClientOptions::evaluation = kLocal), so that the daemon's
// cutover_decisions_total can include them (client/decision_reporter.h
// sends them). An internal header of the client library.
//
// Two parts:
//
// FlagCounterSlots gives each flag key a dense counter slot number, never
// reused for another key: SyncedFlags takes one for every flag it puts in
// a state and keeps it in the state's FlagEntry, so the decision path gets
// it from the lookup it already makes. Slot 0 (kUnknownSlot) is for keys
// the state does not have (FLAG_NOT_FOUND): arbitrary strings never get a
// slot of their own. Slots grow with the distinct keys the daemon has sent
// (its flags, archived ones included), not with what callers ask for.
// Thread-safe: SlotFor from the thread that builds states (the Watch
// thread; Load before it starts), AppendKeys from any.
//
// LocalDecisionCounts counts decisions by (slot, stage, reason) with no
// shared write on the decision path: each thread that counts owns a block
// of counters (relaxed atomics that only it writes, a relaxed load and
// store per count: no locked instruction), split in chunks of
// kSlotsPerChunk slots allocated the first time the thread counts one of
// their slots, and found through a small thread_local cache keyed by the
// counts' id (a thread's first count, or one after a cache collision
// between several Clients, takes the slow path: a thread_local list, and
// the mutex once per thread and Client). A collector (AddTotalsTo) sums
// every block with relaxed loads: each cell only grows, so a sum never
// goes back, and a count not seen by one sum is seen by the next.
//
// Memory is bounded: a block outlives its thread and is handed to the next
// new thread (through the mutex, which orders the old owner's last store
// before the new owner's first), so there are at most as many blocks as
// threads that counted at once; a block holds only the chunks its threads
// counted in (16 slots x 30 cells x 8 bytes = 3840 bytes each), plus a
// directory of chunk pointers that doubles as it grows (old directories
// are kept, so a collector never reads freed memory). A count made after
// the thread's own block is gone (from another thread_local's destructor)
// or when memory runs out goes to a block shared under the mutex, or, if
// even that cannot allocate, is lost and counted in uncounted().
//
// Thread-safe. The counts may be destroyed while threads that counted
// still run: their blocks are freed when those threads exit or next take
// a block for another LocalDecisionCounts.
#ifndef CUTOVER_CLIENT_LOCAL_DECISION_COUNTS_H_
#define CUTOVER_CLIENT_LOCAL_DECISION_COUNTS_H_

#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "core/evaluate.h"
#include "core/stage.h"

namespace cutover {

class FlagCounterSlots {
 public:
  static constexpr uint32_t kUnknownSlot = 0;
  // The key reported for kUnknownSlot: the daemon's label for keys it
  // does not have (server/server_metrics.h).
  static constexpr char kUnknownKey[] = "(unknown)";

  FlagCounterSlots();
  FlagCounterSlots(const FlagCounterSlots&) = delete;
  FlagCounterSlots& operator=(const FlagCounterSlots&) = delete;

  // The slot of `key`, a new one the first time. May throw std::bad_alloc.
  uint32_t SlotFor(std::string_view key);
  // Appends the keys of slots keys->size() and up, so that keys[slot] is
  // the slot's key (slot 0: kUnknownKey).
  void AppendKeys(std::vector<std::string>& keys) const;
  // Slots handed out, kUnknownSlot included.
  size_t size() const;

 private:
  mutable std::mutex mu_;
  absl::flat_hash_map<std::string, uint32_t> slots_;  // guarded by mu_
  std::vector<std::string> keys_;                     // guarded by mu_
};

class LocalDecisionCounts {
 public:
  // The stages (off .. complete) and reasons (DISABLED .. FLAG_NOT_FOUND,
  // those of an evaluation) a decision is counted by.
  static constexpr int kStages = 6;
  static constexpr int kReasons = 5;
  static constexpr int kCellsPerSlot = kStages * kReasons;
  static constexpr uint32_t kSlotsPerChunk = 16;

  LocalDecisionCounts();
  ~LocalDecisionCounts();
  LocalDecisionCounts(const LocalDecisionCounts&) = delete;
  LocalDecisionCounts& operator=(const LocalDecisionCounts&) = delete;

  // One decision for the flag of `slot` (FlagCounterSlots). The decision
  // path: no locked instruction, no shared write, no allocation once the
  // thread has counted in the slot's chunk. A stage or reason outside the
  // ranges above is not counted (uncounted()).
  void Count(uint32_t slot, Stage stage, Reason reason) noexcept;

  // Adds every count so far to totals[slot * kCellsPerSlot + cell],
  // growing `totals` as needed (may throw std::bad_alloc). Two calls
  // ordered one after the other (the same thread, or through a mutex)
  // see totals that never decrease.
  void AddTotalsTo(std::vector<uint64_t>& totals) const;
  // Every decision Count was called for so far, counted or not
  // (uncounted() included). Never decreases between ordered calls.
  uint64_t Total() const noexcept;
  // The cell of (stage, reason), -1 if not counted; and back.
  static int CellOf(Stage stage, Reason reason) noexcept;
  static Stage StageOfCell(int cell) noexcept;
  static Reason ReasonOfCell(int cell) noexcept;

  // Decisions that could not be counted (memory exhausted, or a stage or
  // reason out of range).
  uint64_t uncounted() const noexcept;
  // Blocks made so far: at most the threads that counted at once.
  size_t block_count() const;

  // Defined in local_decision_counts.cc: one thread's counters, and every
  // block with the mutex that hands them out.
  class Block;
  struct Shared;

 private:
  // This thread's block (slow path of Count); null if there is none (the
  // thread is exiting, or memory ran out).
  Block* TakeThreadBlock() noexcept;
  // Counts on the block shared under the mutex.
  void CountShared(uint32_t slot, int cell) noexcept;

  const std::shared_ptr<Shared> shared_;
  const uint64_t id_;  // unique in the process, never reused
};

}  // namespace cutover

#endif  // CUTOVER_CLIENT_LOCAL_DECISION_COUNTS_H_
