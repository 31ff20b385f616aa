#include "client/telemetry_reporter.h"

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <thread>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/string_view.h"
#include "absl/time/clock.h"
#include "convert/convert.h"
#include "convert/telemetry.h"
#include "cutover/v1/cutover.grpc.pb.h"
#include "grpcpp/channel.h"
#include "grpcpp/client_context.h"
#include "prometheus/counter.h"
#include "prometheus/registry.h"

namespace cutover {
namespace {

// The Telemetry API refuses longer flag keys (and the whole batch with
// them), so such records are dropped here instead.
constexpr size_t kMaxFlagKeyLength = 128;
// The Telemetry API's largest batch.
constexpr size_t kMaxBatch = 10000;
// A flush_interval below this is taken as this, so a misconfigured
// reporter does not spin.
constexpr absl::Duration kMinFlushInterval = absl::Milliseconds(1);

bool Valid(const OpRecord& record) {
  return !record.flag_key.empty() &&
         record.flag_key.size() <= kMaxFlagKeyLength &&
         IsStage(record.stage) &&
         (record.op == OpKind::kRead || record.op == OpKind::kWrite ||
          record.op == OpKind::kRepair) &&
         (record.origin == Origin::kOld || record.origin == Origin::kNew) &&
         IsOpResult(record.result);
}

}  // namespace

class TelemetryReporter::Impl {
 public:
  Impl(std::shared_ptr<grpc::Channel> channel, Options options)
      : options_(std::move(options)),
        stub_(channel != nullptr ? v1::Telemetry::NewStub(channel) : nullptr),
        thread_([this] { Run(); }) {}

  ~Impl() {
    const absl::Time stop = absl::Now();
    {
      std::lock_guard lock(stop_mu_);
      stopping_ = true;
    }
    stop_cv_.notify_all();
    thread_.join();
    // A send in flight when we stopped ended by stop + send_deadline; the
    // final one must too.
    FlushUntil(stop + options_.send_deadline);
  }

  void Record(const OpRecord& record) noexcept {
    if (!Valid(record)) {
      Drop(1);
      return;
    }
    const uint32_t key = static_cast<uint32_t>(record.stage) |
                         static_cast<uint32_t>(record.op) << 8 |
                         static_cast<uint32_t>(record.origin) << 16 |
                         static_cast<uint32_t>(record.result) << 24;
    const bool comparison = record.result == OpResult::kMatch ||
                            record.result == OpResult::kMismatch;
    const int bucket =
        LatencyBucketFor(absl::ToInt64Microseconds(record.latency));
    try {
      std::lock_guard lock(mu_);
      auto flag = aggregate_.find(absl::string_view(record.flag_key));
      Entry* entry = nullptr;
      if (flag != aggregate_.end()) {
        auto it = flag->second.find(key);
        if (it != flag->second.end()) entry = &it->second;
      }
      if (entry == nullptr) {
        if (keys_ >= options_.max_keys) {
          pending_dropped_ += 1;
          dropped_.fetch_add(1, std::memory_order_relaxed);
          return;
        }
        if (flag == aggregate_.end()) {
          flag = aggregate_.try_emplace(record.flag_key).first;
        }
        entry = &flag->second[key];
        keys_ += 1;
      }
      entry->count += 1;
      if (!comparison) {
        entry->latency[bucket] += 1;
        entry->latency_sum_seconds += absl::ToDoubleSeconds(record.latency);
      }
    } catch (...) {  // std::bad_alloc: lose this one record, not the caller
      Drop(1);
      return;
    }
    recorded_.fetch_add(1, std::memory_order_relaxed);
  }

  void RegisterMetrics(prometheus::Registry& registry) {
    auto& family = prometheus::BuildCounter()
                       .Name("cutover_client_telemetry_operations_total")
                       .Help("Migration operations given to the telemetry "
                             "reporter: recorded, or dropped (reporter full "
                             "or daemon unreachable).")
                       .Register(registry);
    auto& batches = prometheus::BuildCounter()
                        .Name("cutover_client_telemetry_batches_total")
                        .Help("ReportMigrationOps calls, by result.")
                        .Register(registry);
    std::lock_guard lock(export_mu_);
    exported_ = {{{&recorded_, &family.Add({{"result", "recorded"}}), 0},
                  {&dropped_, &family.Add({{"result", "dropped"}}), 0},
                  {&batches_sent_, &batches.Add({{"result", "sent"}}), 0},
                  {&send_failures_, &batches.Add({{"result", "failed"}}), 0}}};
    ExportLocked();
  }

  // Brings the registered Prometheus counters up to the atomics (once per
  // flush, so Record pays nothing for them).
  void Export() {
    std::lock_guard lock(export_mu_);
    ExportLocked();
  }

  bool Flush() noexcept {
    std::lock_guard send_lock(send_mu_);
    return FlushLocked(absl::Now() + options_.send_deadline);
  }

  TelemetryStats stats() const noexcept {
    TelemetryStats stats;
    stats.recorded = recorded_.load(std::memory_order_relaxed);
    stats.dropped = dropped_.load(std::memory_order_relaxed);
    stats.batches_sent = batches_sent_.load(std::memory_order_relaxed);
    stats.send_failures = send_failures_.load(std::memory_order_relaxed);
    return stats;
  }

 private:
  struct Entry {
    uint64_t count = 0;
    LatencyBuckets latency{};
    double latency_sum_seconds = 0;
  };
  // flag key -> (stage, op, origin, result) packed as in Record -> entry.
  using Aggregate =
      absl::flat_hash_map<std::string, absl::flat_hash_map<uint32_t, Entry>>;

  // Counts `n` operations lost before they were aggregated.
  void Drop(uint64_t n) noexcept {
    dropped_.fetch_add(n, std::memory_order_relaxed);
    std::lock_guard lock(mu_);
    pending_dropped_ += n;
  }

  void Run() {
    const absl::Duration interval =
        std::max(options_.flush_interval, kMinFlushInterval);
    std::unique_lock lock(stop_mu_);
    while (!stopping_) {
      const absl::Time next = absl::Now() + interval;
      while (!stopping_ && absl::Now() < next) {
        stop_cv_.wait_until(lock, absl::ToChronoTime(next));
      }
      if (stopping_) break;
      lock.unlock();
      {
        std::lock_guard send_lock(send_mu_);
        FlushLocked(absl::Now() + options_.send_deadline);
      }
      Export();
      lock.lock();
    }
  }

  bool FlushUntil(absl::Time deadline) noexcept {
    std::lock_guard send_lock(send_mu_);
    return FlushLocked(deadline);
  }

  // Takes the aggregate and sends it in batches of at most kMaxBatch
  // entries. Whatever is not acknowledged is dropped and counted, and the
  // count rides on the next successful batch.
  // Requires send_mu_.
  bool FlushLocked(absl::Time deadline) noexcept {
    Aggregate taken;
    uint64_t dropped_before = 0;
    {
      std::lock_guard lock(mu_);
      taken.swap(aggregate_);
      keys_ = 0;
      dropped_before = pending_dropped_;
      pending_dropped_ = 0;
    }
    if (taken.empty() && dropped_before == 0) return true;

    uint64_t total = 0;  // operations taken
    for (const auto& [flag_key, entries] : taken) {
      for (const auto& [key, entry] : entries) total += entry.count;
    }
    bool all_sent = true;
    uint64_t accounted = 0;  // operations sent, or counted as dropped
    uint64_t unreported = dropped_before;  // dropped, not yet told
    try {
      v1::ReportMigrationOpsRequest request;
      uint64_t in_request = 0;  // operations in `request`
      auto send = [&]() {
        request.set_client(options_.client_name);
        request.set_dropped(unreported);
        if (Send(request, deadline)) {
          batches_sent_.fetch_add(1, std::memory_order_relaxed);
          unreported = 0;
        } else {
          send_failures_.fetch_add(1, std::memory_order_relaxed);
          dropped_.fetch_add(in_request, std::memory_order_relaxed);
          unreported += in_request;
          all_sent = false;
        }
        accounted += in_request;
        request.Clear();
        in_request = 0;
      };
      for (const auto& [flag_key, entries] : taken) {
        for (const auto& [key, entry] : entries) {
          OpCount count;
          count.flag_key = flag_key;
          count.stage = static_cast<Stage>(key & 0xff);
          count.op = static_cast<OpKind>(key >> 8 & 0xff);
          count.origin = static_cast<Origin>(key >> 16 & 0xff);
          count.result = static_cast<OpResult>(key >> 24 & 0xff);
          count.count = entry.count;
          count.latency = entry.latency;
          count.latency_sum_seconds = entry.latency_sum_seconds;
          ToProto(count, request.add_counts());
          in_request += entry.count;
          if (static_cast<size_t>(request.counts_size()) >= kMaxBatch) send();
        }
      }
      if (request.counts_size() > 0 || unreported > 0) send();
    } catch (...) {  // std::bad_alloc while building a request
      all_sent = false;
      dropped_.fetch_add(total - accounted, std::memory_order_relaxed);
      unreported += total - accounted;
    }
    if (unreported > 0) {
      std::lock_guard lock(mu_);
      pending_dropped_ += unreported;
    }
    return all_sent;
  }

  bool Send(const v1::ReportMigrationOpsRequest& request, absl::Time deadline) {
    if (stub_ == nullptr || absl::Now() >= deadline) return false;
    grpc::ClientContext context;
    context.set_deadline(absl::ToChronoTime(deadline));
    v1::ReportMigrationOpsResponse response;
    return stub_->ReportMigrationOps(&context, request, &response).ok();
  }

  const Options options_;
  const std::unique_ptr<v1::Telemetry::Stub> stub_;

  // The locks are std::mutex rather than absl::Mutex: ThreadSanitizer
  // sees pthread locks, not those of Debian's uninstrumented Abseil
  // (scripts/tsan.sh).
  //
  // Guards the aggregate; held only for in-memory work.
  std::mutex mu_;
  Aggregate aggregate_;  // guarded by mu_
  size_t keys_ = 0;      // guarded by mu_
  // Operations dropped and not yet reported to the daemon (guarded by mu_).
  uint64_t pending_dropped_ = 0;

  // One flush at a time, so batches and drop counts stay in order.
  std::mutex send_mu_;

  std::mutex stop_mu_;
  std::condition_variable stop_cv_;  // notified when stopping_ is set
  bool stopping_ = false;            // guarded by stop_mu_

  std::atomic<uint64_t> recorded_{0};
  std::atomic<uint64_t> dropped_{0};
  std::atomic<uint64_t> batches_sent_{0};
  std::atomic<uint64_t> send_failures_{0};

  // An atomic, the Prometheus counter that mirrors it, and the value
  // exported so far.
  struct Exported {
    const std::atomic<uint64_t>* source = nullptr;
    prometheus::Counter* counter = nullptr;
    uint64_t exported = 0;
  };
  // Requires export_mu_.
  void ExportLocked() {
    for (Exported& e : exported_) {
      if (e.counter == nullptr) continue;
      const uint64_t now = e.source->load(std::memory_order_relaxed);
      e.counter->Increment(static_cast<double>(now - e.exported));
      e.exported = now;
    }
  }
  std::mutex export_mu_;
  std::array<Exported, 4> exported_{};  // guarded by export_mu_

  // Last: starts after everything it uses is constructed.
  std::thread thread_;
};

TelemetryReporter::TelemetryReporter(std::shared_ptr<grpc::Channel> channel,
                                     Options options)
    : impl_(std::make_unique<Impl>(std::move(channel), std::move(options))) {}

TelemetryReporter::~TelemetryReporter() = default;

void TelemetryReporter::Record(const OpRecord& record) noexcept {
  impl_->Record(record);
}

bool TelemetryReporter::Flush() noexcept {
  const bool sent = impl_->Flush();
  impl_->Export();
  return sent;
}

void TelemetryReporter::RegisterMetrics(prometheus::Registry& registry) {
  impl_->RegisterMetrics(registry);
}

TelemetryStats TelemetryReporter::stats() const noexcept {
  return impl_->stats();
}

}  // namespace cutover
