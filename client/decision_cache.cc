#include "client/decision_cache.h"

#include <time.h>

#include <algorithm>
#include <cstring>
#include <mutex>
#include <new>

#include "absl/hash/hash.h"
#include "absl/numeric/int128.h"
#include "absl/strings/string_view.h"

namespace cutover {
namespace {

void AppendField(std::string& out, std::string_view field) {
  const uint32_t size = static_cast<uint32_t>(field.size());
  out.append(reinterpret_cast<const char*>(&size), sizeof size);
  out.append(field.data(), field.size());
}

// Unaligned loads of 8 and 4 bytes.
uint64_t Load64(const char* p) {
  uint64_t v;
  std::memcpy(&v, p, sizeof v);
  return v;
}
uint64_t Load32(const char* p) {
  uint32_t v;
  std::memcpy(&v, p, sizeof v);
  return v;
}

// Whether n bytes at a and b are equal: inline word compares, as the
// strings compared here (keys, attributes) are short.
bool SameBytes(const char* a, const char* b, size_t n) {
  if (n >= 8) {
    for (size_t i = 0; i + 8 < n; i += 8) {
      if (Load64(a + i) != Load64(b + i)) return false;
    }
    return Load64(a + n - 8) == Load64(b + n - 8);
  }
  if (n >= 4) {
    return Load32(a) == Load32(b) && Load32(a + n - 4) == Load32(b + n - 4);
  }
  for (size_t i = 0; i < n; ++i) {
    if (a[i] != b[i]) return false;
  }
  return true;
}

// Consumes one AppendField from the front of `rest` if it encodes `field`.
bool ConsumeField(std::string_view& rest, std::string_view field) {
  if (rest.size() < sizeof(uint32_t) + field.size() ||
      Load32(rest.data()) != field.size() ||
      !SameBytes(rest.data() + sizeof(uint32_t), field.data(), field.size())) {
    return false;
  }
  rest.remove_prefix(sizeof(uint32_t) + field.size());
  return true;
}

// The key hash: a multiply-fold over 8-byte words (the scheme of wyhash),
// seeded per process like absl::Hash so that keys cannot be chosen to
// collide. absl::Hash of the same fields cost 3x the instructions.
constexpr uint64_t kMul0 = 0xa0761d6478bd642full;
constexpr uint64_t kMul1 = 0xe7037ed1a0b428dbull;
constexpr uint64_t kMul2 = 0x8ebc6af09c88c6e3ull;

uint64_t Mix(uint64_t a, uint64_t b) {
  const absl::uint128 product = absl::uint128(a) * b;
  return absl::Uint128Low64(product) ^ absl::Uint128High64(product);
}

uint64_t Seed() {
  static const uint64_t seed = absl::Hash<uint64_t>()(kMul2);
  return seed;
}

// Folds `field` (its bytes, then its length) into `state`.
uint64_t HashField(uint64_t state, std::string_view field) {
  const char* p = field.data();
  size_t n = field.size();
  for (; n > 16; p += 16, n -= 16) {
    state = Mix(Load64(p) ^ kMul0, Load64(p + 8) ^ state);
  }
  uint64_t a = 0;
  uint64_t b = 0;
  if (n >= 8) {
    a = Load64(p);
    b = Load64(p + n - 8);
  } else if (n >= 4) {
    a = Load32(p);
    b = Load32(p + n - 4);
  } else if (n > 0) {
    const auto byte = [p](size_t i) -> uint64_t {
      return static_cast<unsigned char>(p[i]);
    };
    a = (byte(0) << 16) | (byte(n >> 1) << 8) | byte(n - 1);
  }
  return Mix(a ^ kMul1 ^ field.size(), b ^ state);
}

absl::string_view AbslView(std::string_view text) {
  return absl::string_view(text.data(), text.size());
}

// The key of the current Put, built in a per-thread buffer.
std::string& KeyBuffer(std::string_view flag_key, const Context& context) {
  thread_local std::string buffer;
  buffer.clear();
  DecisionCache::AppendKey(flag_key, context, buffer);
  return buffer;
}

// What an entry costs, roughly: its strings plus bookkeeping.
size_t EntryBytes(std::string_view key, const Decision& d) {
  constexpr size_t kOverhead = sizeof(Decision) + 128;  // entry, index, ring
  return key.size() + d.flag_key.size() + d.old_target.size() +
         d.new_target.size() + d.rule_id.size() + d.error.size() + kOverhead;
}

}  // namespace

DecisionCache::DecisionCache(Options options, std::function<absl::Time()> clock)
    : options_(options),
      ttl_ns_(absl::ToInt64Nanoseconds(options.ttl)),
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

size_t DecisionCache::HashKey(std::string_view flag_key,
                              const Context& context) {
  uint64_t state = HashField(Seed(), flag_key);
  state = HashField(state, context.targeting_key);
  for (const auto& [name, value] : context.attributes) {
    state = HashField(HashField(state, name), value);
  }
  return Mix(state ^ kMul2, context.attributes.size() ^ kMul0);
}

bool DecisionCache::Same(const StoredKey& a, const ContextKey& b) {
  if (a.hash != b.hash) return false;
  // Walk the stored encoding along the flag key and the context.
  std::string_view rest = a.key;
  const std::string_view flag = b.flag_key;
  if (rest.size() <= flag.size() ||
      !SameBytes(rest.data(), flag.data(), flag.size()) ||
      rest[flag.size()] != '\0') {
    return false;
  }
  rest.remove_prefix(flag.size() + 1);
  if (!ConsumeField(rest, b.context->targeting_key)) return false;
  for (const auto& [name, value] : b.context->attributes) {
    if (!ConsumeField(rest, name) || !ConsumeField(rest, value)) return false;
  }
  return rest.empty();
}

void DecisionCache::EntryDeleter::operator()(Entry* entry) const {
  entry->~Entry();
  ::operator delete(entry);
}

DecisionCache::EntryPtr DecisionCache::NewEntry(std::string_view key) {
  char* block = static_cast<char*>(::operator new(sizeof(Entry) + key.size()));
  std::memcpy(block + sizeof(Entry), key.data(), key.size());
  EntryPtr entry(new (block) Entry());
  entry->key_size = static_cast<uint32_t>(key.size());
  return entry;
}

int64_t DecisionCache::NowNanos() const {
  if (clock_) return absl::ToUnixNanos(clock_());
  timespec now;
  clock_gettime(CLOCK_MONOTONIC_COARSE, &now);
  return int64_t{now.tv_sec} * 1000000000 + now.tv_nsec;
}

DecisionCache::Hit DecisionCache::Get(std::string_view flag_key,
                                      const Context& context,
                                      Decision& decision) const {
  const ContextKey key{HashKey(flag_key, context), flag_key, &context};
  const int64_t now = NowNanos();
  const Shard& shard = ShardFor(key.hash);
  std::shared_lock lock(shard.mu);
  auto found = shard.entries.find(key);
  if (found == shard.entries.end()) return Hit();
  const Entry& entry = **found;
  if (!entry.referenced.load(std::memory_order_relaxed)) {
    entry.referenced.store(true, std::memory_order_relaxed);
  }
  decision = entry.decision;
  const int64_t age = now - entry.stored_ns;
  return Hit{age < ttl_ns_ ? State::kFresh : State::kExpired,
             absl::Nanoseconds(age), entry.revision};
}

DecisionCache::Lookup DecisionCache::Get(std::string_view flag_key,
                                         const Context& context) const {
  Lookup lookup;
  const Hit hit = Get(flag_key, context, lookup.decision);
  lookup.state = hit.state;
  lookup.age = hit.age;
  return lookup;
}

void DecisionCache::Put(std::string_view flag_key, const Context& context,
                        const Decision& decision, int64_t revision) {
  const std::string& key = KeyBuffer(flag_key, context);
  const size_t bytes = EntryBytes(key, decision);
  if (bytes > bytes_per_shard_) return;
  EntryPtr entry = NewEntry(key);
  entry->hash = HashKey(flag_key, context);
  entry->flag_length = static_cast<uint32_t>(flag_key.size());
  entry->decision = decision;
  entry->revision = revision;
  entry->stored_ns = NowNanos();
  entry->bytes = bytes;
  Shard& shard = ShardFor(entry->hash);
  std::unique_lock lock(shard.mu);
  if (revision < shard.global_floor) return;
  if (auto floor = shard.flag_floor.find(AbslView(flag_key));
      floor != shard.flag_floor.end() && revision < floor->second) {
    return;
  }
  if (auto found = shard.entries.find(KeyOf(entry));
      found != shard.entries.end()) {
    if ((*found)->revision > revision) return;  // keep the newer
    EraseLocked(shard, found->get());
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
  shard.entries.insert(std::move(entry));
}

void DecisionCache::EraseLocked(Shard& shard, Entry* entry) {
  shard.bytes -= entry->bytes;
  shard.ring[entry->ring_slot] = nullptr;
  shard.entries.erase(StoredKey{entry->hash, entry->key()});  // frees entry
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
    int64_t& floor = shard->flag_floor[AbslView(flag_key)];
    floor = std::max(floor, revision);
    EraseIfLocked(*shard, [&](const Entry& entry) {
      return entry.revision < revision &&
             entry.key().substr(0, entry.flag_length) == flag_key;
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
