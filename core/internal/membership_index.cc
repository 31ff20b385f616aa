#include "core/internal/membership_index.h"

#include <utility>

#include "core/internal/compiled.h"

namespace cutover::internal {

void MembershipIndex::Build(std::vector<CompiledRule>& rules) {
  size_t next_bit = 0;
  for (CompiledRule& rule : rules) {
    std::vector<CompiledClause> kept;
    for (CompiledClause& clause : rule.clauses) {
      const bool indexable =
          clause.op == Operator::kIn || clause.op == Operator::kNotIn;
      if (!indexable || next_bit == kMaxIndexedClauses) {
        kept.push_back(std::move(clause));
        continue;
      }
      const uint64_t bit = uint64_t{1} << next_bit++;
      Attribute* attribute = nullptr;
      for (Attribute& known : attributes_) {
        if (known.reads_targeting_key == clause.reads_targeting_key &&
            known.name == clause.attribute) {
          attribute = &known;
        }
      }
      if (attribute == nullptr) {
        attribute = &attributes_.emplace_back();
        attribute->reads_targeting_key = clause.reads_targeting_key;
        attribute->name = clause.attribute;
      }
      attribute->clauses |= bit;
      for (const std::string& value : clause.value_set) {
        attribute->clauses_listing[value] |= bit;
      }
      if (clause.op == Operator::kIn) {
        rule.must_list |= bit;
      } else {
        rule.must_have_attribute |= bit;
        rule.must_not_list |= bit;
      }
    }
    rule.clauses = std::move(kept);
  }
}

int MembershipIndex::AttributeNumber(const std::string& name) const {
  for (size_t i = 0; i < attributes_.size(); ++i) {
    if (!attributes_[i].reads_targeting_key && attributes_[i].name == name) {
      return static_cast<int>(i);
    }
  }
  return -1;
}

ClauseBits MembershipIndex::Probe(const Context& context, int keep,
                                  const std::string** kept) const {
  ClauseBits bits;
  for (size_t i = 0; i < attributes_.size(); ++i) {
    const Attribute& attribute = attributes_[i];
    const std::string* value = nullptr;
    if (attribute.reads_targeting_key) {
      if (!context.targeting_key.empty()) value = &context.targeting_key;
    } else {
      const auto it = context.attributes.find(attribute.name);
      if (it != context.attributes.end()) value = &it->second;
    }
    if (static_cast<int>(i) == keep) *kept = value;
    // A user without the attribute matches no clause on it, not_in
    // included (core/internal/clauses.cc says why).
    if (value == nullptr) continue;
    bits.present |= attribute.clauses;
    const auto listed = attribute.clauses_listing.find(*value);
    if (listed != attribute.clauses_listing.end()) {
      bits.contains |= listed->second;
    }
  }
  return bits;
}

}  // namespace cutover::internal
