// The token file read again while cutoverd runs: a removed token is
// refused from the next call, a new one accepted, a bad file keeps the
// tokens that were there (and says so on stderr and in a metric).
#include <catch2/catch.hpp>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <memory>
#include <string>
#include <thread>

#include "absl/strings/str_cat.h"
#include "rpc/channel.h"
#include "credentials/token_hash.h"
#include "grpcpp/channel.h"
#include "grpcpp/generic/generic_stub.h"
#include "tests/integration/call_by_name.h"
#include "tests/integration/harness.h"

namespace cutover::testing {
namespace {

constexpr char kListFlags[] = "/cutover.v1.Admin/ListFlags";

std::string Line(const std::string& name, const std::string& token) {
  return absl::StrCat(name, " reader ", TokenSha256Hex(token), "\n");
}

// ListFlags (reader role) with `token`, on a channel of its own.
grpc::StatusCode ListWith(const std::string& server, const std::string& token) {
  ChannelOptions options;
  options.server = server;
  options.token = token;
  auto channel = MakeChannel(options);
  REQUIRE(channel.ok());
  grpc::GenericStub stub(*channel);
  return CallByName(stub, kListFlags, EmptyRequest(), nullptr, 10)
      .error_code();
}

// Calls until ListWith answers `code` (at most 10 s); the time it took.
double SecondsUntil(const std::string& server, const std::string& token,
                    grpc::StatusCode code) {
  const auto start = std::chrono::steady_clock::now();
  for (int i = 0; i < 1000; ++i) {
    if (ListWith(server, token) == code) {
      return std::chrono::duration<double>(std::chrono::steady_clock::now() -
                                           start)
          .count();
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  FAIL("no answer " << code << " within 10 s");
  return -1;
}

TEST_CASE("a token removed from the token file is refused without a "
          "restart, a new one is accepted, a bad file changes nothing",
          "[security]") {
  TempDir dir;
  const std::string file = dir.path() + "/tokens";
  const std::string alice = NewToken();
  const std::string bob = NewToken();
  const std::string carol = NewToken();
  REQUIRE(ReplaceFile(file, Line("alice", alice) + Line("bob", bob)));
  DaemonProcess daemon(dir.path() + "/data",
                       {"--auth", "tokens", "--token-file", file});
  REQUIRE(daemon.Start());
  const std::string server = daemon.address();
  CHECK(ListWith(server, alice) == grpc::StatusCode::OK);
  CHECK(ListWith(server, bob) == grpc::StatusCode::OK);
  CHECK(ListWith(server, carol) == grpc::StatusCode::UNAUTHENTICATED);

  // alice revoked, carol added, in one rename.
  REQUIRE(ReplaceFile(file, Line("bob", bob) + Line("carol", carol)));
  const double revoked =
      SecondsUntil(server, alice, grpc::StatusCode::UNAUTHENTICATED);
  std::printf("token_reload_test: alice refused %.0f ms after the rename\n",
              revoked * 1000);
  CHECK(SecondsUntil(server, carol, grpc::StatusCode::OK) < 10);
  CHECK(ListWith(server, bob) == grpc::StatusCode::OK);
  CHECK(ListWith(server, alice) == grpc::StatusCode::UNAUTHENTICATED);

  // A bad line: nothing changes (bob and carol still in, alice still out).
  REQUIRE(ReplaceFile(file, Line("bob", bob) + "dave superuser 00\n"));
  auto reported = [&] {
    return daemon.last_stderr().find("not reloaded") != std::string::npos;
  };
  for (int i = 0; i < 1000 && !reported(); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  const std::string log = daemon.last_stderr();
  CHECK(log.find("token file not reloaded, the old tokens stay") !=
        std::string::npos);
  CHECK(log.find(file + ":2") != std::string::npos);
  CHECK(log.find(bob) == std::string::npos);  // no token is ever logged
  CHECK(ListWith(server, carol) == grpc::StatusCode::OK);
  CHECK(ListWith(server, bob) == grpc::StatusCode::OK);
  CHECK(ListWith(server, alice) == grpc::StatusCode::UNAUTHENTICATED);
  const RunResult metrics = HttpGet(
      absl::StrCat("http://127.0.0.1:", daemon.metrics_port(), "/metrics"));
  for (const char* result : {"failed", "changed"}) {
    const std::string line = absl::StrCat(
        "cutover_token_file_reloads_total{result=\"", result, "\"} 1");
    CHECK(metrics.out.find(line) != std::string::npos);
  }
}

}  // namespace
}  // namespace cutover::testing
