// kill -9 of cutoverd in the middle of a burst of admin writes: every write
// the daemon acknowledged is there after a restart, and the store opens.
#include <catch2/catch.hpp>

#include <signal.h>

#include <atomic>
#include <chrono>
#include <mutex>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "cutover/v1/cutover.grpc.pb.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"
#include "tests/integration/harness.h"

namespace cutover::testing {
namespace {

std::unique_ptr<v1::Admin::Stub> AdminStub(const std::string& address) {
  return v1::Admin::NewStub(
      grpc::CreateChannel(address, grpc::InsecureChannelCredentials()));
}

void SetDeadline(grpc::ClientContext& context, int seconds) {
  context.set_deadline(std::chrono::system_clock::now() +
                       std::chrono::seconds(seconds));
}

TEST_CASE("every acknowledged admin write survives kill -9", "[crash]") {
  TempDir dir;
  DaemonProcess daemon(dir.path() + "/data");
  REQUIRE(daemon.Start());
  {
    auto admin = AdminStub(daemon.address());
    v1::CreateFlagRequest request;
    v1::Flag* flag = request.mutable_flag();
    flag->set_key("toggle");
    flag->set_old_target("old-db");
    flag->set_new_target("new-db");
    flag->set_enabled(true);
    flag->mutable_default_serve()->set_stage(v1::OFF);
    grpc::ClientContext context;
    SetDeadline(context, 10);
    v1::Flag created;
    REQUIRE(admin->CreateFlag(&context, request, &created).ok());
  }

  constexpr int kRounds = 5;
  constexpr int kWriters = 4;
  std::mt19937 random(20261125);
  std::set<std::string> acknowledged;  // keys of created flags
  int64_t toggle_version_acked = 1;
  std::mutex mu;

  for (int round = 0; round < kRounds; ++round) {
    INFO("round " << round);
    std::atomic<bool> stop{false};
    std::vector<std::thread> writers;
    for (int w = 0; w < kWriters; ++w) {
      writers.emplace_back([&, w] {
        auto admin = AdminStub(daemon.address());
        // Bounded: at most 100000 writes, and each call has a deadline.
        for (int n = 0; n < 100000 && !stop; ++n) {
          grpc::ClientContext context;
          SetDeadline(context, 5);
          v1::Flag result;
          grpc::Status status;
          if (w == 0) {
            // Writer 0 moves one flag back and forth.
            v1::SetStageRequest request;
            request.set_key("toggle");
            request.set_stage(n % 2 == 0 ? v1::DUALWRITE : v1::OFF);
            status = admin->SetStage(&context, request, &result);
            if (status.ok()) {
              std::lock_guard<std::mutex> lock(mu);
              toggle_version_acked =
                  std::max(toggle_version_acked, result.version());
            }
          } else {
            v1::CreateFlagRequest request;
            v1::Flag* flag = request.mutable_flag();
            flag->set_key("r" + std::to_string(round) + "-w" +
                          std::to_string(w) + "-" + std::to_string(n));
            flag->set_old_target("old-db");
            flag->set_new_target("new-db");
            flag->mutable_default_serve()->set_stage(v1::OFF);
            status = admin->CreateFlag(&context, request, &result);
            if (status.ok()) {
              std::lock_guard<std::mutex> lock(mu);
              acknowledged.insert(result.key());
            }
          }
          if (!status.ok()) break;  // the daemon is gone
        }
      });
    }
    // Let the burst run, then kill the daemon without warning.
    std::this_thread::sleep_for(
        std::chrono::milliseconds(100 + random() % 400));
    CHECK(daemon.Stop(SIGKILL) == -SIGKILL);
    stop = true;
    for (auto& writer : writers) writer.join();

    REQUIRE(daemon.Start());
    auto admin = AdminStub(daemon.address());
    grpc::ClientContext context;
    SetDeadline(context, 20);
    v1::ListFlagsRequest request;
    v1::ListFlagsResponse response;
    REQUIRE(admin->ListFlags(&context, request, &response).ok());
    std::set<std::string> stored;
    int64_t toggle_version = 0;
    for (const auto& flag : response.flags()) {
      stored.insert(flag.key());
      if (flag.key() == "toggle") toggle_version = flag.version();
    }
    std::lock_guard<std::mutex> lock(mu);
    for (const auto& key : acknowledged) {
      INFO("acknowledged flag " << key);
      CHECK(stored.count(key) == 1);
    }
    CHECK(toggle_version >= toggle_version_acked);
  }
  // The bursts did write something, so the test tested something.
  CHECK(acknowledged.size() > 10);
  CHECK(toggle_version_acked > 2);
}

}  // namespace
}  // namespace cutover::testing
