// Tests of Published<T> (core/published.h): what Current() answers after a
// Store, how long an old value lives, several objects on one thread, and
// readers racing a writer (run under ASan and TSan, these catch a value
// freed while read and an unordered read).
#include "core/published.h"

#include <catch2/catch.hpp>

#include <atomic>
#include <memory>
#include <thread>
#include <vector>

namespace cutover {
namespace {

struct Value {
  explicit Value(int n) : number(n) {}
  int number;
  int copy_of_number = number;  // a reader checks both: a freed value differs
};

TEST_CASE("Current answers null, then the stored value, then the next one",
          "[published]") {
  Published<Value> published;
  CHECK(published.Current() == nullptr);
  CHECK(published.Load() == nullptr);
  published.Store(std::make_shared<Value>(1));
  REQUIRE(published.Current() != nullptr);
  CHECK(published.Current()->number == 1);
  published.Store(std::make_shared<Value>(2));
  CHECK(published.Current()->number == 2);
  CHECK(published.Load()->number == 2);
}

TEST_CASE("An old value lives until the thread that read it reads again",
          "[published]") {
  Published<Value> published(std::make_shared<Value>(1));
  std::weak_ptr<const Value> first = published.Load();
  CHECK(published.Current()->number == 1);
  published.Store(std::make_shared<Value>(2));
  // This thread's copy still holds the first value...
  CHECK_FALSE(first.expired());
  // ...until its next read, which takes the second.
  CHECK(published.Current()->number == 2);
  CHECK(first.expired());
}

TEST_CASE("One thread reading more objects than it remembers gets each one's "
          "value", "[published]") {
  std::vector<std::unique_ptr<Published<Value>>> objects;
  for (int i = 0; i < 9; ++i) {
    objects.push_back(std::make_unique<Published<Value>>(
        std::make_shared<Value>(i)));
  }
  for (int round = 0; round < 3; ++round) {
    for (int i = 0; i < 9; ++i) {
      REQUIRE(objects[i]->Current()->number == i);
    }
  }
  objects[4]->Store(std::make_shared<Value>(40));
  CHECK(objects[4]->Current()->number == 40);
  CHECK(objects[0]->Current()->number == 0);
}

TEST_CASE("Readers racing a writer see only stored values, never going back",
          "[published]") {
  Published<Value> published(std::make_shared<Value>(0));
  constexpr int kStores = 2000;
  std::atomic<bool> wrong{false};
  std::atomic<bool> done{false};
  std::vector<std::thread> readers;
  for (int r = 0; r < 3; ++r) {
    readers.emplace_back([&] {
      int last = 0;
      for (int i = 0; i < 1000000 && !done.load(); ++i) {
        const Value* value = published.Current();
        if (value->number < last || value->number != value->copy_of_number) {
          wrong = true;
        }
        last = value->number;
      }
      // The writer's loop is finite; once it is over, this thread's next
      // read is its last value.
      while (!done.load()) std::this_thread::yield();
      if (published.Current()->number != kStores) wrong = true;
    });
  }
  for (int n = 1; n <= kStores; ++n) {
    published.Store(std::make_shared<Value>(n));
  }
  done = true;
  for (std::thread& reader : readers) reader.join();
  CHECK_FALSE(wrong.load());
}

}  // namespace
}  // namespace cutover
