// A flag's in / not_in clauses merged into one hash index per attribute, so
// that Decide looks each attribute up in the context once and each value up
// once, however many rules test it. A flag with ten rules of the form
// "tenant in [...]" costs one attribute lookup and one hash lookup, not ten
// of each (tests/bench/core_bench, docs/performance.md).
//
// Building numbers the first 64 in / not_in clauses of the flag's rules
// (each gets a bit), moves their values from the clause into the index
// (value -> the bits of the clauses that list it) and takes them out of the
// rule's clause list: the rule keeps three masks instead (the in clauses
// that must contain the user's value, the not_in clauses whose attribute
// the user must have and whose values must not contain it). Clauses past
// the 64th, and every other operator, stay in the list and are matched as
// before. A rule matches when its masks hold and its remaining clauses all
// match: the same answer as matching every clause in turn, because clauses
// are pure and a rule is their conjunction.
//
// Immutable once built; shared as part of CompiledFlag::Internal.
#ifndef CUTOVER_CORE_INTERNAL_MEMBERSHIP_INDEX_H_
#define CUTOVER_CORE_INTERNAL_MEMBERSHIP_INDEX_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "core/model.h"

namespace cutover::internal {

struct CompiledRule;

// What a user's context says about the indexed clauses, one bit per clause.
struct ClauseBits {
  uint64_t present = 0;   // the user has the clause's attribute
  uint64_t contains = 0;  // the clause's values contain the user's value
};

class MembershipIndex {
 public:
  static constexpr size_t kMaxIndexedClauses = 64;

  // Indexes the in / not_in clauses of `rules` as described above, setting
  // each rule's masks and removing its indexed clauses.
  void Build(std::vector<CompiledRule>& rules);

  // The number of the indexed attribute `name` (a context attribute, not
  // the targeting key), -1 if no indexed clause reads it: Probe's `keep`.
  int AttributeNumber(const std::string& name) const;
  // The bits for `context`. Without indexed clauses: all zero, no lookup.
  // With `keep` an attribute's number (-1: none), also sets *kept to the
  // user's value of that attribute (null if absent), from the same lookup:
  // Decide reads a flag's bucket_by this way when its rules index it.
  ClauseBits Probe(const Context& context, int keep,
                   const std::string** kept) const;

 private:
  struct Attribute {
    // "key" reads Context::targeting_key (an empty one counts as absent).
    bool reads_targeting_key = false;
    std::string name;
    uint64_t clauses = 0;  // the indexed clauses that read this attribute
    // A value -> the indexed clauses on this attribute that list it.
    absl::flat_hash_map<std::string, uint64_t> clauses_listing;
  };
  std::vector<Attribute> attributes_;
};

}  // namespace cutover::internal

#endif  // CUTOVER_CORE_INTERNAL_MEMBERSHIP_INDEX_H_
