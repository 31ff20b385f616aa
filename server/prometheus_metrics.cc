#include "server/prometheus_metrics.h"

#include <atomic>
#include <cmath>
#include <exception>
#include <optional>
#include <thread>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "convert/convert.h"
#include "core/currency.h"
#include "prometheus/collectable.h"
#include "prometheus/counter.h"
#include "prometheus/exposer.h"
#include "prometheus/family.h"
#include "prometheus/histogram.h"
#include "prometheus/metric_family.h"
#include "prometheus/registry.h"
#include "prometheus/text_serializer.h"
#include "server/flag_registry.h"
#include "server/op_aggregator.h"
#include "server/listener_knock.h"
#include "server/process_stats.h"
#include "server/prometheus_gauges.h"

namespace cutover {
namespace {

using prometheus_gauges::AddSample;
using prometheus_gauges::CounterFamily;
using prometheus_gauges::GaugeFamily;
using prometheus_gauges::Labels;

const prometheus::Histogram::BucketBoundaries kStoreWriteSeconds = {
    1e-4, 2.5e-4, 5e-4, 1e-3, 2.5e-3, 5e-3, 1e-2,
    2.5e-2, 5e-2, 1e-1, 2.5e-1, 5e-1, 1, 2.5};

// The share (0..1) of users that the flag's default serve sends to each
// stage as it serves them (a disabled flag's capped at its fallback),
// indexed by the Stage's numeric value.
std::array<double, 7> ServeShares(const Flag& configured) {
  std::optional<Flag> storage;
  const Flag& flag = Served(configured, configured.currency, storage);
  std::array<double, 7> shares{};
  if (flag.default_serve.stage.has_value()) {
    shares[static_cast<int>(*flag.default_serve.stage)] = 1;
  } else if (flag.default_serve.rollout.has_value()) {
    for (const Split& split : flag.default_serve.rollout->splits) {
      shares[static_cast<int>(split.stage)] +=
          static_cast<double>(split.weight) / kTotalWeight;
    }
  }
  return shares;
}

}  // namespace

// Gauges computed at scrape time from the current state, so the request
// path pays nothing for them.
class PrometheusMetrics::StateCollector final : public prometheus::Collectable {
 public:
  // Per backfill job (flag and direction): rows by kind, phase, rate and
  // ETA.
  static void CollectBackfills(const BackfillJobs& jobs,
                               std::vector<prometheus::MetricFamily>& families) {
    auto rows = GaugeFamily(
        "cutover_backfill_rows",
        "Rows of the flag's backfill job, by kind: copied, verified, "
        "mismatched, repaired, total_estimate.");
    auto phase = GaugeFamily(
        "cutover_backfill_phase",
        "1 for the phase the flag's backfill job is in (copying, verifying, "
        "done), 0 for the others.");
    auto rate = GaugeFamily("cutover_backfill_rows_per_second",
                            "The backfill's recent rows per second.");
    auto eta = GaugeFamily("cutover_backfill_eta_seconds",
                           "Seconds until the copy ends at the recent rate "
                           "(0: unknown or not copying).");
    for (const BackfillJob& job : jobs.List()) {
      const std::string& flag = job.flag_key;
      const std::string direction = BackfillDirectionName(job.direction);
      const std::pair<const char*, int64_t> counts[] = {
          {"copied", job.rows_copied},
          {"verified", job.rows_verified},
          {"mismatched", job.rows_mismatched},
          {"repaired", job.rows_repaired},
          {"total_estimate", job.rows_total_estimate}};
      for (const auto& [kind, value] : counts) {
        AddSample(rows,
                  {{"flag", flag}, {"direction", direction}, {"kind", kind}},
                  static_cast<double>(value));
      }
      for (BackfillPhase p : kBackfillPhases) {
        AddSample(phase,
                  {{"flag", flag},
                   {"direction", direction},
                   {"phase", BackfillPhaseName(p)}},
                  job.phase == p ? 1 : 0);
      }
      AddSample(rate, {{"flag", flag}, {"direction", direction}},
                job.rows_per_second);
      AddSample(eta, {{"flag", flag}, {"direction", direction}},
                EtaSeconds(job));
    }
    for (auto* family : {&rows, &phase, &rate, &eta}) {
      families.push_back(std::move(*family));
    }
  }

  void Watch(FlagRegistry* registry) {
    absl::MutexLock lock(&mu_);
    registry_ = registry;
  }

  std::vector<prometheus::MetricFamily> Collect() const override {
    std::vector<prometheus::MetricFamily> families;
    CollectProcess(families);
    auto build = GaugeFamily("cutover_build_info",
                             "Always 1; the version label says which build.");
    AddSample(build, {{"version", CUTOVER_VERSION}}, 1);
    families.push_back(std::move(build));

    absl::MutexLock lock(&mu_);
    if (registry_ == nullptr) return families;
    auto& hub = registry_->hub();
    const auto snapshot = hub.snapshot();

    auto revision = GaugeFamily("cutover_store_revision",
                                "The store revision of the served snapshot.");
    AddSample(revision, {}, static_cast<double>(snapshot->revision));
    families.push_back(std::move(revision));

    const Store::Sizes sizes = registry_->store().sizes();
    auto live = GaugeFamily("cutover_store_live_data_bytes",
                            "RocksDB's estimate of live data in the store.");
    AddSample(live, {}, static_cast<double>(sizes.live_data_bytes));
    families.push_back(std::move(live));
    auto sst = GaugeFamily("cutover_store_sst_bytes",
                           "Size of the store's SST files on disk.");
    AddSample(sst, {}, static_cast<double>(sizes.sst_bytes));
    families.push_back(std::move(sst));
    auto pending = GaugeFamily(
        "cutover_store_pending_compaction_bytes",
        "RocksDB's estimate of bytes compaction still has to rewrite.");
    AddSample(pending, {}, static_cast<double>(sizes.pending_compaction_bytes));
    families.push_back(std::move(pending));

    auto subscribers =
        GaugeFamily("cutover_watch_subscribers", "Open Watch streams.");
    AddSample(subscribers, {}, static_cast<double>(hub.subscriber_count()));
    families.push_back(std::move(subscribers));

    CollectBackfills(registry_->backfills(), families);

    auto segments = GaugeFamily("cutover_segments", "Segments in the store.");
    AddSample(segments, {},
              static_cast<double>(snapshot->segment_records.size()));
    families.push_back(std::move(segments));

    auto flags = GaugeFamily("cutover_flags", "Flags in the store, by state.");
    auto info = GaugeFamily(
        "cutover_flag_info",
        "Always 1 per active flag; labels name its old and new databases.");
    auto version = GaugeFamily("cutover_flag_version",
                               "The flag's version (grows with each change).");
    auto enabled = GaugeFamily(
        "cutover_flag_enabled",
        "1 if the flag is enabled, 0 if its kill switch caps users at its "
        "fallback stage.");
    auto fallback = GaugeFamily(
        "cutover_flag_fallback_stage",
        "The stage the flag's kill switch caps users at (1 off ... 6 "
        "complete).");
    auto stale = GaugeFamily(
        "cutover_flag_database_stale",
        "1 if the flag's old or new database is known to have missed users' "
        "writes (see docs/operations.md), else 0.");
    auto stage = GaugeFamily(
        "cutover_flag_stage",
        "The most advanced stage the flag's default serve gives any user: "
        "1 off, 2 dualwrite, 3 shadow, 4 live, 5 rampdown, 6 complete "
        "(capped at the fallback stage when disabled).");
    auto share = GaugeFamily(
        "cutover_flag_serve_share",
        "Share (0 to 1) of users the flag's default serve gives each stage "
        "(rules aside; capped at the fallback stage when disabled).");
    auto rules = GaugeFamily("cutover_flag_rules", "Targeting rules per flag.");
    int64_t active = 0, archived = 0;
    for (const auto& [key, entry] : snapshot->flags) {
      if (entry->record.flag.archived) {
        archived += 1;
        continue;
      }
      active += 1;
      const Flag& flag = entry->compiled->flag();
      AddSample(info,
                {{"flag", key},
                 {"old_target", flag.old_target},
                 {"new_target", flag.new_target}},
                1);
      AddSample(version, {{"flag", key}}, static_cast<double>(flag.version));
      AddSample(enabled, {{"flag", key}}, flag.enabled ? 1 : 0);
      AddSample(fallback, {{"flag", key}},
                static_cast<int>(FallbackStage(flag)));
      AddSample(stale, {{"flag", key}, {"origin", "old"}},
                flag.currency.old_stale.has_value() ? 1 : 0);
      AddSample(stale, {{"flag", key}, {"origin", "new"}},
                flag.currency.new_stale.has_value() ? 1 : 0);
      AddSample(rules, {{"flag", key}}, static_cast<double>(flag.rules.size()));
      const auto shares = ServeShares(flag);
      int most_advanced = static_cast<int>(Stage::kOff);
      for (int s = static_cast<int>(kFirstStage);
           s <= static_cast<int>(kLastStage); ++s) {
        AddSample(share,
                  {{"flag", key}, {"stage", StageName(static_cast<Stage>(s))}},
                  shares[s]);
        if (shares[s] > 0) most_advanced = s;
      }
      AddSample(stage, {{"flag", key}}, most_advanced);
    }
    AddSample(flags, {{"state", "active"}}, static_cast<double>(active));
    AddSample(flags, {{"state", "archived"}}, static_cast<double>(archived));
    for (auto* family : {&flags, &info, &version, &enabled, &fallback, &stale,
                         &stage, &share, &rules}) {
      families.push_back(std::move(*family));
    }
    return families;
  }

 private:
  // The process_* metrics of the Prometheus client libraries' convention.
  static void CollectProcess(std::vector<prometheus::MetricFamily>& families) {
    auto stats = ReadProcessStats();
    if (!stats.ok()) return;
    auto cpu = CounterFamily("process_cpu_seconds_total",
                             "Total user and system CPU time spent in seconds.");
    AddSample(cpu, {}, stats->cpu_seconds);
    families.push_back(std::move(cpu));
    const std::pair<const char*, std::pair<const char*, double>> gauges[] = {
        {"process_resident_memory_bytes",
         {"Resident memory size in bytes.",
          static_cast<double>(stats->resident_bytes)}},
        {"process_virtual_memory_bytes",
         {"Virtual memory size in bytes.",
          static_cast<double>(stats->virtual_bytes)}},
        {"process_open_fds",
         {"Number of open file descriptors.",
          static_cast<double>(stats->open_fds)}},
        {"process_max_fds",
         {"Maximum number of open file descriptors.",
          static_cast<double>(stats->max_fds)}},
        {"process_start_time_seconds",
         {"Start time of the process since unix epoch in seconds.",
          stats->start_time_seconds}},
        {"process_threads",
         {"Number of OS threads in the process.",
          static_cast<double>(stats->threads)}},
    };
    for (const auto& [name, help_value] : gauges) {
      auto family = GaugeFamily(name, help_value.first);
      AddSample(family, {}, help_value.second);
      families.push_back(std::move(family));
    }
  }

  mutable absl::Mutex mu_;
  FlagRegistry* registry_ ABSL_GUARDED_BY(mu_) = nullptr;
};

PrometheusMetrics::PrometheusMetrics()
    : registry_(std::make_shared<prometheus::Registry>()),
      state_(std::make_shared<StateCollector>()) {
  prometheus::Registry& r = *registry_;
  RegisterDecisionFamilies(r);

  auto& opened = prometheus::BuildCounter()
                     .Name("cutover_watch_streams_total")
                     .Help("Watch streams opened: new (from revision 0), "
                           "resume (replayed from a revision), resync (too "
                           "old to replay: RESET and the whole state).")
                     .Register(r);
  watch_opened_ = {&opened.Add({{"kind", "new"}}),
                   &opened.Add({{"kind", "resume"}}),
                   &opened.Add({{"kind", "resync"}})};
  auto& events = prometheus::BuildCounter()
                     .Name("cutover_watch_events_sent_total")
                     .Help("Events written to Watch streams, by kind.")
                     .Register(r);
  for (int kind = 0; kind < kWatchKinds; ++kind) {
    const auto value = static_cast<v1::WatchEvent::Kind>(kind);
    watch_events_[kind] =
        v1::WatchEvent::Kind_IsValid(kind) &&
                value != v1::WatchEvent::KIND_UNSPECIFIED
            ? &events.Add({{"kind", v1::WatchEvent::Kind_Name(value)}})
            : nullptr;
  }

  admin_changes_ = &prometheus::BuildCounter()
                        .Name("cutover_admin_changes_total")
                        .Help("Changes committed, by flag (empty for "
                              "segments) and action.")
                        .Register(r);
  admin_rejected_ = &prometheus::BuildCounter()
                         .Name("cutover_admin_rejected_total")
                         .Help("Admin calls refused or failed, by method "
                               "and status code.")
                         .Register(r);
  store_write_ = &prometheus::BuildHistogram()
                      .Name("cutover_store_write_duration_seconds")
                      .Help("Duration of synced store commits.")
                      .Register(r)
                      .Add({}, kStoreWriteSeconds);

  RegisterTelemetryFamilies(r);
  flagd_left_out_ = &prometheus::BuildCounter()
                         .Name("cutover_flagd_sync_flags_left_out_total")
                         .Help("Flags flagd sync left out").Register(r).Add({});
  token_file_reloads_ =
      &prometheus::BuildCounter()
           .Name("cutover_token_file_reloads_total")
           .Help("Readings of the token file after it changed, by result "
                 "(changed, unchanged, failed: the old tokens stay).")
           .Register(r);
  // At 0 from the start: a counter that first appears at 1 shows no
  // increase(), and the alert on a failed reload would miss it.
  for (const char* result : {"changed", "unchanged", "failed"}) {
    token_file_reloads_->Add({{"result", result}});
  }
  streams_revoked_ =
      &prometheus::BuildCounter()
           .Name("cutover_streams_revoked_total")
           .Help("Open streams (Watch, flagd EventStream and SyncFlags) a "
                 "reload of the token file ended: token removed or role "
                 "lowered.")
           .Register(r)
           .Add({});
}

PrometheusMetrics::~PrometheusMetrics() { StopServing(); }

void PrometheusMetrics::WatchState(FlagRegistry* registry) {
  state_->Watch(registry);
}

void PrometheusMetrics::AddCollectable(
    std::shared_ptr<prometheus::Collectable> collectable) {
  added_.push_back(std::move(collectable));
}

absl::Status PrometheusMetrics::Serve(const std::string& listen) {
  try {
    exposer_ = std::make_unique<prometheus::Exposer>(listen);
  } catch (const std::exception& e) {
    return absl::UnavailableError(
        absl::StrCat("cannot serve metrics on ", listen, ": ", e.what()));
  }
  exposer_->RegisterCollectable(registry_);
  exposer_->RegisterCollectable(state_);
  if (ramps_ != nullptr) exposer_->RegisterCollectable(RampsCollectable());
  for (const auto& added : added_) exposer_->RegisterCollectable(added);
  const auto ports = exposer_->GetListeningPorts();
  port_ = ports.empty() ? 0 : ports.front();
  wake_host_ = KnockableHost(listen);
  return absl::OkStatus();
}

void PrometheusMetrics::StopServing() {
  if (exposer_ != nullptr) {
    // civetweb's listener polls in 2 s steps and stopping waits for it to
    // look again: a daemon took 2 s to exit. A connection wakes it, so the
    // exposer stops on another thread while this one knocks (at most 2 s,
    // as long as the wait it saves).
    std::atomic<bool> stopped{false};
    std::thread stopper([this, &stopped] {
      exposer_.reset();
      stopped = true;
    });
    for (int i = 0; i < 200 && !stopped; ++i) {
      KnockOnce(wake_host_, port_);
      absl::SleepFor(absl::Milliseconds(10));
    }
    stopper.join();
  }
  port_ = 0;
  state_->Watch(nullptr);
  ForgetRamps();
}

std::string PrometheusMetrics::ExpositionText() const {
  std::vector<prometheus::MetricFamily> families = registry_->Collect();
  for (auto& family : state_->Collect()) families.push_back(std::move(family));
  if (ramps_ != nullptr) {
    for (auto& family : RampsCollectable()->Collect()) {
      families.push_back(std::move(family));
    }
  }
  for (const auto& added : added_) {
    for (auto& family : added->Collect()) families.push_back(std::move(family));
  }
  return prometheus::TextSerializer().Serialize(families);
}

void PrometheusMetrics::CountWatchOpened(bool from_revision, bool reset) {
  watch_opened_[!from_revision ? 0 : (reset ? 2 : 1)]->Increment();
}

void PrometheusMetrics::CountWatchEventSent(v1::WatchEvent::Kind kind) {
  if (kind < 0 || kind >= kWatchKinds || watch_events_[kind] == nullptr) {
    return;
  }
  watch_events_[kind]->Increment();
}

void PrometheusMetrics::CountAdminChange(absl::string_view flag_key,
                                         absl::string_view action) {
  admin_changes_
      ->Add({{"flag", std::string(flag_key)}, {"action", std::string(action)}})
      .Increment();
}

void PrometheusMetrics::ObserveStoreWrite(absl::Duration write) {
  store_write_->Observe(absl::ToDoubleSeconds(write));
}

void PrometheusMetrics::CountAdminRejected(absl::string_view method,
                                           absl::StatusCode code) {
  admin_rejected_
      ->Add({{"method", std::string(method)},
             {"code", absl::StatusCodeToString(code)}})
      .Increment();
}

void PrometheusMetrics::CountFlagdLeftOut(uint64_t flags) {
  flagd_left_out_->Increment(static_cast<double>(flags));
}

void PrometheusMetrics::CountTokenFileReload(absl::string_view result) {
  token_file_reloads_->Add({{"result", std::string(result)}}).Increment();
}

void PrometheusMetrics::CountStreamsRevoked(uint64_t streams) {
  streams_revoked_->Increment(static_cast<double>(streams));
}

}  // namespace cutover
