// Translates cutover flags to flagd flag-definition JSON (schema v0.2), for
// the flagd sync protocol (server/flagd_sync_service.h): in-process flagd
// providers evaluate the JSON themselves and must get exactly the stage
// Decide gives. So a flag is translated only when every construct it uses
// has an exact JsonLogic equivalent (docs/openfeature.md lists them);
// otherwise it is left out whole, with the reason, never approximated.
//
// Variants are the six stages (name -> name). Rules become an "if" chain in
// order, segments are inlined, rollouts become "fractional" on the flag key
// followed by the bucket value, splits listed most advanced stage first
// with cutover's weights, which is cutover's bucketing (docs/bucketing.md).
//
// Pure functions: thread-safe.
#ifndef CUTOVER_SERVER_FLAGD_TRANSLATE_H_
#define CUTOVER_SERVER_FLAGD_TRANSLATE_H_

#include <string>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "core/model.h"

namespace cutover {

struct FlagdPayload {
  // {"flags": {"<key>": {...}, ...}}
  std::string json;
  // Flags left out, with why ("rules[0].clauses[1]: op matches (RE2) has
  // no exact JsonLogic equivalent").
  std::vector<std::pair<std::string, std::string>> left_out;
};

// `flags`: the flags to translate (archived ones are skipped silently);
// `segments`: every segment by key.
FlagdPayload TranslateForFlagd(
    const std::vector<const Flag*>& flags,
    const absl::flat_hash_map<std::string, const Segment*>& segments);

}  // namespace cutover

#endif  // CUTOVER_SERVER_FLAGD_TRANSLATE_H_
