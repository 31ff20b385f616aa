// The data-safety drills (docs/tutorial.md, "When things go wrong"), with
// the real cutoverd, cutoverctl and orders-demo on loopback:
//   - from complete, a plain rollback is refused naming old as stale, and
//     the way back it names (rampdown, reverse backfill, dualwrite) leaves
//     identical tables; the kill switch at complete serves rampdown;
//   - from live under a running load, a rollback lands on dualwrite and
//     the roll forward needs no new backfill, no request failing;
//   - with the daemon killed at complete, a restarted orders-demo serves
//     complete from its --snapshot-file, and no order lands only in SQLite;
//   - after `rollback --to off`, new is stale: shadow is allowed, live is
//     refused until a new forward backfill (after a reset of the done one).
#include <catch2/catch.hpp>

#include <algorithm>
#include <csignal>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "cutover/v1/cutover.pb.h"
#include "google/protobuf/util/json_util.h"
#include "tests/integration/harness.h"
#include "tests/integration/orders_world.h"

namespace cutover::testing {
namespace {

constexpr int kOldRows = 200;

// `cutoverctl flags get orders -o json`.
v1::Flag GetFlag(OrdersWorld& world) {
  const RunResult got = world.Ctl({"flags", "get", "orders", "-o", "json"});
  v1::Flag flag;
  INFO(got.out);
  REQUIRE(google::protobuf::util::JsonStringToMessage(got.out, &flag).ok());
  return flag;
}

// A cutoverctl command that must be refused as a stale read: exit 2, one
// line on stderr, nothing on stdout. Returns the line.
std::string Refused(OrdersWorld& world, const std::vector<std::string>& args) {
  const RunResult result = RunCli(world.daemon().address(), args);
  INFO("stdout:\n" << result.out << "\nstderr:\n" << result.err);
  CHECK(result.exit_code == 2);
  CHECK(result.out.empty());
  CHECK(std::count(result.err.begin(), result.err.end(), '\n') == 1);
  CHECK_THAT(result.err, Catch::StartsWith(
                             "cutoverctl: FAILED_PRECONDITION: flag orders: "));
  return result.err;
}

// SQLite's orders (read while orders-demo may be running: SQLite allows it).
size_t OldRows(OrdersWorld& world, const std::string& db) {
  auto old_db = SqliteOrders::Open(world.SqlitePath(db));
  REQUIRE(old_db.ok());
  size_t n = 0;
  for (int u = 0; u < kUsers; ++u) {
    auto listed = (*old_db)->List(absl::StrCat("u-", u));
    REQUIRE(listed.ok());
    n += listed->size();
  }
  return n;
}

// Waits (at most 60 s) until SQLite holds `more` orders beyond what it held
// when called: the running load went on through the last change.
void WaitForMoreOrders(OrdersWorld& world, const std::string& db,
                       BackgroundProcess& load, const std::string& log,
                       size_t more) {
  const size_t target = OldRows(world, db) + more;
  const absl::Time until = absl::Now() + absl::Seconds(60);
  size_t now = 0;
  while ((now = OldRows(world, db)) < target && absl::Now() < until &&
         load.Running()) {
    absl::SleepFor(absl::Milliseconds(50));
  }
  INFO("orders-demo output:\n" << ReadText(log));
  REQUIRE(now >= target);
}

// Waits (at most 2 s) until the wall clock's whole second is past `second`.
//
// The daemon records change times in whole seconds and backfill start
// times in nanoseconds. The stale marks keep exact times, so a backfill
// started earlier in the same second as the change that made a database
// stale does not count; the test of that below starts at the top of a
// second so that both fall in one, and the drills keep a second between a
// backfill and such a change so that they never depend on it.
void WaitPastSecond(int64_t second) {
  const absl::Time until = absl::Now() + absl::Seconds(2);
  while (absl::ToUnixSeconds(absl::Now()) <= second && absl::Now() < until) {
    absl::SleepFor(absl::Milliseconds(20));
  }
  REQUIRE(absl::ToUnixSeconds(absl::Now()) > second);
}

// Fills SQLite, runs the forward backfill and moves the flag to `stage`
// one step at a time. Returns the whole second the backfill started in.
int64_t MigrateTo(OrdersWorld& world, const std::string& db,
                  const std::string& stage) {
  world.FillOld(db, kOldRows, kUsers, /*amount_base=*/100);
  const int64_t started = absl::ToUnixSeconds(absl::Now());
  DemoRun forward = world.Demo(db, {"backfill"});
  REQUIRE(forward.facts["backfill.phase"] == "done");
  REQUIRE(forward["backfill.rows_copied"] == kOldRows);
  for (const char* next : {"dualwrite", "shadow", "live", "rampdown",
                           "complete"}) {
    world.Ctl({"stage", "orders", next});
    if (stage == next) break;
  }
  return started;
}

// `orders-demo check` on `db` finds the tables identical; returns the rows.
uint64_t Identical(OrdersWorld& world, const std::string& db) {
  DemoRun check = world.Demo(db, {"check"});
  CHECK(check.facts["check.identical"] == "yes");
  CHECK(check["check.old_rows"] == check["check.new_rows"]);
  const auto [old_rows, new_rows] = world.Databases(db);
  CHECK(old_rows == new_rows);
  return check["check.old_rows"];
}

TEST_CASE("drill: rollback from complete is refused naming old as stale, the "
          "way back (rampdown, reverse backfill, dualwrite) leaves identical "
          "tables",
          "[drill][rollback]") {
  OrdersWorld world;
  MigrateTo(world, "db", "complete");  // complete is flag version 6
  const DemoRun complete = world.Demo("db", {"--seed", "1"});
  CheckAllAt(complete, "complete");

  // The plain rollback would have users read SQLite, which missed the
  // orders placed at complete.
  const std::string refusal = Refused(world, {"rollback", "orders"});
  CHECK_THAT(refusal, Catch::Contains("rollback refused: the default serve "
                                      "would read old for 100% of its users"));
  CHECK_THAT(refusal, Catch::Contains(
                          "old is stale since version 6 (complete served to "
                          "100% by the default serve)"));
  CHECK_THAT(refusal, Catch::Contains("(rollback --to rampdown)"));
  CHECK_THAT(refusal, Catch::Contains("run a reverse backfill (new -> old)"));
  CHECK_THAT(refusal, Catch::Contains("then roll back to dualwrite"));
  v1::Flag flag = GetFlag(world);
  CHECK(flag.default_serve().stage() == v1::COMPLETE);
  CHECK(flag.currency().old_stale().since_version() == 6);
  CHECK_FALSE(flag.currency().has_new_stale());

  // The kill switch at complete serves rampdown (reads new, writes both),
  // not a stale SQLite.
  CHECK_THAT(world.Ctl({"flags", "get", "orders"}).out,
             Catch::Contains("fallback      rampdown (computed)"));
  world.Ctl({"flags", "disable", "orders"});
  CheckAllAt(world.Demo("db", {"--seed", "2"}), "rampdown");
  world.Ctl({"flags", "enable", "orders"});

  // The way back, step 1: rampdown, so that SQLite is written again.
  const RunResult ramp = world.Ctl({"rollback", "orders", "--to", "rampdown"});
  CHECK_THAT(ramp.out, Catch::Contains("default rampdown"));
  CHECK_THAT(ramp.out, Catch::Contains("old is stale since version 6"));
  CheckAllAt(world.Demo("db", {"--seed", "3"}), "rampdown");
  RunResult behind = RunProgram(world.DemoArgs("db", {"check"}), 60);
  CHECK(behind.exit_code == 3);
  CHECK_THAT(behind.out, Catch::Contains(absl::StrCat(
                             "check.only_in_new: ", complete["orders_placed"],
                             "\n")));

  // Step 2: the reverse backfill copies RocksDB into SQLite and verifies.
  DemoRun reverse = world.Demo("db", {"backfill", "--reverse"});
  CHECK(reverse.facts["backfill.direction"] == "reverse");
  CHECK(reverse.facts["backfill.phase"] == "done");
  CHECK(reverse["backfill.rows_mismatched"] == 0);
  flag = GetFlag(world);
  CHECK_FALSE(flag.currency().has_old_stale());
  CHECK_THAT(world.Ctl({"flags", "get", "orders"}).out,
             Catch::Contains("currency      both databases current"));

  // Step 3: the plain rollback now lands on dualwrite.
  const RunResult back = world.Ctl({"rollback", "orders"});
  CHECK_THAT(back.out, Catch::Contains("default dualwrite"));
  CHECK(GetFlag(world).default_serve().stage() == v1::DUALWRITE);
  CheckAllAt(world.Demo("db", {"--seed", "4"}), "dualwrite");
  CHECK(Identical(world, "db") > kOldRows + complete["orders_placed"]);
}

TEST_CASE("drill: from live under load, rollback lands on dualwrite and the "
          "roll forward needs no new backfill, and no request fails",
          "[drill][rollback]") {
  OrdersWorld world;
  MigrateTo(world, "db", "live");
  const std::string log = world.dir().path() + "/load.log";
  BackgroundProcess load;
  REQUIRE(load.Start(world.DemoArgs("db", {"--until-signal", "--pause-ms", "2",
                                           "--seed", "5"}),
                     log));
  WaitForMoreOrders(world, "db", load, log, 50);

  const RunResult rollback = world.Ctl({"rollback", "orders"});
  CHECK_THAT(rollback.out, Catch::Contains("default dualwrite"));
  const v1::Flag flag = GetFlag(world);
  CHECK(flag.default_serve().stage() == v1::DUALWRITE);
  CHECK_FALSE(flag.currency().has_old_stale());
  CHECK_FALSE(flag.currency().has_new_stale());
  WaitForMoreOrders(world, "db", load, log, 100);

  // Forward again: dual writes kept RocksDB whole, so the first backfill
  // still stands.
  world.Ctl({"stage", "orders", "shadow"});
  WaitForMoreOrders(world, "db", load, log, 50);
  world.Ctl({"stage", "orders", "live"});
  WaitForMoreOrders(world, "db", load, log, 50);
  CHECK(world.BackfillJob().runs() == 1);

  REQUIRE(load.Stop(SIGTERM) == 0);
  const std::string out = ReadText(log);
  INFO("orders-demo output:\n" << out);
  DemoRun run;
  run.result.out = out;
  run.facts = ParseFacts(out);
  CHECK(run["requests"] > 0);
  CHECK(run["failed_requests"] == 0);
  CHECK(run["decision_errors"] == 0);
  CHECK(run["decisions.live"] > 0);
  CHECK(run["decisions.dualwrite"] > 0);
  CHECK(run["migrator.authoritative_errors"] == 0);
  CHECK(run["migrator.shadow_errors"] == 0);
  CHECK(Identical(world, "db") == kOldRows + run["orders_placed"]);
}

TEST_CASE("drill: with the daemon killed at complete, a restarted orders-demo "
          "serves complete from its snapshot file and no order lands only in "
          "SQLite",
          "[drill][outage]") {
  OrdersWorld world;
  for (const char* stage :
       {"dualwrite", "shadow", "live", "rampdown", "complete"}) {
    world.Ctl({"stage", "orders", stage});
  }
  const std::string snapshot = world.dir().path() + "/orders-client.snapshot";
  CheckAllAt(world.Demo("db", {"--seed", "1", "--snapshot-file", snapshot}),
             "complete");
  REQUIRE_FALSE(ReadText(snapshot).empty());

  REQUIRE(world.daemon().Stop(SIGKILL) == -SIGKILL);

  // Restarted with the daemon still down: the flag's real stage, STALE.
  const DemoRun restarted =
      world.Demo("db", {"--seed", "2", "--write-ratio", "1",
                        "--snapshot-file", snapshot});
  INFO("orders-demo stdout:\n" << restarted.result.out << "\nstderr:\n"
                               << restarted.result.err);
  CHECK(restarted["requests"] == kRequests);
  CHECK(restarted["failed_requests"] == 0);
  CHECK(restarted["orders_placed"] == kRequests);
  CHECK(restarted["decisions.complete"] == kRequests);
  CHECK(restarted["decision_errors"] == 0);
  CHECK(restarted["client.cache_misses"] == 0);  // the daemon never answered
  CHECK(restarted["client.local_serves"] >= kRequests);  // all reason STALE
  CHECK(restarted["client.errors"] == 0);

  // Without the snapshot file the same restart would serve off (ERROR), and
  // its orders would go to SQLite only: what the file prevents.
  const DemoRun blind = world.Demo("blind", {"--seed", "3", "--write-ratio",
                                             "1"});
  CHECK(blind["decisions.off"] == kRequests);
  CHECK(blind["decision_errors"] == kRequests);

  const auto [old_rows, new_rows] = world.Databases("db");
  CHECK(Count(OfRun(new_rows, "o-2-")) == kRequests);
  CHECK(Count(old_rows) == 0);  // at complete SQLite gets none of them
}

TEST_CASE("drill: after rollback --to off new is stale, shadow is allowed and "
          "live is refused until a new forward backfill",
          "[drill][rollback]") {
  OrdersWorld world;
  const int64_t backfilled = MigrateTo(world, "db", "shadow");  // version 3
  CheckAllAt(world.Demo("db", {"--seed", "1"}), "shadow");
  WaitPastSecond(backfilled);  // see WaitPastSecond

  const RunResult off = world.Ctl({"rollback", "orders", "--to", "off"});
  CHECK_THAT(off.out, Catch::Contains("default off"));
  const std::string stale =
      "new is stale since version 4 (off served to 100% by the default serve)";
  CHECK_THAT(off.out, Catch::Contains(stale));
  CHECK_THAT(world.Ctl({"flags", "get", "orders"}).out,
             Catch::Contains("currency      " + stale));
  CHECK(GetFlag(world).currency().new_stale().since_version() == 4);
  // Orders placed at off are in SQLite only.
  CheckAllAt(world.Demo("db", {"--seed", "2"}), "off");

  // Dual writes and shadow reads read SQLite: allowed.
  CHECK_THAT(world.Ctl({"stage", "orders", "dualwrite"}).out,
             Catch::Contains(stale));
  world.Ctl({"stage", "orders", "shadow"});
  const DemoRun shadow = world.Demo("db", {"--seed", "3"});
  CheckAllAt(shadow, "shadow");
  CHECK(shadow["migrator.mismatches"] > 0);  // RocksDB lacks the off orders

  // Live would read RocksDB: refused, naming it and the way to make it
  // current.
  std::string refusal = Refused(world, {"stage", "orders", "live"});
  CHECK_THAT(refusal, Catch::Contains("stage refused: the default serve would "
                                      "read new for 100% of its users"));
  CHECK_THAT(refusal, Catch::Contains(stale));
  CHECK_THAT(refusal, Catch::Contains("the way back: serve no user off "
                                      "(dualwrite at least), then run a new "
                                      "backfill (old -> new) and its verify "
                                      "pass (reset a job that is done "
                                      "first)"));

  // The first backfill is done; running it again copies nothing and does
  // not count: it started before new went stale.
  DemoRun again = world.Demo("db", {"backfill"});
  CHECK(again.facts["backfill.phase"] == "done");
  Refused(world, {"stage", "orders", "live"});

  // A new job (reset the done one, run it again) makes RocksDB current.
  CHECK_THAT(world.Ctl({"backfill", "reset", "orders"}).out,
             Catch::Contains("backfill of orders reset (it was done"));
  DemoRun fresh = world.Demo("db", {"backfill"});
  CHECK(fresh.facts["backfill.phase"] == "done");
  CHECK(fresh["backfill.rows_copied"] > kOldRows);
  CHECK_FALSE(GetFlag(world).currency().has_new_stale());
  world.Ctl({"stage", "orders", "live"});
  CheckAllAt(world.Demo("db", {"--seed", "4"}), "live");
  Identical(world, "db");
}

// Two ways a database could once be taken for current too early, kept as
// tests of the rule.

TEST_CASE("a backfill started in the same whole second before a "
          "rollback to off does not clear new's stale mark",
          "[drill][currency]") {
  OrdersWorld world;
  world.FillOld("db", 20, kUsers, /*amount_base=*/100);
  // Start at the top of a second, so that all below fits in it.
  WaitPastSecond(absl::ToUnixSeconds(absl::Now()));
  const int64_t started = absl::ToUnixSeconds(absl::Now());
  DemoRun forward = world.Demo("db", {"backfill"});
  REQUIRE(forward.facts["backfill.phase"] == "done");
  world.Ctl({"stage", "orders", "dualwrite"});
  world.Ctl({"rollback", "orders", "--to", "off"});
  const bool same_second = absl::ToUnixSeconds(absl::Now()) == started;
  INFO("all in one second: " << same_second);
  // The stale mark's times are exact, so a backfill started before the
  // rollback (however close) does not clear it.
  CHECK(GetFlag(world).currency().has_new_stale());
}

TEST_CASE("a forward backfill run while users are still at off "
          "does not make new current",
          "[drill][currency]") {
  OrdersWorld world;
  const int64_t backfilled = MigrateTo(world, "db", "shadow");
  WaitPastSecond(backfilled);
  world.Ctl({"rollback", "orders", "--to", "off"});
  REQUIRE(GetFlag(world).currency().has_new_stale());
  // A new backfill, verified, while everyone is still at off...
  world.Ctl({"backfill", "reset", "orders"});
  REQUIRE(world.Demo("db", {"backfill"}).facts["backfill.phase"] == "done");
  // ...and orders placed at off after it: in SQLite only.
  const DemoRun off = world.Demo("db", {"--seed", "2", "--write-ratio", "1"});
  REQUIRE(off["decisions.off"] == kRequests);
  REQUIRE(off["orders_placed"] == kRequests);
  world.Ctl({"stage", "orders", "dualwrite"});
  world.Ctl({"stage", "orders", "shadow"});
  // The backfill ran while users were at off, so it does not count: live
  // stays refused, as it must (RocksDB lacks every order placed at off).
  RunResult live = RunCli(world.daemon().address(),
                          {"stage", "orders", "live"});
  CHECK(live.exit_code == 2);
  RunResult check = RunProgram(world.DemoArgs("db", {"check"}), 60);
  INFO(check.out);
  CHECK(check.exit_code == 3);  // RocksDB lacks the orders placed at off
}

}  // namespace
}  // namespace cutover::testing
