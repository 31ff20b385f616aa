// OpAggregator: the migration operations that clients report (Telemetry
// API), summed in memory over a sliding window, for `cutoverctl status`,
// metrics and guardrails.
//
// The window is divided into `slots` equal slots of window/slots each,
// aligned to the Unix epoch. Add counts into the slot of the current time;
// Status sums the current slot and the slots-1 before it, so a report
// counts for between window - window/slots and window after it arrived,
// and then expires. Nothing is stored: a restart starts from zero.
//
//   OpAggregator::Options options;              // 300 s in 30 slots
//   OpAggregator aggregator(options);
//   aggregator.Add(count);                      // an OpCount, from a report
//   OpWindowFigures figures = aggregator.Status("orders");  // rates, p95...
//
// Memory is bounded: a slot holds at most max_keys_per_slot distinct
// (flag, stage, op, origin, result) entries; counts beyond are rejected and
// counted as rejected reports.
//
// Thread-safe.
#ifndef CUTOVER_SERVER_OP_AGGREGATOR_H_
#define CUTOVER_SERVER_OP_AGGREGATOR_H_

#include <array>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <limits>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "core/migration_ops.h"
#include "core/ramp.h"

namespace cutover {

class OpAggregator {
 public:
  struct Options {
    // The status window.
    absl::Duration window = absl::Seconds(300);
    // Slots the window is divided into (its resolution).
    int slots = 30;
    // Distinct (flag, stage, op, origin, result) entries per slot.
    size_t max_keys_per_slot = 100000;
  };
  using Clock = std::function<absl::Time()>;

  // `options` must have window > 0 and slots >= 1 (the daemon's config
  // validation ensures it). `clock` is for tests.
  explicit OpAggregator(Options options, Clock clock = &absl::Now);

  OpAggregator(const OpAggregator&) = delete;
  OpAggregator& operator=(const OpAggregator&) = delete;

  // Adds a validated count to the current slot (the caller checks fields
  // and that the flag exists). Returns false, and counts one rejected
  // report, if the slot already holds max_keys_per_slot other entries.
  bool Add(const OpCount& count);

  // Counts `n` reports (entries) the Telemetry API refused.
  void RejectReports(uint64_t n);

  // Counts operations a client said it dropped (ReportMigrationOpsRequest
  // .dropped).
  void AddClientDropped(uint64_t operations);

  // The window's figures for `flag_key`.
  OpWindowFigures Status(const std::string& flag_key) const;

  // What a guarded ramp's checks read: `flag_key`'s compared reads, and
  // its reads and writes on each database, over the latest `window`
  // (rounded up to whole slots, at most the status window).
  RampFigures RampWindow(const std::string& flag_key,
                         absl::Duration window) const;

  absl::Duration window() const { return options_.window; }

 private:
  // (stage, op, origin, result) packed into one integer.
  using EntryKey = uint32_t;
  struct Entry {
    uint64_t count = 0;
    LatencyBuckets latency{};
  };
  struct Slot {
    // Which slot_width_ period since the Unix epoch this slot holds (the
    // lowest value: none yet).
    int64_t number = std::numeric_limits<int64_t>::min();
    absl::flat_hash_map<std::string, absl::flat_hash_map<EntryKey, Entry>>
        flags;
    size_t keys = 0;
    uint64_t rejected = 0;
    uint64_t client_dropped = 0;
  };

  static EntryKey KeyOf(const OpCount& count);
  int64_t SlotNumber(absl::Time time) const;
  // The slot for now, emptied first if it held an older number.
  Slot& CurrentSlotLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Whether slot `slot` is inside the window that ends with slot `now`.
  bool InWindow(const Slot& slot, int64_t now) const;

  const Options options_;
  const absl::Duration slot_width_;
  const Clock clock_;
  mutable absl::Mutex mu_;
  std::vector<Slot> slots_ ABSL_GUARDED_BY(mu_);
};

}  // namespace cutover

#endif  // CUTOVER_SERVER_OP_AGGREGATOR_H_
