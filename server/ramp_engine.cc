#include "server/ramp_engine.h"

#include <cstdio>
#include <utility>

#include "absl/strings/str_cat.h"

namespace cutover {
namespace {

// The actor of what the daemon does by itself.
Caller RampCaller() { return Caller{"ramp", "cutoverd"}; }

// "step 2 of 5 (live 5%, shadow 95%)".
std::string StepName(const RampPlan& plan, int step) {
  return absl::StrCat("step ", step + 1, " of ", plan.steps.size(), " (",
                      ServeSummary(plan.steps[static_cast<size_t>(step)].serve),
                      ")");
}

// " by alice: why", or " by alice".
std::string ByWhom(const Caller& caller, const std::string& comment) {
  return absl::StrCat(" by ", caller.actor,
                      comment.empty() ? "" : absl::StrCat(": ", comment));
}

absl::Status NotNow(const std::string& key, RampPhase phase,
                    const char* action, const char* applies_to) {
  return absl::FailedPreconditionError(absl::StrCat(
      "action: the ramp of ", key, " is ", RampPhaseName(phase), "; ", action,
      " applies to a ramp that is ", applies_to));
}

}  // namespace

RampEngine::RampEngine(FlagRegistry* registry, const OpAggregator* aggregator,
                       Options options)
    : registry_(registry), aggregator_(aggregator), options_(std::move(options)) {
  absl::MutexLock lock(&mu_);
  for (RampStateRecord& state : registry_->TakeLoadedRampStates()) {
    std::string key = state.flag_key;
    states_[key] = std::move(state);
  }
}

RampEngine::~RampEngine() { Stop(); }

void RampEngine::Start() {
  thread_ = std::thread([this] { Loop(); });
}

void RampEngine::Stop() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
  }
  cancel_queries_ = true;
  if (thread_.joinable()) thread_.join();
}

void RampEngine::Loop() {
  absl::MutexLock lock(&mu_);
  while (!stopping_) {
    mu_.AwaitWithTimeout(absl::Condition(&stopping_), options_.tick);
    if (stopping_) break;
    mu_.Unlock();
    Tick();
    mu_.Lock();
  }
}

void RampEngine::Tick() {
  const absl::Time now = options_.clock();
  absl::flat_hash_map<std::string, std::string> queries;
  {
    absl::MutexLock lock(&mu_);
    queries = DuePromqlQueries(now);
  }
  // No lock held while Prometheus answers (it may take the timeout).
  const PromqlAnswers answers = AskPrometheus(queries);
  absl::MutexLock lock(&mu_);
  if (stopping_) return;  // the answers may be cancellations
  for (auto& [key, state] : states_) {
    if (RampActive(state.phase)) TickRamp(state, now, answers);
  }
}

absl::flat_hash_map<std::string, std::string> RampEngine::DuePromqlQueries(
    absl::Time now) const {
  absl::flat_hash_map<std::string, std::string> queries;
  if (!options_.query_promql) return queries;
  for (const auto& [key, state] : states_) {
    if (!RampActive(state.phase)) continue;
    absl::StatusOr<FlagRecord> flag = registry_->GetFlag(key);
    if (!flag.ok() || !flag->flag.ramp.has_value()) continue;
    const RampPlan& plan = *flag->flag.ramp;
    const RampCheck* check = FindRampCheck(plan, RampCheckKind::kPromql);
    if (check == nullptr ||
        state.last_analysis.time + absl::Seconds(plan.interval_seconds) > now) {
      continue;
    }
    queries[key] = check->promql;
  }
  return queries;
}

RampEngine::PromqlAnswers RampEngine::AskPrometheus(
    const absl::flat_hash_map<std::string, std::string>& queries) const {
  PromqlAnswers answers;
  for (const auto& [key, query] : queries) {
    if (cancel_queries_) break;
    answers.emplace(key, options_.query_promql(query, cancel_queries_));
  }
  return answers;
}

absl::Status RampEngine::Save(RampStateRecord& state, RampStateRecord next) {
  if (absl::Status s = registry_->PutRampState(next); !s.ok()) return s;
  state = std::move(next);
  return absl::OkStatus();
}

absl::Status RampEngine::WriteStep(const FlagRecord& flag, int step,
                                   const std::string& comment,
                                   const Caller& caller,
                                   RampStateRecord& state,
                                   RampStateRecord next) {
  RampWriteCommand command;
  command.key = flag.flag.key;
  command.expected_version = flag.flag.version;
  command.serve = flag.flag.ramp->steps[static_cast<size_t>(step)].serve;
  command.comment = absl::StrCat(StepName(*flag.flag.ramp, step), ": ", comment);
  command.state = next;
  absl::StatusOr<FlagRecord> written = registry_->RampWrite(command, caller);
  if (!written.ok()) return written.status();
  next.flag_version = written->flag.version;
  state = std::move(next);
  return absl::OkStatus();
}

void RampEngine::TickRamp(RampStateRecord& state, absl::Time now,
                          const PromqlAnswers& promql) {
  const std::string& key = state.flag_key;
  absl::StatusOr<FlagRecord> flag = registry_->GetFlag(key);
  RampStateRecord next = state;
  next.updated = now;
  next.updated_by = "ramp";
  absl::Status saved;
  if (!flag.ok() || flag->flag.archived || !flag->flag.ramp.has_value()) {
    next.phase = RampPhase::kAborted;
    next.reason = !flag.ok() || flag->flag.archived
                      ? "the flag was archived"
                      : absl::StrCat("the flag's ramp plan was removed by ",
                                     flag->last_change.actor, " (version ",
                                     flag->flag.version, ")");
    saved = Save(state, std::move(next));
  } else if (flag->flag.version != state.flag_version) {
    // Someone else changed the flag: they have taken over.
    next.phase = RampPhase::kPaused;
    next.reason = absl::StrCat(
        "the flag was changed by ", flag->last_change.actor, " (version ",
        flag->flag.version,
        "); resume to continue from the flag's serve");
    saved = Save(state, std::move(next));
  } else {
    const RampPlan& plan = *flag->flag.ramp;
    if (state.last_analysis.time + absl::Seconds(plan.interval_seconds) > now) {
      return;  // not due
    }
    RampFigures figures;
    figures.window_seconds = plan.window_seconds;
    if (aggregator_ != nullptr) {
      figures = aggregator_->RampWindow(key, absl::Seconds(plan.window_seconds));
    }
    if (FindRampCheck(plan, RampCheckKind::kPromql) != nullptr) {
      if (!options_.query_promql) {
        figures.promql_problem =
            "the daemon has no prometheus_url in its config";
      } else if (auto answer = promql.find(key); answer == promql.end()) {
        return;  // the plan changed since the queries: next tick
      } else if (answer->second.ok()) {
        figures.promql_value = *answer->second;
      } else {
        figures.promql_problem = std::string(answer->second.status().message());
      }
    }
    const RampDecision decision = DecideRamp(
        plan, RampProgress{state.step, state.step_started,
                           state.inconclusive_since},
        figures, now);
    next.last_analysis = decision.analysis;
    next.inconclusive_since = decision.inconclusive_since;
    switch (decision.move) {
      case RampMove::kWait: {
        const bool waiting =
            decision.analysis.verdict == RampVerdict::kInconclusive;
        next.phase = waiting ? RampPhase::kWaiting : RampPhase::kRunning;
        next.reason = waiting ? decision.reason : "";
        saved = Save(state, std::move(next));
        break;
      }
      case RampMove::kComplete:
      case RampMove::kPauseInconclusive:
        next.phase = decision.move == RampMove::kComplete
                         ? RampPhase::kCompleted
                         : RampPhase::kPaused;
        next.reason = decision.reason;
        saved = Save(state, std::move(next));
        break;
      case RampMove::kAdvance: {
        const int step = state.step + 1;
        RampStateRecord paused = next;
        next.phase = RampPhase::kRunning;
        next.reason.clear();
        next.step = step;
        next.step_started = now;
        next.inconclusive_since.reset();
        absl::Status written = WriteStep(*flag, step, decision.reason,
                                         RampCaller(), state, std::move(next));
        if (!written.ok()) {
          paused.phase = RampPhase::kPaused;
          paused.reason =
              written.code() == absl::StatusCode::kAborted
                  ? absl::StrCat(StepName(plan, step),
                                 " not taken: the flag was changed meanwhile; "
                                 "resume to continue from its serve")
                  : absl::StrCat(StepName(plan, step), " refused: ",
                                 written.message());
          saved = Save(state, std::move(paused));
        }
        break;
      }
      case RampMove::kBreach: {
        next.phase = RampPhase::kPaused;
        next.reason = decision.reason;
        if (plan.on_breach == BreachAction::kRollback) {
          RampWriteCommand rollback;
          rollback.key = key;
          rollback.expected_version = flag->flag.version;
          rollback.comment = absl::StrCat("ramp ", decision.reason);
          rollback.state = next;
          rollback.state.phase = RampPhase::kRolledBack;
          absl::StatusOr<FlagRecord> written =
              registry_->RampWrite(rollback, RampCaller());
          if (written.ok()) {
            rollback.state.flag_version = written->flag.version;
            state = std::move(rollback.state);
            break;
          }
          absl::StrAppend(&next.reason, "; rollback refused: ",
                          written.status().message());
        }
        saved = Save(state, std::move(next));
        break;
      }
    }
  }
  if (!saved.ok()) {
    // The edge of the engine's thread: nobody else to tell.
    std::fprintf(stderr, "cutoverd: ramp of %s: cannot store its state: %s\n",
                 key.c_str(), std::string(saved.message()).c_str());
  }
}

absl::Status RampEngine::Begin(const FlagRecord& flag, const std::string& verb,
                               const std::string& comment,
                               const Caller& caller, RampStateRecord& state) {
  const RampPlan& plan = *flag.flag.ramp;
  const absl::Time now = options_.clock();
  RampStateRecord next;
  next.flag_key = flag.flag.key;
  next.phase = RampPhase::kRunning;
  next.step_started = now;
  next.updated = now;
  next.updated_by = caller.actor;
  const int at = StepAtOrBehind(plan, flag.flag.default_serve);
  if (at >= 0) {
    next.step = at;
    next.flag_version = flag.flag.version;
    return Save(state, std::move(next));
  }
  next.step = 0;
  return WriteStep(flag, 0,
                   absl::StrCat("ramp ", verb, ByWhom(caller, comment)),
                   caller, state, std::move(next));
}

absl::StatusOr<RampStatusRecord> RampEngine::Control(
    const std::string& key, RampControl action, const std::string& comment,
    const Caller& caller) {
  if (action == RampControl::kUnspecified) {
    return absl::InvalidArgumentError(
        "action: required: start, pause, resume, abort or skip");
  }
  absl::StatusOr<FlagRecord> flag = registry_->GetFlag(key);
  if (!flag.ok()) return flag.status();
  if (flag->flag.archived) {
    return absl::FailedPreconditionError(
        absl::StrCat("flag '", key, "' is archived"));
  }
  absl::MutexLock lock(&mu_);
  RampStateRecord state;
  state.flag_key = key;
  if (auto it = states_.find(key); it != states_.end()) state = it->second;
  const RampPhase phase = state.phase;
  const bool active = RampActive(phase);
  const bool stoppable = active || phase == RampPhase::kPaused;
  if (!flag->flag.ramp.has_value() && action != RampControl::kPause &&
      action != RampControl::kAbort) {
    return absl::FailedPreconditionError(absl::StrCat(
        "flag ", key, " has no ramp plan; set one with `cutoverctl ramp set`"));
  }
  const absl::Time now = options_.clock();
  RampStateRecord next = state;
  next.updated = now;
  next.updated_by = caller.actor;
  absl::Status done;
  switch (action) {
    case RampControl::kStart:
      if (stoppable) {
        return NotNow(key, phase, "start",
                      "not started, completed, aborted or rolled back "
                      "(resume a paused one)");
      }
      done = Begin(*flag, "started", comment, caller, state);
      break;
    case RampControl::kResume:
      if (phase != RampPhase::kPaused) {
        return NotNow(key, phase, "resume", "paused");
      }
      done = Begin(*flag, "resumed", comment, caller, state);
      break;
    case RampControl::kPause:
    case RampControl::kAbort: {
      const bool pause = action == RampControl::kPause;
      if (pause ? !active : !stoppable) {
        return NotNow(key, phase, pause ? "pause" : "abort",
                      pause ? "running or waiting"
                            : "running, waiting or paused");
      }
      next.phase = pause ? RampPhase::kPaused : RampPhase::kAborted;
      next.reason = absl::StrCat(pause ? "paused" : "aborted",
                                 ByWhom(caller, comment));
      done = Save(state, std::move(next));
      break;
    }
    case RampControl::kSkip: {
      if (!stoppable) {
        return NotNow(key, phase, "skip", "running, waiting or paused");
      }
      const int step = state.step + 1;
      if (step >= static_cast<int>(flag->flag.ramp->steps.size())) {
        return absl::FailedPreconditionError(absl::StrCat(
            "action: the ramp of ", key, " is at its last step"));
      }
      next.step = step;
      next.step_started = now;
      next.inconclusive_since.reset();
      if (active) next.reason.clear();
      done = WriteStep(*flag, step,
                       absl::StrCat("skipped to", ByWhom(caller, comment)),
                       caller, state, std::move(next));
      break;
    }
    case RampControl::kUnspecified:
      break;
  }
  if (!done.ok()) return done;
  states_[key] = state;
  absl::StatusOr<FlagRecord> after = registry_->GetFlag(key);
  return StatusOf(state, after.ok() ? &*after : nullptr);
}

RampStatusRecord RampEngine::StatusOf(const RampStateRecord& state,
                                      const FlagRecord* flag) const {
  RampStatusRecord status;
  status.state = state;
  if (flag != nullptr) status.plan = flag->flag.ramp;
  if (status.plan.has_value() && RampActive(state.phase)) {
    status.next_step = state.step_started + StepHold(*status.plan, state.step);
  }
  return status;
}

absl::StatusOr<RampStatusRecord> RampEngine::Status(
    const std::string& key) const {
  absl::StatusOr<FlagRecord> flag = registry_->GetFlag(key);
  if (!flag.ok()) return flag.status();
  absl::MutexLock lock(&mu_);
  RampStateRecord state;
  state.flag_key = key;
  if (auto it = states_.find(key); it != states_.end()) state = it->second;
  return StatusOf(state, &*flag);
}

std::vector<RampStatusRecord> RampEngine::List() const {
  std::vector<RampStateRecord> states;
  {
    absl::MutexLock lock(&mu_);
    for (const auto& [key, state] : states_) states.push_back(state);
  }
  std::vector<RampStatusRecord> out;
  for (const RampStateRecord& state : states) {
    absl::StatusOr<FlagRecord> flag = registry_->GetFlag(state.flag_key);
    out.push_back(StatusOf(state, flag.ok() ? &*flag : nullptr));
  }
  return out;
}

}  // namespace cutover
