// cutover::Client: what a backend service links to ask "which database does
// this user read from and write to?".
//
//   ClientOptions options;
//   options.server = "127.0.0.1:7400";
//   auto client = cutover::Client::Create(options);   // StatusOr
//   Decision d = (*client)->Decide("orders", {"u-42", {{"tenant", "acme"}}});
//   if (d.plan.read_authoritative == Origin::kNew) { ... }
//
// Where a decision is made (ClientOptions::evaluation). In local mode,
// while the Watch stream is synced, Decide evaluates the flag
// itself against the synced state (below): the same core as the daemon's,
// so the same stage, reason, rule_id, bucket and flag_version as the
// daemon's Decide at that revision, with no RPC and no lock (the state is
// read through SyncedFlags::current()). A flag the synced state does not
// have gets what the daemon answers for it: off, FLAG_NOT_FOUND. Local
// decisions are counted per flag, stage and reason on per-thread counters
// (client/local_decision_counts.h: no shared write per decision) and
// reported to the daemon every decision_report_interval, which adds them
// to its cutover_decisions_total with where="client". In remote mode, and
// in local mode while the stream is not synced, the rest of this comment
// applies.
//
// Decide answers from an in-process DecisionCache when it can and from the
// daemon (Decide RPC, bounded by decide_deadline) when it must. One Watch
// stream per Client invalidates a flag's cached decisions as soon as the
// flag changes; after a break it resumes from its last revision (the daemon
// sends a RESET when it cannot replay that far, and the cache is cleared),
// reconnecting with exponential backoff and jitter. A stream silent (not
// even a heartbeat) past watch_idle_timeout is taken for half-open and
// replaced. While the stream is not synced, cached decisions older than
// unsynced_max_age are asked again rather than served as fresh.
//
// The client never invents a stage: it serves what the flag is known to
// serve. The Watch stream delivers every flag (or those of flag_keys) and
// every segment in full, and the client keeps them, compiled by the same
// core as the daemon's, as its synced state (client/synced_flags.h),
// optionally saved to snapshot_file and loaded from it at Create (before
// the stream syncs).
// When the daemon cannot answer a Decide (deadline, unavailable, any RPC
// error but INVALID_ARGUMENT), and no cached decision may be served as
// fresh, the answer is, in this order:
//   1. the synced state's evaluation, when the state has the flag and is
//      at least as new as the cached decision (or nothing is cached): the
//      decision the daemon would have given at the state's revision (same
//      stage, targets, rule_id, bucket, flag_version; an archived flag,
//      off as the daemon answers it), with reason STALE;
//   2. the cached decision (expired, or too old to trust while the stream
//      is down), with reason STALE: it is newer than the synced state, or
//      the state does not have the flag;
//   3. only for a flag the client has never seen (not in the synced state,
//      not cached): the caller's default stage (off unless given), reason
//      ERROR, with an error text that says the flag was never synced to
//      this client (or is not among flag_keys).
// A request the daemon refused as INVALID_ARGUMENT (a context over the
// daemon's limits) is not a daemon that cannot answer: it gets the
// caller's default with reason ERROR and the daemon's message, as it
// always would. Fresh cache hits have reason CACHED (rule_id and bucket
// are kept).
//
// Never throws, never blocks the caller past decide_deadline (plus
// scheduling). A corrupt or unreadable snapshot_file is reported once on
// stderr and ignored.
//
// On Debian, whose Abseil is built with absl::Mutex deadlock detection on,
// a service should turn it off in main (gRPC locks through absl::Mutex:
// about 11% of a loopback call's instructions, docs/performance.md):
//   absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
//
// Thread-safe.
#ifndef CUTOVER_CLIENT_CLIENT_H_
#define CUTOVER_CLIENT_CLIENT_H_

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "client/decision_cache.h"
#include "client/decision_source.h"
#include "core/evaluate.h"
#include "core/model.h"
#include "rpc/channel.h"

namespace grpc {
class Channel;
class ClientContext;
class Status;
}  // namespace grpc
namespace prometheus {
class Registry;
}  // namespace prometheus

namespace cutover {

struct ClientOptions {
  // The daemon, host:port; or several (read replicas) under one gRPC
  // target, e.g. "dns:///cutoverd-replicas:7400", with load_balancing
  // kRoundRobin (see rpc/channel.h and docs/replicas.md).
  std::string server = "127.0.0.1:7400";
  ChannelOptions::LoadBalancing load_balancing =
      ChannelOptions::LoadBalancing::kPickFirst;
  // kRemote: a decision not in the cache is the daemon's.
  // kLocal (the default): while the Watch stream is synced, decisions are
  // evaluated in this process from the synced flags, with no RPC per
  // decision (the client holds every flag, or those of flag_keys, and
  // every segment; needs `watch`).
  // The client counts them and reports the counts to the daemon (below),
  // which adds them to cutover_decisions_total with where="client" (its
  // own are where="daemon"); a key the synced flags do not have is counted
  // under flag="(unknown)". Both modes serve the same fallbacks when the
  // daemon cannot answer.
  enum class Evaluation { kLocal, kRemote };
  Evaluation evaluation = Evaluation::kLocal;
  // The flags this service decides, for one among very many (empty: every
  // flag). The Watch stream then carries only these (WatchRequest.
  // flag_keys; every segment still comes), so the client holds, evaluates
  // locally and falls back on these alone, in either mode. A flag not named
  // is the daemon's to decide on every call (a Decide RPC: the stream does
  // not say when it changes, so its cached decisions are never served as
  // fresh). When the daemon cannot answer, such a flag gets the daemon's
  // last answer for that user (STALE), else the caller's default (ERROR).
  // Each must be a flag key
  // ([a-z0-9][a-z0-9._-]{0,127}); the daemon refuses a stream naming more
  // than its max_batch (1000 by default): watch_error() then says so.
  std::vector<std::string> flag_keys;
  // Local mode: how often the counts of local decisions made since the
  // daemon last acknowledged a report are sent to it (Telemetry API,
  // ReportMigrationOpsRequest.decisions), from a background thread, and
  // the deadline of one report. A report that fails is carried into the
  // next; Shutdown sends a last one (bounded by the deadline).
  absl::Duration decision_report_interval = absl::Seconds(1);
  absl::Duration decision_report_deadline = absl::Seconds(2);
  // TLS: the PEM CA of the daemon's certificate (empty: plaintext, for
  // loopback or a mesh that provides TLS), and a client certificate and
  // key for mutual TLS (see rpc/channel.h).
  std::string tls_ca_file;
  std::string tls_cert_file;
  std::string tls_key_file;
  // Bearer token sent with every call (Decide, Watch, telemetry on the
  // shared channel); empty: the CUTOVER_TOKEN environment variable, if set.
  std::string token;
  // Longest a Decide waits for the daemon on a cache miss.
  absl::Duration decide_deadline = absl::Milliseconds(5);
  // Cache bounds and freshness.
  size_t cache_max_entries = 100000;
  size_t cache_max_bytes = 64 << 20;
  size_t cache_shards = 16;
  absl::Duration cache_ttl = absl::Seconds(60);
  // Keep a Watch stream open to invalidate changed flags at once. Without
  // it, changes are seen after cache_ttl.
  bool watch = true;
  // Reconnection backoff of the Watch stream: starts here, doubles up to
  // the maximum, with +-20% jitter; back to the start after a good stream.
  // The channel's own reconnection backoff uses the same bounds.
  absl::Duration reconnect_initial_backoff = absl::Milliseconds(100);
  absl::Duration reconnect_max_backoff = absl::Seconds(10);
  // Keepalive pings on the channel (see rpc/channel.h): a daemon whose
  // machine vanished is noticed after about keepalive_time +
  // keepalive_timeout, and calls move off it. Zero: no pings.
  absl::Duration keepalive_time = absl::Seconds(20);
  absl::Duration keepalive_timeout = absl::Seconds(10);
  // Create waits at most this long for the Watch stream's first SYNCED,
  // so that the first decisions are not all misses. 0: do not wait.
  absl::Duration initial_sync_wait = absl::Seconds(1);
  // Watch liveness: the daemon sends a HEARTBEAT on an idle stream every
  // heartbeat_seconds (default 10 s, see server/config.h). A stream that
  // delivers nothing at all (no event, no heartbeat) for this long is taken
  // for half-open (a network partition, a stopped daemon): it is cancelled,
  // watch_synced() turns false, and it reconnects with the backoff above.
  // Must be longer than the daemon's heartbeat interval; the default is 3x
  // the daemon's default.
  absl::Duration watch_idle_timeout = absl::Seconds(30);
  // While the Watch stream is not synced (with watch on), changes are not
  // heard of, so a cached decision older than this is not served as fresh
  // (CACHED): Decide asks the daemon again (within decide_deadline), and if
  // the daemon cannot answer serves the cached decision as STALE. Entries
  // younger than this are still served as CACHED. Zero: every cached
  // decision is re-asked while unsynced. Ignored with watch off (there
  // cache_ttl alone bounds staleness).
  absl::Duration unsynced_max_age = absl::Seconds(1);
  // Where to keep the synced state between runs (a cutover.v1.ClientSnapshot,
  // proto/cutover/v1/client_snapshot.proto); empty: nowhere. Written
  // atomically (temporary file in the same folder, fsync, rename, fsync of
  // the folder) after the stream syncs and after each change, at most once
  // per snapshot_min_interval, the last state always (at the latest by
  // Shutdown). Loaded at Create if it exists: a service restarted while
  // the daemon is down serves its flags' last known stages (STALE) until
  // the stream syncs and replaces the state. The folder must exist.
  std::string snapshot_file;
  absl::Duration snapshot_min_interval = absl::Seconds(1);

  // INVALID_ARGUMENT naming the first field that breaks its rule (Create
  // checks this first).
  absl::Status Validate() const;
};

// Counters of a Client (monotonic, except cache_entries).
struct ClientStats {
  // Evaluated in this process from the synced state while synced (local
  // mode), with the daemon's reasons.
  uint64_t local_decisions = 0;
  // Local decisions whose counts the daemon acknowledged, and reports of
  // them that failed (carried into the next).
  uint64_t local_decisions_reported = 0;
  uint64_t decision_report_failures = 0;
  uint64_t cache_hits = 0;
  uint64_t cache_misses = 0;   // asked the daemon
  uint64_t stale_serves = 0;   // expired entry served, daemon unreachable
  // Evaluated from the synced state (reason STALE), daemon unreachable.
  uint64_t local_serves = 0;
  // The caller's default served: a flag never seen, or a refused request.
  uint64_t errors = 0;
  uint64_t stream_reconnects = 0;
  // Watch streams cancelled for silence past watch_idle_timeout.
  uint64_t stream_idle_timeouts = 0;
  uint64_t invalidations = 0;  // flag or whole-cache invalidations applied
  uint64_t cache_entries = 0;
  // snapshot_file writes that succeeded and that failed.
  uint64_t snapshot_writes = 0;
  uint64_t snapshot_write_failures = 0;
};

class DecisionReporter;
class SnapshotWriter;
class SyncedFlags;
class SyncedState;

class Client final : public DecisionSource {
 public:
  // INVALID_ARGUMENT for options out of range. Connecting is not required:
  // a Client for an unreachable daemon serves its snapshot_file's state
  // (or the caller's defaults) and keeps trying.
  static absl::StatusOr<std::unique_ptr<Client>> Create(ClientOptions options);
  ~Client() override;  // Shutdown()

  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  Decision Decide(std::string_view flag_key,
                  const Context& context) noexcept override;
  // As Decide, with `default_stage` instead of off for a flag never seen.
  Decision Decide(std::string_view flag_key, const Context& context,
                  Stage default_stage) noexcept;
  // The stage alone: Decide(flag_key, context, default_stage).stage, made
  // and counted the same way, for a request path that only needs which
  // database to read and which to write (PlanFor(stage)). In local mode
  // while synced it reads and copies no string (the core's Verdict);
  // otherwise it is Decide's stage.
  Stage DecideStage(std::string_view flag_key, const Context& context,
                    Stage default_stage = Stage::kOff) noexcept;

  // The decisions for many users of one flag, in order, e.g. for a page of
  // users about to be served. In local mode while synced, each is made
  // here as Decide makes it (no RPC, no cache). Otherwise fills the cache
  // with DecideBatch calls (at most 1000 users each). Where the daemon could not answer: the
  // cached decision if Decide would serve it as fresh (CACHED), else what
  // Decide would serve (synced state or cached decision, STALE; off with
  // ERROR for a flag never seen). Counted as Decide counts: each answer
  // from the daemon a miss, and hits, stale serves and errors likewise.
  // Bounded by decide_deadline per call.
  std::vector<Decision> Prefetch(std::string_view flag_key,
                                 const std::vector<Context>& contexts) noexcept;

  ClientStats stats() const noexcept;

  // Local mode: sends the counts of local decisions the daemon has not
  // acknowledged now, on the caller's thread (as the background thread
  // does every decision_report_interval), bounded by
  // decision_report_deadline. True if the daemon acknowledged all of them,
  // or there were none (always, in remote mode); a failure is carried
  // into the next report.
  bool ReportLocalDecisions() noexcept;

  // Adds the counters to `registry` as cutover_client_* metrics (a
  // collectable the registry's owner scrapes). The registry must outlive
  // the Client's use of it; call once. The decisions counted per thread
  // (source="evaluated" and "cache": the hot paths, which write no shared
  // line) are added to the exported counters every second, by the
  // client's watchdog thread, and at Shutdown; the others at once.
  void RegisterMetrics(prometheus::Registry& registry);

  // The channel to the daemon, to share (e.g. with a TelemetryReporter).
  std::shared_ptr<grpc::Channel> channel() const { return channel_; }

  // The last store revision the Watch stream has seen (0 before the first).
  int64_t watched_revision() const noexcept { return watched_revision_; }
  // Whether the Watch stream is connected and synced.
  bool watch_synced() const noexcept { return watch_synced_; }
  // Why the last Watch stream ended before it synced (e.g. UNAVAILABLE for
  // a daemon that is down, INVALID_ARGUMENT for more flag_keys than the
  // daemon's max_batch); OK once a stream has synced. The client keeps
  // retrying with backoff either way; a refusal (the daemon answered no)
  // is also written to stderr, once per distinct refusal.
  absl::Status watch_error() const;
  // The synced state (from the stream, or loaded from snapshot_file); null
  // before there is one.
  std::shared_ptr<const SyncedState> synced_state() const noexcept;

  // Stops the Watch stream (at once) and its thread, writes the synced
  // state to snapshot_file if it changed since the last write, and, in
  // local mode, reports the local decisions not yet acknowledged (bounded
  // by decision_report_deadline). Decide keeps working from the cache, the
  // synced state and the daemon afterwards (not locally: the stream is
  // over). Idempotent.
  void Shutdown() noexcept;

 private:
  struct Counters;
  class Metrics;

  Client(ClientOptions options, std::shared_ptr<grpc::Channel> channel);
  Decision DecideUncaught(std::string_view flag_key, const Context& context,
                          Stage default_stage);
  // In local mode while synced: the answer made here from the synced
  // state into `answer` (a Decision, or a Verdict: the stage without the
  // names), counted; false (nothing counted) otherwise, or for a flag this
  // library cannot evaluate. Defined for those two types in client.cc.
  template <typename Answer>
  bool AnswerLocally(std::string_view flag_key, const Context& context,
                     Answer& answer);
  // Whether a kFresh lookup may be served as CACHED without asking the
  // daemon (see unsynced_max_age).
  bool ServableFresh(const DecisionCache::Hit& hit,
                     std::string_view flag_key) const noexcept;
  // The answer when the daemon did not answer with `status`; `decision`
  // holds the cached decision unless `cached` is a miss. See the order in
  // the file comment.
  void ServeUnanswered(std::string_view flag_key, const Context& context,
                       const DecisionCache::Hit& cached,
                       const grpc::Status& status, Stage default_stage,
                       Decision& decision);
  // Loads options_.snapshot_file into synced_ (at Create).
  void LoadSnapshotFile();
  void WatchLoop();
  // Cancels the Watch stream when it has been silent past
  // watch_idle_timeout, and exports the per-thread counters every second.
  void WatchdogLoop();
  // Adds to the exported metrics (if registered) what the per-thread
  // counters counted since the last call. Holds mu_.
  void ExportPerThreadCountsLocked();
  // One Watch stream until it breaks; returns whether it reached SYNCED.
  bool RunWatchStream();
  // Waits, holding `lock` on mu_, until Shutdown or `until`; returns
  // whether stopping.
  bool SleepLocked(std::unique_lock<std::mutex>& lock, absl::Time until);

  const ClientOptions options_;
  std::shared_ptr<grpc::Channel> channel_;
  class Stubs;
  std::unique_ptr<Stubs> stubs_;
  DecisionCache cache_;
  // The flags and segments of the Watch stream (written by the Watch
  // thread), and the writer of snapshot_file (null without one).
  std::unique_ptr<SyncedFlags> synced_;
  std::unique_ptr<SnapshotWriter> snapshot_writer_;
  std::unique_ptr<Counters> counters_;
  std::shared_ptr<Metrics> metrics_;
  // Local mode: reports counters_'s local decision counts (null
  // otherwise). After what it reads, so that it is destroyed first.
  std::unique_ptr<DecisionReporter> decision_reporter_;

  std::atomic<int64_t> watched_revision_{0};
  std::atomic<bool> watch_synced_{false};

  // std::mutex rather than absl::Mutex: ThreadSanitizer sees pthread
  // locks, not those of Debian's uninstrumented Abseil (scripts/tsan.sh).
  mutable std::mutex mu_;
  std::condition_variable stop_cv_;  // notified when stopping_ is set
  bool stopping_ = false;                         // guarded by mu_
  grpc::ClientContext* watch_context_ = nullptr;  // guarded by mu_
  absl::Status watch_error_;                      // guarded by mu_
  // When the current Watch stream last delivered something (or started),
  // in absl::ToUnixNanos of absl::Now().
  std::atomic<int64_t> watch_last_event_ns_{0};
  std::thread watch_thread_;
  std::thread watchdog_thread_;
  // What of the per-thread counters the exported metrics already hold
  // (guarded by mu_; ExportPerThreadCountsLocked).
  uint64_t exported_hits_ = 0;
  uint64_t exported_evaluated_ = 0;
};

}  // namespace cutover

#endif  // CUTOVER_CLIENT_CLIENT_H_
