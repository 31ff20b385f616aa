#include "cli/ramp_parse.h"

#include <optional>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/time.h"
#include "cli/parse.h"

namespace cutover::cli {
namespace {

absl::Status Bad(const std::string& option, const std::string& rule) {
  return absl::InvalidArgumentError(absl::StrCat(option, ": ", rule));
}

}  // namespace

absl::StatusOr<std::vector<v1::Serve>> ParseRampSteps(
    const std::string& text) {
  const std::string option = "--steps";
  std::vector<v1::Serve> steps;
  std::optional<v1::Stage> stage;  // the last stage named with a percentage
  for (const std::string& item : SplitList(text)) {
    std::string percent = item;
    if (item.find('=') != std::string::npos) {
      std::pair<std::string, std::string> kv =
          absl::StrSplit(item, absl::MaxSplits('=', 1));
      absl::StatusOr<v1::Stage> named = ParseStageArg(kv.first, option);
      if (!named.ok()) return named.status();
      if (*named == v1::OFF) {
        return Bad(option, absl::StrCat("'", item,
                                        "': off has no stage before it to "
                                        "share with"));
      }
      stage = *named;
      percent = kv.second;
    } else if (absl::StatusOr<v1::Stage> whole = ParseStageArg(item, option);
               whole.ok()) {
      steps.emplace_back().set_stage(*whole);
      stage.reset();
      continue;
    } else if (!stage.has_value()) {
      return Bad(option, absl::StrCat("'", item,
                                      "' is neither a stage nor a "
                                      "percentage after STAGE=PERCENT (e.g. "
                                      "live=1,5,25,100)"));
    }
    absl::StatusOr<uint32_t> weight = ParsePercent(percent);
    if (!weight.ok()) {
      return Bad(option, absl::StrCat("'", item, "': ",
                                      weight.status().message()));
    }
    if (*weight == 0 || *weight > 100000) {
      return Bad(option, absl::StrCat("'", item,
                                      "': the percentage must be above 0 "
                                      "and at most 100"));
    }
    v1::Serve& serve = steps.emplace_back();
    if (*weight == 100000) {
      serve.set_stage(*stage);
      continue;
    }
    v1::Split* at = serve.mutable_rollout()->add_splits();
    at->set_stage(*stage);
    at->set_weight(*weight);
    v1::Split* before = serve.mutable_rollout()->add_splits();
    before->set_stage(static_cast<v1::Stage>(*stage - 1));
    before->set_weight(100000 - *weight);
  }
  if (steps.empty()) return Bad(option, "at least one step");
  return steps;
}

absl::StatusOr<int64_t> ParseSeconds(const std::string& text,
                                     const std::string& option,
                                     int64_t min_seconds) {
  absl::Duration duration;
  if (!absl::ParseDuration(text, &duration) ||
      duration != absl::Seconds(absl::ToInt64Seconds(duration))) {
    return Bad(option, absl::StrCat("'", text,
                                    "' is not a duration of whole seconds "
                                    "like 90s, 30m or 1h30m"));
  }
  const int64_t seconds = absl::ToInt64Seconds(duration);
  if (seconds < min_seconds) {
    return Bad(option, absl::StrCat("'", text, "' must be at least ",
                                    min_seconds, "s"));
  }
  return seconds;
}

}  // namespace cutover::cli
