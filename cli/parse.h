// Parsers for the short forms cutoverctl accepts on its command line:
//
//   rollout  "live=5" "shadow=95"        percentages, up to 3 decimals
//   serve    "live"  or  "live=5,shadow=95"
//   clause   "tenant in acme,globex"     ATTRIBUTE OPERATOR VALUE[,VALUE...]
//            "in_segment internal"       (a segment needs no attribute)
//            "email matches ^.*@example\.com$"  (matches: one pattern, commas kept)
//   attrs    "tenant=acme"
//
// Errors are INVALID_ARGUMENT naming the option and what was wrong; they
// reach the user as one line with exit code 2.
//
// Pure functions; thread-safe.
#ifndef CUTOVER_CLI_PARSE_H_
#define CUTOVER_CLI_PARSE_H_

#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "cutover/v1/cutover.pb.h"

namespace cutover::cli {

// A stage name, any case: off, dualwrite, shadow, live, rampdown, complete.
// `option` names the argument in the error ("stage: 'x' is not one of...").
absl::StatusOr<v1::Stage> ParseStageArg(const std::string& text,
                                        const std::string& option = "stage");

// "5", "2.5", "0.125" -> thousandths of a percent (5000, 2500, 125).
absl::StatusOr<uint32_t> ParsePercent(const std::string& text);

// "stage=percent" items (also accepted comma-separated in one item); the
// percentages must add up to 100.
absl::StatusOr<v1::Rollout> ParseRolloutArgs(
    const std::vector<std::string>& items);

// A stage name or a rollout ("live=5,shadow=95").
absl::StatusOr<v1::Serve> ParseServeArg(const std::string& text);

absl::StatusOr<v1::Clause> ParseClauseArg(const std::string& text);

// "name=value" pairs.
absl::StatusOr<std::vector<std::pair<std::string, std::string>>>
ParseAttributeArgs(const std::vector<std::string>& items);

// "a,b,c" -> {"a","b","c"}, skipping empty items and trimming spaces.
std::vector<std::string> SplitList(const std::string& text);

// Formats thousandths of a percent as a percentage: 5000 -> "5%",
// 2500 -> "2.5%".
std::string FormatPercent(uint32_t weight);

}  // namespace cutover::cli

#endif  // CUTOVER_CLI_PARSE_H_
