#include "core/internal/shares.h"

namespace cutover::internal {

const Rule* SameRuleIn(const Flag* before, const Rule& rule) {
  if (before == nullptr) return nullptr;
  for (const Rule& old : before->rules) {
    if (old.id == rule.id && SameClauses(old.clauses, rule.clauses)) {
      return &old;
    }
  }
  return nullptr;
}

}  // namespace cutover::internal
