// Parsers for `cutoverctl ramp set`'s short forms:
//
//   steps     "live=1,5,25,50,100"    a stage with a percentage: that share
//                                     gets the stage, the rest the stage
//                                     before it (live=5: live 5%, shadow
//                                     95%); a bare percentage repeats the
//                                     last stage named; 100 is the stage
//                                     alone
//             "shadow,live=5,100,rampdown"   a bare stage: everyone
//   duration  "30m", "90s", "1h30m"   whole seconds
//
// Errors are INVALID_ARGUMENT naming the option ("--steps: ...").
//
// Pure functions; thread-safe.
#ifndef CUTOVER_CLI_RAMP_PARSE_H_
#define CUTOVER_CLI_RAMP_PARSE_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "cutover/v1/cutover.pb.h"

namespace cutover::cli {

// The serves of "--steps" (see above), in order.
absl::StatusOr<std::vector<v1::Serve>> ParseRampSteps(const std::string& text);

// A duration of whole seconds, at least `min_seconds`, for `option`.
absl::StatusOr<int64_t> ParseSeconds(const std::string& text,
                                     const std::string& option,
                                     int64_t min_seconds = 0);

}  // namespace cutover::cli

#endif  // CUTOVER_CLI_RAMP_PARSE_H_
