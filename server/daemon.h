// Daemon: cutoverd's running parts wired together: the store, the flag
// registry and its snapshot hub, the gRPC server (Evaluation, Admin,
// Telemetry, health, reflection), the in-memory aggregate of reported
// migration operations, Watch heartbeats and the Prometheus endpoint; on
// a primary the guarded ramps, on a read replica (config `follow`) the
// Follower that keeps it in step with its primary.
//
// Health (grpc.health.v1): the whole server ("") is SERVING while it
// runs, stale or not (decisions from the last state beat none); the
// service kReadinessService is SERVING once the daemon can answer from
// a current state: at once on a primary, after the first sync with the
// primary on a replica. Kubernetes' readiness probe asks for it.
//
//   auto daemon = Daemon::Start(config);   // listening when it returns
//   ...                                    // wait for SIGTERM
//   (*daemon)->Shutdown();                 // drain, then close the store
//
// Thread-safe; Shutdown is idempotent and also run by the destructor.
#ifndef CUTOVER_SERVER_DAEMON_H_
#define CUTOVER_SERVER_DAEMON_H_

#include <atomic>
#include <cstdint>
#include <memory>
#include <thread>

#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "server/config.h"

namespace grpc {
class HealthCheckServiceInterface;
class Server;
}  // namespace grpc

namespace cutover {

class AdminService;
class Authorizer;
class EvaluationService;
class FlagdEvaluationV1;
class FlagdEvaluationV2;
class FlagdResolver;
class FlagdSync;
class FlagRegistry;
class OpAggregator;
class PrometheusMetrics;
class RampEngine;
class ServerMetrics;
class TelemetryService;
class FileWatch;
class Follower;

// The grpc.health.v1 service name whose status is the daemon's readiness.
inline constexpr char kReadinessService[] = "cutover.v1.Evaluation";

class Daemon {
 public:
  // Opens the store and starts serving. `config` is taken as checked
  // (ResolveConfig, server/config_flags.h, checks what cutoverd is given).
  // FAILED_PRECONDITION for a locked data folder or unknown schema,
  // UNAVAILABLE if an address cannot be bound, INVALID_ARGUMENT for tokens
  // or TLS files that cannot be used.
  static absl::StatusOr<std::unique_ptr<Daemon>> Start(
      const DaemonConfig& config);
  ~Daemon();

  int grpc_port() const { return grpc_port_; }
  int metrics_port() const { return metrics_port_; }
  // The store schema version Start found and migrated from, or 0 (see
  // Store::migrated_from_schema).
  int store_migrated_from_schema() const { return store_migrated_from_; }

  // Writes "<grpc port> <metrics port>" to the configured ready_file (none
  // configured: nothing). cutoverd calls it once it has said on stderr all
  // it says at start, so whoever waits for the file reads every start-up
  // line. UNAVAILABLE if the file cannot be written.
  absl::Status WriteReadyFile() const;

  // Whether the daemon's heartbeat loop (which sends every Watch stream
  // its heartbeat through the change hub) has run within three heartbeat
  // intervals (at least 3 s): the liveness systemd's watchdog is fed on
  // (server/service_manager.h). Any thread.
  bool Alive() const;

  // Ends Watch streams and refuses new admin calls (UNAVAILABLE), lets the
  // admin calls in flight finish and the streams send their last status
  // (up to the configured grace), closes every connection, then the store.
  void Shutdown();

 private:
  explicit Daemon(const DaemonConfig& config);
  void HeartbeatLoop();
  // The token file's folder changed: read it again (Authorizer), count and
  // log what happened (never a token).
  void ReloadTokenFile();
  // A replica: starts following (follower_). INVALID_ARGUMENT for a token
  // or CA file that cannot be read.
  absl::Status StartFollowing();
  // The readiness service's status: the server's health once built, and
  // ready_ (any thread; the Follower calls it once in sync).
  void SetReady(bool ready);

  const DaemonConfig config_;
  // Declared first so that it outlives everything that counts into it.
  std::unique_ptr<ServerMetrics> metrics_;
  // metrics_ when /metrics is served, else null.
  PrometheusMetrics* prometheus_ = nullptr;
  std::unique_ptr<Authorizer> authorizer_;
  // Set when auth reads a token file; stopped before authorizer_ goes.
  std::unique_ptr<FileWatch> token_file_watch_;
  std::unique_ptr<FlagRegistry> registry_;
  std::unique_ptr<EvaluationService> evaluation_;
  std::unique_ptr<FlagdResolver> flagd_resolver_;
  std::unique_ptr<FlagdEvaluationV1> flagd_v1_;
  std::unique_ptr<FlagdEvaluationV2> flagd_v2_;
  std::unique_ptr<FlagdSync> flagd_sync_;
  std::unique_ptr<OpAggregator> aggregator_;
  std::unique_ptr<RampEngine> ramps_;  // a primary's only
  std::unique_ptr<Follower> follower_;  // a replica's only
  std::unique_ptr<AdminService> admin_;
  std::unique_ptr<TelemetryService> telemetry_;
  std::unique_ptr<grpc::Server> server_;
  int grpc_port_ = 0;
  int metrics_port_ = 0;
  int store_migrated_from_ = 0;

  absl::Mutex mu_;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  // Readiness, and where to report it (null before the server is built
  // and after it shuts down).
  absl::Mutex readiness_mu_;
  bool ready_ ABSL_GUARDED_BY(readiness_mu_) = false;
  grpc::HealthCheckServiceInterface* health_ ABSL_GUARDED_BY(readiness_mu_) =
      nullptr;
  // absl::Now() in nanoseconds when the heartbeat loop last ran (or Start).
  std::atomic<int64_t> last_heartbeat_ns_{0};
  std::thread heartbeat_thread_;
};

}  // namespace cutover

#endif  // CUTOVER_SERVER_DAEMON_H_
