#include "client/decision_cache.h"

#include <algorithm>
#include <mutex>

#include "absl/hash/hash.h"

namespace cutover {
namespace {

void AppendField(std::string& out, std::string_view field) {
  const uint32_t size = static_cast<uint32_t>(field.size());
  out.append(reinterpret_cast<const char*>(&size), sizeof size);
  out.append(field.data(), field.size());
}

// The key of the current call, built in a per-thread buffer so that a
// lookup allocates nothing once the buffer has grown.
std::string& KeyBuffer(std::string_view flag_key, const Context& context) {
  thread_local std::string buffer;
  buffer.clear();
  DecisionCache::AppendKey(flag_key, context, buffer);
  return buffer;
}

// What an entry costs, roughly: its strings plus bookkeeping.
size_t EntryBytes(const std::string& key, const Decision& d) {
  constexpr size_t kOverhead = sizeof(Decision) + 128;  // entry, index, ring
  return key.size() + d.flag_key.size() + d.old_target.size() +
         d.new_target.size() + d.rule_id.size() + d.error.size() + kOverhead;
}

}  // namespace

DecisionCache::DecisionCache(Options options, std::function<absl::Time()> clock)
    : options_(options),
      entries_per_shard_(std::max<size_t>(
          1, options.max_entries / std::max<size_t>(1, options.shards))),
      bytes_per_shard_(std::max<size_t>(
          1, options.max_bytes / std::max<size_t>(1, options.shards))),
      clock_(std::move(clock)) {
  const size_t shards = std::max<size_t>(1, options.shards);
  for (size_t i = 0; i < shards; ++i) shards_.push_back(std::make_unique<Shard>());
}

void DecisionCache::AppendKey(std::string_view flag_key, const Context& context,
                              std::string& out) {
  out.append(flag_key.data(), flag_key.size());
  out.push_back('\0');  // flag keys never contain NUL
  AppendField(out, context.targeting_key);
  for (const auto& [name, value] : context.attributes) {  // sorted by name
    AppendField(out, name);
    AppendField(out, value);
  }
}

DecisionCache::HashedKey DecisionCache::Hashed(absl::string_view text) {
  return HashedKey{text, absl::Hash<absl::string_view>()(text)};
}

DecisionCache::Lookup DecisionCache::Get(std::string_view flag_key,
                                         const Context& context) const {
  const HashedKey key = Hashed(KeyBuffer(flag_key, context));
  const Shard& shard = ShardFor(key);
  Lookup lookup;
  std::shared_lock lock(shard.mu);
  auto found = shard.entries.find(key);
  if (found == shard.entries.end()) return lookup;
  const Entry& entry = *found->second;
  if (!entry.referenced.load(std::memory_order_relaxed)) {
    entry.referenced.store(true, std::memory_order_relaxed);
  }
  const absl::Time now = clock_();
  lookup.state = now < entry.expires ? State::kFresh : State::kExpired;
  lookup.age = now - (entry.expires - options_.ttl);
  lookup.decision = entry.decision;
  return lookup;
}

void DecisionCache::Put(std::string_view flag_key, const Context& context,
                        const Decision& decision, int64_t revision) {
  auto entry = std::make_unique<Entry>();
  AppendKey(flag_key, context, entry->key);
  entry->flag_length = flag_key.size();
  entry->decision = decision;
  entry->revision = revision;
  entry->expires = clock_() + options_.ttl;
  entry->bytes = EntryBytes(entry->key, decision);
  if (entry->bytes > bytes_per_shard_) return;
  const HashedKey key = Hashed(entry->key);
  Shard& shard = ShardFor(key);
  std::unique_lock lock(shard.mu);
  if (revision < shard.global_floor) return;
  if (auto floor = shard.flag_floor.find(
          absl::string_view(flag_key.data(), flag_key.size()));
      floor != shard.flag_floor.end() && revision < floor->second) {
    return;
  }
  if (auto found = shard.entries.find(key);
      found != shard.entries.end()) {
    if (found->second->revision > revision) return;  // keep the newer
    EraseLocked(shard, found->second.get());
  }
  while (!shard.entries.empty() &&
         (shard.entries.size() >= entries_per_shard_ ||
          shard.bytes + entry->bytes > bytes_per_shard_)) {
    EvictOneLocked(shard);
  }
  // Erased slots are null; compact the ring when they are half of it.
  if (shard.ring.size() >= 2 * shard.entries.size() + 16) {
    std::vector<Entry*> live;
    live.reserve(shard.entries.size() + 1);
    for (Entry* e : shard.ring) {
      if (e != nullptr) {
        e->ring_slot = live.size();
        live.push_back(e);
      }
    }
    shard.ring = std::move(live);
    shard.hand = 0;
  }
  entry->ring_slot = shard.ring.size();
  shard.ring.push_back(entry.get());
  shard.bytes += entry->bytes;
  shard.entries.emplace(key, std::move(entry));
}

void DecisionCache::EraseLocked(Shard& shard, Entry* entry) {
  shard.bytes -= entry->bytes;
  shard.ring[entry->ring_slot] = nullptr;
  shard.entries.erase(Hashed(entry->key));  // frees entry
}

void DecisionCache::EvictOneLocked(Shard& shard) {
  // Second chance: a referenced entry loses its bit and survives one more
  // turn of the hand. Terminates: every turn clears bits.
  while (true) {
    if (shard.hand >= shard.ring.size()) shard.hand = 0;
    Entry* entry = shard.ring[shard.hand++];
    if (entry == nullptr) continue;
    if (entry->referenced.load(std::memory_order_relaxed)) {
      entry->referenced.store(false, std::memory_order_relaxed);
      continue;
    }
    EraseLocked(shard, entry);
    return;
  }
}

template <typename Predicate>
void DecisionCache::EraseIfLocked(Shard& shard, Predicate erase) {
  for (Entry* entry : shard.ring) {
    if (entry != nullptr && erase(*entry)) EraseLocked(shard, entry);
  }
}

void DecisionCache::InvalidateFlag(std::string_view flag_key,
                                   int64_t revision) {
  for (auto& shard : shards_) {
    std::unique_lock lock(shard->mu);
    int64_t& floor =
        shard->flag_floor[absl::string_view(flag_key.data(), flag_key.size())];
    floor = std::max(floor, revision);
    EraseIfLocked(*shard, [&](const Entry& entry) {
      return entry.revision < revision &&
             std::string_view(entry.key).substr(0, entry.flag_length) ==
                 flag_key;
    });
  }
}

void DecisionCache::InvalidateAll(int64_t revision) {
  for (auto& shard : shards_) {
    std::unique_lock lock(shard->mu);
    shard->global_floor = std::max(shard->global_floor, revision);
    EraseIfLocked(*shard,
                  [&](const Entry& entry) { return entry.revision < revision; });
  }
}

void DecisionCache::Clear(int64_t revision) {
  for (auto& shard : shards_) {
    std::unique_lock lock(shard->mu);
    shard->entries.clear();
    shard->ring.clear();
    shard->hand = 0;
    shard->flag_floor.clear();
    shard->bytes = 0;
    shard->global_floor = revision;
  }
}

size_t DecisionCache::size() const {
  size_t total = 0;
  for (const auto& shard : shards_) {
    std::shared_lock lock(shard->mu);
    total += shard->entries.size();
  }
  return total;
}

size_t DecisionCache::bytes() const {
  size_t total = 0;
  for (const auto& shard : shards_) {
    std::shared_lock lock(shard->mu);
    total += shard->bytes;
  }
  return total;
}

}  // namespace cutover
