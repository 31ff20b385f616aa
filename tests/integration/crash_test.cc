// kill -9 of cutoverd, 50 times, each at a random moment of a burst of
// admin writes from several clients: after every restart the store opens,
// every write the daemon acknowledged is there, the toggled flag's history
// is whole (one entry per version, no gap), and the store revision has not
// gone back. And kill -9 during a large Apply: all of the file or none.
#include <catch2/catch.hpp>

#include <signal.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <mutex>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "client/admin_client.h"
#include "tests/integration/admin_calls.h"
#include "tests/integration/harness.h"

namespace cutover::testing {
namespace {

// What the daemon acknowledged, across all rounds.
struct Acknowledged {
  std::mutex mu;
  std::set<std::string> flags;     // created flags
  std::set<std::string> segments;  // created segments
  int64_t toggle_version = 1;      // highest acknowledged version of "toggle"
  int writes = 0;
};

// One writer of a burst: writer 0 moves "toggle" back and forth, odd
// writers create flags, even ones segments, until a call fails (the
// daemon is gone) or `stop`.
void Write(const AdminClient& admin, int round, int writer,
           const std::atomic<bool>& stop, Acknowledged& acked) {
  // Bounded: at most 100000 writes, each call with a deadline.
  for (int n = 0; n < 100000 && !stop; ++n) {
    const std::string key = "r" + std::to_string(round) + "-w" +
                            std::to_string(writer) + "-" + std::to_string(n);
    absl::Status status;
    if (writer == 0) {
      const absl::StatusOr<v1::Flag> result = SetStage(
          admin, "toggle", n % 2 == 0 ? v1::DUALWRITE : v1::OFF);
      status = result.status();
      if (status.ok()) {
        std::lock_guard<std::mutex> lock(acked.mu);
        acked.toggle_version =
            std::max(acked.toggle_version, result->version());
        ++acked.writes;
      }
    } else if (writer % 2 == 1) {
      const absl::StatusOr<v1::Flag> result = CreateFlag(admin, OffFlag(key));
      status = result.status();
      if (status.ok()) {
        std::lock_guard<std::mutex> lock(acked.mu);
        acked.flags.insert(result->key());
        ++acked.writes;
      }
    } else {
      v1::CreateSegmentRequest request;
      request.mutable_segment()->set_key(key);
      request.mutable_segment()->add_included("u-" + std::to_string(n));
      const absl::StatusOr<v1::Segment> result = admin.CreateSegment(request);
      status = result.status();
      if (status.ok()) {
        std::lock_guard<std::mutex> lock(acked.mu);
        acked.segments.insert(result->key());
        ++acked.writes;
      }
    }
    if (!status.ok()) return;  // the daemon is gone
  }
}

// The store revision the daemon serves from (a Decide's snapshot).
int64_t ServedRevision(const std::string& address) {
  const absl::StatusOr<v1::DecideResponse> response =
      Decide(*ConnectAdmin(address, absl::Seconds(20)), "toggle", "u-1");
  INFO(response.status().message());
  REQUIRE(response.ok());
  return response->revision();
}

// After a restart: everything acknowledged is stored, and the toggle's
// history has one entry per version.
void CheckRecovered(const std::string& address, Acknowledged& acked) {
  auto admin = ConnectAdmin(address, absl::Seconds(20));
  std::set<std::string> flags, segments;
  REQUIRE(ListFlagKeys(*admin, &flags));
  int64_t toggle_version = 0;
  {
    v1::GetFlagRequest request;
    request.set_key("toggle");
    const absl::StatusOr<v1::Flag> toggle = admin->GetFlag(request);
    REQUIRE(toggle.ok());
    toggle_version = toggle->version();
  }
  {
    const absl::StatusOr<v1::ListSegmentsResponse> response =
        admin->ListSegments(v1::ListSegmentsRequest());
    REQUIRE(response.ok());
    for (const auto& segment : response->segments()) {
      segments.insert(segment.key());
    }
  }
  {
    v1::GetHistoryRequest request;
    request.set_key("toggle");
    const absl::StatusOr<v1::GetHistoryResponse> history =
        admin->GetHistory(request);
    REQUIRE(history.ok());
    const v1::GetHistoryResponse& response = *history;
    // Newest first: versions toggle_version, ..., 1, each once.
    REQUIRE(response.entries_size() == toggle_version);
    for (int i = 0; i < response.entries_size(); ++i) {
      CHECK(response.entries(i).version() == toggle_version - i);
    }
  }
  std::lock_guard<std::mutex> lock(acked.mu);
  int missing = 0;
  for (const auto& key : acked.flags) {
    if (flags.count(key) == 0) {
      ++missing;
      UNSCOPED_INFO("acknowledged flag lost: " << key);
    }
  }
  for (const auto& key : acked.segments) {
    if (segments.count(key) == 0) {
      ++missing;
      UNSCOPED_INFO("acknowledged segment lost: " << key);
    }
  }
  CHECK(missing == 0);
  CHECK(toggle_version >= acked.toggle_version);
}

TEST_CASE("50 kill -9 at random moments of concurrent admin writes lose "
          "nothing acknowledged",
          "[crash]") {
  TempDir dir;
  DaemonProcess daemon(dir.path() + "/data");
  REQUIRE(daemon.Start());
  REQUIRE(CreateFlag(*ConnectAdmin(daemon.address()), OffFlag("toggle")).ok());

  constexpr int kRounds = 50;
  constexpr int kWriters = 4;
  std::mt19937 random(20261125);
  Acknowledged acked;
  int64_t revision = ServedRevision(daemon.address());
  int rounds_with_writes = 0;  // the kill came after some acknowledgement

  for (int round = 0; round < kRounds; ++round) {
    INFO("round " << round);
    int writes_before_round = 0;
    {
      std::lock_guard<std::mutex> lock(acked.mu);
      writes_before_round = acked.writes;
    }
    std::atomic<bool> stop{false};
    std::vector<std::thread> writers;
    for (int w = 0; w < kWriters; ++w) {
      writers.emplace_back([&, w] {
        auto admin = ConnectAdmin(daemon.address(), absl::Seconds(5));
        Write(*admin, round, w, stop, acked);
      });
    }
    // A random moment of the burst (from its first connection on), then
    // kill without warning.
    std::this_thread::sleep_for(std::chrono::milliseconds(random() % 150));
    REQUIRE(daemon.Stop(SIGKILL) == -SIGKILL);
    stop = true;
    for (auto& writer : writers) writer.join();
    {
      std::lock_guard<std::mutex> lock(acked.mu);
      if (acked.writes > writes_before_round) ++rounds_with_writes;
    }

    // The store opens (the daemon refuses to serve a store it cannot
    // open) and holds everything acknowledged.
    const bool started = daemon.Start();
    INFO("cutoverd stderr:\n" << daemon.last_stderr());
    REQUIRE(started);
    const int64_t restarted_at = ServedRevision(daemon.address());
    CHECK(restarted_at >= revision);
    revision = restarted_at;
    CheckRecovered(daemon.address(), acked);
  }
  // The bursts did write (of each kind; fewer in sanitizer builds), and
  // many kills came in the middle of one (a writer stops at its first
  // failed call: the one the kill cut off).
  INFO("acknowledged: " << acked.flags.size() << " flags, "
                        << acked.segments.size() << " segments, toggle at "
                        << acked.toggle_version << "; " << rounds_with_writes
                        << " rounds with writes");
  CHECK(acked.flags.size() > 10);
  CHECK(acked.segments.size() > 10);
  CHECK(acked.toggle_version > 10);
  CHECK(rounds_with_writes > kRounds / 5);
  REQUIRE(daemon.Stop(SIGTERM) == 0);
}

// A file of `flags` new flags keyed "<prefix>-<i>", each with a rule on
// the file's own segment "<prefix>-members".
v1::ApplyRequest LargeFile(const std::string& prefix, int flags) {
  v1::ApplyRequest request;
  v1::Segment* segment = request.add_segments();
  segment->set_key(prefix + "-members");
  segment->add_included("u-1");
  for (int i = 0; i < flags; ++i) {
    v1::Flag* flag = request.add_flags();
    *flag = OffFlag(prefix + "-" + std::to_string(i));
    v1::Rule* rule = flag->add_rules();
    v1::Clause* clause = rule->add_clauses();
    clause->set_op(v1::IN_SEGMENT);
    clause->add_values(segment->key());
    rule->mutable_serve()->set_stage(v1::DUALWRITE);
  }
  return request;
}

// How many of a file's flags (and its segment) the store holds.
int StoredOf(const AdminClient& admin, const std::string& prefix,
             bool* segment_stored) {
  std::set<std::string> keys;
  REQUIRE(ListFlagKeys(admin, &keys));
  v1::GetSegmentRequest get;
  get.set_key(prefix + "-members");
  *segment_stored = admin.GetSegment(get).ok();
  return static_cast<int>(std::count_if(
      keys.begin(), keys.end(),
      [&](const std::string& key) { return key.rfind(prefix + "-", 0) == 0; }));
}

TEST_CASE("kill -9 during a large apply leaves all of the file or none of it",
          "[crash][apply]") {
  TempDir dir;
  DaemonProcess daemon(dir.path() + "/data");
  REQUIRE(daemon.Start());
  constexpr int kFlags = 2000;

  // An apply left alone: how long one takes on this machine and build, so
  // that the kills fall before, during and after the commit.
  absl::Duration whole;
  {
    auto admin = ConnectAdmin(daemon.address(), absl::Seconds(60));
    const absl::Time start = absl::Now();
    const absl::StatusOr<v1::ApplyResponse> response =
        admin->Apply(LargeFile("warm", kFlags));
    whole = absl::Now() - start;
    INFO(response.status().ToString());
    REQUIRE(response.ok());
    CHECK(response->revision() == 1);
  }
  const int64_t whole_ms = std::max<int64_t>(1, absl::ToInt64Milliseconds(whole));

  constexpr int kRounds = 12;
  std::mt19937 random(20261206);
  int all = 0;
  int none = 0;
  for (int round = 0; round < kRounds; ++round) {
    const std::string prefix = "r" + std::to_string(round);
    INFO("round " << round << ", an apply takes ~" << whole_ms << " ms");
    const int64_t revision = ServedRevision(daemon.address());
    std::atomic<bool> acknowledged{false};
    std::thread caller([&] {
      auto admin = ConnectAdmin(daemon.address(), absl::Seconds(60));
      acknowledged = admin->Apply(LargeFile(prefix, kFlags)).ok();
    });
    // Anywhere from the request's arrival to a little after the commit.
    std::this_thread::sleep_for(std::chrono::milliseconds(
        random() % static_cast<uint64_t>(whole_ms * 3 / 2 + 1)));
    REQUIRE(daemon.Stop(SIGKILL) == -SIGKILL);
    caller.join();

    const bool started = daemon.Start();
    INFO("cutoverd stderr:\n" << daemon.last_stderr());
    REQUIRE(started);
    auto admin = ConnectAdmin(daemon.address(), absl::Seconds(20));
    bool segment_stored = false;
    const int stored = StoredOf(*admin, prefix, &segment_stored);
    const int64_t restarted_at = ServedRevision(daemon.address());
    INFO(stored << " of " << kFlags << " flags stored, acknowledged "
                << acknowledged.load());
    CHECK((stored == 0 || stored == kFlags));
    CHECK(segment_stored == (stored == kFlags));
    // One revision for the whole file, or none.
    CHECK(restarted_at == revision + (stored == kFlags ? 1 : 0));
    if (acknowledged) CHECK(stored == kFlags);
    (stored == kFlags ? all : none) += 1;
  }
  // The kills fell on both sides of the commit.
  INFO(all << " rounds stored all, " << none << " none");
  CHECK(all > 0);
  CHECK(none > 0);
  REQUIRE(daemon.Stop(SIGTERM) == 0);
}

}  // namespace
}  // namespace cutover::testing
