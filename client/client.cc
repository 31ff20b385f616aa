#include "client/client.h"

#include <cstdio>
#include <random>
#include <type_traits>

#include "absl/strings/str_cat.h"
#include "rpc/channel.h"
#include "rpc/grpc_status.h"
#include "client/client_counters.h"
#include "client/decision_reporter.h"
#include "client/snapshot_file.h"
#include "client/synced_flags.h"
#include "convert/convert.h"
#include "cutover/v1/cutover.grpc.pb.h"
#include "grpcpp/channel.h"
#include "grpcpp/client_context.h"
#include "prometheus/registry.h"

namespace cutover {
namespace {

// The channel options for `options`. The channel's own reconnection pace
// follows the client's reconnect options, so that a restarted daemon is
// reached again as soon as the Watch stream's backoff says (gRPC's defaults
// kept clients away from a restarted daemon for 5-10 s).
ChannelOptions ChannelOptionsFor(const ClientOptions& options) {
  ChannelOptions channel;
  channel.server = options.server;
  channel.load_balancing = options.load_balancing;
  channel.tls_ca_file = options.tls_ca_file;
  channel.tls_cert_file = options.tls_cert_file;
  channel.tls_key_file = options.tls_key_file;
  channel.token =
      options.token.empty() ? TokenFromEnvironment() : options.token;
  channel.reconnect_initial_backoff = options.reconnect_initial_backoff;
  channel.reconnect_max_backoff = options.reconnect_max_backoff;
  channel.keepalive_time = options.keepalive_time;
  channel.keepalive_timeout = options.keepalive_timeout;
  return channel;
}

// The decision served for a flag never seen (or a refused request).
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

absl::StatusOr<std::unique_ptr<Client>> Client::Create(ClientOptions options) {
  if (absl::Status valid = options.Validate(); !valid.ok()) return valid;
  auto channel = MakeChannel(ChannelOptionsFor(options));
  if (!channel.ok()) return channel.status();
  std::unique_ptr<Client> client(
      new Client(std::move(options), *std::move(channel)));
  if (!client->options_.snapshot_file.empty()) {
    client->LoadSnapshotFile();
    Counters* counters = client->counters_.get();
    client->snapshot_writer_ = std::make_unique<SnapshotWriter>(
        client->options_.snapshot_file, client->options_.snapshot_min_interval,
        client->synced_.get(),
        [counters, path = client->options_.snapshot_file,
         failing = false](const absl::Status& status) mutable {
          if (status.ok()) {
            counters->Add(counters->snapshot_writes, &Metrics::snapshot_writes);
            failing = false;
            return;
          }
          counters->Add(counters->snapshot_failures,
                        &Metrics::snapshot_failures);
          // Once per run of failures, not once per retry.
          if (!failing) {
            std::fprintf(stderr,
                         "cutover client: cannot write snapshot file %s: %s\n",
                         path.c_str(), status.ToString().c_str());
          }
          failing = true;
        });
  }
  if (client->options_.evaluation == ClientOptions::Evaluation::kLocal &&
      client->options_.watch) {
    client->decision_reporter_ = std::make_unique<DecisionReporter>(
        client->channel_, &client->counters_->local_decisions,
        &client->synced_->counter_slots(),
        DecisionReporter::Options{client->options_.decision_report_interval,
                                  client->options_.decision_report_deadline});
  }
  // The watchdog also exports the per-thread counters: it runs without
  // Watch too.
  client->watchdog_thread_ =
      std::thread([c = client.get()] { c->WatchdogLoop(); });
  if (client->options_.watch) {
    client->watch_thread_ = std::thread([c = client.get()] { c->WatchLoop(); });
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
      synced_(std::make_unique<SyncedFlags>(options_.flag_keys)),
      counters_(std::make_unique<Counters>()) {}

Client::~Client() { Shutdown(); }

void Client::LoadSnapshotFile() {
  const std::string& path = options_.snapshot_file;
  absl::StatusOr<std::optional<v1::ClientSnapshot>> file;
  try {
    file = ReadSnapshotFile(path);
  } catch (...) {
    file = absl::ResourceExhaustedError("out of memory");
  }
  if (!file.ok()) {
    std::fprintf(stderr, "cutover client: ignoring snapshot file %s: %s\n",
                 path.c_str(), file.status().ToString().c_str());
    return;
  }
  if (!file->has_value()) return;  // none yet: the first run
  const int refused = synced_->Load(**file);
  if (refused > 0) {
    std::fprintf(stderr,
                 "cutover client: snapshot file %s: %d flags or segments "
                 "this library cannot evaluate (kept, not served)\n",
                 path.c_str(), refused);
  }
}

std::shared_ptr<const SyncedState> Client::synced_state() const noexcept {
  return synced_->snapshot();
}

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

bool Client::ServableFresh(const DecisionCache::Hit& hit,
                           std::string_view flag_key) const noexcept {
  // (A zero unsynced_max_age trusts nothing: the cache's clock may read the
  // same tick at Put and Get.) A flag not held is not watched: its cached
  // decisions are never known to be current.
  return hit.state == DecisionCache::State::kFresh &&
         (watch_synced_.load(std::memory_order_relaxed) || !options_.watch ||
          (options_.unsynced_max_age > absl::ZeroDuration() &&
           hit.age <= options_.unsynced_max_age)) &&
         synced_->Holds(flag_key);
}

Stage Client::DecideStage(std::string_view flag_key, const Context& context,
                          Stage default_stage) noexcept {
  try {
    Verdict verdict;
    if (AnswerLocally(flag_key, context, verdict)) return verdict.stage;
  } catch (...) {
    // Out of memory or a bug: Decide answers, as it answers either.
  }
  return Decide(flag_key, context, default_stage).stage;
}

template <typename Answer>
bool Client::AnswerLocally(std::string_view flag_key, const Context& context,
                           Answer& answer) {
  if (options_.evaluation != ClientOptions::Evaluation::kLocal ||
      !watch_synced_.load(std::memory_order_acquire)) {
    return false;
  }
  // Synced: the daemon's answer at the state's revision, made here.
  const SyncedState* state = synced_->current();
  if (state == nullptr) return false;
  uint32_t counter_slot = FlagCounterSlots::kUnknownSlot;
  bool answered = false;
  if constexpr (std::is_same_v<Answer, Decision>) {
    answered = state->DecideInto(flag_key, context, answer, &counter_slot);
  } else {
    answered = state->EvaluateInto(flag_key, context, answer, &counter_slot);
  }
  if (!answered) return false;
  counters_->local_decisions.Count(counter_slot, answer.stage, answer.reason);
  return true;
}
template bool Client::AnswerLocally<Decision>(std::string_view,
                                              const Context&, Decision&);
template bool Client::AnswerLocally<Verdict>(std::string_view, const Context&,
                                             Verdict&);

// Every path returns `decision`, so that it is built in the caller's
// Decision (no copy or move on a cache hit).
Decision Client::DecideUncaught(std::string_view flag_key,
                                const Context& context, Stage default_stage) {
  Decision decision;
  if (AnswerLocally(flag_key, context, decision)) return decision;
  const DecisionCache::Hit cached = cache_.Get(flag_key, context, decision);
  if (ServableFresh(cached, flag_key)) {
    counters_->Add(counters_->hits);
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
  ServeUnanswered(flag_key, context, cached, status, default_stage, decision);
  return decision;
}

void Client::ServeUnanswered(std::string_view flag_key, const Context& context,
                             const DecisionCache::Hit& cached,
                             const grpc::Status& status, Stage default_stage,
                             Decision& decision) {
  const bool has_cached = cached.state != DecisionCache::State::kMiss;
  std::string error = absl::StrCat("daemon: ", status.error_message());
  // A refused request is the daemon's answer, not a daemon away.
  if (status.error_code() != grpc::StatusCode::INVALID_ARGUMENT) {
    const std::shared_ptr<const SyncedState> synced = synced_->snapshot();
    // 1. The synced state, unless the cached decision is newer.
    if (synced != nullptr &&
        (!has_cached || synced->revision() >= cached.revision)) {
      if (std::optional<Decision> local = synced->Decide(flag_key, context)) {
        counters_->Add(counters_->local, &Metrics::local);
        decision = *std::move(local);
        decision.reason = Reason::kStale;
        return;
      }
    }
    // 2. The cached decision: expired, or fresh but too old to trust
    // while the Watch stream is down.
    if (has_cached) {
      counters_->Add(counters_->stale, &Metrics::stale);
      decision.reason = Reason::kStale;
      return;
    }
    absl::StrAppend(
        &error,
        !synced_->Holds(flag_key)
            ? "; the flag is not among this client's flag_keys"
        : synced != nullptr && synced->Contains(flag_key)
            ? "; the flag cannot be evaluated by this client"
            : "; the flag was never synced to this client");
  }
  // 3. Never seen: the caller's default.
  counters_->Add(counters_->errors, &Metrics::errors);
  decision = DefaultDecision(flag_key, default_stage, std::move(error));
}

ClientStats Client::stats() const noexcept {
  ClientStats stats;
  stats.local_decisions = counters_->local_decisions.Total();
  if (decision_reporter_ != nullptr) {
    stats.local_decisions_reported = decision_reporter_->reported();
    stats.decision_report_failures = decision_reporter_->failures();
  }
  stats.cache_hits = counters_->hits.Load();
  stats.cache_misses = counters_->misses.load();
  stats.stale_serves = counters_->stale.load();
  stats.local_serves = counters_->local.load();
  stats.errors = counters_->errors.load();
  stats.stream_reconnects = counters_->reconnects.load();
  stats.stream_idle_timeouts = counters_->idle_timeouts.load();
  stats.invalidations = counters_->invalidations.load();
  stats.cache_entries = cache_.size();
  stats.snapshot_writes = counters_->snapshot_writes.load();
  stats.snapshot_write_failures = counters_->snapshot_failures.load();
  return stats;
}

bool Client::ReportLocalDecisions() noexcept {
  return decision_reporter_ == nullptr || decision_reporter_->ReportNow();
}

void Client::RegisterMetrics(prometheus::Registry& registry) {
  std::lock_guard lock(mu_);
  if (metrics_ != nullptr) return;
  metrics_ = std::make_shared<Metrics>(registry);
  // Bring the exported counters up to what happened before registration.
  ExportPerThreadCountsLocked();
  metrics_->misses->Increment(static_cast<double>(counters_->misses.load()));
  metrics_->stale->Increment(static_cast<double>(counters_->stale.load()));
  metrics_->local->Increment(static_cast<double>(counters_->local.load()));
  metrics_->errors->Increment(static_cast<double>(counters_->errors.load()));
  metrics_->reconnects->Increment(
      static_cast<double>(counters_->reconnects.load()));
  metrics_->idle_timeouts->Increment(
      static_cast<double>(counters_->idle_timeouts.load()));
  metrics_->invalidations->Increment(
      static_cast<double>(counters_->invalidations.load()));
  metrics_->snapshot_writes->Increment(
      static_cast<double>(counters_->snapshot_writes.load()));
  metrics_->snapshot_failures->Increment(
      static_cast<double>(counters_->snapshot_failures.load()));
  counters_->metrics.store(metrics_.get(), std::memory_order_release);
}

void Client::ExportPerThreadCountsLocked() {
  if (metrics_ == nullptr) return;
  const uint64_t hits = counters_->hits.Load();
  const uint64_t evaluated = counters_->local_decisions.Total();
  metrics_->hits->Increment(static_cast<double>(hits - exported_hits_));
  metrics_->evaluated->Increment(
      static_cast<double>(evaluated - exported_evaluated_));
  exported_hits_ = hits;
  exported_evaluated_ = evaluated;
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
  {
    std::lock_guard lock(mu_);
    ExportPerThreadCountsLocked();
  }
  // The stream is over: the last state is final; write it if it is new.
  if (snapshot_writer_ != nullptr) snapshot_writer_->Stop();
  // No local decision after the stream: report the last counts.
  if (decision_reporter_ != nullptr) decision_reporter_->Stop();
}

bool Client::SleepLocked(std::unique_lock<std::mutex>& lock, absl::Time until) {
  stop_cv_.wait_until(lock, absl::ToChronoTime(until),
                      [this] { return stopping_; });
  return stopping_;
}

void Client::WatchdogLoop() {
  std::unique_lock lock(mu_);
  while (!stopping_) {
    ExportPerThreadCountsLocked();
    // Next look: when the current stream would have been silent for the
    // whole timeout (or a timeout from now, with no stream), and within a
    // second, for the exported metrics.
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
    SleepLocked(lock, std::min(wake, absl::Now() + absl::Seconds(1)));
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
  // From where the synced state can build on (the revision it was
  // published at; 0 for a RESET and the whole state). That is never after
  // watched_revision_, and replaying changes the cache has seen is
  // harmless.
  v1::WatchRequest request;
  request.set_from_revision(synced_->resume_revision());
  for (const std::string& key : options_.flag_keys) request.add_flag_keys(key);
  synced_->BeginStream();
  auto reader = stubs_->evaluation->Watch(&context, request);
  bool synced = false;
  v1::WatchEvent event;
  while (reader->Read(&event)) {
    // Anything, heartbeats included, proves the stream alive.
    watch_last_event_ns_.store(absl::ToUnixNanos(absl::Now()),
                               std::memory_order_release);
    // The synced state first: who sees watch_synced() sees the state.
    if (synced_->Apply(event) && snapshot_writer_ != nullptr) {
      snapshot_writer_->Notify();
    }
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
  const grpc::Status status = reader->Finish();
  {
    std::lock_guard lock(mu_);
    watch_context_ = nullptr;
    if (synced || stopping_) {
      watch_error_ = absl::OkStatus();
    } else {
      absl::Status error = FromGrpcStatus(status);
      if (error.ok()) error = absl::UnavailableError("the stream ended");
      if (IsRefusal(error) && error != watch_error_) {
        std::fprintf(stderr,
                     "cutover client: the daemon refused the Watch stream "
                     "(retrying with backoff): %s\n",
                     error.ToString().c_str());
      }
      watch_error_ = std::move(error);
    }
  }
  return synced;
}

absl::Status Client::watch_error() const {
  std::lock_guard lock(mu_);
  return watch_error_;
}

}  // namespace cutover
