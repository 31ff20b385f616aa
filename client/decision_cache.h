// DecisionCache: the client library's in-process cache of daemon decisions.
//
// Bounded by entries and by bytes, split into shards (each with its own
// lock and LRU order) so that threads deciding at once rarely meet, with a
// TTL after which an entry is "expired": not served as fresh, but kept to be
// served as stale while the daemon cannot be reached.
//
// Keys are the flag key plus the whole context (targeting key and every
// attribute, in a length-prefixed encoding), so an answer is never served
// for a different context.
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
#include "absl/strings/string_view.h"
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
  struct Lookup {
    State state = State::kMiss;
    Decision decision;  // set unless kMiss
    // How long ago the decision was stored (unless kMiss). A client uses it
    // to stop trusting entries sooner than the TTL while it cannot hear
    // about changes (its Watch stream is down).
    absl::Duration age;
  };

  explicit DecisionCache(Options options,
                         std::function<absl::Time()> clock = absl::Now);

  // The cache key of a flag and a context: the flag key, NUL, then the
  // targeting key and each attribute name and value (sorted by name), each
  // preceded by its 4-byte length. Appended to `out`.
  static void AppendKey(std::string_view flag_key, const Context& context,
                        std::string& out);

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
  // One cached decision. `referenced` is the CLOCK bit: set by lookups
  // (under a reader lock, hence atomic), cleared by the eviction hand.
  struct Entry {
    std::string key;
    size_t flag_length = 0;
    Decision decision;
    int64_t revision = 0;
    absl::Time expires;
    size_t bytes = 0;
    size_t ring_slot = 0;
    mutable std::atomic<bool> referenced{false};
  };
  // Lookups share the lock; a hit moves nothing, so hits on
  // one shard do not serialise. Eviction is CLOCK (second chance) over
  // `ring`, which approximates LRU without touching a list on every hit.
  //
  // The lock is a std::shared_mutex rather than absl::Mutex: on the hit
  // path it costs less (no deadlock-detection bookkeeping in Debian's
  // build of Abseil), measured by tests/bench/client_bench.
  //
  // Keys are hashed once per call: the hash picks the shard and is kept in
  // the map's key (HashedKey), so the map does not hash the bytes again.
  struct HashedKey {
    absl::string_view text;  // points into Entry::key, or the caller's buffer
    size_t hash;
  };
  struct KeyHash {
    size_t operator()(const HashedKey& key) const { return key.hash; }
  };
  struct KeyEq {
    bool operator()(const HashedKey& a, const HashedKey& b) const {
      return a.text == b.text;
    }
  };
  struct Shard {
    mutable std::shared_mutex mu;
    // All guarded by mu.
    absl::flat_hash_map<HashedKey, std::unique_ptr<Entry>, KeyHash, KeyEq>
        entries;
    std::vector<Entry*> ring;  // null where erased
    size_t hand = 0;
    // Answers older than these revisions are refused.
    absl::flat_hash_map<std::string, int64_t> flag_floor;
    int64_t global_floor = 0;
    size_t bytes = 0;
  };

  static HashedKey Hashed(absl::string_view text);
  Shard& ShardFor(const HashedKey& key) const {
    // The high bits: the map uses the low ones for its slots.
    return *shards_[(key.hash >> 32) % shards_.size()];
  }
  // The following require the shard's lock held exclusively.
  static void EraseLocked(Shard& shard, Entry* entry);
  static void EvictOneLocked(Shard& shard);
  template <typename Predicate>
  static void EraseIfLocked(Shard& shard, Predicate erase);

  const Options options_;
  const size_t entries_per_shard_;
  const size_t bytes_per_shard_;
  std::function<absl::Time()> clock_;
  std::vector<std::unique_ptr<Shard>> shards_;
};

}  // namespace cutover

#endif  // CUTOVER_CLIENT_DECISION_CACHE_H_
