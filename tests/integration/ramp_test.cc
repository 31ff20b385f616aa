// Guarded ramps against the real daemon, with telemetry reported through
// the real Telemetry API and short holds (seconds): a healthy plan reaches
// its last step; a breach pauses (or rolls back); too few samples waits,
// then pauses, never advancing; a person's write pauses and resume
// continues from the flag's serve; kill -9 mid-hold resumes in the same
// step with no step taken twice; cutoverctl's bad input.
//
// Every wait is bounded (kPatience); nothing asserts how fast a step comes.
#include <catch2/catch.hpp>

#include <signal.h>

#include <functional>
#include <algorithm>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "client/admin_client.h"
#include "cutover/v1/cutover.pb.h"
#include "google/protobuf/util/json_util.h"
#include "tests/integration/cli_fixture.h"
#include "tests/integration/admin_calls.h"
#include "tests/integration/harness.h"

namespace cutover::testing {
namespace {

// How long a test waits for something the ramp should do.
constexpr absl::Duration kPatience = absl::Seconds(90);

// A config file giving a telemetry window of 20 s in 1 s slots, so plans
// may read a few seconds (the window is set by config file only).
class WindowConfig {
 public:
  WindowConfig() {
    std::ofstream out(path());
    out << "telemetry_window_seconds: 20\ntelemetry_slots: 20\n";
  }
  std::string path() const { return dir_.path() + "/cutoverd.yaml"; }

 private:
  TempDir dir_;
};

// What one report carries.
struct Traffic {
  uint64_t matches = 0, mismatches = 0;
  uint64_t new_ok = 0, new_failed = 0, old_ok = 0, old_failed = 0;
};

Traffic Healthy() { return Traffic{200, 0, 200, 0, 200, 0}; }

class RampFixture : private WindowConfig, public CliFixture {
 public:
  RampFixture() : CliFixture({"--config", WindowConfig::path()}) {
    Reconnect();
  }

  void Reconnect() { admin_ = ConnectAdmin(daemon().address()); }

  // orders at shadow, ready for a ramp to live.
  void CreateAtShadow() {
    Ok({"flags", "create", "orders", "--old", "pg", "--new", "dynamo"});
    Ok({"stage", "orders", "dualwrite"});
    Ok({"stage", "orders", "shadow"});
  }

  void Report(const Traffic& traffic) {
    v1::ReportMigrationOpsRequest request;
    auto add = [&](v1::Origin origin, v1::OpResult result, uint64_t count) {
      if (count == 0) return;
      v1::MigrationOpCount* entry = request.add_counts();
      entry->set_flag_key("orders");
      entry->set_stage(v1::LIVE);
      entry->set_op("read");
      entry->set_origin(origin);
      entry->set_result(result);
      entry->set_count(count);
      if (result == v1::OK || result == v1::FAILED) {
        // About 1 ms each.
        v1::LatencyHistogram* latency = entry->mutable_latency();
        for (int i = 0; i < 10; ++i) latency->add_buckets(0);
        latency->add_buckets(count);
      }
    };
    add(v1::NEW, v1::MATCH, traffic.matches);
    add(v1::NEW, v1::MISMATCH, traffic.mismatches);
    add(v1::NEW, v1::OK, traffic.new_ok);
    add(v1::NEW, v1::FAILED, traffic.new_failed);
    add(v1::OLD, v1::OK, traffic.old_ok);
    add(v1::OLD, v1::FAILED, traffic.old_failed);
    REQUIRE(admin_->ReportMigrationOps(request).ok());
  }

  v1::RampStatus Status() {
    v1::GetRampStatusRequest request;
    request.set_key("orders");
    absl::StatusOr<v1::RampStatus> status = admin_->GetRampStatus(request);
    REQUIRE(status.ok());
    return *status;
  }

  // Reports `traffic` every 200 ms (none if null) until `done` holds for
  // the ramp's status, or kPatience passes; the last status.
  v1::RampStatus ReportUntil(
      const Traffic* traffic,
      const std::function<bool(const v1::RampStatus&)>& done,
      const std::function<void(const v1::RampStatus&)>& each = nullptr) {
    const absl::Time deadline = absl::Now() + kPatience;
    v1::RampStatus status = Status();
    while (!done(status) && absl::Now() < deadline) {
      if (traffic != nullptr) Report(*traffic);
      absl::SleepFor(absl::Milliseconds(200));
      status = Status();
      if (each) each(status);
    }
    INFO("ramp status: " << status.ShortDebugString());
    REQUIRE(done(status));
    return status;
  }

  std::vector<v1::HistoryEntry> History() {
    return HistoryOldestFirst(*admin_, "orders");
  }
  std::vector<v1::HistoryEntry> Steps() { return RampSteps(*admin_, "orders"); }

  v1::RampStatus Control(const std::string& action) {
    v1::RampStatus status;
    const std::string json = Ok({"ramp", action, "orders", "-o", "json"});
    REQUIRE(google::protobuf::util::JsonStringToMessage(json, &status).ok());
    return status;
  }

 private:
  std::unique_ptr<AdminClient> admin_;
};

bool StateIs(const v1::RampStatus& status, v1::RampState state) {
  return status.state() == state;
}

TEST_CASE_METHOD(RampFixture,
                 "a healthy ramp reaches its last step, each step a write "
                 "by ramp with its figures",
                 "[ramp]") {
  CreateAtShadow();
  Ok({"ramp", "set", "orders", "--steps", "live=10,50,100", "--hold", "2s",
      "--interval", "1s", "--window", "3s", "--max-mismatch-rate", "0.01",
      "--max-new-error-rate", "0.05", "--max-p99-latency-ratio", "4",
      "--min-samples", "50"});
  const v1::RampStatus started = Control("start");
  CHECK(started.state() == v1::RUNNING);
  CHECK(started.step() == 0);
  CHECK(started.steps() == 3);
  CHECK(GetFlag("orders").default_serve().rollout().splits_size() == 2);

  const Traffic healthy = Healthy();
  const v1::RampStatus done = ReportUntil(&healthy, [](const auto& s) {
    return StateIs(s, v1::COMPLETED);
  });
  CHECK(done.step() == 2);
  CHECK(done.last_analysis().verdict() == v1::CHECK_PASS);
  CHECK(done.last_analysis().checks_size() == 3);
  CHECK(GetFlag("orders").default_serve().stage() == v1::LIVE);

  // One write per step: the first by the person who started it, the rest
  // by the ramp with the figures that allowed them.
  const std::vector<v1::HistoryEntry> steps = Steps();
  REQUIRE(steps.size() == 3);
  CHECK(absl::StrContains(steps[0].comment(), "step 1 of 3"));
  for (size_t i = 1; i < steps.size(); ++i) {
    INFO(steps[i].comment());
    CHECK(steps[i].actor() == "ramp");
    CHECK(absl::StrContains(steps[i].comment(),
                            absl::StrCat("step ", i + 1, " of 3")));
    CHECK(absl::StrContains(steps[i].comment(), "mismatch_rate 0 ("));
    CHECK(steps[i].version() > steps[i - 1].version());
  }

  // The metrics say so too.
  const RunResult metrics = HttpGet(absl::StrCat(
      "http://127.0.0.1:", daemon().metrics_port(), "/metrics"));
  REQUIRE(metrics.exit_code == 0);
  CHECK(absl::StrContains(metrics.out, "cutover_ramp_step{flag=\"orders\"} 3"));
  CHECK(absl::StrContains(
      metrics.out,
      "cutover_ramp_state{flag=\"orders\",state=\"completed\"} 1"));
  CHECK(absl::StrContains(metrics.out,
                          "cutover_ramp_check_verdict{flag=\"orders\","
                          "check=\"mismatch_rate\",verdict=\"pass\"} 1"));
}

TEST_CASE_METHOD(RampFixture, "a breach pauses the ramp at once",
                 "[ramp]") {
  CreateAtShadow();
  Ok({"ramp", "set", "orders", "--steps", "live=10,100", "--hold", "1h",
      "--interval", "1s", "--window", "3s", "--max-mismatch-rate", "0.01",
      "--min-samples", "50"});
  Control("start");
  const int64_t version = GetFlag("orders").version();
  Traffic bad = Healthy();
  bad.mismatches = 100;  // a third of the compared reads
  const v1::RampStatus paused = ReportUntil(
      &bad, [](const auto& s) { return StateIs(s, v1::PAUSED); });
  CHECK(absl::StartsWith(paused.reason(), "breach: mismatch_rate 0.33"));
  CHECK(paused.step() == 0);
  CHECK(paused.last_analysis().verdict() == v1::CHECK_BREACH);
  CHECK(GetFlag("orders").version() == version);  // the serve stays
  const std::string status = Ok({"ramp", "status", "orders"});
  CHECK(absl::StrContains(status, "state      paused"));
  CHECK(absl::StrContains(status, "breach  mismatch_rate 0.33"));
}

TEST_CASE_METHOD(RampFixture,
                 "a breach with --on-breach rollback rolls the flag back",
                 "[ramp]") {
  CreateAtShadow();
  Ok({"ramp", "set", "orders", "--steps", "live=10,100", "--hold", "1h",
      "--interval", "1s", "--window", "3s", "--max-new-error-rate", "0.05",
      "--min-samples", "50", "--on-breach", "rollback"});
  Control("start");
  Traffic bad = Healthy();
  bad.new_failed = 100;
  const v1::RampStatus rolled = ReportUntil(
      &bad, [](const auto& s) { return StateIs(s, v1::ROLLED_BACK); });
  CHECK(absl::StartsWith(rolled.reason(), "breach: new_error_rate"));
  const std::vector<v1::HistoryEntry> history = History();
  const v1::HistoryEntry& last = history.back();
  CHECK(last.action() == "rollback");
  CHECK(last.actor() == "ramp");
  CHECK(absl::StrContains(last.comment(), "new_error_rate"));
  // Nobody is past dualwrite any more.
  for (const char* user : {"u1", "u2", "u3", "u4", "u5", "u6"}) {
    CHECK(Decide("orders", user).stage() == v1::DUALWRITE);
  }
  CHECK(rolled.flag_version() == GetFlag("orders").version());
}

TEST_CASE_METHOD(RampFixture,
                 "too few samples waits, then pauses, never advances",
                 "[ramp]") {
  CreateAtShadow();
  Ok({"ramp", "set", "orders", "--steps", "live=10,100", "--hold", "1s",
      "--interval", "1s", "--window", "3s", "--max-mismatch-rate", "0.01",
      "--min-samples", "100000", "--inconclusive-limit", "3s"});
  Control("start");
  const int64_t version = GetFlag("orders").version();
  bool saw_waiting = false;
  const Traffic trickle{5, 0, 5, 0, 5, 0};
  const v1::RampStatus paused = ReportUntil(
      &trickle, [](const auto& s) { return StateIs(s, v1::PAUSED); },
      [&](const v1::RampStatus& s) {
        if (s.state() == v1::WAITING) {
          saw_waiting = true;
          CHECK(absl::StartsWith(s.reason(), "waiting for data: mismatch_rate "
                                             "inconclusive"));
        }
        CHECK(s.step() == 0);
      });
  CHECK(saw_waiting);
  CHECK(absl::StartsWith(paused.reason(), "inconclusive for "));
  CHECK(paused.step() == 0);
  CHECK(GetFlag("orders").version() == version);
}

TEST_CASE_METHOD(RampFixture,
                 "a person's write pauses the ramp, and resume continues from "
                 "the flag's serve",
                 "[ramp]") {
  CreateAtShadow();
  Ok({"ramp", "set", "orders", "--steps", "live=10,50,100", "--hold", "1h",
      "--interval", "1s", "--window", "3s"});
  Control("start");
  {
    // alice takes over: a rollout of her own.
    std::unique_ptr<AdminClient> alice =
        ConnectAdmin(daemon().address(), absl::Seconds(10), "alice");
    v1::SetRolloutRequest request;
    request.set_key("orders");
    for (auto [stage, weight] : {std::pair{v1::LIVE, 20000u},
                                 std::pair{v1::SHADOW, 80000u}}) {
      v1::Split* split = request.mutable_rollout()->add_splits();
      split->set_stage(stage);
      split->set_weight(weight);
    }
    REQUIRE(alice->SetRollout(request).ok());
  }
  const v1::RampStatus paused = ReportUntil(
      nullptr, [](const auto& s) { return StateIs(s, v1::PAUSED); });
  CHECK(absl::StartsWith(paused.reason(), "the flag was changed by alice"));
  const int64_t version = GetFlag("orders").version();
  const v1::RampStatus resumed = Control("resume");
  CHECK(resumed.state() == v1::RUNNING);
  CHECK(resumed.step() == 0);  // live 20% is past step 1, short of step 2
  CHECK(resumed.flag_version() == version);
  CHECK(GetFlag("orders").version() == version);  // resume wrote nothing
  // Skip takes step 2 now.
  const v1::RampStatus skipped = Control("skip");
  CHECK(skipped.step() == 1);
  CHECK(GetFlag("orders").version() == version + 1);
  // Pause, abort; then nothing applies but start.
  CHECK(Control("pause").state() == v1::PAUSED);
  CHECK(Control("abort").state() == v1::ABORTED);
  const RunResult again = Ctl({"ramp", "resume", "orders"});
  CHECK(again.exit_code == 2);
  CHECK(absl::StrContains(again.err, "FAILED_PRECONDITION"));
}

TEST_CASE_METHOD(RampFixture,
                 "kill -9 mid-hold resumes in the same step, no step taken "
                 "twice or skipped",
                 "[ramp]") {
  CreateAtShadow();
  // A hold long enough that the restart surely ends within it.
  Ok({"ramp", "set", "orders", "--steps", "live=10,50,100", "--hold", "6s",
      "--interval", "1s", "--window", "3s"});
  Control("start");
  const v1::RampStatus second = ReportUntil(
      nullptr, [](const auto& s) { return s.step() == 1; });
  REQUIRE(daemon().Stop(SIGKILL) == -SIGKILL);
  REQUIRE(daemon().Start());
  Reconnect();
  const v1::RampStatus after = Status();
  CHECK(after.step() == 1);
  CHECK(after.state() == v1::RUNNING);
  CHECK(after.step_start_time().seconds() ==
        second.step_start_time().seconds());
  CHECK(after.flag_version() == GetFlag("orders").version());
  ReportUntil(nullptr,
              [](const auto& s) { return StateIs(s, v1::COMPLETED); });
  // Exactly one write per step, in order.
  const std::vector<v1::HistoryEntry> steps = Steps();
  REQUIRE(steps.size() == 3);
  CHECK(absl::StrContains(steps[0].comment(), "step 1 of 3"));
  CHECK(absl::StrContains(steps[1].comment(), "step 2 of 3"));
  CHECK(absl::StrContains(steps[2].comment(), "step 3 of 3"));
  CHECK(GetFlag("orders").default_serve().stage() == v1::LIVE);
}

TEST_CASE_METHOD(RampFixture,
                 "ramp set refuses bad input naming the field, and stores "
                 "nothing",
                 "[ramp]") {
  CreateAtShadow();
  const int64_t version = GetFlag("orders").version();
  struct Case {
    std::vector<std::string> args;
    std::string message;
  };
  const std::vector<Case> cases = {
      {{"--steps", "live=abc", "--hold", "1m"}, "--steps: 'live=abc'"},
      {{"--steps", "5,25", "--hold", "1m"}, "--steps: '5' is neither"},
      {{"--steps", "live=5", "--hold", "soon"}, "--hold: 'soon'"},
      {{"--steps", "live=5", "--hold", "1m", "--on-breach", "panic"},
       "--on-breach: 'panic'"},
      {{"--steps", "live=5", "--hold", "1m", "--max-mismatch-rate", "2"},
       "ramp.checks[0].threshold: must be a number in [0, 1], got 2"},
      {{"--steps", "live=5", "--hold", "1m", "--window", "1h"},
       "ramp.window_seconds: must be at most the daemon's telemetry window"},
      {{"--hold", "1m"}, "--steps: required"},
      {{"--steps", "live=5", "--hold", "1m", "--promql-max", "1"},
       "--promql-max: needs --promql (the query)"},
      {{"--steps", "live=5", "--hold", "1m", "--promql", "up"},
       "--promql: needs exactly one of --promql-max and --promql-min"},
      {{"--steps", "live=5", "--hold", "1m", "--promql", "up", "--promql-min",
        "x"},
       "--promql-min: 'x' is not a number"},
      {{"--steps", "live=5", "--hold", "1m", "--promql", "sum(up",
        "--promql-max", "1"},
       "ramp.checks[0].promql: brackets must pair up and quotes must close"},
      // This daemon has no prometheus_url.
      {{"--steps", "live=5", "--hold", "1m", "--promql", "up", "--promql-max",
        "1"},
       "ramp.checks[0].promql: the daemon has no Prometheus to query (set "
       "prometheus_url in its config)"},
  };
  for (const Case& c : cases) {
    std::vector<std::string> args = {"ramp", "set", "orders"};
    args.insert(args.end(), c.args.begin(), c.args.end());
    const RunResult result = Ctl(args);
    INFO(Join(args) << "\nstderr: " << result.err);
    CHECK(result.exit_code == 2);
    CHECK(absl::StrContains(result.err, c.message));
    CHECK(std::count(result.err.begin(), result.err.end(), '\n') == 1);
  }
  CHECK(GetFlag("orders").version() == version);
  CHECK_FALSE(GetFlag("orders").has_ramp());
  // start without a plan
  const RunResult start = Ctl({"ramp", "start", "orders"});
  CHECK(start.exit_code == 2);
  CHECK(absl::StrContains(start.err, "has no ramp plan"));
}

TEST_CASE_METHOD(RampFixture, "an apply file carries the ramp plan",
                 "[ramp]") {
  const std::string file = dir().path() + "/flags.yaml";
  {
    std::ofstream out(file);
    out << "flags:\n"
           "  - key: orders\n"
           "    old_target: pg\n"
           "    new_target: dynamo\n"
           "    enabled: true\n"
           "    default_serve: {stage: dualwrite}\n"
           "    ramp:\n"
           "      steps:\n"
           "        - serve: {stage: shadow}\n"
           "        - serve: {stage: live}\n"
           "          hold_seconds: 60\n"
           "      hold_seconds: 30\n"
           "      interval_seconds: 5\n"
           "      window_seconds: 10\n"
           "      checks:\n"
           "        - {kind: mismatch_rate, threshold: 0.001, "
           "min_samples: 500}\n";
  }
  Ok({"apply", "--file", file});
  const v1::Flag flag = GetFlag("orders");
  REQUIRE(flag.has_ramp());
  CHECK(flag.ramp().steps_size() == 2);
  CHECK(flag.ramp().steps(1).hold_seconds() == 60);
  CHECK(flag.ramp().checks(0).kind() == v1::MISMATCH_RATE);
  // Applying the same file again changes nothing.
  Ok({"apply", "--file", file});
  CHECK(GetFlag("orders").version() == flag.version());
}

}  // namespace
}  // namespace cutover::testing
