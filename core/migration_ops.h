// Migration operations as clients report them and the daemon sums them: one
// kind of operation (flag, stage, read/write/repair, which database, what
// it did), how many, and how long they took in a fixed latency histogram;
// and the figures of a flag's telemetry window (error rates, percentiles,
// the mismatch rate the gates read). Plain data and pure functions, shared
// by the client's TelemetryReporter and the daemon's OpAggregator; convert/
// maps them to and from the Telemetry API.
//
// Plain values; share them between threads only as const.
#ifndef CUTOVER_CORE_MIGRATION_OPS_H_
#define CUTOVER_CORE_MIGRATION_OPS_H_

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "core/stage.h"

namespace cutover {

// What a database operation did. Numeric values match the Telemetry API's
// OpResult.
enum class OpResult {
  kUnspecified = 0,
  kOk = 1,        // the call succeeded
  kFailed = 2,    // the call failed
  kMatch = 3,     // a compared read whose two answers agreed (on kNew)
  kMismatch = 4,  // a compared read whose two answers differed (on kNew)
};

// Whether `result` is one of the four results (not kUnspecified).
constexpr bool IsOpResult(OpResult result) {
  return result >= OpResult::kOk && result <= OpResult::kMismatch;
}

// The latency histogram every report uses: bucket i counts operations that
// took less than 2^i microseconds (and at least 2^(i-1)); the last bucket
// (about 33 s) also takes everything slower.
inline constexpr int kLatencyBuckets = 26;
using LatencyBuckets = std::array<uint64_t, kLatencyBuckets>;

// The bucket of a latency of `microseconds` (0 for anything up to 0).
int LatencyBucketFor(int64_t microseconds);
// The upper bound of latency bucket `i`, in seconds: 2^i microseconds.
double LatencyBucketUpperBoundSeconds(int i);
// The latency below which a share `q` (0 < q <= 1) of the histogram's
// operations fall, as the upper bound (seconds) of the bucket where the
// cumulative count reaches ceil(q * total); 0 for an empty histogram.
double LatencyPercentileSeconds(const LatencyBuckets& buckets, double q);

// Counts of one kind of operation.
struct OpCount {
  std::string flag_key;
  Stage stage = Stage::kUnspecified;
  OpKind op = OpKind::kRead;
  Origin origin = Origin::kNone;
  OpResult result = OpResult::kUnspecified;
  uint64_t count = 0;
  // For kOk and kFailed; false when the reporter sent no histogram.
  bool has_latency = false;
  LatencyBuckets latency{};
  double latency_sum_seconds = 0;  // 0 if the reporter did not say
};

// Operations of one op on one database over a window.
struct OpTotals {
  OpKind op = OpKind::kRead;
  Origin origin = Origin::kNone;
  uint64_t ok = 0;
  uint64_t errors = 0;
  double error_rate = 0;   // errors / (ok + errors); 0 when none
  double p50_seconds = 0;  // LatencyPercentileSeconds; 0 when none
  double p95_seconds = 0;
};

// What one flag's telemetry window holds.
struct OpWindowFigures {
  int64_t window_seconds = 0;
  // Those with operations, by op then origin.
  std::vector<OpTotals> ops;
  uint64_t compared = 0;    // compared reads (matches + mismatches)
  uint64_t mismatches = 0;
  double mismatch_rate = 0;  // mismatches / compared; 0 when none
  // Over the window, all flags: report entries the daemon dropped, and
  // operations clients said they dropped.
  uint64_t rejected_reports = 0;
  uint64_t client_dropped = 0;
};

}  // namespace cutover

#endif  // CUTOVER_CORE_MIGRATION_OPS_H_
