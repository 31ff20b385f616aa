#include "client/decision_cache.h"

#include <catch2/catch.hpp>

#include <atomic>
#include <map>
#include <set>
#include <string>
#include <thread>
#include <vector>

namespace cutover {
namespace {

// A clock the test moves by hand.
struct FakeClock {
  absl::Time now = absl::FromUnixSeconds(1000000);
  std::function<absl::Time()> fn() {
    return [this] { return now; };
  }
};

Decision DecisionAt(Stage stage, int64_t version) {
  Decision d;
  d.flag_key = "orders";
  d.stage = stage;
  d.plan = PlanFor(stage);
  d.flag_version = version;
  return d;
}

Context User(const std::string& key, std::map<std::string, std::string> attrs = {}) {
  return Context{key, std::move(attrs)};
}

TEST_CASE("context keys differ whenever the context differs", "[cache]") {
  const std::vector<Context> contexts = {
      User(""), User("a"), User("ab"), User("a", {{"b", ""}}),
      User("a", {{"b", "c"}}), User("a", {{"bc", ""}}), User("a", {{"b", "c"}, {"d", "e"}}),
      User("a", {{"b", "cd"}, {"", "e"}})};
  std::set<std::string> keys;
  auto key = [](std::string_view flag, const Context& context) {
    std::string out;
    DecisionCache::AppendKey(flag, context, out);
    return out;
  };
  for (const auto& context : contexts) keys.insert(key("orders", context));
  CHECK(keys.size() == contexts.size());
  CHECK(key("orders", User("a")) != key("order", User("sa")));
  // Attribute order does not matter (std::map sorts).
  CHECK(key("orders", User("a", {{"x", "1"}, {"y", "2"}})) ==
        key("orders", User("a", {{"y", "2"}, {"x", "1"}})));
}

TEST_CASE("a lookup matches only the exact flag and context it was stored for",
          "[cache]") {
  // Contexts whose fields run together the same way, and flags that are
  // prefixes of each other: each gets its own answer, and nothing else
  // matches.
  const std::vector<Context> contexts = {
      User(""), User("a"), User("ab"), User("a", {{"b", ""}}),
      User("a", {{"b", "c"}}), User("a", {{"bc", ""}}),
      User("a", {{"b", "c"}, {"d", "e"}}), User("a", {{"b", "cd"}, {"", "e"}}),
      User("user-0123456789abcdef"), User("user-0123456789abcdeg"),
      User("x", {{"tenant", std::string(40, 'a')}})};
  DecisionCache cache({1000, 1 << 20, 4, absl::Seconds(60)});
  for (size_t i = 0; i < contexts.size(); ++i) {
    cache.Put("orders", contexts[i], DecisionAt(Stage::kLive, i + 1), 1);
  }
  for (size_t i = 0; i < contexts.size(); ++i) {
    INFO("context " << i);
    auto hit = cache.Get("orders", contexts[i]);
    REQUIRE(hit.state == DecisionCache::State::kFresh);
    CHECK(hit.decision.flag_version == static_cast<int64_t>(i + 1));
    CHECK(cache.Get("order", contexts[i]).state ==
          DecisionCache::State::kMiss);
    CHECK(cache.Get("orders2", contexts[i]).state ==
          DecisionCache::State::kMiss);
  }
  for (const Context& other :
       {User("b"), User("a", {{"b", "d"}}), User("a", {{"c", "c"}}),
        User("a", {{"b", "c"}, {"d", "f"}}), User("user-0123456789abcdeh"),
        User("x", {{"tenant", std::string(41, 'a')}})}) {
    CHECK(cache.Get("orders", other).state == DecisionCache::State::kMiss);
  }
  // The hot-path form leaves the caller's decision alone on a miss.
  Decision untouched = DecisionAt(Stage::kShadow, 99);
  CHECK(cache.Get("orders", User("nobody"), untouched).state ==
        DecisionCache::State::kMiss);
  CHECK(untouched.flag_version == 99);
}

TEST_CASE("fresh, then expired after the TTL, and a miss for another context",
          "[cache]") {
  FakeClock clock;
  DecisionCache cache({100, 1 << 20, 4, absl::Seconds(10)}, clock.fn());
  const Context alice = User("alice");
  const Context bob = User("bob");
  cache.Put("orders", alice, DecisionAt(Stage::kLive, 3), 7);

  auto hit = cache.Get("orders", alice);
  CHECK(hit.state == DecisionCache::State::kFresh);
  CHECK(hit.decision.stage == Stage::kLive);
  CHECK(hit.decision.flag_version == 3);
  CHECK(hit.age == absl::ZeroDuration());
  // The age grows with the clock (the client distrusts old entries sooner
  // while its Watch stream is down).
  clock.now += absl::Milliseconds(1500);
  CHECK(cache.Get("orders", alice).age == absl::Milliseconds(1500));
  // Storing again makes the entry young again.
  cache.Put("orders", alice, DecisionAt(Stage::kLive, 3), 7);
  CHECK(cache.Get("orders", alice).age == absl::ZeroDuration());
  clock.now -= absl::Milliseconds(1500);
  cache.Put("orders", alice, DecisionAt(Stage::kLive, 3), 7);
  CHECK(cache.Get("orders", bob).state == DecisionCache::State::kMiss);
  CHECK(cache.Get("payments", alice).state == DecisionCache::State::kMiss);

  clock.now += absl::Seconds(10);
  auto expired = cache.Get("orders", alice);
  CHECK(expired.state == DecisionCache::State::kExpired);
  CHECK(expired.decision.stage == Stage::kLive);
  CHECK(expired.age == absl::Seconds(10));
}

TEST_CASE("invalidation drops older answers and refuses late ones", "[cache]") {
  DecisionCache cache({100, 1 << 20, 4, absl::Seconds(60)});
  const Context alice = User("alice");
  const Context bob = User("bob");
  cache.Put("orders", alice, DecisionAt(Stage::kShadow, 3), 10);
  cache.Put("orders", bob, DecisionAt(Stage::kShadow, 3), 10);
  cache.Put("payments", alice, DecisionAt(Stage::kOff, 1), 10);

  cache.InvalidateFlag("orders", 11);
  CHECK(cache.Get("orders", alice).state == DecisionCache::State::kMiss);
  CHECK(cache.Get("orders", bob).state == DecisionCache::State::kMiss);
  CHECK(cache.Get("payments", alice).state == DecisionCache::State::kFresh);

  // A Decide answered before the change, arriving after it, is refused.
  cache.Put("orders", alice, DecisionAt(Stage::kShadow, 3), 10);
  CHECK(cache.Get("orders", alice).state == DecisionCache::State::kMiss);
  // The answer from the new revision is kept.
  cache.Put("orders", alice, DecisionAt(Stage::kLive, 4), 11);
  CHECK(cache.Get("orders", alice).decision.stage == Stage::kLive);
  // An older answer never replaces a newer one.
  cache.Put("orders", alice, DecisionAt(Stage::kShadow, 3), 10);
  CHECK(cache.Get("orders", alice).decision.stage == Stage::kLive);

  // A segment change invalidates every flag.
  cache.InvalidateAll(12);
  CHECK(cache.size() == 0);
  cache.Put("payments", alice, DecisionAt(Stage::kOff, 1), 11);
  CHECK(cache.size() == 0);

  // A reset clears everything, even answers from "later" revisions of a
  // previous store.
  cache.Put("payments", alice, DecisionAt(Stage::kOff, 1), 50);
  cache.Clear(3);
  CHECK(cache.size() == 0);
  cache.Put("payments", alice, DecisionAt(Stage::kOff, 1), 3);
  CHECK(cache.size() == 1);
}

TEST_CASE("bounded by entries and by bytes and an entry used since it was "
          "stored outlives one that was not (CLOCK)",
          "[cache]") {
  DecisionCache cache({8, 1 << 20, 1, absl::Seconds(60)});
  for (int i = 0; i < 8; ++i) {
    cache.Put("orders", User("u" + std::to_string(i)),
              DecisionAt(Stage::kOff, 1), 1);
  }
  CHECK(cache.size() == 8);
  // Use u0, so that u1 is the first without a second chance.
  CHECK(cache.Get("orders", User("u0")).state ==
        DecisionCache::State::kFresh);
  cache.Put("orders", User("u8"),
            DecisionAt(Stage::kOff, 1), 1);
  CHECK(cache.size() == 8);
  CHECK(cache.Get("orders", User("u1")).state ==
        DecisionCache::State::kMiss);
  CHECK(cache.Get("orders", User("u0")).state ==
        DecisionCache::State::kFresh);

  DecisionCache small({1000000, 4096, 1, absl::Seconds(60)});
  for (int i = 0; i < 1000; ++i) {
    small.Put("orders", User("user-" + std::to_string(i)),
              DecisionAt(Stage::kOff, 1), 1);
    CHECK(small.bytes() <= 4096);
  }
  CHECK(small.size() > 0);
  CHECK(small.size() < 1000);
}

TEST_CASE("8 threads reading, writing and invalidating at once", "[cache]") {
  DecisionCache cache({1000, 1 << 20, 16, absl::Seconds(60)});
  std::atomic<int> wrong{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 20000; ++i) {
        const Context key = User("u" + std::to_string((i * 7 + t) % 500));
        if (i % 1000 == 999 && t == 0) cache.InvalidateFlag("orders", i);
        cache.Put("orders", key, DecisionAt(Stage::kLive, 2), 100000);
        auto got = cache.Get("orders", key);
        if (got.state != DecisionCache::State::kMiss &&
            got.decision.stage != Stage::kLive) {
          ++wrong;
        }
      }
    });
  }
  for (auto& thread : threads) thread.join();
  CHECK(wrong == 0);
  CHECK(cache.size() <= 1000);
}

}  // namespace
}  // namespace cutover
