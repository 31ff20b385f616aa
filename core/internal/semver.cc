#include "core/internal/semver.h"

#include <algorithm>
#include <cmath>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"

namespace cutover::internal {
namespace {

// Reads a MAJOR, MINOR or PATCH number at the front of *text. Leading zeros
// are tolerated (semver forbids them, but app versions like "1.02.0" exist
// and their meaning is not in doubt).
bool ConsumeVersionNumber(absl::string_view* text, uint64_t* out) {
  constexpr size_t kMaxDigits = 18;  // fits in uint64_t without overflow
  size_t n = 0;
  uint64_t value = 0;
  while (n < text->size() &&
         absl::ascii_isdigit(static_cast<unsigned char>((*text)[n]))) {
    if (n == kMaxDigits) return false;
    value = value * 10 + static_cast<uint64_t>((*text)[n] - '0');
    ++n;
  }
  if (n == 0) return false;
  text->remove_prefix(n);
  *out = value;
  return true;
}

// Dot-separated non-empty identifiers of [0-9A-Za-z-], as semver requires
// of prerelease and build metadata.
bool IsDottedIdentifiers(absl::string_view s) {
  if (s.empty()) return false;
  bool identifier_empty = true;
  for (char c : s) {
    if (c == '.') {
      if (identifier_empty) return false;
      identifier_empty = true;
    } else if (absl::ascii_isalnum(static_cast<unsigned char>(c)) || c == '-') {
      identifier_empty = false;
    } else {
      return false;
    }
  }
  return !identifier_empty;
}

bool IsAllDigits(absl::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) {
    return absl::ascii_isdigit(static_cast<unsigned char>(c));
  });
}

int Sign(int x) { return (x > 0) - (x < 0); }

// One prerelease identifier against another (semver 2.0 §11.4): numeric ones
// numerically (by length after leading zeros, then digits, so any length
// works), numeric before alphanumeric, alphanumeric ones in ASCII order.
int CompareIdentifier(absl::string_view a, absl::string_view b) {
  const bool a_numeric = IsAllDigits(a);
  const bool b_numeric = IsAllDigits(b);
  if (a_numeric && b_numeric) {
    const auto strip_zeros = [](absl::string_view s) {
      while (s.size() > 1 && s[0] == '0') s.remove_prefix(1);
      return s;
    };
    a = strip_zeros(a);
    b = strip_zeros(b);
    if (a.size() != b.size()) return a.size() < b.size() ? -1 : 1;
    return Sign(a.compare(b));
  }
  if (a_numeric) return -1;
  if (b_numeric) return 1;
  return Sign(a.compare(b));
}

// Prerelease precedence: a release (empty) outranks any prerelease; else
// identifier by identifier, and a shorter list that is a prefix of a longer
// one ranks lower ("alpha" < "alpha.1").
int ComparePrerelease(absl::string_view a, absl::string_view b) {
  if (a.empty() || b.empty()) {
    return static_cast<int>(a.empty()) - static_cast<int>(b.empty());
  }
  while (true) {
    const size_t a_dot = a.find('.');
    const size_t b_dot = b.find('.');
    const int c = CompareIdentifier(a.substr(0, a_dot), b.substr(0, b_dot));
    if (c != 0) return c;
    const bool a_more = a_dot != absl::string_view::npos;
    const bool b_more = b_dot != absl::string_view::npos;
    if (!a_more || !b_more) {
      return static_cast<int>(a_more) - static_cast<int>(b_more);
    }
    a.remove_prefix(a_dot + 1);
    b.remove_prefix(b_dot + 1);
  }
}

}  // namespace

bool ParseNumber(absl::string_view text, double* out) {
  return absl::SimpleAtod(text, out) && std::isfinite(*out);
}

bool ParseSemVer(absl::string_view text, SemVerView* out) {
  if (!text.empty() && (text[0] == 'v' || text[0] == 'V')) {
    text.remove_prefix(1);
  }
  SemVerView version;
  if (!ConsumeVersionNumber(&text, &version.major)) return false;
  if (text.empty() || text[0] != '.') return false;
  text.remove_prefix(1);
  if (!ConsumeVersionNumber(&text, &version.minor)) return false;
  if (text.empty() || text[0] != '.') return false;
  text.remove_prefix(1);
  if (!ConsumeVersionNumber(&text, &version.patch)) return false;

  const size_t plus = text.find('+');
  if (plus != absl::string_view::npos) {
    if (!IsDottedIdentifiers(text.substr(plus + 1))) return false;
    text = text.substr(0, plus);
  }
  if (!text.empty()) {
    if (text[0] != '-') return false;
    text.remove_prefix(1);
    if (!IsDottedIdentifiers(text)) return false;
    version.prerelease = text;
  }
  *out = version;
  return true;
}

int CompareSemVer(const SemVerView& a, const SemVerView& b) {
  if (a.major != b.major) return a.major < b.major ? -1 : 1;
  if (a.minor != b.minor) return a.minor < b.minor ? -1 : 1;
  if (a.patch != b.patch) return a.patch < b.patch ? -1 : 1;
  return ComparePrerelease(a.prerelease, b.prerelease);
}

bool IsSemVerOperator(Operator op) {
  return op >= Operator::kSemverEq && op <= Operator::kSemverGe;
}

bool IsNumberOperator(Operator op) {
  return op >= Operator::kNumberEq && op <= Operator::kNumberGe;
}

// The outcome of a three-way comparison `c` (attribute against value) for
// one of the *_eq/_lt/_le/_gt/_ge operators.
bool ComparisonHolds(Operator op, int c) {
  switch (op) {
    case Operator::kSemverEq:
    case Operator::kNumberEq:
      return c == 0;
    case Operator::kSemverLt:
    case Operator::kNumberLt:
      return c < 0;
    case Operator::kSemverLe:
    case Operator::kNumberLe:
      return c <= 0;
    case Operator::kSemverGt:
    case Operator::kNumberGt:
      return c > 0;
    case Operator::kSemverGe:
    case Operator::kNumberGe:
      return c >= 0;
    default:
      return false;
  }
}

}  // namespace cutover::internal
