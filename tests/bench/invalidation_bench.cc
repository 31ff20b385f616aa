// Invalidation latency: from the acknowledgement of a flag change by the
// daemon to the next Decide of each watching Client seeing the new version.
//
//   ./build/tests/bench/invalidation_bench [clients=100] [changes=30]
//
// Starts a real cutoverd on loopback with a temporary data folder, opens
// `clients` Clients (each its own Watch stream), makes `changes` stage
// changes through the Admin API, and prints p50/p99/max over every
// (client, change) pair. Each client polls every 100 us, so figures have
// that resolution.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "client/client.h"
#include "cutover/v1/cutover.grpc.pb.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"
#include "tests/integration/harness.h"

using Clock = std::chrono::steady_clock;

int main(int argc, char** argv) {
  const int clients = argc > 1 ? std::atoi(argv[1]) : 100;
  const int changes = argc > 2 ? std::atoi(argv[2]) : 30;
  cutover::testing::TempDir dir;
  cutover::testing::DaemonProcess daemon(dir.path() + "/data");
  if (!daemon.Start()) {
    std::fprintf(stderr, "cannot start cutoverd\n");
    return 1;
  }
  auto admin = cutover::v1::Admin::NewStub(
      grpc::CreateChannel(daemon.address(), grpc::InsecureChannelCredentials()));
  {
    cutover::v1::CreateFlagRequest request;
    auto* flag = request.mutable_flag();
    flag->set_key("orders");
    flag->set_old_target("pg");
    flag->set_new_target("ddb");
    flag->set_enabled(true);
    flag->mutable_default_serve()->set_stage(cutover::v1::OFF);
    grpc::ClientContext context;
    cutover::v1::Flag created;
    if (!admin->CreateFlag(&context, request, &created).ok()) return 1;
  }

  std::vector<std::unique_ptr<cutover::Client>> watchers;
  for (int i = 0; i < clients; ++i) {
    cutover::ClientOptions options;
    options.server = daemon.address();
    options.decide_deadline = absl::Seconds(1);
    options.initial_sync_wait = absl::Seconds(10);
    watchers.push_back(*cutover::Client::Create(options));
  }
  const cutover::Context user{"u-1", {}};
  for (auto& client : watchers) client->Decide("orders", user);  // warm

  std::vector<double> latencies_ms;
  for (int change = 0; change < changes; ++change) {
    const int64_t want_version = change + 2;
    std::atomic<int> ready{0};
    std::atomic<bool> go{false};
    Clock::time_point acked;
    std::vector<double> seen(clients, -1);
    std::vector<std::thread> pollers;
    for (int i = 0; i < clients; ++i) {
      pollers.emplace_back([&, i] {
        ++ready;
        while (!go) std::this_thread::sleep_for(std::chrono::microseconds(50));
        const auto limit = Clock::now() + std::chrono::seconds(10);
        while (Clock::now() < limit) {
          if (watchers[i]->Decide("orders", user).flag_version >= want_version) {
            seen[i] = std::chrono::duration<double, std::milli>(Clock::now() -
                                                                acked)
                          .count();
            return;
          }
          std::this_thread::sleep_for(std::chrono::microseconds(100));
        }
      });
    }
    while (ready < clients) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    cutover::v1::SetStageRequest request;
    request.set_key("orders");
    request.set_stage(change % 2 == 0 ? cutover::v1::DUALWRITE : cutover::v1::OFF);
    grpc::ClientContext context;
    cutover::v1::Flag result;
    if (!admin->SetStage(&context, request, &result).ok()) return 1;
    acked = Clock::now();
    go = true;
    for (auto& poller : pollers) poller.join();
    for (double ms : seen) latencies_ms.push_back(ms < 0 ? 1e9 : ms);
  }
  std::sort(latencies_ms.begin(), latencies_ms.end());
  auto at = [&](double q) {
    return latencies_ms[std::min(latencies_ms.size() - 1,
                                 static_cast<size_t>(q * latencies_ms.size()))];
  };
  std::printf(
      "invalidation latency, %d clients x %d changes: p50 %.2f ms, p99 %.2f "
      "ms, max %.2f ms\n",
      clients, changes, at(0.50), at(0.99), latencies_ms.back());
  watchers.clear();
  return latencies_ms.back() >= 1e9 ? 1 : 0;
}
