// DecisionCache: the client library's in-process cache of daemon decisions.
//
// Bounded by entries and by bytes, split into shards (each with its own
// lock and CLOCK order) so that threads deciding at once rarely meet, with a
// TTL after which an entry is "expired": not served as fresh, but kept to be
// served as stale while the daemon cannot be reached.
//
// Keys are the flag key plus the whole context (targeting key and every
// attribute, in a length-prefixed encoding), so an answer is never served
// for a different context. A lookup hashes and compares the flag key and
// the context's fields where they are: it builds no key and allocates
// nothing.
//
// Invalidation is by store revision: InvalidateFlag(flag, r) drops the
// flag's entries computed before revision r and refuses later Puts of
// answers older than r, so a Decide that raced with a change cannot put the
// old answer back.
//
// Thread-safe.
#ifndef CUTOVER_CLIENT_DECISION_CACHE_H_
#define CUTOVER_CLIENT_DECISION_CACHE_H_

#include <cstddef>
#include <cstdint>
#include <atomic>
#include <functional>
#include <memory>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/time/time.h"
#include "core/evaluate.h"
#include "core/model.h"

namespace cutover {

class DecisionCache {
 public:
  struct Options {
    size_t max_entries = 100000;
    size_t max_bytes = 64 << 20;
    size_t shards = 16;
    absl::Duration ttl = absl::Seconds(60);
  };

  enum class State { kMiss, kFresh, kExpired };
  // What a lookup found, besides the decision itself.
  struct Hit {
    State state = State::kMiss;
    // How long ago the decision was stored (unless kMiss). A client uses it
    // to stop trusting entries sooner than the TTL while it cannot hear
    // about changes (its Watch stream is down).
    absl::Duration age;
    // The store revision the decision was computed at (unless kMiss).
    int64_t revision = 0;
  };
  // A lookup with its decision (set unless kMiss).
  struct Lookup {
    State state = State::kMiss;
    Decision decision;
    absl::Duration age;
  };

  // `clock` (for tests) gives the time entries are stored and looked up
  // at. Without one, the cache reads CLOCK_MONOTONIC_COARSE: a few ns per
  // read instead of tens, at the kernel tick's resolution (1-4 ms), which
  // is what TTLs of seconds need.
  explicit DecisionCache(Options options,
                         std::function<absl::Time()> clock = nullptr);

  // The cache key of a flag and a context: the flag key, NUL, then the
  // targeting key and each attribute name and value (sorted by name), each
  // preceded by its 4-byte length. Appended to `out`.
  static void AppendKey(std::string_view flag_key, const Context& context,
                        std::string& out);

  // The hot path: copies the cached decision into `decision` unless the
  // result is kMiss (then `decision` is untouched).
  Hit Get(std::string_view flag_key, const Context& context,
          Decision& decision) const;
  Lookup Get(std::string_view flag_key, const Context& context) const;

  // Stores a decision the daemon computed at store revision `revision`;
  // ignored if the flag was invalidated at a later revision.
  void Put(std::string_view flag_key, const Context& context,
           const Decision& decision, int64_t revision);

  // The flag changed at `revision`.
  void InvalidateFlag(std::string_view flag_key, int64_t revision);
  // Everything may have changed (a segment changed) at `revision`.
  void InvalidateAll(int64_t revision);
  // Drop everything, whatever its revision (the daemon's state was reset).
  void Clear(int64_t revision);

  size_t size() const;
  size_t bytes() const;

 private:
  // One cached decision, allocated with its key (AppendKey's bytes) right
  // after it, so that a hit reads one block. `referenced` is the CLOCK bit:
  // set by lookups (under a reader lock, hence atomic), cleared by the
  // eviction hand. All but `referenced` are immutable once stored.
  struct Entry {
    size_t hash = 0;
    uint32_t key_size = 0;
    uint32_t flag_length = 0;
    int64_t stored_ns = 0;  // NowNanos() when stored
    int64_t revision = 0;
    size_t bytes = 0;
    size_t ring_slot = 0;
    mutable std::atomic<bool> referenced{false};
    Decision decision;

    std::string_view key() const {
      return {reinterpret_cast<const char*>(this + 1), key_size};
    }
  };
  struct EntryDeleter {
    void operator()(Entry* entry) const;
  };
  using EntryPtr = std::unique_ptr<Entry, EntryDeleter>;
  static EntryPtr NewEntry(std::string_view key);

  // The set's keys, looked up heterogeneously: an entry's own key, or a
  // flag and a context not yet encoded (ContextKey, what Get hashes). The
  // hash is computed once per call (HashKey) and carried along, picking the
  // shard and the slot without hashing again.
  struct StoredKey {
    size_t hash;
    std::string_view key;
  };
  struct ContextKey {
    size_t hash;
    std::string_view flag_key;
    const Context* context;
  };
  static StoredKey KeyOf(const EntryPtr& entry) {
    return {entry->hash, entry->key()};
  }
  static const StoredKey& KeyOf(const StoredKey& key) { return key; }
  static const ContextKey& KeyOf(const ContextKey& key) { return key; }
  static bool Same(const StoredKey& a, const StoredKey& b) {
    return a.hash == b.hash && a.key == b.key;
  }
  static bool Same(const StoredKey& a, const ContextKey& b);
  static bool Same(const ContextKey& a, const StoredKey& b) {
    return Same(b, a);
  }
  struct KeyHash {
    using is_transparent = void;
    template <typename K>
    size_t operator()(const K& key) const {
      return KeyOf(key).hash;
    }
  };
  struct KeyEq {
    using is_transparent = void;
    template <typename A, typename B>
    bool operator()(const A& a, const B& b) const {
      return Same(KeyOf(a), KeyOf(b));
    }
  };
  // The hash of AppendKey(flag_key, context), computed from the fields.
  static size_t HashKey(std::string_view flag_key, const Context& context);

  // Lookups share the lock; a hit moves nothing, so hits on one shard do
  // not serialise. Eviction is CLOCK (second chance) over `ring`, which
  // approximates LRU without touching a list on every hit.
  //
  // The lock is a std::shared_mutex rather than absl::Mutex: on the hit
  // path it costs less (no deadlock-detection bookkeeping in Debian's
  // build of Abseil), measured by tests/bench/client_bench.
  struct Shard {
    mutable std::shared_mutex mu;
    // All guarded by mu.
    absl::flat_hash_set<EntryPtr, KeyHash, KeyEq> entries;
    std::vector<Entry*> ring;  // null where erased
    size_t hand = 0;
    // Answers older than these revisions are refused.
    absl::flat_hash_map<std::string, int64_t> flag_floor;
    int64_t global_floor = 0;
    size_t bytes = 0;
  };

  Shard& ShardFor(size_t hash) const {
    // The high bits: the set uses the low ones for its slots.
    return *shards_[(hash >> 32) % shards_.size()];
  }
  // The clock, in nanoseconds (the injected one's Unix time, else the
  // coarse monotonic clock).
  int64_t NowNanos() const;
  // The following require the shard's lock held exclusively.
  static void EraseLocked(Shard& shard, Entry* entry);
  static void EvictOneLocked(Shard& shard);
  template <typename Predicate>
  static void EraseIfLocked(Shard& shard, Predicate erase);

  const Options options_;
  const int64_t ttl_ns_;
  const size_t entries_per_shard_;
  const size_t bytes_per_shard_;
  std::function<absl::Time()> clock_;  // null: CLOCK_MONOTONIC_COARSE
  std::vector<std::unique_ptr<Shard>> shards_;
};

}  // namespace cutover

#endif  // CUTOVER_CLIENT_DECISION_CACHE_H_
