#include "core/internal/field_rules.h"

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "core/limits.h"

namespace cutover::internal {
namespace {

bool IsDigit(char c) { return c >= '0' && c <= '9'; }
bool IsLower(char c) { return c >= 'a' && c <= 'z'; }
bool IsUpper(char c) { return c >= 'A' && c <= 'Z'; }
bool IsAlnum(char c) { return IsDigit(c) || IsLower(c) || IsUpper(c); }

std::string StageForMessage(Stage stage) {
  if (stage == Stage::kUnspecified || IsStage(stage)) return StageName(stage);
  return absl::StrCat(static_cast<int>(stage));  // not a value of the enum
}

}  // namespace

// Every validation error is INVALID_ARGUMENT with the field path first, as an
// API user spells it ("rules[1].clauses[0].values[2]"), so a CLI or UI can
// point at the field.
absl::Status FieldError(absl::string_view path, absl::string_view problem) {
  return absl::InvalidArgumentError(absl::StrCat(path, ": ", problem));
}

std::string Indexed(absl::string_view path, size_t index) {
  return absl::StrCat(path, "[", index, "]");
}

std::string Child(absl::string_view path, absl::string_view field) {
  return path.empty() ? std::string(field) : absl::StrCat(path, ".", field);
}

// A user value in a message: quoted, escaped (it may hold anything) and
// shortened, so that an error message stays one readable line.
std::string Quote(absl::string_view value) {
  constexpr size_t kShown = 64;
  if (value.size() <= kShown) {
    return absl::StrCat("\"", absl::CHexEscape(value), "\"");
  }
  return absl::StrCat("\"", absl::CHexEscape(value.substr(0, kShown)), "\"...");
}

// [a-z0-9][a-z0-9._-]{0,max_length-1}: flag keys, segment keys, rule ids.
// Lowercase only, so keys never differ by case alone.
bool IsKeyLike(absl::string_view s, size_t max_length) {
  if (s.empty() || s.size() > max_length) return false;
  if (!IsLower(s[0]) && !IsDigit(s[0])) return false;
  for (char c : s) {
    if (!IsLower(c) && !IsDigit(c) && c != '.' && c != '_' && c != '-') {
      return false;
    }
  }
  return true;
}

std::string KeyPattern(size_t max_length) {
  return absl::StrFormat("[a-z0-9][a-z0-9._-]{0,%d}", max_length - 1);
}

// [A-Za-z0-9_.-]{1,64}: attribute names (clauses, bucket_by).
bool IsAttributeName(absl::string_view s) {
  if (s.empty() || s.size() > kMaxAttributeLength) return false;
  for (char c : s) {
    if (!IsAlnum(c) && c != '_' && c != '.' && c != '-') return false;
  }
  return true;
}

std::string AttributePattern() {
  return absl::StrFormat("[A-Za-z0-9_.-]{1,%d}", kMaxAttributeLength);
}

// [A-Za-z0-9_.:-]{1,64}: tags ("team:payments").
bool IsTag(absl::string_view s) {
  if (s.empty() || s.size() > kMaxTagLength) return false;
  for (char c : s) {
    if (!IsAlnum(c) && c != '_' && c != '.' && c != ':' && c != '-') {
      return false;
    }
  }
  return true;
}

bool HasControlCharacter(absl::string_view s) {
  for (char c : s) {
    const auto byte = static_cast<unsigned char>(c);
    if (byte < 0x20 || byte == 0x7f) return true;
  }
  return false;
}

absl::Status CheckMaxLength(absl::string_view path, absl::string_view value,
                            size_t max_length) {
  if (value.size() > max_length) {
    return FieldError(path, absl::StrFormat("at most %d bytes, got %d",
                                            max_length, value.size()));
  }
  return absl::OkStatus();
}

absl::Status CheckStage(absl::string_view path, Stage stage) {
  if (IsStage(stage)) return absl::OkStatus();
  return FieldError(path,
                    absl::StrCat("must be one of off, dualwrite, shadow, live, "
                                 "rampdown, complete, got ",
                                 StageForMessage(stage)));
}

}  // namespace cutover::internal
