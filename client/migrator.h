// cutover::Migrator: runs one read or one write against the old and the new
// database as the user's migration stage says (README.md, "The
// stages"): which side answers, which side is read alongside and compared,
// which side is written second.
//
//   Migrator migrator(&client, [&reporter](const OpRecord& r) {
//     reporter.Record(r);
//   });
//   // T is named: it cannot be deduced from lambdas.
//   absl::StatusOr<Order> order = migrator.Read<Order>(
//       "orders", context,
//       [&] { return postgres.GetOrder(id); },   // read_old
//       [&] { return dynamo.GetOrder(id); },     // read_new
//       [](const Order& a, const Order& b) { return a == b; });
//   absl::Status written = migrator.Write(
//       "orders", context,
//       [&] { return postgres.PutOrder(order); },  // write_old
//       [&] { return dynamo.PutOrder(order); });   // write_new
//
// The reference point is LaunchDarkly's migration API; the rules are:
//
// Reads. The authoritative side (PlanFor(stage).read_authoritative) runs,
// and its result, value or error, is what Read returns, unchanged. In
// shadow and live the other side runs too (in the order, or concurrency,
// of MigratorOptions::read_execution); its error never reaches the caller.
// When both sides answered, a sample of the calls (Decision::
// compare_sample_rate: 1 every call, 0 never) is compared: with the
// caller's function when both returned a value, and by presence when one
// side returned NOT_FOUND (a row missing on one side is a mismatch; missing
// on both is a match). A mismatch is counted, reported and passed to
// MigratorOptions::on_mismatch.
//
// Read-repair. In shadow (old authoritative, new compared), a Read given a
// repair function calls it after each mismatch with the old database's
// answer (the value, or NOT_FOUND when the row is gone from old), for the
// caller to write into the new database (upsert, or delete). Each repair is
// counted (MigratorStats::repairs, repair_errors) and reported as op
// kRepair on Origin::kNew with its latency; its error, or a throw, never
// reaches the caller. Other stages never repair.
//
// Writes. The authoritative side (write_authoritative) runs first. If it
// fails, its error is returned and the other side is not written. If it
// succeeds and the stage writes both, the secondary side runs next, on the
// same thread; its error is counted and reported, never returned.
//
// Reporting. Each side run becomes one OpRecord {flag, stage, op, origin,
// kOk|kFailed, latency}, and each comparison one {.., kRead, Origin::kNew,
// kMatch|kMismatch, zero latency}, handed to the OpRecorder on the calling
// thread after the operation, in the order: authoritative side, other side,
// comparison. A read that returned NOT_FOUND is recorded kOk: the database
// answered, and "no such row" is a normal answer (else lookups of absent
// keys would look like an error rate of both databases); whether the two
// sides agree about it is what the comparison says. For writes every
// non-OK status is kFailed.
//
// Stages. The plan is always PlanFor(decision.stage), the stage table, not
// decision.plan; a stage outside the table (unspecified, or a wire value
// newer than this library) is run and reported as off, the safe stage.
// The Migrator adds no fallback of its own: when the daemon cannot
// answer, Read and Write run the stage the DecisionSource gives (a
// cutover::Client serves the flag's decision from its synced state or
// cache, reason STALE, and off only for a flag it has never seen).
//
// Exceptions. Nothing a user callable throws (read, write, compare, format,
// on_mismatch, the recorder) leaves Read or Write: a side that throws is a
// side that failed with INTERNAL ("migrator: read_old threw: ..."), and
// that status is returned when the side was authoritative.
//
// Read and Write are noexcept: what they cannot catch (running out of
// memory, a T whose move constructor throws) ends the process.
//
// Thread-safety: a Migrator is safe to use from many threads at once. The
// callables must be safe to run on another thread than the caller's when
// read_execution is kConcurrent (the non-authoritative read runs on one of
// the Migrator's threads while the authoritative one runs on the caller's;
// Read returns after both finished). The OpRecorder and on_mismatch are
// called from the threads that call Read and Write, possibly at once.
#ifndef CUTOVER_CLIENT_MIGRATOR_H_
#define CUTOVER_CLIENT_MIGRATOR_H_

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include "absl/functional/function_ref.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "client/decision_source.h"
#include "client/telemetry_reporter.h"
#include "core/evaluate.h"
#include "core/model.h"
#include "core/stage.h"

namespace cutover {

// How a read that runs both sides runs them.
enum class ReadExecution {
  kSerialOldFirst,  // old, then new, on the caller's thread
  kSerialNewFirst,  // new, then old
  kSerialRandom,    // one of the two orders, picked per call at random
  kConcurrent,      // both at once: the authoritative side on the caller's
                    // thread, the other on the Migrator's thread pool
};

// What on_mismatch is told about one mismatch.
struct MismatchInfo {
  std::string flag_key;
  Stage stage = Stage::kOff;
  std::string targeting_key;
  // The side that returned NOT_FOUND while the other returned a value;
  // kNone when both returned values that the compare function found
  // different.
  Origin missing = Origin::kNone;
  // The two values as the caller's formatter renders them; set only when
  // MigratorOptions::log_values_on_mismatch is on and the call passed a
  // formatter (row data is not logged otherwise), and only for a side that
  // returned a value.
  std::optional<std::string> old_value;
  std::optional<std::string> new_value;
};

struct MigratorOptions {
  ReadExecution read_execution = ReadExecution::kConcurrent;
  // Threads of the pool that runs the non-authoritative read in
  // kConcurrent mode (started only in that mode). At most this many reads
  // run their two sides at once; a read that finds every thread busy runs
  // its two sides serially, authoritative first, instead of waiting in a
  // queue. 0 makes kConcurrent serial.
  size_t concurrent_threads = 4;
  // Pass the formatted values of mismatching rows to on_mismatch (off: row
  // data stays out of logs). Needs a formatter in the Read call too.
  bool log_values_on_mismatch = false;
  // Called once per mismatch, on the reading thread. Empty: one line to
  // stderr with the flag, stage, user key (and the values if allowed).
  std::function<void(const MismatchInfo&)> on_mismatch;
};

// Where the Migrator sends its OpRecords; may be empty (nothing is
// reported). A service wires its TelemetryReporter:
//   [&reporter](const OpRecord& r) { reporter.Record(r); }
// It is a function rather than a TelemetryReporter* so that the Migrator
// does not need the reporter's gRPC machinery (and tests can record).
using OpRecorder = std::function<void(const OpRecord&)>;

// Counters of one Migrator since construction (a snapshot; monotonic).
struct MigratorStats {
  uint64_t reads = 0;        // Read/ReadWith calls
  uint64_t writes = 0;       // Write/WriteWith calls
  uint64_t comparisons = 0;  // comparisons made (after sampling)
  uint64_t mismatches = 0;   // comparisons that found a difference
  // compare, or the formatter of a mismatch, threw (no comparison counted).
  uint64_t compare_errors = 0;
  // Sides that failed (a read's NOT_FOUND is an answer, not a failure).
  uint64_t authoritative_errors = 0;
  uint64_t shadow_errors = 0;  // shadow reads, secondary writes; not surfaced
  // kConcurrent reads run serially because every pool thread was busy.
  uint64_t concurrent_fallbacks = 0;
  uint64_t repairs = 0;        // read-repairs that succeeded
  uint64_t repair_errors = 0;  // read-repairs that failed or threw
};

// One side of a read or write. The function is only borrowed for the call
// (no copy, no allocation): pass lambdas, function pointers, std::function.
template <typename T>
using ReadFn = absl::FunctionRef<absl::StatusOr<T>()>;
template <typename T>
using WriteFn = absl::FunctionRef<absl::StatusOr<T>()>;
// Whether the two values agree; always called as (old, new).
template <typename T>
using CompareFn =
    absl::FunctionRef<bool(const T& old_value, const T& new_value)>;
// Renders a value for MismatchInfo (see log_values_on_mismatch).
template <typename T>
using FormatFn = std::function<std::string(const T&)>;
// Writes the authoritative (old) answer of a shadow read into the new
// database: the value, or NOT_FOUND for a row old does not have.
template <typename T>
using RepairFn = std::function<absl::Status(const absl::StatusOr<T>& old)>;

namespace migrator_internal {

// One typed operation seen through a type-erased interface, so that the
// scheduling, timing, sampling and reporting are compiled once, in
// migrator.cc. Any method may throw (they call user code); the Migrator
// catches.
class Operation {
 public:
  // Runs the side's callable and keeps its result; returns its status.
  virtual absl::Status Run(Origin origin) = 0;
  // compare(old, new); only called when both sides hold a value.
  virtual bool Equal() = 0;
  // The formatted value of a side that holds one; nullopt without a
  // formatter.
  virtual std::optional<std::string> Format(Origin origin) = 0;
  // Whether the call gave a repair function.
  virtual bool CanRepair() const = 0;
  // Calls the repair function with the old side's result.
  virtual absl::Status Repair() = 0;

 protected:
  ~Operation() = default;
};

template <typename T>
class TypedOperation final : public Operation {
 public:
  TypedOperation(ReadFn<T> run_old, ReadFn<T> run_new,
                 const CompareFn<T>* compare, const FormatFn<T>* format,
                 const RepairFn<T>* repair = nullptr)
      : run_old_(run_old),
        run_new_(run_new),
        compare_(compare),
        format_(format),
        repair_(repair) {}

  absl::Status Run(Origin origin) override {
    std::optional<absl::StatusOr<T>>& slot = Slot(origin);
    slot.emplace(origin == Origin::kOld ? run_old_() : run_new_());
    return slot->status();
  }
  bool Equal() override { return (*compare_)(**old_, **new_); }
  std::optional<std::string> Format(Origin origin) override {
    std::optional<absl::StatusOr<T>>& slot = Slot(origin);
    if (format_ == nullptr || !*format_ || !slot.has_value() || !slot->ok()) {
      return std::nullopt;
    }
    return (*format_)(**slot);
  }
  bool CanRepair() const override {
    return repair_ != nullptr && static_cast<bool>(*repair_);
  }
  absl::Status Repair() override { return (*repair_)(*old_); }
  // The result of a side that ran and returned (not threw).
  absl::StatusOr<T> Take(Origin origin) { return std::move(*Slot(origin)); }

 private:
  std::optional<absl::StatusOr<T>>& Slot(Origin origin) {
    return origin == Origin::kOld ? old_ : new_;
  }

  ReadFn<T> run_old_;
  ReadFn<T> run_new_;
  const CompareFn<T>* compare_;  // null for writes
  const FormatFn<T>* format_;    // null for writes
  const RepairFn<T>* repair_;    // null for writes
  std::optional<absl::StatusOr<T>> old_;
  std::optional<absl::StatusOr<T>> new_;
};

// What the untyped core tells the typed wrapper: the authoritative side,
// and its status (OK means: take its value).
struct Outcome {
  Origin authoritative = Origin::kOld;
  absl::Status status;
};

}  // namespace migrator_internal

// Runs reads and writes of one migration by its stage, compares shadow
// reads, counts and reports. See the file comment for the rules and the
// example. Thread-safe; no method throws.
class Migrator {
 public:
  // `decisions` answers Read and Write (not ReadWith/WriteWith); it must
  // outlive the Migrator. Null: every Read/Write gets the safe decision
  // (off, old database only). `recorder` may be empty.
  explicit Migrator(DecisionSource* decisions, OpRecorder recorder = {},
                    MigratorOptions options = {});
  // Stops the pool. No Read or Write may be running.
  ~Migrator();

  Migrator(const Migrator&) = delete;
  Migrator& operator=(const Migrator&) = delete;

  // Asks `decisions` for the flag's decision for `context`, then ReadWith.
  template <typename T>
  [[nodiscard]] absl::StatusOr<T> Read(
      std::string_view flag_key, const Context& context, ReadFn<T> read_old,
      ReadFn<T> read_new, CompareFn<T> compare,
      const FormatFn<T>& format = {}, const RepairFn<T>& repair = {}) noexcept {
    return ReadWith<T>(DecisionFor(flag_key, context), context, read_old,
                       read_new, compare, format, repair);
  }

  // Reads as `decision` says (e.g. one the caller already holds for a whole
  // request). Returns the authoritative side's result: its value, its
  // error, or INTERNAL if it threw. Uses PlanFor(decision.stage), the stage
  // table, and decision.compare_sample_rate.
  template <typename T>
  [[nodiscard]] absl::StatusOr<T> ReadWith(
      const Decision& decision, const Context& context, ReadFn<T> read_old,
      ReadFn<T> read_new, CompareFn<T> compare,
      const FormatFn<T>& format = {}, const RepairFn<T>& repair = {}) noexcept {
    migrator_internal::TypedOperation<T> op(read_old, read_new, &compare,
                                            &format, &repair);
    migrator_internal::Outcome outcome =
        Execute(OpKind::kRead, decision, context, op);
    if (!outcome.status.ok()) return std::move(outcome.status);
    return op.Take(outcome.authoritative);
  }

  // Asks `decisions`, then WriteWith.
  template <typename T>
  [[nodiscard]] absl::StatusOr<T> Write(std::string_view flag_key,
                                        const Context& context,
                                        WriteFn<T> write_old,
                                        WriteFn<T> write_new) noexcept {
    return WriteWith<T>(DecisionFor(flag_key, context), context, write_old,
                        write_new);
  }

  // Writes as `decision` says. Returns the authoritative write's result
  // (INTERNAL if it threw); the secondary write runs only after it
  // succeeded, and its result is not returned.
  template <typename T>
  [[nodiscard]] absl::StatusOr<T> WriteWith(const Decision& decision,
                                            const Context& context,
                                            WriteFn<T> write_old,
                                            WriteFn<T> write_new) noexcept {
    migrator_internal::TypedOperation<T> op(write_old, write_new, nullptr,
                                            nullptr);
    migrator_internal::Outcome outcome =
        Execute(OpKind::kWrite, decision, context, op);
    if (!outcome.status.ok()) return std::move(outcome.status);
    return op.Take(outcome.authoritative);
  }

  // Writes whose functions return a bare absl::Status.
  [[nodiscard]] absl::Status Write(
      std::string_view flag_key, const Context& context,
      absl::FunctionRef<absl::Status()> write_old,
      absl::FunctionRef<absl::Status()> write_new) noexcept;
  [[nodiscard]] absl::Status WriteWith(
      const Decision& decision, const Context& context,
      absl::FunctionRef<absl::Status()> write_old,
      absl::FunctionRef<absl::Status()> write_new) noexcept;

  MigratorStats stats() const noexcept;

 private:
  class Impl;

  Decision DecisionFor(std::string_view flag_key,
                       const Context& context) noexcept;
  migrator_internal::Outcome Execute(OpKind kind, const Decision& decision,
                                     const Context& context,
                                     migrator_internal::Operation& op) noexcept;

  DecisionSource* decisions_;
  std::unique_ptr<Impl> impl_;
};

}  // namespace cutover

#endif  // CUTOVER_CLIENT_MIGRATOR_H_
