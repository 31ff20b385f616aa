#include "server/op_aggregator.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <utility>

#include "core/stage.h"

namespace cutover {
namespace {

// The Telemetry API accepts only the ops ParseOpKind knows.
int OpIndex(const std::string& op) {
  return static_cast<int>(ParseOpKind(op).value_or(OpKind::kRead));
}
const char* OpName(int index) {
  return OpKindName(static_cast<OpKind>(index));
}

// Field accessors of a packed EntryKey (see KeyOf).
int OpOf(uint32_t key) { return static_cast<int>((key >> 8) & 0xff); }
int OriginOf(uint32_t key) { return static_cast<int>((key >> 16) & 0xff); }
int ResultOf(uint32_t key) { return static_cast<int>((key >> 24) & 0xff); }

double Ratio(uint64_t part, uint64_t whole) {
  return whole == 0 ? 0.0
                    : static_cast<double>(part) / static_cast<double>(whole);
}

}  // namespace

double LatencyBucketUpperBoundSeconds(int i) {
  return std::ldexp(1.0, std::clamp(i, 0, kLatencyBuckets - 1)) / 1e6;
}

double LatencyPercentileSeconds(
    const std::array<uint64_t, kLatencyBuckets>& buckets, double q) {
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

OpAggregator::OpAggregator(Options options, Clock clock)
    : options_(std::move(options)),
      slot_width_(options_.window / std::max(options_.slots, 1)),
      clock_(std::move(clock)),
      slots_(static_cast<size_t>(std::max(options_.slots, 1))) {}

OpAggregator::EntryKey OpAggregator::KeyOf(const v1::MigrationOpCount& count) {
  return static_cast<uint32_t>(count.stage() & 0xff) |
         static_cast<uint32_t>(OpIndex(count.op())) << 8 |
         static_cast<uint32_t>(count.origin() & 0xff) << 16 |
         static_cast<uint32_t>(count.result() & 0xff) << 24;
}

int64_t OpAggregator::SlotNumber(absl::Time time) const {
  return static_cast<int64_t>(
      std::floor(absl::FDivDuration(time - absl::UnixEpoch(), slot_width_)));
}

OpAggregator::Slot& OpAggregator::CurrentSlotLocked() {
  const int64_t number = SlotNumber(clock_());
  const size_t n = slots_.size();
  Slot& slot = slots_[static_cast<size_t>(
      ((number % static_cast<int64_t>(n)) + static_cast<int64_t>(n)) %
      static_cast<int64_t>(n))];
  if (slot.number != number) {
    slot = Slot();
    slot.number = number;
  }
  return slot;
}

bool OpAggregator::InWindow(const Slot& slot, int64_t now) const {
  return slot.number <= now &&
         slot.number > now - static_cast<int64_t>(slots_.size());
}

bool OpAggregator::Add(const v1::MigrationOpCount& count) {
  const EntryKey key = KeyOf(count);
  absl::MutexLock lock(&mu_);
  Slot& slot = CurrentSlotLocked();
  auto flag = slot.flags.find(count.flag_key());
  const bool known_flag = flag != slot.flags.end();
  const bool known_key = known_flag && flag->second.contains(key);
  if (!known_key && slot.keys >= options_.max_keys_per_slot) {
    slot.rejected += 1;
    return false;
  }
  if (!known_flag) flag = slot.flags.try_emplace(count.flag_key()).first;
  auto [entry, inserted] = flag->second.try_emplace(key);
  if (inserted) slot.keys += 1;
  entry->second.count += count.count();
  const auto& buckets = count.latency().buckets();
  for (int i = 0; i < buckets.size() && i < kLatencyBuckets; ++i) {
    entry->second.latency[i] += buckets[i];
  }
  return true;
}

void OpAggregator::RejectReports(uint64_t n) {
  if (n == 0) return;
  absl::MutexLock lock(&mu_);
  CurrentSlotLocked().rejected += n;
}

void OpAggregator::AddClientDropped(uint64_t operations) {
  if (operations == 0) return;
  absl::MutexLock lock(&mu_);
  CurrentSlotLocked().client_dropped += operations;
}

void OpAggregator::Status(const std::string& flag_key,
                          v1::FlagStatus* status) const {
  struct OpTotals {
    uint64_t ok = 0;
    uint64_t errors = 0;
    std::array<uint64_t, kLatencyBuckets> latency{};
  };
  // Ordered by op, then origin, as FlagStatus.ops is.
  std::map<std::pair<int, int>, OpTotals> ops;
  uint64_t matches = 0, mismatches = 0, rejected = 0, client_dropped = 0;
  {
    absl::MutexLock lock(&mu_);
    const int64_t now = SlotNumber(clock_());
    for (const Slot& slot : slots_) {
      if (!InWindow(slot, now)) continue;
      rejected += slot.rejected;
      client_dropped += slot.client_dropped;
      auto flag = slot.flags.find(flag_key);
      if (flag == slot.flags.end()) continue;
      for (const auto& [key, entry] : flag->second) {
        switch (ResultOf(key)) {
          case v1::MATCH:
            matches += entry.count;
            continue;
          case v1::MISMATCH:
            mismatches += entry.count;
            continue;
          case v1::OK:
          case v1::FAILED: {
            OpTotals& totals = ops[{OpOf(key), OriginOf(key)}];
            (ResultOf(key) == v1::OK ? totals.ok : totals.errors) +=
                entry.count;
            for (int i = 0; i < kLatencyBuckets; ++i) {
              totals.latency[i] += entry.latency[i];
            }
            continue;
          }
          default:
            continue;
        }
      }
    }
  }
  status->set_window_seconds(absl::ToInt64Seconds(options_.window));
  status->clear_ops();
  for (const auto& [op_origin, totals] : ops) {
    if (totals.ok + totals.errors == 0) continue;
    v1::OpWindow* window = status->add_ops();
    window->set_op(OpName(op_origin.first));
    window->set_origin(static_cast<v1::Origin>(op_origin.second));
    window->set_ok(totals.ok);
    window->set_errors(totals.errors);
    window->set_error_rate(Ratio(totals.errors, totals.ok + totals.errors));
    window->set_p50_seconds(LatencyPercentileSeconds(totals.latency, 0.50));
    window->set_p95_seconds(LatencyPercentileSeconds(totals.latency, 0.95));
  }
  status->set_compared(matches + mismatches);
  status->set_mismatches(mismatches);
  status->set_mismatch_rate(Ratio(mismatches, matches + mismatches));
  status->set_rejected_reports(rejected);
  status->set_client_dropped(client_dropped);
}

}  // namespace cutover
