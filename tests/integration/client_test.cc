// cutover::Client against the real cutoverd: cached decisions, invalidation
// by the Watch stream, the daemon killed and restarted under traffic.
#include <catch2/catch.hpp>

#include <signal.h>

#include <atomic>
#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "client/client.h"
#include "prometheus/registry.h"
#include "prometheus/text_serializer.h"
#include "tests/integration/harness.h"

namespace cutover::testing {
namespace {

ClientOptions OptionsFor(const DaemonProcess& daemon) {
  ClientOptions options;
  options.server = daemon.address();
  // Generous for sanitizer builds on a shared machine; the tests check
  // behaviour, not speed.
  options.decide_deadline = absl::Milliseconds(500);
  options.reconnect_initial_backoff = absl::Milliseconds(20);
  options.reconnect_max_backoff = absl::Milliseconds(200);
  options.initial_sync_wait = absl::Seconds(5);
  return options;
}

void Cli(const DaemonProcess& daemon, const std::vector<std::string>& args) {
  RunResult result = RunCli(daemon.address(), args);
  INFO("stderr: " << result.err);
  REQUIRE(result.exit_code == 0);
}

// Polls (bounded) until `done` holds; returns whether it did.
template <typename Predicate>
bool Eventually(Predicate done, absl::Duration limit = absl::Seconds(10)) {
  const absl::Time until = absl::Now() + limit;
  while (absl::Now() < until) {
    if (done()) return true;
    absl::SleepFor(absl::Milliseconds(2));
  }
  return done();
}

Context User(const std::string& key) { return Context{key, {}}; }

TEST_CASE("decisions are cached and a change is seen by the next Decide",
          "[client]") {
  TempDir dir;
  DaemonProcess daemon(dir.path() + "/data");
  REQUIRE(daemon.Start());
  Cli(daemon, {"flags", "create", "orders", "--old", "pg", "--new", "ddb"});

  auto client = Client::Create(OptionsFor(daemon));
  REQUIRE(client.ok());
  REQUIRE((*client)->watch_synced());

  Decision first = (*client)->Decide("orders", User("u-1"));
  CHECK(first.stage == Stage::kOff);
  CHECK(first.reason == Reason::kDefault);
  CHECK(first.flag_version == 1);
  CHECK(first.old_target == "pg");
  Decision second = (*client)->Decide("orders", User("u-1"));
  CHECK(second.reason == Reason::kCached);
  CHECK(second.stage == Stage::kOff);
  // A different context is not served another's answer.
  CHECK((*client)->Decide("orders", Context{"u-1", {{"tenant", "acme"}}})
            .reason == Reason::kDefault);
  CHECK((*client)->stats().cache_hits == 1);

  const int64_t revision = (*client)->watched_revision();
  Cli(daemon, {"stage", "orders", "dualwrite"});
  REQUIRE(Eventually([&] { return (*client)->watched_revision() > revision; }));
  // The invalidation arrived: the very next Decide has the new version.
  Decision after = (*client)->Decide("orders", User("u-1"));
  CHECK(after.stage == Stage::kDualWrite);
  CHECK(after.flag_version == 2);
  CHECK(after.reason == Reason::kDefault);

  // A segment change invalidates too (rules may name the segment).
  Cli(daemon, {"segments", "create", "internal", "--include", "u-1"});
  Cli(daemon, {"rules", "add", "orders", "--if", "in_segment internal",
               "--serve", "shadow"});
  REQUIRE(Eventually([&] {
    return (*client)->Decide("orders", User("u-1")).stage == Stage::kShadow;
  }));
  const int64_t before_segment = (*client)->watched_revision();
  Cli(daemon, {"segments", "update", "internal", "--include", "u-2"});
  REQUIRE(Eventually(
      [&] { return (*client)->watched_revision() > before_segment; }));
  CHECK((*client)->Decide("orders", User("u-1")).stage == Stage::kDualWrite);
  CHECK((*client)->Decide("orders", User("u-2")).stage == Stage::kShadow);

  // Unknown flags answer off, not an error.
  Decision unknown = (*client)->Decide("nope", User("u-1"));
  CHECK(unknown.stage == Stage::kOff);
  CHECK(unknown.reason == Reason::kFlagNotFound);
}

TEST_CASE("the daemon killed and restarted under traffic from 8 threads",
          "[client]") {
  TempDir dir;
  DaemonProcess daemon(dir.path() + "/data");
  REQUIRE(daemon.Start());
  daemon.KeepPort();
  Cli(daemon, {"flags", "create", "orders", "--old", "pg", "--new", "ddb"});
  Cli(daemon, {"stage", "orders", "dualwrite"});

  ClientOptions options = OptionsFor(daemon);
  options.decide_deadline = absl::Milliseconds(200);
  auto client = Client::Create(options);
  REQUIRE(client.ok());
  // Warm the cache for users 0..99.
  for (int i = 0; i < 100; ++i) {
    REQUIRE((*client)->Decide("orders", User("u-" + std::to_string(i))).stage ==
            Stage::kDualWrite);
  }

  std::atomic<bool> stop{false};
  std::atomic<int64_t> calls{0}, wrong{0}, slow{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; !stop && i < 1000000; ++i) {
        // Mostly known users; every tenth a user never seen before, so
        // that some calls miss the cache while the daemon is down.
        const std::string user =
            i % 10 == 9 ? "new-" + std::to_string(t) + "-" + std::to_string(i)
                        : "u-" + std::to_string((i * 8 + t) % 150);
        const auto start = std::chrono::steady_clock::now();
        Decision d = (*client)->Decide("orders", User(user));
        const auto took = std::chrono::steady_clock::now() - start;
        ++calls;
        // Never hangs: bounded by the deadline (generous slack for a
        // loaded machine; this is a hang check, not a speed target).
        if (took > std::chrono::seconds(2)) ++slow;
        // Always a correct or safe answer.
        const bool correct = d.stage == Stage::kDualWrite;
        const bool safe = d.stage == Stage::kOff && d.reason == Reason::kError &&
                          d.plan.read_authoritative == Origin::kOld &&
                          d.plan.write_secondary == Origin::kNone;
        if (!correct && !safe) ++wrong;
      }
    });
  }
  absl::SleepFor(absl::Milliseconds(300));
  REQUIRE(daemon.Stop(SIGKILL) == -SIGKILL);
  absl::SleepFor(absl::Milliseconds(700));
  const ClientStats down = (*client)->stats();
  REQUIRE(daemon.Start());
  // The stream comes back and resumes.
  CHECK(Eventually([&] { return (*client)->watch_synced(); }));
  absl::SleepFor(absl::Milliseconds(300));
  stop = true;
  for (auto& thread : threads) thread.join();

  CHECK(calls > 1000);
  CHECK(wrong == 0);
  CHECK(slow == 0);
  // While the daemon was down, uncached users got the safe default.
  CHECK(down.errors > 0);
  const ClientStats after = (*client)->stats();
  CHECK(after.stream_reconnects >= 1);

  // The cache is right after the restart: a change is seen.
  const int64_t revision = (*client)->watched_revision();
  Cli(daemon, {"stage", "orders", "shadow"});
  REQUIRE(Eventually([&] { return (*client)->watched_revision() > revision; }));
  CHECK((*client)->Decide("orders", User("u-3")).stage == Stage::kShadow);
}

TEST_CASE("stale decisions while the daemon is down, safe default on a miss",
          "[client]") {
  TempDir dir;
  DaemonProcess daemon(dir.path() + "/data");
  REQUIRE(daemon.Start());
  Cli(daemon, {"flags", "create", "orders", "--old", "pg", "--new", "ddb"});
  Cli(daemon, {"stage", "orders", "dualwrite"});
  ClientOptions options = OptionsFor(daemon);
  options.cache_ttl = absl::Milliseconds(50);
  auto client = Client::Create(options);
  REQUIRE(client.ok());
  REQUIRE((*client)->Decide("orders", User("cached")).stage == Stage::kDualWrite);
  REQUIRE(daemon.Stop(SIGKILL) == -SIGKILL);
  absl::SleepFor(absl::Milliseconds(100));  // past the TTL

  Decision stale = (*client)->Decide("orders", User("cached"));
  CHECK(stale.stage == Stage::kDualWrite);
  CHECK(stale.reason == Reason::kStale);
  Decision miss = (*client)->Decide("orders", User("never-seen"));
  CHECK(miss.stage == Stage::kOff);
  CHECK(miss.reason == Reason::kError);
  CHECK(!miss.error.empty());
  Decision with_default =
      (*client)->Decide("orders", User("never-seen"), Stage::kDualWrite);
  CHECK(with_default.stage == Stage::kDualWrite);
  CHECK(with_default.plan.write_secondary == Origin::kNew);
  CHECK(with_default.reason == Reason::kError);
  CHECK((*client)->stats().stale_serves == 1);
  CHECK((*client)->stats().errors == 2);
}

TEST_CASE("a client created while the daemon is down connects later",
          "[client]") {
  TempDir dir;
  DaemonProcess daemon(dir.path() + "/data");
  REQUIRE(daemon.Start());
  daemon.KeepPort();
  const std::string address = daemon.address();
  REQUIRE(daemon.Stop(SIGTERM) == 0);

  ClientOptions options = OptionsFor(daemon);
  options.initial_sync_wait = absl::Milliseconds(100);
  auto client = Client::Create(options);
  REQUIRE(client.ok());
  CHECK((*client)->Decide("orders", User("u-1")).reason == Reason::kError);

  REQUIRE(daemon.Start());
  Cli(daemon, {"flags", "create", "orders", "--old", "pg", "--new", "ddb"});
  CHECK(Eventually([&] { return (*client)->watch_synced(); }));
  CHECK(Eventually([&] {
    return (*client)->Decide("orders", User("u-1")).reason == Reason::kDefault;
  }));
}

TEST_CASE("prefetch fills the cache; counters export to prometheus",
          "[client]") {
  TempDir dir;
  DaemonProcess daemon(dir.path() + "/data");
  REQUIRE(daemon.Start());
  Cli(daemon, {"flags", "create", "orders", "--old", "pg", "--new", "ddb"});
  Cli(daemon, {"stage", "orders", "dualwrite"});
  Cli(daemon, {"stage", "orders", "shadow"});
  Cli(daemon, {"rollout", "orders", "live=25", "shadow=75"});
  auto client = Client::Create(OptionsFor(daemon));
  REQUIRE(client.ok());
  prometheus::Registry registry;
  (*client)->RegisterMetrics(registry);

  std::vector<Context> users;
  for (int i = 0; i < 2500; ++i) users.push_back(User("p-" + std::to_string(i)));
  const std::vector<Decision> decisions = (*client)->Prefetch("orders", users);
  REQUIRE(decisions.size() == users.size());
  int live = 0;
  for (const auto& d : decisions) {
    CHECK(d.reason == Reason::kSplit);
    live += d.stage == Stage::kLive;
  }
  CHECK(live > 2500 * 0.20);
  CHECK(live < 2500 * 0.30);
  for (size_t i = 0; i < users.size(); i += 97) {
    Decision d = (*client)->Decide("orders", users[i]);
    CHECK(d.reason == Reason::kCached);
    CHECK(d.stage == decisions[i].stage);
    CHECK(d.bucket == decisions[i].bucket);
  }
  const std::string text = prometheus::TextSerializer().Serialize(registry.Collect());
  CHECK(absl::StrContains(text, "cutover_client_decisions_total{source=\"cache\"} 26"));
  CHECK(absl::StrContains(text, "cutover_client_stream_reconnects_total 0"));
}

}  // namespace
}  // namespace cutover::testing
