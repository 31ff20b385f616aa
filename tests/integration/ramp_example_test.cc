// Guarded ramps with the real orders example under load: cutoverd, cutoverctl
// and orders-demo (SQLite old, RocksDB new) on loopback, the demo running as
// a service (--until-signal) whose Migrator telemetry is the only data the
// ramp's checks read. Short holds (seconds), a telemetry window of 20 s in
// 1 s slots, analyses every second over the last 4 s:
//   - a healthy plan (live 10%, 50%, 100%) reaches live for everyone while
//     the demo serves, and the demo's own stage mix follows the steps;
//   - a release with the planted bug (--corrupt-new-every) replacing the
//     healthy one mid-ramp breaches the mismatch check, and the ramp stops
//     in the analysis that saw it (on-breach pause; on-breach rollback, the
//     data-safe rollback to dualwrite), with no write lost (see
//     CheckNoWriteLost for what that means, precisely);
//   - cutoverd killed with SIGKILL mid-hold while the demo keeps serving:
//     the restarted daemon resumes the same step, its hold counted from the
//     stored start, each step written once, no request failing.
//
// Every wait is bounded (kPatience); nothing asserts how fast anything is.
#include <catch2/catch.hpp>

#include <signal.h>

#include <cstdint>
#include <fstream>
#include <functional>
#include <iterator>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "client/admin_client.h"
#include "cutover/v1/cutover.pb.h"
#include "google/protobuf/util/json_util.h"
#include "tests/integration/admin_calls.h"
#include "tests/integration/harness.h"
#include "tests/integration/orders_world.h"

namespace cutover::testing {
namespace {

// How long a test waits for something the ramp or the demo should do.
constexpr absl::Duration kPatience = absl::Seconds(120);
// Orders in SQLite before the migration (copied by the backfill).
constexpr int kOldRows = 100;
constexpr int kMinSamples = 20;

// Decisions by stage in one "orders-demo: mix: shadow=120 live=30" line
// (orders-demo --print-mix); empty for "none".
using Mix = std::map<std::string, uint64_t>;

// The mix lines of a demo's log, oldest first (whole lines only).
std::vector<Mix> MixLines(const std::string& log) {
  std::vector<Mix> mixes;
  const size_t end = log.rfind('\n');
  if (end == std::string::npos) return mixes;
  for (absl::string_view line :
       absl::StrSplit(absl::string_view(log).substr(0, end), '\n')) {
    if (!absl::ConsumePrefix(&line, "orders-demo: mix: ")) continue;
    Mix mix;
    for (absl::string_view part : absl::StrSplit(line, ' ')) {
      std::pair<std::string, std::string> kv =
          absl::StrSplit(part, absl::MaxSplits('=', 1));
      uint64_t n = 0;
      if (absl::SimpleAtoi(kv.second, &n)) mix[kv.first] = n;
    }
    mixes.push_back(std::move(mix));
  }
  return mixes;
}

bool AnyRequests(const Mix& mix) { return !mix.empty(); }

// Every decision of the line was `stage`.
std::function<bool(const Mix&)> OnlyAt(const std::string& stage) {
  return [stage](const Mix& mix) {
    return mix.size() == 1 && mix.count(stage) == 1;
  };
}

// orders-demo as a service on the databases "db": until SIGTERM, a steady
// load (each thread pauses 5 ms after each request), the stage mix every
// half second.
class Load {
 public:
  Load(OrdersWorld& world, const std::string& name,
       const std::vector<std::string>& extra)
      : log_(world.dir().path() + "/" + name + ".log") {
    std::vector<std::string> args = {"--until-signal", "--pause-ms", "5",
                                     "--print-mix", "0.5"};
    args.insert(args.end(), extra.begin(), extra.end());
    REQUIRE(process_.Start(world.DemoArgs("db", args), log_));
  }

  std::string Log() const { return ReadText(log_); }

  // Waits for a mix line printed after this call that satisfies `done`.
  Mix WaitForMix(const std::function<bool(const Mix&)>& done) {
    size_t seen = MixLines(Log()).size();
    const absl::Time deadline = absl::Now() + kPatience;
    while (absl::Now() < deadline && process_.Running()) {
      const std::vector<Mix> mixes = MixLines(Log());
      for (size_t i = seen; i < mixes.size(); ++i) {
        if (done(mixes[i])) return mixes[i];
      }
      seen = mixes.size();
      absl::SleepFor(absl::Milliseconds(100));
    }
    INFO("orders-demo log:\n" << Log());
    FAIL("no such mix line");
    return {};
  }

  // Sends `signal` and waits for `line` in the log.
  void Signal(int signal, const std::string& line) {
    REQUIRE(kill(process_.pid(), signal) == 0);
    const absl::Time deadline = absl::Now() + kPatience;
    while (!absl::StrContains(Log(), line) && absl::Now() < deadline) {
      absl::SleepFor(absl::Milliseconds(50));
    }
    INFO("orders-demo log:\n" << Log());
    REQUIRE(absl::StrContains(Log(), line));
  }

  // SIGTERM; the run's printed facts. It must exit 0.
  DemoRun Stop() {
    DemoRun run;
    run.result.exit_code = process_.Stop(SIGTERM);
    run.result.out = Log();
    run.facts = ParseFacts(run.result.out);
    INFO("orders-demo log:\n" << run.result.out);
    REQUIRE(run.result.exit_code == 0);
    return run;
  }

 private:
  std::string log_;
  BackgroundProcess process_;
};

// What a run must show whatever the ramp did: every request answered,
// every decision made (none the caller's default), no database error on
// either side (so every acknowledged order reached both databases).
void CheckServedEveryRequest(const DemoRun& run) {
  INFO("orders-demo log:\n" << run.result.out);
  CHECK(run["requests"] > 0);
  CHECK(run["failed_requests"] == 0);
  CHECK(run["orders_placed"] + run["lists"] == run["requests"]);
  CHECK(run["decision_errors"] == 0);
  CHECK(run["client.errors"] == 0);
  CHECK(run["migrator.authoritative_errors"] == 0);
  CHECK(run["migrator.shadow_errors"] == 0);
}

// A config file giving a telemetry window of 20 s in 1 s slots, so that
// plans may read a few seconds (the window is set by config file only).
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

class RampWorld : private WindowConfig, public OrdersWorld {
 public:
  RampWorld() : OrdersWorld({"--config", WindowConfig::path()}) {
    Reconnect();
  }

  // Calls wait up to a minute: a sanitizer build under the demo's load can
  // keep an answer for seconds; every wait here is bounded, not timed.
  void Reconnect() {
    admin_ = ConnectAdmin(daemon().address(), absl::Seconds(60));
  }

  // kOldRows orders in SQLite, copied to RocksDB by the flag's backfill,
  // and the flag moved to shadow.
  void MigrateToShadow() {
    FillOld("db", kOldRows, kUsers, /*amount_base=*/100);
    DemoRun forward = Demo("db", {"backfill"});
    REQUIRE(forward.facts.at("backfill.phase") == "done");
    Ctl({"stage", "orders", "dualwrite"});
    Ctl({"stage", "orders", "shadow"});
  }

  // The plan: live 10%, 50%, 100% (shadow for the rest), each step held
  // `hold`; analyses every second over the last 4 s; any mismatch and any
  // failure on the new database is a breach; fewer than kMinSamples is
  // inconclusive, for up to a minute.
  void SetPlan(const std::string& hold, const std::vector<std::string>& extra) {
    std::vector<std::string> args = {
        "ramp", "set", "orders", "--steps", "live=10,50,100", "--hold", hold,
        "--interval", "1s", "--window", "4s", "--max-mismatch-rate", "0",
        "--max-new-error-rate", "0", "--min-samples",
        std::to_string(kMinSamples), "--inconclusive-limit", "60s"};
    args.insert(args.end(), extra.begin(), extra.end());
    Ctl(args);
  }

  v1::RampStatus Status() {
    v1::GetRampStatusRequest request;
    request.set_key("orders");
    absl::StatusOr<v1::RampStatus> status = admin_->GetRampStatus(request);
    INFO(status.status().ToString());
    REQUIRE(status.ok());
    return *status;
  }

  // Polls the ramp's status every 100 ms until `done` holds (at most
  // kPatience), calling `each` with every status seen; the last one.
  v1::RampStatus WatchRamp(
      const std::function<bool(const v1::RampStatus&)>& done,
      const std::function<void(const v1::RampStatus&)>& each = nullptr) {
    const absl::Time deadline = absl::Now() + kPatience;
    v1::RampStatus status = Status();
    if (each) each(status);
    while (!done(status) && absl::Now() < deadline) {
      absl::SleepFor(absl::Milliseconds(100));
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

  v1::Flag Flag() {
    const RunResult got = Ctl({"flags", "get", "orders", "-o", "json"});
    v1::Flag flag;
    INFO(got.out);
    REQUIRE(google::protobuf::util::JsonStringToMessage(got.out, &flag).ok());
    return flag;
  }

 private:
  std::unique_ptr<AdminClient> admin_;
};

bool Active(const v1::RampStatus& s) {
  return s.state() == v1::RUNNING || s.state() == v1::WAITING;
}

bool SameTime(const google::protobuf::Timestamp& a,
              const google::protobuf::Timestamp& b) {
  return a.seconds() == b.seconds() && a.nanos() == b.nanos();
}

// The mismatch_rate check's result in `analysis`.
v1::RampCheckResult MismatchCheck(const v1::RampAnalysis& analysis) {
  for (const v1::RampCheckResult& check : analysis.checks()) {
    if (check.check().kind() == v1::MISMATCH_RATE) return check;
  }
  FAIL("no mismatch_rate check in " << analysis.ShortDebugString());
  return {};
}

// The plan's three steps, each written once and in order: step 1 by the
// person who started the ramp, steps 2 and 3 by the ramp with the figures
// that allowed them (the demo's telemetry: at least kMinSamples compared
// reads and not one mismatch).
void CheckStepsOnceInOrder(const std::vector<v1::HistoryEntry>& steps) {
  REQUIRE(steps.size() == 3);
  for (size_t i = 0; i < steps.size(); ++i) {
    INFO("step " << i + 1 << ": " << steps[i].ShortDebugString());
    CHECK(absl::StartsWith(steps[i].comment(),
                           absl::StrCat("step ", i + 1, " of 3 (")));
    if (i == 0) continue;
    CHECK(steps[i].actor() == "ramp");
    CHECK(absl::StrContains(steps[i].comment(), "mismatch_rate 0 (0 of "));
    CHECK(steps[i].version() > steps[i - 1].version());
  }
}

// "No write is lost", checked once the demos have stopped (RocksDB has one
// owner at a time), with `acknowledged` the orders the demo runs reported
// placed (OK returned to the user) and `corrupted` the bug's writes:
//   1. SQLite, the old database, holds every acknowledged order: exactly
//      kOldRows + acknowledged rows (order ids are unique per run), and
//      RocksDB the same order ids;
//   2. the two differ only at the bug's writes: exactly `corrupted` rows,
//      each one cent higher in RocksDB, so SQLite holds the amount the user
//      sent for every order (the bug touches only the new database's copy);
//   3. with the bug fixed, the flag's backfill re-run (reset, copy, verify)
//      makes `orders-demo check` find the tables identical, row for row,
//      kOldRows + acknowledged rows in each.
void CheckNoWriteLost(RampWorld& world, uint64_t acknowledged,
                      uint64_t corrupted) {
  const uint64_t rows = kOldRows + acknowledged;
  {
    const auto [old_rows, new_rows] = world.Databases("db");
    CHECK(Count(old_rows) == rows);
    CHECK(Count(new_rows) == rows);
    uint64_t different = 0;
    for (const auto& [user, orders] : old_rows) {
      auto in_new = new_rows.find(user);
      REQUIRE(in_new != new_rows.end());
      REQUIRE(in_new->second.size() == orders.size());
      for (size_t i = 0; i < orders.size(); ++i) {
        const Order& old_order = orders[i];
        const Order& new_order = in_new->second[i];
        INFO(user << " " << old_order.order_id);
        REQUIRE(new_order.order_id == old_order.order_id);
        if (new_order.amount_cents == old_order.amount_cents) continue;
        ++different;
        CHECK(new_order.amount_cents == old_order.amount_cents + 1);
      }
    }
    CHECK(different == corrupted);
  }
  world.Ctl({"backfill", "reset", "orders"});
  const DemoRun backfill = world.Demo("db", {"backfill"});
  CHECK(backfill.facts.at("backfill.phase") == "done");
  CHECK(backfill["backfill.rows_copied"] == rows);
  const DemoRun check = world.Demo("db", {"check"});
  CHECK(check.facts.at("check.identical") == "yes");
  CHECK(check["check.old_rows"] == rows);
  CHECK(check["check.new_rows"] == rows);
  const auto [old_rows, new_rows] = world.Databases("db");
  CHECK(old_rows == new_rows);
}

TEST_CASE("with orders-demo under load a healthy plan reaches live for "
          "everyone on the demo's own telemetry",
          "[ramp][example]") {
  RampWorld world;
  world.MigrateToShadow();
  world.SetPlan("2s", {});
  Load load(world, "load", {"--seed", "1"});
  load.WaitForMix(OnlyAt("shadow"));

  world.Ctl({"ramp", "start", "orders"});
  const v1::RampStatus done = world.WatchRamp(
      [](const v1::RampStatus& s) { return s.state() == v1::COMPLETED; },
      [](const v1::RampStatus& s) {
        INFO(s.ShortDebugString());
        CHECK((Active(s) || s.state() == v1::COMPLETED));
      });
  CHECK(done.step() == 2);
  CHECK(done.last_analysis().verdict() == v1::CHECK_PASS);
  REQUIRE(done.last_analysis().checks_size() == 2);
  for (const v1::RampCheckResult& check : done.last_analysis().checks()) {
    INFO(check.line());
    CHECK(check.samples() >= static_cast<uint64_t>(kMinSamples));
    CHECK(check.figure() == 0);
  }
  CheckStepsOnceInOrder(world.Steps());
  CHECK(world.Flag().default_serve().stage() == v1::LIVE);

  // The demo took the last step: every user now served live.
  load.WaitForMix(OnlyAt("live"));
  const DemoRun run = load.Stop();
  CheckServedEveryRequest(run);
  CHECK(run["decisions.shadow"] > 0);
  CHECK(run["decisions.live"] > 0);
  CHECK(run["migrator.comparisons"] > 0);
  CHECK(run["migrator.mismatches"] == 0);
  CHECK(run["telemetry.batches_sent"] > 0);
  CHECK(run["telemetry.send_failures"] == 0);
  // On the way, the demo served shadow and live side by side (live 10%,
  // 50%), as the steps said.
  bool mixed = false;
  for (const Mix& mix : MixLines(run.result.out)) {
    mixed = mixed || (mix.count("shadow") == 1 && mix.count("live") == 1);
  }
  CHECK(mixed);
  const DemoRun check = world.Demo("db", {"check"});
  CHECK(check.facts.at("check.identical") == "yes");
  CHECK(check["check.old_rows"] == kOldRows + run["orders_placed"]);
}

// A healthy release serves until the ramp has taken a step on its
// telemetry; then a release with the bug (every 3rd write to RocksDB one
// cent high) replaces it. The ramp must stop in `stopped_state` in the
// analysis that breached (its state written at that analysis' time, no
// status seen with a breach while the ramp ran, no step after it), and no
// write may be lost. Returns the stopped status.
v1::RampStatus BugStopsTheRamp(RampWorld& world, const std::string& on_breach,
                               v1::RampState stopped_state) {
  world.MigrateToShadow();
  // Holds long enough that a slow machine still breaches before the end.
  world.SetPlan("5s", {"--on-breach", on_breach});
  Load healthy(world, "healthy", {"--seed", "1"});
  healthy.WaitForMix(OnlyAt("shadow"));
  world.Ctl({"ramp", "start", "orders"});
  world.WatchRamp([](const v1::RampStatus& s) { return s.step() >= 1; },
                  [](const v1::RampStatus& s) { REQUIRE(Active(s)); });
  const DemoRun first = healthy.Stop();
  CheckServedEveryRequest(first);
  CHECK(first["migrator.mismatches"] == 0);

  Load buggy(world, "buggy", {"--seed", "2", "--corrupt-new-every", "3"});
  // The mismatch check of every analysis seen, by its time.
  std::map<int64_t, v1::RampCheckResult> seen;
  const v1::RampStatus stopped = world.WatchRamp(
      [&](const v1::RampStatus& s) { return s.state() == stopped_state; },
      [&](const v1::RampStatus& s) {
        INFO(s.ShortDebugString());
        REQUIRE((Active(s) || s.last_analysis().verdict() == v1::CHECK_BREACH));
        if (s.last_analysis().verdict() == v1::CHECK_BREACH) {
          CHECK_FALSE(Active(s));  // a breach stops the ramp at once
        }
        if (s.has_last_analysis()) {
          seen[absl::ToUnixNanos(absl::FromUnixSeconds(
                   s.last_analysis().time().seconds()) +
               absl::Nanoseconds(s.last_analysis().time().nanos()))] =
              MismatchCheck(s.last_analysis());
        }
      });
  INFO("stopped: " << stopped.ShortDebugString());
  CHECK(absl::StartsWith(stopped.reason(), "breach: mismatch_rate "));
  CHECK(stopped.last_analysis().verdict() == v1::CHECK_BREACH);
  const v1::RampCheckResult mismatch = MismatchCheck(stopped.last_analysis());
  CHECK(mismatch.verdict() == v1::CHECK_BREACH);
  CHECK(mismatch.figure() > 0);
  CHECK(mismatch.samples() >= static_cast<uint64_t>(kMinSamples));
  // Every earlier analysis seen let no mismatch through: none, or too few
  // compared reads to judge (the breach is the first analysis able to).
  REQUIRE_FALSE(seen.empty());
  CHECK(std::prev(seen.end())->second.verdict() == v1::CHECK_BREACH);
  for (auto it = seen.begin(); it != std::prev(seen.end()); ++it) {
    INFO(it->second.line());
    CHECK((it->second.figure() == 0 ||
           it->second.verdict() == v1::CHECK_INCONCLUSIVE));
  }
  // Stopped by the analysis that breached: its state was written then.
  CHECK(stopped.updated_by() == "ramp");
  CHECK(SameTime(stopped.update_time(), stopped.last_analysis().time()));
  // No step after the breach: the last flag write was the ramp's own.
  const std::vector<v1::HistoryEntry> history = world.History();
  CHECK(stopped.flag_version() == world.Flag().version());
  CHECK(history.back().version() == stopped.flag_version());
  const size_t steps = world.Steps().size();
  CHECK(steps == static_cast<size_t>(stopped.step()) + 1);
  for (const v1::HistoryEntry& entry : world.Steps()) {
    CHECK(entry.time().seconds() <= stopped.last_analysis().time().seconds());
  }

  // The fix is deployed into the running buggy release; it serves on.
  buggy.Signal(SIGUSR2, "orders-demo: new-database bug fixed");
  buggy.WaitForMix(AnyRequests);
  const DemoRun second = buggy.Stop();
  CheckServedEveryRequest(second);
  CHECK(second["corrupted_new_writes"] > 0);
  CHECK(second["migrator.mismatches"] > 0);
  // The ramp stayed where it stopped.
  CHECK(world.Status().state() == stopped_state);
  CHECK(world.Steps().size() == steps);

  CheckNoWriteLost(world, first["orders_placed"] + second["orders_placed"],
                   second["corrupted_new_writes"]);
  return stopped;
}

TEST_CASE("orders-demo's planted bug breaches the mismatch check and "
          "on-breach pause stops the ramp in that analysis with no write lost",
          "[ramp][example]") {
  RampWorld world;
  const v1::RampStatus paused =
      BugStopsTheRamp(world, "pause", v1::PAUSED);
  // The serve stays: the last flag write is the ramp's last step.
  const std::vector<v1::HistoryEntry> history = world.History();
  CHECK(history.back().action() == "ramp-step");
  CHECK(history.back().actor() == "ramp");
  CHECK(world.Flag().version() == paused.flag_version());
}

TEST_CASE("orders-demo's planted bug breaches the mismatch check and "
          "on-breach rollback takes everyone to dualwrite with no write lost",
          "[ramp][example]") {
  RampWorld world;
  const v1::RampStatus rolled =
      BugStopsTheRamp(world, "rollback", v1::ROLLED_BACK);
  const std::vector<v1::HistoryEntry> history = world.History();
  CHECK(history.back().action() == "rollback");
  CHECK(history.back().actor() == "ramp");
  CHECK(absl::StrContains(history.back().comment(), "mismatch_rate"));
  const v1::Flag flag = world.Flag();
  CHECK(flag.default_serve().stage() == v1::DUALWRITE);
  CHECK(flag.version() == rolled.flag_version());
  // A run after the rollback decides dualwrite for every user: SQLite
  // answers, RocksDB only gets writes.
  const DemoRun after = world.Demo("db", {"--seed", "3"});
  CheckAllAt(after, "dualwrite");
  const auto [old_rows, new_rows] = world.Databases("db");
  CHECK(old_rows == new_rows);
}

TEST_CASE("cutoverd killed with SIGKILL mid-hold while orders-demo serves: "
          "the ramp resumes in the same step, each step written once",
          "[ramp][example]") {
  RampWorld world;
  world.MigrateToShadow();
  world.daemon().KeepPort();  // the demo's --server stays right
  constexpr int kHoldSeconds = 6;
  world.SetPlan(absl::StrCat(kHoldSeconds, "s"), {});
  Load load(world, "load", {"--seed", "1"});
  load.WaitForMix(OnlyAt("shadow"));
  world.Ctl({"ramp", "start", "orders"});
  const v1::RampStatus before = world.WatchRamp(
      [](const v1::RampStatus& s) { return s.step() == 1; },
      [](const v1::RampStatus& s) { REQUIRE(Active(s)); });

  REQUIRE(world.daemon().Stop(SIGKILL) == -SIGKILL);
  // The demo serves on without the daemon: two mix lines after the kill,
  // the second wholly in the outage, with requests decided.
  load.WaitForMix([](const Mix&) { return true; });
  load.WaitForMix(AnyRequests);
  const bool restarted = world.daemon().Start();
  INFO("cutoverd stderr:\n" << world.daemon().last_stderr());
  REQUIRE(restarted);
  world.Reconnect();

  // The same step, its hold counted from the stored start.
  const v1::RampStatus after = world.Status();
  INFO("before: " << before.ShortDebugString());
  INFO("after: " << after.ShortDebugString());
  CHECK(Active(after));
  CHECK(after.step() == 1);
  CHECK(SameTime(after.step_start_time(), before.step_start_time()));
  CHECK(after.next_step_time().seconds() ==
        before.step_start_time().seconds() + kHoldSeconds);
  CHECK(after.next_step_time().nanos() == before.step_start_time().nanos());
  CHECK(after.flag_version() == before.flag_version());
  CHECK(world.Flag().version() == before.flag_version());

  world.WatchRamp(
      [](const v1::RampStatus& s) { return s.state() == v1::COMPLETED; },
      [](const v1::RampStatus& s) {
        INFO(s.ShortDebugString());
        CHECK(s.step() >= 1);
        CHECK((Active(s) || s.state() == v1::COMPLETED));
      });
  const std::vector<v1::HistoryEntry> steps = world.Steps();
  CheckStepsOnceInOrder(steps);
  REQUIRE(steps.size() == 3);
  CHECK(steps[1].version() == before.flag_version());
  CHECK(steps[2].time().seconds() >=
        before.step_start_time().seconds() + kHoldSeconds);
  CHECK(world.Flag().default_serve().stage() == v1::LIVE);

  load.WaitForMix(OnlyAt("live"));
  const DemoRun run = load.Stop();
  CheckServedEveryRequest(run);
  // The outage's decisions came from the demo's synced flags (STALE).
  CHECK(run["client.local_serves"] > 0);
  CHECK(run["migrator.mismatches"] == 0);
  const DemoRun check = world.Demo("db", {"check"});
  CHECK(check.facts.at("check.identical") == "yes");
  CHECK(check["check.old_rows"] == kOldRows + run["orders_placed"]);
}

}  // namespace
}  // namespace cutover::testing
