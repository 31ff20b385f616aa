// The pure evaluation core (core/evaluate.h), ns per decision, next to a
// bare MurmurHash3 of the same key (core/bucketing.h) in the same run
// (Google Benchmark):
//
//   ./build/tests/bench/core_bench --benchmark_min_time=1
//
// BM_Decide/rules:N: a flag with N rules that do not match the user (each
// one clause "tenant in [t-<i>, t-<i>x]", the user is tenant "acme"), so
// every rule is tried, then the default rollout live 5% / shadow 95%
// buckets the user: the most work a decision of that flag can take.
// BM_MurmurHash3: MurmurHash3_x86_32 of flag key + targeting key, what
// bucketing hashes, alone. BM_BucketFor: the hash and the bucket.
#include <benchmark/benchmark.h>

#include <string>
#include <vector>

#include "core/bucketing.h"
#include "core/evaluate.h"
#include "tests/bench/orders_flag.h"

namespace cutover {
namespace {

constexpr int kUsers = 1024;  // a power of two: i & (kUsers - 1)

std::vector<Context> Users() {
  std::vector<Context> users;
  for (int i = 0; i < kUsers; ++i) {
    users.push_back(Context{"user-" + std::to_string(i), {{"tenant", "acme"}}});
  }
  return users;
}

void BM_Decide(benchmark::State& state) {
  const auto flag = bench::CompiledOrdersFlag(static_cast<int>(state.range(0)));
  const SegmentIndex segments;
  const std::vector<Context> users = Users();
  size_t i = 0;
  for (auto _ : state) {
    Decision d = Decide(*flag, segments, users[i++ & (kUsers - 1)]);
    benchmark::DoNotOptimize(d.stage);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_Decide)->ArgName("rules")->Arg(0)->Arg(10)->Arg(100);

void BM_MurmurHash3(benchmark::State& state) {
  std::vector<std::string> keys;
  for (const auto& user : Users()) keys.push_back("orders" + user.targeting_key);
  size_t i = 0;
  for (auto _ : state) {
    benchmark::DoNotOptimize(
        MurmurHash3_x86_32(keys[i++ & (kUsers - 1)], 0));
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_MurmurHash3);

void BM_BucketFor(benchmark::State& state) {
  const std::vector<Context> users = Users();
  size_t i = 0;
  for (auto _ : state) {
    benchmark::DoNotOptimize(
        BucketFor("orders", users[i++ & (kUsers - 1)].targeting_key));
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_BucketFor);

}  // namespace
}  // namespace cutover

BENCHMARK_MAIN();
