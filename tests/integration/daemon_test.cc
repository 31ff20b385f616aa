// The gRPC API of the real cutoverd on loopback: Decide and DecideBatch
// outcomes, the monotonic ramp end to end, request limits, request bytes
// that do not parse (every rpc), the kill switch, health, the data-folder
// lock, config errors, graceful shutdown with persistence across a
// restart, and the Prometheus endpoint.
#include <catch2/catch.hpp>

#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <fstream>
#include <memory>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "core/bucketing.h"
#include "absl/time/time.h"
#include "client/admin_client.h"
#include "cutover/v1/cutover.pb.h"
#include "google/protobuf/descriptor.h"
#include "grpcpp/channel.h"
#include "grpcpp/generic/generic_stub.h"
#include "grpcpp/support/byte_buffer.h"
#include "rocksdb/db.h"
#include "rocksdb/options.h"
#include "tests/integration/call_by_name.h"
#include "tests/integration/harness.h"

namespace cutover::testing {
namespace {

constexpr int kCallSeconds = 10;  // deadline of every unary call

// A started daemon on a fresh folder, and an AdminClient for it.
class Server {
 public:
  explicit Server(std::vector<std::string> extra_args = {})
      : data_dir_(dir_.path() + "/data"),
        daemon_(data_dir_, std::move(extra_args)) {
    const bool started = daemon_.Start();
    INFO("cutoverd stderr:\n" << daemon_.last_stderr());
    REQUIRE(started);
    Connect();
  }

  // Makes a new client (after a restart the port changes).
  void Connect() {
    admin_ = ConnectAdmin(daemon_.address(), absl::Seconds(kCallSeconds),
                          "daemon-test");
  }

  // Drops the client and its channel.
  void Disconnect() { admin_.reset(); }

  const AdminClient& admin() { return *admin_; }
  DaemonProcess& daemon() { return daemon_; }
  const std::string& data_dir() const { return data_dir_; }
  const TempDir& dir() const { return dir_; }

  v1::DecideResponse Decide(const std::string& flag_key,
                            const std::string& user) {
    v1::DecideRequest request;
    request.set_flag_key(flag_key);
    request.mutable_context()->set_targeting_key(user);
    absl::StatusOr<v1::DecideResponse> response = admin_->Decide(request);
    INFO(response.status().message());
    REQUIRE(response.status().code() == absl::StatusCode::kOk);
    return *std::move(response);
  }

  // The flag "orders" as the brief describes it: enabled, default OFF.
  v1::Flag CreateOrders() {
    v1::CreateFlagRequest request;
    v1::Flag* flag = request.mutable_flag();
    flag->set_key("orders");
    flag->set_description("orders table to DynamoDB");
    flag->set_old_target("postgres-orders");
    flag->set_new_target("dynamodb-orders");
    flag->set_enabled(true);
    flag->mutable_default_serve()->set_stage(v1::OFF);
    absl::StatusOr<v1::Flag> created = admin_->CreateFlag(request);
    INFO(created.status().message());
    REQUIRE(created.status().code() == absl::StatusCode::kOk);
    REQUIRE(created->version() == 1);
    return *std::move(created);
  }

  v1::Flag SetStage(const std::string& key, v1::Stage stage) {
    v1::SetStageRequest request;
    request.set_key(key);
    request.set_stage(stage);
    absl::StatusOr<v1::Flag> flag = admin_->SetStage(request);
    INFO(flag.status().message());
    REQUIRE(flag.status().code() == absl::StatusCode::kOk);
    return *std::move(flag);
  }

  v1::Flag SetLiveShare(const std::string& key, uint32_t live_weight) {
    v1::SetRolloutRequest request;
    request.set_key(key);
    v1::Split* live = request.mutable_rollout()->add_splits();
    live->set_stage(v1::LIVE);
    live->set_weight(live_weight);
    v1::Split* shadow = request.mutable_rollout()->add_splits();
    shadow->set_stage(v1::SHADOW);
    shadow->set_weight(100000 - live_weight);
    absl::StatusOr<v1::Flag> flag = admin_->SetRollout(request);
    INFO(flag.status().message());
    REQUIRE(flag.status().code() == absl::StatusCode::kOk);
    return *std::move(flag);
  }

  // "orders" moved through dualwrite and shadow to a live share of
  // `live_weight` (the rest shadow): version 4.
  v1::Flag CreateOrdersAtLiveShare(uint32_t live_weight) {
    CreateOrders();
    SetStage("orders", v1::DUALWRITE);
    SetStage("orders", v1::SHADOW);
    return SetLiveShare("orders", live_weight);
  }

  v1::Flag GetFlag(const std::string& key) {
    v1::GetFlagRequest request;
    request.set_key(key);
    absl::StatusOr<v1::Flag> flag = admin_->GetFlag(request);
    INFO(flag.status().message());
    REQUIRE(flag.status().code() == absl::StatusCode::kOk);
    return *std::move(flag);
  }

 private:
  TempDir dir_;
  std::string data_dir_;
  DaemonProcess daemon_;
  std::unique_ptr<AdminClient> admin_;
};

// Writes `text` to `path`.
void WriteFile(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::trunc);
  out << text;
  REQUIRE(out.good());
}

v1::DecideBatchRequest UsersBatch(const std::string& flag_key, int first,
                                  int count) {
  v1::DecideBatchRequest request;
  for (int i = first; i < first + count; ++i) {
    v1::DecideRequest* item = request.add_items();
    item->set_flag_key(flag_key);
    item->mutable_context()->set_targeting_key("u-" + std::to_string(i));
  }
  return request;
}

// Stage of each user u-0..u-9999 under `flag_key`, asked in batches of 1000;
// checks every decision is a SPLIT at `version` with a bucket in range.
std::vector<v1::Stage> DecideAllUsers(Server& server,
                                      const std::string& flag_key,
                                      int64_t version) {
  constexpr int kUsers = 10000;
  constexpr int kBatch = 1000;
  std::vector<v1::Stage> stages;
  stages.reserve(kUsers);
  for (int first = 0; first < kUsers; first += kBatch) {
    absl::StatusOr<v1::DecideBatchResponse> batch =
        server.admin().DecideBatch(UsersBatch(flag_key, first, kBatch));
    INFO(batch.status().message());
    REQUIRE(batch.status().code() == absl::StatusCode::kOk);
    const v1::DecideBatchResponse& response = *batch;
    REQUIRE(response.decisions_size() == kBatch);
    for (int i = 0; i < kBatch; ++i) {
      const v1::Decision& decision = response.decisions(i);
      INFO("user u-" << first + i);
      REQUIRE(decision.flag_key() == flag_key);
      REQUIRE(decision.reason() == v1::SPLIT);
      REQUIRE(decision.bucket() >= 0);
      REQUIRE(decision.bucket() < 100000);
      REQUIRE(decision.flag_version() == version);
      REQUIRE((decision.stage() == v1::LIVE || decision.stage() == v1::SHADOW));
      if (decision.stage() == v1::LIVE) {
        REQUIRE(decision.reads().authoritative() == v1::NEW);
        REQUIRE(decision.reads().shadow() == v1::OLD);
        REQUIRE(decision.writes().authoritative() == v1::NEW);
        REQUIRE(decision.writes().secondary() == v1::OLD);
      } else {
        REQUIRE(decision.reads().authoritative() == v1::OLD);
        REQUIRE(decision.reads().shadow() == v1::NEW);
        REQUIRE(decision.writes().authoritative() == v1::OLD);
        REQUIRE(decision.writes().secondary() == v1::NEW);
      }
      stages.push_back(decision.stage());
    }
  }
  return stages;
}

// One HTTP/1.0 GET to 127.0.0.1:`port``path`; returns the whole response
// (status line, headers and body), or "" on a socket error.
std::string HttpGet(int port, const std::string& path) {
  const int fd = ConnectLoopback(port);
  if (fd < 0) return "";
  std::string response;
  const std::string request =
      "GET " + path + " HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n";
  if (send(fd, request.data(), request.size(), MSG_NOSIGNAL) ==
      static_cast<ssize_t>(request.size())) {
    char buffer[8192];
    // At most 16 MiB: bounded even if the server never closes.
    for (int reads = 0; reads < 2048; ++reads) {
      const ssize_t n = recv(fd, buffer, sizeof buffer, 0);
      if (n <= 0) break;
      response.append(buffer, static_cast<size_t>(n));
    }
  }
  close(fd);
  return response;
}

// ---------------------------------------------------------------------------

TEST_CASE("Decide: an unknown flag is OFF with FLAG_NOT_FOUND",
          "[daemon][decide]") {
  Server server;
  const v1::DecideResponse response = server.Decide("no-such-flag", "u-1");
  const v1::Decision& decision = response.decision();
  CHECK(decision.flag_key() == "no-such-flag");
  CHECK(decision.stage() == v1::OFF);
  CHECK(decision.reason() == v1::FLAG_NOT_FOUND);
  CHECK(decision.reads().authoritative() == v1::OLD);
  CHECK(decision.reads().shadow() == v1::ORIGIN_NONE);
  CHECK(decision.writes().authoritative() == v1::OLD);
  CHECK(decision.writes().secondary() == v1::ORIGIN_NONE);
  CHECK(decision.flag_version() == 0);
  CHECK(decision.bucket() == -1);
  CHECK(response.revision() == 0);
}

TEST_CASE("Decide: malformed requests are INVALID_ARGUMENT",
          "[daemon][decide]") {
  Server server;

  SECTION("empty flag_key") {
    v1::DecideRequest request;
    request.mutable_context()->set_targeting_key("u-1");
    const absl::Status status = server.admin().Decide(request).status();
    CHECK(status.code() == absl::StatusCode::kInvalidArgument);
    CHECK(status.message().rfind("flag_key:", 0) == 0);
  }

  SECTION("a targeting key longer than 256 bytes") {
    v1::DecideRequest request;
    request.set_flag_key("orders");
    request.mutable_context()->set_targeting_key(std::string(257, 'u'));
    const absl::Status status = server.admin().Decide(request).status();
    CHECK(status.code() == absl::StatusCode::kInvalidArgument);
    CHECK(status.message().rfind("context.targeting_key:", 0) == 0);
  }

  SECTION("a targeting key of exactly 256 bytes is fine") {
    const v1::DecideResponse response =
        server.Decide("orders", std::string(256, 'u'));
    CHECK(response.decision().reason() == v1::FLAG_NOT_FOUND);
  }
}

// Bytes that are no message of any type.
grpc::ByteBuffer Garbage(const std::string& bytes) {
  grpc::Slice slice(bytes);
  return grpc::ByteBuffer(&slice, 1);
}

TEST_CASE("request bytes that do not parse are INVALID_ARGUMENT naming the "
          "message, on every rpc of every service",
          "[daemon][bad-input]") {
  Server server;
  server.CreateOrders();
  grpc::GenericStub stub(server.admin().channel());
  const std::vector<std::pair<const char*, std::string>> garbage = {
      // Field 1, length-delimited, 16 bytes announced and 7 sent.
      {"a truncated field", std::string("\x0a\x10garbage")},
      // Field 1 of wire type 7, which does not exist.
      {"an unknown wire type", std::string("\x0f")},
  };
  // Every method from the descriptors, so that a method added later is
  // swept too. Each takes one request message (no client streaming).
  std::vector<std::string> swept;
  for (const char* service_name :
       {"cutover.v1.Evaluation", "cutover.v1.Admin", "cutover.v1.Telemetry"}) {
    const google::protobuf::ServiceDescriptor* service =
        google::protobuf::DescriptorPool::generated_pool()->FindServiceByName(
            service_name);
    REQUIRE(service != nullptr);
    for (int m = 0; m < service->method_count(); ++m) {
      const google::protobuf::MethodDescriptor* method = service->method(m);
      REQUIRE_FALSE(method->client_streaming());
      const std::string path =
          "/" + std::string(service_name) + "/" + method->name();
      swept.push_back(path);
      for (const auto& [what, bytes] : garbage) {
        const grpc::Status status =
            method->server_streaming()
                ? testing::StreamByName(stub, path, Garbage(bytes),
                                        kCallSeconds)
                : testing::CallByName(stub, path, Garbage(bytes), nullptr,
                                      kCallSeconds);
        INFO(path << " with " << what << ": " << status.error_code() << " "
                  << status.error_message());
        CHECK(status.error_code() == grpc::StatusCode::INVALID_ARGUMENT);
        CHECK(status.error_message() ==
              "request does not parse as " +
                  method->input_type()->full_name());
      }
    }
  }
  for (const char* path :
       {"/cutover.v1.Evaluation/Decide", "/cutover.v1.Evaluation/Watch",
        "/cutover.v1.Telemetry/ReportMigrationOps",
        "/cutover.v1.Admin/SetStage"}) {
    INFO(path);
    CHECK(std::count(swept.begin(), swept.end(), path) == 1);
  }
  // The daemon goes on serving, and nothing changed.
  CHECK(server.Decide("orders", "u-1").decision().flag_version() == 1);
}

TEST_CASE("DecideBatch: a 5% live ramp, then 10%, never moves a user back",
          "[daemon][decide][ramp]") {
  Server server;
  const v1::Flag at_5 = server.CreateOrdersAtLiveShare(5000);
  REQUIRE(at_5.version() == 4);

  const std::vector<v1::Stage> first =
      DecideAllUsers(server, "orders", at_5.version());
  const auto live_5 = std::count(first.begin(), first.end(), v1::LIVE);
  CHECK(live_5 >= 400);
  CHECK(live_5 <= 600);

  const v1::Flag at_10 = server.SetLiveShare("orders", 10000);
  REQUIRE(at_10.version() == 5);
  const std::vector<v1::Stage> second =
      DecideAllUsers(server, "orders", at_10.version());
  const auto live_10 = std::count(second.begin(), second.end(), v1::LIVE);
  CHECK(live_10 >= 800);
  CHECK(live_10 <= 1200);
  int moved_back = 0;
  for (size_t i = 0; i < first.size(); ++i) {
    if (first[i] == v1::LIVE && second[i] != v1::LIVE) ++moved_back;
  }
  CHECK(moved_back == 0);
  CHECK(live_10 > live_5);

  // The decisions carry the targets, so a service can route by name.
  const v1::Decision decision = server.Decide("orders", "u-0").decision();
  CHECK(decision.old_target() == "postgres-orders");
  CHECK(decision.new_target() == "dynamodb-orders");
  CHECK(decision.compare_sample_rate() == 1.0);
}

TEST_CASE("DecideBatch: items of several flags, unknown and archived ones "
          "among them, each get what Decide gives",
          "[daemon][decide]") {
  Server server;
  server.CreateOrdersAtLiveShare(50000);
  for (const std::string key : {"billing", "legacy"}) {
    v1::CreateFlagRequest create;
    create.mutable_flag()->set_key(key);
    create.mutable_flag()->set_old_target("mysql-" + key);
    create.mutable_flag()->set_new_target("spanner-" + key);
    create.mutable_flag()->set_enabled(true);
    create.mutable_flag()->mutable_default_serve()->set_stage(v1::DUALWRITE);
    REQUIRE(server.admin().CreateFlag(create).ok());
  }
  v1::ArchiveFlagRequest archive;
  archive.set_key("legacy");
  archive.set_force(true);
  REQUIRE(server.admin().ArchiveFlag(archive).ok());

  // Runs of one flag broken by others, a key no flag has, the archived
  // flag between two asks for the same live one.
  const std::vector<std::string> keys = {
      "orders", "orders", "billing", "orders", "nope",  "orders",
      "legacy", "orders", "legacy",  "billing", "nope", "nope"};
  v1::DecideBatchRequest request;
  for (size_t i = 0; i < keys.size(); ++i) {
    v1::DecideRequest* item = request.add_items();
    item->set_flag_key(keys[i]);
    item->mutable_context()->set_targeting_key("u-" + std::to_string(i));
  }
  absl::StatusOr<v1::DecideBatchResponse> batch =
      server.admin().DecideBatch(request);
  REQUIRE(batch.ok());
  const v1::DecideBatchResponse& response = *batch;
  REQUIRE(response.decisions_size() == static_cast<int>(keys.size()));
  for (size_t i = 0; i < keys.size(); ++i) {
    INFO("item " << i << ", flag " << keys[i]);
    const v1::Decision& batched = response.decisions(static_cast<int>(i));
    const v1::Decision alone =
        server.Decide(keys[i], "u-" + std::to_string(i)).decision();
    CHECK(batched.SerializeAsString() == alone.SerializeAsString());
    CHECK(batched.flag_key() == keys[i]);
    if (keys[i] == "nope" || keys[i] == "legacy") {
      CHECK(batched.reason() == v1::FLAG_NOT_FOUND);
    } else {
      CHECK(batched.reason() != v1::FLAG_NOT_FOUND);
    }
  }
  CHECK(response.decisions(2).stage() == v1::DUALWRITE);
}

TEST_CASE("DecideBatch: empty and oversize batches are INVALID_ARGUMENT",
          "[daemon][decide][limits]") {
  TempDir config_dir;
  const std::string config = config_dir.path() + "/cutoverd.yaml";
  WriteFile(config, "max_batch: 10\n");
  Server server({"--config", config});

  auto batch_status = [&](int items) {
    return server.admin().DecideBatch(UsersBatch("orders", 0, items)).status();
  };

  const absl::Status empty = batch_status(0);
  CHECK(empty.code() == absl::StatusCode::kInvalidArgument);
  CHECK(empty.message().rfind("items:", 0) == 0);

  const absl::Status at_limit = batch_status(10);
  CHECK(at_limit.code() == absl::StatusCode::kOk);

  const absl::Status over = batch_status(11);
  CHECK(over.code() == absl::StatusCode::kInvalidArgument);
  CHECK(over.message().rfind("items:", 0) == 0);

  SECTION("one bad item fails the whole batch and is named") {
    v1::DecideBatchRequest request = UsersBatch("orders", 0, 3);
    request.mutable_items(2)->clear_flag_key();
    const absl::StatusOr<v1::DecideBatchResponse> response =
        server.admin().DecideBatch(request);
    const absl::Status& status = response.status();
    CHECK(status.code() == absl::StatusCode::kInvalidArgument);
    CHECK(status.message().rfind("items[2].flag_key:", 0) == 0);
    CHECK_FALSE(response.ok());  // no decisions, not even some of them
  }
}

// The daemon parses each batch and builds its answer on an arena that
// starts in a pooled 512 KiB block (server/evaluation_service.cc): batches
// larger than the block, more at once than the pool keeps, must each get
// the answers to their own users.
TEST_CASE("DecideBatch: concurrent large batches each answer their own users",
          "[daemon][decide]") {
  Server server;
  server.CreateOrdersAtLiveShare(5000);
  constexpr int kCallers = 10;
  constexpr int kBatch = 6000;
  std::vector<absl::StatusOr<v1::DecideBatchResponse>> results(kCallers);
  std::vector<std::thread> callers;
  for (int c = 0; c < kCallers; ++c) {
    callers.emplace_back([&, c] {
      results[c] =
          server.admin().DecideBatch(UsersBatch("orders", c * kBatch, kBatch));
    });
  }
  for (auto& caller : callers) caller.join();
  std::vector<v1::DecideBatchResponse> responses(kCallers);
  for (int c = 0; c < kCallers; ++c) {
    INFO("caller " << c << ": " << results[c].status().message());
    REQUIRE(results[c].status().code() == absl::StatusCode::kOk);
    responses[c] = *results[c];
    REQUIRE(responses[c].decisions_size() == kBatch);
    int wrong = 0;
    for (int i = 0; i < kBatch; ++i) {
      const v1::Decision& decision = responses[c].decisions(i);
      const std::string user = "u-" + std::to_string(c * kBatch + i);
      if (decision.flag_key() != "orders" ||
          decision.bucket() != static_cast<int32_t>(BucketFor("orders", user))) {
        ++wrong;
      }
    }
    CHECK(wrong == 0);
  }
}

TEST_CASE("kill switch and archive", "[daemon][decide]") {
  Server server;
  server.CreateOrders();
  server.SetStage("orders", v1::DUALWRITE);
  {
    const v1::Decision decision = server.Decide("orders", "u-1").decision();
    REQUIRE(decision.stage() == v1::DUALWRITE);
    REQUIRE(decision.reason() == v1::DEFAULT);
    REQUIRE(decision.flag_version() == 2);
  }

  SECTION("SetEnabled false serves the data-safe fallback with DISABLED") {
    v1::SetEnabledRequest request;
    request.set_key("orders");
    request.set_enabled(false);
    const absl::StatusOr<v1::Flag> changed = server.admin().SetEnabled(request);
    REQUIRE(changed.status().code() == absl::StatusCode::kOk);
    const v1::Flag& flag = *changed;
    CHECK(flag.version() == 3);
    CHECK_FALSE(flag.enabled());

    // Nobody past dualwrite: old authoritative, new still written.
    const v1::Decision decision = server.Decide("orders", "u-1").decision();
    CHECK(decision.stage() == v1::DUALWRITE);
    CHECK(decision.reason() == v1::DISABLED);
    CHECK(decision.flag_version() == 3);
    CHECK(decision.reads().authoritative() == v1::OLD);
    CHECK(decision.reads().shadow() == v1::ORIGIN_NONE);
    CHECK(decision.writes().authoritative() == v1::OLD);
    CHECK(decision.writes().secondary() == v1::NEW);
  }

  SECTION("an archived flag is FLAG_NOT_FOUND") {
    v1::ArchiveFlagRequest request;
    request.set_key("orders");
    // Mid-migration, archiving needs force: askers get their own default.
    const absl::StatusOr<v1::Flag> refused =
        server.admin().ArchiveFlag(request);
    REQUIRE(refused.status().code() == absl::StatusCode::kFailedPrecondition);
    CHECK_THAT(std::string(refused.status().message()),
               Catch::Contains("serves users up to dualwrite"));
    request.set_force(true);
    const absl::StatusOr<v1::Flag> archived =
        server.admin().ArchiveFlag(request);
    REQUIRE(archived.status().code() == absl::StatusCode::kOk);
    CHECK(archived->archived());

    const v1::Decision decision = server.Decide("orders", "u-1").decision();
    CHECK(decision.stage() == v1::OFF);
    CHECK(decision.reason() == v1::FLAG_NOT_FOUND);
    CHECK(decision.flag_version() == 0);
  }
}

TEST_CASE("the gRPC health service says SERVING", "[daemon][health]") {
  Server server;
  // No generated health stub ships with the Debian packages: call the
  // method by name with an empty HealthCheckRequest (service "").
  grpc::GenericStub stub(server.admin().channel());
  grpc::ByteBuffer response;
  const grpc::Status status =
      testing::CallByName(stub, "/grpc.health.v1.Health/Check",
                          testing::EmptyRequest(), &response, kCallSeconds);
  INFO(status.error_message());
  REQUIRE(status.error_code() == grpc::StatusCode::OK);
  std::vector<grpc::Slice> slices;
  REQUIRE(response.Dump(&slices).ok());
  std::string bytes;
  for (const auto& slice : slices) {
    bytes.append(reinterpret_cast<const char*>(slice.begin()), slice.size());
  }
  // HealthCheckResponse{status: SERVING}: field 1, varint, value 1.
  CHECK(bytes == std::string("\x08\x01", 2));
}

TEST_CASE("a second cutoverd on the same data folder exits 1: locked",
          "[daemon][lifecycle]") {
  Server server;
  const RunResult second = RunProgram(
      {CutoverdPath(), "--auth", "none", "--data-dir", server.data_dir(),
       "--listen",
       "127.0.0.1:0", "--metrics-listen", "off"},
      20);
  INFO("stderr: " << second.err);
  CHECK(second.exit_code == 1);
  CHECK(second.err.find("locked") != std::string::npos);
  // The first one still serves.
  CHECK(server.Decide("orders", "u-1").decision().reason() ==
        v1::FLAG_NOT_FOUND);
}

TEST_CASE("a data folder of another schema version exits 1 naming it",
          "[daemon][lifecycle]") {
  TempDir dir;
  const std::string data = dir.path() + "/data";
  {
    DaemonProcess daemon(data);
    REQUIRE(daemon.Start());
    REQUIRE(daemon.Stop(SIGTERM) == 0);
  }
  {
    // What a later cutoverd would leave: schema_version 3 in "meta".
    rocksdb::DBOptions options;
    std::vector<std::string> names;
    REQUIRE(rocksdb::DB::ListColumnFamilies(options, data, &names).ok());
    std::vector<rocksdb::ColumnFamilyDescriptor> families;
    for (const auto& name : names) {
      families.emplace_back(name, rocksdb::ColumnFamilyOptions());
    }
    std::vector<rocksdb::ColumnFamilyHandle*> handles;
    rocksdb::DB* raw = nullptr;
    REQUIRE(rocksdb::DB::Open(options, data, families, &handles, &raw).ok());
    std::unique_ptr<rocksdb::DB> db(raw);
    rocksdb::WriteOptions sync;
    sync.sync = true;
    for (auto* handle : handles) {
      if (handle->GetName() == "meta") {
        REQUIRE(db->Put(sync, handle, "schema_version", "3").ok());
      }
    }
    for (auto* handle : handles) {
      REQUIRE(db->DestroyColumnFamilyHandle(handle).ok());
    }
    REQUIRE(db->Close().ok());
  }
  const RunResult run = RunProgram(
      {CutoverdPath(), "--auth", "none", "--data-dir", data, "--listen",
       "127.0.0.1:0",
       "--metrics-listen", "off"},
      20);
  INFO("stderr: " << run.err);
  CHECK(run.exit_code == 1);
  CHECK(run.err.find("schema version") != std::string::npos);
  CHECK(run.err.find("'3'") != std::string::npos);
}

TEST_CASE("a data folder holding something else exits 1 and is left alone",
          "[daemon][lifecycle]") {
  TempDir dir;
  SECTION("files that are not a RocksDB database") {
    const std::string notes = dir.path() + "/notes.txt";
    std::ofstream(notes) << "not a store\n";
    const RunResult run = RunProgram(
        {CutoverdPath(), "--auth", "none", "--data-dir", dir.path(),
         "--listen", "127.0.0.1:0",
         "--metrics-listen", "off"},
        20);
    INFO("stderr: " << run.err);
    CHECK(run.exit_code == 1);
    CHECK(run.err.find("holds no RocksDB database") != std::string::npos);
    CHECK_FALSE(std::ifstream(dir.path() + "/CURRENT").good());
  }
  SECTION("another program's RocksDB database") {
    {
      rocksdb::Options options;
      options.create_if_missing = true;
      rocksdb::DB* raw = nullptr;
      REQUIRE(rocksdb::DB::Open(options, dir.path(), &raw).ok());
      std::unique_ptr<rocksdb::DB> db(raw);
      REQUIRE(db->Put(rocksdb::WriteOptions(), "theirs", "1").ok());
      REQUIRE(db->Close().ok());
    }
    const RunResult run = RunProgram(
        {CutoverdPath(), "--auth", "none", "--data-dir", dir.path(),
         "--listen", "127.0.0.1:0",
         "--metrics-listen", "off"},
        20);
    INFO("stderr: " << run.err);
    CHECK(run.exit_code == 1);
    CHECK(run.err.find("not a cutover store") != std::string::npos);
    std::vector<std::string> names;
    REQUIRE(rocksdb::DB::ListColumnFamilies(rocksdb::DBOptions(), dir.path(),
                                            &names)
                .ok());
    CHECK(names == std::vector<std::string>{"default"});
  }
}

TEST_CASE("an unknown config key exits 2 and names the key",
          "[daemon][lifecycle][config]") {
  TempDir dir;
  const std::string config = dir.path() + "/cutoverd.yaml";
  WriteFile(config, "listn: x\n");
  const RunResult result = RunProgram(
      {CutoverdPath(), "--config", config, "--data-dir", dir.path() + "/data",
       "--listen", "127.0.0.1:0", "--metrics-listen", "off"},
      20);
  INFO("stderr: " << result.err);
  CHECK(result.exit_code == 2);
  CHECK(result.err.find("listn") != std::string::npos);
}

TEST_CASE("SIGTERM stops cleanly and a restart serves the same flag",
          "[daemon][lifecycle]") {
  Server server;
  server.CreateOrders();
  server.SetStage("orders", v1::DUALWRITE);
  const v1::Flag before = server.GetFlag("orders");
  REQUIRE(before.version() == 2);

  server.Disconnect();
  const int code = server.daemon().Stop(SIGTERM);
  INFO("cutoverd stderr:\n" << server.daemon().last_stderr());
  CHECK(code == 0);
  CHECK(server.daemon().last_stderr().find("stopped") != std::string::npos);

  REQUIRE(server.daemon().Start());
  server.Connect();
  const v1::Flag after = server.GetFlag("orders");
  CHECK(after.version() == before.version());
  CHECK(after.revision() == before.revision());
  CHECK(after.default_serve().stage() == v1::DUALWRITE);
  const v1::DecideResponse decided = server.Decide("orders", "u-1");
  CHECK(decided.decision().stage() == v1::DUALWRITE);
  CHECK(decided.decision().flag_version() == 2);
  CHECK(decided.revision() == before.revision());
}

TEST_CASE("the Prometheus endpoint serves cutover_store_revision",
          "[daemon][metrics]") {
  Server server;
  server.CreateOrders();
  REQUIRE(server.daemon().metrics_port() > 0);
  const std::string response =
      HttpGet(server.daemon().metrics_port(), "/metrics");
  INFO(response.substr(0, 2000));
  CHECK(response.rfind("HTTP/1.", 0) == 0);
  CHECK(response.find(" 200 ") != std::string::npos);
  CHECK(response.find("\ncutover_store_revision 1") != std::string::npos);
  CHECK(response.find("cutover_flags{state=\"active\"} 1") !=
        std::string::npos);
}

TEST_CASE("SIGTERM does not wait out the grace for a client that never reads",
          "[daemon][lifecycle]") {
  // gRPC's graceful shutdown sends each connection a GOAWAY and a ping and
  // waits for the answer; a client that never reads (here a raw socket
  // that only said hello; in life an idle channel between its 5 s polls, a
  // stopped process) held cutoverd for its whole grace. The daemon now
  // waits only for the calls in flight.
  TempDir config_dir;
  const std::string config = config_dir.path() + "/cutoverd.yaml";
  WriteFile(config, "shutdown_grace_seconds: 60\n");
  Server server({"--config", config});
  server.CreateOrders();
  server.Disconnect();

  const int fd = ConnectLoopback(server.daemon().port());
  REQUIRE(fd >= 0);
  // The HTTP/2 client preface and an empty SETTINGS frame, then silence.
  const std::string hello =
      std::string("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n") +
      std::string("\0\0\0\x04\0\0\0\0\0", 9);
  REQUIRE(send(fd, hello.data(), hello.size(), MSG_NOSIGNAL) ==
          static_cast<ssize_t>(hello.size()));
  // A call after the hello, on another connection: the server has taken the
  // silent one in by the time this is answered.
  server.Connect();
  CHECK(server.GetFlag("orders").version() == 1);
  server.Disconnect();

  const auto start = std::chrono::steady_clock::now();
  const int code = server.daemon().Stop(SIGTERM);  // waits at most 20 s
  const auto took = std::chrono::steady_clock::now() - start;
  close(fd);
  INFO("cutoverd stderr:\n" << server.daemon().last_stderr());
  CHECK(code == 0);
  CHECK(took < std::chrono::seconds(20));
  CHECK(server.daemon().last_stderr().find("stopped") != std::string::npos);
}

}  // namespace
}  // namespace cutover::testing
