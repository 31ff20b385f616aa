// The flag the in-process benchmarks evaluate (core_bench, metrics_bench):
// "orders", enabled, live 5% / shadow 95% by default, with `rules` rules
// that no user of tenant "acme" matches (rule i: tenant in [t-i, t-ix],
// serve live), so that a decision tries every rule before the rollout.
#ifndef CUTOVER_TESTS_BENCH_ORDERS_FLAG_H_
#define CUTOVER_TESTS_BENCH_ORDERS_FLAG_H_

#include <cstdlib>
#include <memory>
#include <string>

#include "core/evaluate.h"

namespace cutover::bench {

inline std::shared_ptr<const CompiledFlag> CompiledOrdersFlag(int rules = 0) {
  Flag flag;
  flag.key = "orders";
  flag.old_target = "postgres-orders";
  flag.new_target = "dynamodb-orders";
  flag.enabled = true;
  flag.default_serve.rollout =
      Rollout{{{Stage::kLive, 5000}, {Stage::kShadow, 95000}}};
  for (int i = 0; i < rules; ++i) {
    Rule rule;
    rule.id = "rule-" + std::to_string(i);
    const std::string tenant = "t-" + std::to_string(i);
    rule.clauses.push_back(Clause{"tenant", Operator::kIn, {tenant, tenant + "x"}});
    rule.serve.stage = Stage::kLive;
    flag.rules.push_back(rule);
  }
  flag.version = 4;
  auto compiled = CompileFlag(flag);
  if (!compiled.ok()) std::abort();
  return *compiled;
}

}  // namespace cutover::bench

#endif  // CUTOVER_TESTS_BENCH_ORDERS_FLAG_H_
