// DecisionSource: anything that answers "which stage does this user get for
// this flag?", never failing and never throwing. cutover::Client is the
// real one; the Migrator asks through this interface so that it depends on
// the answer, not on how the answer is fetched.
//
// Implementations are thread-safe.
#ifndef CUTOVER_CLIENT_DECISION_SOURCE_H_
#define CUTOVER_CLIENT_DECISION_SOURCE_H_

#include <string_view>

#include "core/evaluate.h"
#include "core/model.h"

namespace cutover {

class DecisionSource {
 public:
  virtual ~DecisionSource() = default;
  // Always returns a decision: on any failure, the safe one (off, old
  // database), with a reason that says why.
  virtual Decision Decide(std::string_view flag_key,
                          const Context& context) noexcept = 0;
};

}  // namespace cutover

#endif  // CUTOVER_CLIENT_DECISION_SOURCE_H_
