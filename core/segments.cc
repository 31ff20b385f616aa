// Segments, the named user groups of in_segment clauses: compiling one
// (its include and exclude lists as hash sets, its clauses compiled) and
// whether a user is in it.
#include <memory>
#include <utility>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "core/evaluate.h"
#include "core/internal/clauses.h"
#include "core/internal/compiled.h"
#include "core/internal/field_rules.h"
#include "core/limits.h"

namespace cutover {
namespace {

using internal::AllClausesMatch;
using internal::CheckMaxLength;
using internal::ClauseHome;
using internal::CompileClauses;
using internal::FieldError;
using internal::HasControlCharacter;
using internal::Indexed;
using internal::IsKeyLike;
using internal::KeyPattern;
using internal::Quote;

absl::Status CompileSegmentList(const std::vector<std::string>& entries,
                                const std::string& path,
                                absl::flat_hash_set<std::string>* out) {
  if (entries.size() > kMaxSegmentEntries) {
    return FieldError(
        path, absl::StrFormat("at most %d entries, got %d", kMaxSegmentEntries,
                              entries.size()));
  }
  out->reserve(entries.size());
  for (size_t i = 0; i < entries.size(); ++i) {
    const std::string& entry = entries[i];
    // Entries are targeting keys, which are non-empty and free of control
    // characters: anything else could never match and is a mistake.
    if (entry.empty()) return FieldError(Indexed(path, i), "must not be empty");
    if (absl::Status s =
            CheckMaxLength(Indexed(path, i), entry, kMaxValueLength);
        !s.ok()) {
      return s;
    }
    if (HasControlCharacter(entry)) {
      return FieldError(Indexed(path, i),
                        "must not contain control characters");
    }
    out->insert(entry);
  }
  return absl::OkStatus();
}

absl::StatusOr<std::shared_ptr<const CompiledSegment::Internal>>
CompileSegmentData(const Segment& segment) {
  auto internal = std::make_shared<CompiledSegment::Internal>();
  if (!IsKeyLike(segment.key, kMaxKeyLength)) {
    return FieldError(
        "key", absl::StrCat("must match ", KeyPattern(kMaxKeyLength), ", got ",
                            Quote(segment.key)));
  }
  if (absl::Status s = CheckMaxLength("description", segment.description,
                                      kMaxDescriptionLength);
      !s.ok()) {
    return s;
  }
  if (absl::Status s =
          CompileSegmentList(segment.included, "included", &internal->included);
      !s.ok()) {
    return s;
  }
  if (absl::Status s =
          CompileSegmentList(segment.excluded, "excluded", &internal->excluded);
      !s.ok()) {
    return s;
  }
  if (absl::Status s = CompileClauses(segment.clauses, "clauses",
                                      ClauseHome::kSegment, &internal->clauses);
      !s.ok()) {
    return s;
  }
  return internal;
}

}  // namespace

absl::StatusOr<std::shared_ptr<const CompiledSegment>> CompileSegment(
    Segment segment) {
  absl::StatusOr<std::shared_ptr<const CompiledSegment::Internal>> internal =
      CompileSegmentData(segment);
  if (!internal.ok()) return internal.status();
  return std::shared_ptr<const CompiledSegment>(
      std::make_shared<CompiledSegment>(std::move(segment),
                                        *std::move(internal)));
}

absl::Status ValidateSegment(const Segment& segment) {
  return CompileSegmentData(segment).status();
}

bool CompiledSegment::Contains(const Context& context) const {
  const Internal& internal = *internal_;
  // Lists name targeting keys; an empty key names nobody.
  if (!context.targeting_key.empty()) {
    if (internal.excluded.contains(context.targeting_key)) return false;
    if (internal.included.contains(context.targeting_key)) return true;
  }
  return !internal.clauses.empty() &&
         AllClausesMatch(internal.clauses, /*segments=*/nullptr, context);
}

}  // namespace cutover
