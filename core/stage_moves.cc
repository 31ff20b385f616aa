#include "core/stage_moves.h"

#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace cutover {
namespace {

// The most advanced stage one serve can give a user. A weight-0 split
// serves nobody, so it does not count: keeping a stage's place in a rollout
// is not moving anyone to it.
Stage ServeReach(const Serve& serve) {
  Stage reach = kFirstStage;
  if (serve.stage.has_value() && IsStage(*serve.stage) &&
      *serve.stage > reach) {
    reach = *serve.stage;
  }
  if (serve.rollout.has_value()) {
    for (const Split& split : serve.rollout->splits) {
      if (split.weight > 0 && IsStage(split.stage) && split.stage > reach) {
        reach = split.stage;
      }
    }
  }
  return reach;
}

}  // namespace

Stage Reach(const Flag& flag) {
  Stage reach = ServeReach(flag.default_serve);
  for (const Rule& rule : flag.rules) {
    const Stage rule_reach = ServeReach(rule.serve);
    if (rule_reach > reach) reach = rule_reach;
  }
  return reach;
}

absl::Status CheckStageMove(const Flag* before, const Flag& after) {
  const Stage previous = before != nullptr ? Reach(*before) : Stage::kOff;
  const Stage next = Reach(after);
  if (static_cast<int>(next) <= static_cast<int>(previous) + 1) {
    return absl::OkStatus();  // one stage forward, or any move back
  }
  std::vector<const char*> skipped;
  for (int s = static_cast<int>(previous) + 1; s < static_cast<int>(next);
       ++s) {
    skipped.push_back(StageName(static_cast<Stage>(s)));
  }
  return absl::FailedPreconditionError(
      absl::StrCat("stage move from ", StageName(previous), " to ",
                   StageName(next), " skips ", absl::StrJoin(skipped, ", "),
                   "; move one stage at a time or force it"));
}

}  // namespace cutover
