// The rule for moving a flag between stages: forward one stage at a time,
// backward freely.
//
// A flag's "reach" is the most advanced stage any of its serves (default or
// rule, single stage or rollout share with weight > 0) can give a user. A
// change whose reach goes more than one stage past the previous reach skips
// a stage and is refused (FAILED_PRECONDITION naming the skipped stages)
// unless forced. A new flag is taken to come from off.
//
// Pure functions; thread-safe.
#ifndef CUTOVER_CORE_STAGE_MOVES_H_
#define CUTOVER_CORE_STAGE_MOVES_H_

#include "absl/status/status.h"
#include "core/model.h"
#include "core/stage.h"

namespace cutover {

// The most advanced stage a flag can serve (off for a disabled flag's
// configuration is NOT assumed: enabled is ignored, so re-enabling cannot
// jump stages).
Stage Reach(const Flag& flag);

// OK if `after` reaches at most one stage past `before` (or off, for a new
// flag: before == nullptr). FAILED_PRECONDITION otherwise, e.g.
// "stage move from off to live skips dualwrite, shadow; move one stage at a
// time or force it".
absl::Status CheckStageMove(const Flag* before, const Flag& after);

}  // namespace cutover

#endif  // CUTOVER_CORE_STAGE_MOVES_H_
