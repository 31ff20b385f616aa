// RampEngine: carries out flags' guarded ramps (plan: the flag's
// RampPlan, core/model.h; decision: core/ramp.h DecideRamp).
//
// A thread wakes every tick and, for each ramp that is running or waiting
// and due (its plan's interval since the last analysis), reads the flag's
// telemetry over the plan's window (OpAggregator::RampWindow) and, for a
// PROMQL check, the user's Prometheus (Options::query_promql, asked with no
// lock held, so Decide, admin writes and the controls never wait for it),
// asks DecideRamp, and carries the answer out:
//   advance    the next step's serve, written by FlagRegistry::RampWrite
//              with actor "ramp" and the figures that allowed it, the new
//              state in the same synced batch: a crash leaves both or
//              neither, so no step is taken twice or skipped;
//   breach     pause, or the data-safe rollback (on_breach), at once;
//   wait       the state says why (inconclusive) or the hold goes on;
//   pause      inconclusive past the plan's limit.
// A flag whose version is not the one the ramp last wrote or started from
// was changed by someone else: the ramp pauses (the person took over).
// Every state change is written to the store (synced) before it is shown;
// a restarted daemon resumes each ramp in its stored step, the hold
// counted from the stored step start.
//
// Thread-safe: one mutex serialises the thread's ticks and the admin
// controls; flag writes happen under it (lock order: engine, then
// registry). Prometheus queries run outside it; Stop cancels one in
// flight.
#ifndef CUTOVER_SERVER_RAMP_ENGINE_H_
#define CUTOVER_SERVER_RAMP_ENGINE_H_

#include <atomic>
#include <functional>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "server/commands.h"
#include "server/flag_registry.h"
#include "server/op_aggregator.h"
#include "server/records.h"

namespace cutover {

class RampEngine {
 public:
  struct Options {
    // How often the thread looks for due ramps.
    absl::Duration tick = absl::Milliseconds(200);
    std::function<absl::Time()> clock = &absl::Now;
    // Answers a PROMQL check's query (PrometheusQuery::Query): its value,
    // or an error saying why there is none; it should give up once
    // `cancelled` is true. Unset: the daemon has no prometheus_url, and
    // PROMQL checks are inconclusive.
    std::function<absl::StatusOr<double>(const std::string& promql,
                                         const std::atomic<bool>& cancelled)>
        query_promql;
  };

  // Loads the stored ramp states (FlagRegistry::TakeLoadedRampStates).
  // `registry` and `aggregator` must outlive the engine.
  RampEngine(FlagRegistry* registry, const OpAggregator* aggregator,
             Options options);
  ~RampEngine();
  RampEngine(const RampEngine&) = delete;
  RampEngine& operator=(const RampEngine&) = delete;

  // Starts the thread; Stop ends it (idempotent, also the destructor's).
  void Start();
  void Stop();

  // One pass over the due ramps, now (the thread's work; for tests).
  void Tick();

  // NOT_FOUND for an unknown flag.
  absl::StatusOr<RampStatusRecord> Status(const std::string& key) const;
  // Every ramp that ever started, by flag key (metrics).
  std::vector<RampStatusRecord> List() const;

  // See the API's RampControl. INVALID_ARGUMENT for kUnspecified;
  // NOT_FOUND for an unknown flag; FAILED_PRECONDITION for an archived
  // flag, a flag without a plan, a ramp in a state the action does not
  // apply to, or a step the registry refuses.
  absl::StatusOr<RampStatusRecord> Control(const std::string& key,
                                           RampControl action,
                                           const std::string& comment,
                                           const Caller& caller);

 private:
  // The answers to the PROMQL checks of one tick, by flag key.
  using PromqlAnswers =
      absl::flat_hash_map<std::string, absl::StatusOr<double>>;

  void Loop();
  // The query of each due active ramp with a PROMQL check, by flag key.
  absl::flat_hash_map<std::string, std::string> DuePromqlQueries(
      absl::Time now) const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Asks Prometheus each query (no lock held).
  PromqlAnswers AskPrometheus(
      const absl::flat_hash_map<std::string, std::string>& queries) const;
  // Analyses and moves one due ramp; a ramp with a PROMQL check not in
  // `promql` (its plan changed since the queries) waits for the next tick.
  void TickRamp(RampStateRecord& state, absl::Time now,
                const PromqlAnswers& promql)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Stores `next` as the ramp's state, then makes `state` it; on a
  // storage failure `state` stays as it was.
  absl::Status Save(RampStateRecord& state, RampStateRecord next)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Writes step `step` of `flag`'s plan (the registry's RampWrite) with
  // `next` as the state after it; on success `state` becomes `next`.
  absl::Status WriteStep(const FlagRecord& flag, int step,
                         const std::string& comment, const Caller& caller,
                         RampStateRecord& state, RampStateRecord next)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Start and resume: run the plan from the flag's current serve.
  absl::Status Begin(const FlagRecord& flag, const std::string& verb,
                     const std::string& comment, const Caller& caller,
                     RampStateRecord& state)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  RampStatusRecord StatusOf(const RampStateRecord& state,
                            const FlagRecord* flag) const;

  FlagRegistry* const registry_;
  const OpAggregator* const aggregator_;
  const Options options_;
  mutable absl::Mutex mu_;
  absl::flat_hash_map<std::string, RampStateRecord> states_
      ABSL_GUARDED_BY(mu_);
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  // Set by Stop: a Prometheus query in flight gives up.
  std::atomic<bool> cancel_queries_{false};
  std::thread thread_;
};

}  // namespace cutover

#endif  // CUTOVER_SERVER_RAMP_ENGINE_H_
