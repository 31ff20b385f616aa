// OpAggregator on a fake clock: counts summed within the window, slots
// expiring after it, latency percentiles of known histograms, mismatch and
// error rates, the per-slot key cap and rejected reports.
#include "server/op_aggregator.h"

#include <catch2/catch.hpp>

#include <array>
#include <string>
#include <thread>
#include <vector>

#include "convert/telemetry.h"

namespace cutover {
namespace {

// A clock tests move by hand. Starts at the start of a slot for slots of
// 10 s and of 300 s.
struct FakeClock {
  absl::Time now = absl::FromUnixSeconds(1700000100);
  OpAggregator::Clock clock() {
    return [this] { return now; };
  }
};

// A count as the Telemetry API receives it, converted as the daemon does.
OpCount Count(const std::string& flag, v1::Stage stage, const std::string& op,
              v1::Origin origin, v1::OpResult result, uint64_t count,
              std::vector<uint64_t> buckets = {}) {
  v1::MigrationOpCount c;
  c.set_flag_key(flag);
  c.set_stage(stage);
  c.set_op(op);
  c.set_origin(origin);
  c.set_result(result);
  c.set_count(count);
  for (uint64_t n : buckets) c.mutable_latency()->add_buckets(n);
  return FromProto(c);
}

// `count` operations all in latency bucket `bucket`.
OpCount ReadsIn(const std::string& flag, v1::Origin origin,
                v1::OpResult result, uint64_t count, int bucket) {
  std::vector<uint64_t> buckets(static_cast<size_t>(bucket) + 1, 0);
  buckets[static_cast<size_t>(bucket)] = count;
  return Count(flag, v1::SHADOW, "read", origin, result, count, buckets);
}

OpAggregator::Options SixtySecondsInSixSlots() {
  OpAggregator::Options options;
  options.window = absl::Seconds(60);
  options.slots = 6;
  return options;
}

v1::FlagStatus StatusOf(const OpAggregator& aggregator,
                        const std::string& flag) {
  v1::FlagStatus status;
  ToProto(aggregator.Status(flag), &status);
  return status;
}

// ok + errors of the (op, origin) row, or -1 if there is none.
int64_t OpsOf(const v1::FlagStatus& status, const std::string& op,
              v1::Origin origin) {
  for (const auto& row : status.ops()) {
    if (row.op() == op && row.origin() == origin) {
      return static_cast<int64_t>(row.ok() + row.errors());
    }
  }
  return -1;
}

TEST_CASE("counts reported within the window are summed", "[op_aggregator]") {
  FakeClock clock;
  OpAggregator aggregator(SixtySecondsInSixSlots(), clock.clock());
  aggregator.Add(ReadsIn("orders", v1::OLD, v1::OK, 5, 8));
  clock.now += absl::Seconds(15);
  aggregator.Add(ReadsIn("orders", v1::OLD, v1::OK, 7, 8));
  aggregator.Add(ReadsIn("orders", v1::OLD, v1::FAILED, 2, 8));
  // The same op and origin at another stage goes into the same row.
  aggregator.Add(Count("orders", v1::LIVE, "read", v1::OLD, v1::OK, 1));
  clock.now += absl::Seconds(30);
  aggregator.Add(ReadsIn("orders", v1::NEW, v1::OK, 3, 8));

  const v1::FlagStatus status = StatusOf(aggregator, "orders");
  CHECK(status.window_seconds() == 60);
  REQUIRE(status.ops_size() == 2);
  CHECK(status.ops(0).op() == "read");
  CHECK(status.ops(0).origin() == v1::OLD);
  CHECK(status.ops(0).ok() == 13);
  CHECK(status.ops(0).errors() == 2);
  CHECK(status.ops(1).op() == "read");
  CHECK(status.ops(1).origin() == v1::NEW);
  CHECK(status.ops(1).ok() == 3);
  CHECK(status.ops(1).errors() == 0);
  CHECK(status.compared() == 0);
  CHECK(status.mismatch_rate() == 0);
  CHECK(status.rejected_reports() == 0);

  // Another flag sees none of it.
  const v1::FlagStatus other = StatusOf(aggregator, "payments");
  CHECK(other.ops_size() == 0);
  CHECK(other.window_seconds() == 60);
}

TEST_CASE("a report expires once its slot leaves the window",
          "[op_aggregator]") {
  struct Case {
    absl::Duration after;
    int64_t expected;  // reads counted at that time
  };
  // Slots are 10 s; the report lands at the start of a slot, which stays in
  // the window until 6 slots (60 s) later.
  const std::vector<Case> cases = {
      {absl::ZeroDuration(), 1},      {absl::Seconds(9.999), 1},
      {absl::Seconds(10), 1},         {absl::Seconds(50), 1},
      {absl::Milliseconds(59999), 1}, {absl::Seconds(60), -1},
      {absl::Seconds(61), -1},        {absl::Hours(24), -1},
  };
  for (const auto& c : cases) {
    FakeClock clock;
    OpAggregator aggregator(SixtySecondsInSixSlots(), clock.clock());
    aggregator.Add(ReadsIn("orders", v1::OLD, v1::OK, 1, 5));
    aggregator.RejectReports(4);
    clock.now += c.after;
    INFO("after " << absl::FormatDuration(c.after));
    const v1::FlagStatus status = StatusOf(aggregator, "orders");
    CHECK(OpsOf(status, "read", v1::OLD) == c.expected);
    CHECK(status.rejected_reports() == (c.expected > 0 ? 4u : 0u));
  }
}

TEST_CASE("a report late in its slot expires with the slot",
          "[op_aggregator]") {
  FakeClock clock;
  clock.now += absl::Seconds(9);  // last second of a 10 s slot
  OpAggregator aggregator(SixtySecondsInSixSlots(), clock.clock());
  aggregator.Add(ReadsIn("orders", v1::OLD, v1::OK, 1, 5));
  clock.now += absl::Seconds(50);  // 59 s into the window's first slot
  CHECK(OpsOf(StatusOf(aggregator, "orders"), "read", v1::OLD) == 1);
  clock.now += absl::Seconds(1);  // that slot is now 6 slots back
  CHECK(OpsOf(StatusOf(aggregator, "orders"), "read", v1::OLD) == -1);
}

TEST_CASE("a reused slot forgets what it held", "[op_aggregator]") {
  FakeClock clock;
  OpAggregator aggregator(SixtySecondsInSixSlots(), clock.clock());
  aggregator.Add(ReadsIn("orders", v1::OLD, v1::OK, 100, 5));
  clock.now += absl::Seconds(60);  // same position in the ring
  aggregator.Add(ReadsIn("orders", v1::OLD, v1::OK, 2, 5));
  CHECK(OpsOf(StatusOf(aggregator, "orders"), "read", v1::OLD) == 2);
  // Adding in every slot of a full window keeps all of them.
  for (int i = 0; i < 5; ++i) {
    clock.now += absl::Seconds(10);
    aggregator.Add(ReadsIn("orders", v1::OLD, v1::OK, 1, 5));
  }
  CHECK(OpsOf(StatusOf(aggregator, "orders"), "read", v1::OLD) == 7);
  clock.now += absl::Seconds(10);
  CHECK(OpsOf(StatusOf(aggregator, "orders"), "read", v1::OLD) == 5);
}

TEST_CASE("latency percentiles are bucket upper bounds", "[op_aggregator]") {
  struct Case {
    const char* name;
    std::vector<std::pair<int, uint64_t>> buckets;  // (bucket, count)
    double p50;
    double p95;
  };
  const std::vector<Case> cases = {
      {"empty", {}, 0, 0},
      {"one bucket", {{9, 100}}, 512e-6, 512e-6},
      {"under a microsecond", {{0, 1}}, 1e-6, 1e-6},
      {"spread", {{10, 50}, {12, 45}, {20, 5}}, 1024e-6, 4096e-6},
      {"p95 on the boundary", {{3, 94}, {7, 1}, {11, 5}}, 8e-6, 128e-6},
      {"p95 just past it", {{3, 95}, {7, 5}}, 8e-6, 8e-6},
      {"ranks round up", {{1, 1}, {2, 1}, {3, 1}}, 4e-6, 8e-6},
      {"slowest bucket", {{25, 3}}, 33.554432, 33.554432},
      {"tail", {{4, 1}, {25, 1}}, 16e-6, 33.554432},
  };
  for (const auto& c : cases) {
    INFO(c.name);
    std::array<uint64_t, kLatencyBuckets> buckets{};
    for (const auto& [i, n] : c.buckets) buckets[static_cast<size_t>(i)] = n;
    CHECK(LatencyPercentileSeconds(buckets, 0.50) == c.p50);
    CHECK(LatencyPercentileSeconds(buckets, 0.95) == c.p95);

    // The same histogram through Add and Status, split over two reports.
    FakeClock clock;
    OpAggregator aggregator(SixtySecondsInSixSlots(), clock.clock());
    uint64_t total = 0;
    for (const auto& [i, n] : c.buckets) {
      aggregator.Add(ReadsIn("orders", v1::NEW, v1::OK, n, i));
      total += n;
    }
    const v1::FlagStatus status = StatusOf(aggregator, "orders");
    if (total == 0) {
      CHECK(status.ops_size() == 0);
      continue;
    }
    REQUIRE(status.ops_size() == 1);
    CHECK(status.ops(0).p50_seconds() == c.p50);
    CHECK(status.ops(0).p95_seconds() == c.p95);
  }
}

TEST_CASE("latency of failed operations counts too", "[op_aggregator]") {
  FakeClock clock;
  OpAggregator aggregator(SixtySecondsInSixSlots(), clock.clock());
  aggregator.Add(ReadsIn("orders", v1::NEW, v1::OK, 10, 4));       // 16 us
  aggregator.Add(ReadsIn("orders", v1::NEW, v1::FAILED, 90, 15));  // 32.768 ms
  const v1::FlagStatus status = StatusOf(aggregator, "orders");
  REQUIRE(status.ops_size() == 1);
  CHECK(status.ops(0).p50_seconds() == 0.032768);
  CHECK(status.ops(0).error_rate() == 0.9);
}

TEST_CASE("mismatch rate is mismatches over comparisons", "[op_aggregator]") {
  struct Case {
    uint64_t matches, mismatches;
    double rate;
  };
  const std::vector<Case> cases = {
      {0, 0, 0}, {993, 7, 0.007}, {0, 5, 1}, {3, 1, 0.25}, {1000, 0, 0},
  };
  for (const auto& c : cases) {
    INFO(c.matches << " matches, " << c.mismatches << " mismatches");
    FakeClock clock;
    OpAggregator aggregator(SixtySecondsInSixSlots(), clock.clock());
    if (c.matches > 0) {
      aggregator.Add(
          Count("orders", v1::SHADOW, "read", v1::NEW, v1::MATCH, c.matches));
    }
    if (c.mismatches > 0) {
      aggregator.Add(Count("orders", v1::LIVE, "read", v1::NEW, v1::MISMATCH,
                           c.mismatches));
    }
    const v1::FlagStatus status = StatusOf(aggregator, "orders");
    CHECK(status.compared() == c.matches + c.mismatches);
    CHECK(status.mismatches() == c.mismatches);
    CHECK(status.mismatch_rate() == c.rate);
    // Comparisons are not operations of a database.
    CHECK(status.ops_size() == 0);
  }
}

TEST_CASE("error rate is per op and origin, sorted by op then origin",
          "[op_aggregator]") {
  FakeClock clock;
  OpAggregator aggregator(SixtySecondsInSixSlots(), clock.clock());
  // Added out of order on purpose.
  aggregator.Add(Count("orders", v1::LIVE, "write", v1::NEW, v1::OK, 4));
  aggregator.Add(Count("orders", v1::LIVE, "read", v1::NEW, v1::OK, 50));
  aggregator.Add(Count("orders", v1::LIVE, "read", v1::NEW, v1::FAILED, 50));
  aggregator.Add(Count("orders", v1::LIVE, "write", v1::OLD, v1::FAILED, 3));
  aggregator.Add(Count("orders", v1::LIVE, "read", v1::OLD, v1::OK, 90));
  aggregator.Add(Count("orders", v1::LIVE, "read", v1::OLD, v1::FAILED, 10));

  struct Row {
    const char* op;
    v1::Origin origin;
    uint64_t ok, errors;
    double error_rate;
  };
  const std::vector<Row> expected = {
      {"read", v1::OLD, 90, 10, 0.1},
      {"read", v1::NEW, 50, 50, 0.5},
      {"write", v1::OLD, 0, 3, 1.0},
      {"write", v1::NEW, 4, 0, 0.0},
  };
  const v1::FlagStatus status = StatusOf(aggregator, "orders");
  REQUIRE(status.ops_size() == static_cast<int>(expected.size()));
  for (size_t i = 0; i < expected.size(); ++i) {
    INFO("row " << i);
    const auto& row = status.ops(static_cast<int>(i));
    CHECK(row.op() == expected[i].op);
    CHECK(row.origin() == expected[i].origin);
    CHECK(row.ok() == expected[i].ok);
    CHECK(row.errors() == expected[i].errors);
    CHECK(row.error_rate() == expected[i].error_rate);
    // No histograms were reported.
    CHECK(row.p50_seconds() == 0);
    CHECK(row.p95_seconds() == 0);
  }
}

TEST_CASE("a slot holds at most max_keys_per_slot entries", "[op_aggregator]") {
  FakeClock clock;
  OpAggregator::Options options = SixtySecondsInSixSlots();
  options.max_keys_per_slot = 3;
  OpAggregator aggregator(options, clock.clock());
  CHECK(aggregator.Add(Count("a", v1::SHADOW, "read", v1::OLD, v1::OK, 1)));
  CHECK(aggregator.Add(Count("a", v1::SHADOW, "read", v1::NEW, v1::OK, 1)));
  CHECK(aggregator.Add(Count("b", v1::SHADOW, "read", v1::OLD, v1::OK, 1)));
  // A fourth distinct entry does not fit, for a known flag or a new one ...
  CHECK_FALSE(
      aggregator.Add(Count("a", v1::SHADOW, "write", v1::OLD, v1::OK, 1)));
  CHECK_FALSE(
      aggregator.Add(Count("c", v1::SHADOW, "read", v1::OLD, v1::OK, 1)));
  // ... but entries already held still add up.
  CHECK(aggregator.Add(Count("a", v1::SHADOW, "read", v1::OLD, v1::OK, 9)));

  v1::FlagStatus a = StatusOf(aggregator, "a");
  CHECK(a.rejected_reports() == 2);
  CHECK(OpsOf(a, "read", v1::OLD) == 10);
  CHECK(OpsOf(a, "write", v1::OLD) == -1);
  CHECK(StatusOf(aggregator, "c").ops_size() == 0);

  // The next slot starts empty.
  clock.now += absl::Seconds(10);
  CHECK(aggregator.Add(Count("c", v1::SHADOW, "read", v1::OLD, v1::OK, 1)));
  CHECK(OpsOf(StatusOf(aggregator, "c"), "read", v1::OLD) == 1);
  CHECK(StatusOf(aggregator, "c").rejected_reports() == 2);
}

TEST_CASE("rejected reports and client drops count over the window",
          "[op_aggregator]") {
  FakeClock clock;
  OpAggregator aggregator(SixtySecondsInSixSlots(), clock.clock());
  aggregator.RejectReports(2);
  aggregator.AddClientDropped(100);
  clock.now += absl::Seconds(30);
  aggregator.RejectReports(3);
  aggregator.RejectReports(0);
  aggregator.AddClientDropped(5);

  // Over all flags, whichever one is asked about.
  v1::FlagStatus status = StatusOf(aggregator, "anything");
  CHECK(status.rejected_reports() == 5);
  CHECK(status.client_dropped() == 105);

  clock.now += absl::Seconds(30);  // the first slot leaves the window
  status = StatusOf(aggregator, "anything");
  CHECK(status.rejected_reports() == 3);
  CHECK(status.client_dropped() == 5);
}

TEST_CASE("one slot is the whole window", "[op_aggregator]") {
  FakeClock clock;
  OpAggregator::Options options;
  options.window = absl::Seconds(300);
  options.slots = 1;
  OpAggregator aggregator(options, clock.clock());
  aggregator.Add(ReadsIn("orders", v1::OLD, v1::OK, 1, 5));
  clock.now += absl::Seconds(299);
  CHECK(OpsOf(StatusOf(aggregator, "orders"), "read", v1::OLD) == 1);
  clock.now += absl::Seconds(1);
  CHECK(OpsOf(StatusOf(aggregator, "orders"), "read", v1::OLD) == -1);
  CHECK(StatusOf(aggregator, "orders").window_seconds() == 300);
}

TEST_CASE("concurrent adds and reads lose nothing", "[op_aggregator]") {
  OpAggregator aggregator(SixtySecondsInSixSlots());  // the real clock
  constexpr int kThreads = 8;
  constexpr int kAdds = 2000;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&aggregator, t] {
      const v1::Origin origin = t % 2 == 0 ? v1::OLD : v1::NEW;
      for (int i = 0; i < kAdds; ++i) {
        aggregator.Add(ReadsIn("orders", origin, v1::OK, 1, i % 26));
        if (i % 100 == 0) StatusOf(aggregator, "orders");
      }
    });
  }
  for (auto& thread : threads) thread.join();
  // Slots are 10 s: all of it is in the window unless this test took a
  // minute.
  const v1::FlagStatus status = StatusOf(aggregator, "orders");
  CHECK(OpsOf(status, "read", v1::OLD) == kThreads / 2 * kAdds);
  CHECK(OpsOf(status, "read", v1::NEW) == kThreads / 2 * kAdds);
}

TEST_CASE("bucket upper bounds are powers of two microseconds",
          "[op_aggregator]") {
  CHECK(LatencyBucketUpperBoundSeconds(0) == 1e-6);
  CHECK(LatencyBucketUpperBoundSeconds(1) == 2e-6);
  CHECK(LatencyBucketUpperBoundSeconds(10) == 1024e-6);
  CHECK(LatencyBucketUpperBoundSeconds(20) == 1.048576);
  CHECK(LatencyBucketUpperBoundSeconds(25) == 33.554432);
}

}  // namespace
}  // namespace cutover
