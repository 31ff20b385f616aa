#include "server/follower.h"

#include <algorithm>
#include <cstdio>
#include <deque>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "rpc/channel.h"
#include "cutover/v1/cutover.grpc.pb.h"
#include "grpcpp/channel.h"
#include "grpcpp/client_context.h"
#include "prometheus/collectable.h"
#include "rpc/grpc_status.h"
#include "server/api_edge.h"
#include "server/flag_registry.h"
#include "server/prometheus_gauges.h"

namespace cutover {

// What the Follower's thread writes and its readers (state(), the metrics
// collector, Stop) read; the collector keeps it alive after the Follower.
struct Follower::Shared {
  mutable absl::Mutex mu;
  bool stopping ABSL_GUARDED_BY(mu) = false;
  grpc::ClientContext* stream ABSL_GUARDED_BY(mu) = nullptr;  // open stream
  State state ABSL_GUARDED_BY(mu);
  const FlagRegistry* registry ABSL_GUARDED_BY(mu) = nullptr;  // null: gone
  // Reports for the primary, oldest first.
  std::deque<v1::ReportMigrationOpsRequest> reports ABSL_GUARDED_BY(mu);

  State Read() const {
    absl::MutexLock lock(&mu);
    State out = state;
    if (registry != nullptr) out.revision = registry->store().revision();
    out.reports_queued = reports.size();
    return out;
  }
};

// The cutover_replica_* gauges, read from Shared at scrape time.
class Follower::Collector final : public prometheus::Collectable {
 public:
  explicit Collector(std::shared_ptr<const Shared> shared)
      : shared_(std::move(shared)) {}

  std::vector<prometheus::MetricFamily> Collect() const override {
    using prometheus_gauges::AddSample;
    using prometheus_gauges::CounterFamily;
    using prometheus_gauges::GaugeFamily;
    const State state = shared_->Read();
    const prometheus_gauges::Labels labels = {{"primary", state.primary}};
    auto connected = GaugeFamily("cutover_replica_connected",
                            "1 while this replica's Watch stream to its "
                            "primary is open.");
    AddSample(connected, labels, state.connected ? 1 : 0);
    auto synced = GaugeFamily("cutover_replica_synced",
                         "1 once this replica has been in sync with its "
                         "primary since it started (its readiness).");
    AddSample(synced, labels, state.synced ? 1 : 0);
    auto lag = GaugeFamily("cutover_replica_revision_lag",
                      "The primary's latest revision this replica has heard "
                      "of minus the revision it serves.");
    AddSample(lag, labels,
        static_cast<double>(std::max<int64_t>(
            0, state.primary_revision - state.revision)));
    auto primary_revision = GaugeFamily(
        "cutover_replica_primary_revision",
        "The latest store revision the primary has told this replica of.");
    AddSample(primary_revision, labels,
        static_cast<double>(state.primary_revision));
    auto silence = GaugeFamily(
        "cutover_replica_last_heard_seconds",
        "Seconds since this replica last heard from its primary (an event "
        "or a heartbeat); since it started if never.");
    AddSample(silence, labels,
        absl::ToDoubleSeconds(absl::Now() -
                              state.last_heard.value_or(started_)));
    auto resets = CounterFamily("cutover_replica_resets_total",
                         "Whole states this replica took from its primary "
                         "(a RESET: it was further behind than the primary "
                         "could replay, or had nothing).");
    AddSample(resets, labels, static_cast<double>(state.resets));
    auto forwarded = CounterFamily("cutover_replica_reports_forwarded_total",
                            "Telemetry reports this replica sent on to its "
                            "primary.");
    AddSample(forwarded, labels, static_cast<double>(state.reports_forwarded));
    auto dropped = CounterFamily("cutover_replica_reports_dropped_total",
                          "Telemetry reports this replica dropped: its queue "
                          "for the primary was full, or the primary refused "
                          "them.");
    AddSample(dropped, labels, static_cast<double>(state.reports_dropped));
    auto queued = GaugeFamily("cutover_replica_reports_queued",
                         "Telemetry reports waiting to be sent to the "
                         "primary.");
    AddSample(queued, labels, static_cast<double>(state.reports_queued));
    return {std::move(connected), std::move(synced),   std::move(lag),
            std::move(primary_revision), std::move(silence), std::move(resets),
            std::move(forwarded), std::move(dropped), std::move(queued)};
  }

 private:
  const std::shared_ptr<const Shared> shared_;
  const absl::Time started_ = absl::Now();
};

Follower::Follower(Options options, FlagRegistry* registry,
                   std::function<void()> on_synced)
    : options_(std::move(options)),
      registry_(registry),
      on_synced_(std::move(on_synced)),
      shared_(std::make_shared<Shared>()) {
  absl::MutexLock lock(&shared_->mu);
  shared_->state.primary = options_.primary;
  shared_->registry = registry;
}

absl::StatusOr<std::unique_ptr<Follower>> Follower::Start(
    Options options, FlagRegistry* registry,
    std::function<void()> on_synced) {
  std::unique_ptr<Follower> follower(
      new Follower(std::move(options), registry, std::move(on_synced)));
  // One channel for the stream and the forwarded reports (with the follow
  // token), one for forwarded Admin calls (without). Made now: a
  // replica that cannot reach its primary for a configuration error (an
  // unreadable CA file) should not start.
  ChannelOptions channel;
  channel.server = follower->options_.primary;
  channel.tls_ca_file = follower->options_.ca_file;
  channel.token = follower->options_.token;
  channel.reconnect_initial_backoff = follower->options_.initial_backoff;
  channel.reconnect_max_backoff = follower->options_.max_backoff;
  absl::StatusOr<std::shared_ptr<grpc::Channel>> made = MakeChannel(channel);
  if (!made.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("follow_ca_file: ", made.status().message()));
  }
  follower->channel_ = *std::move(made);
  follower->primary_info_ = v1::Admin::NewStub(follower->channel_);
  // Forwarded calls carry their caller's token, not the follow token.
  channel.token.clear();
  absl::StatusOr<std::shared_ptr<grpc::Channel>> forwarding =
      MakeChannel(channel);
  if (!forwarding.ok()) return forwarding.status();
  follower->primary_admin_ = v1::Admin::NewStub(*forwarding);
  follower->thread_ = std::thread([f = follower.get()] { f->Run(); });
  follower->forward_thread_ =
      std::thread([f = follower.get()] { f->ForwardReports(); });
  return follower;
}

void Follower::ForwardReport(const v1::ReportMigrationOpsRequest& report) {
  absl::MutexLock lock(&shared_->mu);
  if (shared_->reports.size() >= options_.max_queued_reports) {
    shared_->reports.pop_front();
    ++shared_->state.reports_dropped;
  }
  shared_->reports.push_back(report);
}

absl::Status Follower::CheckResumeFrom(int64_t from_revision) const {
  const State now = state();
  if (from_revision <= now.revision) return absl::OkStatus();
  // Ahead of this replica: either it has not caught up yet, or the
  // primary went back (a restored backup) and the watcher's revision is
  // from a history the primary discarded. Only the primary can tell: if
  // it is behind the watcher too, its state is the truth and the watcher
  // is sent it (a RESET). Rare (a watcher moving between replicas), so
  // one short call here is cheap.
  grpc::ClientContext context;
  context.set_deadline(DeadlineIn(absl::Seconds(1)));
  v1::ServerInfo primary;
  if (primary_info_->GetServerInfo(&context, v1::GetServerInfoRequest(),
                                   &primary)
          .ok() &&
      primary.revision() < from_revision) {
    return absl::OkStatus();
  }
  return absl::UnavailableError(absl::StrCat(
      "watch: this read replica is at revision ", now.revision,
      ", behind from_revision ", from_revision,
      ", and catching up with its primary ", now.primary,
      ": resume from another replica or later"));
}

void Follower::ForwardReports() {
  auto stub = v1::Telemetry::NewStub(channel_);
  absl::Duration backoff = options_.initial_backoff;
  const auto ready = [this]() ABSL_SHARED_LOCKS_REQUIRED(shared_->mu) {
    return shared_->stopping || !shared_->reports.empty();
  };
  while (true) {
    v1::ReportMigrationOpsRequest report;
    {
      absl::MutexLock lock(&shared_->mu);
      shared_->mu.Await(absl::Condition(&ready));
      if (shared_->stopping) {
        // What is still queued is lost with the process: counted.
        shared_->state.reports_dropped += shared_->reports.size();
        shared_->reports.clear();
        return;
      }
      report = shared_->reports.front();
    }
    grpc::ClientContext context;
    context.set_deadline(DeadlineIn(options_.report_deadline));
    v1::ReportMigrationOpsResponse response;
    const grpc::Status sent =
        stub->ReportMigrationOps(&context, report, &response);
    const bool refused =
        sent.error_code() == grpc::StatusCode::INVALID_ARGUMENT ||
        sent.error_code() == grpc::StatusCode::PERMISSION_DENIED ||
        sent.error_code() == grpc::StatusCode::UNAUTHENTICATED;
    if (sent.ok() || refused) {
      absl::MutexLock lock(&shared_->mu);
      // The front is still `report` unless a full queue dropped it.
      if (!shared_->reports.empty()) shared_->reports.pop_front();
      ++(sent.ok() ? shared_->state.reports_forwarded
                   : shared_->state.reports_dropped);
      backoff = options_.initial_backoff;
      continue;
    }
    if (!Backoff(backoff)) continue;  // stopping: counted above
    backoff = std::min(backoff * 2, options_.max_backoff);
  }
}

Follower::~Follower() { Stop(); }

Follower::State Follower::state() const { return shared_->Read(); }

std::shared_ptr<prometheus::Collectable> Follower::MetricsCollectable() const {
  return std::make_shared<Collector>(shared_);
}

void Follower::Stop() {
  {
    absl::MutexLock lock(&shared_->mu);
    if (shared_->stopping) return;
    shared_->stopping = true;
    if (shared_->stream != nullptr) shared_->stream->TryCancel();
  }
  if (thread_.joinable()) thread_.join();
  if (forward_thread_.joinable()) forward_thread_.join();
  absl::MutexLock lock(&shared_->mu);
  shared_->state.revision = registry_->store().revision();
  shared_->registry = nullptr;
}

void Follower::Run() {
  absl::Duration backoff = options_.initial_backoff;
  while (true) {
    const absl::Time opened = absl::Now();
    const absl::Status ended = FollowOnce();
    {
      absl::MutexLock lock(&shared_->mu);
      shared_->state.connected = false;
      if (shared_->stopping) return;
      shared_->state.last_error = std::string(ended.message());
    }
    std::fprintf(stderr, "cutoverd: stream from primary %s ended: %s\n",
                 options_.primary.c_str(), ended.ToString().c_str());
    // A stream that lasted a while was a success: start the backoff over.
    if (absl::Now() - opened > options_.max_backoff) {
      backoff = options_.initial_backoff;
    }
    if (!Backoff(backoff)) return;
    backoff = std::min(backoff * 2, options_.max_backoff);
  }
}

bool Follower::Backoff(absl::Duration delay) {
  absl::MutexLock lock(&shared_->mu);
  shared_->mu.AwaitWithTimeout(absl::Condition(&shared_->stopping), delay);
  return !shared_->stopping;
}

absl::Status Follower::FollowOnce() {
  auto stub = v1::Evaluation::NewStub(channel_);

  grpc::ClientContext context;
  {
    absl::MutexLock lock(&shared_->mu);
    if (shared_->stopping) return absl::OkStatus();
    shared_->stream = &context;
  }
  v1::WatchRequest request;
  request.set_from_revision(registry_->store().revision());
  std::unique_ptr<grpc::ClientReader<v1::WatchEvent>> reader =
      stub->Watch(&context, request);

  // A stream that hears nothing for silence_limit is cancelled from here.
  std::atomic<int64_t> last_heard_ns{absl::ToUnixNanos(absl::Now())};
  std::atomic<bool> stream_done{false};
  std::thread silence_watch([&] {
    absl::MutexLock lock(&shared_->mu);
    while (!shared_->stopping && !stream_done) {
      shared_->mu.AwaitWithTimeout(absl::Condition(&shared_->stopping),
                                   absl::Milliseconds(500));
      const absl::Time heard = absl::FromUnixNanos(last_heard_ns.load());
      if (absl::Now() - heard > options_.silence_limit) {
        context.TryCancel();
        break;
      }
    }
  });

  absl::Status failure;
  bool in_reset = false;
  std::vector<FlagRecord> reset_flags;
  std::vector<SegmentRecord> reset_segments;
  std::vector<ChangeRecord> step;  // one revision's changes so far
  v1::WatchEvent event;
  while (failure.ok() && reader->Read(&event)) {
    const absl::Time now = absl::Now();
    last_heard_ns = absl::ToUnixNanos(now);
    bool first_sync = false;
    switch (event.kind()) {
      case v1::WatchEvent::RESET:
        in_reset = true;
        reset_flags.clear();
        reset_segments.clear();
        step.clear();
        break;
      case v1::WatchEvent::FLAG_UPSERTED:
      case v1::WatchEvent::FLAG_ARCHIVED:
      case v1::WatchEvent::SEGMENT_UPSERTED:
      case v1::WatchEvent::SEGMENT_DELETED: {
        ChangeRecord change = FromApi(event);
        if (in_reset) {
          if (change.flag) reset_flags.push_back(*std::move(change.flag));
          if (change.segment) {
            reset_segments.push_back(*std::move(change.segment));
          }
          break;
        }
        step.push_back(std::move(change));
        if (!event.more_in_revision()) {
          failure = registry_->ApplyReplicated(event.revision(),
                                               std::move(step));
          step.clear();
        }
        break;
      }
      case v1::WatchEvent::SYNCED: {
        if (in_reset) {
          failure = registry_->ResetReplicated(event.revision(),
                                               std::move(reset_flags),
                                               std::move(reset_segments));
          reset_flags.clear();
          reset_segments.clear();
          in_reset = false;
          absl::MutexLock lock(&shared_->mu);
          if (failure.ok()) ++shared_->state.resets;
        }
        absl::MutexLock lock(&shared_->mu);
        first_sync = failure.ok() && !shared_->state.synced;
        if (failure.ok()) shared_->state.synced = true;
        break;
      }
      default:  // HEARTBEAT, or a kind newer than this build: heard only
        break;
    }
    {
      absl::MutexLock lock(&shared_->mu);
      shared_->state.connected = true;
      shared_->state.last_heard = now;
      // A RESET's objects carry their own last revisions: only the
      // stream's latest counts.
      if (!in_reset || event.kind() == v1::WatchEvent::RESET) {
        shared_->state.primary_revision = event.revision();
      }
    }
    if (first_sync && on_synced_) on_synced_();
  }
  if (!failure.ok()) context.TryCancel();
  const grpc::Status finished = reader->Finish();
  stream_done = true;
  {
    absl::MutexLock lock(&shared_->mu);
    shared_->stream = nullptr;
  }
  silence_watch.join();
  if (!failure.ok()) return failure;
  if (!finished.ok()) return FromGrpcStatus(finished);
  return absl::UnavailableError("the primary ended the stream");
}

}  // namespace cutover
