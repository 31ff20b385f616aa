// Comparing the shares of users a flag serves before and after a change,
// as the gates and the currency checks both do. A rule is found again only
// by the same id and the same clauses, so that a new or re-targeted rule
// counts as moving all of its users. Not part of the core's public
// interface.
//
// Pure functions; thread-safe.
#ifndef CUTOVER_CORE_INTERNAL_SHARES_H_
#define CUTOVER_CORE_INTERNAL_SHARES_H_

#include <cstdint>

#include "core/model.h"
#include "core/stage.h"

namespace cutover::internal {

// The share of users (thousandths of a percent, 0..kTotalWeight) that
// `serve` gives a stage for which `matches(stage)` holds.
template <typename StagePredicate>
uint32_t ShareWhere(const Serve& serve, StagePredicate matches) {
  if (serve.stage.has_value()) {
    return matches(*serve.stage) ? kTotalWeight : 0;
  }
  uint32_t share = 0;
  if (serve.rollout.has_value()) {
    for (const Split& split : serve.rollout->splits) {
      if (matches(split.stage)) share += split.weight;
    }
  }
  return share;
}

// The rule of `before` with `rule`'s id and the same clauses; nullptr if
// there is none, or if `before` is nullptr (a new flag).
const Rule* SameRuleIn(const Flag* before, const Rule& rule);

}  // namespace cutover::internal

#endif  // CUTOVER_CORE_INTERNAL_SHARES_H_
