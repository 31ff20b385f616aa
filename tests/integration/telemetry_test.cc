// The Telemetry API of the real cutoverd on loopback: malformed batches are
// refused whole with the bad field named, unknown and archived flags are
// counted as rejected, and what was reported shows, exactly, in
// Admin.GetFlagStatus and `cutoverctl status` (table, json, yaml),
// including a mismatch sent through the client's TelemetryReporter; the
// window comes from the daemon's config.
#include <catch2/catch.hpp>

#include <chrono>
#include <fstream>
#include <functional>
#include <memory>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/str_split.h"
#include "absl/time/time.h"
#include "client/admin_client.h"
#include "client/telemetry_reporter.h"
#include "cutover/v1/cutover.pb.h"
#include "google/protobuf/util/json_util.h"
#include "tests/integration/harness.h"
#include "yaml/yaml_message.h"

namespace cutover::testing {
namespace {

// A started daemon on a fresh folder with the flag "orders" in shadow, and
// an AdminClient for it.
class Server {
 public:
  explicit Server(std::vector<std::string> extra_args = {})
      : daemon_(dir_.path() + "/data", std::move(extra_args)) {
    const bool started = daemon_.Start();
    INFO("cutoverd stderr:\n" << daemon_.last_stderr());
    REQUIRE(started);
    admin_ = ConnectAdmin(daemon_.address(), absl::Seconds(10),
                          "telemetry-test");
    CreateFlag("orders", v1::SHADOW);
  }

  void CreateFlag(const std::string& key, v1::Stage stage) {
    v1::CreateFlagRequest request;
    v1::Flag* flag = request.mutable_flag();
    flag->set_key(key);
    flag->set_old_target("postgres-" + key);
    flag->set_new_target("dynamodb-" + key);
    flag->set_enabled(true);
    flag->mutable_default_serve()->set_stage(stage);
    request.set_force(true);
    const absl::Status status = admin_->CreateFlag(request).status();
    INFO(status.message());
    REQUIRE(status.ok());
  }

  void ArchiveFlag(const std::string& key) {
    v1::ArchiveFlagRequest request;
    request.set_key(key);
    const absl::Status status = admin_->ArchiveFlag(request).status();
    INFO(status.message());
    REQUIRE(status.ok());
  }

  // The report's status; `response` is set when it is OK.
  absl::Status Report(const v1::ReportMigrationOpsRequest& request,
                      v1::ReportMigrationOpsResponse* response) {
    absl::StatusOr<v1::ReportMigrationOpsResponse> answer =
        admin_->ReportMigrationOps(request);
    if (answer.ok()) *response = *std::move(answer);
    return answer.status();
  }

  v1::FlagStatus Status(const std::string& key) {
    v1::GetFlagStatusRequest request;
    request.set_key(key);
    absl::StatusOr<v1::FlagStatus> status = admin_->GetFlagStatus(request);
    INFO(status.status().message());
    REQUIRE(status.ok());
    return *std::move(status);
  }

  RunResult Ctl(const std::vector<std::string>& args) {
    return RunCli(daemon_.address(), args);
  }

  const AdminClient& admin() { return *admin_; }
  const std::shared_ptr<grpc::Channel>& channel() {
    return admin_->channel();
  }

 private:
  TempDir dir_;
  DaemonProcess daemon_;
  std::unique_ptr<AdminClient> admin_;
};

v1::MigrationOpCount Count(const std::string& flag, const std::string& op,
                           v1::Origin origin, v1::OpResult result,
                           uint64_t count, int latency_bucket = -1) {
  v1::MigrationOpCount c;
  c.set_flag_key(flag);
  c.set_stage(v1::SHADOW);
  c.set_op(op);
  c.set_origin(origin);
  c.set_result(result);
  c.set_count(count);
  if (latency_bucket >= 0) {
    for (int i = 0; i < latency_bucket; ++i)
      c.mutable_latency()->add_buckets(0);
    c.mutable_latency()->add_buckets(count);
  }
  return c;
}

// The whitespace-separated cells of the table row of (op, origin), or
// empty if there is none.
std::vector<std::string> Row(const std::string& table, const std::string& op,
                             const std::string& origin) {
  for (absl::string_view line : absl::StrSplit(table, '\n')) {
    std::vector<std::string> cells =
        absl::StrSplit(line, ' ', absl::SkipEmpty());
    if (cells.size() >= 2 && cells[0] == op && cells[1] == origin) {
      return cells;
    }
  }
  return {};
}

// The text after `label` on the line that starts with it ("" if none).
std::string Field(const std::string& table, const std::string& label) {
  for (absl::string_view line : absl::StrSplit(table, '\n')) {
    if (absl::StartsWith(line, label + " ")) {
      std::string rest(line.substr(label.size()));
      return rest.substr(rest.find_first_not_of(' '));
    }
  }
  return "";
}

TEST_CASE("a malformed batch is refused whole, naming the field",
          "[telemetry]") {
  Server server;
  struct Case {
    const char* name;
    std::function<void(v1::MigrationOpCount&)> spoil;
    const char* field;  // the error message starts with it
  };
  const std::vector<Case> cases = {
      {"empty flag key", [](auto& c) { c.clear_flag_key(); },
       "counts[1].flag_key: required"},
      {"long flag key", [](auto& c) { c.set_flag_key(std::string(129, 'a')); },
       "counts[1].flag_key: longer than 128 bytes"},
      {"no stage", [](auto& c) { c.set_stage(v1::STAGE_UNSPECIFIED); },
       "counts[1].stage:"},
      {"unknown stage",
       [](auto& c) { c.set_stage(static_cast<v1::Stage>(42)); },
       "counts[1].stage:"},
      {"no op", [](auto& c) { c.clear_op(); }, "counts[1].op:"},
      {"unknown op", [](auto& c) { c.set_op("delete"); }, "counts[1].op:"},
      {"upper-case op", [](auto& c) { c.set_op("READ"); }, "counts[1].op:"},
      {"no origin", [](auto& c) { c.set_origin(v1::ORIGIN_NONE); },
       "counts[1].origin:"},
      {"unknown origin",
       [](auto& c) { c.set_origin(static_cast<v1::Origin>(7)); },
       "counts[1].origin:"},
      {"no result", [](auto& c) { c.set_result(v1::OP_RESULT_UNSPECIFIED); },
       "counts[1].result:"},
      {"unknown result",
       [](auto& c) { c.set_result(static_cast<v1::OpResult>(9)); },
       "counts[1].result:"},
      {"comparison on old",
       [](auto& c) {
         c.set_result(v1::MISMATCH);
         c.set_origin(v1::OLD);
       },
       "counts[1].origin:"},
      {"27 latency buckets",
       [](auto& c) {
         c.mutable_latency()->clear_buckets();
         for (int i = 0; i < 27; ++i) c.mutable_latency()->add_buckets(1);
       },
       "counts[1].latency.buckets: more than 26 buckets"},
  };
  uint64_t refused_entries = 0;
  for (const auto& c : cases) {
    INFO(c.name);
    v1::ReportMigrationOpsRequest request;
    request.set_client("telemetry-test");
    request.set_dropped(11);
    *request.add_counts() = Count("orders", "read", v1::OLD, v1::OK, 5, 3);
    *request.add_counts() = Count("orders", "read", v1::NEW, v1::OK, 5, 3);
    *request.add_counts() = Count("orders", "read", v1::NEW, v1::MATCH, 5);
    c.spoil(*request.mutable_counts(1));
    v1::ReportMigrationOpsResponse response;
    const absl::Status status = server.Report(request, &response);
    CHECK(status.code() == absl::StatusCode::kInvalidArgument);
    CHECK_THAT(std::string(status.message()), Catch::StartsWith(c.field));
    refused_entries += 3;
    // Nothing from the batch was added, the valid entries included.
    const v1::FlagStatus flag_status = server.Status("orders");
    CHECK(flag_status.ops_size() == 0);
    CHECK(flag_status.compared() == 0);
    CHECK(flag_status.client_dropped() == 0);
    CHECK(flag_status.rejected_reports() == refused_entries);
  }

  SECTION("more than 10000 entries") {
    v1::ReportMigrationOpsRequest request;
    for (int i = 0; i < 10001; ++i) {
      *request.add_counts() = Count("orders", "write", v1::OLD, v1::OK, 1);
    }
    v1::ReportMigrationOpsResponse response;
    const absl::Status status = server.Report(request, &response);
    CHECK(status.code() == absl::StatusCode::kInvalidArgument);
    CHECK_THAT(std::string(status.message()),
               Catch::StartsWith("counts: 10001 entries, more than the limit "
                                 "of 10000"));
    const v1::FlagStatus flag_status = server.Status("orders");
    CHECK(flag_status.ops_size() == 0);
    CHECK(flag_status.rejected_reports() == refused_entries + 10001);

    // 10000 is allowed.
    request.mutable_counts()->RemoveLast();
    CHECK(server.Report(request, &response).ok());
    CHECK(response.accepted() == 10000);
    CHECK(server.Status("orders").ops(0).ok() == 10000);
  }
}

TEST_CASE("entries for unknown and archived flags are rejected, not errors",
          "[telemetry]") {
  Server server;
  server.CreateFlag("retired", v1::OFF);
  server.ArchiveFlag("retired");

  v1::ReportMigrationOpsRequest request;
  *request.add_counts() = Count("orders", "read", v1::OLD, v1::OK, 40, 9);
  *request.add_counts() = Count("nosuch", "read", v1::OLD, v1::OK, 7, 9);
  *request.add_counts() = Count("orders", "write", v1::OLD, v1::FAILED, 2, 12);
  *request.add_counts() = Count("retired", "read", v1::OLD, v1::OK, 3, 9);
  request.set_dropped(6);
  v1::ReportMigrationOpsResponse response;
  const absl::Status status = server.Report(request, &response);
  INFO(status.message());
  REQUIRE(status.ok());
  CHECK(response.accepted() == 2);
  CHECK(response.rejected() == 2);

  const v1::FlagStatus orders = server.Status("orders");
  REQUIRE(orders.ops_size() == 2);
  CHECK(orders.ops(0).op() == "read");
  CHECK(orders.ops(0).ok() == 40);
  CHECK(orders.ops(1).op() == "write");
  CHECK(orders.ops(1).errors() == 2);
  CHECK(orders.ops(1).error_rate() == 1.0);
  CHECK(orders.ops(1).p50_seconds() == 4096e-6);
  CHECK(orders.rejected_reports() == 2);
  CHECK(orders.client_dropped() == 6);

  // The archived flag still has a status, with nothing in it.
  const v1::FlagStatus retired = server.Status("retired");
  CHECK(retired.flag().archived());
  CHECK(retired.ops_size() == 0);

  // An empty batch is fine.
  v1::ReportMigrationOpsResponse empty;
  CHECK(server.Report(v1::ReportMigrationOpsRequest(), &empty).ok());
  CHECK(empty.accepted() == 0);
  CHECK(empty.rejected() == 0);
}

TEST_CASE("GetFlagStatus of an unknown flag is NOT_FOUND", "[telemetry]") {
  Server server;
  v1::GetFlagStatusRequest request;
  request.set_key("nosuch");
  CHECK(server.admin().GetFlagStatus(request).status().code() ==
        absl::StatusCode::kNotFound);

  const RunResult result = server.Ctl({"status", "nosuch"});
  CHECK(result.exit_code == 2);
  CHECK_THAT(result.err, Catch::Contains("NOT_FOUND"));
  CHECK(result.out.empty());
}

TEST_CASE("cutoverctl status shows what was reported", "[telemetry]") {
  Server server;
  v1::ReportMigrationOpsRequest request;
  request.set_client("orders-api/test");
  // Reads of old: 990 ok, 10 failed, all under 512 us.
  *request.add_counts() = Count("orders", "read", v1::OLD, v1::OK, 990, 9);
  *request.add_counts() = Count("orders", "read", v1::OLD, v1::FAILED, 10, 9);
  // Reads of new: 950 ok under 2.048 ms, 50 failed under 32.768 ms.
  *request.add_counts() = Count("orders", "read", v1::NEW, v1::OK, 950, 11);
  *request.add_counts() = Count("orders", "read", v1::NEW, v1::FAILED, 50, 15);
  // Writes: 100 ok on old, 98 ok and 2 failed on new, no latencies.
  *request.add_counts() = Count("orders", "write", v1::OLD, v1::OK, 100);
  *request.add_counts() = Count("orders", "write", v1::NEW, v1::OK, 98);
  *request.add_counts() = Count("orders", "write", v1::NEW, v1::FAILED, 2);
  // Comparisons: 993 matched, 7 did not.
  *request.add_counts() = Count("orders", "read", v1::NEW, v1::MATCH, 993);
  *request.add_counts() = Count("orders", "read", v1::NEW, v1::MISMATCH, 7);
  v1::ReportMigrationOpsResponse response;
  REQUIRE(server.Report(request, &response).ok());
  REQUIRE(response.accepted() == 9);

  SECTION("table") {
    const RunResult result = server.Ctl({"status", "orders"});
    INFO("stdout:\n" << result.out << "\nstderr:\n" << result.err);
    REQUIRE(result.exit_code == 0);
    CHECK(Field(result.out, "flag") == "orders (version 1)");
    CHECK(Field(result.out, "stage") == "shadow");
    CHECK(Field(result.out, "window") == "last 300 s");
    CHECK(Field(result.out, "compared") == "1000 reads");
    CHECK(Field(result.out, "mismatches") == "7 (mismatch rate 0.70%)");
    CHECK(Field(result.out, "rejected") == "0 reports (all flags)");
    using Cells = std::vector<std::string>;
    CHECK(Row(result.out, "OP", "ORIGIN") ==
          Cells{"OP", "ORIGIN", "OK", "ERRORS", "ERROR", "RATE", "P50", "P95"});
    CHECK(Row(result.out, "read", "old") ==
          Cells{"read", "old", "990", "10", "1.00%", "512us", "512us"});
    CHECK(Row(result.out, "read", "new") ==
          Cells{"read", "new", "950", "50", "5.00%", "2.05ms", "2.05ms"});
    CHECK(Row(result.out, "write", "old") ==
          Cells{"write", "old", "100", "0", "0.00%", "-", "-"});
    CHECK(Row(result.out, "write", "new") ==
          Cells{"write", "new", "98", "2", "2.00%", "-", "-"});
  }

  SECTION("json") {
    const RunResult result = server.Ctl({"status", "orders", "-o", "json"});
    INFO("stdout:\n" << result.out << "\nstderr:\n" << result.err);
    REQUIRE(result.exit_code == 0);
    v1::FlagStatus status;
    REQUIRE(
        google::protobuf::util::JsonStringToMessage(result.out, &status).ok());
    CHECK(status.flag().key() == "orders");
    CHECK(status.flag().default_serve().stage() == v1::SHADOW);
    CHECK(status.window_seconds() == 300);
    CHECK(status.compared() == 1000);
    CHECK(status.mismatches() == 7);
    CHECK(status.mismatch_rate() == 0.007);
    CHECK(status.rejected_reports() == 0);
    CHECK(status.client_dropped() == 0);
    REQUIRE(status.ops_size() == 4);
    struct Expected {
      const char* op;
      v1::Origin origin;
      uint64_t ok, errors;
      double error_rate, p50, p95;
    };
    const std::vector<Expected> expected = {
        {"read", v1::OLD, 990, 10, 0.01, 512e-6, 512e-6},
        // 950 of 1000 under 2.048 ms: the 950th (p95) too.
        {"read", v1::NEW, 950, 50, 0.05, 2048e-6, 2048e-6},
        {"write", v1::OLD, 100, 0, 0, 0, 0},
        {"write", v1::NEW, 98, 2, 0.02, 0, 0},
    };
    for (int i = 0; i < 4; ++i) {
      INFO("ops[" << i << "]");
      const auto& row = status.ops(i);
      const auto& want = expected[static_cast<size_t>(i)];
      CHECK(row.op() == want.op);
      CHECK(row.origin() == want.origin);
      CHECK(row.ok() == want.ok);
      CHECK(row.errors() == want.errors);
      CHECK(row.error_rate() == want.error_rate);
      CHECK(row.p50_seconds() == want.p50);
      CHECK(row.p95_seconds() == want.p95);
    }
  }

  SECTION("yaml") {
    const RunResult result = server.Ctl({"status", "orders", "-o", "yaml"});
    INFO("stdout:\n" << result.out << "\nstderr:\n" << result.err);
    REQUIRE(result.exit_code == 0);
    v1::FlagStatus status;
    const absl::Status parsed = YamlToMessage(result.out, &status);
    INFO(parsed.message());
    REQUIRE(parsed.ok());
    CHECK(status.mismatches() == 7);
    CHECK(status.compared() == 1000);
    REQUIRE(status.ops_size() == 4);
    CHECK(status.ops(1).errors() == 50);
  }
}

TEST_CASE("cutoverctl status without a flag shows every active flag",
          "[telemetry]") {
  Server server;
  v1::ReportMigrationOpsRequest request;
  *request.add_counts() = Count("orders", "read", v1::OLD, v1::OK, 990, 9);
  *request.add_counts() = Count("orders", "read", v1::OLD, v1::FAILED, 10, 9);
  *request.add_counts() = Count("orders", "read", v1::NEW, v1::OK, 950, 11);
  *request.add_counts() = Count("orders", "read", v1::NEW, v1::FAILED, 50, 15);
  *request.add_counts() = Count("orders", "read", v1::NEW, v1::MATCH, 993);
  *request.add_counts() = Count("orders", "read", v1::NEW, v1::MISMATCH, 7);
  v1::ReportMigrationOpsResponse response;
  REQUIRE(server.Report(request, &response).ok());
  for (std::vector<std::string> args :
       {std::vector<std::string>{"flags", "create", "payments", "--old", "pg",
                                 "--new", "ddb"},
        {"flags", "create", "retired", "--old", "pg", "--new", "ddb"},
        {"flags", "archive", "retired"}}) {
    const RunResult r = server.Ctl(args);
    INFO(r.err);
    REQUIRE(r.exit_code == 0);
  }

  RunResult result = server.Ctl({"status"});
  INFO("stdout:\n" << result.out << "\nstderr:\n" << result.err);
  REQUIRE(result.exit_code == 0);
  using Cells = std::vector<std::string>;
  CHECK(Row(result.out, "FLAG", "SERVE") ==
        Cells{"FLAG", "SERVE", "COMPARED", "MISMATCH", "RATE", "OLD", "ERRORS",
              "NEW", "ERRORS"});
  CHECK(Row(result.out, "orders", "shadow") ==
        Cells{"orders", "shadow", "1000", "0.70%", "1.00%", "5.00%"});
  CHECK(Row(result.out, "payments", "off") ==
        Cells{"payments", "off", "0", "-", "-", "-"});
  CHECK_THAT(result.out, !Catch::Contains("retired"));

  result = server.Ctl({"status", "-o", "json"});
  REQUIRE(result.exit_code == 0);
  v1::ListFlagStatusResponse list;
  REQUIRE(google::protobuf::util::JsonStringToMessage(result.out, &list).ok());
  REQUIRE(list.statuses_size() == 2);
  CHECK(list.statuses(0).flag().key() == "orders");
  CHECK(list.statuses(0).mismatches() == 7);
  CHECK(list.statuses(1).flag().key() == "payments");
}

TEST_CASE("cutoverctl status shows the rollout and the kill switch",
          "[telemetry]") {
  Server server;
  RunResult result = server.Ctl({"rollout", "orders", "live=5", "shadow=95"});
  INFO("stderr: " << result.err);
  REQUIRE(result.exit_code == 0);
  result = server.Ctl({"status", "orders"});
  REQUIRE(result.exit_code == 0);
  CHECK(Field(result.out, "rollout") == "live 5%, shadow 95%");
  CHECK(Field(result.out, "stage").empty());
  CHECK_THAT(result.out,
             Catch::Contains("no operations reported in the window"));

  REQUIRE(server.Ctl({"flags", "disable", "orders"}).exit_code == 0);
  result = server.Ctl({"status", "orders"});
  REQUIRE(result.exit_code == 0);
  CHECK(Field(result.out, "stage") == "DISABLED (kill switch: nobody past dualwrite)");
}

TEST_CASE("the window is configured by telemetry_window_seconds",
          "[telemetry]") {
  TempDir config_dir;
  const std::string path = config_dir.path() + "/cutoverd.yaml";
  {
    std::ofstream out(path);
    out << "telemetry_window_seconds: 60\ntelemetry_slots: 12\n";
  }
  Server server({"--config", path});
  CHECK(server.Status("orders").window_seconds() == 60);

  struct Case {
    const char* text;
    const char* message;
  };
  const std::vector<Case> bad = {
      {"telemetry_window_seconds: 0\n", "telemetry_window_seconds"},
      {"telemetry_window_seconds: ten\n", "telemetry_window_seconds"},
      {"telemetry_slots: 0\n", "telemetry_slots"},
      {"telemetry_slots: 10001\n", "telemetry_slots"},
  };
  for (const auto& c : bad) {
    INFO(c.text);
    {
      std::ofstream out(path, std::ios::trunc);
      out << c.text;
    }
    TempDir data;
    const RunResult result = RunProgram(
        {CutoverdPath(), "--config", path, "--data-dir", data.path() + "/d",
         "--listen", "127.0.0.1:0", "--metrics-listen", "off"},
        30);
    CHECK(result.exit_code == 2);
    CHECK_THAT(result.err, Catch::Contains(c.message));
  }
}

TEST_CASE("a mismatch recorded by the TelemetryReporter shows in status",
          "[telemetry]") {
  Server server;
  TelemetryReporter::Options options;
  options.flush_interval = absl::Hours(1);  // flushed by hand below
  options.client_name = "telemetry-test";
  TelemetryReporter reporter(server.channel(), options);
  for (int i = 0; i < 3; ++i) {
    reporter.Record({"orders", Stage::kShadow, OpKind::kRead, Origin::kOld,
                     OpResult::kOk, absl::Microseconds(300)});
    reporter.Record({"orders", Stage::kShadow, OpKind::kRead, Origin::kNew,
                     OpResult::kOk, absl::Microseconds(900)});
  }
  for (int i = 0; i < 2; ++i) {
    reporter.Record({"orders", Stage::kShadow, OpKind::kRead, Origin::kNew,
                     OpResult::kMatch, absl::ZeroDuration()});
  }
  // The forced mismatch.
  reporter.Record({"orders", Stage::kShadow, OpKind::kRead, Origin::kNew,
                   OpResult::kMismatch, absl::ZeroDuration()});
  REQUIRE(reporter.Flush());
  CHECK(reporter.stats().recorded == 9);
  CHECK(reporter.stats().dropped == 0);

  const RunResult result = server.Ctl({"status", "orders"});
  INFO("stdout:\n" << result.out << "\nstderr:\n" << result.err);
  REQUIRE(result.exit_code == 0);
  CHECK(Field(result.out, "compared") == "3 reads");
  CHECK(Field(result.out, "mismatches") == "1 (mismatch rate 33.33%)");
  using Cells = std::vector<std::string>;
  CHECK(Row(result.out, "read", "old") ==
        Cells{"read", "old", "3", "0", "0.00%", "512us", "512us"});
  CHECK(Row(result.out, "read", "new") ==
        Cells{"read", "new", "3", "0", "0.00%", "1.02ms", "1.02ms"});
}

}  // namespace
}  // namespace cutover::testing
