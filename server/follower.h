// Follower: what makes a cutoverd a read replica (config `follow`). It
// keeps one Watch stream open to the primary, resuming from the revision
// the replica's own store holds, and hands what arrives to the
// FlagRegistry (ApplyReplicated for each revision's changes,
// ResetReplicated for a whole state after a RESET), which stores it
// durably and publishes it to the replica's own watchers. A stream that
// ends, fails, or stays silent past `silence_limit` is opened again after
// a backoff that doubles from `initial_backoff` to `max_backoff`; the
// replica serves its last state meanwhile.
//
// Telemetry reports that reach the replica are forwarded to the primary
// (gates and ramps there must see every client) by a second thread, from
// a bounded queue: a primary briefly away loses nothing; when the queue is
// full the oldest report is dropped, and counted.
//
// How far behind the replica is (connected, the primary's revision, when
// it was last heard) is read by GetServerInfo, the metrics
// (MetricsCollectable) and the readiness the daemon reports (on_synced).
//
// Thread-safe. Two threads of its own; Stop (or the destructor) ends them.
#ifndef CUTOVER_SERVER_FOLLOWER_H_
#define CUTOVER_SERVER_FOLLOWER_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "rpc/channel.h"
#include "cutover/v1/cutover.grpc.pb.h"

namespace grpc {
class Channel;
class ClientContext;
}  // namespace grpc

namespace prometheus {
class Collectable;
}  // namespace prometheus

namespace cutover {

class FlagRegistry;

class Follower {
 public:
  struct Options {
    std::string primary;  // host:port
    std::string token;    // sent to the primary; empty: none
    std::string ca_file;  // PEM CA of the primary's certificate: TLS
    absl::Duration initial_backoff = absl::Milliseconds(100);
    absl::Duration max_backoff = absl::Seconds(5);
    // Nothing heard (no event, no heartbeat) for this long: the stream is
    // taken for dead and opened again. Above the primary's
    // heartbeat_seconds (10 s by default).
    absl::Duration silence_limit = absl::Seconds(30);
    // Telemetry reports held for the primary at most; the deadline of
    // each forwarding call.
    size_t max_queued_reports = 10000;
    absl::Duration report_deadline = absl::Seconds(5);
  };

  // Where the replica is.
  struct State {
    std::string primary;
    bool connected = false;  // a stream to the primary is open
    bool synced = false;     // in sync at least once since Start
    int64_t primary_revision = 0;  // the latest the primary told of
    int64_t revision = 0;          // what this replica serves
    std::optional<absl::Time> last_heard;  // unset: never since Start
    int64_t resets = 0;        // whole states taken (RESETs)
    std::string last_error;    // why the last stream ended, if it failed
    // Telemetry reports: sent on to the primary, dropped (queue full, or
    // refused by the primary), and waiting.
    uint64_t reports_forwarded = 0;
    uint64_t reports_dropped = 0;
    uint64_t reports_queued = 0;
  };

  // Starts following. `registry` must outlive the Follower; `on_synced`
  // is called (on the Follower's thread) the first time the replica is in
  // sync with the primary. INVALID_ARGUMENT naming follow_ca_file for a CA
  // file that cannot be read.
  static absl::StatusOr<std::unique_ptr<Follower>> Start(
      Options options, FlagRegistry* registry,
      std::function<void()> on_synced);
  ~Follower();

  Follower(const Follower&) = delete;
  Follower& operator=(const Follower&) = delete;

  State state() const;

  // Queues a Telemetry report (already checked) for the primary. Never
  // waits for the network.
  void ForwardReport(const v1::ReportMigrationOpsRequest& report);

  // Whether a watcher that has seen `from_revision` may be served here
  // (the Evaluation service asks before a Watch). A replica behind it
  // refuses (UNAVAILABLE: the client tries again, on another replica when
  // it balances over several), so that no watcher is sent back to an older
  // state it has seen replaced; unless the primary, asked then, is behind
  // the watcher too (it went back, e.g. to a restored backup): its state
  // is the truth. Blocks for the primary's answer, at most 1 s.
  absl::Status CheckResumeFrom(int64_t from_revision) const;

  // The primary's Admin API on a channel that sends no token of its own:
  // for calls a replica forwards with its caller's credentials.
  v1::Admin::Stub& primary_admin() const { return *primary_admin_; }

  // The replica's gauges for Prometheus (cutover_replica_*), read at
  // scrape time; valid after the Follower is gone (it then reads the last
  // state).
  std::shared_ptr<prometheus::Collectable> MetricsCollectable() const;

  // Ends the stream and the thread. Idempotent.
  void Stop();

 private:
  struct Shared;
  class Collector;

  Follower(Options options, FlagRegistry* registry,
           std::function<void()> on_synced);
  void Run();
  // One stream, from open to end: OK if it ended because of Stop.
  absl::Status FollowOnce();
  // Waits `delay` or until Stop; false if stopping.
  bool Backoff(absl::Duration delay);
  // The forwarding thread: sends queued reports in order, each until the
  // primary takes it (or refuses it as bad: dropped).
  void ForwardReports();

  const Options options_;
  FlagRegistry* const registry_;
  std::function<void()> on_synced_;
  std::shared_ptr<Shared> shared_;
  std::shared_ptr<grpc::Channel> channel_;  // to the primary, set by Start
  std::unique_ptr<v1::Admin::Stub> primary_admin_;  // set by Start
  // The primary's Admin API with the follow token (GetServerInfo).
  std::unique_ptr<v1::Admin::Stub> primary_info_;
  std::thread thread_;
  std::thread forward_thread_;
};

}  // namespace cutover

#endif  // CUTOVER_SERVER_FOLLOWER_H_
