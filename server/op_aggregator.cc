#include "server/op_aggregator.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <utility>

#include "core/stage.h"

namespace cutover {
namespace {

// Field accessors of a packed EntryKey (see KeyOf).
OpKind OpOf(uint32_t key) { return static_cast<OpKind>((key >> 8) & 0xff); }
Origin OriginOf(uint32_t key) {
  return static_cast<Origin>((key >> 16) & 0xff);
}
OpResult ResultOf(uint32_t key) {
  return static_cast<OpResult>((key >> 24) & 0xff);
}

double Ratio(uint64_t part, uint64_t whole) {
  return whole == 0 ? 0.0
                    : static_cast<double>(part) / static_cast<double>(whole);
}

}  // namespace

OpAggregator::OpAggregator(Options options, Clock clock)
    : options_(std::move(options)),
      slot_width_(options_.window / std::max(options_.slots, 1)),
      clock_(std::move(clock)),
      slots_(static_cast<size_t>(std::max(options_.slots, 1))) {}

OpAggregator::EntryKey OpAggregator::KeyOf(const OpCount& count) {
  return (static_cast<uint32_t>(count.stage) & 0xff) |
         (static_cast<uint32_t>(count.op) & 0xff) << 8 |
         (static_cast<uint32_t>(count.origin) & 0xff) << 16 |
         (static_cast<uint32_t>(count.result) & 0xff) << 24;
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

bool OpAggregator::Add(const OpCount& count) {
  const EntryKey key = KeyOf(count);
  absl::MutexLock lock(&mu_);
  Slot& slot = CurrentSlotLocked();
  auto flag = slot.flags.find(count.flag_key);
  const bool known_flag = flag != slot.flags.end();
  const bool known_key = known_flag && flag->second.contains(key);
  if (!known_key && slot.keys >= options_.max_keys_per_slot) {
    slot.rejected += 1;
    return false;
  }
  if (!known_flag) flag = slot.flags.try_emplace(count.flag_key).first;
  auto [entry, inserted] = flag->second.try_emplace(key);
  if (inserted) slot.keys += 1;
  entry->second.count += count.count;
  for (int i = 0; i < kLatencyBuckets; ++i) {
    entry->second.latency[i] += count.latency[i];
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

OpWindowFigures OpAggregator::Status(const std::string& flag_key) const {
  struct Sums {
    uint64_t ok = 0;
    uint64_t errors = 0;
    LatencyBuckets latency{};
  };
  // Ordered by op, then origin, as OpWindowFigures::ops is.
  std::map<std::pair<OpKind, Origin>, Sums> ops;
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
          case OpResult::kMatch:
            matches += entry.count;
            continue;
          case OpResult::kMismatch:
            mismatches += entry.count;
            continue;
          case OpResult::kOk:
          case OpResult::kFailed: {
            Sums& totals = ops[{OpOf(key), OriginOf(key)}];
            (ResultOf(key) == OpResult::kOk ? totals.ok : totals.errors) +=
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
  OpWindowFigures figures;
  figures.window_seconds = absl::ToInt64Seconds(options_.window);
  for (const auto& [op_origin, sums] : ops) {
    if (sums.ok + sums.errors == 0) continue;
    OpTotals& totals = figures.ops.emplace_back();
    totals.op = op_origin.first;
    totals.origin = op_origin.second;
    totals.ok = sums.ok;
    totals.errors = sums.errors;
    totals.error_rate = Ratio(sums.errors, sums.ok + sums.errors);
    totals.p50_seconds = LatencyPercentileSeconds(sums.latency, 0.50);
    totals.p95_seconds = LatencyPercentileSeconds(sums.latency, 0.95);
  }
  figures.compared = matches + mismatches;
  figures.mismatches = mismatches;
  figures.mismatch_rate = Ratio(mismatches, matches + mismatches);
  figures.rejected_reports = rejected;
  figures.client_dropped = client_dropped;
  return figures;
}

RampFigures OpAggregator::RampWindow(const std::string& flag_key,
                                     absl::Duration window) const {
  const int64_t slots = std::clamp<int64_t>(
      static_cast<int64_t>(std::ceil(absl::FDivDuration(window, slot_width_))),
      1, static_cast<int64_t>(slots_.size()));
  RampFigures figures;
  figures.window_seconds = absl::ToInt64Seconds(slot_width_ * slots);
  absl::MutexLock lock(&mu_);
  const int64_t now = SlotNumber(clock_());
  for (const Slot& slot : slots_) {
    if (slot.number > now || slot.number <= now - slots) continue;
    auto flag = slot.flags.find(flag_key);
    if (flag == slot.flags.end()) continue;
    for (const auto& [key, entry] : flag->second) {
      const OpResult result = ResultOf(key);
      if (result == OpResult::kMatch || result == OpResult::kMismatch) {
        figures.compared += entry.count;
        if (result == OpResult::kMismatch) figures.mismatches += entry.count;
        continue;
      }
      if (OpOf(key) == OpKind::kRepair) continue;
      const bool is_new = OriginOf(key) == Origin::kNew;
      if (OriginOf(key) != Origin::kNew && OriginOf(key) != Origin::kOld) {
        continue;
      }
      uint64_t& ok = is_new ? figures.new_ok : figures.old_ok;
      uint64_t& errors = is_new ? figures.new_errors : figures.old_errors;
      if (result == OpResult::kOk) ok += entry.count;
      if (result == OpResult::kFailed) errors += entry.count;
      LatencyBuckets& latency =
          is_new ? figures.new_latency : figures.old_latency;
      for (int i = 0; i < kLatencyBuckets; ++i) latency[i] += entry.latency[i];
    }
  }
  return figures;
}

}  // namespace cutover
