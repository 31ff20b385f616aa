#include "cli/ramp_commands.h"

#include <utility>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "cli/output.h"
#include "cli/ramp_parse.h"

namespace cutover::cli {
namespace {

absl::Status Bad(const std::string& option, const std::string& rule) {
  return absl::InvalidArgumentError(absl::StrCat(option, ": ", rule));
}

// "running", "rolled_back" ... as the API's RampState, lowercase.
std::string StateName(v1::RampState state) {
  std::string name = v1::RampState_Name(state);
  for (char& c : name) c = static_cast<char>(std::tolower(c));
  return name;
}

std::string VerdictName(v1::RampVerdict verdict) {
  switch (verdict) {
    case v1::CHECK_PASS:
      return "pass";
    case v1::CHECK_BREACH:
      return "breach";
    case v1::CHECK_INCONCLUSIVE:
      return "inconclusive";
    default:
      return "-";
  }
}

std::string TimeText(const google::protobuf::Timestamp& time) {
  return absl::FormatTime("%Y-%m-%dT%H:%M:%SZ",
                          absl::FromUnixSeconds(time.seconds()),
                          absl::UTCTimeZone());
}

// "step 2 of 5 (live 5%, shadow 95%)", or "before the first step".
std::string StepText(const v1::RampStatus& status) {
  if (status.step() < 0) return "before the first step";
  std::string text = absl::StrCat("step ", status.step() + 1, " of ",
                                  status.steps());
  if (status.step() < status.plan().steps_size()) {
    absl::StrAppend(&text, " (",
                    FormatServe(status.plan().steps(status.step()).serve()),
                    ")");
  }
  return text;
}

}  // namespace

void RampCommands::Register(CLI::App& app) {
  auto* ramp = app.add_subcommand(
      "ramp", "a flag's guarded ramp: steps the daemon takes while checks "
              "pass");
  ramp->require_subcommand(1);

  auto* set = ramp->add_subcommand("set", "set (or --remove) the ramp plan");
  set->add_option("flag", options_.key, "flag key")->required();
  set->add_option("--steps", options_.steps,
                  "steps, e.g. live=1,5,25,50,100 (live=5: live 5%, the rest "
                  "shadow) or shadow,live=50,100,rampdown");
  set->add_option("--hold", options_.hold,
                  "least time each step is held, e.g. 30m");
  set->add_option("--interval", options_.interval,
                  "time between analyses (default 1m)");
  set->add_option("--window", options_.window,
                  "telemetry window each analysis reads (default 5m; at most "
                  "the daemon's telemetry window)");
  set->add_option("--on-breach", options_.on_breach,
                  "pause (default) or rollback (the data-safe rollback)");
  set->add_option("--inconclusive-limit", options_.inconclusive_limit,
                  "pause after being inconclusive this long (default: 10 "
                  "intervals)");
  set->add_option("--max-mismatch-rate", options_.max_mismatch_rate,
                  "check: mismatches / compared reads, 0 to 1");
  set->add_option("--max-new-error-rate", options_.max_new_error_rate,
                  "check: new database's error rate, 0 to 1");
  set->add_option("--max-error-rate-delta", options_.max_error_rate_delta,
                  "check: new's error rate minus old's, 0 to 1");
  set->add_option("--max-p99-latency-ratio", options_.max_p99_latency_ratio,
                  "check: new's p99 latency over old's, above 0");
  set->add_option("--min-samples", options_.min_samples,
                  "samples every telemetry check needs for a verdict "
                  "(default 100)");
  set->add_option("--promql", options_.promql,
                  "check: a PromQL query to the daemon's Prometheus "
                  "(prometheus_url), answering one number");
  set->add_option("--promql-max", options_.promql_max,
                  "the highest value of --promql that passes");
  set->add_option("--promql-min", options_.promql_min,
                  "the lowest value of --promql that passes");
  set->add_flag("--remove", options_.remove, "remove the flag's plan");
  AddWriteOptions(set, &options_.write, /*with_force=*/false);
  set->callback([this] { context_.command = [this] { return Set(); }; });

  auto* status = ramp->add_subcommand("status", "where the ramp is");
  status->add_option("flag", options_.key, "flag key")->required();
  status->callback([this] { context_.command = [this] { return Status(); }; });

  const std::pair<const char*, v1::RampControl> controls[] = {
      {"start", v1::START},   {"pause", v1::PAUSE}, {"resume", v1::RESUME},
      {"abort", v1::ABORT},   {"skip", v1::SKIP}};
  const char* helps[] = {
      "run the plan from the flag's current serve",
      "stop analysing and advancing",
      "continue a paused ramp from the flag's current serve",
      "stop for good (the serve stays)",
      "take the next step now (gates still apply)"};
  for (size_t i = 0; i < 5; ++i) {
    auto* command = ramp->add_subcommand(controls[i].first, helps[i]);
    command->add_option("flag", options_.key, "flag key")->required();
    command->add_option("-m,--comment", options_.write.comment,
                        "why, for the history");
    const v1::RampControl action = controls[i].second;
    command->callback([this, action] {
      context_.command = [this, action] { return Control(action); };
    });
  }
}

absl::Status RampCommands::Set() {
  v1::SetRampPlanRequest request;
  request.set_key(options_.key);
  request.set_expected_version(options_.write.expected_version);
  request.set_comment(options_.write.comment);
  if (!options_.remove) {
    if (options_.steps.empty()) return Bad("--steps", "required");
    if (options_.hold.empty()) return Bad("--hold", "required");
    v1::RampPlan* plan = request.mutable_plan();
    auto steps = ParseRampSteps(options_.steps);
    if (!steps.ok()) return steps.status();
    for (v1::Serve& serve : *steps) {
      *plan->add_steps()->mutable_serve() = std::move(serve);
    }
    auto hold = ParseSeconds(options_.hold, "--hold");
    if (!hold.ok()) return hold.status();
    auto interval = ParseSeconds(options_.interval, "--interval", 1);
    if (!interval.ok()) return interval.status();
    auto window = ParseSeconds(options_.window, "--window", 1);
    if (!window.ok()) return window.status();
    auto limit =
        ParseSeconds(options_.inconclusive_limit, "--inconclusive-limit");
    if (!limit.ok()) return limit.status();
    plan->set_hold_seconds(*hold);
    plan->set_interval_seconds(*interval);
    plan->set_window_seconds(*window);
    plan->set_inconclusive_limit_seconds(*limit);
    if (options_.on_breach == "rollback") {
      plan->set_on_breach(v1::BREACH_ROLLBACK);
    } else if (options_.on_breach != "pause") {
      return Bad("--on-breach", absl::StrCat("'", options_.on_breach,
                                             "' is not pause or rollback"));
    }
    if (options_.min_samples < 0) {
      return Bad("--min-samples", "must be 0 or more");
    }
    const std::pair<const char*, const std::string*> checks[] = {
        {"--max-mismatch-rate", &options_.max_mismatch_rate},
        {"--max-new-error-rate", &options_.max_new_error_rate},
        {"--max-error-rate-delta", &options_.max_error_rate_delta},
        {"--max-p99-latency-ratio", &options_.max_p99_latency_ratio}};
    for (size_t i = 0; i < 4; ++i) {
      if (checks[i].second->empty()) continue;
      double threshold = 0;
      if (!absl::SimpleAtod(*checks[i].second, &threshold)) {
        return Bad(checks[i].first,
                   absl::StrCat("'", *checks[i].second, "' is not a number"));
      }
      v1::RampCheck* check = plan->add_checks();
      check->set_kind(static_cast<v1::RampCheckKind>(i + 1));
      check->set_threshold(threshold);
      check->set_min_samples(options_.min_samples);
    }
    if (absl::Status s = AddPromqlCheck(plan); !s.ok()) return s;
  } else if (!options_.steps.empty()) {
    return Bad("--remove", "not with --steps");
  }
  absl::StatusOr<v1::Flag> flag = context_.admin->SetRampPlan(request);
  if (!flag.ok()) return flag.status();
  context_.PrintChanged(*flag);
  return absl::OkStatus();
}

absl::Status RampCommands::AddPromqlCheck(v1::RampPlan* plan) const {
  const bool has_max = !options_.promql_max.empty();
  const bool has_min = !options_.promql_min.empty();
  if (options_.promql.empty()) {
    if (has_max || has_min) {
      return Bad(has_max ? "--promql-max" : "--promql-min",
                 "needs --promql (the query)");
    }
    return absl::OkStatus();
  }
  if (has_max == has_min) {
    return Bad("--promql",
               "needs exactly one of --promql-max and --promql-min");
  }
  const char* option = has_max ? "--promql-max" : "--promql-min";
  const std::string& text = has_max ? options_.promql_max : options_.promql_min;
  double threshold = 0;
  if (!absl::SimpleAtod(text, &threshold)) {
    return Bad(option, absl::StrCat("'", text, "' is not a number"));
  }
  v1::RampCheck* check = plan->add_checks();
  check->set_kind(v1::PROMQL);
  check->set_promql(options_.promql);
  check->set_threshold(threshold);
  check->set_bound(has_max ? v1::AT_MOST : v1::AT_LEAST);
  return absl::OkStatus();
}

absl::Status RampCommands::Status() {
  v1::GetRampStatusRequest request;
  request.set_key(options_.key);
  absl::StatusOr<v1::RampStatus> status = context_.admin->GetRampStatus(request);
  if (!status.ok()) return status.status();
  PrintStatus(*status);
  return absl::OkStatus();
}

absl::Status RampCommands::Control(v1::RampControl action) {
  v1::ControlRampRequest request;
  request.set_key(options_.key);
  request.set_action(action);
  request.set_comment(options_.write.comment);
  absl::StatusOr<v1::RampStatus> status = context_.admin->ControlRamp(request);
  if (!status.ok()) return status.status();
  PrintStatus(*status);
  return absl::OkStatus();
}

void RampCommands::PrintStatus(const v1::RampStatus& status) const {
  if (context_.format != Format::kTable) {
    context_.Print(status);
    return;
  }
  std::ostream& out = context_.out;
  out << "flag       " << status.flag_key() << "\n";
  out << "state      " << StateName(status.state()) << "\n";
  if (status.state() == v1::NOT_STARTED) return;
  out << "step       " << StepText(status) << "\n";
  if (status.has_next_step_time()) {
    const absl::Duration left =
        absl::FromUnixSeconds(status.next_step_time().seconds()) - absl::Now();
    out << "next step  " << TimeText(status.next_step_time()) << " (hold "
        << (left > absl::ZeroDuration()
                ? absl::StrCat("ends in ", absl::FormatDuration(absl::Trunc(
                                               left, absl::Seconds(1))))
                : std::string("done; waiting for passing checks"))
        << ")\n";
  }
  if (!status.reason().empty()) out << "reason     " << status.reason() << "\n";
  if (status.has_last_analysis()) {
    const v1::RampAnalysis& analysis = status.last_analysis();
    out << "analysis   " << TimeText(analysis.time()) << " "
        << VerdictName(analysis.verdict()) << "\n";
    for (const v1::RampCheckResult& check : analysis.checks()) {
      out << "  " << VerdictName(check.verdict()) << "  " << check.line()
          << "\n";
    }
  }
  out << "updated    " << TimeText(status.update_time()) << " by "
      << status.updated_by() << " (flag version " << status.flag_version()
      << ")\n";
}

}  // namespace cutover::cli
