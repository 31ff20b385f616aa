#include "server/daemon.h"

#include <fstream>
#include <utility>

#include "absl/strings/str_cat.h"
#include "grpcpp/ext/proto_server_reflection_plugin.h"
#include "grpcpp/health_check_service_interface.h"
#include "grpcpp/security/server_credentials.h"
#include "grpcpp/server.h"
#include "grpcpp/server_builder.h"
#include "prometheus/collectable.h"
#include "prometheus/exposer.h"
#include "prometheus/metric_family.h"
#include "prometheus/registry.h"
#include "server/admin_service.h"
#include "server/evaluation_service.h"
#include "server/flag_registry.h"
#include "server/op_aggregator.h"
#include "server/store.h"
#include "server/telemetry_service.h"

namespace cutover {
namespace {

// Gauges computed at scrape time from the current state, so the request
// path pays nothing for them.
class StateCollector final : public prometheus::Collectable {
 public:
  explicit StateCollector(FlagRegistry* registry) : registry_(registry) {}

  std::vector<prometheus::MetricFamily> Collect() const override {
    const auto snapshot = registry_->hub().snapshot();
    int64_t active = 0, archived = 0;
    for (const auto& [key, entry] : snapshot->flags) {
      (entry->proto.archived() ? archived : active) += 1;
    }
    std::vector<prometheus::MetricFamily> families;
    families.push_back(Gauge("cutover_store_revision",
                             "The store revision of the served snapshot.",
                             {{{}, static_cast<double>(snapshot->revision)}}));
    families.push_back(Gauge(
        "cutover_flags", "Flags in the store, by state.",
        {{{{"state", "active"}}, static_cast<double>(active)},
         {{{"state", "archived"}}, static_cast<double>(archived)}}));
    families.push_back(
        Gauge("cutover_segments", "Segments in the store.",
              {{{}, static_cast<double>(snapshot->segment_protos.size())}}));
    families.push_back(Gauge(
        "cutover_watch_subscribers", "Open Watch streams.",
        {{{}, static_cast<double>(registry_->hub().subscriber_count())}}));
    families.push_back(Gauge(
        "cutover_store_live_data_bytes",
        "RocksDB's estimate of live data in the store.",
        {{{}, static_cast<double>(registry_->store().LiveDataBytes())}}));
    return families;
  }

 private:
  using Labels = std::vector<std::pair<std::string, std::string>>;

  static prometheus::MetricFamily Gauge(
      const std::string& name, const std::string& help,
      const std::vector<std::pair<Labels, double>>& samples) {
    prometheus::MetricFamily family;
    family.name = name;
    family.help = help;
    family.type = prometheus::MetricType::Gauge;
    for (const auto& [labels, value] : samples) {
      prometheus::ClientMetric metric;
      for (const auto& [label, label_value] : labels) {
        metric.label.push_back({label, label_value});
      }
      metric.gauge.value = value;
      family.metric.push_back(std::move(metric));
    }
    return family;
  }

  FlagRegistry* const registry_;
};

}  // namespace

Daemon::Daemon(const DaemonConfig& config) : config_(config) {}

absl::StatusOr<std::unique_ptr<Daemon>> Daemon::Start(
    const DaemonConfig& config) {
  if (absl::Status valid = ValidateConfig(config); !valid.ok()) return valid;
  std::unique_ptr<Daemon> daemon(new Daemon(config));

  auto store = Store::Open(config.data_dir);
  if (!store.ok()) return store.status();
  auto registry = FlagRegistry::Open(*std::move(store),
                                     static_cast<size_t>(config.watch_history));
  if (!registry.ok()) return registry.status();
  daemon->registry_ = *std::move(registry);

  EvaluationLimits limits;
  limits.max_batch = config.max_batch;
  daemon->evaluation_ =
      std::make_unique<EvaluationService>(&daemon->registry_->hub(), limits);
  OpAggregator::Options telemetry;
  telemetry.window = config.telemetry_window;
  telemetry.slots = config.telemetry_slots;
  daemon->aggregator_ = std::make_unique<OpAggregator>(telemetry);
  daemon->admin_ = std::make_unique<AdminService>(daemon->registry_.get(),
                                                  daemon->aggregator_.get());
  daemon->telemetry_ = std::make_unique<TelemetryService>(
      &daemon->registry_->hub(), daemon->aggregator_.get());

  grpc::EnableDefaultHealthCheckService(true);
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();
  grpc::ServerBuilder builder;
  builder.AddListeningPort(config.listen, grpc::InsecureServerCredentials(),
                           &daemon->grpc_port_);
  builder.SetMaxReceiveMessageSize(config.max_request_bytes);
  builder.RegisterService(daemon->evaluation_.get());
  builder.RegisterService(daemon->admin_.get());
  builder.RegisterService(daemon->telemetry_.get());
  daemon->server_ = builder.BuildAndStart();
  if (daemon->server_ == nullptr || daemon->grpc_port_ == 0) {
    return absl::UnavailableError(
        absl::StrCat("cannot listen on ", config.listen,
                     " (address in use or not valid?)"));
  }

  if (!config.metrics_listen.empty()) {
    daemon->metrics_ = std::make_shared<prometheus::Registry>();
    try {
      daemon->exposer_ =
          std::make_unique<prometheus::Exposer>(config.metrics_listen);
    } catch (const std::exception& e) {
      return absl::UnavailableError(absl::StrCat(
          "cannot serve metrics on ", config.metrics_listen, ": ", e.what()));
    }
    daemon->exposer_->RegisterCollectable(daemon->metrics_);
    daemon->state_collector_ =
        std::make_shared<StateCollector>(daemon->registry_.get());
    daemon->exposer_->RegisterCollectable(daemon->state_collector_);
    const auto ports = daemon->exposer_->GetListeningPorts();
    daemon->metrics_port_ = ports.empty() ? 0 : ports.front();
  }

  daemon->heartbeat_thread_ = std::thread([d = daemon.get()] {
    d->HeartbeatLoop();
  });

  if (!config.ready_file.empty()) {
    // Written whole to a temporary name, then renamed: a reader never sees
    // half a line.
    const std::string tmp = config.ready_file + ".tmp";
    {
      std::ofstream out(tmp, std::ios::trunc);
      out << daemon->grpc_port_ << " " << daemon->metrics_port_ << "\n";
      if (!out) {
        return absl::UnavailableError(
            absl::StrCat("cannot write ready file ", tmp));
      }
    }
    if (std::rename(tmp.c_str(), config.ready_file.c_str()) != 0) {
      return absl::UnavailableError(
          absl::StrCat("cannot write ready file ", config.ready_file));
    }
  }
  return daemon;
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
  if (registry_) registry_->hub().CloseAll();
  if (server_) {
    server_->Shutdown(std::chrono::system_clock::now() +
                      absl::ToChronoMilliseconds(config_.shutdown_grace));
    server_->Wait();
  }
  exposer_.reset();
  server_.reset();
  telemetry_.reset();
  admin_.reset();
  aggregator_.reset();
  evaluation_.reset();
  registry_.reset();  // closes the store
}

Daemon::~Daemon() { Shutdown(); }

}  // namespace cutover
