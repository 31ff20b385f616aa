// Comparing the shares of users a flag serves before and after a change,
// as the gates and the currency checks both do. A rule is found again only
// by the same id and the same clauses, so that a new or re-targeted rule
// counts as moving all of its users. Not part of the core's public
// interface.
//
// Pure functions; thread-safe.
#ifndef CUTOVER_CORE_INTERNAL_SHARES_H_
#define CUTOVER_CORE_INTERNAL_SHARES_H_

#include "core/model.h"

namespace cutover::internal {

// The rule of `before` with `rule`'s id and the same clauses; nullptr if
// there is none, or if `before` is nullptr (a new flag).
const Rule* SameRuleIn(const Flag* before, const Rule& rule);

}  // namespace cutover::internal

#endif  // CUTOVER_CORE_INTERNAL_SHARES_H_
