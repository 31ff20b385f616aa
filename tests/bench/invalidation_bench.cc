// Invalidation latency: from the acknowledgement of a flag change by the
// daemon to the next Decide of each watching Client seeing the new version.
//
//   ./build/tests/bench/invalidation_bench [clients=100] [changes=30]
//       [--evaluation=local|remote] [--poll-us=100]
//
// Starts a real cutoverd on loopback with a temporary data folder, opens
// `clients` Clients (each its own Watch stream), makes `changes` stage
// changes through the Admin API, and prints p50/p99/max over every
// (client, change) pair. Each client's poller waits (blocked, no CPU) for
// the acknowledgement, then polls every `poll-us` microseconds, so figures
// have that resolution; 100 pollers at 100 us are a million wake-ups a
// second, a load of their own on a small machine (docs/performance.md).
// With local evaluation (the default) a change is seen
// when the new synced state is published; with remote, when the cached
// decision is invalidated and the daemon asked again.
//
//   ./build/tests/bench/invalidation_bench --streams=1,100,1000 [--changes=30]
//       [--auth=none|token]
//
// Fan-out: for each count, that many raw Watch streams (no Client, no
// polling: each stream timestamps the event as it arrives), `changes`
// synced SetStage writes one after another, and per write the time from
// its acknowledgement to the last stream receiving it: p50, p99, max over
// the writes. An event may arrive before the acknowledgement does; such a
// write counts as 0. Also from the moment the write was sent (which
// includes the synced write itself). With --auth=token the daemon checks
// tokens and every stream sends the reader token (a stream is authorized
// once, when it opens): fan-out and the daemon's memory with and without.
//
//   ./build/tests/bench/invalidation_bench --streams=300 --replicas=3
//
// Through read replicas: the same writes, with `replicas` cutoverd
// --follow daemons on loopback and, for each count, that many streams on
// the primary directly and that many spread over the replicas (count /
// replicas each), all in the same run: per write, the time from its
// acknowledgement to the last direct stream and to the last stream behind
// a replica (which includes the replica's own synced write).
#include <algorithm>
#include <csignal>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "client/admin_client.h"
#include "client/client.h"
#include "cutover/v1/cutover.pb.h"
#include "tests/bench/bench_util.h"
#include "tests/integration/harness.h"

using Clock = std::chrono::steady_clock;

namespace {

// The --streams mode: time from a write's acknowledgement to the last of
// `count` Watch streams receiving it, for each count.
int FanOut(const std::vector<int>& counts, int changes, bool with_tokens,
           int replica_count) {
  namespace bench = cutover::bench;
  bench::BenchDaemon daemon({}, with_tokens ? bench::BenchDaemon::Auth::kTokens
                                            : bench::BenchDaemon::Auth::kNone);
  if (!daemon.Start() || !daemon.CreateRolloutFlag("orders")) return 1;
  std::vector<std::unique_ptr<cutover::testing::DaemonProcess>> replicas;
  for (int i = 0; i < replica_count; ++i) {
    replicas.push_back(std::make_unique<cutover::testing::DaemonProcess>(
        daemon.dir() + "/replica-" + std::to_string(i),
        std::vector<std::string>{"--follow", daemon.address()}));
    if (!replicas.back()->Start()) {
      std::fprintf(stderr, "replica: %s\n",
                   replicas.back()->last_stderr().c_str());
      return 1;
    }
  }
  auto ms = [](Clock::duration d) {
    return std::chrono::duration<double, std::milli>(d).count();
  };
  int64_t version = 1;  // CreateRolloutFlag made version 1
  for (int count : counts) {
    bench::WatchStreams streams(daemon.address(), count, "orders",
                                version + changes + 1, daemon.reader_token());
    // Behind the replicas: a stream synced there has the flag's version
    // the primary had when it opened.
    std::vector<std::unique_ptr<bench::WatchStreams>> behind;
    bool behind_ok = true;
    for (const auto& replica : replicas) {
      behind.push_back(std::make_unique<bench::WatchStreams>(
          replica->address(), std::max(1, count / replica_count), "orders",
          version + changes + 1));
      behind_ok = behind_ok && behind.back()->ok() &&
                  behind.back()->WaitAllSaw(version, 10000) !=
                      Clock::time_point{};
    }
    if (!streams.ok() || !behind_ok) {
      std::fprintf(stderr, "%d watch streams did not all sync\n", count);
      return 1;
    }
    std::vector<double> from_ack_ms, from_send_ms, via_replica_ms,
        via_replica_send_ms;
    for (int change = 0; change < changes; ++change) {
      // Alternating stages: every write makes a new version.
      const auto sent = Clock::now();
      if (!daemon.SetStage("orders", version % 2 == 1 ? cutover::v1::DUALWRITE
                                                      : cutover::v1::OFF)) {
        return 1;
      }
      const auto acked = Clock::now();
      const auto last = streams.WaitAllSaw(++version, 10000);
      if (last == Clock::time_point{}) {
        std::fprintf(stderr, "version %lld did not reach every stream\n",
                     static_cast<long long>(version));
        return 1;
      }
      from_ack_ms.push_back(std::max(0.0, ms(last - acked)));
      from_send_ms.push_back(ms(last - sent));
      Clock::time_point last_behind{};
      for (auto& streams_behind : behind) {
        const auto seen = streams_behind->WaitAllSaw(version, 10000);
        if (seen == Clock::time_point{}) {
          std::fprintf(stderr, "version %lld did not reach every replica's "
                       "streams\n", static_cast<long long>(version));
          return 1;
        }
        last_behind = std::max(last_behind, seen);
      }
      if (!behind.empty()) {
        via_replica_ms.push_back(std::max(0.0, ms(last_behind - acked)));
        via_replica_send_ms.push_back(ms(last_behind - sent));
      }
    }
    const double ack_p50 = bench::Quantile(from_ack_ms, 0.5);
    const double ack_p99 = bench::Quantile(from_ack_ms, 0.99);
    const double ack_max = from_ack_ms.back();  // sorted by Quantile
    const double send_p50 = bench::Quantile(from_send_ms, 0.5);
    const double send_p99 = bench::Quantile(from_send_ms, 0.99);
    std::printf("%5d watch streams, %d writes: ack to last stream p50 %.2f "
                "ms, p99 %.2f ms, max %.2f ms; write sent to last stream p50 "
                "%.2f ms, p99 %.2f ms; daemon RSS %.0f MiB\n",
                count, changes, ack_p50, ack_p99, ack_max, send_p50, send_p99,
                bench::ProcessRssMiB(daemon.pid()));
    if (!via_replica_ms.empty()) {
      const double via_p50 = bench::Quantile(via_replica_ms, 0.5);
      const double via_p99 = bench::Quantile(via_replica_ms, 0.99);
      const double via_send_p50 = bench::Quantile(via_replica_send_ms, 0.5);
      const double via_send_p99 = bench::Quantile(via_replica_send_ms, 0.99);
      std::printf("%5d streams behind %d replicas, the same writes: ack to "
                  "last stream p50 %.2f ms, p99 %.2f ms, max %.2f ms; write "
                  "sent to last stream p50 %.2f ms, p99 %.2f ms (%.2fx the "
                  "direct streams' p99)\n",
                  std::max(1, count / replica_count) * replica_count,
                  replica_count, via_p50, via_p99, via_replica_ms.back(),
                  via_send_p50, via_send_p99,
                  send_p99 > 0 ? via_send_p99 / send_p99 : 0.0);
    }
    std::fflush(stdout);
  }
  for (auto& replica : replicas) replica->Stop(SIGTERM);
  return daemon.Stop() == 0 ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  const std::string streams = cutover::bench::Arg(argc, argv, "streams", "");
  if (!streams.empty()) {
    const int replicas =
        std::stoi(cutover::bench::Arg(argc, argv, "replicas", "0"));
    const bool tokens =
        cutover::bench::Arg(argc, argv, "auth", "none") == "token";
    if (replicas > 0 && tokens) {
      std::fprintf(stderr, "--replicas runs without tokens (--auth=none)\n");
      return 2;
    }
    return FanOut(cutover::bench::IntList(streams),
                  std::stoi(cutover::bench::Arg(argc, argv, "changes", "30")),
                  tokens, replicas);
  }
  std::vector<std::string> positional;
  for (int i = 1; i < argc; ++i) {
    if (std::string(argv[i]).rfind("--", 0) != 0) positional.push_back(argv[i]);
  }
  const int clients = positional.size() > 0 ? std::stoi(positional[0]) : 100;
  const int changes = positional.size() > 1 ? std::stoi(positional[1]) : 30;
  const std::string evaluation =
      cutover::bench::Arg(argc, argv, "evaluation", "local");
  if (evaluation != "local" && evaluation != "remote") {
    std::fprintf(stderr, "--evaluation must be local or remote\n");
    return 2;
  }
  const int poll_us = std::atoi(
      cutover::bench::Arg(argc, argv, "poll-us", "100").c_str());
  if (poll_us <= 0) {
    std::fprintf(stderr, "--poll-us must be a positive number\n");
    return 2;
  }
  cutover::testing::TempDir dir;
  cutover::testing::DaemonProcess daemon(dir.path() + "/data");
  if (!daemon.Start()) {
    std::fprintf(stderr, "cannot start cutoverd\n");
    return 1;
  }
  auto admin = cutover::testing::ConnectAdmin(daemon.address());
  {
    cutover::v1::CreateFlagRequest request;
    auto* flag = request.mutable_flag();
    flag->set_key("orders");
    flag->set_old_target("pg");
    flag->set_new_target("ddb");
    flag->set_enabled(true);
    flag->mutable_default_serve()->set_stage(cutover::v1::OFF);
    if (!admin->CreateFlag(request).ok()) return 1;
  }

  std::vector<std::unique_ptr<cutover::Client>> watchers;
  for (int i = 0; i < clients; ++i) {
    cutover::ClientOptions options;
    options.server = daemon.address();
    options.decide_deadline = absl::Seconds(1);
    options.initial_sync_wait = absl::Seconds(10);
    options.evaluation = evaluation == "local"
                             ? cutover::ClientOptions::Evaluation::kLocal
                             : cutover::ClientOptions::Evaluation::kRemote;
    watchers.push_back(*cutover::Client::Create(options));
  }
  const cutover::Context user{"u-1", {}};
  for (auto& client : watchers) client->Decide("orders", user);  // warm

  std::vector<double> latencies_ms;
  for (int change = 0; change < changes; ++change) {
    const int64_t want_version = change + 2;
    std::atomic<int> ready{0};
    std::mutex mu;
    std::condition_variable acked_cv;
    bool go = false;  // guarded by mu
    Clock::time_point acked;
    std::vector<double> seen(clients, -1);
    std::vector<std::thread> pollers;
    for (int i = 0; i < clients; ++i) {
      pollers.emplace_back([&, i] {
        ++ready;
        {
          std::unique_lock lock(mu);
          acked_cv.wait(lock, [&] { return go; });
        }
        const auto limit = Clock::now() + std::chrono::seconds(10);
        while (Clock::now() < limit) {
          if (watchers[i]->Decide("orders", user).flag_version >= want_version) {
            seen[i] = std::chrono::duration<double, std::milli>(Clock::now() -
                                                                acked)
                          .count();
            return;
          }
          std::this_thread::sleep_for(std::chrono::microseconds(poll_us));
        }
      });
    }
    while (ready < clients) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    cutover::v1::SetStageRequest request;
    request.set_key("orders");
    request.set_stage(change % 2 == 0 ? cutover::v1::DUALWRITE : cutover::v1::OFF);
    if (!admin->SetStage(request).ok()) return 1;
    {
      std::lock_guard lock(mu);
      acked = Clock::now();
      go = true;
    }
    acked_cv.notify_all();
    for (auto& poller : pollers) poller.join();
    for (double ms : seen) latencies_ms.push_back(ms < 0 ? 1e9 : ms);
  }
  std::sort(latencies_ms.begin(), latencies_ms.end());
  auto at = [&](double q) {
    return latencies_ms[std::min(latencies_ms.size() - 1,
                                 static_cast<size_t>(q * latencies_ms.size()))];
  };
  std::printf(
      "change reach (%s evaluation, polling every %d us), %d clients x %d "
      "changes: p50 %.2f ms, p99 %.2f ms, max %.2f ms\n",
      evaluation.c_str(), poll_us, clients, changes, at(0.50), at(0.99),
      latencies_ms.back());
  watchers.clear();
  return latencies_ms.back() >= 1e9 ? 1 : 0;
}
