// Tests of the local decision counters (client/local_decision_counts.h):
// exact totals from many threads at once while a collector sums, totals
// that never go back, blocks handed on to new threads (bounded memory),
// several counts objects on the same threads (cache collisions), counts
// made from a thread_local's destructor, and the flag slots. Run under
// ThreadSanitizer by scripts/tsan.sh (client_test).
#include "client/local_decision_counts.h"

#include <catch2/catch.hpp>

#include <atomic>
#include <memory>
#include <string>
#include <thread>
#include <vector>

namespace cutover {
namespace {

constexpr int kCells = LocalDecisionCounts::kCellsPerSlot;

// The slots counted below: several chunks, and one far enough to make the
// directory grow more than once.
const std::vector<uint32_t>& Slots() {
  static const std::vector<uint32_t> slots = {0, 1, 5, 15, 16, 17, 40, 1000};
  return slots;
}

// The (stage, reason) of decision `i`: every cell in turn.
Stage StageOf(int i) { return LocalDecisionCounts::StageOfCell(i % kCells); }
Reason ReasonOf(int i) { return LocalDecisionCounts::ReasonOfCell(i % kCells); }

// What thread `t` counts: decisions i = 0 .. adds-1 on slot
// Slots()[(t + i) % n], cell i % kCells. Returns the expected totals.
std::vector<uint64_t> Expected(int threads, int adds) {
  std::vector<uint64_t> totals((Slots().back() + 1) * kCells, 0);
  for (int t = 0; t < threads; ++t) {
    for (int i = 0; i < adds; ++i) {
      const uint32_t slot = Slots()[(t + i) % Slots().size()];
      totals[slot * kCells + i % kCells] += 1;
    }
  }
  return totals;
}

void CountAs(LocalDecisionCounts& counts, int t, int adds) {
  for (int i = 0; i < adds; ++i) {
    counts.Count(Slots()[(t + i) % Slots().size()], StageOf(i), ReasonOf(i));
  }
}

// The totals as `size` cells (AddTotalsTo sizes by whole chunks); a count
// past them reads as a total of ~0 in the last cell, so that it fails the
// comparison.
std::vector<uint64_t> Totals(const LocalDecisionCounts& counts,
                             size_t size) {
  std::vector<uint64_t> totals;
  counts.AddTotalsTo(totals);
  bool beyond = false;
  for (size_t i = size; i < totals.size(); ++i) beyond |= totals[i] != 0;
  totals.resize(size, 0);
  if (beyond && size > 0) totals.back() = ~uint64_t{0};
  return totals;
}

TEST_CASE("cells map to every stage and evaluation reason and back, others "
          "are not counted",
          "[local_counts]") {
  for (int cell = 0; cell < kCells; ++cell) {
    CHECK(LocalDecisionCounts::CellOf(LocalDecisionCounts::StageOfCell(cell),
                                      LocalDecisionCounts::ReasonOfCell(cell)) ==
          cell);
  }
  CHECK(LocalDecisionCounts::CellOf(Stage::kOff, Reason::kDisabled) == 0);
  CHECK(LocalDecisionCounts::CellOf(Stage::kComplete, Reason::kFlagNotFound) ==
        kCells - 1);
  CHECK(LocalDecisionCounts::CellOf(Stage::kUnspecified, Reason::kSplit) < 0);
  CHECK(LocalDecisionCounts::CellOf(Stage::kLive, Reason::kCached) < 0);
  CHECK(LocalDecisionCounts::CellOf(Stage::kLive, Reason::kStale) < 0);
  LocalDecisionCounts counts;
  counts.Count(3, Stage::kLive, Reason::kError);
  CHECK(counts.uncounted() == 1);
  CHECK(Totals(counts, 0) == std::vector<uint64_t>{});
  counts.Count(3, Stage::kLive, Reason::kSplit);
  CHECK(counts.Total() == 2);  // the uncounted one too
}

TEST_CASE("16 threads at once: exact totals per slot and cell, while a "
          "collector's sums never go back",
          "[local_counts]") {
  constexpr int kThreads = 16;
  constexpr int kAdds = 20000;
  LocalDecisionCounts counts;
  const std::vector<uint64_t> expected = Expected(kThreads, kAdds);

  std::atomic<int> started{0};
  std::atomic<bool> done{false};
  bool went_back = false;
  int sums = 0;
  std::thread collector([&] {
    std::vector<uint64_t> last(expected.size(), 0);
    // Bounded: the counting threads end, then one more sum.
    while (true) {
      const bool last_round = done.load();
      const std::vector<uint64_t> now = Totals(counts, expected.size());
      for (size_t i = 0; i < now.size(); ++i) {
        if (now[i] < last[i]) went_back = true;
      }
      last = now;
      sums += 1;
      if (last_round) break;
      std::this_thread::yield();
    }
  });
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      ++started;
      while (started < kThreads) std::this_thread::yield();
      CountAs(counts, t, kAdds);
    });
  }
  for (auto& thread : threads) thread.join();
  done = true;
  collector.join();
  CHECK_FALSE(went_back);
  CHECK(sums >= 1);
  CHECK(Totals(counts, expected.size()) == expected);
  CHECK(counts.uncounted() == 0);
  CHECK(counts.Total() == static_cast<uint64_t>(kThreads) * kAdds);
}

TEST_CASE("blocks of exited threads serve new ones: counts kept, no more "
          "blocks than threads at once",
          "[local_counts]") {
  LocalDecisionCounts counts;
  constexpr int kRounds = 20;
  constexpr int kThreads = 4;
  constexpr int kAdds = 1000;
  for (int round = 0; round < kRounds; ++round) {
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; ++t) {
      threads.emplace_back([&counts, t] { CountAs(counts, t, kAdds); });
    }
    for (auto& thread : threads) thread.join();
  }
  std::vector<uint64_t> expected = Expected(kThreads, kAdds);
  for (uint64_t& total : expected) total *= kRounds;
  CHECK(Totals(counts, expected.size()) == expected);
  CHECK(counts.block_count() <= kThreads);
}

TEST_CASE("several counts objects on the same threads (more than the "
          "thread cache holds) each count exactly their own",
          "[local_counts]") {
  constexpr int kObjects = 9;  // collide in the 4-way thread cache
  constexpr int kThreads = 6;
  constexpr int kAdds = 3000;
  std::vector<std::unique_ptr<LocalDecisionCounts>> objects;
  for (int o = 0; o < kObjects; ++o) {
    objects.push_back(std::make_unique<LocalDecisionCounts>());
  }
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&objects, t] {
      // Interleaved, so every decision may take another object's cache
      // entry.
      for (int i = 0; i < kAdds; ++i) {
        for (int o = 0; o <= t % kObjects; ++o) {
          objects[o]->Count(Slots()[(t + i) % Slots().size()], StageOf(i),
                            ReasonOf(i));
        }
      }
    });
  }
  for (auto& thread : threads) thread.join();
  for (int o = 0; o < kObjects; ++o) {
    std::vector<uint64_t> expected((Slots().back() + 1) * kCells, 0);
    for (int t = 0; t < kThreads; ++t) {
      if (o > t % kObjects) continue;
      for (int i = 0; i < kAdds; ++i) {
        expected[Slots()[(t + i) % Slots().size()] * kCells + i % kCells] += 1;
      }
    }
    INFO("object " << o);
    CHECK(Totals(*objects[o], expected.size()) == expected);
    CHECK(objects[o]->block_count() <= kThreads);
  }
}

TEST_CASE("a thread that outlives its counts object drops that object's "
          "block and counts on a new one",
          "[local_counts]") {
  auto first = std::make_unique<LocalDecisionCounts>();
  first->Count(2, Stage::kLive, Reason::kSplit);
  first.reset();  // this thread still holds a lease on its block
  LocalDecisionCounts second;
  second.Count(2, Stage::kLive, Reason::kSplit);
  second.Count(2, Stage::kLive, Reason::kSplit);
  const std::vector<uint64_t> totals = Totals(second, 3 * kCells);
  CHECK(totals[2 * kCells + LocalDecisionCounts::CellOf(
                                Stage::kLive, Reason::kSplit)] == 2);
}

// Counts in its destructor, which runs after the thread's leases may have
// been handed back.
struct CountsAtExit {
  LocalDecisionCounts* counts = nullptr;
  ~CountsAtExit() {
    if (counts != nullptr) counts->Count(7, Stage::kOff, Reason::kDefault);
  }
};

TEST_CASE("counts made from a thread_local destructor are kept",
          "[local_counts]") {
  LocalDecisionCounts counts;
  std::thread thread([&counts] {
    // Made before the first Count (so destroyed after the leases).
    thread_local CountsAtExit at_exit;
    at_exit.counts = &counts;
    counts.Count(7, Stage::kOff, Reason::kDefault);
  });
  thread.join();
  const int cell = LocalDecisionCounts::CellOf(Stage::kOff, Reason::kDefault);
  CHECK(Totals(counts, 8 * kCells)[7 * kCells + cell] == 2);
  CHECK(counts.uncounted() == 0);
}

TEST_CASE("flag slots: dense, one per key, never reused, slot 0 is the "
          "unknown key",
          "[local_counts]") {
  FlagCounterSlots slots;
  CHECK(slots.size() == 1);
  CHECK(slots.SlotFor("orders") == 1);
  CHECK(slots.SlotFor("carts") == 2);
  CHECK(slots.SlotFor("orders") == 1);
  std::vector<std::string> keys;
  slots.AppendKeys(keys);
  CHECK(keys == std::vector<std::string>{"(unknown)", "orders", "carts"});
  CHECK(slots.SlotFor("users") == 3);
  slots.AppendKeys(keys);  // only the new ones
  CHECK(keys ==
        std::vector<std::string>{"(unknown)", "orders", "carts", "users"});
}

}  // namespace
}  // namespace cutover
