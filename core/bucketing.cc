#include "core/bucketing.h"

#include <cstddef>

namespace cutover {
namespace {

inline uint32_t RotateLeft(uint32_t x, int r) {
  return (x << r) | (x >> (32 - r));
}

// Reads 4 bytes little-endian whatever the host's byte order, so the hash is
// the same on every machine.
inline uint32_t LoadLittleEndian32(const unsigned char* p) {
  return static_cast<uint32_t>(p[0]) | (static_cast<uint32_t>(p[1]) << 8) |
         (static_cast<uint32_t>(p[2]) << 16) |
         (static_cast<uint32_t>(p[3]) << 24);
}

uint32_t ScrambleBlock(uint32_t k) {
  k *= 0xcc9e2d51;
  k = RotateLeft(k, 15);
  k *= 0x1b873593;
  return k;
}

}  // namespace

// Defined before its callers so that they inline it.
inline void StreamingMurmur3::MixBlock(uint32_t k) {
  h_ ^= ScrambleBlock(k);
  h_ = RotateLeft(h_, 13);
  h_ = h_ * 5 + 0xe6546b64;
}

void StreamingMurmur3::Update(std::string_view data) {
  const auto* p = reinterpret_cast<const unsigned char*>(data.data());
  size_t n = data.size();
  length_ += static_cast<uint32_t>(n);
  if (pending_size_ == 0) {
    for (; n >= 4; p += 4, n -= 4) MixBlock(LoadLittleEndian32(p));
  } else {
    // Blocks straddle the words read: each is the pending bytes, then the
    // word's first 4 - pending_size_ bytes; its last pending_size_ bytes
    // are pending for the next (a word at a time, not a byte).
    const int shift = 8 * pending_size_;  // 8, 16 or 24
    for (; n >= 4; p += 4, n -= 4) {
      const uint32_t word = LoadLittleEndian32(p);
      MixBlock(pending_ | (word << shift));
      pending_ = word >> (32 - shift);
    }
  }
  // The last 0 to 3 bytes join the pending ones; a block that fills is
  // mixed.
  for (; n > 0; --n) {
    pending_ |= static_cast<uint32_t>(*p++) << (8 * pending_size_);
    if (++pending_size_ == 4) {
      MixBlock(pending_);
      pending_ = 0;
      pending_size_ = 0;
    }
  }
}

uint32_t StreamingMurmur3::Finish() const {
  uint32_t h = h_;
  if (pending_size_ > 0) h ^= ScrambleBlock(pending_);  // the tail
  h ^= length_;
  // fmix32: forces all bits of the hash to avalanche.
  h ^= h >> 16;
  h *= 0x85ebca6b;
  h ^= h >> 13;
  h *= 0xc2b2ae35;
  h ^= h >> 16;
  return h;
}

FlagBucketer::FlagBucketer(std::string_view flag_key) {
  after_flag_key_.Update(flag_key);
}

uint32_t MurmurHash3_x86_32(std::string_view data, uint32_t seed) {
  StreamingMurmur3 hash(seed);
  hash.Update(data);
  return hash.Finish();
}

uint32_t BucketFor(std::string_view flag_key, std::string_view bucket_value) {
  return FlagBucketer(flag_key).BucketFor(bucket_value);
}

uint32_t FlagBucketer::BucketFor(std::string_view bucket_value) const {
  StreamingMurmur3 hash = after_flag_key_;
  hash.Update(bucket_value);
  // Multiply-shift maps [0, 2^32) onto [0, kTotalWeight) without the bias of
  // a modulo and without floating point, so every language gets the same
  // bucket.
  return static_cast<uint32_t>(
      (static_cast<uint64_t>(hash.Finish()) * kTotalWeight) >> 32);
}

Stage StageForBucket(const Rollout& rollout, uint32_t bucket) {
  // Buckets [0, w_complete) get complete, the next w_rampdown get rampdown,
  // and so on down to off. Because the layout starts at the most advanced
  // stage, growing the weights of advanced stages only ever moves a bucket
  // to a more advanced stage. Walking stage by stage (rather than sorting)
  // makes the order of `splits` irrelevant and needs no allocation.
  uint64_t running_sum = 0;
  for (int s = static_cast<int>(kLastStage); s >= static_cast<int>(kFirstStage);
       --s) {
    const Stage stage = static_cast<Stage>(s);
    for (const Split& split : rollout.splits) {
      if (split.stage == stage) running_sum += split.weight;
    }
    if (bucket < running_sum) return stage;
  }
  return LeastAdvancedStage(rollout);
}

Stage LeastAdvancedStage(const Rollout& rollout) {
  Stage least_weighted = Stage::kUnspecified;
  Stage least_listed = Stage::kUnspecified;
  for (const Split& split : rollout.splits) {
    if (split.stage < kFirstStage || split.stage > kLastStage) continue;
    if (least_listed == Stage::kUnspecified || split.stage < least_listed) {
      least_listed = split.stage;
    }
    if (split.weight > 0 && (least_weighted == Stage::kUnspecified ||
                             split.stage < least_weighted)) {
      least_weighted = split.stage;
    }
  }
  if (least_weighted != Stage::kUnspecified) return least_weighted;
  if (least_listed != Stage::kUnspecified) return least_listed;
  return Stage::kOff;
}

}  // namespace cutover
