// Clauses, the conditions of rules and segments: compiling them (each value
// checked and put in the shape its operator needs) and matching a user
// against them. Not part of the core's public interface.
//
// Pure functions; thread-safe.
#ifndef CUTOVER_CORE_INTERNAL_CLAUSES_H_
#define CUTOVER_CORE_INTERNAL_CLAUSES_H_

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "core/evaluate.h"
#include "core/internal/compiled.h"
#include "core/model.h"

namespace cutover::internal {

// Where a clause is, which decides whether in_segment may appear: segments
// may not nest, so that membership never recurses.
enum class ClauseHome { kRule, kSegment };

// Validates and compiles `clauses` (at `path`, e.g. "rules[0].clauses")
// into *out; INVALID_ARGUMENT names the first bad field.
absl::Status CompileClauses(const std::vector<Clause>& clauses,
                            const std::string& path, ClauseHome home,
                            std::vector<CompiledClause>* out);

// Whether every clause matches the user. `segments` is null inside a
// segment, where in_segment cannot occur.
bool AllClausesMatch(const std::vector<CompiledClause>& clauses,
                     const SegmentIndex* segments, const Context& context);

}  // namespace cutover::internal

#endif  // CUTOVER_CORE_INTERNAL_CLAUSES_H_
