// The compiled forms behind CompiledFlag and CompiledSegment: a flag's rules,
// serves and clauses with their values in the shape evaluation needs (hash
// sets, RE2 programs, parsed numbers and versions, rollouts ordered most
// advanced stage first). Built by compilation (core/compile_flag.cc,
// core/segments.cc), read by Decide (core/evaluate.cc). Not part of the
// core's public interface.
//
// Immutable once built; share as const across threads (RE2 objects are
// thread-safe to match with).
#ifndef CUTOVER_CORE_INTERNAL_COMPILED_H_
#define CUTOVER_CORE_INTERNAL_COMPILED_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "core/bucketing.h"
#include "core/evaluate.h"
#include "core/internal/membership_index.h"
#include "core/internal/semver.h"
#include "core/model.h"
#include "re2/re2.h"

namespace cutover {
namespace internal {

// A clause ready to match: its values in the shape its operator needs.
// Only the members for `op` are filled.
struct CompiledClause {
  Operator op = Operator::kUnspecified;
  // Attribute "key" reads Context::targeting_key, not Context::attributes.
  bool reads_targeting_key = false;
  std::string attribute;
  // kIn, kNotIn: membership is one hash lookup however many values.
  absl::flat_hash_set<std::string> value_set;
  // kStartsWith, kEndsWith, kInSegment (segment keys): tried in order.
  std::vector<std::string> values;
  // kMatches: compiled once; RE2 objects are thread-safe to match with.
  std::vector<std::unique_ptr<const RE2>> patterns;
  // kNumber*: the single value.
  double number = 0;
  // kSemver*: the single value.
  SemVer semver;
};

// A serve ready to resolve: a single stage, or a rollout whose splits are
// ordered most advanced stage first (the bucket layout).
struct CompiledServe {
  bool is_rollout = false;
  Stage stage = Stage::kOff;
  Rollout rollout;
  // What a user without a bucket value gets: the rollout's least advanced
  // stage, the safest it serves.
  Stage unbucketed_stage = Stage::kOff;
};

// A rule ready to match; its id is the flag's rules[i].id. It matches when
// the user's ClauseBits (the flag's MembershipIndex) satisfy the masks and
// every clause left in `clauses` matches.
struct CompiledRule {
  // The clauses the flag's MembershipIndex did not take (not in / not_in,
  // or past its 64th), in their order.
  std::vector<CompiledClause> clauses;
  uint64_t must_list = 0;            // indexed in clauses
  uint64_t must_have_attribute = 0;  // indexed not_in clauses ...
  uint64_t must_not_list = 0;        // ... whose values must not list the user's
  CompiledServe serve;
};

}  // namespace internal

// What Decide reads besides the Flag itself: the rules and default serve in
// compiled form, and how to find the user's bucket value.
struct CompiledFlag::Internal {
  std::vector<internal::CompiledRule> rules;  // parallel to Flag::rules
  // The rules' in / not_in clauses, looked up once per decision.
  internal::MembershipIndex membership;
  // The first rule that needs no listing (must_list 0), rules.size() if
  // none: a user whom no indexed list names (the common case: a tenant in
  // none of the rules' lists) can match no rule before it, so Decide
  // starts there.
  size_t first_rule_without_list = 0;
  internal::CompiledServe default_serve;
  // BucketFor(flag key, ...) with the key hashed once.
  FlagBucketer bucketer;
  // bucket_by empty or "key": bucket by Context::targeting_key.
  bool buckets_by_targeting_key = true;
  std::string bucket_attribute;
  // bucket_attribute's number in `membership` when indexed clauses read it
  // (Probe then finds the user's value), else -1 (a lookup of its own).
  int bucket_attribute_number = -1;
  double compare_sample_rate = 1.0;
  // What a disabled flag serves at most (FallbackStage, core/currency.h).
  Stage fallback_stage = Stage::kOff;
};

// A segment's lists as hash sets (they may hold 100,000 keys each) and its
// clauses in compiled form.
struct CompiledSegment::Internal {
  absl::flat_hash_set<std::string> included;
  absl::flat_hash_set<std::string> excluded;
  std::vector<internal::CompiledClause> clauses;
};

}  // namespace cutover

#endif  // CUTOVER_CORE_INTERNAL_COMPILED_H_
