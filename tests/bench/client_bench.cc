// The client library's cache-hit Decide, and its local evaluation of a
// flag with 10 rules and a rollout, next to a bare absl::flat_hash_map
// lookup of the same key, in the same run (Google Benchmark).
//
//   ./build/tests/bench/client_bench --benchmark_min_time=1
//
// Starts a real cutoverd on loopback (temporary data folder) for the
// Client to fill its cache from; ends it before exiting. Results and the
// machine they came from go to docs/performance.md.
#include <benchmark/benchmark.h>

#include <signal.h>

#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "client/client.h"
#include "client/admin_client.h"
#include "client/decision_cache.h"
#include "core/stage.h"
#include "tests/integration/harness.h"

namespace cutover {
namespace {

using testing::DaemonProcess;
using testing::RunCli;
using testing::TempDir;

constexpr int kUsers = 10000;

std::vector<Context> Users() {
  std::vector<Context> users;
  for (int i = 0; i < kUsers; ++i) {
    users.push_back(Context{"user-" + std::to_string(i), {{"tenant", "acme"}}});
  }
  return users;
}

// The daemon and a warm client, shared by every benchmark in the process.
struct World {
  World() : daemon(dir.path() + "/data") {
    if (!daemon.Start()) std::abort();
    for (const auto& args : std::vector<std::vector<std::string>>{
             {"flags", "create", "orders", "--old", "postgres-orders", "--new",
              "dynamodb-orders"},
             {"stage", "orders", "dualwrite"},
             {"stage", "orders", "shadow"},
             {"rollout", "orders", "live=5", "shadow=95"}}) {
      if (RunCli(daemon.address(), args).exit_code != 0) Fail("cutoverctl");
    }
    ClientOptions options;
    options.server = daemon.address();
    options.decide_deadline = absl::Seconds(1);
    options.cache_ttl = absl::Hours(1);
    client = *Client::Create(options);
    users = Users();
    client->Prefetch("orders", users);
    // A flag with 10 rules none of the users match, and a rollout, for
    // the local client to evaluate in full.
    v1::ApplyRequest file;
    v1::Flag* local = file.add_flags();
    local->set_key("ten-rules");
    local->set_old_target("postgres-orders");
    local->set_new_target("dynamodb-orders");
    local->set_enabled(true);
    local->set_bucket_by("tenant");
    for (int r = 0; r < 10; ++r) {
      v1::Rule* rule = local->add_rules();
      v1::Clause* clause = rule->add_clauses();
      clause->set_attribute("tenant");
      clause->set_op(v1::IN);
      clause->add_values("tenant-" + std::to_string(r));
      rule->mutable_serve()->set_stage(v1::DUALWRITE);
    }
    for (const auto& [stage, weight] :
         {std::pair{v1::DUALWRITE, 95000u}, std::pair{v1::OFF, 5000u}}) {
      v1::Split* split =
          local->mutable_default_serve()->mutable_rollout()->add_splits();
      split->set_stage(stage);
      split->set_weight(weight);
    }
    const absl::Status applied =
        testing::ConnectAdmin(daemon.address())->Apply(file).status();
    if (!applied.ok()) Fail(applied.ToString());
    options.evaluation = ClientOptions::Evaluation::kLocal;
    local_client = *Client::Create(options);
    if (!local_client->watch_synced()) Fail("the local client did not sync");
  }
  // Ends the daemon (abort runs no destructors), then the process.
  [[noreturn]] void Fail(const std::string& why) {
    std::fprintf(stderr, "client_bench: %s\n", why.c_str());
    daemon.Stop(SIGTERM);
    std::abort();
  }

  TempDir dir;
  DaemonProcess daemon;
  std::unique_ptr<Client> client;
  std::unique_ptr<Client> local_client;  // kLocal, synced
  std::vector<Context> users;
};

World& TheWorld() {
  static World world;  // its destructor ends the daemon at exit
  return world;
}

// Reference: one lookup in a flat_hash_map holding the same keys and
// decisions, key already built (the least any cache can do).
void BM_FlatHashMapLookup(benchmark::State& state) {
  static const auto* map = [] {
    auto* map = new absl::flat_hash_map<std::string, Decision>();
    for (const auto& user : Users()) {
      Decision d;
      d.flag_key = "orders";
      d.old_target = "postgres-orders";
      d.new_target = "dynamodb-orders";
      std::string key;
      DecisionCache::AppendKey("orders", user, key);
      (*map)[key] = d;
    }
    return map;
  }();
  std::vector<std::string> keys;
  for (const auto& user : Users()) {
    keys.emplace_back();
    DecisionCache::AppendKey("orders", user, keys.back());
  }
  size_t i = state.thread_index() * 7919;
  for (auto _ : state) {
    auto it = map->find(keys[i++ % keys.size()]);
    benchmark::DoNotOptimize(it->second.stage);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_FlatHashMapLookup)->Threads(1)->Threads(2)->Threads(8)->UseRealTime();

// The floor of any Decide that returns a Decision: a copy of a decision
// for the 10-rule flag (flag key, targets: short strings) into a new
// Decision, then its destruction, as a caller's `Decision d = ...` does.
// A cache hit pays it too.
void BM_DecisionCopy(benchmark::State& state) {
  Decision source;
  source.flag_key = "ten-rules";
  source.old_target = "postgres-orders";
  source.new_target = "dynamodb-orders";
  source.stage = Stage::kDualWrite;
  source.plan = PlanFor(Stage::kDualWrite);
  source.reason = Reason::kSplit;
  source.bucket = 4242;
  for (auto _ : state) {
    benchmark::DoNotOptimize(source);
    Decision d = source;
    benchmark::DoNotOptimize(d.stage);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_DecisionCopy)->Threads(1)->Threads(2)->UseRealTime();

// The cache alone: DecisionCache::Get of a stored decision (what a
// Client::Decide hit does besides counting and the reason).
void BM_DecisionCacheGet(benchmark::State& state) {
  static const auto* cache = [] {
    auto* cache = new DecisionCache(DecisionCache::Options{});
    Decision d;
    d.flag_key = "orders";
    d.old_target = "postgres-orders";
    d.new_target = "dynamodb-orders";
    for (const auto& user : Users()) cache->Put("orders", user, d, 1);
    return cache;
  }();
  static const std::vector<Context> users = Users();
  size_t i = state.thread_index() * 7919;
  for (auto _ : state) {
    Decision d;
    auto hit = cache->Get("orders", users[i++ % kUsers], d);
    benchmark::DoNotOptimize(hit.state);
    benchmark::DoNotOptimize(d.stage);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_DecisionCacheGet)->Threads(1)->Threads(2)->Threads(8)->UseRealTime();

// Client::Decide answered from the cache (every user prefetched).
void BM_ClientDecideCacheHit(benchmark::State& state) {
  World& world = TheWorld();
  size_t i = state.thread_index() * 7919;
  for (auto _ : state) {
    Decision d = world.client->Decide("orders", world.users[i++ % kUsers]);
    benchmark::DoNotOptimize(d.stage);
  }
  state.SetItemsProcessed(state.iterations());
  if (state.thread_index() == 0) {
    const ClientStats stats = world.client->stats();
    state.counters["misses"] = static_cast<double>(stats.cache_misses);
  }
}
BENCHMARK(BM_ClientDecideCacheHit)->Threads(1)->Threads(2)->Threads(8)->UseRealTime();

// Client::Decide in local mode: the flag with 10 rules and a rollout
// evaluated from the synced state (no cache, no RPC).
void BM_ClientDecideLocal(benchmark::State& state) {
  World& world = TheWorld();
  size_t i = state.thread_index() * 7919;
  for (auto _ : state) {
    Decision d =
        world.local_client->Decide("ten-rules", world.users[i++ % kUsers]);
    benchmark::DoNotOptimize(d.stage);
  }
  state.SetItemsProcessed(state.iterations());
  if (state.thread_index() == 0) {
    const ClientStats stats = world.local_client->stats();
    state.counters["rpcs"] = static_cast<double>(stats.cache_misses);
  }
}
BENCHMARK(BM_ClientDecideLocal)->Threads(1)->Threads(2)->Threads(8)->UseRealTime();

// Client::DecideStage in local mode: the same evaluation of the same flag,
// the stage alone (the core's Verdict: no Decision, no string copied), as
// a request path that only routes asks. Compare with the map lookup,
// which also reads one stage.
void BM_ClientDecideStageLocal(benchmark::State& state) {
  World& world = TheWorld();
  size_t i = state.thread_index() * 7919;
  for (auto _ : state) {
    const Stage stage = world.local_client->DecideStage(
        "ten-rules", world.users[i++ % kUsers]);
    benchmark::DoNotOptimize(stage);
  }
  state.SetItemsProcessed(state.iterations());
  if (state.thread_index() == 0) {
    const ClientStats stats = world.local_client->stats();
    state.counters["rpcs"] = static_cast<double>(stats.cache_misses);
  }
}
BENCHMARK(BM_ClientDecideStageLocal)
    ->Threads(1)
    ->Threads(2)
    ->Threads(8)
    ->UseRealTime();

}  // namespace
}  // namespace cutover

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
