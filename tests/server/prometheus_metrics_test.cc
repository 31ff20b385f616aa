// Tests of PrometheusMetrics: the exposition text passes `promtool check
// metrics` (Debian's prometheus package, installed by the set-up script),
// names and label sets are the documented ones, counters only go up,
// histogram buckets are cumulative, and the scrape-time gauges follow the
// flags in a real FlagRegistry.
#include "server/prometheus_metrics.h"

#include <catch2/catch.hpp>
#include <unistd.h>

#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/match.h"
#include "convert/telemetry.h"
#include "cutover/v1/cutover.pb.h"
#include "server/api_edge.h"
#include "server/flag_registry.h"
#include "server/store.h"
#include "tests/integration/harness.h"
#include "tests/prometheus_text.h"

namespace cutover {
namespace {

using testing::Exposition;
using testing::Sample;
using testing::TempDir;

constexpr char kPromtool[] = "/usr/bin/promtool";

Exposition Parse(const std::string& text) {
  Exposition exposition;
  std::string bad;
  INFO("unparsable line: " << bad);
  REQUIRE(testing::ParseExposition(text, &exposition, &bad));
  return exposition;
}

// Every kind of count, with the values the assertions below expect.
void CountOnce(PrometheusMetrics& metrics) {
  metrics.CountDecisions("orders", Stage::kLive, Reason::kSplit, 1);
  metrics.CountDecisions("orders", Stage::kLive, Reason::kSplit, 1);
  metrics.CountDecisions("orders", Stage::kShadow, Reason::kSplit, 1);
  metrics.CountDecisions(kUnknownFlagLabel, Stage::kOff, Reason::kFlagNotFound, 1);
  metrics.CountClientDecisions("orders", Stage::kLive, Reason::kSplit, 40);
  metrics.CountClientDecisions(kUnknownFlagLabel, Stage::kOff,
                               Reason::kFlagNotFound, 6);
  metrics.ObserveDecideLatency(DecideRpc::kDecide, absl::Microseconds(30));
  metrics.ObserveDecideLatency(DecideRpc::kDecideBatch, absl::Milliseconds(2));
  metrics.ObserveBatchSize(100);
  metrics.CountWatchOpened(false, false);
  metrics.CountWatchOpened(true, false);
  metrics.CountWatchOpened(true, true);
  metrics.CountWatchEventSent(v1::WatchEvent::HEARTBEAT);
  metrics.CountAdminChange("orders", "stage");
  metrics.ObserveStoreWrite(absl::Milliseconds(3));
  metrics.CountAdminRejected("SetStage", absl::StatusCode::kFailedPrecondition);

  v1::MigrationOpCount ok;
  ok.set_flag_key("orders");
  ok.set_stage(v1::SHADOW);
  ok.set_op("read");
  ok.set_origin(v1::NEW);
  ok.set_result(v1::OK);
  ok.set_count(10);
  // 4 under 2 us, 6 under 512 us (bucket 9).
  ok.mutable_latency()->add_buckets(0);
  ok.mutable_latency()->add_buckets(4);
  for (int i = 2; i < 9; ++i) ok.mutable_latency()->add_buckets(0);
  ok.mutable_latency()->add_buckets(6);
  ok.mutable_latency()->set_sum_seconds(0.0025);
  metrics.CountMigrationOps(FromProto(ok));
  v1::MigrationOpCount failed = ok;
  failed.set_result(v1::FAILED);
  failed.set_count(1);
  failed.clear_latency();
  failed.mutable_latency()->add_buckets(1);
  metrics.CountMigrationOps(FromProto(failed));
  v1::MigrationOpCount compared = ok;
  compared.clear_latency();
  compared.set_result(v1::MATCH);
  compared.set_count(97);
  metrics.CountMigrationOps(FromProto(compared));
  compared.set_result(v1::MISMATCH);
  compared.set_count(3);
  metrics.CountMigrationOps(FromProto(compared));
  metrics.CountTelemetryRejected(2);
  metrics.CountClientDropped(5);
}

// Whether a TCP connection to 127.0.0.1:`port` is accepted.
bool Accepts(int port) {
  const int fd = testing::ConnectLoopback(port);
  if (fd >= 0) close(fd);
  return fd >= 0;
}

TEST_CASE("StopServing closes the endpoint, and again is a no-op") {
  // StopServing knocks on its own port to wake civetweb's listener (which
  // otherwise notices a stop only at its next 2 s poll); the endpoint must
  // still end up closed, and serving again must work.
  PrometheusMetrics metrics;
  REQUIRE(metrics.Serve("127.0.0.1:0").ok());
  const int port = metrics.port();
  REQUIRE(port > 0);
  CHECK(Accepts(port));
  metrics.StopServing();
  CHECK(metrics.port() == 0);
  CHECK_FALSE(Accepts(port));
  metrics.StopServing();
  REQUIRE(metrics.Serve("127.0.0.1:0").ok());
  CHECK(Accepts(metrics.port()));
}

TEST_CASE("the exposition text passes promtool check metrics") {
  PrometheusMetrics metrics;
  CountOnce(metrics);
  const std::string text = metrics.ExpositionText();
  const auto checked =
      testing::RunProgram({kPromtool, "check", "metrics"}, 60, text);
  INFO("promtool (Debian package prometheus) must be installed: "
       "scripts/install-deps.sh does it\n"
       << checked.out << checked.err);
  CHECK(checked.exit_code == 0);
}

TEST_CASE("metric names and label sets are the documented ones") {
  PrometheusMetrics metrics;
  CountOnce(metrics);
  const Exposition e = Parse(metrics.ExpositionText());

  // Every decision series, with its full label set: the daemon's own and
  // those clients reported, apart.
  std::map<std::string, double> decisions;
  for (const Sample& sample : e.samples) {
    if (sample.name == "cutover_decisions_total") {
      decisions[Exposition::Id(sample)] = sample.value;
    }
  }
  CHECK(decisions ==
        std::map<std::string, double>{
            {"cutover_decisions_total{flag=\"orders\",reason=\"SPLIT\","
             "stage=\"live\",where=\"daemon\",}",
             2},
            {"cutover_decisions_total{flag=\"orders\",reason=\"SPLIT\","
             "stage=\"shadow\",where=\"daemon\",}",
             1},
            {"cutover_decisions_total{flag=\"(unknown)\",reason=\"FLAG_NOT_"
             "FOUND\",stage=\"off\",where=\"daemon\",}",
             1},
            {"cutover_decisions_total{flag=\"orders\",reason=\"SPLIT\","
             "stage=\"live\",where=\"client\",}",
             40},
            {"cutover_decisions_total{flag=\"(unknown)\",reason=\"FLAG_NOT_"
             "FOUND\",stage=\"off\",where=\"client\",}",
             6}});
  CHECK(e.Value("cutover_decide_duration_seconds_count", {{"rpc", "Decide"}}) ==
        1);
  CHECK(e.Value("cutover_decide_duration_seconds_count",
                {{"rpc", "DecideBatch"}}) == 1);
  CHECK(e.Value("cutover_decide_batch_size_sum") == 100);
  CHECK(e.Value("cutover_watch_streams_total", {{"kind", "new"}}) == 1);
  CHECK(e.Value("cutover_watch_streams_total", {{"kind", "resume"}}) == 1);
  CHECK(e.Value("cutover_watch_streams_total", {{"kind", "resync"}}) == 1);
  CHECK(e.Value("cutover_watch_events_sent_total", {{"kind", "HEARTBEAT"}}) ==
        1);
  CHECK(e.Value("cutover_admin_changes_total",
                {{"flag", "orders"}, {"action", "stage"}}) == 1);
  CHECK(e.Value("cutover_admin_rejected_total",
                {{"method", "SetStage"}, {"code", "FAILED_PRECONDITION"}}) ==
        1);
  CHECK(e.Value("cutover_store_write_duration_seconds_count") == 1);
  const std::map<std::string, std::string> read_new_shadow = {
      {"flag", "orders"}, {"stage", "shadow"}, {"op", "read"},
      {"origin", "new"}};
  auto with = [](std::map<std::string, std::string> labels,
                 const char* key, const char* value) {
    labels[key] = value;
    return labels;
  };
  CHECK(e.Value("cutover_migration_ops_total",
                with(read_new_shadow, "result", "ok")) == 10);
  CHECK(e.Value("cutover_migration_ops_total",
                with(read_new_shadow, "result", "error")) == 1);
  CHECK(e.Value("cutover_migration_comparisons_total",
                {{"flag", "orders"}, {"stage", "shadow"}}) == 100);
  CHECK(e.Value("cutover_migration_mismatches_total",
                {{"flag", "orders"}, {"stage", "shadow"}}) == 3);
  const std::map<std::string, std::string> latency = {
      {"flag", "orders"}, {"op", "read"}, {"origin", "new"}};
  CHECK(e.Value("cutover_migration_op_duration_seconds_count", latency) == 11);
  CHECK(e.Value("cutover_migration_op_duration_seconds_sum", latency) ==
        Approx(0.0025));
  // Bucket 1 of the report (< 2 us) is le="2e-06"; bucket 9 le="0.000512".
  CHECK(e.Value("cutover_migration_op_duration_seconds_bucket",
                with(latency, "le", "2e-06")) == 5);
  CHECK(e.Value("cutover_migration_op_duration_seconds_bucket",
                with(latency, "le", "0.000512")) == 11);
  CHECK(e.Value("cutover_telemetry_rejected_total") == 2);
  CHECK(e.Value("cutover_telemetry_client_dropped_total") == 5);
  CHECK(e.Value("process_resident_memory_bytes").value_or(0) > 0);
  CHECK(e.Value("process_open_fds").value_or(0) > 0);
  CHECK(e.Value("process_start_time_seconds").value_or(0) > 1.6e9);
  CHECK(e.Value("cutover_build_info").value_or(0) == 1);

  // No label is ever a user id, and every family is named by convention.
  for (const Sample& sample : e.samples) {
    INFO(Exposition::Id(sample));
    CHECK(sample.labels.count("user") == 0);
    CHECK(sample.labels.count("targeting_key") == 0);
    const bool ours = absl::StartsWith(sample.name, "cutover_") ||
                      absl::StartsWith(sample.name, "process_") ||
                      absl::StartsWith(sample.name, "exposer_");
    CHECK(ours);
  }
  for (const auto& [name, type] : e.types) {
    INFO(name << " " << type);
    if (type == "counter") CHECK(absl::EndsWith(name, "_total"));
    if (absl::StrContains(name, "duration")) {
      CHECK(absl::EndsWith(name, "_seconds"));
    }
  }
}

TEST_CASE("counters only go up and histogram buckets are cumulative") {
  PrometheusMetrics metrics;
  CountOnce(metrics);
  const Exposition before = Parse(metrics.ExpositionText());
  CountOnce(metrics);
  const Exposition after = Parse(metrics.ExpositionText());

  std::map<std::string, double> earlier;
  for (const Sample& s : before.samples) earlier[Exposition::Id(s)] = s.value;
  int compared = 0;
  for (const Sample& s : after.samples) {
    auto it = earlier.find(Exposition::Id(s));
    const std::string family = s.name.substr(0, s.name.rfind('_'));
    const bool monotonic =
        (after.types.count(s.name) && after.types.at(s.name) == "counter") ||
        (after.types.count(family) && after.types.at(family) == "histogram");
    if (!monotonic || it == earlier.end()) continue;
    INFO(Exposition::Id(s));
    CHECK(s.value >= it->second);
    ++compared;
  }
  CHECK(compared > 30);

  // Within each histogram series, buckets never decrease with le, and the
  // +Inf bucket equals _count.
  std::map<std::string, std::vector<std::pair<double, double>>> series;
  for (const Sample& s : after.samples) {
    if (!absl::EndsWith(s.name, "_bucket")) continue;
    Sample key = s;
    key.labels.erase("le");
    series[Exposition::Id(key)].push_back(
        {std::strtod(s.labels.at("le").c_str(), nullptr), s.value});
  }
  REQUIRE(series.size() >= 5);
  for (auto& [id, buckets] : series) {
    INFO(id);
    std::sort(buckets.begin(), buckets.end());
    for (size_t i = 1; i < buckets.size(); ++i) {
      CHECK(buckets[i].second >= buckets[i - 1].second);
    }
    CHECK(std::isinf(buckets.back().first));
  }
  const std::map<std::string, std::string> decide = {{"rpc", "Decide"}};
  CHECK(after.Value("cutover_decide_duration_seconds_bucket",
                    {{"rpc", "Decide"}, {"le", "+Inf"}}) ==
        after.Value("cutover_decide_duration_seconds_count", decide));
}

TEST_CASE("a DecisionTally counts every decision, in runs or interleaved") {
  PrometheusMetrics metrics;
  const std::string orders = "orders";   // the labels are compared by
  const std::string billing = "billing";  // address, as snapshot keys are
  DecisionTally tally;
  const std::vector<std::pair<const std::string*, Stage>> decisions = {
      {&orders, Stage::kLive},    {&orders, Stage::kLive},
      {&orders, Stage::kShadow},  {&orders, Stage::kLive},
      {&billing, Stage::kLive},   {&orders, Stage::kLive},
      {&billing, Stage::kLive},   {&billing, Stage::kLive}};
  for (const auto& [flag, stage] : decisions) {
    tally.Add(*flag, stage, Reason::kSplit);
  }
  tally.Flush(metrics);
  tally.Flush(metrics);  // nothing left: counts nothing twice
  const Exposition text = Parse(metrics.ExpositionText());
  auto count = [&](const std::string& flag, const std::string& stage) {
    return text.Value("cutover_decisions_total", {{"flag", flag},
                                                  {"stage", stage},
                                                  {"reason", "SPLIT"},
                                                  {"where", "daemon"}});
  };
  CHECK(count("orders", "live") == 4);
  CHECK(count("orders", "shadow") == 1);
  CHECK(count("billing", "live") == 3);
}

TEST_CASE("flag gauges follow the store: stage, rollout shares, kill switch") {
  TempDir dir;
  PrometheusMetrics metrics;
  auto store = Store::Open(dir.path());
  REQUIRE(store.ok());
  auto registry = FlagRegistry::Open(*std::move(store), 100, &metrics);
  REQUIRE(registry.ok());
  metrics.WatchState(registry->get());
  const Caller caller{"test", "127.0.0.1:1"};

  v1::CreateFlagRequest create;
  v1::Flag* flag = create.mutable_flag();
  flag->set_key("orders");
  flag->set_old_target("postgres-orders");
  flag->set_new_target("dynamodb-orders");
  flag->set_enabled(true);
  flag->mutable_default_serve()->set_stage(v1::OFF);
  REQUIRE((*registry)->CreateFlag(ToCommand(create), caller).ok());
  v1::SetRolloutRequest rollout;
  rollout.set_key("orders");
  rollout.set_force(true);
  auto* live = rollout.mutable_rollout()->add_splits();
  live->set_stage(v1::LIVE);
  live->set_weight(5000);
  auto* shadow = rollout.mutable_rollout()->add_splits();
  shadow->set_stage(v1::SHADOW);
  shadow->set_weight(95000);
  REQUIRE((*registry)->SetRollout(ToCommand(rollout), caller).ok());

  Exposition e = Parse(metrics.ExpositionText());
  CHECK(e.Value("cutover_flag_stage", {{"flag", "orders"}}) == 4);
  CHECK(e.Value("cutover_flag_serve_share",
                {{"flag", "orders"}, {"stage", "live"}}) == Approx(0.05));
  CHECK(e.Value("cutover_flag_serve_share",
                {{"flag", "orders"}, {"stage", "shadow"}}) == Approx(0.95));
  CHECK(e.Value("cutover_flag_serve_share",
                {{"flag", "orders"}, {"stage", "off"}}) == 0);
  CHECK(e.Value("cutover_flag_version", {{"flag", "orders"}}) == 2);
  CHECK(e.Value("cutover_flag_enabled", {{"flag", "orders"}}) == 1);
  CHECK(e.Value("cutover_flag_info", {{"flag", "orders"},
                                      {"old_target", "postgres-orders"},
                                      {"new_target", "dynamodb-orders"}}) == 1);
  CHECK(e.Value("cutover_store_revision") == 2);
  CHECK(e.Value("cutover_flags", {{"state", "active"}}) == 1);
  // The registry counted its two commits.
  CHECK(e.Value("cutover_admin_changes_total",
                {{"flag", "orders"}, {"action", "create"}}) == 1);
  CHECK(e.Value("cutover_admin_changes_total",
                {{"flag", "orders"}, {"action", "rollout"}}) == 1);
  CHECK(e.Value("cutover_store_write_duration_seconds_count") == 2);

  v1::SetEnabledRequest kill;
  kill.set_key("orders");
  kill.set_enabled(false);
  REQUIRE((*registry)->SetEnabled(ToCommand(kill), caller).ok());
  e = Parse(metrics.ExpositionText());
  // The kill switch caps everyone at the data-safe dualwrite.
  CHECK(e.Value("cutover_flag_enabled", {{"flag", "orders"}}) == 0);
  CHECK(e.Value("cutover_flag_fallback_stage", {{"flag", "orders"}}) == 2);
  CHECK(e.Value("cutover_flag_stage", {{"flag", "orders"}}) == 2);
  CHECK(e.Value("cutover_flag_serve_share",
                {{"flag", "orders"}, {"stage", "dualwrite"}}) == 1);
  CHECK(e.Value("cutover_flag_database_stale",
                {{"flag", "orders"}, {"origin", "new"}}) == 0);

  // Back to off (dual-written users now skip new): new is stale.
  v1::RollbackRequest rollback;
  rollback.set_key("orders");
  rollback.set_to_stage(v1::OFF);
  REQUIRE((*registry)->Rollback(ToCommand(rollback), caller).ok());
  e = Parse(metrics.ExpositionText());
  CHECK(e.Value("cutover_flag_database_stale",
                {{"flag", "orders"}, {"origin", "new"}}) == 1);
  CHECK(e.Value("cutover_flag_database_stale",
                {{"flag", "orders"}, {"origin", "old"}}) == 0);

  metrics.StopServing();  // forgets the registry before it closes
  registry->reset();
  e = Parse(metrics.ExpositionText());
  CHECK_FALSE(e.Value("cutover_flag_stage", {{"flag", "orders"}}).has_value());
}

}  // namespace
}  // namespace cutover
