// Deterministic bucketing, the published algorithm of docs/bucketing.md
// (flagd's "fractional" operator, so OpenFeature tooling agrees with us):
//
//   h      = MurmurHash3_x86_32(flag_key + bucket_value, seed 0)
//   bucket = (uint64(h) * 100000) >> 32          // in [0, 100000)
//
// then the rollout's splits, ordered from the most advanced stage to the
// least, are walked adding weights until bucket < running sum.
//
// Never std::hash or absl::Hash: those change between runs and builds.
// Pure functions; thread-safe.
#ifndef CUTOVER_CORE_BUCKETING_H_
#define CUTOVER_CORE_BUCKETING_H_

#include <cstdint>
#include <string_view>

#include "core/model.h"
#include "core/stage.h"

namespace cutover {

// MurmurHash3_x86_32 by Austin Appleby (public domain), little-endian reads.
uint32_t MurmurHash3_x86_32(std::string_view data, uint32_t seed);

// MurmurHash3_x86_32 fed in pieces: the hash of their
// concatenation, without building it. Copyable: a copy continues from the
// same point.
class StreamingMurmur3 {
 public:
  explicit StreamingMurmur3(uint32_t seed = 0) : h_(seed) {}
  void Update(std::string_view data);
  uint32_t Finish() const;

 private:
  void MixBlock(uint32_t k);

  uint32_t h_;            // the seed, then the running state
  uint32_t length_ = 0;   // modulo 2^32, as the reference implementation
  uint32_t pending_ = 0;  // up to 3 bytes not yet forming a block
  int pending_size_ = 0;
};

// A flag's bucketing with its key hashed once: a compiled flag keeps one,
// so a decision hashes only the user's bucket value. Immutable.
class FlagBucketer {
 public:
  explicit FlagBucketer(std::string_view flag_key = {});
  // The user's bucket for the flag, in [0, kTotalWeight).
  uint32_t BucketFor(std::string_view bucket_value) const;

 private:
  StreamingMurmur3 after_flag_key_;
};

// The user's bucket for a flag, in [0, kTotalWeight):
// FlagBucketer(flag_key).BucketFor(bucket_value).
uint32_t BucketFor(std::string_view flag_key, std::string_view bucket_value);

// The stage a bucket gets in a rollout whose weights sum to kTotalWeight.
// Splits are taken most advanced stage first, whatever their order in
// `rollout`. Returns the least advanced stage of the rollout if the weights
// fall short (a valid rollout never does).
Stage StageForBucket(const Rollout& rollout, uint32_t bucket);

// The least advanced stage a rollout serves: the least advanced stage with
// weight > 0 (a weight-0 share serves nobody), else the least advanced stage
// listed, else off. Users who cannot be bucketed get this stage.
Stage LeastAdvancedStage(const Rollout& rollout);

}  // namespace cutover

#endif  // CUTOVER_CORE_BUCKETING_H_
