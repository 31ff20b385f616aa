#include "client/client.h"

#include <chrono>
#include <random>
#include <type_traits>

#include "absl/strings/str_cat.h"
#include "client/channel.h"
#include "client/per_thread_counter.h"
#include "convert/convert.h"
#include "cutover/v1/cutover.grpc.pb.h"
#include "grpcpp/channel.h"
#include "grpcpp/client_context.h"
#include "prometheus/counter.h"
#include "prometheus/gauge.h"
#include "prometheus/registry.h"

namespace cutover {
namespace {

constexpr int kBatchLimit = 1000;

std::chrono::system_clock::time_point DeadlineIn(absl::Duration duration) {
  return std::chrono::system_clock::now() +
         absl::ToChronoMicroseconds(duration);
}

// The channel options for `options`. The channel's own reconnection pace
// follows the client's reconnect options, so that a restarted daemon is
// reached again as soon as the Watch stream's backoff says (gRPC's defaults
// kept clients away from a restarted daemon for 5-10 s).
ChannelOptions ChannelOptionsFor(const ClientOptions& options) {
  ChannelOptions channel;
  channel.server = options.server;
  channel.tls_ca_file = options.tls_ca_file;
  channel.tls_cert_file = options.tls_cert_file;
  channel.tls_key_file = options.tls_key_file;
  channel.token =
      options.token.empty() ? TokenFromEnvironment() : options.token;
  channel.reconnect_initial_backoff = options.reconnect_initial_backoff;
  channel.reconnect_max_backoff = options.reconnect_max_backoff;
  return channel;
}

// The decision served when the daemon cannot answer and nothing is cached.
Decision DefaultDecision(std::string_view flag_key, Stage stage,
                         std::string error) {
  Decision decision = SafeDecision(std::string(flag_key), Reason::kError,
                                   std::move(error));
  if (stage != Stage::kUnspecified) {
    decision.stage = stage;
    decision.plan = PlanFor(stage);
  }
  return decision;
}

}  // namespace

class Client::Stubs {
 public:
  explicit Stubs(const std::shared_ptr<grpc::Channel>& channel)
      : evaluation(v1::Evaluation::NewStub(channel)) {}
  std::unique_ptr<v1::Evaluation::Stub> evaluation;
};

// Prometheus counters, set once by RegisterMetrics.
class Client::Metrics {
 public:
  explicit Metrics(prometheus::Registry& registry) {
    auto& lookups = prometheus::BuildCounter()
                        .Name("cutover_client_decisions_total")
                        .Help("Client decisions by how they were served.")
                        .Register(registry);
    hits = &lookups.Add({{"source", "cache"}});
    misses = &lookups.Add({{"source", "daemon"}});
    stale = &lookups.Add({{"source", "stale"}});
    errors = &lookups.Add({{"source", "default"}});
    reconnects = &prometheus::BuildCounter()
                      .Name("cutover_client_stream_reconnects_total")
                      .Help("Watch stream reconnections.")
                      .Register(registry)
                      .Add({});
    idle_timeouts =
        &prometheus::BuildCounter()
             .Name("cutover_client_stream_idle_timeouts_total")
             .Help("Watch streams cancelled for silence past the idle timeout.")
             .Register(registry)
             .Add({});
    invalidations = &prometheus::BuildCounter()
                         .Name("cutover_client_invalidations_total")
                         .Help("Cache invalidations applied from Watch.")
                         .Register(registry)
                         .Add({});
    entries = &prometheus::BuildGauge()
                   .Name("cutover_client_cache_entries")
                   .Help("Decisions in the cache (updated on misses).")
                   .Register(registry)
                   .Add({});
  }
  prometheus::Counter* hits;
  prometheus::Counter* misses;
  prometheus::Counter* stale;
  prometheus::Counter* errors;
  prometheus::Counter* reconnects;
  prometheus::Counter* idle_timeouts;
  prometheus::Counter* invalidations;
  prometheus::Gauge* entries;
};

struct Client::Counters {
  // Cache hits are counted per thread: no locked instruction on the hit
  // path (tests/bench/client_bench).
  PerThreadCounter hits;
  std::atomic<uint64_t> misses{0}, stale{0}, errors{0}, reconnects{0},
      idle_timeouts{0}, invalidations{0};
  std::atomic<Metrics*> metrics{nullptr};

  template <typename Counter>
  void Add(Counter& counter, prometheus::Counter* Metrics::*exported) {
    if constexpr (std::is_same_v<Counter, PerThreadCounter>) {
      counter.Add();
    } else {
      counter.fetch_add(1, std::memory_order_relaxed);
    }
    if (Metrics* m = metrics.load(std::memory_order_acquire)) {
      (m->*exported)->Increment();
    }
  }
};

absl::StatusOr<std::unique_ptr<Client>> Client::Create(ClientOptions options) {
  if (options.server.empty()) {
    return absl::InvalidArgumentError("server: required (host:port)");
  }
  if (options.decide_deadline <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError("decide_deadline: must be > 0");
  }
  if (options.cache_max_entries == 0 || options.cache_shards == 0 ||
      options.cache_max_bytes == 0) {
    return absl::InvalidArgumentError(
        "cache_max_entries, cache_max_bytes, cache_shards: must be > 0");
  }
  if (options.reconnect_initial_backoff < absl::Milliseconds(1) ||
      options.reconnect_max_backoff < options.reconnect_initial_backoff ||
      options.reconnect_max_backoff > absl::Hours(24)) {
    return absl::InvalidArgumentError(
        "reconnect_initial_backoff: must be >= 1 ms and <= "
        "reconnect_max_backoff (at most 24 h)");
  }
  if (options.watch_idle_timeout <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError("watch_idle_timeout: must be > 0");
  }
  if (options.unsynced_max_age < absl::ZeroDuration()) {
    return absl::InvalidArgumentError("unsynced_max_age: must be >= 0");
  }
  auto channel = MakeChannel(ChannelOptionsFor(options));
  if (!channel.ok()) return channel.status();
  std::unique_ptr<Client> client(
      new Client(std::move(options), *std::move(channel)));
  if (client->options_.watch) {
    client->watch_thread_ = std::thread([c = client.get()] { c->WatchLoop(); });
    client->watchdog_thread_ =
        std::thread([c = client.get()] { c->WatchdogLoop(); });
    const absl::Time until = absl::Now() + client->options_.initial_sync_wait;
    while (!client->watch_synced_ && absl::Now() < until) {
      absl::SleepFor(absl::Milliseconds(2));
    }
  }
  return client;
}

Client::Client(ClientOptions options, std::shared_ptr<grpc::Channel> channel)
    : options_(std::move(options)),
      channel_(std::move(channel)),
      stubs_(std::make_unique<Stubs>(channel_)),
      cache_(DecisionCache::Options{options_.cache_max_entries,
                                    options_.cache_max_bytes,
                                    options_.cache_shards, options_.cache_ttl}),
      counters_(std::make_unique<Counters>()) {}

Client::~Client() { Shutdown(); }

Decision Client::Decide(std::string_view flag_key,
                        const Context& context) noexcept {
  return Decide(flag_key, context, Stage::kOff);
}

Decision Client::Decide(std::string_view flag_key, const Context& context,
                        Stage default_stage) noexcept {
  try {
    return DecideUncaught(flag_key, context, default_stage);
  } catch (...) {
    // Out of memory or a bug: the caller still gets the safe answer.
    counters_->errors.fetch_add(1, std::memory_order_relaxed);
    try {
      return DefaultDecision(flag_key, default_stage, "client: internal error");
    } catch (...) {
      return Decision();  // off, old database; no strings to allocate
    }
  }
}

bool Client::ServableFresh(const DecisionCache::Hit& hit) const noexcept {
  // (A zero unsynced_max_age trusts nothing: the cache's clock may read the
  // same tick at Put and Get.)
  return hit.state == DecisionCache::State::kFresh &&
         (watch_synced_.load(std::memory_order_relaxed) || !options_.watch ||
          (options_.unsynced_max_age > absl::ZeroDuration() &&
           hit.age <= options_.unsynced_max_age));
}

// Every path returns `decision`, so that it is built in the caller's
// Decision (no copy or move on a cache hit).
Decision Client::DecideUncaught(std::string_view flag_key,
                                const Context& context, Stage default_stage) {
  Decision decision;
  const DecisionCache::Hit cached = cache_.Get(flag_key, context, decision);
  if (ServableFresh(cached)) {
    counters_->Add(counters_->hits, &Metrics::hits);
    decision.reason = Reason::kCached;
    return decision;
  }

  v1::DecideRequest request;
  request.set_flag_key(flag_key.data(), flag_key.size());
  request.mutable_context()->set_targeting_key(context.targeting_key);
  auto& attributes = *request.mutable_context()->mutable_attributes();
  for (const auto& [name, value] : context.attributes) attributes[name] = value;
  v1::DecideResponse response;
  grpc::ClientContext call;
  call.set_deadline(DeadlineIn(options_.decide_deadline));
  const grpc::Status status =
      stubs_->evaluation->Decide(&call, request, &response);
  if (status.ok()) {
    counters_->Add(counters_->misses, &Metrics::misses);
    decision = FromProto(response.decision());
    cache_.Put(flag_key, context, decision, response.revision());
    if (Metrics* m = counters_->metrics.load(std::memory_order_acquire)) {
      m->entries->Set(static_cast<double>(cache_.size()));
    }
    return decision;
  }
  // Expired, or fresh but too old to trust while the Watch stream is down.
  if (cached.state != DecisionCache::State::kMiss &&
      status.error_code() != grpc::StatusCode::INVALID_ARGUMENT) {
    counters_->Add(counters_->stale, &Metrics::stale);
    decision.reason = Reason::kStale;
    return decision;
  }
  counters_->Add(counters_->errors, &Metrics::errors);
  decision = DefaultDecision(flag_key, default_stage,
                             absl::StrCat("daemon: ", status.error_message()));
  return decision;
}

std::vector<Decision> Client::Prefetch(
    std::string_view flag_key, const std::vector<Context>& contexts) noexcept {
  std::vector<Decision> decisions;
  try {
    decisions.reserve(contexts.size());
    for (size_t start = 0; start < contexts.size(); start += kBatchLimit) {
      const size_t end = std::min(contexts.size(), start + kBatchLimit);
      v1::DecideBatchRequest request;
      for (size_t i = start; i < end; ++i) {
        auto* item = request.add_items();
        item->set_flag_key(flag_key.data(), flag_key.size());
        item->mutable_context()->set_targeting_key(contexts[i].targeting_key);
        auto& attributes = *item->mutable_context()->mutable_attributes();
        for (const auto& [name, value] : contexts[i].attributes) {
          attributes[name] = value;
        }
      }
      v1::DecideBatchResponse response;
      grpc::ClientContext call;
      call.set_deadline(DeadlineIn(options_.decide_deadline));
      const grpc::Status status =
          stubs_->evaluation->DecideBatch(&call, request, &response);
      for (size_t i = start; i < end; ++i) {
        if (status.ok() &&
            static_cast<int>(i - start) < response.decisions_size()) {
          counters_->Add(counters_->misses, &Metrics::misses);
          Decision decision =
              FromProto(response.decisions(static_cast<int>(i - start)));
          cache_.Put(flag_key, contexts[i], decision, response.revision());
          decisions.push_back(std::move(decision));
          continue;
        }
        // As Decide would: fresh if it may be served as such, stale if
        // cached (unless the request itself was refused), else the safe
        // default.
        Decision decision;
        const DecisionCache::Hit cached =
            cache_.Get(flag_key, contexts[i], decision);
        if (ServableFresh(cached)) {
          counters_->Add(counters_->hits, &Metrics::hits);
          decision.reason = Reason::kCached;
          decisions.push_back(std::move(decision));
        } else if (cached.state != DecisionCache::State::kMiss &&
                   status.error_code() != grpc::StatusCode::INVALID_ARGUMENT) {
          counters_->Add(counters_->stale, &Metrics::stale);
          decision.reason = Reason::kStale;
          decisions.push_back(std::move(decision));
        } else {
          counters_->Add(counters_->errors, &Metrics::errors);
          decisions.push_back(DefaultDecision(
              flag_key, Stage::kOff,
              absl::StrCat("daemon: ",
                           status.ok() ? "short DecideBatch response"
                                       : status.error_message())));
        }
      }
    }
    if (Metrics* m = counters_->metrics.load(std::memory_order_acquire)) {
      m->entries->Set(static_cast<double>(cache_.size()));
    }
  } catch (...) {
    while (decisions.size() < contexts.size()) {
      counters_->errors.fetch_add(1, std::memory_order_relaxed);
      decisions.push_back(Decision());
    }
  }
  return decisions;
}

ClientStats Client::stats() const noexcept {
  ClientStats stats;
  stats.cache_hits = counters_->hits.Load();
  stats.cache_misses = counters_->misses.load();
  stats.stale_serves = counters_->stale.load();
  stats.errors = counters_->errors.load();
  stats.stream_reconnects = counters_->reconnects.load();
  stats.stream_idle_timeouts = counters_->idle_timeouts.load();
  stats.invalidations = counters_->invalidations.load();
  stats.cache_entries = cache_.size();
  return stats;
}

void Client::RegisterMetrics(prometheus::Registry& registry) {
  if (metrics_ != nullptr) return;
  metrics_ = std::make_shared<Metrics>(registry);
  // Bring the exported counters up to what happened before registration.
  metrics_->hits->Increment(static_cast<double>(counters_->hits.Load()));
  metrics_->misses->Increment(static_cast<double>(counters_->misses.load()));
  metrics_->stale->Increment(static_cast<double>(counters_->stale.load()));
  metrics_->errors->Increment(static_cast<double>(counters_->errors.load()));
  metrics_->reconnects->Increment(
      static_cast<double>(counters_->reconnects.load()));
  metrics_->idle_timeouts->Increment(
      static_cast<double>(counters_->idle_timeouts.load()));
  metrics_->invalidations->Increment(
      static_cast<double>(counters_->invalidations.load()));
  counters_->metrics.store(metrics_.get(), std::memory_order_release);
}

void Client::Shutdown() noexcept {
  {
    std::lock_guard lock(mu_);
    if (stopping_) return;
    stopping_ = true;
    if (watch_context_ != nullptr) watch_context_->TryCancel();
  }
  stop_cv_.notify_all();
  if (watch_thread_.joinable()) watch_thread_.join();
  if (watchdog_thread_.joinable()) watchdog_thread_.join();
}

bool Client::SleepLocked(std::unique_lock<std::mutex>& lock, absl::Time until) {
  stop_cv_.wait_until(lock, absl::ToChronoTime(until),
                      [this] { return stopping_; });
  return stopping_;
}

void Client::WatchdogLoop() {
  std::unique_lock lock(mu_);
  while (!stopping_) {
    // Next look: when the current stream would have been silent for the
    // whole timeout (or a timeout from now, with no stream).
    absl::Time wake = absl::Now() + options_.watch_idle_timeout;
    if (watch_context_ != nullptr) {
      const absl::Time last = absl::FromUnixNanos(
          watch_last_event_ns_.load(std::memory_order_acquire));
      if (absl::Now() - last >= options_.watch_idle_timeout) {
        // Half-open (or hung while connecting): give up on this stream;
        // RunWatchStream returns and WatchLoop reconnects with backoff.
        // Reset the clock so that a stream slow to end is not cancelled
        // twice.
        // (Counted first: whoever sees watch_synced() false sees the count.)
        counters_->Add(counters_->idle_timeouts, &Metrics::idle_timeouts);
        watch_synced_ = false;
        watch_context_->TryCancel();
        watch_last_event_ns_.store(absl::ToUnixNanos(absl::Now()),
                                   std::memory_order_release);
      } else {
        wake = last + options_.watch_idle_timeout;
      }
    }
    SleepLocked(lock, wake);
  }
}

void Client::WatchLoop() {
  std::mt19937_64 random(std::random_device{}());
  absl::Duration backoff = options_.reconnect_initial_backoff;
  bool first = true;
  while (true) {
    {
      std::lock_guard lock(mu_);
      if (stopping_) return;
    }
    if (!first) {
      counters_->Add(counters_->reconnects, &Metrics::reconnects);
    }
    first = false;
    const bool synced = RunWatchStream();
    watch_synced_ = false;
    if (synced) backoff = options_.reconnect_initial_backoff;
    // Sleep backoff +-20%, waking at once on Shutdown.
    const double jitter =
        0.8 + 0.4 * std::uniform_real_distribution<double>(0, 1)(random);
    const absl::Time until = absl::Now() + backoff * jitter;
    {
      std::unique_lock lock(mu_);
      if (SleepLocked(lock, until)) return;
    }
    backoff = std::min(backoff * 2, options_.reconnect_max_backoff);
  }
}

bool Client::RunWatchStream() {
  grpc::ClientContext context;
  {
    std::lock_guard lock(mu_);
    if (stopping_) return false;
    watch_last_event_ns_.store(absl::ToUnixNanos(absl::Now()),
                               std::memory_order_release);
    watch_context_ = &context;
  }
  v1::WatchRequest request;
  request.set_from_revision(watched_revision_.load());
  auto reader = stubs_->evaluation->Watch(&context, request);
  bool synced = false;
  v1::WatchEvent event;
  while (reader->Read(&event)) {
    // Anything, heartbeats included, proves the stream alive.
    watch_last_event_ns_.store(absl::ToUnixNanos(absl::Now()),
                               std::memory_order_release);
    switch (event.kind()) {
      case v1::WatchEvent::RESET:
        // The daemon's state replaces ours, even if its revisions went back
        // (a restored or replaced store).
        cache_.Clear(event.revision());
        watched_revision_ = event.revision();
        counters_->Add(counters_->invalidations, &Metrics::invalidations);
        continue;
      case v1::WatchEvent::FLAG_UPSERTED:
      case v1::WatchEvent::FLAG_ARCHIVED:
        cache_.InvalidateFlag(event.flag().key(), event.revision());
        counters_->Add(counters_->invalidations, &Metrics::invalidations);
        break;
      case v1::WatchEvent::SEGMENT_UPSERTED:
      case v1::WatchEvent::SEGMENT_DELETED:
        // Any flag may name the segment.
        cache_.InvalidateAll(event.revision());
        counters_->Add(counters_->invalidations, &Metrics::invalidations);
        break;
      case v1::WatchEvent::SYNCED:
        synced = true;
        watch_synced_ = true;
        break;
      default:
        break;
    }
    // A RESET's state events carry their own (older) revisions; only move
    // forward.
    if (event.revision() > watched_revision_.load()) {
      watched_revision_ = event.revision();
    }
  }
  (void)reader->Finish();
  {
    std::lock_guard lock(mu_);
    watch_context_ = nullptr;
  }
  return synced;
}

}  // namespace cutover
