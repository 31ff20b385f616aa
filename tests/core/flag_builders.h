// Small builders of core model values for the core tests: a serve of one
// stage, a rollout serve, and a flag "orders" serving a default and rules.
#ifndef CUTOVER_TESTS_CORE_FLAG_BUILDERS_H_
#define CUTOVER_TESTS_CORE_FLAG_BUILDERS_H_

#include <string>
#include <utility>
#include <vector>

#include "core/model.h"

namespace cutover {

inline Serve StageServe(Stage stage) {
  Serve serve;
  serve.stage = stage;
  return serve;
}

inline Serve RolloutServe(std::vector<Split> splits) {
  Serve serve;
  serve.rollout = Rollout{std::move(splits)};
  return serve;
}

// Flag "orders" (pg -> dynamo, enabled) with `default_serve`, and one rule
// "rule-N" (region in [eu]) per entry of `rule_serves`.
inline Flag FlagServing(Serve default_serve,
                        std::vector<Serve> rule_serves = {}) {
  Flag flag;
  flag.key = "orders";
  flag.old_target = "pg";
  flag.new_target = "dynamo";
  flag.enabled = true;
  flag.default_serve = std::move(default_serve);
  int n = 0;
  for (Serve& serve : rule_serves) {
    Rule rule;
    rule.id = "rule-" + std::to_string(++n);
    rule.clauses.push_back({"region", Operator::kIn, {"eu"}});
    rule.serve = std::move(serve);
    flag.rules.push_back(std::move(rule));
  }
  return flag;
}

}  // namespace cutover

#endif  // CUTOVER_TESTS_CORE_FLAG_BUILDERS_H_
