// Guarded ramps with PromQL checks, against the real cutoverd and a real
// Prometheus server (Debian's prometheus package) that scrapes the
// daemon's metrics every second on loopback. The query is over a metric
// the daemon exports: cutover_ramp_steps, the steps of a flag's plan (3
// or 9 here, once its ramp started and the server scraped it). A maximum
// of 5 over 3 passes and the ramp completes; a maximum of 2 is breached and the ramp
// pauses with the figure; with Prometheus stopped mid-ramp the checks are
// inconclusive (Prometheus unreachable), then the ramp pauses, never
// advancing.
//
// Every wait is bounded (kPatience); nothing asserts how fast a step comes.
#include <catch2/catch.hpp>

#include <signal.h>

#include <fstream>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "cutover/v1/cutover.pb.h"
#include "google/protobuf/util/json_util.h"
#include "tests/integration/harness.h"
#include "tests/integration/prometheus_server.h"

namespace cutover::testing {
namespace {

constexpr absl::Duration kPatience = absl::Seconds(90);

// The query of the checks, for flag `key`.
std::string StepsQuery(const std::string& key) {
  return absl::StrCat("max(cutover_ramp_steps{flag=\"", key, "\"})");
}

class PromqlRampFixture {
 public:
  PromqlRampFixture() : prometheus_(dir_.path()) {
    INFO("the Debian package prometheus must be installed "
         "(scripts/install-deps.sh installs it)");
    REQUIRE(std::ifstream(kPrometheusPath).good());
    const std::string config = dir_.path() + "/cutoverd.yaml";
    std::ofstream(config) << "telemetry_window_seconds: 20\n"
                          << "telemetry_slots: 20\n"
                          << "prometheus_url: " << prometheus_.base_url()
                          << "\nprometheus_query_timeout_seconds: 2\n";
    daemon_ = std::make_unique<DaemonProcess>(
        dir_.path() + "/data", std::vector<std::string>{"--config", config});
    REQUIRE(daemon_->Start());
    REQUIRE(prometheus_.Start(
        {{"cutoverd", absl::StrCat("127.0.0.1:", daemon_->metrics_port())}}));
    INFO(prometheus_.log());
    REQUIRE(prometheus_.WaitReady());
  }

  std::string Ok(const std::vector<std::string>& args) {
    const RunResult result = RunCli(daemon_->address(), args);
    INFO("cutoverctl " << absl::StrJoin(args, " ") << "\nstderr: "
                       << result.err);
    REQUIRE(result.exit_code == 0);
    return result.out;
  }

  // `key` at shadow with a plan of `steps`, hold `hold`, analysed every
  // second, the PromQL check StepsQuery(key) with `limit` (e.g.
  // "--promql-max=5"), inconclusive for at most `inconclusive` seconds.
  void CreateWithPlan(const std::string& key, const std::string& steps,
                      const std::string& hold, const std::string& limit,
                      const std::string& inconclusive) {
    Ok({"flags", "create", key, "--old", "pg", "--new", "dynamo"});
    Ok({"stage", key, "dualwrite"});
    Ok({"stage", key, "shadow"});
    Ok({"ramp", "set", key, "--steps", steps, "--hold", hold, "--interval",
        "1s", "--window", "5s", "--inconclusive-limit", inconclusive,
        "--promql", StepsQuery(key), limit});
  }

  v1::RampStatus Status(const std::string& key) {
    v1::RampStatus status;
    const std::string json = Ok({"ramp", "status", key, "-o", "json"});
    REQUIRE(google::protobuf::util::JsonStringToMessage(json, &status).ok());
    return status;
  }

  // Polls `key`'s status (every 250 ms, at most kPatience) until `done`;
  // `each` sees every status polled. The last status.
  v1::RampStatus Until(
      const std::string& key,
      const std::function<bool(const v1::RampStatus&)>& done,
      const std::function<void(const v1::RampStatus&)>& each = nullptr) {
    const absl::Time deadline = absl::Now() + kPatience;
    v1::RampStatus status = Status(key);
    while (!done(status) && absl::Now() < deadline) {
      absl::SleepFor(absl::Milliseconds(250));
      status = Status(key);
      if (each) each(status);
    }
    INFO("ramp status: " << status.ShortDebugString());
    INFO("prometheus log: " << prometheus_.log());
    REQUIRE(done(status));
    return status;
  }

  PrometheusServer& prometheus() { return prometheus_; }
  const std::string& dir() const { return dir_.path(); }

 private:
  TempDir dir_;
  PrometheusServer prometheus_;
  std::unique_ptr<DaemonProcess> daemon_;
};

// The PromQL check's result in the last analysis.
const v1::RampCheckResult* PromqlResult(const v1::RampStatus& status) {
  for (const v1::RampCheckResult& result :
       status.last_analysis().checks()) {
    if (result.check().kind() == v1::PROMQL) return &result;
  }
  return nullptr;
}

TEST_CASE("PromQL checks against a real Prometheus: a pass advances, a "
          "breach pauses with the figure, Prometheus stopped pauses "
          "without advancing",
          "[ramp][promql]") {
  PromqlRampFixture world;
  // Passing (3 <= 5) and breaching (3 > 2), side by side.
  world.CreateWithPlan("orders", "live=10,50,100", "2s", "--promql-max=5",
                       "60s");
  world.CreateWithPlan("billing", "live=10,50,100", "2s", "--promql-max=2",
                       "60s");
  world.Ok({"ramp", "start", "orders"});
  world.Ok({"ramp", "start", "billing"});

  const v1::RampStatus completed = world.Until(
      "orders", [](const v1::RampStatus& s) { return s.state() == v1::COMPLETED; });
  const v1::RampCheckResult* passed = PromqlResult(completed);
  REQUIRE(passed != nullptr);
  CHECK(passed->verdict() == v1::CHECK_PASS);
  CHECK(passed->figure() == 3);
  CHECK(passed->line() == absl::StrCat("promql (", StepsQuery("orders"),
                                       ") = 3 <= 5"));
  const std::string history = world.Ok({"history", "orders"});
  CHECK(absl::StrContains(history, "ramp-step"));
  CHECK(absl::StrContains(history, absl::StrCat("promql (", StepsQuery("orders"),
                                                ") = 3 <= 5")));

  // An apply file carries a PromQL check with a minimum.
  const std::string file = world.dir() + "/flags.yaml";
  std::ofstream(file)
      << "flags:\n"
         "  - key: payments\n"
         "    old_target: pg\n"
         "    new_target: dynamo\n"
         "    enabled: true\n"
         "    default_serve: {stage: dualwrite}\n"
         "    ramp:\n"
         "      steps: [{serve: {stage: shadow}}]\n"
         "      hold_seconds: 30\n"
         "      interval_seconds: 5\n"
         "      window_seconds: 10\n"
         "      checks:\n"
         "        - {kind: promql, promql: 'sum(up)', threshold: 1, "
         "bound: at_least}\n";
  world.Ok({"apply", "--file", file});
  v1::Flag payments;
  REQUIRE(google::protobuf::util::JsonStringToMessage(
              world.Ok({"flags", "get", "payments", "-o", "json"}), &payments)
              .ok());
  REQUIRE(payments.ramp().checks_size() == 1);
  CHECK(payments.ramp().checks(0).kind() == v1::PROMQL);
  CHECK(payments.ramp().checks(0).promql() == "sum(up)");
  CHECK(payments.ramp().checks(0).bound() == v1::AT_LEAST);

  const v1::RampStatus breached = world.Until(
      "billing", [](const v1::RampStatus& s) { return s.state() == v1::PAUSED; });
  CHECK(breached.step() == 0);
  CHECK(breached.reason() ==
        absl::StrCat("breach: promql (", StepsQuery("billing"), ") = 3 > 2"));
  const v1::RampCheckResult* breach = PromqlResult(breached);
  REQUIRE(breach != nullptr);
  CHECK(breach->verdict() == v1::CHECK_BREACH);
  CHECK(breach->figure() == 3);

  // Prometheus stopped mid-ramp: a plan of many short steps (9, so the
  // figure is 9), passing while Prometheus answers.
  world.CreateWithPlan("users", "live=1,2,3,4,5,10,25,50,100", "3s",
                       "--promql-max=10", "8s");
  world.Ok({"ramp", "start", "users"});
  world.Until("users", [](const v1::RampStatus& s) {
    const v1::RampCheckResult* result = PromqlResult(s);
    return result != nullptr && result->verdict() == v1::CHECK_PASS;
  });
  CHECK(world.prometheus().Stop(SIGTERM) == 0);
  // Once the engine has seen it gone, the ramp never moves again.
  const v1::RampStatus gone = world.Until("users", [](const v1::RampStatus& s) {
    return s.state() == v1::WAITING &&
           absl::StrContains(s.reason(), "Prometheus unreachable");
  });
  const int step = gone.step();
  const int64_t version = gone.flag_version();
  CHECK(step < 8);
  const v1::RampStatus paused = world.Until(
      "users", [](const v1::RampStatus& s) { return s.state() != v1::WAITING; },
      [&](const v1::RampStatus& s) {
        CHECK(s.step() == step);
        CHECK(s.flag_version() == version);
      });
  CHECK(paused.state() == v1::PAUSED);
  CHECK(paused.step() == step);
  CHECK(paused.flag_version() == version);
  CHECK(absl::StartsWith(paused.reason(), "inconclusive for "));
  CHECK(absl::StrContains(paused.reason(),
                          absl::StrCat("promql (", StepsQuery("users"),
                                       ") inconclusive: Prometheus "
                                       "unreachable")));
  const v1::RampCheckResult* inconclusive = PromqlResult(paused);
  REQUIRE(inconclusive != nullptr);
  CHECK(inconclusive->verdict() == v1::CHECK_INCONCLUSIVE);
}

}  // namespace
}  // namespace cutover::testing
