#include "server/daemon.h"

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <memory>
#include <sstream>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "rpc/channel.h"
#include "credentials/token_hash.h"
#include "grpcpp/ext/proto_server_reflection_plugin.h"
#include "grpcpp/health_check_service_interface.h"
#include "grpcpp/security/server_credentials.h"
#include "grpcpp/server.h"
#include "grpcpp/server_builder.h"
#include "rpc/pem_file.h"
#include "server/admin_service.h"
#include "server/auth.h"
#include "server/evaluation_service.h"
#include "server/file_watch.h"
#include "server/flag_registry.h"
#include "server/flagd_service.h"
#include "server/flagd_sync_service.h"
#include "server/follower.h"
#include "server/op_aggregator.h"
#include "server/prometheus_metrics.h"
#include "server/prometheus_query.h"
#include "server/ramp_engine.h"
#include "server/server_metrics.h"
#include "server/store.h"
#include "server/telemetry_service.h"
#include "server/unparsable_requests.h"

namespace cutover {
namespace {

// Plaintext, TLS, or mutual TLS (a client CA requires and verifies client
// certificates).
absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> ServerCredentials(
    const TlsConfig& tls) {
  if (!tls.enabled()) return grpc::InsecureServerCredentials();
  auto cert = ReadPemFile(tls.cert_file, "tls.cert_file");
  if (!cert.ok()) return cert.status();
  auto key = ReadPemFile(tls.key_file, "tls.key_file");
  if (!key.ok()) return key.status();
  grpc::SslServerCredentialsOptions options(
      GRPC_SSL_DONT_REQUEST_CLIENT_CERTIFICATE);
  options.pem_key_cert_pairs.push_back({*key, *cert});
  if (!tls.client_ca_file.empty()) {
    auto ca = ReadPemFile(tls.client_ca_file, "tls.client_ca_file");
    if (!ca.ok()) return ca.status();
    options.pem_root_certs = *ca;
    options.client_certificate_request =
        GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY;
  }
  return grpc::SslServerCredentials(options);
}

}  // namespace

Daemon::Daemon(const DaemonConfig& config) : config_(config) {}

absl::StatusOr<std::unique_ptr<Daemon>> Daemon::Start(
    const DaemonConfig& config) {
  std::unique_ptr<Daemon> daemon(new Daemon(config));
  if (config.metrics_listen.empty()) {
    daemon->metrics_ = std::make_unique<ServerMetrics>();
  } else {
    auto prometheus = std::make_unique<PrometheusMetrics>();
    daemon->prometheus_ = prometheus.get();
    daemon->metrics_ = std::move(prometheus);
  }
  ServerMetrics* metrics = daemon->metrics_.get();
  auto authorizer = Authorizer::Create(config.auth);
  if (!authorizer.ok()) return authorizer.status();
  daemon->authorizer_ = *std::move(authorizer);
  if (config.auth.enabled && !config.auth.token_file.empty()) {
    auto watch = FileWatch::Start(config.auth.token_file, FileWatch::Options(),
                                  [d = daemon.get()] { d->ReloadTokenFile(); });
    if (!watch.ok()) return watch.status();
    daemon->token_file_watch_ = *std::move(watch);
  }
  auto credentials = ServerCredentials(config.tls);
  if (!credentials.ok()) return credentials.status();

  OpAggregator::Options telemetry;
  telemetry.window = config.telemetry_window;
  telemetry.slots = config.telemetry_slots;
  daemon->aggregator_ = std::make_unique<OpAggregator>(telemetry);
  auto store = Store::Open(config.data_dir);
  if (!store.ok()) return store.status();
  daemon->store_migrated_from_ = (*store)->migrated_from_schema();
  auto registry = FlagRegistry::Open(
      *std::move(store), static_cast<size_t>(config.watch_history), metrics,
      daemon->aggregator_.get());
  if (!registry.ok()) return registry.status();
  daemon->registry_ = *std::move(registry);
  if (config.follow.empty()) {
    // Guarded ramps: resumed from their stored states; PROMQL checks ask
    // the configured Prometheus. One daemon drives them: the primary.
    RampEngine::Options ramp_options;
    if (!config.prometheus_url.empty()) {
      daemon->registry_->AllowPromqlChecks();
      auto prometheus = std::make_shared<const PrometheusQuery>(
          config.prometheus_url, config.prometheus_query_timeout);
      ramp_options.query_promql = [prometheus](
                                      const std::string& promql,
                                      const std::atomic<bool>& cancelled) {
        return prometheus->Query(promql, cancelled);
      };
    }
    daemon->ramps_ = std::make_unique<RampEngine>(
        daemon->registry_.get(), daemon->aggregator_.get(),
        std::move(ramp_options));
  } else if (absl::Status s = daemon->StartFollowing(); !s.ok()) {
    return s;
  }

  EvaluationLimits limits;
  limits.max_batch = config.max_batch;
  limits.max_watch_streams_per_peer = config.max_watch_streams_per_peer;
  const Authorizer* auth = daemon->authorizer_.get();
  std::function<absl::Status(int64_t)> check_resume;
  if (daemon->follower_ != nullptr) {
    check_resume = [follower = daemon->follower_.get()](int64_t revision) {
      return follower->CheckResumeFrom(revision);
    };
  }
  daemon->evaluation_ = std::make_unique<EvaluationService>(
      &daemon->registry_->hub(), limits, metrics, auth,
      std::move(check_resume));
  daemon->flagd_resolver_ = std::make_unique<FlagdResolver>(
      &daemon->registry_->hub(), limits, metrics, auth);
  daemon->flagd_v1_ =
      std::make_unique<FlagdEvaluationV1>(daemon->flagd_resolver_.get());
  daemon->flagd_v2_ =
      std::make_unique<FlagdEvaluationV2>(daemon->flagd_resolver_.get());
  daemon->flagd_sync_ = std::make_unique<FlagdSync>(
      &daemon->registry_->hub(), limits, metrics, auth);
  daemon->admin_ = std::make_unique<AdminService>(
      daemon->registry_.get(), daemon->aggregator_.get(), metrics, auth,
      daemon->ramps_.get(), daemon->follower_.get());
  daemon->telemetry_ = std::make_unique<TelemetryService>(
      &daemon->registry_->hub(), daemon->aggregator_.get(), TelemetryLimits(),
      metrics, auth, daemon->follower_.get());

  grpc::EnableDefaultHealthCheckService(true);
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();
  grpc::ServerBuilder builder;
  builder.AddListeningPort(config.listen, *credentials, &daemon->grpc_port_);
  // flagd's default ports, for providers configured with a host only
  // (docs/openfeature.md): every service, the same credentials.
  for (const std::string* extra :
       {&config.flagd_evaluation_listen, &config.flagd_sync_listen}) {
    if (!extra->empty()) builder.AddListeningPort(*extra, *credentials);
  }
  builder.SetMaxReceiveMessageSize(config.max_request_bytes);
  // Clients send keepalive pings (rpc/channel.h: every 20 s by default) to
  // find a connection whose other end vanished without a reset; accept
  // them down to one a second, also on connections with no call open,
  // rather than gRPC's default of one per 5 minutes, past which a client
  // is sent away for pinging too often.
  builder.AddChannelArgument(
      GRPC_ARG_HTTP2_MIN_RECV_PING_INTERVAL_WITHOUT_DATA_MS, 1000);
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS, 1);
  builder.RegisterService(daemon->evaluation_.get());
  builder.RegisterService(daemon->admin_.get());
  builder.RegisterService(daemon->telemetry_.get());
  builder.RegisterService(daemon->flagd_v1_.get());
  builder.RegisterService(daemon->flagd_v2_.get());
  builder.RegisterService(daemon->flagd_sync_.get());
  // Request bytes that do not parse: INVALID_ARGUMENT naming the message,
  // for every method (server/unparsable_requests.h).
  std::vector<
      std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>>
      interceptors;
  interceptors.push_back(std::make_unique<UnparsableRequests>());
  builder.experimental().SetInterceptorCreators(std::move(interceptors));
  daemon->server_ = builder.BuildAndStart();
  if (daemon->server_ == nullptr || daemon->grpc_port_ == 0) {
    return absl::UnavailableError(
        absl::StrCat("cannot listen on ", config.listen,
                     config.flagd_evaluation_listen.empty() ? "" : ", ",
                     config.flagd_evaluation_listen,
                     config.flagd_sync_listen.empty() ? "" : ", ",
                     config.flagd_sync_listen,
                     " (address in use or not valid?)"));
  }

  {
    absl::MutexLock lock(&daemon->readiness_mu_);
    daemon->health_ = daemon->server_->GetHealthCheckService();
  }
  daemon->SetReady(daemon->follower_ == nullptr ||
                   daemon->follower_->state().synced);

  if (daemon->prometheus_ != nullptr) {
    daemon->prometheus_->WatchState(daemon->registry_.get());
    if (daemon->ramps_ != nullptr) {
      daemon->prometheus_->WatchRamps(daemon->ramps_.get());
    }
    if (daemon->follower_ != nullptr) {
      daemon->prometheus_->AddCollectable(
          daemon->follower_->MetricsCollectable());
    }
    if (absl::Status s = daemon->prometheus_->Serve(config.metrics_listen);
        !s.ok()) {
      return s;
    }
    daemon->metrics_port_ = daemon->prometheus_->port();
  }

  if (daemon->ramps_ != nullptr) daemon->ramps_->Start();
  daemon->last_heartbeat_ns_.store(absl::ToUnixNanos(absl::Now()));
  daemon->heartbeat_thread_ = std::thread([d = daemon.get()] {
    d->HeartbeatLoop();
  });

  return daemon;
}

absl::Status Daemon::WriteReadyFile() const {
  if (config_.ready_file.empty()) return absl::OkStatus();
  // Written whole to a temporary name, then renamed: a reader never sees
  // half a line.
  const std::string tmp = config_.ready_file + ".tmp";
  {
    std::ofstream out(tmp, std::ios::trunc);
    out << grpc_port_ << " " << metrics_port_ << "\n";
    if (!out) {
      return absl::UnavailableError(
          absl::StrCat("cannot write ready file ", tmp));
    }
  }
  if (std::rename(tmp.c_str(), config_.ready_file.c_str()) != 0) {
    return absl::UnavailableError(
        absl::StrCat("cannot write ready file ", config_.ready_file));
  }
  return absl::OkStatus();
}

absl::Status Daemon::StartFollowing() {
  Follower::Options options;
  options.primary = config_.follow;
  options.ca_file = config_.follow_ca_file;
  if (!config_.follow_token_file.empty()) {
    absl::StatusOr<std::string> token =
        TokenFromFile(config_.follow_token_file, "follow_token_file");
    if (!token.ok()) return token.status();
    options.token = *std::move(token);
  }
  auto follower = Follower::Start(std::move(options), registry_.get(),
                                  [this] { SetReady(true); });
  if (!follower.ok()) return follower.status();
  follower_ = *std::move(follower);
  return absl::OkStatus();
}

void Daemon::SetReady(bool ready) {
  absl::MutexLock lock(&readiness_mu_);
  ready_ = ready_ || ready;
  if (health_ != nullptr) health_->SetServingStatus(kReadinessService, ready_);
}

bool Daemon::Alive() const {
  const absl::Duration since =
      absl::Now() - absl::FromUnixNanos(last_heartbeat_ns_.load());
  return since < std::max(3 * config_.heartbeat_interval, absl::Seconds(3));
}

void Daemon::ReloadTokenFile() {
  size_t streams_ended = 0;
  const absl::StatusOr<bool> changed =
      authorizer_->ReloadTokenFile(&streams_ended);
  if (!changed.ok()) {
    metrics_->CountTokenFileReload("failed");
    std::fprintf(stderr, "cutoverd: token file not reloaded, the old tokens "
                         "stay: %s\n",
                 std::string(changed.status().message()).c_str());
    return;
  }
  metrics_->CountTokenFileReload(*changed ? "changed" : "unchanged");
  if (streams_ended > 0) metrics_->CountStreamsRevoked(streams_ended);
  if (*changed) {
    // How many streams, never whose token.
    std::fprintf(stderr,
                 "cutoverd: token file %s reloaded; %zu open streams ended "
                 "(token removed or role lowered)\n",
                 config_.auth.token_file.c_str(), streams_ended);
  }
}

void Daemon::HeartbeatLoop() {
  absl::MutexLock lock(&mu_);
  while (!stopping_) {
    const absl::Time until = absl::Now() + config_.heartbeat_interval;
    while (!stopping_ && absl::Now() < until) {
      mu_.AwaitWithDeadline(absl::Condition(&stopping_), until);
    }
    if (stopping_) break;
    mu_.Unlock();
    registry_->hub().Heartbeat();
    last_heartbeat_ns_.store(absl::ToUnixNanos(absl::Now()));
    mu_.Lock();
  }
}

void Daemon::Shutdown() {
  {
    absl::MutexLock lock(&mu_);
    if (stopping_) return;
    stopping_ = true;
  }
  if (heartbeat_thread_.joinable()) heartbeat_thread_.join();
  // No more changes from a primary, and no readiness after the server.
  if (follower_) follower_->Stop();
  {
    absl::MutexLock lock(&readiness_mu_);
    health_ = nullptr;
  }
  if (registry_) registry_->hub().CloseAll();
  if (server_) {
    // Drain what is in flight (admin calls, the Watch streams sending their
    // last status), then end every connection at once: gRPC's own grace
    // would also wait for each idle client to read its GOAWAY, up to 5 s
    // (server/call_gate.h). Evaluation calls finish within their handler.
    const absl::Time deadline = absl::Now() + config_.shutdown_grace;
    admin_->Drain(config_.shutdown_grace);
    while (registry_->hub().subscriber_count() > 0 && absl::Now() < deadline) {
      absl::SleepFor(absl::Milliseconds(2));
    }
    server_->Shutdown(std::chrono::system_clock::now());
    server_->Wait();
  }
  if (prometheus_ != nullptr) prometheus_->StopServing();
  if (ramps_) ramps_->Stop();
  server_.reset();
  telemetry_.reset();
  admin_.reset();
  ramps_.reset();
  follower_.reset();
  aggregator_.reset();
  evaluation_.reset();
  flagd_sync_.reset();
  flagd_v2_.reset();
  flagd_v1_.reset();
  flagd_resolver_.reset();
  registry_.reset();  // closes the store
}

Daemon::~Daemon() { Shutdown(); }

}  // namespace cutover
