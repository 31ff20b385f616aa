// The token file read again while cutoverd runs: a removed token is
// refused from the next call, a new one accepted, a bad file keeps the
// tokens that were there (and says so on stderr and in a metric); the
// streams a removed token opened end with the reload, the others go on.
#include <catch2/catch.hpp>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <memory>
#include <string>
#include <thread>
#include <utility>

#include "absl/strings/str_cat.h"
#include "client/admin_client.h"
#include "rpc/channel.h"
#include "credentials/token_hash.h"
#include "cutover/v1/cutover.grpc.pb.h"
#include "grpcpp/channel.h"
#include "grpcpp/client_context.h"
#include "grpcpp/generic/generic_stub.h"
#include "grpcpp/support/byte_buffer.h"
#include "grpcpp/support/sync_stream.h"
#include "tests/integration/call_by_name.h"
#include "tests/integration/harness.h"

namespace cutover::testing {
namespace {

constexpr char kListFlags[] = "/cutover.v1.Admin/ListFlags";

std::string Line(const std::string& name, const std::string& token,
                 const char* role = "reader") {
  return absl::StrCat(name, " ", role, " ", TokenSha256Hex(token), "\n");
}

std::shared_ptr<grpc::Channel> ChannelWith(const std::string& server,
                                           const std::string& token) {
  ChannelOptions options;
  options.server = server;
  options.token = token;
  auto channel = MakeChannel(options);
  REQUIRE(channel.ok());
  return *channel;
}

// ListFlags (reader role) with `token`, on a channel of its own.
grpc::StatusCode ListWith(const std::string& server, const std::string& token) {
  grpc::GenericStub stub(ChannelWith(server, token));
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

// Every stream below ends by this deadline at the latest: a stream the
// reload should have ended but did not fails the test by then.
constexpr int kStreamSeconds = 30;

// A Watch stream with its own channel, read until SYNCED when opened.
struct WatchStream {
  WatchStream(const std::string& server, const std::string& token)
      : WatchStream(ChannelWith(server, token)) {}
  explicit WatchStream(std::shared_ptr<grpc::Channel> opened)
      : channel(std::move(opened)), stub(v1::Evaluation::NewStub(channel)) {
    context.set_deadline(std::chrono::system_clock::now() +
                         std::chrono::seconds(kStreamSeconds));
    reader = stub->Watch(&context, v1::WatchRequest());
    v1::WatchEvent event;
    while (reader->Read(&event)) {
      if (event.kind() == v1::WatchEvent::SYNCED) {
        synced = true;
        break;
      }
    }
  }
  // Reads until the event of `flag` (true) or the stream's end (false).
  bool ReadUntilFlag(const std::string& flag) {
    v1::WatchEvent event;
    while (reader->Read(&event)) {
      if (event.kind() == v1::WatchEvent::FLAG_UPSERTED &&
          event.flag().key() == flag) {
        return true;
      }
    }
    return false;
  }
  // Reads to the end: the status the server ended the stream with.
  grpc::Status ReadToEnd() {
    v1::WatchEvent event;
    while (reader->Read(&event)) {
    }
    return reader->Finish();
  }

  std::shared_ptr<grpc::Channel> channel;
  std::unique_ptr<v1::Evaluation::Stub> stub;
  grpc::ClientContext context;
  std::unique_ptr<grpc::ClientReader<v1::WatchEvent>> reader;
  bool synced = false;
};

// A flagd stream (EventStream, SyncFlags) by path with an empty request,
// its messages kept as bytes; open once its first message came.
struct RawStream {
  RawStream(const std::string& server, const std::string& token,
            std::string method)
      : path(std::move(method)), channel(ChannelWith(server, token)) {
    context.set_deadline(std::chrono::system_clock::now() +
                         std::chrono::seconds(kStreamSeconds));
    reader.reset(grpc::internal::ClientReaderFactory<grpc::ByteBuffer>::Create(
        channel.get(),
        grpc::internal::RpcMethod(path.c_str(),
                                  grpc::internal::RpcMethod::SERVER_STREAMING,
                                  channel),
        &context, EmptyRequest()));
    grpc::ByteBuffer first;
    open = reader->Read(&first);
  }
  grpc::Status ReadToEnd() {
    grpc::ByteBuffer message;
    while (reader->Read(&message)) {
    }
    return reader->Finish();
  }

  const std::string path;
  std::shared_ptr<grpc::Channel> channel;
  grpc::ClientContext context;
  std::unique_ptr<grpc::ClientReader<grpc::ByteBuffer>> reader;
  bool open = false;
};

void CreateFlag(AdminClient& admin, const std::string& key) {
  v1::CreateFlagRequest create;
  create.mutable_flag()->set_key(key);
  create.mutable_flag()->set_old_target("postgres-" + key);
  create.mutable_flag()->set_new_target("dynamodb-" + key);
  create.mutable_flag()->mutable_default_serve()->set_stage(v1::OFF);
  REQUIRE(admin.CreateFlag(create).ok());
}

TEST_CASE("a reload ends the streams of a removed token with "
          "UNAUTHENTICATED, streams of other tokens and of a token whose "
          "role was lowered but is still enough go on",
          "[security]") {
  TempDir dir;
  const std::string file = dir.path() + "/tokens";
  const std::string root = NewToken();   // admin, makes the changes
  const std::string alice = NewToken();  // removed
  const std::string bob = NewToken();    // stays as it is
  const std::string carol = NewToken();  // admin, lowered to reader
  REQUIRE(ReplaceFile(file, Line("root", root, "admin") +
                                Line("alice", alice) + Line("bob", bob) +
                                Line("carol", carol, "admin")));
  DaemonProcess daemon(dir.path() + "/data",
                       {"--auth", "tokens", "--token-file", file});
  REQUIRE(daemon.Start());
  const std::string server = daemon.address();
  AdminClientOptions options;
  options.channel.server = server;
  options.channel.token = root;
  options.deadline = absl::Seconds(10);
  auto admin = AdminClient::Create(options);
  REQUIRE(admin.ok());
  CreateFlag(**admin, "orders");

  WatchStream watch_a(server, alice);
  RawStream events_a(server, alice, "/flagd.evaluation.v1.Service/EventStream");
  RawStream sync_a(server, alice, "/flagd.sync.v1.FlagSyncService/SyncFlags");
  WatchStream watch_b(server, bob);
  WatchStream watch_c(server, carol);
  REQUIRE(watch_a.synced);
  REQUIRE(events_a.open);
  REQUIRE(sync_a.open);
  REQUIRE(watch_b.synced);
  REQUIRE(watch_c.synced);

  // alice removed, carol lowered from admin to reader (what Watch needs).
  REQUIRE(ReplaceFile(file, Line("root", root, "admin") + Line("bob", bob) +
                                Line("carol", carol)));
  for (auto [what, status] :
       {std::pair<const char*, grpc::Status>{"Watch", watch_a.ReadToEnd()},
        {"EventStream", events_a.ReadToEnd()},
        {"SyncFlags", sync_a.ReadToEnd()}}) {
    INFO(what << ": " << status.error_code() << " " << status.error_message());
    CHECK(status.error_code() == grpc::StatusCode::UNAUTHENTICATED);
    CHECK(status.error_message().find("revoked") != std::string::npos);
    CHECK(status.error_message().find(what) != std::string::npos);
    CHECK(status.error_message().find(alice) == std::string::npos);
    CHECK(status.error_message().find(TokenSha256Hex(alice)) ==
          std::string::npos);
  }
  CHECK(ListWith(server, alice) == grpc::StatusCode::UNAUTHENTICATED);

  // bob's and carol's streams deliver the next change.
  CreateFlag(**admin, "payments");
  CHECK(watch_b.ReadUntilFlag("payments"));
  CHECK(watch_c.ReadUntilFlag("payments"));

  const RunResult metrics = HttpGet(
      absl::StrCat("http://127.0.0.1:", daemon.metrics_port(), "/metrics"));
  CHECK(metrics.out.find("cutover_streams_revoked_total 3") !=
        std::string::npos);
  const std::string log = daemon.last_stderr();
  CHECK(log.find("3 open streams ended") != std::string::npos);
  for (const std::string& token : {root, alice, bob, carol}) {
    CHECK(log.find(token) == std::string::npos);
    CHECK(log.find(TokenSha256Hex(token)) == std::string::npos);
  }
  // The others end as any stream does when the client cancels.
  watch_b.context.TryCancel();
  watch_c.context.TryCancel();
  CHECK(watch_b.ReadToEnd().error_code() == grpc::StatusCode::CANCELLED);
  CHECK(watch_c.ReadToEnd().error_code() == grpc::StatusCode::CANCELLED);
}

TEST_CASE("a reload leaves alone the streams opened with a client "
          "certificate alone, and ends those opened with a removed token",
          "[security][tls]") {
  TempDir dir;
  const RunResult pki = MakeTestPki(dir.path());
  INFO("openssl: " << pki.out << pki.err);
  REQUIRE(pki.exit_code == 0);
  const std::string file = dir.path() + "/tokens";
  const std::string root = NewToken();
  const std::string alice = NewToken();
  REQUIRE(ReplaceFile(file,
                      Line("root", root, "admin") + Line("alice", alice)));
  const std::string config = dir.path() + "/cutoverd.yaml";
  REQUIRE(ReplaceFile(
      config, absl::StrCat("tls:\n  cert_file: ", dir.path(), "/server.pem",
                           "\n  key_file: ", dir.path(), "/server.key",
                           "\n  client_ca_file: ", dir.path(), "/ca.pem",
                           "\ncert_roles:\n  - common_name: deployer\n"
                           "    role: reader\n")));
  DaemonProcess daemon(dir.path() + "/data",
                       {"--config", config, "--auth", "tokens", "--token-file",
                        file});
  const bool started = daemon.Start();
  INFO("cutoverd stderr:\n" << daemon.last_stderr());
  REQUIRE(started);
  auto channel = [&](const std::string& token) {
    ChannelOptions options;
    options.server = daemon.address();
    options.tls_ca_file = dir.path() + "/ca.pem";
    options.tls_cert_file = dir.path() + "/client.pem";
    options.tls_key_file = dir.path() + "/client.key";
    options.token = token;
    auto made = MakeChannel(options);
    REQUIRE(made.ok());
    return *made;
  };
  WatchStream by_certificate(channel(""));
  // The daemon asks every client for a certificate; with a token as well,
  // the token decides (and its revocation ends the stream).
  WatchStream by_token(channel(alice));
  REQUIRE(by_certificate.synced);
  REQUIRE(by_token.synced);

  REQUIRE(ReplaceFile(file, Line("root", root, "admin")));
  const grpc::Status ended = by_token.ReadToEnd();
  INFO(ended.error_message());
  CHECK(ended.error_code() == grpc::StatusCode::UNAUTHENTICATED);
  AdminClientOptions options;
  options.channel.server = daemon.address();
  options.channel.tls_ca_file = dir.path() + "/ca.pem";
  options.channel.tls_cert_file = dir.path() + "/client.pem";
  options.channel.tls_key_file = dir.path() + "/client.key";
  options.channel.token = root;
  options.deadline = absl::Seconds(10);
  auto admin = AdminClient::Create(options);
  REQUIRE(admin.ok());
  CreateFlag(**admin, "orders");
  CHECK(by_certificate.ReadUntilFlag("orders"));
  by_certificate.context.TryCancel();
  CHECK(by_certificate.ReadToEnd().error_code() ==
        grpc::StatusCode::CANCELLED);
}

}  // namespace
}  // namespace cutover::testing
