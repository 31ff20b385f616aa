#include "client/decision_reporter.h"

#include <algorithm>
#include <utility>

#include "absl/time/clock.h"
#include "convert/convert.h"
#include "cutover/v1/cutover.grpc.pb.h"
#include "grpcpp/channel.h"
#include "grpcpp/client_context.h"

namespace cutover {
namespace {

// The Telemetry API's largest number of decision entries in one call.
constexpr int kMaxEntriesPerCall = 10000;
constexpr absl::Duration kMinInterval = absl::Milliseconds(1);

}  // namespace

class DecisionReporter::Stub {
 public:
  explicit Stub(const std::shared_ptr<grpc::Channel>& channel)
      : telemetry(channel != nullptr ? v1::Telemetry::NewStub(channel)
                                     : nullptr) {}
  std::unique_ptr<v1::Telemetry::Stub> telemetry;
};

DecisionReporter::DecisionReporter(std::shared_ptr<grpc::Channel> channel,
                                   const LocalDecisionCounts* counts,
                                   const FlagCounterSlots* slots,
                                   Options options)
    : options_(options),
      counts_(counts),
      slots_(slots),
      stub_(std::make_unique<Stub>(channel)),
      thread_([this] { Run(); }) {}

DecisionReporter::~DecisionReporter() { Stop(); }

void DecisionReporter::Stop() noexcept {
  std::call_once(stop_once_, [this] {
    const absl::Time stop = absl::Now();
    {
      std::lock_guard lock(stop_mu_);
      stopping_ = true;
    }
    stop_cv_.notify_all();
    if (thread_.joinable()) thread_.join();
    // A report in flight ended by stop + deadline; the last one must too,
    // so that Stop takes at most one deadline.
    std::lock_guard report_lock(report_mu_);
    ReportLocked(stop + options_.deadline);
  });
}

bool DecisionReporter::ReportNow() noexcept {
  std::lock_guard lock(report_mu_);
  return ReportLocked(absl::Now() + options_.deadline);
}

void DecisionReporter::Run() {
  const absl::Duration interval = std::max(options_.interval, kMinInterval);
  std::unique_lock lock(stop_mu_);
  while (!stopping_) {
    const absl::Time next = absl::Now() + interval;
    stop_cv_.wait_until(lock, absl::ToChronoTime(next),
                        [this] { return stopping_; });
    if (stopping_) break;
    lock.unlock();
    {
      std::lock_guard report_lock(report_mu_);
      ReportLocked(absl::Now() + options_.deadline);
    }
    lock.lock();
  }
}

bool DecisionReporter::ReportLocked(absl::Time deadline) noexcept {
  try {
    std::vector<uint64_t> totals;
    counts_->AddTotalsTo(totals);
    // After the totals: every slot counted in them has its key by now
    // (a slot is handed out before any decision is counted in it; one
    // that is not here yet waits for the next report).
    slots_->AppendKeys(keys_);
    if (acknowledged_.size() < totals.size()) {
      acknowledged_.resize(totals.size(), 0);
    }
    v1::ReportMigrationOpsRequest request;
    // The cells in `request` and their deltas.
    std::vector<std::pair<size_t, uint64_t>> sent;
    bool all_acknowledged = true;
    auto send = [&] {
      bool ok = false;
      if (stub_->telemetry != nullptr && absl::Now() < deadline) {
        grpc::ClientContext context;
        context.set_deadline(absl::ToChronoTime(deadline));
        v1::ReportMigrationOpsResponse response;
        ok = stub_->telemetry->ReportMigrationOps(&context, request, &response)
                 .ok();
      }
      if (ok) {
        uint64_t decisions = 0;
        for (const auto& [cell, delta] : sent) {
          acknowledged_[cell] += delta;
          decisions += delta;
        }
        reported_.fetch_add(decisions, std::memory_order_relaxed);
      } else {
        failures_.fetch_add(1, std::memory_order_relaxed);
        all_acknowledged = false;
      }
      request.Clear();
      sent.clear();
      return ok;
    };
    constexpr size_t kCells = LocalDecisionCounts::kCellsPerSlot;
    for (size_t cell = 0; cell < totals.size(); ++cell) {
      const uint64_t delta = totals[cell] - acknowledged_[cell];
      const size_t slot = cell / kCells;
      if (delta == 0) continue;
      if (slot >= keys_.size()) {
        all_acknowledged = false;  // its key next time
        continue;
      }
      const int within = static_cast<int>(cell % kCells);
      v1::DecisionCount* entry = request.add_decisions();
      entry->set_flag_key(keys_[slot]);
      entry->set_stage(ToProto(LocalDecisionCounts::StageOfCell(within)));
      entry->set_reason(ToProto(LocalDecisionCounts::ReasonOfCell(within)));
      entry->set_count(delta);
      sent.emplace_back(cell, delta);
      // The daemon is away: the rest waits for the next report.
      if (request.decisions_size() >= kMaxEntriesPerCall && !send()) {
        return false;
      }
    }
    if (request.decisions_size() > 0) send();
    return all_acknowledged;
  } catch (...) {  // std::bad_alloc: nothing acknowledged, nothing lost
    return false;
  }
}

}  // namespace cutover
