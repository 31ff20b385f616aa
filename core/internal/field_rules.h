// The rules a flag's and a segment's fields follow, and how a broken one is
// reported: INVALID_ARGUMENT with the field's path first, as an API user
// spells it ("rules[1].clauses[0].values[2]: ..."). Shared by the
// compilation of flags, segments and clauses; not part of the core's public
// interface (core/evaluate.h is).
//
// Pure functions; thread-safe.
#ifndef CUTOVER_CORE_INTERNAL_FIELD_RULES_H_
#define CUTOVER_CORE_INTERNAL_FIELD_RULES_H_

#include <cstddef>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "core/stage.h"

namespace cutover::internal {

// INVALID_ARGUMENT "<path>: <problem>".
absl::Status FieldError(absl::string_view path, absl::string_view problem);
// "path[index]" and "path.field" (just "field" at the top).
std::string Indexed(absl::string_view path, size_t index);
std::string Child(absl::string_view path, absl::string_view field);
// A user value in a message: quoted, escaped and shortened to one line.
std::string Quote(absl::string_view value);

// [a-z0-9][a-z0-9._-]{0,max_length-1}: flag keys, segment keys, rule ids;
// KeyPattern spells the rule for messages.
bool IsKeyLike(absl::string_view s, size_t max_length);
std::string KeyPattern(size_t max_length);
// [A-Za-z0-9_.-]{1,64}: attribute names (clauses, bucket_by).
bool IsAttributeName(absl::string_view s);
std::string AttributePattern();
// [A-Za-z0-9_.:-]{1,64}: tags.
bool IsTag(absl::string_view s);
bool HasControlCharacter(absl::string_view s);

// FieldError unless `value` is at most `max_length` bytes.
absl::Status CheckMaxLength(absl::string_view path, absl::string_view value,
                            size_t max_length);
// FieldError unless `stage` is one of the six stages.
absl::Status CheckStage(absl::string_view path, Stage stage);

}  // namespace cutover::internal

#endif  // CUTOVER_CORE_INTERNAL_FIELD_RULES_H_
