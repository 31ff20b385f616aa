#include "core/migration_ops.h"

#include <algorithm>
#include <cmath>

namespace cutover {

int LatencyBucketFor(int64_t microseconds) {
  if (microseconds <= 0) return 0;
  // The smallest i with microseconds < 2^i: the bit width of microseconds.
  int width = 0;
  for (uint64_t v = static_cast<uint64_t>(microseconds); v != 0; v >>= 1) {
    ++width;
  }
  return std::min(width, kLatencyBuckets - 1);
}

double LatencyBucketUpperBoundSeconds(int i) {
  return std::ldexp(1.0, std::clamp(i, 0, kLatencyBuckets - 1)) / 1e6;
}

double LatencyPercentileSeconds(const LatencyBuckets& buckets, double q) {
  uint64_t total = 0;
  for (uint64_t n : buckets) total += n;
  if (total == 0) return 0.0;
  // The rank of the operation at share q, 1-based: the smallest r with
  // r >= q * total. The epsilon keeps 0.95 * 100 (94.99999... or
  // 95.00000...1 in binary) at rank 95.
  uint64_t rank =
      static_cast<uint64_t>(std::ceil(q * static_cast<double>(total) - 1e-9));
  rank = std::clamp<uint64_t>(rank, 1, total);
  uint64_t cumulative = 0;
  for (int i = 0; i < kLatencyBuckets; ++i) {
    cumulative += buckets[i];
    if (cumulative >= rank) return LatencyBucketUpperBoundSeconds(i);
  }
  return LatencyBucketUpperBoundSeconds(kLatencyBuckets - 1);
}

}  // namespace cutover
