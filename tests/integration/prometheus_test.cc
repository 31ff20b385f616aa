// cutoverd's metrics read through a real Prometheus server (Debian's
// prometheus package, installed by scripts/install-deps.sh): the daemon and
// a service using the client library are scraped every second on
// loopback; decisions and reported migration operations (with mismatches)
// are driven through cutover::Client and TelemetryReporter; Prometheus's
// HTTP query API must then give back the decisions by stage and the
// mismatch rate that were driven. The shipped alert rules are loaded into
// the same server, and every cutover_* metric that the alert rules and the
// Grafana dashboard use must be one the server actually scraped.
#include <catch2/catch.hpp>

#include <cctype>
#include <csignal>
#include <functional>
#include <fstream>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "client/client.h"
#include "client/telemetry_reporter.h"
#include "google/protobuf/struct.pb.h"
#include "google/protobuf/util/json_util.h"
#include "prometheus/exposer.h"
#include "prometheus/registry.h"
#include "re2/re2.h"
#include "tests/integration/harness.h"
#include "tests/integration/prometheus_server.h"

namespace cutover::testing {
namespace {

// The metric names (cutover_*) an alert rule file or dashboard uses, less
// the histogram suffixes.
std::set<std::string> CutoverMetricNames(const std::string& text) {
  std::set<std::string> names;
  static const re2::RE2 kName(R"(\b(cutover_[a-z0-9_]+))");
  re2::StringPiece input(text);
  std::string name;
  while (re2::RE2::FindAndConsume(&input, kName, &name)) {
    if (name.back() == '_') continue;  // a prefix in prose: "cutover_client_*"
    for (const char* suffix : {"_bucket", "_sum", "_count"}) {
      const std::string s = suffix;
      if (name.size() > s.size() &&
          name.compare(name.size() - s.size(), s.size(), s) == 0) {
        name.resize(name.size() - s.size());
      }
    }
    names.insert(name);
  }
  return names;
}

TEST_CASE("Prometheus scrapes the decisions and the mismatch rate driven") {
  INFO("the Debian package prometheus must be installed "
       "(scripts/install-deps.sh installs it)");
  REQUIRE(std::ifstream(kPrometheusPath).good());

  TempDir dir;
  DaemonProcess daemon(dir.path() + "/data");
  REQUIRE(daemon.Start());
  const std::string server = daemon.address();
  // A read replica of it: its metrics (cutover_replica_*) are scraped too.
  DaemonProcess replica(dir.path() + "/replica", {"--follow", server});
  REQUIRE(replica.Start());
  for (std::vector<std::string> args :
       {std::vector<std::string>{"flags", "create", "orders", "--old",
                                 "postgres-orders", "--new",
                                 "dynamodb-orders"},
        {"stage", "orders", "dualwrite"},
        {"stage", "orders", "shadow"},
        {"rollout", "orders", "live=30", "shadow=70"},
        // A guarded ramp, so that its series (alert rule, dashboard row)
        // are scraped: analysed at once, inconclusive for want of data.
        {"flags", "create", "billing", "--old", "postgres-billing", "--new",
         "dynamodb-billing"},
        {"stage", "billing", "dualwrite"},
        {"stage", "billing", "shadow"},
        {"ramp", "set", "billing", "--steps", "live=10,100", "--hold", "1h",
         "--max-mismatch-rate", "0.01"},
        {"ramp", "start", "billing"}}) {
    const RunResult r = RunCli(server, args);
    INFO(r.err);
    REQUIRE(r.exit_code == 0);
  }
  // One refused change, so the rejected-call counter exists.
  REQUIRE(RunCli(server, {"stage", "orders", "complete"}).exit_code == 2);

  // The service: a Client and a TelemetryReporter, their counters in the
  // service's own registry, served on its own /metrics.
  auto service_metrics = std::make_shared<prometheus::Registry>();
  ClientOptions options;
  options.server = server;
  options.decide_deadline = absl::Seconds(5);  // a loaded CI machine
  // Remote evaluation: every user is a Decide the daemon counts itself.
  options.evaluation = ClientOptions::Evaluation::kRemote;
  auto client = Client::Create(options);
  REQUIRE(client.ok());
  (*client)->RegisterMetrics(*service_metrics);
  TelemetryReporter::Options reporter_options;
  reporter_options.flush_interval = absl::Hours(1);  // flushed by the test
  TelemetryReporter reporter((*client)->channel(), reporter_options);
  reporter.RegisterMetrics(*service_metrics);
  prometheus::Exposer exposer("127.0.0.1:0");
  exposer.RegisterCollectable(service_metrics);
  const int service_port = exposer.GetListeningPorts().front();

  std::map<std::string, int> decided;  // stage -> users
  constexpr int kUsers = 400;
  for (int i = 0; i < kUsers; ++i) {
    const Decision d =
        (*client)->Decide("orders", Context{absl::StrCat("u-", i), {}});
    REQUIRE(d.reason == Reason::kSplit);
    decided[StageName(d.stage)] += 1;
  }
  REQUIRE(decided.size() == 2);  // both live and shadow users
  for (int i = 0; i < 3; ++i) {
    (*client)->Decide("no-such-flag", Context{absl::StrCat("u-", i), {}});
  }

  // One batch of comparisons before Prometheus starts and one after, each
  // with 7 mismatches in 100, so rate() over both has exactly that ratio.
  auto report_comparisons = [&reporter] {
    for (int i = 0; i < 100; ++i) {
      reporter.Record({"orders", Stage::kShadow, OpKind::kRead, Origin::kNew,
                       i < 7 ? OpResult::kMismatch : OpResult::kMatch,
                       absl::ZeroDuration()});
      reporter.Record({"orders", Stage::kShadow, OpKind::kRead, Origin::kOld,
                       OpResult::kOk, absl::Microseconds(300)});
      reporter.Record({"orders", Stage::kShadow, OpKind::kRead, Origin::kNew,
                       i < 2 ? OpResult::kFailed : OpResult::kOk,
                       absl::Microseconds(900)});
    }
    REQUIRE(reporter.Flush());
  };
  report_comparisons();

  PrometheusServer prometheus(dir.path());
  REQUIRE(prometheus.Start(
      {{"cutoverd", absl::StrCat("127.0.0.1:", daemon.metrics_port())},
       {"orders-service", absl::StrCat("127.0.0.1:", service_port)},
       {"cutoverd-replica",
        absl::StrCat("127.0.0.1:", replica.metrics_port())}},
      std::string(CUTOVER_SOURCE_DIR) + "/deploy/prometheus/alerts.yml"));
  INFO(prometheus.log());
  REQUIRE(prometheus.WaitReady());

  const std::string comparisons =
      "sum(cutover_migration_comparisons_total{flag=\"orders\"})";
  auto first = prometheus.QueryUntil(comparisons, [](const auto& r) {
    return r.size() == 1 && r.begin()->second == 100;
  });
  REQUIRE(first == std::map<std::string, double>{{"", 100}});
  report_comparisons();
  auto second = prometheus.QueryUntil(comparisons, [](const auto& r) {
    return r.size() == 1 && r.begin()->second == 200;
  });
  REQUIRE(second == std::map<std::string, double>{{"", 200}});

  {  // decisions by stage are the ones the client saw
    const auto by_stage = prometheus.QueryUntil(
        "sum by (stage) (cutover_decisions_total{flag=\"orders\"})",
        [&](const auto& r) {
          return r.size() == 2 && r.count("stage=live") &&
                 r.at("stage=live") == decided["live"];
        });
    CHECK(by_stage == std::map<std::string, double>{
                          {"stage=live", decided["live"]},
                          {"stage=shadow", decided["shadow"]}});
    // The unknown flag is counted without its key as a label.
    CHECK(prometheus.Query("sum(cutover_decisions_total{flag=\"(unknown)\","
                           "reason=\"FLAG_NOT_FOUND\"})") ==
          std::map<std::string, double>{{"", 3}});
    CHECK(prometheus.Query("cutover_decisions_total{flag=\"no-such-flag\"}")
              .empty());
    // The service's own counters: every user was a miss served by the
    // daemon.
    CHECK(prometheus.Query("sum(cutover_client_decisions_total{job=\"orders-"
                           "service\",source=\"daemon\"})") ==
          std::map<std::string, double>{{"", kUsers + 3}});
    CHECK(prometheus.Query("cutover_flag_serve_share{flag=\"orders\","
                           "stage=\"live\"}")
              .begin()
              ->second == Approx(0.3));
    // The primary's Watch streams: the service's and the replica's.
    CHECK(prometheus.Query("sum(cutover_watch_subscribers{job=\"cutoverd\"})") ==
          std::map<std::string, double>{{"", 2}});
  }

  {  // the mismatch rate, as the alert rule computes it
    const auto total = prometheus.Query(
        "sum(cutover_migration_mismatches_total{flag=\"orders\"}) / " +
        comparisons);
    REQUIRE(total.size() == 1);
    CHECK(total.begin()->second == Approx(0.07));
    const auto rate = prometheus.Query(
        "sum(rate(cutover_migration_mismatches_total{flag=\"orders\"}[1m])) / "
        "sum(rate(cutover_migration_comparisons_total{flag=\"orders\"}[1m]))");
    REQUIRE(rate.size() == 1);
    CHECK(rate.begin()->second == Approx(0.07).epsilon(1e-6));
    // The new database's error share: 2 of 100 reads per batch.
    const auto errors = prometheus.Query(
        "sum(cutover_migration_ops_total{flag=\"orders\",origin=\"new\","
        "result=\"error\"}) / sum(cutover_migration_ops_total{flag=\"orders\","
        "origin=\"new\"})");
    REQUIRE(errors.size() == 1);
    CHECK(errors.begin()->second == Approx(0.02));
    // p95 per origin, from the reported histograms: 300 us falls in the
    // bucket up to 512 us, 900 us in the one up to 1024 us.
    const auto p95 = prometheus.Query(
        "histogram_quantile(0.95, sum by (origin, le) "
        "(cutover_migration_op_duration_seconds_bucket{flag=\"orders\"}))");
    REQUIRE(p95.size() == 2);
    CHECK(p95.at("origin=old") <= 512e-6);
    CHECK(p95.at("origin=new") > 512e-6);
    CHECK(p95.at("origin=new") <= 1024e-6);
  }

  {  // the alert rules load; they and the dashboard use only metrics that
     // exist
    const auto rules = prometheus.GetJson("/api/v1/rules");
    const auto& groups = rules.fields()
                             .at("data")
                             .struct_value()
                             .fields()
                             .at("groups")
                             .list_value();
    CHECK(groups.values_size() >= 1);

    // Every name Prometheus has scraped from the targets.
    const auto names_json = prometheus.GetJson("/api/v1/label/__name__/values");
    std::set<std::string> scraped;
    for (const auto& v : names_json.fields().at("data").list_value().values()) {
      scraped.insert(v.string_value());
    }
    for (std::string name : std::vector<std::string>(scraped.begin(),
                                                     scraped.end())) {
      for (const char* suffix : {"_bucket", "_sum", "_count"}) {
        const std::string s = suffix;
        if (name.size() > s.size() &&
            name.compare(name.size() - s.size(), s.size(), s) == 0) {
          scraped.insert(name.substr(0, name.size() - s.size()));
        }
      }
    }
    for (const char* file : {"/deploy/prometheus/alerts.yml",
                             "/deploy/grafana/cutover-dashboard.json"}) {
      const std::string text = ReadText(std::string(CUTOVER_SOURCE_DIR) + file);
      REQUIRE(!text.empty());
      const auto used = CutoverMetricNames(text);
      CHECK(used.size() >= 3);
      for (const std::string& name : used) {
        INFO(file << " uses " << name);
        CHECK(scraped.count(name) == 1);
      }
    }
  }
}

}  // namespace
}  // namespace cutover::testing
