// flagd's EventStream sends keep_alive after 20 s without an event (checked
// at each daemon heartbeat, 0.25 s here). Slow: it waits that long.
#include <catch2/catch.hpp>

#include <chrono>
#include <fstream>
#include <string>

#include "flagd/evaluation/v1/evaluation.pb.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"
#include "tests/integration/flagd_calls.h"
#include "tests/integration/harness.h"

namespace cutover::testing {
namespace {

TEST_CASE("EventStream: keep_alive after 20 s of quiet, not before") {
  TempDir dir;
  const std::string config = dir.path() + "/cutoverd.yaml";
  {
    std::ofstream out(config);
    out << "heartbeat_seconds: 0.25\n";
    REQUIRE(out.good());
  }
  DaemonProcess daemon(dir.path() + "/data", {"--config", config});
  const bool started = daemon.Start();
  INFO(daemon.last_stderr());
  REQUIRE(started);
  FlagdCaller caller(grpc::CreateChannel(daemon.address(),
                                         grpc::InsecureChannelCredentials()),
                     "v1");
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() +
                       std::chrono::seconds(40));
  auto reader = caller.Events<flagd::evaluation::v1::EventStreamResponse>(
      &context, flagd::evaluation::v1::EventStreamRequest());
  flagd::evaluation::v1::EventStreamResponse event;
  REQUIRE(reader->Read(&event));
  REQUIRE(event.type() == "provider_ready");
  const auto opened = std::chrono::steady_clock::now();
  REQUIRE(reader->Read(&event));
  const double waited = std::chrono::duration<double>(
                            std::chrono::steady_clock::now() - opened)
                            .count();
  CHECK(event.type() == "keep_alive");
  CHECK(waited >= 19.5);
  CHECK(waited < 22);
  context.TryCancel();
  reader->Finish();
}

}  // namespace
}  // namespace cutover::testing
