// DecisionReporter: sends a Client's local decision counts
// (client/local_decision_counts.h) to the daemon's Telemetry API
// (ReportMigrationOpsRequest.decisions), from its own thread, every
// Options::interval, and once more at Stop. An internal class of the
// client library (client/client.h owns one in local evaluation mode).
//
// Each report carries only what the daemon has not acknowledged: the
// reporter keeps, per (flag, stage, reason), the total the daemon has
// acknowledged, and sends the counters' current totals minus that. A
// failed call acknowledges nothing, so its counts ride on the next report
// (none lost, none sent twice once acknowledged); more than 10000 entries
// go in several calls, each acknowledged on its own, and the first failure
// ends the round. (A call the daemon applied but whose answer was lost,
// e.g. past its deadline, is sent again: counted twice.)
//
// Memory: the acknowledged totals and a copy of the flag keys, one entry
// per counter cell and slot (client/local_decision_counts.h).
//
// Thread-safe; Stop from any thread, once or more.
#ifndef CUTOVER_CLIENT_DECISION_REPORTER_H_
#define CUTOVER_CLIENT_DECISION_REPORTER_H_

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "absl/time/time.h"
#include "client/local_decision_counts.h"

namespace grpc {
class Channel;
}  // namespace grpc

namespace cutover {

class DecisionReporter {
 public:
  struct Options {
    // How often the counts are reported (at least 1 ms).
    absl::Duration interval = absl::Seconds(1);
    // Deadline of one report, and of Stop's last one.
    absl::Duration deadline = absl::Seconds(2);
  };

  // Starts the thread. `counts` and `slots` must outlive the reporter.
  DecisionReporter(std::shared_ptr<grpc::Channel> channel,
                   const LocalDecisionCounts* counts,
                   const FlagCounterSlots* slots, Options options);
  ~DecisionReporter();  // Stop()

  DecisionReporter(const DecisionReporter&) = delete;
  DecisionReporter& operator=(const DecisionReporter&) = delete;

  // Ends the thread, then reports once more; the whole bounded by
  // Options::deadline from the call. Counts made after that are not
  // reported. Idempotent.
  void Stop() noexcept;

  // Reports now, on the caller's thread; true if the daemon acknowledged
  // everything counted (or there was nothing).
  bool ReportNow() noexcept;

  // Decisions the daemon acknowledged, and failed report calls.
  uint64_t reported() const noexcept {
    return reported_.load(std::memory_order_relaxed);
  }
  uint64_t failures() const noexcept {
    return failures_.load(std::memory_order_relaxed);
  }

 private:
  class Stub;

  void Run();
  // One report, bounded by `deadline`. Requires report_mu_.
  bool ReportLocked(absl::Time deadline) noexcept;

  const Options options_;
  const LocalDecisionCounts* const counts_;
  const FlagCounterSlots* const slots_;
  const std::unique_ptr<Stub> stub_;

  // One report at a time (std::mutex, not absl::Mutex: scripts/tsan.sh).
  std::mutex report_mu_;
  // Per counter cell (as LocalDecisionCounts::AddTotalsTo indexes them),
  // the total the daemon acknowledged; guarded by report_mu_.
  std::vector<uint64_t> acknowledged_;
  std::vector<std::string> keys_;  // slot -> key; guarded by report_mu_

  std::atomic<uint64_t> reported_{0};
  std::atomic<uint64_t> failures_{0};

  std::mutex stop_mu_;
  std::condition_variable stop_cv_;  // notified when stopping_ is set
  bool stopping_ = false;            // guarded by stop_mu_
  std::once_flag stop_once_;
  std::thread thread_;               // last: starts when the rest is ready
};

}  // namespace cutover

#endif  // CUTOVER_CLIENT_DECISION_REPORTER_H_
