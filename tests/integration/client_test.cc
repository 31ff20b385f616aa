// cutover::Client against the real cutoverd: cached decisions, invalidation
// by the Watch stream, the daemon killed and restarted under traffic.
#include <catch2/catch.hpp>

#include <signal.h>
#include <sys/types.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "client/backfill.h"
#include "rpc/channel.h"
#include "client/client.h"
#include "prometheus/registry.h"
#include "prometheus/text_serializer.h"
#include "tests/integration/client_helpers.h"
#include "tests/integration/harness.h"

namespace cutover::testing {
namespace {

Context User(const std::string& key) { return Context{key, {}}; }

// How long `f` took.
template <typename F>
absl::Duration Timed(F f) {
  const auto start = std::chrono::steady_clock::now();
  f();
  return absl::FromChrono(std::chrono::steady_clock::now() - start);
}

// Scheduling allowance on top of decide_deadline for one call: the machine
// is shared and noisy.
constexpr absl::Duration kSlack = absl::Milliseconds(250);

// Options for traffic through daemon faults: a 200 ms deadline, and cached
// entries distrusted soon while the stream is down, so that the known
// users get STALE (not CACHED) while the daemon is away.
ClientOptions FaultOptions(const DaemonProcess& daemon) {
  ClientOptions options = OptionsFor(daemon);
  options.decide_deadline = absl::Milliseconds(200);
  options.unsynced_max_age = absl::Milliseconds(100);
  return options;
}

// A Client with its cache warmed with users u-0..u-99 of "orders", which
// must serve dualwrite.
std::unique_ptr<Client> WarmClient(const ClientOptions& options) {
  auto client = Client::Create(options);
  REQUIRE(client.ok());
  for (int i = 0; i < 100; ++i) {
    REQUIRE((*client)->Decide("orders", User("u-" + std::to_string(i))).stage ==
            Stage::kDualWrite);
  }
  return std::move(*client);
}

// 8 threads asking `client` about "orders" until Stop(): Decide for known
// users (u-0..u-149) and every tenth call a user never seen before, and
// every 50th call a Prefetch of 10 users. Every answer must be `expected`
// (from the daemon, the cache, or, while the daemon cannot answer, the
// synced state or the cache served STALE), never the caller's default (the
// flag is known: the client never invents off for it), and must come
// within `bound` on a monotonic clock.
class Traffic {
 public:
  Traffic(Client& client, Stage expected, absl::Duration bound)
      : client_(client),
        expected_(expected),
        bound_(absl::ToChronoMicroseconds(bound)) {
    for (int t = 0; t < 8; ++t) threads_.emplace_back([this, t] { Run(t); });
  }
  ~Traffic() { Stop(); }
  Traffic(const Traffic&) = delete;
  Traffic& operator=(const Traffic&) = delete;

  void Stop() {
    stop_ = true;
    for (auto& thread : threads_) {
      if (thread.joinable()) thread.join();
    }
  }

  // After Stop(): at least `min_calls`, none wrong, none late.
  void Check(int64_t min_calls) const {
    INFO("calls " << calls << ", slowest " << slowest_us << " us of "
                  << bound_.count() << " us allowed, stale " << stale
                  << ", safe defaults " << safe_defaults);
    CHECK(calls >= min_calls);
    CHECK(wrong == 0);
    CHECK(late == 0);
  }

  std::atomic<int64_t> calls{0}, wrong{0}, late{0}, stale{0}, safe_defaults{0};
  std::atomic<int64_t> slowest_us{0};

 private:
  void Run(int t) {
    for (int i = 0; !stop_ && i < 1000000; ++i) {
      std::vector<Context> users;
      if (i % 50 == 49) {
        for (int u = 0; u < 10; ++u) {
          users.push_back(User("u-" + std::to_string((i + u) % 150)));
        }
      } else {
        users.push_back(User(
            i % 10 == 9 ? "new-" + std::to_string(t) + "-" + std::to_string(i)
                        : "u-" + std::to_string((i * 8 + t) % 150)));
      }
      const auto start = std::chrono::steady_clock::now();
      const std::vector<Decision> decisions =
          users.size() == 1
              ? std::vector<Decision>{client_.Decide("orders", users[0])}
              : client_.Prefetch("orders", users);
      const auto took = std::chrono::steady_clock::now() - start;
      ++calls;
      if (took > bound_) ++late;
      const int64_t took_us =
          std::chrono::duration_cast<std::chrono::microseconds>(took).count();
      int64_t seen = slowest_us.load();
      while (took_us > seen &&
             !slowest_us.compare_exchange_weak(seen, took_us)) {
      }
      if (decisions.size() != users.size()) ++wrong;
      for (const Decision& d : decisions) {
        if (!Acceptable(d)) ++wrong;
      }
    }
  }

  bool Acceptable(const Decision& d) {
    switch (d.reason) {
      case Reason::kDefault:
      case Reason::kCached:
        return d.stage == expected_;
      case Reason::kStale:
        ++stale;
        return d.stage == expected_;
      case Reason::kError:  // a default for a known flag: invented
        ++safe_defaults;
        return false;
      default:
        return false;
    }
  }

  Client& client_;
  const Stage expected_;
  const std::chrono::microseconds bound_;
  std::atomic<bool> stop_{false};
  std::vector<std::thread> threads_;
};

// A daemon config file with `extra` YAML lines (data_dir and listen are
// required by the config loader and overridden by the harness's flags).
std::string DaemonConfig(const TempDir& dir, const std::string& extra) {
  const std::string path = dir.path() + "/cutoverd.yaml";
  std::ofstream out(path);
  out << "data_dir: " << dir.path() << "/data\n"
      << "listen: 127.0.0.1:0\n"
      << extra;
  return path;
}

// The pid of the cutoverd child of this process serving `data_dir`, or -1.
// The harness does not expose it, so it is read from /proc: a child of this
// process (never anyone else's) whose command line has --data-dir data_dir.
pid_t DaemonPid(const std::string& data_dir) {
  std::error_code error;
  for (std::filesystem::directory_iterator it("/proc", error), end;
       !error && it != end; it.increment(error)) {
    const std::string name = it->path().filename().string();
    if (name.empty() ||
        name.find_first_not_of("0123456789") != std::string::npos) {
      continue;
    }
    std::ifstream stat_file(it->path() / "stat");
    std::string stat((std::istreambuf_iterator<char>(stat_file)),
                     std::istreambuf_iterator<char>());
    // "pid (comm) state ppid ...": comm may hold spaces and parentheses.
    const size_t close = stat.rfind(')');
    if (close == std::string::npos) continue;
    std::istringstream rest(stat.substr(close + 1));
    std::string state;
    long parent = -1;
    if (!(rest >> state >> parent) || parent != static_cast<long>(getpid())) {
      continue;
    }
    std::ifstream cmdline_file(it->path() / "cmdline");
    const std::string cmdline((std::istreambuf_iterator<char>(cmdline_file)),
                              std::istreambuf_iterator<char>());
    const std::string wanted = std::string("--data-dir") + '\0' + data_dir + '\0';
    if (cmdline.find(wanted) != std::string::npos) {
      return static_cast<pid_t>(std::stol(name));
    }
  }
  return -1;
}


TEST_CASE("decisions are cached and a change is seen by the next Decide",
          "[client]") {
  TempDir dir;
  DaemonProcess daemon(dir.path() + "/data");
  REQUIRE(daemon.Start());
  Cli(daemon, {"flags", "create", "orders", "--old", "pg", "--new", "ddb"});

  auto client = Client::Create(RemoteOptionsFor(daemon));
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
  // The stage alone is Decide's (here from the cache, then the daemon).
  const uint64_t hits = (*client)->stats().cache_hits;
  CHECK((*client)->DecideStage("orders", User("u-2")) == Stage::kShadow);
  CHECK((*client)->stats().cache_hits == hits + 1);
  CHECK((*client)->DecideStage("orders", User("u-3")) == Stage::kDualWrite);

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

  ClientOptions options = FaultOptions(daemon);
  auto client = WarmClient(options);

  Traffic traffic(*client, Stage::kDualWrite,
                  options.decide_deadline + kSlack);
  absl::SleepFor(absl::Milliseconds(300));
  REQUIRE(daemon.Stop(SIGKILL) == -SIGKILL);
  absl::SleepFor(absl::Milliseconds(700));
  const ClientStats down = client->stats();
  REQUIRE(daemon.Start());
  // The stream comes back and resumes.
  CHECK(Eventually([&] { return client->watch_synced(); }));
  absl::SleepFor(absl::Milliseconds(300));
  traffic.Stop();

  traffic.Check(1000);
  // While the daemon was down, every user, cached or not, got the flag's
  // stage from the synced state (as new as the cached decisions), as
  // STALE; nobody got the caller's default.
  CHECK(down.errors == 0);
  CHECK(down.local_serves > 0);
  CHECK(traffic.safe_defaults == 0);
  CHECK(traffic.stale > 0);
  const ClientStats after = client->stats();
  CHECK(after.stream_reconnects >= 1);

  // The cache is right after the restart: a change is seen.
  const int64_t revision = client->watched_revision();
  Cli(daemon, {"stage", "orders", "shadow"});
  REQUIRE(Eventually([&] { return client->watched_revision() > revision; }));
  CHECK(client->Decide("orders", User("u-3")).stage == Stage::kShadow);
}

TEST_CASE("8 threads deciding while the daemon is stopped, paused and "
          "slowed: every call within its deadline, right or safe",
          "[client][faults]") {
  TempDir dir;
  DaemonProcess daemon(dir.path() + "/data");
  REQUIRE(daemon.Start());
  daemon.KeepPort();
  Cli(daemon, {"flags", "create", "orders", "--old", "pg", "--new", "ddb"});
  Cli(daemon, {"stage", "orders", "dualwrite"});
  ContinueOnExit resume;

  ClientOptions options = FaultOptions(daemon);
  // Both modes: remote asks the daemon on every miss; local decides here
  // while its stream is synced (which a pause shorter than the idle
  // timeout does not end) and asks the daemon only while it is not.
  const bool local = GENERATE(false, true);
  INFO((local ? "local evaluation" : "remote evaluation"));
  options.evaluation = local ? ClientOptions::Evaluation::kLocal
                             : ClientOptions::Evaluation::kRemote;
  // A paused daemon's stream is replaced soon.
  options.watch_idle_timeout = absl::Seconds(1);
  auto client = WarmClient(options);

  // A correctness bound, not a speed target: a call that waits on the
  // daemon must give up at its deadline; 1 s covers scheduling on a
  // loaded machine and sanitizer builds.
  Traffic traffic(*client, Stage::kDualWrite,
                  options.decide_deadline + absl::Seconds(1));
  absl::SleepFor(absl::Milliseconds(300));

  SECTION("stopped: SIGTERM, then started again") {
    REQUIRE(daemon.Stop(SIGTERM) == 0);
    absl::SleepFor(absl::Seconds(1));
    REQUIRE(daemon.Start());
  }
  SECTION("paused: SIGSTOP for 1.5 s, then SIGCONT") {
    resume.pid = daemon.pid();
    REQUIRE(kill(resume.pid, SIGSTOP) == 0);
    absl::SleepFor(absl::Milliseconds(1500));
    REQUIRE(kill(resume.pid, SIGCONT) == 0);
  }
  SECTION("slowed: stopped 300 ms of every 400 ms for 2.4 s") {
    // Longer than the deadline: calls that wait on the daemon now answer,
    // now time out.
    resume.pid = daemon.pid();
    for (int cycle = 0; cycle < 6; ++cycle) {
      REQUIRE(kill(resume.pid, SIGSTOP) == 0);
      absl::SleepFor(absl::Milliseconds(300));
      REQUIRE(kill(resume.pid, SIGCONT) == 0);
      absl::SleepFor(absl::Milliseconds(100));
    }
  }
  // Back to normal: the stream resyncs and the traffic goes on a while.
  CHECK(Eventually([&] { return client->watch_synced(); }));
  absl::SleepFor(absl::Milliseconds(300));
  traffic.Stop();
  traffic.Check(500);
  // Remote: the faults were felt, some calls could not be answered fresh
  // and were answered from the synced state or the cache. (Local: only
  // while the stream was down, which the slowed daemon's short pauses
  // never make it.)
  if (!local) CHECK(traffic.stale > 0);
  CHECK(traffic.safe_defaults == 0);

  // And the client is right afterwards: a change is seen.
  const int64_t revision = client->watched_revision();
  Cli(daemon, {"stage", "orders", "shadow"});
  REQUIRE(Eventually([&] { return client->watched_revision() > revision; }));
  CHECK(client->Decide("orders", User("u-3")).stage == Stage::kShadow);
}

TEST_CASE("while the daemon is down, the synced state answers for every "
          "user, and the caller's default only for a flag never seen",
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
  // Until its stream breaks, a local client still decides as synced.
  REQUIRE(Eventually([&] { return !(*client)->watch_synced(); }));

  // The synced state is as new as the cached decision: it answers.
  Decision stale = (*client)->Decide("orders", User("cached"));
  CHECK(stale.stage == Stage::kDualWrite);
  CHECK(stale.reason == Reason::kStale);
  CHECK(stale.flag_version == 2);
  // A user never asked about: the flag's stage, not off.
  Decision miss = (*client)->Decide("orders", User("never-seen"));
  CHECK(miss.stage == Stage::kDualWrite);
  CHECK(miss.reason == Reason::kStale);
  CHECK(miss.error.empty());
  // The caller's default does not override what the flag serves.
  Decision with_default =
      (*client)->Decide("orders", User("never-seen"), Stage::kShadow);
  CHECK(with_default.stage == Stage::kDualWrite);
  CHECK(with_default.reason == Reason::kStale);
  // A flag never seen: the caller's default, ERROR.
  Decision unknown = (*client)->Decide("billing", User("never-seen"));
  CHECK(unknown.stage == Stage::kOff);
  CHECK(unknown.reason == Reason::kError);
  CHECK(absl::StrContains(unknown.error, "never synced"));
  Decision unknown_default =
      (*client)->Decide("billing", User("never-seen"), Stage::kDualWrite);
  CHECK(unknown_default.stage == Stage::kDualWrite);
  CHECK(unknown_default.plan.write_secondary == Origin::kNew);
  CHECK(unknown_default.reason == Reason::kError);
  CHECK((*client)->stats().local_serves == 3);
  CHECK((*client)->stats().stale_serves == 0);
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

TEST_CASE("prefetch fills the cache, and counters export to prometheus",
          "[client]") {
  TempDir dir;
  DaemonProcess daemon(dir.path() + "/data");
  REQUIRE(daemon.Start());
  Cli(daemon, {"flags", "create", "orders", "--old", "pg", "--new", "ddb"});
  Cli(daemon, {"stage", "orders", "dualwrite"});
  Cli(daemon, {"stage", "orders", "shadow"});
  Cli(daemon, {"rollout", "orders", "live=25", "shadow=75"});
  auto client = Client::Create(RemoteOptionsFor(daemon));
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
  // Cache hits are counted per thread and exported every second, and at
  // Shutdown.
  (*client)->Shutdown();
  const std::string text = prometheus::TextSerializer().Serialize(registry.Collect());
  CHECK(absl::StrContains(text, "cutover_client_decisions_total{source=\"cache\"} 26"));
  // Every prefetched decision came from the daemon: counted as misses.
  CHECK(absl::StrContains(text, "cutover_client_decisions_total{source=\"daemon\"} 2500"));
  CHECK((*client)->stats().cache_misses == 2500);
  CHECK(absl::StrContains(text, "cutover_client_stream_reconnects_total 0"));
}

TEST_CASE("prefetch counts misses, hits, local serves and errors as Decide "
          "does",
          "[client]") {
  TempDir dir;
  DaemonProcess daemon(dir.path() + "/data");
  REQUIRE(daemon.Start());
  Cli(daemon, {"flags", "create", "orders", "--old", "pg", "--new", "ddb"});
  Cli(daemon, {"stage", "orders", "dualwrite"});
  ClientOptions options = RemoteOptionsFor(daemon);
  options.decide_deadline = absl::Milliseconds(200);
  options.unsynced_max_age = absl::Seconds(2);
  auto client = Client::Create(options);
  REQUIRE(client.ok());
  REQUIRE((*client)->watch_synced());

  std::vector<Context> old_users, young_users, new_users;
  for (int i = 0; i < 5; ++i) {
    old_users.push_back(User("old-" + std::to_string(i)));
    young_users.push_back(User("young-" + std::to_string(i)));
  }
  for (int i = 0; i < 3; ++i) new_users.push_back(User("new-" + std::to_string(i)));

  for (const auto& d : (*client)->Prefetch("orders", old_users)) {
    CHECK(d.stage == Stage::kDualWrite);
  }
  CHECK((*client)->stats().cache_misses == 5);
  // old-* will be older than unsynced_max_age when the stream goes down.
  absl::SleepFor(absl::Milliseconds(2500));
  for (const auto& d : (*client)->Prefetch("orders", young_users)) {
    CHECK(d.stage == Stage::kDualWrite);
  }
  const ClientStats before = (*client)->stats();
  CHECK(before.cache_misses == 10);
  CHECK(before.cache_hits == 0);
  CHECK(before.stale_serves == 0);
  CHECK(before.errors == 0);

  REQUIRE(daemon.Stop(SIGKILL) == -SIGKILL);
  REQUIRE(Eventually([&] { return !(*client)->watch_synced(); }));
  std::vector<Context> all = old_users;
  all.insert(all.end(), young_users.begin(), young_users.end());
  all.insert(all.end(), new_users.begin(), new_users.end());
  const std::vector<Decision> decisions = (*client)->Prefetch("orders", all);
  REQUIRE(decisions.size() == all.size());
  for (size_t i = 0; i < all.size(); ++i) {
    INFO("user " << all[i].targeting_key);
    if (i < 5 || i >= 10) {  // old, and never asked: the synced state
      CHECK(decisions[i].reason == Reason::kStale);
      CHECK(decisions[i].stage == Stage::kDualWrite);
    } else {  // young: still fresh enough while unsynced
      CHECK(decisions[i].reason == Reason::kCached);
      CHECK(decisions[i].stage == Stage::kDualWrite);
    }
  }
  // A flag never seen: off, ERROR.
  for (const auto& d : (*client)->Prefetch("billing", new_users)) {
    CHECK(d.reason == Reason::kError);
    CHECK(d.stage == Stage::kOff);
  }
  const ClientStats after = (*client)->stats();
  CHECK(after.cache_misses == before.cache_misses);
  CHECK(after.local_serves == 8);
  CHECK(after.stale_serves == 0);
  CHECK(after.cache_hits == 5);
  CHECK(after.errors == 3);
}

TEST_CASE("a half-open Watch stream (daemon SIGSTOPped) is detected by the "
          "idle timeout and replaced",
          "[client]") {
  TempDir dir;
  // Heartbeats every 100 ms; the client gives up on a stream silent for 1 s.
  DaemonProcess daemon(dir.path() + "/data",
                       {"--config", DaemonConfig(dir, "heartbeat_seconds: 0.1\n")});
  REQUIRE(daemon.Start());
  ContinueOnExit resume;
  Cli(daemon, {"flags", "create", "orders", "--old", "pg", "--new", "ddb"});
  ClientOptions options = OptionsFor(daemon);
  options.decide_deadline = absl::Milliseconds(200);
  options.watch_idle_timeout = absl::Seconds(1);
  auto client = Client::Create(options);
  REQUIRE(client.ok());
  REQUIRE((*client)->watch_synced());
  REQUIRE((*client)->Decide("orders", User("u-1")).stage == Stage::kOff);

  // Heartbeats keep a quiet stream alive: no false alarm over two timeouts.
  absl::SleepFor(absl::Seconds(2));
  CHECK((*client)->watch_synced());
  CHECK((*client)->stats().stream_idle_timeouts == 0);
  CHECK((*client)->stats().stream_reconnects == 0);

  // The daemon stops answering but its sockets stay open: nothing breaks
  // the stream but the client's own watchdog.
  resume.pid = DaemonPid(dir.path() + "/data");
  REQUIRE(resume.pid > 0);
  REQUIRE(kill(resume.pid, SIGSTOP) == 0);
  CHECK(Eventually([&] { return !(*client)->watch_synced(); },
                   options.watch_idle_timeout + absl::Seconds(2)));
  CHECK((*client)->stats().stream_idle_timeouts >= 1);
  // Decide keeps its deadline, and the old cached answer is STALE, not
  // CACHED, since changes can no longer be heard of.
  Decision during;
  const absl::Duration took =
      Timed([&] { during = (*client)->Decide("orders", User("u-1")); });
  CHECK(took <= options.decide_deadline + kSlack);
  CHECK(during.stage == Stage::kOff);
  CHECK(during.reason == Reason::kStale);

  REQUIRE(kill(resume.pid, SIGCONT) == 0);
  resume.pid = -1;
  CHECK(Eventually([&] { return (*client)->watch_synced(); }));
  CHECK((*client)->stats().stream_reconnects >= 1);
  // And invalidations flow again.
  const int64_t revision = (*client)->watched_revision();
  Cli(daemon, {"stage", "orders", "dualwrite"});
  REQUIRE(Eventually([&] { return (*client)->watched_revision() > revision; }));
  CHECK((*client)->Decide("orders", User("u-1")).stage == Stage::kDualWrite);
}

TEST_CASE("while the Watch stream is not synced, old cached decisions are "
          "asked again, and served STALE if the daemon cannot answer",
          "[client]") {
  TempDir dir;
  // One Watch stream per peer: a first client holds it, so the second's
  // stream is refused (and never synced) while its Decide calls are served.
  DaemonProcess daemon(
      dir.path() + "/data",
      {"--config", DaemonConfig(dir, "max_watch_streams_per_peer: 1\n")});
  REQUIRE(daemon.Start());
  Cli(daemon, {"flags", "create", "orders", "--old", "pg", "--new", "ddb"});
  Cli(daemon, {"stage", "orders", "dualwrite"});
  auto holder = Client::Create(OptionsFor(daemon));
  REQUIRE(holder.ok());
  REQUIRE((*holder)->watch_synced());

  ClientOptions options = OptionsFor(daemon);
  options.decide_deadline = absl::Milliseconds(200);
  options.unsynced_max_age = absl::Milliseconds(300);
  options.initial_sync_wait = absl::Milliseconds(200);
  auto client = Client::Create(options);
  REQUIRE(client.ok());
  REQUIRE(!(*client)->watch_synced());
  REQUIRE((*client)->Decide("orders", User("u-1")).stage == Stage::kDualWrite);
  REQUIRE((*client)->Decide("orders", User("u-2")).stage == Stage::kDualWrite);
  // Younger than unsynced_max_age: still served from the cache.
  CHECK((*client)->Decide("orders", User("u-1")).reason == Reason::kCached);
  CHECK((*client)->stats().cache_hits == 1);

  absl::SleepFor(absl::Milliseconds(400));
  const int64_t revision = (*holder)->watched_revision();
  Cli(daemon, {"stage", "orders", "shadow"});
  REQUIRE(Eventually([&] { return (*holder)->watched_revision() > revision; }));
  // The change cannot be heard of, and the entry is older than
  // unsynced_max_age (though well within cache_ttl): asked again, and the
  // new version is served.
  REQUIRE(!(*client)->watch_synced());
  Decision refreshed = (*client)->Decide("orders", User("u-1"));
  CHECK(refreshed.stage == Stage::kShadow);
  CHECK(refreshed.reason == Reason::kDefault);
  CHECK(refreshed.flag_version == 3);
  CHECK((*client)->stats().cache_misses == 3);

  // The daemon gone: the cached decision, as STALE, within the deadline.
  REQUIRE(daemon.Stop(SIGKILL) == -SIGKILL);
  absl::SleepFor(absl::Milliseconds(400));
  Decision stale;
  const absl::Duration took =
      Timed([&] { stale = (*client)->Decide("orders", User("u-2")); });
  CHECK(took <= options.decide_deadline + kSlack);
  CHECK(stale.stage == Stage::kDualWrite);
  CHECK(stale.reason == Reason::kStale);
  CHECK((*client)->stats().stale_serves == 1);
  CHECK((*client)->stats().errors == 0);
}

TEST_CASE("the daemon restarted on its data: the stream resumes without a "
          "RESET and the cache of unchanged flags is kept",
          "[client]") {
  TempDir dir;
  DaemonProcess daemon(dir.path() + "/data");
  REQUIRE(daemon.Start());
  daemon.KeepPort();
  Cli(daemon, {"flags", "create", "orders", "--old", "pg", "--new", "ddb"});
  Cli(daemon, {"flags", "create", "billing", "--old", "pg", "--new", "ddb"});
  auto client = Client::Create(RemoteOptionsFor(daemon));
  REQUIRE(client.ok());
  REQUIRE((*client)->watch_synced());
  // Changes while the client is connected.
  const int64_t start_revision = (*client)->watched_revision();
  Cli(daemon, {"stage", "orders", "dualwrite"});
  Cli(daemon, {"stage", "billing", "dualwrite"});
  REQUIRE(Eventually(
      [&] { return (*client)->watched_revision() >= start_revision + 2; }));
  for (const char* user : {"u-1", "u-2", "u-3"}) {
    REQUIRE((*client)->Decide("orders", User(user)).stage == Stage::kDualWrite);
    REQUIRE((*client)->Decide("billing", User(user)).stage == Stage::kDualWrite);
  }
  const ClientStats before = (*client)->stats();
  REQUIRE(before.cache_entries == 6);
  const int64_t revision = (*client)->watched_revision();

  REQUIRE(daemon.Stop(SIGTERM) == 0);
  REQUIRE(Eventually([&] { return !(*client)->watch_synced(); }));
  REQUIRE(daemon.Start());
  const absl::Time restarted = absl::Now();
  REQUIRE(Eventually([&] { return (*client)->watch_synced(); }));
  // Back promptly: the channel reconnects at the client's backoff (at most
  // 200 ms here), not at gRPC's default pace (5-10 s measured).
  CHECK(absl::Now() - restarted < absl::Seconds(3));
  const ClientStats resumed = (*client)->stats();
  CHECK(resumed.stream_reconnects > before.stream_reconnects);
  // Resumed from its revision: nothing to replay, no RESET, nothing
  // invalidated, the cache whole.
  CHECK((*client)->watched_revision() == revision);
  CHECK(resumed.invalidations == before.invalidations);
  CHECK(resumed.cache_entries == 6);

  // A change after the restart reaches the client.
  Cli(daemon, {"stage", "billing", "shadow"});
  REQUIRE(Eventually([&] { return (*client)->watched_revision() > revision; }));
  const ClientStats changed = (*client)->stats();
  CHECK(changed.invalidations == resumed.invalidations + 1);
  // The unchanged flag is still served from the cache...
  for (const char* user : {"u-1", "u-2", "u-3"}) {
    Decision d = (*client)->Decide("orders", User(user));
    CHECK(d.stage == Stage::kDualWrite);
    CHECK(d.reason == Reason::kCached);
  }
  CHECK((*client)->stats().cache_hits == changed.cache_hits + 3);
  // ...and the changed one is seen at its new version by the next Decide.
  Decision billing = (*client)->Decide("billing", User("u-1"));
  CHECK(billing.stage == Stage::kShadow);
  CHECK(billing.flag_version == 3);
  CHECK(billing.reason == Reason::kDefault);
}

TEST_CASE("a daemon that cannot replay the client's revision (fresh store on "
          "the same port) sends a RESET that drops the whole cache",
          "[client]") {
  TempDir dir;
  const std::string data = dir.path() + "/data";
  DaemonProcess daemon(data);
  REQUIRE(daemon.Start());
  daemon.KeepPort();
  Cli(daemon, {"flags", "create", "orders", "--old", "pg", "--new", "ddb"});
  Cli(daemon, {"flags", "create", "billing", "--old", "pg", "--new", "ddb"});
  Cli(daemon, {"stage", "orders", "dualwrite"});
  auto client = Client::Create(RemoteOptionsFor(daemon));
  REQUIRE(client.ok());
  REQUIRE((*client)->watch_synced());
  for (const char* user : {"u-1", "u-2"}) {
    REQUIRE((*client)->Decide("orders", User(user)).stage == Stage::kDualWrite);
    REQUIRE((*client)->Decide("billing", User(user)).reason == Reason::kDefault);
  }
  REQUIRE((*client)->stats().cache_entries == 4);
  REQUIRE((*client)->watched_revision() >= 3);

  // The same port, an empty store: the daemon is behind the client.
  REQUIRE(daemon.Stop(SIGTERM) == 0);
  std::filesystem::remove_all(data);
  REQUIRE(!std::filesystem::exists(data));
  REQUIRE(Eventually([&] { return !(*client)->watch_synced(); }));
  const ClientStats before = (*client)->stats();
  const int64_t revision = (*client)->watched_revision();
  REQUIRE(before.cache_entries == 4);  // kept while the daemon was away
  REQUIRE(daemon.Start());
  REQUIRE(Eventually([&] { return (*client)->watch_synced(); }));

  const ClientStats after = (*client)->stats();
  CHECK(after.cache_entries == 0);
  CHECK(after.invalidations > before.invalidations);
  CHECK((*client)->watched_revision() < revision);
  // Every next Decide is a miss, and the flags no longer exist: off.
  for (const char* flag : {"orders", "billing"}) {
    for (const char* user : {"u-1", "u-2"}) {
      Decision d = (*client)->Decide(flag, User(user));
      CHECK(d.stage == Stage::kOff);
      CHECK(d.reason == Reason::kFlagNotFound);
    }
  }
  CHECK((*client)->stats().cache_misses == after.cache_misses + 4);
  CHECK((*client)->stats().cache_hits == after.cache_hits);
}

TEST_CASE("a backfill whose find_mismatched returns more rows than its page "
          "stops with a clear error, the job at its last checkpoint",
          "[client][backfill]") {
  TempDir dir;
  DaemonProcess daemon(dir.path() + "/data");
  REQUIRE(daemon.Start());
  Cli(daemon, {"flags", "create", "orders", "--old", "pg", "--new", "ddb"});
  ChannelOptions channel_options;
  channel_options.server = daemon.address();
  auto channel = MakeChannel(channel_options);
  REQUIRE(channel.ok());
  BackfillOptions options;
  options.flag_key = "orders";
  auto driver = BackfillDriver::Create(*channel, options);
  REQUIRE(driver.ok());

  const std::vector<std::string> old_rows = {"a", "b"};
  BackfillSource<std::string> source;
  source.read_old_page = [&](const std::string& cursor, size_t) {
    BackfillPage<std::string> page;
    if (cursor.empty()) page.rows = old_rows;
    page.next_cursor = "end";
    page.done = true;
    return absl::StatusOr<BackfillPage<std::string>>(page);
  };
  source.write_new = [](const std::vector<std::string>&) {
    return absl::OkStatus();
  };
  // A buggy verifier: more rows than it was given.
  source.find_mismatched = [](const std::vector<std::string>& rows) {
    std::vector<std::string> wrong = rows;
    wrong.push_back("not-in-the-page");
    return absl::StatusOr<std::vector<std::string>>(wrong);
  };
  const absl::StatusOr<BackfillProgress> run = (*driver)->Run(source);
  REQUIRE_FALSE(run.ok());
  CHECK(run.status().code() == absl::StatusCode::kInvalidArgument);
  CHECK(run.status().message() ==
        "backfill: find_mismatched returned 3 rows for a page of 2; it must "
        "return old's rows of that page that new has wrong");
  // The copy pass was recorded; the verify page was not.
  const RunResult status = RunCli(daemon.address(),
                                  {"backfill", "status", "orders", "-o", "json"});
  REQUIRE(status.exit_code == 0);
  INFO(status.out);
  CHECK(status.out.find("\"phase\": \"VERIFYING\"") != std::string::npos);
  CHECK(status.out.find("\"rows_copied\": \"2\"") != std::string::npos);
  CHECK(status.out.find("\"rows_verified\": \"0\"") != std::string::npos);
}

}  // namespace
}  // namespace cutover::testing
