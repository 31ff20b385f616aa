// kill -9 of cutoverd, 50 times, each at a random moment of a burst of
// admin writes from several clients: after every restart the store opens,
// every write the daemon acknowledged is there, the toggled flag's history
// is whole (one entry per version, no gap), and the store revision has not
// gone back.
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

}  // namespace
}  // namespace cutover::testing
