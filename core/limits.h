// Size limits on every input the evaluation core accepts. Validation
// (CompileFlag, CompileSegment) enforces them so that one flag or segment
// can neither exhaust the daemon's memory nor make evaluation slow.
// Changing one is a compatibility decision: a stored flag that a smaller
// limit rejects can no longer be compiled.
#ifndef CUTOVER_CORE_LIMITS_H_
#define CUTOVER_CORE_LIMITS_H_

#include <cstddef>
#include <cstdint>

namespace cutover {

// Flag and segment keys: [a-z0-9][a-z0-9._-]{0,127}.
inline constexpr size_t kMaxKeyLength = 128;
// Rule ids: [a-z0-9][a-z0-9._-]{0,63}.
inline constexpr size_t kMaxRuleIdLength = 64;
// Clause attributes and bucket_by: [A-Za-z0-9_.-]{1,64}.
inline constexpr size_t kMaxAttributeLength = 64;
// Tags: [A-Za-z0-9_.:-]{1,64}.
inline constexpr size_t kMaxTagLength = 64;
inline constexpr size_t kMaxTagsPerFlag = 64;
// old_target and new_target.
inline constexpr size_t kMaxTargetLength = 128;
// Descriptions of flags, rules and segments.
inline constexpr size_t kMaxDescriptionLength = 1024;
inline constexpr size_t kMaxOwnerLength = 128;

inline constexpr size_t kMaxRulesPerFlag = 500;
// Per rule, and per segment.
inline constexpr size_t kMaxClausesPerRule = 100;
inline constexpr size_t kMaxValuesPerClause = 1000;
// One clause value, or one entry of a segment's included/excluded lists.
inline constexpr size_t kMaxValueLength = 256;
// Entries of a segment's included list, and of its excluded list, each.
inline constexpr size_t kMaxSegmentEntries = 100000;
// A flag's gates.min_samples.
inline constexpr int64_t kMaxMinSamples = 1000000000000;  // 10^12
// Steps of a ramp plan.
inline constexpr size_t kMaxRampSteps = 100;
// A ramp's PromQL query.
inline constexpr size_t kMaxPromqlLength = 4096;
// A backfill checkpoint's cursor (an opaque position of the driver's).
inline constexpr size_t kMaxBackfillCursorLength = 4096;
// The run_id a checkpoint names (StartBackfill makes 32 hex digits).
inline constexpr size_t kMaxBackfillRunIdLength = 64;

}  // namespace cutover

#endif  // CUTOVER_CORE_LIMITS_H_
