// What Prometheus metrics cost the Decide hot path, with and without them
// in the same run (Google Benchmark):
//
//   ./build/tests/bench/metrics_bench --benchmark_repetitions=5
//       --benchmark_report_aggregates_only=true   (one line)
//
// BM_DecideRpc: the Decide RPC over loopback gRPC against two in-process
// daemons, one serving /metrics (PrometheusMetrics) and one with metrics
// off (ServerMetrics, which counts nothing). This is what a service sees.
// BM_DecideBatchRpc: the same with 1000 users per DecideBatch call.
// BM_EvaluateBatchAndCount: a DecideBatch handler's work in-process, 1000
// decisions, with the tally and counting, or evaluation alone.
// BM_EvaluateAndCount: the in-process part alone, the core's Decide with
// and without what the handler adds for metrics (two clock reads, the
// decision counter, the latency histogram): the worst case, with no
// transport to hide behind.
#include <benchmark/benchmark.h>

#include <memory>
#include <string>
#include <vector>

#include "absl/time/clock.h"
#include "client/admin_client.h"
#include "core/evaluate.h"
#include "cutover/v1/cutover.pb.h"
#include "server/daemon.h"
#include "server/prometheus_metrics.h"
#include "tests/bench/orders_flag.h"
#include "tests/integration/harness.h"

namespace cutover {
namespace {

using testing::ConnectAdmin;
using testing::RunCli;
using testing::TempDir;

constexpr int kUsers = 10000;

// A daemon in this process with the flag "orders" at live 5% / shadow 95%.
struct DaemonUnderTest {
  explicit DaemonUnderTest(bool metrics) {
    DaemonConfig config;
    config.data_dir = dir.path() + "/data";
    config.listen = "127.0.0.1:0";
    config.metrics_listen = metrics ? "127.0.0.1:0" : "";
    config.auth.enabled = false;  // loopback benchmark
    auto started = Daemon::Start(config);
    if (!started.ok()) std::abort();
    daemon = *std::move(started);
    address = "127.0.0.1:" + std::to_string(daemon->grpc_port());
    for (const auto& args : std::vector<std::vector<std::string>>{
             {"flags", "create", "orders", "--old", "postgres-orders", "--new",
              "dynamodb-orders"},
             {"stage", "orders", "dualwrite"},
             {"stage", "orders", "shadow"},
             {"rollout", "orders", "live=5", "shadow=95"}}) {
      if (RunCli(address, args).exit_code != 0) std::abort();
    }
    client = ConnectAdmin(address);
  }
  TempDir dir;
  std::unique_ptr<Daemon> daemon;
  std::string address;
  std::unique_ptr<AdminClient> client;
};

// Started on first use; stopped by StopDaemons before exit.
std::unique_ptr<DaemonUnderTest> with_metrics, without_metrics;

DaemonUnderTest& Daemons(bool metrics) {
  auto& daemon = metrics ? with_metrics : without_metrics;
  if (daemon == nullptr) daemon = std::make_unique<DaemonUnderTest>(metrics);
  return *daemon;
}

void StopDaemons() {
  with_metrics.reset();
  without_metrics.reset();
}

void BM_DecideRpc(benchmark::State& state) {
  DaemonUnderTest& world = Daemons(state.range(0) == 1);
  v1::DecideRequest request;
  request.set_flag_key("orders");
  size_t i = state.thread_index() * 7919;
  for (auto _ : state) {
    request.mutable_context()->set_targeting_key(
        "user-" + std::to_string(i++ % kUsers));
    const absl::StatusOr<v1::DecideResponse> response =
        world.client->Decide(request);
    if (!response.ok()) {
      state.SkipWithError("Decide failed");
      break;
    }
    benchmark::DoNotOptimize(response->decision().stage());
  }
  state.SetItemsProcessed(state.iterations());
  state.SetLabel(state.range(0) == 1 ? "metrics on" : "metrics off");
}
BENCHMARK(BM_DecideRpc)
    ->ArgName("metrics")
    ->Arg(0)
    ->Arg(1)
    ->Threads(1)
    ->Threads(4)
    ->UseRealTime();

// DecideBatch of 1000 users: where per-decision costs would show.
void BM_DecideBatchRpc(benchmark::State& state) {
  DaemonUnderTest& world = Daemons(state.range(0) == 1);
  v1::DecideBatchRequest request;
  for (int i = 0; i < 1000; ++i) {
    v1::DecideRequest* item = request.add_items();
    item->set_flag_key("orders");
    item->mutable_context()->set_targeting_key("user-" + std::to_string(i));
  }
  for (auto _ : state) {
    const absl::StatusOr<v1::DecideBatchResponse> response =
        world.client->DecideBatch(request);
    if (!response.ok()) {
      state.SkipWithError("DecideBatch failed");
      break;
    }
    benchmark::DoNotOptimize(response->decisions_size());
  }
  state.SetItemsProcessed(state.iterations() * 1000);
  state.SetLabel(state.range(0) == 1 ? "metrics on" : "metrics off");
}
BENCHMARK(BM_DecideBatchRpc)
    ->ArgName("metrics")
    ->Arg(0)
    ->Arg(1)
    ->Threads(1)
    ->Threads(2)
    ->UseRealTime();

std::shared_ptr<const CompiledFlag> OrdersFlag() {
  return bench::CompiledOrdersFlag();
}

// A batch of 1000 decisions in-process, as DecideBatch's handler makes
// them: with metrics, tallied by kind and counted once per kind, plus the
// latency and batch-size observations.
void BM_EvaluateBatchAndCount(benchmark::State& state) {
  static const auto flag = OrdersFlag();
  static PrometheusMetrics* metrics = new PrometheusMetrics;
  static ServerMetrics* none = new ServerMetrics;
  static const std::string key = "orders";
  ServerMetrics* counting = state.range(0) == 1 ? metrics : none;
  const SegmentIndex segments;
  std::vector<Context> users;
  for (int i = 0; i < 1000; ++i) {
    users.push_back(Context{"user-" + std::to_string(i), {}});
  }
  for (auto _ : state) {
    const absl::Time start = absl::Now();
    DecisionTally tally;
    for (const Context& user : users) {
      const Decision d = Decide(*flag, segments, user);
      if (counting == metrics) tally.Add(key, d.stage, d.reason);
      benchmark::DoNotOptimize(d.stage);
    }
    tally.Flush(*counting);
    counting->ObserveBatchSize(1000);
    counting->ObserveDecideLatency(DecideRpc::kDecideBatch,
                                   absl::Now() - start);
  }
  state.SetItemsProcessed(state.iterations() * 1000);
  state.SetLabel(state.range(0) == 1 ? "metrics on" : "metrics off");
}
BENCHMARK(BM_EvaluateBatchAndCount)
    ->ArgName("metrics")
    ->Arg(0)
    ->Arg(1)
    ->Threads(1)
    ->Threads(2)
    ->UseRealTime();

void BM_EvaluateAndCount(benchmark::State& state) {
  static const auto flag = OrdersFlag();
  static PrometheusMetrics* metrics = new PrometheusMetrics;
  static ServerMetrics* none = new ServerMetrics;
  ServerMetrics* counting = state.range(0) == 1 ? metrics : none;
  const SegmentIndex segments;
  std::vector<Context> users;
  for (int i = 0; i < kUsers; ++i) {
    users.push_back(Context{"user-" + std::to_string(i), {}});
  }
  size_t i = state.thread_index() * 7919;
  for (auto _ : state) {
    const absl::Time start = absl::Now();
    const Decision d = Decide(*flag, segments, users[i++ % kUsers]);
    counting->CountDecisions("orders", d.stage, d.reason, 1);
    counting->ObserveDecideLatency(DecideRpc::kDecide, absl::Now() - start);
    benchmark::DoNotOptimize(d.stage);
  }
  state.SetItemsProcessed(state.iterations());
  state.SetLabel(state.range(0) == 1 ? "metrics on" : "metrics off");
}
BENCHMARK(BM_EvaluateAndCount)
    ->ArgName("metrics")
    ->Arg(0)
    ->Arg(1)
    ->Threads(1)
    ->Threads(2)
    ->UseRealTime();

}  // namespace
}  // namespace cutover

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  cutover::StopDaemons();
  benchmark::Shutdown();
  return 0;
}
