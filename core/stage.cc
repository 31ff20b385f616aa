#include "core/stage.h"

#include "absl/strings/match.h"
#include "absl/strings/string_view.h"

namespace cutover {

const char* StageName(Stage stage) {
  switch (stage) {
    case Stage::kUnspecified:
      return "unspecified";
    case Stage::kOff:
      return "off";
    case Stage::kDualWrite:
      return "dualwrite";
    case Stage::kShadow:
      return "shadow";
    case Stage::kLive:
      return "live";
    case Stage::kRampDown:
      return "rampdown";
    case Stage::kComplete:
      return "complete";
  }
  // A value outside the enum (e.g. cast from a newer wire value).
  return "unspecified";
}

std::optional<Stage> ParseStage(std::string_view name) {
  for (int i = static_cast<int>(kFirstStage); i <= static_cast<int>(kLastStage);
       ++i) {
    const Stage stage = static_cast<Stage>(i);
    // absl::string_view is its own type in Debian's Abseil build.
    if (absl::EqualsIgnoreCase(absl::string_view(name.data(), name.size()),
                               StageName(stage))) {
      return stage;
    }
  }
  return std::nullopt;
}

const char* OpKindName(OpKind op) {
  switch (op) {
    case OpKind::kWrite:
      return "write";
    case OpKind::kRepair:
      return "repair";
    case OpKind::kRead:
      break;
  }
  return "read";
}

std::optional<OpKind> ParseOpKind(std::string_view name) {
  for (OpKind op : {OpKind::kRead, OpKind::kWrite, OpKind::kRepair}) {
    if (name == OpKindName(op)) return op;
  }
  return std::nullopt;
}

const char* OriginName(Origin origin) {
  switch (origin) {
    case Origin::kNone:
      return "none";
    case Origin::kOld:
      return "old";
    case Origin::kNew:
      return "new";
  }
  return "none";
}

StagePlan PlanFor(Stage stage) {
  // The table of README.md, "The stages". Writes go to the
  // authoritative database first so that a failed secondary write never
  // loses the user's data.
  StagePlan plan;
  switch (stage) {
    case Stage::kUnspecified:
    case Stage::kOff:
      plan = {Origin::kOld, Origin::kNone, Origin::kOld, Origin::kNone};
      break;
    case Stage::kDualWrite:
      plan = {Origin::kOld, Origin::kNone, Origin::kOld, Origin::kNew};
      break;
    case Stage::kShadow:
      plan = {Origin::kOld, Origin::kNew, Origin::kOld, Origin::kNew};
      break;
    case Stage::kLive:
      plan = {Origin::kNew, Origin::kOld, Origin::kNew, Origin::kOld};
      break;
    case Stage::kRampDown:
      plan = {Origin::kNew, Origin::kNone, Origin::kNew, Origin::kOld};
      break;
    case Stage::kComplete:
      plan = {Origin::kNew, Origin::kNone, Origin::kNew, Origin::kNone};
      break;
  }
  return plan;
}

}  // namespace cutover
