// TelemetryReporter: counts the migration operations a service runs and
// reports them to the daemon's Telemetry API in batches, from a background
// thread, off the request path.
//
//   TelemetryReporter reporter(channel, {});
//   reporter.Record({"orders", Stage::kShadow, OpKind::kRead, Origin::kNew,
//                    OpResult::kOk, absl::Microseconds(420)});
//
// Record never blocks on the network and never throws: it adds to an
// in-memory aggregate (one entry per flag, stage, op, origin and result,
// with a latency histogram), bounded by Options::max_keys; a record that
// does not fit is dropped and counted. Every Options::flush_interval the
// background thread sends the aggregate; if the daemon is unreachable the
// batch is dropped and counted (the next batch carries the count), never
// retried in a loop that could grow memory.
//
// Thread-safe.
#ifndef CUTOVER_CLIENT_TELEMETRY_REPORTER_H_
#define CUTOVER_CLIENT_TELEMETRY_REPORTER_H_

#include <cstdint>
#include <memory>
#include <string>

#include "absl/time/time.h"
#include "core/migration_ops.h"
#include "core/stage.h"

namespace grpc {
class Channel;
}  // namespace grpc
namespace prometheus {
class Registry;
}  // namespace prometheus

namespace cutover {

// One operation on one database, or one comparison (kMatch / kMismatch,
// recorded on Origin::kNew with zero latency).
struct OpRecord {
  std::string flag_key;
  Stage stage = Stage::kOff;
  OpKind op = OpKind::kRead;
  Origin origin = Origin::kOld;
  OpResult result = OpResult::kOk;
  absl::Duration latency = absl::ZeroDuration();
};

// Counters of the reporter itself.
struct TelemetryStats {
  uint64_t recorded = 0;      // operations accepted by Record
  uint64_t dropped = 0;       // operations lost (full, or send failed)
  uint64_t batches_sent = 0;  // successful ReportMigrationOps calls
  uint64_t send_failures = 0; // failed ReportMigrationOps calls
};

class TelemetryReporter {
 public:
  struct Options {
    // How often the aggregate is sent.
    absl::Duration flush_interval = absl::Seconds(1);
    // Deadline of one ReportMigrationOps call.
    absl::Duration send_deadline = absl::Seconds(2);
    // Distinct (flag, stage, op, origin, result) entries held at once.
    size_t max_keys = 4096;
    // Names this process in the daemon's logs.
    std::string client_name;
  };

  // Starts the background thread. `channel` is shared (e.g. the Client's).
  TelemetryReporter(std::shared_ptr<grpc::Channel> channel, Options options);
  // Flushes once more (bounded by send_deadline) and stops.
  ~TelemetryReporter();

  TelemetryReporter(const TelemetryReporter&) = delete;
  TelemetryReporter& operator=(const TelemetryReporter&) = delete;

  void Record(const OpRecord& record) noexcept;

  // Sends what is aggregated now, on the caller's thread (tests, shutdown).
  // Returns true if the daemon accepted the batch (or there was nothing).
  bool Flush() noexcept;

  TelemetryStats stats() const noexcept;

  // Adds the reporter's counters to `registry` as
  // cutover_client_telemetry_operations_total{result="recorded"|"dropped"}
  // and cutover_client_telemetry_batches_total{result="sent"|"failed"},
  // brought up to date after every flush. The registry must outlive the
  // reporter; call once.
  void RegisterMetrics(prometheus::Registry& registry);

 private:
  class Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace cutover

#endif  // CUTOVER_CLIENT_TELEMETRY_REPORTER_H_
