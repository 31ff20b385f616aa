#include "server/flag_table.h"

#include <utility>

#include "absl/hash/hash.h"
#include "core/evaluate.h"
#include "convert/decide_wire.h"
#include "server/snapshot.h"

namespace cutover {

size_t FlagTable::ShardOf(absl::string_view key) {
  // The top bits: the shard's own hash table probes with the low ones, and
  // keys that all shared those would crowd its groups.
  static_assert(kShards == 64, "six bits of the hash pick the shard");
  return absl::Hash<absl::string_view>()(key) >> (64 - 6);
}

std::shared_ptr<const FlagEntry> MakeFlagEntry(
    FlagRecord record, std::shared_ptr<const CompiledFlag> compiled) {
  std::string bytes = ConstantDecisionBytes(*compiled);
  return std::make_shared<const FlagEntry>(
      FlagEntry{std::move(record), std::move(compiled), std::move(bytes)});
}

FlagTable::FlagTable() {
  static const auto* const empty =
      new std::shared_ptr<const Shard>(std::make_shared<const Shard>());
  shards_.fill(*empty);
}

FlagTable::FlagTable(absl::flat_hash_map<std::string, Entry> flags) {
  std::array<Shard, kShards> shards;
  for (auto& [key, entry] : flags) {
    shards[ShardOf(key)].emplace(key, std::move(entry));
  }
  for (size_t i = 0; i < kShards; ++i) {
    size_ += shards[i].size();
    shards_[i] = std::make_shared<const Shard>(std::move(shards[i]));
  }
}

FlagTable FlagTable::With(const std::string& key, Entry entry) const {
  FlagTable next = *this;
  const size_t shard = ShardOf(key);
  auto copy = std::make_shared<Shard>(*shards_[shard]);
  const bool added = copy->insert_or_assign(key, std::move(entry)).second;
  if (added) next.size_ += 1;
  next.shards_[shard] = std::move(copy);
  return next;
}

const FlagTable::Slot* FlagTable::Find(absl::string_view key) const {
  const Shard& shard = *shards_[ShardOf(key)];
  auto it = shard.find(key);
  return it == shard.end() ? nullptr : &*it;
}

FlagTable::const_iterator FlagTable::begin() const {
  return const_iterator(this, 0);
}

FlagTable::const_iterator FlagTable::end() const {
  return const_iterator(this, kShards);
}

FlagTable::const_iterator::const_iterator(const FlagTable* table, size_t shard)
    : table_(table), shard_(shard) {
  if (shard_ < kShards) {
    at_ = table_->shards_[shard_]->begin();
    SkipEmptyShards();
  } else {
    at_ = table_->shards_[kShards - 1]->end();  // a defined value, unused
  }
}

void FlagTable::const_iterator::SkipEmptyShards() {
  while (at_ == table_->shards_[shard_]->end()) {
    if (++shard_ == kShards) return;
    at_ = table_->shards_[shard_]->begin();
  }
}

}  // namespace cutover
