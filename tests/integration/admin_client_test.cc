// cutover::AdminClient against the real cutoverd on loopback: every kind of
// call over one channel, the actor it sends, the daemon's refusals kept as
// they are and classed as bad input, an unreachable or silent daemon
// named in a connection error within the deadline, wait_for_ready riding
// out a daemon that comes up late, and calls from many threads at once.
#include "client/admin_client.h"

#include <catch2/catch.hpp>

#include <signal.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/time/time.h"
#include "grpcpp/client_context.h"
#include "tests/integration/harness.h"

namespace cutover::testing {
namespace {

v1::CreateFlagRequest CreateOrders() {
  v1::CreateFlagRequest request;
  v1::Flag* flag = request.mutable_flag();
  flag->set_key("orders");
  flag->set_old_target("postgres-orders");
  flag->set_new_target("dynamodb-orders");
  flag->set_enabled(true);
  flag->mutable_default_serve()->set_stage(v1::OFF);
  return request;
}

v1::DecideRequest DecideOrders(const std::string& user) {
  v1::DecideRequest request;
  request.set_flag_key("orders");
  request.mutable_context()->set_targeting_key(user);
  return request;
}

TEST_CASE("AdminClient: Admin, Evaluation, Telemetry and Watch calls over "
          "one channel, the actor in the history",
          "[admin_client]") {
  TempDir dir;
  DaemonProcess daemon(dir.path() + "/data");
  REQUIRE(daemon.Start());
  auto admin = ConnectAdmin(daemon.address(), absl::Seconds(10), "release-bot");
  CHECK(admin->server() == daemon.address());

  const absl::StatusOr<v1::Flag> created = admin->CreateFlag(CreateOrders());
  REQUIRE(created.ok());
  CHECK(created->version() == 1);
  v1::SetStageRequest stage;
  stage.set_key("orders");
  stage.set_stage(v1::DUALWRITE);
  stage.set_comment("start writing both");
  const absl::StatusOr<v1::Flag> staged = admin->SetStage(stage);
  REQUIRE(staged.ok());
  CHECK(staged->default_serve().stage() == v1::DUALWRITE);

  v1::GetHistoryRequest history_request;
  history_request.set_key("orders");
  const absl::StatusOr<v1::GetHistoryResponse> history =
      admin->GetHistory(history_request);
  REQUIRE(history.ok());
  REQUIRE(history->entries_size() == 2);
  CHECK(history->entries(0).actor() == "release-bot");
  CHECK(history->entries(0).comment() == "start writing both");

  const absl::StatusOr<v1::DecideResponse> decided =
      admin->Decide(DecideOrders("u-1"));
  REQUIRE(decided.ok());
  CHECK(decided->decision().stage() == v1::DUALWRITE);
  v1::DecideBatchRequest batch;
  for (const char* user : {"u-1", "u-2", "u-3"}) {
    *batch.add_items() = DecideOrders(user);
  }
  const absl::StatusOr<v1::DecideBatchResponse> batched =
      admin->DecideBatch(batch);
  REQUIRE(batched.ok());
  CHECK(batched->decisions_size() == 3);

  v1::ReportMigrationOpsRequest report;
  v1::MigrationOpCount* count = report.add_counts();
  count->set_flag_key("orders");
  count->set_stage(v1::DUALWRITE);
  count->set_op("write");
  count->set_origin(v1::NEW);
  count->set_result(v1::OK);
  count->set_count(5);
  const absl::StatusOr<v1::ReportMigrationOpsResponse> reported =
      admin->ReportMigrationOps(report);
  REQUIRE(reported.ok());
  CHECK(reported->accepted() == 1);

  // Watch on a context the caller keeps: the state, then SYNCED.
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() +
                       std::chrono::seconds(10));
  auto reader = admin->Watch(&context, v1::WatchRequest());
  std::vector<v1::WatchEvent::Kind> kinds;
  v1::WatchEvent event;
  while (kinds.size() < 10 && reader->Read(&event)) {
    if (event.kind() == v1::WatchEvent::HEARTBEAT) continue;
    kinds.push_back(event.kind());
    if (event.kind() == v1::WatchEvent::SYNCED) break;
  }
  context.TryCancel();
  (void)reader->Finish();
  CHECK(kinds == std::vector<v1::WatchEvent::Kind>{
                     v1::WatchEvent::RESET, v1::WatchEvent::FLAG_UPSERTED,
                     v1::WatchEvent::SYNCED});
}

TEST_CASE("AdminClient: the daemon's refusals keep their code and message "
          "and are bad input",
          "[admin_client]") {
  TempDir dir;
  DaemonProcess daemon(dir.path() + "/data");
  REQUIRE(daemon.Start());
  auto admin = ConnectAdmin(daemon.address());
  REQUIRE(admin->CreateFlag(CreateOrders()).ok());

  const absl::Status exists = admin->CreateFlag(CreateOrders()).status();
  CHECK(exists.code() == absl::StatusCode::kAlreadyExists);
  CHECK(ClassifyError(exists.code()) == ErrorClass::kBadInput);
  CHECK_FALSE(absl::StrContains(exists.message(), "cannot reach"));

  v1::GetFlagRequest unknown;
  unknown.set_key("payments");
  const absl::Status missing = admin->GetFlag(unknown).status();
  CHECK(missing.code() == absl::StatusCode::kNotFound);
  CHECK(absl::StrContains(missing.message(), "payments"));
  CHECK(ClassifyError(missing.code()) == ErrorClass::kBadInput);

  v1::SetStageRequest stale;
  stale.set_key("orders");
  stale.set_stage(v1::DUALWRITE);
  stale.set_expected_version(7);
  const absl::Status aborted = admin->SetStage(stale).status();
  CHECK(aborted.code() == absl::StatusCode::kAborted);
  CHECK(ClassifyError(aborted.code()) == ErrorClass::kBadInput);

  v1::DecideRequest no_flag;
  no_flag.mutable_context()->set_targeting_key("u-1");
  const absl::Status invalid = admin->Decide(no_flag).status();
  CHECK(invalid.code() == absl::StatusCode::kInvalidArgument);
  CHECK(absl::StartsWith(invalid.message(), "flag_key:"));
}

TEST_CASE("AdminClient: no daemon, or one that never answers, is a "
          "connection error naming the address, within the deadline",
          "[admin_client]") {
  SECTION("nothing listens") {
    const std::string address =
        "127.0.0.1:" + std::to_string(FreeLoopbackPort());
    auto admin = ConnectAdmin(address, absl::Seconds(10));
    const absl::Status status = admin->ListFlags({}).status();
    INFO(status);
    CHECK(status.code() == absl::StatusCode::kUnavailable);
    CHECK(absl::StartsWith(status.message(),
                           "cannot reach cutoverd at " + address + ": "));
    CHECK(ClassifyError(status.code()) == ErrorClass::kServerOrConnection);
  }

  SECTION("a port that takes the connection and never answers") {
    SilentLoopbackPort silent;
    REQUIRE(silent.port() > 0);
    auto admin = ConnectAdmin(silent.address(), absl::Milliseconds(300));
    const auto start = std::chrono::steady_clock::now();
    const absl::Status status = admin->Decide(DecideOrders("u-1")).status();
    const auto took = std::chrono::steady_clock::now() - start;
    INFO(status);
    CHECK(status.code() == absl::StatusCode::kDeadlineExceeded);
    CHECK(absl::StartsWith(status.message(), "cannot reach cutoverd at " +
                                                 silent.address() + ": "));
    CHECK(ClassifyError(status.code()) == ErrorClass::kServerOrConnection);
    CHECK(took >= std::chrono::milliseconds(250));
    CHECK(took < std::chrono::seconds(5));
  }
}

TEST_CASE("AdminClient: wait_for_ready waits for a daemon that comes up "
          "late",
          "[admin_client]") {
  TempDir dir;
  DaemonProcess daemon(dir.path() + "/data");
  REQUIRE(daemon.Start());
  daemon.KeepPort();
  REQUIRE(daemon.Stop(SIGTERM) == 0);

  AdminClientOptions options;
  options.channel.server = daemon.address();
  options.channel.reconnect_initial_backoff = absl::Milliseconds(100);
  options.channel.reconnect_max_backoff = absl::Milliseconds(500);
  options.deadline = absl::Seconds(30);
  options.wait_for_ready = true;
  auto admin = AdminClient::Create(options);
  REQUIRE(admin.ok());
  // The call starts while nothing listens; its outcome is checked after the
  // join (Catch2's assertions are not thread-safe).
  absl::Status created = absl::UnknownError("not called");
  std::thread caller(
      [&] { created = (*admin)->CreateFlag(CreateOrders()).status(); });
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  const bool restarted = daemon.Start();
  caller.join();
  REQUIRE(restarted);
  INFO(created);
  CHECK(created.ok());
}

TEST_CASE("AdminClient: calls from 8 threads at once", "[admin_client]") {
  TempDir dir;
  DaemonProcess daemon(dir.path() + "/data");
  REQUIRE(daemon.Start());
  auto admin = ConnectAdmin(daemon.address());
  REQUIRE(admin->CreateFlag(CreateOrders()).ok());

  constexpr int kThreads = 8;
  constexpr int kCalls = 50;
  // Counted on the threads, checked after the join.
  std::atomic<int> failed{0};
  std::atomic<int> wrong{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kCalls; ++i) {
        const std::string user = "u-" + std::to_string(t * kCalls + i);
        const absl::StatusOr<v1::DecideResponse> decided =
            admin->Decide(DecideOrders(user));
        if (!decided.ok()) {
          ++failed;
        } else if (decided->decision().flag_key() != "orders" ||
                   decided->decision().stage() != v1::OFF) {
          ++wrong;
        }
      }
    });
  }
  for (auto& thread : threads) thread.join();
  CHECK(failed == 0);
  CHECK(wrong == 0);
}

TEST_CASE("AdminClient::Create refuses an unreadable TLS file, naming it",
          "[admin_client]") {
  AdminClientOptions options;
  options.channel.server = "127.0.0.1:1";
  options.channel.tls_ca_file = "/nonexistent/ca.pem";
  const auto admin = AdminClient::Create(options);
  CHECK(admin.status().code() == absl::StatusCode::kInvalidArgument);
  CHECK(absl::StrContains(admin.status().message(), "tls-ca"));
}

TEST_CASE("ClassifyError: bad input, server or connection error",
          "[admin_client]") {
  using Code = absl::StatusCode;
  CHECK(ClassifyError(Code::kOk) == ErrorClass::kNone);
  for (Code code : {Code::kInvalidArgument, Code::kFailedPrecondition,
                    Code::kAlreadyExists, Code::kNotFound, Code::kAborted,
                    Code::kOutOfRange}) {
    INFO(absl::StatusCodeToString(code));
    CHECK(ClassifyError(code) == ErrorClass::kBadInput);
  }
  for (Code code : {Code::kUnavailable, Code::kDeadlineExceeded,
                    Code::kUnauthenticated, Code::kPermissionDenied,
                    Code::kInternal, Code::kResourceExhausted,
                    Code::kUnknown, Code::kCancelled, Code::kDataLoss,
                    Code::kUnimplemented}) {
    INFO(absl::StatusCodeToString(code));
    CHECK(ClassifyError(code) == ErrorClass::kServerOrConnection);
  }
}

}  // namespace
}  // namespace cutover::testing
