// Security of the real cutoverd: every rpc with no token and with a token
// of each role (the expectations generated from the daemon's own role
// table, MethodRoles); TLS and mutual TLS with certificates made by openssl
// in the test (a wrong CA, an expired certificate and no certificate
// refused); the actor in history is the token's name; auth: none only where
// it is safe; request bytes that do not parse are refused before the role
// check.
#include <catch2/catch.hpp>

#include <chrono>
#include <fstream>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "client/admin_client.h"
#include "rpc/channel.h"
#include "client/client.h"
#include "credentials/token_hash.h"
#include "google/protobuf/descriptor.h"
#include "cutover/v1/cutover.grpc.pb.h"
#include "grpcpp/channel.h"
#include "grpcpp/client_context.h"
#include "grpcpp/generic/generic_stub.h"
#include "grpcpp/support/byte_buffer.h"
#include "server/auth.h"
#include "tests/integration/call_by_name.h"
#include "tests/integration/harness.h"
#include "tests/integration/security_fixtures.h"

namespace cutover::testing {
namespace {

constexpr int kCallSeconds = 10;

void WriteFile(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::trunc);
  out << text;
}


std::shared_ptr<grpc::Channel> Channel(const std::string& server,
                                       const std::string& token) {
  ChannelOptions options;
  options.server = server;
  options.token = token;
  auto channel = MakeChannel(options);
  REQUIRE(channel.ok());
  return *channel;
}

// An AdminClient for `server` that sends `token`.
std::unique_ptr<AdminClient> Admin(const std::string& server,
                                   const std::string& token) {
  AdminClientOptions options;
  options.channel.server = server;
  options.channel.token = token;
  options.deadline = absl::Seconds(kCallSeconds);
  auto admin = AdminClient::Create(options);
  REQUIRE(admin.ok());
  return *std::move(admin);
}

// A unary call by method path with an empty request message. The role
// table is checked with such raw calls rather than an AdminClient: every
// method by its path whatever its messages, with a request no client sends.
grpc::Status CallByName(const std::shared_ptr<grpc::Channel>& channel,
                        const std::string& path) {
  grpc::GenericStub stub(channel);
  return testing::CallByName(stub, path, testing::EmptyRequest(), nullptr,
                             kCallSeconds);
}

// Watch: the status of the stream after its first event (OK if one came);
// through a raw stub, like the unary calls above.
grpc::Status OpenWatch(const std::shared_ptr<grpc::Channel>& channel) {
  auto stub = v1::Evaluation::NewStub(channel);
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() +
                       std::chrono::seconds(kCallSeconds));
  auto reader = stub->Watch(&context, v1::WatchRequest());
  v1::WatchEvent event;
  if (reader->Read(&event)) {
    context.TryCancel();
    reader->Finish().IgnoreError();
    return grpc::Status::OK;
  }
  return reader->Finish();
}

bool Refused(const grpc::Status& status) {
  return status.error_code() == grpc::StatusCode::UNAUTHENTICATED ||
         status.error_code() == grpc::StatusCode::PERMISSION_DENIED;
}

TEST_CASE("every rpc, without a token and with each role, as the role "
          "table says",
          "[security]") {
  TempDir dir;
  Tokens tokens(dir.path());
  DaemonProcess daemon(dir.path() + "/data",
                       {"--auth", "tokens", "--token-file", tokens.file});
  const bool started = daemon.Start();
  INFO("cutoverd stderr:\n" << daemon.last_stderr());
  REQUIRE(started);
  const std::string server = daemon.address();

  // One flag, made by the admin token, so reads have something to read.
  {
    auto admin = Admin(server, tokens.by_role[Role::kAdmin]);
    v1::CreateFlagRequest create;
    create.mutable_flag()->set_key("orders");
    create.mutable_flag()->set_old_target("postgres-orders");
    create.mutable_flag()->set_new_target("dynamodb-orders");
    create.mutable_flag()->set_enabled(true);
    create.mutable_flag()->mutable_default_serve()->set_stage(v1::OFF);
    REQUIRE(admin->CreateFlag(create).ok());
  }

  struct Caller {
    const char* name;
    std::optional<Role> role;  // nullopt: no token
    std::string token;
  };
  const std::vector<Caller> callers = {
      {"no token", std::nullopt, ""},
      {"a wrong token", std::nullopt, NewToken()},
      {"reader", Role::kReader, tokens.by_role[Role::kReader]},
      {"operator", Role::kOperator, tokens.by_role[Role::kOperator]},
      {"admin", Role::kAdmin, tokens.by_role[Role::kAdmin]},
  };
  REQUIRE(MethodRoles().size() >= 20);
  for (const Caller& caller : callers) {
    auto channel = Channel(server, caller.token);
    for (const MethodRole& entry : MethodRoles()) {
      const bool allowed =
          caller.role.has_value() &&
          static_cast<int>(*caller.role) >= static_cast<int>(entry.role);
      // cutover's services by short name, flagd's by their full one.
      const std::string path =
          absl::StrContains(entry.service, '.')
              ? absl::StrCat("/", entry.service, "/", entry.method)
              : absl::StrCat("/cutover.v1.", entry.service, "/",
                             entry.method);
      grpc::GenericStub generic(channel);
      const grpc::Status status =
          std::string(entry.method) == "Watch" ? OpenWatch(channel)
          // A stream that is allowed stays open: its deadline ends it.
          : std::string(entry.method) == "EventStream" ||
                  std::string(entry.method) == "SyncFlags"
              ? testing::StreamByName(generic, path, testing::EmptyRequest(),
                                      1.0)
              : CallByName(channel, path);
      INFO(caller.name << " calls " << entry.service << "." << entry.method
                       << " (needs " << RoleName(entry.role) << "): "
                       << status.error_code() << " "
                       << status.error_message());
      if (allowed) {
        CHECK_FALSE(Refused(status));
      } else if (!caller.role.has_value()) {
        CHECK(status.error_code() == grpc::StatusCode::UNAUTHENTICATED);
      } else {
        CHECK(status.error_code() == grpc::StatusCode::PERMISSION_DENIED);
        CHECK(status.error_message().find(RoleName(entry.role)) !=
              std::string::npos);
      }
      // No refusal names or hints at a token.
      for (const auto& [role, token] : tokens.by_role) {
        CHECK(status.error_message().find(token) == std::string::npos);
      }
    }
  }

  // Nothing the refused calls sent changed the flag; its one change is
  // recorded with the admin token's name as the actor.
  auto reader = Admin(server, tokens.by_role[Role::kReader]);
  v1::GetHistoryRequest history_request;
  history_request.set_key("orders");
  const absl::StatusOr<v1::GetHistoryResponse> got =
      reader->GetHistory(history_request);
  REQUIRE(got.ok());
  const v1::GetHistoryResponse& history = *got;
  REQUIRE(history.entries_size() == 1);
  CHECK(history.entries(0).actor() == "admin-bot");
  CHECK(history.entries(0).peer().find("127.0.0.1") != std::string::npos);
}

TEST_CASE("the role table names every rpc of cutover's services, and only "
          "those",
          "[security]") {
  // A method missing from the table is refused to every caller; a row
  // whose method does not exist checks nothing.
  size_t cutover_methods = 0;
  for (const char* name : {"Evaluation", "Admin", "Telemetry"}) {
    const google::protobuf::ServiceDescriptor* service =
        google::protobuf::DescriptorPool::generated_pool()->FindServiceByName(
            absl::StrCat("cutover.v1.", name));
    REQUIRE(service != nullptr);
    for (int m = 0; m < service->method_count(); ++m) {
      INFO(name << "." << service->method(m)->name());
      CHECK(RequiredRole(service->method(m)->name()).has_value());
      ++cutover_methods;
    }
  }
  size_t cutover_rows = 0;
  for (const MethodRole& entry : MethodRoles()) {
    if (absl::StrContains(entry.service, '.')) continue;  // flagd's
    INFO(entry.service << "." << entry.method);
    const auto* service =
        google::protobuf::DescriptorPool::generated_pool()->FindServiceByName(
            absl::StrCat("cutover.v1.", entry.service));
    REQUIRE(service != nullptr);
    CHECK(service->FindMethodByName(entry.method) != nullptr);
    ++cutover_rows;
  }
  CHECK(cutover_rows == cutover_methods);
  // Operators may ask any daemon what it is.
  CHECK(RequiredRole("GetServerInfo") == Role::kReader);
  // A backup copies every secret-free byte of the store off to a folder
  // of the caller's choosing: the admin's.
  CHECK(RequiredRole("CreateBackup") == Role::kAdmin);
}

TEST_CASE("request bytes that do not parse are refused before the caller "
          "is checked",
          "[security][bad-input]") {
  // No handler runs for a request that does not parse, so the role check
  // (in the handlers) never comes: INVALID_ARGUMENT with a token or without
  // (server/unparsable_requests.h). Decide and DecideBatch parse their own
  // bytes, before their role check. It names a public message type only.
  TempDir dir;
  Tokens tokens(dir.path());
  DaemonProcess daemon(dir.path() + "/data",
                       {"--auth", "tokens", "--token-file", tokens.file});
  const bool started = daemon.Start();
  INFO("cutoverd stderr:\n" << daemon.last_stderr());
  REQUIRE(started);
  grpc::Slice truncated(std::string("\x0a\x10garbage"));
  const grpc::ByteBuffer garbage(&truncated, 1);
  const std::vector<std::pair<std::string, std::string>> methods = {
      {"/cutover.v1.Admin/SetStage", "cutover.v1.SetStageRequest"},
      {"/cutover.v1.Evaluation/Decide", "cutover.v1.DecideRequest"},
      {"/cutover.v1.Evaluation/DecideBatch", "cutover.v1.DecideBatchRequest"}};
  for (const auto& [method, request_type] : methods) {
    for (const std::string& token : {std::string(), NewToken(),
                                     tokens.by_role[Role::kReader]}) {
      grpc::GenericStub stub(Channel(daemon.address(), token));
      const grpc::Status status =
          testing::CallByName(stub, method, garbage, nullptr, kCallSeconds);
      INFO(method << ": " << status.error_code() << " "
                  << status.error_message());
      CHECK(status.error_code() == grpc::StatusCode::INVALID_ARGUMENT);
      CHECK(status.error_message() ==
            "request does not parse as " + request_type);
    }
  }
}

TEST_CASE("the CLI sends CUTOVER_TOKEN and names the refusal in one line",
          "[security]") {
  TempDir dir;
  Tokens tokens(dir.path());
  DaemonProcess daemon(dir.path() + "/data",
                       {"--auth", "tokens", "--token-file", tokens.file});
  REQUIRE(daemon.Start());
  const std::string ctl = CutoverctlPath();
  auto run = [&](const std::string& token,
                 const std::vector<std::string>& args) {
    std::vector<std::string> argv = {"/usr/bin/env",
                                     "CUTOVER_TOKEN=" + token, ctl,
                                     "--server", daemon.address()};
    argv.insert(argv.end(), args.begin(), args.end());
    return RunProgram(argv, 60);
  };
  const std::vector<std::string> create = {"flags", "create", "orders",
                                           "--old", "pg", "--new", "ddb"};
  RunResult result = run("", create);
  CHECK(result.exit_code == 1);
  CHECK(result.err.find("UNAUTHENTICATED") != std::string::npos);
  result = run(tokens.by_role[Role::kOperator], create);
  CHECK(result.exit_code == 1);
  CHECK(result.err.find("PERMISSION_DENIED") != std::string::npos);
  CHECK(std::count(result.err.begin(), result.err.end(), '\n') == 1);
  result = run(tokens.by_role[Role::kAdmin], create);
  INFO(result.err);
  CHECK(result.exit_code == 0);
  result = run(tokens.by_role[Role::kOperator], {"stage", "orders", "dualwrite"});
  CHECK(result.exit_code == 0);
  result = run(tokens.by_role[Role::kReader], {"history", "orders"});
  CHECK(result.exit_code == 0);
  CHECK(result.out.find("by operator-bot") != std::string::npos);
  CHECK(result.out.find("by admin-bot") != std::string::npos);
}

TEST_CASE("AdminClient sends its token: the token's name is the actor, and "
          "refusals are server errors, not bad input",
          "[security]") {
  TempDir dir;
  Tokens tokens(dir.path());
  DaemonProcess daemon(dir.path() + "/data",
                       {"--auth", "tokens", "--token-file", tokens.file});
  REQUIRE(daemon.Start());
  v1::CreateFlagRequest create;
  create.mutable_flag()->set_key("orders");
  create.mutable_flag()->set_old_target("pg");
  create.mutable_flag()->set_new_target("ddb");
  create.mutable_flag()->set_enabled(true);
  create.mutable_flag()->mutable_default_serve()->set_stage(v1::OFF);

  const absl::Status anonymous =
      Admin(daemon.address(), "")->CreateFlag(create).status();
  CHECK(anonymous.code() == absl::StatusCode::kUnauthenticated);
  CHECK(ClassifyError(anonymous.code()) == ErrorClass::kServerOrConnection);
  const absl::Status reader =
      Admin(daemon.address(), tokens.by_role[Role::kReader])
          ->CreateFlag(create)
          .status();
  CHECK(reader.code() == absl::StatusCode::kPermissionDenied);
  CHECK(ClassifyError(reader.code()) == ErrorClass::kServerOrConnection);

  // With auth on, the actor header is not what the history records.
  AdminClientOptions options;
  options.channel.server = daemon.address();
  options.channel.token = tokens.by_role[Role::kOperator];
  options.actor = "someone-else";
  auto operator_client = AdminClient::Create(options);
  REQUIRE(operator_client.ok());
  REQUIRE(Admin(daemon.address(), tokens.by_role[Role::kAdmin])
              ->CreateFlag(create)
              .ok());
  v1::SetStageRequest stage;
  stage.set_key("orders");
  stage.set_stage(v1::DUALWRITE);
  REQUIRE((*operator_client)->SetStage(stage).ok());
  v1::GetHistoryRequest history_request;
  history_request.set_key("orders");
  const absl::StatusOr<v1::GetHistoryResponse> history =
      (*operator_client)->GetHistory(history_request);
  REQUIRE(history.ok());
  REQUIRE(history->entries_size() == 2);
  CHECK(history->entries(0).actor() == "operator-bot");
  CHECK(history->entries(1).actor() == "admin-bot");
}


TEST_CASE("TLS: the CLI connects with the right CA only", "[security][tls]") {
  TempDir dir;
  Pki pki(dir.path());
  Tokens tokens(dir.path());
  const std::string config = dir.path() + "/cutoverd.yaml";
  WriteFile(config, pki.ServerTlsConfig());
  DaemonProcess daemon(dir.path() + "/data",
                       {"--config", config, "--auth", "tokens", "--token-file",
                        tokens.file});
  const bool started = daemon.Start();
  INFO("cutoverd stderr:\n" << daemon.last_stderr());
  REQUIRE(started);
  auto ctl = [&](const std::vector<std::string>& tls) {
    std::vector<std::string> argv = {
        "/usr/bin/env", "CUTOVER_TOKEN=" + tokens.by_role[Role::kReader],
        CutoverctlPath(), "--server", daemon.address(), "--timeout", "5"};
    argv.insert(argv.end(), tls.begin(), tls.end());
    argv.insert(argv.end(), {"flags", "list"});
    return RunProgram(argv, 60);
  };
  RunResult result = ctl({"--tls-ca", pki("ca.pem")});
  INFO(result.err);
  CHECK(result.exit_code == 0);
  result = ctl({});  // plaintext to a TLS port
  CHECK(result.exit_code == 1);
  result = ctl({"--tls-ca", pki("other-ca.pem")});  // cannot verify it
  CHECK(result.exit_code == 1);
  result = ctl({"--tls-ca", dir.path() + "/missing.pem"});
  CHECK(result.exit_code == 2);
  CHECK(result.err.find("tls-ca") != std::string::npos);
}

TEST_CASE("mutual TLS: a client certificate's common name gets its role, and "
          "a wrong CA, an expired certificate and none are refused",
          "[security][tls]") {
  TempDir dir;
  Pki pki(dir.path());
  Tokens tokens(dir.path());
  const std::string config = dir.path() + "/cutoverd.yaml";
  WriteFile(config,
            absl::StrCat(pki.ServerTlsConfig(),
                         "  client_ca_file: ", pki("ca.pem"),
                         "\ncert_roles:\n  - common_name: deployer\n"
                         "    role: operator\n"));
  DaemonProcess daemon(dir.path() + "/data",
                       {"--config", config, "--auth", "tokens", "--token-file",
                        tokens.file});
  const bool started = daemon.Start();
  INFO("cutoverd stderr:\n" << daemon.last_stderr());
  REQUIRE(started);
  auto ctl = [&](const std::string& cert, const std::string& token,
                 const std::vector<std::string>& args) {
    std::vector<std::string> argv = {"/usr/bin/env", "CUTOVER_TOKEN=" + token,
                                     CutoverctlPath(), "--server",
                                     daemon.address(), "--timeout", "5",
                                     "--tls-ca", pki("ca.pem")};
    if (!cert.empty()) {
      argv.insert(argv.end(),
                  {"--tls-cert", pki(cert), "--tls-key", pki("client.key")});
    }
    argv.insert(argv.end(), args.begin(), args.end());
    return RunProgram(argv, 60);
  };
  const std::vector<std::string> create = {"flags", "create", "orders",
                                           "--old", "pg", "--new", "ddb"};
  // The certificate alone: an operator.
  RunResult result = ctl("client.pem", "", create);
  CHECK(result.exit_code == 1);
  CHECK(result.err.find("PERMISSION_DENIED") != std::string::npos);
  // With the admin token as well: the token decides, and names the actor.
  result = ctl("client.pem", tokens.by_role[Role::kAdmin], create);
  INFO(result.err);
  CHECK(result.exit_code == 0);
  result = ctl("client.pem", "", {"stage", "orders", "dualwrite"});
  CHECK(result.exit_code == 0);
  result = ctl("client.pem", "", {"history", "orders"});
  CHECK(result.exit_code == 0);
  CHECK(result.out.find("by cn:deployer") != std::string::npos);
  CHECK(result.out.find("by admin-bot") != std::string::npos);
  // Refused at the handshake, token or not.
  for (const char* cert : {"client-other.pem", "client-expired.pem", ""}) {
    result = ctl(cert, tokens.by_role[Role::kAdmin], {"flags", "list"});
    INFO("certificate '" << cert << "': " << result.err);
    CHECK(result.exit_code == 1);
    CHECK(result.err.find("UNAVAILABLE") != std::string::npos);
  }
}

TEST_CASE("the client library sends its token over TLS, and without one it "
          "serves the safe default",
          "[security][tls]") {
  TempDir dir;
  Pki pki(dir.path());
  Tokens tokens(dir.path());
  const std::string config = dir.path() + "/cutoverd.yaml";
  WriteFile(config, pki.ServerTlsConfig());
  DaemonProcess daemon(dir.path() + "/data",
                       {"--config", config, "--auth", "tokens", "--token-file",
                        tokens.file});
  REQUIRE(daemon.Start());
  {
    const RunResult made = RunProgram(
        {"/usr/bin/env", "CUTOVER_TOKEN=" + tokens.by_role[Role::kAdmin],
         CutoverctlPath(), "--server", daemon.address(), "--tls-ca",
         pki("ca.pem"), "flags", "create", "orders", "--old", "pg", "--new",
         "ddb"},
        60);
    INFO(made.err);
    REQUIRE(made.exit_code == 0);
  }
  ClientOptions options;
  options.server = daemon.address();
  options.tls_ca_file = pki("ca.pem");
  options.decide_deadline = absl::Seconds(5);
  options.token = tokens.by_role[Role::kReader];
  auto client = Client::Create(options);
  REQUIRE(client.ok());
  Decision d = (*client)->Decide("orders", Context{"u-1", {}});
  CHECK(d.reason == Reason::kDefault);
  CHECK(d.flag_version == 1);
  CHECK((*client)->watch_synced());

  options.token = "not-a-token";
  options.decide_deadline = absl::Milliseconds(500);
  auto refused = Client::Create(options);
  REQUIRE(refused.ok());
  d = (*refused)->Decide("orders", Context{"u-1", {}});
  CHECK(d.reason == Reason::kError);
  CHECK(d.stage == Stage::kOff);
  CHECK_FALSE((*refused)->watch_synced());

  options.tls_ca_file = dir.path() + "/missing.pem";
  auto bad = Client::Create(options);
  CHECK(bad.status().code() == absl::StatusCode::kInvalidArgument);
}

TEST_CASE("auth is off only when asked, and then only on loopback",
          "[security]") {
  TempDir dir;
  auto start = [&](const std::vector<std::string>& args) {
    std::vector<std::string> argv = {CutoverdPath(), "--data-dir",
                                     dir.path() + "/data", "--metrics-listen",
                                     "off"};
    argv.insert(argv.end(), args.begin(), args.end());
    return RunProgram(argv, 20);
  };
  // Tokens are the default; with none configured the daemon will not run.
  RunResult result = start({"--listen", "127.0.0.1:0"});
  CHECK(result.exit_code == 2);
  CHECK(result.err.find("no tokens") != std::string::npos);
  // auth none on a non-loopback address is refused before binding it.
  result = start({"--auth", "none", "--listen", "0.0.0.0:0"});
  CHECK(result.exit_code == 2);
  CHECK(result.err.find("not a loopback address") != std::string::npos);
  // A token spec naming an unset environment variable is refused.
  const std::string config = dir.path() + "/cutoverd.yaml";
  WriteFile(config,
            "tokens:\n  - name: ci\n    role: reader\n"
            "    env: CUTOVER_TEST_TOKEN_THAT_IS_NOT_SET\n");
  result = start({"--config", config, "--listen", "127.0.0.1:0"});
  CHECK(result.exit_code == 2);
  CHECK(result.err.find("CUTOVER_TEST_TOKEN_THAT_IS_NOT_SET") !=
        std::string::npos);
}

}  // namespace
}  // namespace cutover::testing
