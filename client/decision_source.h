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
  // Always returns a decision, with a reason that says how it was made.
  // When the source cannot reach its daemon it serves what the flag is
  // known to serve (cutover::Client: its synced state or cache, reason
  // STALE); off (old database only) only for a flag it has never seen.
  virtual Decision Decide(std::string_view flag_key,
                          const Context& context) noexcept = 0;
};

}  // namespace cutover

#endif  // CUTOVER_CLIENT_DECISION_SOURCE_H_
