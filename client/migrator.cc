#include "client/migrator.h"

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <deque>
#include <exception>
#include <functional>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"

namespace cutover {
namespace {

using migrator_internal::Operation;
using migrator_internal::Outcome;

// What one side did.
struct SideResult {
  bool ran = false;
  absl::Status status;
  absl::Duration latency = absl::ZeroDuration();
};

const char* FunctionName(OpKind kind, Origin origin) {
  if (kind == OpKind::kRead) {
    return origin == Origin::kOld ? "read_old" : "read_new";
  }
  return origin == Origin::kOld ? "write_old" : "write_new";
}

// Runs one side, timing it; whatever the side throws becomes INTERNAL.
SideResult RunSide(Operation& op, OpKind kind, Origin origin) noexcept {
  SideResult result;
  result.ran = true;
  const auto start = std::chrono::steady_clock::now();
  try {
    result.status = op.Run(origin);
  } catch (const std::exception& e) {
    result.status = absl::InternalError(absl::StrCat(
        "migrator: ", FunctionName(kind, origin), " threw: ", e.what()));
  } catch (...) {
    result.status = absl::InternalError(
        absl::StrCat("migrator: ", FunctionName(kind, origin), " threw"));
  }
  result.latency = absl::FromChrono(std::chrono::steady_clock::now() - start);
  return result;
}

// A read that answered NOT_FOUND did answer: the row is not there. Writes
// have no such case: a write that did not happen failed.
bool Failed(OpKind kind, const absl::Status& status) {
  if (kind == OpKind::kRead && absl::IsNotFound(status)) return false;
  return !status.ok();
}

// Stages outside the table (kUnspecified, a newer wire value) are served,
// planned and reported as off, the safe stage.
Stage EffectiveStage(Stage stage) {
  const int value = static_cast<int>(stage);
  if (value < static_cast<int>(kFirstStage) ||
      value > static_cast<int>(kLastStage)) {
    return Stage::kOff;
  }
  return stage;
}

// Per-thread generator for sampling and random order: no lock, no shared
// state. Seeded per thread from the clock and a process-wide counter (good
// enough for sampling; nothing here must be unpredictable).
std::mt19937_64& ThreadRng() {
  static std::atomic<uint64_t> threads{0};
  thread_local std::mt19937_64 rng([] {
    const uint64_t n = threads.fetch_add(1, std::memory_order_relaxed);
    const uint64_t now = static_cast<uint64_t>(
        std::chrono::steady_clock::now().time_since_epoch().count());
    const uint64_t id =
        std::hash<std::thread::id>{}(std::this_thread::get_id());
    return now ^ (n * 0x9E3779B97F4A7C15ull) ^ (id << 1);
  }());
  return rng;
}

// True for a `rate` share of calls: never for rate <= 0 (or NaN), always
// for rate >= 1.
bool Sample(double rate) {
  if (!(rate > 0)) return false;
  if (rate >= 1) return true;
  const double u = static_cast<double>(ThreadRng()() >> 11) * 0x1.0p-53;
  return u < rate;
}

void LogMismatchToStderr(const MismatchInfo& info) {
  std::string line = absl::StrCat(
      "cutover: migration mismatch flag=", info.flag_key,
      " stage=", StageName(info.stage), " key=", info.targeting_key);
  if (info.missing != Origin::kNone) {
    absl::StrAppend(&line, " missing=", OriginName(info.missing));
  }
  if (info.old_value.has_value()) {
    absl::StrAppend(&line, " old=", *info.old_value);
  }
  if (info.new_value.has_value()) {
    absl::StrAppend(&line, " new=", *info.new_value);
  }
  line.push_back('\n');
  // One write per line, so lines of concurrent mismatches do not interleave.
  std::fwrite(line.data(), 1, line.size(), stderr);
}

// The other side of a concurrent read, handed to a pool thread. Lives on
// the reading thread's stack until Wait returns.
struct Job {
  Operation* op = nullptr;
  Origin origin = Origin::kNone;
  SideResult result;

  std::mutex mu;
  std::condition_variable cv;
  bool done = false;

  void Finish() {
    std::lock_guard<std::mutex> lock(mu);
    done = true;
    // Notify under the lock: the reader cannot see `done`, return and
    // destroy the job before this thread is finished with it.
    cv.notify_one();
  }
  void Wait() {
    std::unique_lock<std::mutex> lock(mu);
    cv.wait(lock, [this] { return done; });
  }
};

// A fixed set of threads that each take one job at a time. A job is only
// accepted when a thread is idle to take it, so nothing ever waits in a
// queue and the queue never holds more jobs than there are threads.
class Pool {
 public:
  explicit Pool(size_t threads) {
    threads_.reserve(threads);
    for (size_t i = 0; i < threads; ++i) {
      try {
        threads_.emplace_back([this] { Loop(); });
      } catch (...) {
        break;  // fewer threads; reads fall back to serial sooner
      }
    }
    std::lock_guard<std::mutex> lock(mu_);
    idle_ = threads_.size();
  }

  ~Pool() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      stopping_ = true;
    }
    cv_.notify_all();
    for (std::thread& thread : threads_) thread.join();
  }

  // Hands `job` to an idle thread; false if none is idle.
  bool TrySubmit(Job* job) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (idle_ == 0 || stopping_) return false;
      --idle_;
      queue_.push_back(job);
    }
    cv_.notify_one();
    return true;
  }

 private:
  void Loop() {
    std::unique_lock<std::mutex> lock(mu_);
    while (true) {
      cv_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
      if (queue_.empty()) return;  // stopping, nothing left
      Job* job = queue_.front();
      queue_.pop_front();
      lock.unlock();
      job->result = RunSide(*job->op, OpKind::kRead, job->origin);
      job->Finish();
      lock.lock();
      ++idle_;
    }
  }

  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Job*> queue_;
  size_t idle_ = 0;
  bool stopping_ = false;
  std::vector<std::thread> threads_;
};

// Write functions that return a bare absl::Status.
class StatusOperation final : public Operation {
 public:
  StatusOperation(absl::FunctionRef<absl::Status()> run_old,
                  absl::FunctionRef<absl::Status()> run_new)
      : run_old_(run_old), run_new_(run_new) {}
  absl::Status Run(Origin origin) override {
    return origin == Origin::kOld ? run_old_() : run_new_();
  }
  bool Equal() override { return true; }  // writes are not compared
  std::optional<std::string> Format(Origin) override { return std::nullopt; }
  bool CanRepair() const override { return false; }  // writes are not
  absl::Status Repair() override { return absl::OkStatus(); }

 private:
  absl::FunctionRef<absl::Status()> run_old_;
  absl::FunctionRef<absl::Status()> run_new_;
};

}  // namespace

class Migrator::Impl {
 public:
  Impl(OpRecorder recorder, MigratorOptions options)
      : recorder_(std::move(recorder)), options_(std::move(options)) {
    if (options_.read_execution == ReadExecution::kConcurrent &&
        options_.concurrent_threads > 0) {
      pool_ = std::make_unique<Pool>(options_.concurrent_threads);
    }
  }

  Outcome Execute(OpKind kind, const Decision& decision, const Context& context,
                  Operation& op) noexcept;
  MigratorStats stats() const noexcept;

 private:
  // Runs both sides of a read as read_execution says; fills old/new.
  void RunBoth(Operation& op, Origin authoritative, Origin other,
               SideResult& auth_result, SideResult& other_result) noexcept;
  void Compare(const Decision& decision, Stage stage, const Context& context,
               Operation& op, const SideResult& old_result,
               const SideResult& new_result) noexcept;
  // Runs op's repair function, timed, counted and recorded.
  void Repair(const Decision& decision, Stage stage, Operation& op) noexcept;
  void Record(const std::string& flag_key, Stage stage, OpKind kind,
              Origin origin, OpResult result, absl::Duration latency) noexcept;

  static void Add(std::atomic<uint64_t>& counter) {
    counter.fetch_add(1, std::memory_order_relaxed);
  }

  const OpRecorder recorder_;
  const MigratorOptions options_;
  std::unique_ptr<Pool> pool_;

  std::atomic<uint64_t> reads_{0};
  std::atomic<uint64_t> writes_{0};
  std::atomic<uint64_t> comparisons_{0};
  std::atomic<uint64_t> mismatches_{0};
  std::atomic<uint64_t> compare_errors_{0};
  std::atomic<uint64_t> authoritative_errors_{0};
  std::atomic<uint64_t> shadow_errors_{0};
  std::atomic<uint64_t> concurrent_fallbacks_{0};
  std::atomic<uint64_t> repairs_{0};
  std::atomic<uint64_t> repair_errors_{0};
};

Outcome Migrator::Impl::Execute(OpKind kind, const Decision& decision,
                                const Context& context,
                                Operation& op) noexcept {
  const Stage stage = EffectiveStage(decision.stage);
  const StagePlan plan = PlanFor(stage);
  const bool read = kind == OpKind::kRead;
  const Origin authoritative =
      read ? plan.read_authoritative : plan.write_authoritative;
  const Origin other = read ? plan.read_shadow : plan.write_secondary;
  Add(read ? reads_ : writes_);

  SideResult auth_result;
  SideResult other_result;
  if (other == Origin::kNone) {
    auth_result = RunSide(op, kind, authoritative);
  } else if (read) {
    RunBoth(op, authoritative, other, auth_result, other_result);
  } else {
    auth_result = RunSide(op, kind, authoritative);
    // Never write the secondary when the authoritative write failed: the
    // secondary would then hold data the user was told was not written.
    if (auth_result.status.ok()) other_result = RunSide(op, kind, other);
  }

  const bool auth_failed = Failed(kind, auth_result.status);
  if (auth_failed) Add(authoritative_errors_);
  Record(decision.flag_key, stage, kind, authoritative,
         auth_failed ? OpResult::kFailed : OpResult::kOk, auth_result.latency);
  if (other_result.ran) {
    const bool other_failed = Failed(kind, other_result.status);
    if (other_failed) Add(shadow_errors_);
    Record(decision.flag_key, stage, kind, other,
           other_failed ? OpResult::kFailed : OpResult::kOk,
           other_result.latency);
    if (read) {
      const bool old_is_auth = authoritative == Origin::kOld;
      Compare(decision, stage, context, op,
              old_is_auth ? auth_result : other_result,
              old_is_auth ? other_result : auth_result);
    }
  }
  return Outcome{authoritative, std::move(auth_result.status)};
}

void Migrator::Impl::RunBoth(Operation& op, Origin authoritative, Origin other,
                             SideResult& auth_result,
                             SideResult& other_result) noexcept {
  Origin first = authoritative;
  switch (options_.read_execution) {
    case ReadExecution::kConcurrent: {
      Job job;
      job.op = &op;
      job.origin = other;
      if (pool_ != nullptr && pool_->TrySubmit(&job)) {
        auth_result = RunSide(op, OpKind::kRead, authoritative);
        job.Wait();
        other_result = std::move(job.result);
        return;
      }
      // Every pool thread is busy: serial now beats a queue that grows.
      Add(concurrent_fallbacks_);
      first = authoritative;
      break;
    }
    case ReadExecution::kSerialOldFirst:
      first = Origin::kOld;
      break;
    case ReadExecution::kSerialNewFirst:
      first = Origin::kNew;
      break;
    case ReadExecution::kSerialRandom:
      first = (ThreadRng()() & 1) ? Origin::kOld : Origin::kNew;
      break;
  }
  if (first == authoritative) {
    auth_result = RunSide(op, OpKind::kRead, authoritative);
    other_result = RunSide(op, OpKind::kRead, other);
  } else {
    other_result = RunSide(op, OpKind::kRead, other);
    auth_result = RunSide(op, OpKind::kRead, authoritative);
  }
}

void Migrator::Impl::Compare(const Decision& decision, Stage stage,
                             const Context& context, Operation& op,
                             const SideResult& old_result,
                             const SideResult& new_result) noexcept {
  const absl::Status& old_status = old_result.status;
  const absl::Status& new_status = new_result.status;
  // Only answers can be compared: a value, or NOT_FOUND ("no such row").
  // Any other error says nothing about the data.
  const auto answered = [](const absl::Status& s) {
    return s.ok() || absl::IsNotFound(s);
  };
  if (!answered(old_status) || !answered(new_status)) return;
  // Sampled before knowing the kind of comparison, so that missing rows
  // and differing values are sampled alike and the mismatch rate is not
  // skewed towards either.
  if (!Sample(decision.compare_sample_rate)) return;

  bool match = true;
  Origin missing = Origin::kNone;
  if (old_status.ok() && new_status.ok()) {
    try {
      match = op.Equal();
    } catch (...) {
      Add(compare_errors_);
      return;
    }
  } else if (old_status.ok() != new_status.ok()) {
    match = false;
    missing = old_status.ok() ? Origin::kNew : Origin::kOld;
  }  // else: missing on both sides, which agrees.

  Add(comparisons_);
  Record(decision.flag_key, stage, OpKind::kRead, Origin::kNew,
         match ? OpResult::kMatch : OpResult::kMismatch, absl::ZeroDuration());
  if (match) return;
  Add(mismatches_);

  try {
    MismatchInfo info;
    info.flag_key = decision.flag_key;
    info.stage = stage;
    info.targeting_key = context.targeting_key;
    info.missing = missing;
    if (options_.log_values_on_mismatch) {
      try {
        info.old_value = op.Format(Origin::kOld);
        info.new_value = op.Format(Origin::kNew);
      } catch (...) {
        Add(compare_errors_);
        info.old_value.reset();
        info.new_value.reset();
      }
    }
    if (options_.on_mismatch) {
      options_.on_mismatch(info);
    } else {
      LogMismatchToStderr(info);
    }
  } catch (...) {
    // on_mismatch is the caller's; its failure is not the read's.
  }
  if (stage == Stage::kShadow && op.CanRepair()) Repair(decision, stage, op);
}

void Migrator::Impl::Repair(const Decision& decision, Stage stage,
                            Operation& op) noexcept {
  const absl::Time start = absl::Now();
  bool repaired = false;
  try {
    repaired = op.Repair().ok();
  } catch (...) {
    // A repair that throws failed; the read still returns old's answer.
  }
  Add(repaired ? repairs_ : repair_errors_);
  Record(decision.flag_key, stage, OpKind::kRepair, Origin::kNew,
         repaired ? OpResult::kOk : OpResult::kFailed, absl::Now() - start);
}

void Migrator::Impl::Record(const std::string& flag_key, Stage stage,
                            OpKind kind, Origin origin, OpResult result,
                            absl::Duration latency) noexcept {
  if (!recorder_) return;
  try {
    recorder_(OpRecord{flag_key, stage, kind, origin, result, latency});
  } catch (...) {
    // Reporting is best effort; it never fails the operation.
  }
}

MigratorStats Migrator::Impl::stats() const noexcept {
  MigratorStats s;
  s.reads = reads_.load(std::memory_order_relaxed);
  s.writes = writes_.load(std::memory_order_relaxed);
  s.comparisons = comparisons_.load(std::memory_order_relaxed);
  s.repairs = repairs_.load(std::memory_order_relaxed);
  s.repair_errors = repair_errors_.load(std::memory_order_relaxed);
  s.mismatches = mismatches_.load(std::memory_order_relaxed);
  s.compare_errors = compare_errors_.load(std::memory_order_relaxed);
  s.authoritative_errors =
      authoritative_errors_.load(std::memory_order_relaxed);
  s.shadow_errors = shadow_errors_.load(std::memory_order_relaxed);
  s.concurrent_fallbacks =
      concurrent_fallbacks_.load(std::memory_order_relaxed);
  return s;
}

Migrator::Migrator(DecisionSource* decisions, OpRecorder recorder,
                   MigratorOptions options)
    : decisions_(decisions),
      impl_(std::make_unique<Impl>(std::move(recorder), std::move(options))) {}

Migrator::~Migrator() = default;

Decision Migrator::DecisionFor(std::string_view flag_key,
                               const Context& context) noexcept {
  if (decisions_ == nullptr) {
    return SafeDecision(std::string(flag_key), Reason::kError,
                        "migrator: no decision source");
  }
  Decision decision = decisions_->Decide(flag_key, context);
  if (decision.flag_key.empty()) decision.flag_key = std::string(flag_key);
  return decision;
}

Outcome Migrator::Execute(OpKind kind, const Decision& decision,
                          const Context& context, Operation& op) noexcept {
  return impl_->Execute(kind, decision, context, op);
}

absl::Status Migrator::Write(
    std::string_view flag_key, const Context& context,
    absl::FunctionRef<absl::Status()> write_old,
    absl::FunctionRef<absl::Status()> write_new) noexcept {
  return WriteWith(DecisionFor(flag_key, context), context, write_old,
                   write_new);
}

absl::Status Migrator::WriteWith(
    const Decision& decision, const Context& context,
    absl::FunctionRef<absl::Status()> write_old,
    absl::FunctionRef<absl::Status()> write_new) noexcept {
  StatusOperation op(write_old, write_new);
  return Execute(OpKind::kWrite, decision, context, op).status;
}

MigratorStats Migrator::stats() const noexcept { return impl_->stats(); }

}  // namespace cutover
