#include "client/per_thread_counter.h"

#include <catch2/catch.hpp>

#include <atomic>
#include <thread>
#include <vector>

namespace cutover {
namespace {

// Runs `threads` threads, all alive at once, each adding `adds` times.
void AddFrom(PerThreadCounter& counter, int threads, int adds) {
  std::atomic<int> started{0};
  std::vector<std::thread> running;
  for (int t = 0; t < threads; ++t) {
    running.emplace_back([&counter, &started, threads, adds] {
      counter.Add(0);  // takes a slot (or the overflow) before the others end
      ++started;
      while (started < threads) std::this_thread::yield();
      for (int i = 0; i < adds; ++i) counter.Add();
    });
  }
  for (auto& thread : running) thread.join();
}

TEST_CASE("per-thread counts add up with threads beyond the slots and slots "
          "handed on to new threads",
          "[counter]") {
  PerThreadCounter counter;
  counter.Add(5);
  CHECK(counter.Load() == 5);
  AddFrom(counter, 8, 10000);
  CHECK(counter.Load() == 5 + 8 * 10000);
  // More threads at once than slots: the rest share the overflow count.
  AddFrom(counter, PerThreadCounter::kSlots + 16, 1000);
  CHECK(counter.Load() == 5 + 8 * 10000 + (PerThreadCounter::kSlots + 16) * 1000);
  // The slots of exited threads serve new ones, keeping what was counted.
  for (int round = 0; round < 3; ++round) AddFrom(counter, 4, 100);
  CHECK(counter.Load() ==
        5 + 8 * 10000 + (PerThreadCounter::kSlots + 16) * 1000 + 3 * 4 * 100);
}

}  // namespace
}  // namespace cutover
