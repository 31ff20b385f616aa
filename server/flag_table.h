// FlagTable: a snapshot's flags by key, kept in shards that snapshots
// share. Every admin write publishes a new snapshot; with one map of all
// flags, each publish copied every entry (at 10,000 flags, ~0.4 ms of CPU
// per write, more than the fsync). A table is immutable: With() makes a new
// one that shares every shard but the one the key falls in, which it
// copies, so a write costs O(flags / kShards) and readers of the old
// snapshot keep theirs untouched.
//
// FlagEntry, what a table holds per flag, is defined here too.
//
// Immutable; share freely across threads.
#ifndef CUTOVER_SERVER_FLAG_TABLE_H_
#define CUTOVER_SERVER_FLAG_TABLE_H_

#include <array>
#include <cstddef>
#include <iterator>
#include <memory>
#include <string>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/string_view.h"
#include "server/records.h"

namespace cutover {

class CompiledFlag;  // core/evaluate.h

// A flag as a snapshot holds it: the server's record (what the Admin API
// reads), the flag compiled for evaluation, and the part of a Decide
// answer that is the same for every user (convert/decide_wire.h).
struct FlagEntry {
  FlagRecord record;
  std::shared_ptr<const CompiledFlag> compiled;
  std::string decision_bytes;  // ConstantDecisionBytes(*compiled)
};

// The entry for `record` compiled as `compiled` (not null), its decision
// bytes computed.
std::shared_ptr<const FlagEntry> MakeFlagEntry(
    FlagRecord record, std::shared_ptr<const CompiledFlag> compiled);

class FlagTable {
 public:
  using Entry = std::shared_ptr<const FlagEntry>;
  // A key and its entry. Its address, and its key's, stay the same for as
  // long as any table holding it lives (decision counting compares flag
  // labels by address).
  using Slot = std::pair<const std::string, Entry>;
  static constexpr size_t kShards = 64;

  class const_iterator;

  FlagTable();  // no flags
  // All of `flags` at once (e.g. at start-up).
  explicit FlagTable(absl::flat_hash_map<std::string, Entry> flags);

  // This table with `key` set to `entry` (added or replaced).
  FlagTable With(const std::string& key, Entry entry) const;

  // The key's slot, or nullptr.
  const Slot* Find(absl::string_view key) const;
  size_t size() const { return size_; }
  bool empty() const { return size_ == 0; }

  // Every slot, in no particular order.
  const_iterator begin() const;
  const_iterator end() const;

 private:
  using Shard = absl::flat_hash_map<std::string, Entry>;
  static size_t ShardOf(absl::string_view key);

  std::array<std::shared_ptr<const Shard>, kShards> shards_;  // never null
  size_t size_ = 0;
};

class FlagTable::const_iterator {
 public:
  using iterator_category = std::forward_iterator_tag;
  using value_type = Slot;
  using difference_type = std::ptrdiff_t;
  using pointer = const Slot*;
  using reference = const Slot&;

  reference operator*() const { return *at_; }
  pointer operator->() const { return &*at_; }
  const_iterator& operator++() {
    ++at_;
    SkipEmptyShards();
    return *this;
  }
  bool operator==(const const_iterator& other) const {
    return shard_ == other.shard_ && (shard_ == kShards || at_ == other.at_);
  }
  bool operator!=(const const_iterator& other) const {
    return !(*this == other);
  }

 private:
  friend class FlagTable;
  const_iterator(const FlagTable* table, size_t shard);
  // Moves past the ends of shards to the next slot, or to end().
  void SkipEmptyShards();

  const FlagTable* table_;
  size_t shard_;  // kShards at the end
  Shard::const_iterator at_;
};

}  // namespace cutover

#endif  // CUTOVER_SERVER_FLAG_TABLE_H_
