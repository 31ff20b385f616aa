// TelemetryReporter against the real cutoverd on loopback: what it records
// reaches Admin.GetFlagStatus exactly (counts, latency buckets), from Flush
// and from the background thread; with the daemon down or not answering,
// Record keeps working, Flush fails within its deadline, the operations are
// counted as dropped and reported with the next batch that gets through;
// max_keys and invalid records drop and count; the destructor returns.
#include "client/telemetry_reporter.h"

#include <catch2/catch.hpp>

#include <signal.h>

#include <atomic>
#include <chrono>
#include <future>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "client/admin_client.h"
#include "cutover/v1/cutover.grpc.pb.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"
#include "grpcpp/support/channel_arguments.h"
#include "tests/integration/harness.h"

namespace cutover {
namespace {

using testing::DaemonProcess;
using testing::SilentLoopbackPort;
using testing::TempDir;

// Generous bound for anything that must merely finish.
constexpr auto kFinishes = std::chrono::seconds(30);

// A channel that retries a refused connection quickly (the default backoff
// starts at 1 s and grows to 2 min), so a restarted daemon is found soon.
std::shared_ptr<grpc::Channel> QuickChannel(const std::string& address) {
  grpc::ChannelArguments args;
  args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 100);
  args.SetInt(GRPC_ARG_MIN_RECONNECT_BACKOFF_MS, 100);
  args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 500);
  return grpc::CreateCustomChannel(address, grpc::InsecureChannelCredentials(),
                                   args);
}

// A cutoverd on a fresh folder and an AdminClient on its own channel.
class Server {
 public:
  Server() : daemon_(dir_.path() + "/data") { Start(); }

  void Start() {
    const bool started = daemon_.Start();
    INFO("cutoverd stderr:\n" << daemon_.last_stderr());
    REQUIRE(started);
    AdminClientOptions options;
    options.channel.server = daemon_.address();
    // A busy machine (the TSan run) can miss the first connection attempt.
    options.wait_for_ready = true;
    admin_ = std::make_unique<AdminClient>(QuickChannel(daemon_.address()),
                                           options);
  }

  DaemonProcess& daemon() { return daemon_; }
  std::string address() const { return daemon_.address(); }

  void CreateFlag(const std::string& key) {
    v1::CreateFlagRequest request;
    v1::Flag* flag = request.mutable_flag();
    flag->set_key(key);
    flag->set_old_target("old-db");
    flag->set_new_target("new-db");
    flag->set_enabled(true);
    flag->mutable_default_serve()->set_stage(v1::SHADOW);
    request.set_force(true);
    const absl::Status status = admin_->CreateFlag(request).status();
    INFO(status.message());
    REQUIRE(status.ok());
  }

  v1::FlagStatus Status(const std::string& key) {
    v1::GetFlagStatusRequest request;
    request.set_key(key);
    absl::StatusOr<v1::FlagStatus> status = admin_->GetFlagStatus(request);
    INFO(status.status().message());
    REQUIRE(status.ok());
    return *std::move(status);
  }

 private:
  TempDir dir_;
  DaemonProcess daemon_;
  std::unique_ptr<AdminClient> admin_;
};

// Options for tests that flush by hand.
TelemetryReporter::Options ManualFlush() {
  TelemetryReporter::Options options;
  options.flush_interval = absl::Hours(1);
  options.send_deadline = absl::Seconds(5);
  options.client_name = "reporter-test";
  return options;
}

OpRecord Read(const std::string& flag, Origin origin, OpResult result,
              absl::Duration latency) {
  return {flag, Stage::kShadow, OpKind::kRead, origin, result, latency};
}

// The row of (op, origin), or nullptr.
// A pointer into `status`: it must outlive the row (hence no temporaries).
const v1::OpWindow* RowOf(v1::FlagStatus&& status, const std::string& op,
                          v1::Origin origin) = delete;
const v1::OpWindow* RowOf(const v1::FlagStatus& status, const std::string& op,
                          v1::Origin origin) {
  for (const auto& row : status.ops()) {
    if (row.op() == op && row.origin() == origin) return &row;
  }
  return nullptr;
}

TEST_CASE("recorded operations reach the daemon's status", "[reporter]") {
  Server server;
  server.CreateFlag("orders");
  TelemetryReporter reporter(QuickChannel(server.address()), ManualFlush());

  for (int i = 0; i < 40; ++i) {
    reporter.Record(Read("orders", Origin::kOld, OpResult::kOk,
                         absl::Microseconds(420)));  // bucket 9: < 512 us
  }
  for (int i = 0; i < 10; ++i) {
    reporter.Record(Read("orders", Origin::kOld, OpResult::kFailed,
                         absl::Milliseconds(3)));  // bucket 12: < 4.096 ms
  }
  for (int i = 0; i < 19; ++i) {
    reporter.Record(Read("orders", Origin::kNew, OpResult::kOk,
                         absl::Microseconds(100)));  // bucket 7
  }
  reporter.Record(Read("orders", Origin::kNew, OpResult::kOk,
                       absl::Seconds(2)));  // bucket 21: < 2.097152 s
  for (int i = 0; i < 5; ++i) {
    reporter.Record(
        Read("orders", Origin::kNew, OpResult::kMatch, absl::ZeroDuration()));
  }
  reporter.Record(
      Read("orders", Origin::kNew, OpResult::kMismatch, absl::ZeroDuration()));
  // A write at another stage.
  reporter.Record({"orders", Stage::kLive, OpKind::kWrite, Origin::kNew,
                   OpResult::kOk, absl::Microseconds(1)});

  REQUIRE(reporter.Flush());
  const TelemetryStats stats = reporter.stats();
  CHECK(stats.recorded == 77);
  CHECK(stats.dropped == 0);
  CHECK(stats.batches_sent == 1);
  CHECK(stats.send_failures == 0);

  const v1::FlagStatus status = server.Status("orders");
  REQUIRE(status.ops_size() == 3);
  const v1::OpWindow* old_reads = RowOf(status, "read", v1::OLD);
  REQUIRE(old_reads != nullptr);
  CHECK(old_reads->ok() == 40);
  CHECK(old_reads->errors() == 10);
  CHECK(old_reads->error_rate() == 0.2);
  CHECK(old_reads->p50_seconds() == 512e-6);
  CHECK(old_reads->p95_seconds() == 4096e-6);
  const v1::OpWindow* new_reads = RowOf(status, "read", v1::NEW);
  REQUIRE(new_reads != nullptr);
  CHECK(new_reads->ok() == 20);
  CHECK(new_reads->errors() == 0);
  CHECK(new_reads->p50_seconds() == 128e-6);
  CHECK(new_reads->p95_seconds() == 128e-6);  // the 19th of 20
  const v1::OpWindow* new_writes = RowOf(status, "write", v1::NEW);
  REQUIRE(new_writes != nullptr);
  CHECK(new_writes->ok() == 1);
  CHECK(new_writes->p50_seconds() == 2e-6);
  CHECK(status.compared() == 6);
  CHECK(status.mismatches() == 1);
  CHECK(status.client_dropped() == 0);

  // Nothing left: the next Flush sends nothing and succeeds.
  CHECK(reporter.Flush());
  CHECK(reporter.stats().batches_sent == 1);
  CHECK(server.Status("orders").ops(0).ok() == 40);
}

TEST_CASE("latencies land in the documented buckets", "[reporter]") {
  struct Case {
    absl::Duration latency;
    double bound;  // seconds: 2^i microseconds
  };
  const std::vector<Case> cases = {
      {absl::ZeroDuration(), 1e-6},        {absl::Nanoseconds(999), 1e-6},
      {absl::Microseconds(1), 2e-6},       {absl::Microseconds(3), 4e-6},
      {absl::Microseconds(4), 8e-6},       {absl::Microseconds(1023), 1024e-6},
      {absl::Microseconds(1024), 2048e-6}, {absl::Seconds(33), 33.554432},
      {absl::Hours(1), 33.554432},         {-absl::Seconds(1), 1e-6},
  };
  Server server;
  TelemetryReporter reporter(QuickChannel(server.address()), ManualFlush());
  for (size_t i = 0; i < cases.size(); ++i) {
    const std::string flag = "latency-" + std::to_string(i);
    server.CreateFlag(flag);
    reporter.Record(Read(flag, Origin::kOld, OpResult::kOk, cases[i].latency));
  }
  REQUIRE(reporter.Flush());
  for (size_t i = 0; i < cases.size(); ++i) {
    INFO("latency " << absl::FormatDuration(cases[i].latency));
    const v1::FlagStatus status = server.Status("latency-" + std::to_string(i));
    REQUIRE(status.ops_size() == 1);
    CHECK(status.ops(0).p50_seconds() == cases[i].bound);
  }
}

TEST_CASE("the background thread sends without a Flush", "[reporter]") {
  Server server;
  server.CreateFlag("orders");
  TelemetryReporter::Options options = ManualFlush();
  options.flush_interval = absl::Milliseconds(50);
  TelemetryReporter reporter(QuickChannel(server.address()), options);
  for (int i = 0; i < 25; ++i) {
    reporter.Record({"orders", Stage::kDualWrite, OpKind::kWrite, Origin::kOld,
                     OpResult::kOk, absl::Microseconds(10)});
  }
  // Wait (bounded) for a batch to go out on its own.
  const auto give_up = std::chrono::steady_clock::now() + kFinishes;
  while (reporter.stats().batches_sent == 0 &&
         std::chrono::steady_clock::now() < give_up) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  REQUIRE(reporter.stats().batches_sent >= 1);
  const v1::FlagStatus status = server.Status("orders");
  const v1::OpWindow* writes = RowOf(status, "write", v1::OLD);
  REQUIRE(writes != nullptr);
  CHECK(writes->ok() == 25);
}

TEST_CASE(
    "with the daemon down, operations are dropped, counted and the "
    "count is reported later",
    "[reporter]") {
  Server server;
  server.CreateFlag("orders");
  server.daemon().KeepPort();  // the restarted daemon has the same address
  TelemetryReporter reporter(QuickChannel(server.address()), ManualFlush());

  // Something reported while the daemon is up.
  reporter.Record(
      Read("orders", Origin::kOld, OpResult::kOk, absl::Microseconds(5)));
  REQUIRE(reporter.Flush());

  REQUIRE(server.daemon().Stop(SIGKILL) == -SIGKILL);
  for (int i = 0; i < 1000; ++i) {
    reporter.Record(
        Read("orders", Origin::kNew, OpResult::kOk, absl::Microseconds(5)));
  }
  CHECK(reporter.stats().recorded == 1001);
  CHECK_FALSE(reporter.Flush());
  TelemetryStats stats = reporter.stats();
  CHECK(stats.dropped == 1000);
  CHECK(stats.send_failures >= 1);
  CHECK(stats.batches_sent == 1);
  // Failed batches are not kept for a resend.
  CHECK_FALSE(reporter.Flush());
  CHECK(reporter.stats().dropped == 1000);

  // Back up (same folder, same port): the next batch that gets through
  // carries the count of what was lost, and only what was recorded since.
  server.Start();
  reporter.Record(
      Read("orders", Origin::kOld, OpResult::kFailed, absl::Microseconds(5)));
  const auto give_up = std::chrono::steady_clock::now() + kFinishes;
  bool sent = reporter.Flush();
  while (!sent && std::chrono::steady_clock::now() < give_up) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    sent = reporter.Flush();
  }
  REQUIRE(sent);
  stats = reporter.stats();
  // The failed record was in a failed batch unless the first retry got
  // through; either way it is sent or counted, never both.
  const v1::FlagStatus status = server.Status("orders");
  const v1::OpWindow* old_reads = RowOf(status, "read", v1::OLD);
  const uint64_t failed_sent = old_reads != nullptr ? old_reads->errors() : 0;
  CHECK(stats.dropped + failed_sent == 1001);
  CHECK(status.client_dropped() == stats.dropped);
  CHECK(RowOf(status, "read", v1::NEW) == nullptr);
  CHECK(stats.batches_sent == 2);

  // Later batches carry no old drops.
  reporter.Record(
      Read("orders", Origin::kOld, OpResult::kOk, absl::Microseconds(5)));
  REQUIRE(reporter.Flush());
  CHECK(server.Status("orders").client_dropped() == stats.dropped);
}

TEST_CASE("max_keys bounds the aggregate: records beyond are dropped",
          "[reporter]") {
  Server server;
  server.CreateFlag("orders");
  server.CreateFlag("payments");
  TelemetryReporter::Options options = ManualFlush();
  options.max_keys = 2;
  TelemetryReporter reporter(QuickChannel(server.address()), options);

  reporter.Record(
      Read("orders", Origin::kOld, OpResult::kOk, absl::Microseconds(5)));
  reporter.Record(
      Read("orders", Origin::kNew, OpResult::kOk, absl::Microseconds(5)));
  // New keys do not fit ...
  for (int i = 0; i < 3; ++i) {
    reporter.Record(
        Read("payments", Origin::kOld, OpResult::kOk, absl::Microseconds(5)));
  }
  reporter.Record(
      Read("orders", Origin::kOld, OpResult::kFailed, absl::Microseconds(5)));
  // ... but the keys held still count.
  reporter.Record(
      Read("orders", Origin::kOld, OpResult::kOk, absl::Microseconds(5)));
  TelemetryStats stats = reporter.stats();
  CHECK(stats.recorded == 3);
  CHECK(stats.dropped == 4);

  REQUIRE(reporter.Flush());
  v1::FlagStatus orders = server.Status("orders");
  REQUIRE(RowOf(orders, "read", v1::OLD) != nullptr);
  CHECK(RowOf(orders, "read", v1::OLD)->ok() == 2);
  CHECK(RowOf(orders, "read", v1::OLD)->errors() == 0);
  CHECK(RowOf(orders, "read", v1::NEW)->ok() == 1);
  CHECK(orders.client_dropped() == 4);
  CHECK(server.Status("payments").ops_size() == 0);

  // A flush empties the aggregate, so new keys fit again.
  reporter.Record(
      Read("payments", Origin::kOld, OpResult::kOk, absl::Microseconds(5)));
  REQUIRE(reporter.Flush());
  const v1::FlagStatus payments = server.Status("payments");
  REQUIRE(RowOf(payments, "read", v1::OLD) != nullptr);
  CHECK(RowOf(payments, "read", v1::OLD)->ok() == 1);
  CHECK(reporter.stats().dropped == 4);
}

TEST_CASE("records the API would refuse are dropped, not sent", "[reporter]") {
  Server server;
  server.CreateFlag("orders");
  TelemetryReporter reporter(QuickChannel(server.address()), ManualFlush());
  const std::vector<OpRecord> bad = {
      {"", Stage::kShadow, OpKind::kRead, Origin::kOld, OpResult::kOk, {}},
      {std::string(129, 'a'),
       Stage::kShadow,
       OpKind::kRead,
       Origin::kOld,
       OpResult::kOk,
       {}},
      {"orders",
       Stage::kUnspecified,
       OpKind::kRead,
       Origin::kOld,
       OpResult::kOk,
       {}},
      {"orders",
       static_cast<Stage>(9),
       OpKind::kRead,
       Origin::kOld,
       OpResult::kOk,
       {}},
      {"orders",
       Stage::kShadow,
       OpKind::kRead,
       Origin::kNone,
       OpResult::kOk,
       {}},
      {"orders",
       Stage::kShadow,
       static_cast<OpKind>(5),
       Origin::kOld,
       OpResult::kOk,
       {}},
      {"orders",
       Stage::kShadow,
       OpKind::kRead,
       Origin::kOld,
       static_cast<OpResult>(0),
       {}},
  };
  for (const auto& record : bad) reporter.Record(record);
  reporter.Record(
      Read("orders", Origin::kOld, OpResult::kOk, absl::Microseconds(5)));
  CHECK(reporter.stats().recorded == 1);
  CHECK(reporter.stats().dropped == bad.size());
  // The good one goes through; the batch is not refused for the bad ones.
  REQUIRE(reporter.Flush());
  const v1::FlagStatus status = server.Status("orders");
  REQUIRE(RowOf(status, "read", v1::OLD) != nullptr);
  CHECK(RowOf(status, "read", v1::OLD)->ok() == 1);
  CHECK(status.client_dropped() == bad.size());
  CHECK(status.rejected_reports() == 0);
}

TEST_CASE(
    "a daemon that never answers: Record keeps going, Flush fails by "
    "its deadline, the destructor returns",
    "[reporter]") {
  SilentLoopbackPort silent;
  REQUIRE(silent.port() > 0);
  TelemetryReporter::Options options = ManualFlush();
  options.send_deadline = absl::Seconds(2);
  auto reporter = std::make_unique<TelemetryReporter>(
      grpc::CreateChannel(silent.address(), grpc::InsecureChannelCredentials()),
      options);
  reporter->Record(
      Read("orders", Origin::kOld, OpResult::kOk, absl::Microseconds(5)));

  // Records made while a Flush waits on the silent peer complete, and are
  // neither lost nor counted twice.
  std::atomic<bool> flush_done{false};
  auto flush = std::async(std::launch::async, [&] {
    const bool ok = reporter->Flush();
    flush_done = true;
    return ok;
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  for (int i = 0; i < 1000; ++i) {
    reporter->Record(
        Read("orders", Origin::kNew, OpResult::kOk, absl::Microseconds(5)));
  }
  CHECK(reporter->stats().recorded == 1001);
  REQUIRE(flush.wait_for(kFinishes) == std::future_status::ready);
  CHECK(flush_done);
  CHECK_FALSE(flush.get());
  CHECK(reporter->stats().send_failures == 1);
  // The first record went in the failed batch; the others, if they came
  // after it was taken, wait for the next one.
  CHECK(reporter->stats().dropped >= 1);
  CHECK(reporter->stats().dropped <= 1001);

  // The destructor's last flush is bounded by send_deadline too.
  auto destroyed =
      std::async(std::launch::async, [&reporter] { reporter.reset(); });
  CHECK(destroyed.wait_for(kFinishes) == std::future_status::ready);
}

TEST_CASE("the destructor returns with the daemon down", "[reporter]") {
  std::string address;
  {
    Server server;
    address = server.address();
  }                                    // stopped
  TelemetryReporter::Options options;  // the defaults: 1 s flushes, 2 s sends
  auto reporter =
      std::make_unique<TelemetryReporter>(QuickChannel(address), options);
  for (int i = 0; i < 100; ++i) {
    reporter->Record(
        Read("orders", Origin::kOld, OpResult::kOk, absl::Microseconds(5)));
  }
  auto destroyed =
      std::async(std::launch::async, [&reporter] { reporter.reset(); });
  CHECK(destroyed.wait_for(kFinishes) == std::future_status::ready);
}

TEST_CASE("the destructor sends what is left", "[reporter]") {
  Server server;
  server.CreateFlag("orders");
  {
    TelemetryReporter reporter(QuickChannel(server.address()), ManualFlush());
    reporter.Record(
        Read("orders", Origin::kOld, OpResult::kOk, absl::Microseconds(5)));
  }
  const v1::FlagStatus status = server.Status("orders");
  const v1::OpWindow* row = RowOf(status, "read", v1::OLD);
  REQUIRE(row != nullptr);
  CHECK(row->ok() == 1);
}

TEST_CASE("many threads record while the background thread sends",
          "[reporter]") {
  Server server;
  server.CreateFlag("orders");
  TelemetryReporter::Options options = ManualFlush();
  options.flush_interval = absl::Milliseconds(5);
  TelemetryReporter reporter(QuickChannel(server.address()), options);
  constexpr int kThreads = 8;
  constexpr int kPerThread = 5000;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&reporter, t] {
      for (int i = 0; i < kPerThread; ++i) {
        reporter.Record(Read("orders", t % 2 == 0 ? Origin::kOld : Origin::kNew,
                             i % 10 == 0 ? OpResult::kFailed : OpResult::kOk,
                             absl::Microseconds(i % 1000)));
      }
    });
  }
  for (auto& thread : threads) thread.join();
  REQUIRE(reporter.Flush());
  const TelemetryStats stats = reporter.stats();
  CHECK(stats.recorded == kThreads * kPerThread);
  CHECK(stats.dropped == 0);
  const v1::FlagStatus status = server.Status("orders");
  for (const v1::Origin origin : {v1::OLD, v1::NEW}) {
    const v1::OpWindow* row = RowOf(status, "read", origin);
    REQUIRE(row != nullptr);
    CHECK(row->ok() == kThreads / 2 * kPerThread * 9 / 10);
    CHECK(row->errors() == kThreads / 2 * kPerThread / 10);
  }
}

}  // namespace
}  // namespace cutover
