// The orders example (examples/orders) against the real cutoverd: the
// orders-demo binary run at each stage of the flag "orders", with both
// databases opened afterwards to see which rows went where, the demo's
// counts checked against `cutoverctl status`, and a rollback taking every
// user back to the old database. Also OrdersRepository with a new database
// that always fails: at the stages where the new database is not
// authoritative, no request fails because of it.
#include <catch2/catch.hpp>

#include <csignal>
#include <fstream>
#include <sstream>
#include <cstdint>
#include <map>
#include <random>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "client/decision_source.h"
#include "client/migrator.h"
#include "core/evaluate.h"
#include "core/stage.h"
#include "cutover/v1/cutover.pb.h"
#include "examples/orders/orders_database.h"
#include "examples/orders/orders_repository.h"
#include "examples/orders/rocksdb_orders.h"
#include "examples/orders/sqlite_orders.h"
#include "google/protobuf/util/json_util.h"
#include "tests/integration/harness.h"
#include "tests/integration/orders_world.h"
#include "tests/prometheus_text.h"

namespace cutover::testing {
namespace {

using examples::Order;
using examples::OrdersRepository;
using examples::RocksDbOrders;
using examples::SqliteOrders;

using testing::Exposition;
using testing::ParseExposition;

TEST_CASE("at stage off orders-demo writes only the old database",
          "[example]") {
  OrdersWorld world;
  const DemoRun run = world.Demo("db", {"--seed", "1"});
  CheckAllAt(run, "off");
  CHECK(run["migrator.comparisons"] == 0);

  const auto [old_rows, new_rows] = world.Databases("db");
  CHECK(Count(old_rows) == run["orders_placed"]);
  CHECK(Count(OfRun(old_rows, "o-1-")) == run["orders_placed"]);
  CHECK(Count(new_rows) == 0);

  // The daemon heard of the writes to old, and of nothing on new.
  const v1::FlagStatus status = world.StatusWhen([&](const v1::FlagStatus& s) {
    for (const auto& op : s.ops()) {
      if (op.op() == "write" && op.origin() == v1::OLD) {
        return op.ok() == run["orders_placed"];
      }
    }
    return false;
  });
  INFO(status.DebugString());
  REQUIRE(status.ops_size() == 2);
  CHECK(status.ops(0).op() == "read");
  CHECK(status.ops(0).origin() == v1::OLD);
  CHECK(status.ops(0).ok() == run["lists"]);
  CHECK(status.ops(1).op() == "write");
  CHECK(status.ops(1).origin() == v1::OLD);
  CHECK(status.ops(1).ok() == run["orders_placed"]);
  CHECK(status.compared() == 0);
}

TEST_CASE("at stage dualwrite orders-demo writes both databases",
          "[example]") {
  OrdersWorld world;
  world.Ctl({"stage", "orders", "dualwrite"});
  const DemoRun run = world.Demo("db", {"--seed", "2"});
  CheckAllAt(run, "dualwrite");
  CHECK(run["migrator.comparisons"] == 0);

  const auto [old_rows, new_rows] = world.Databases("db");
  CHECK(Count(old_rows) == run["orders_placed"]);
  // The same rows, amounts and all.
  CHECK(new_rows == old_rows);
}

TEST_CASE("at stage shadow orders-demo counts the new database's wrong rows",
          "[example]") {
  OrdersWorld world;
  world.Ctl({"stage", "orders", "dualwrite"});
  world.Ctl({"stage", "orders", "shadow"});

  // Both databases right: every comparison matches.
  const DemoRun clean = world.Demo("clean", {"--seed", "3"});
  CheckAllAt(clean, "shadow");
  CHECK(clean["migrator.comparisons"] == clean["lists"]);
  CHECK(clean["migrator.mismatches"] == 0);
  {
    const auto [old_rows, new_rows] = world.Databases("clean");
    CHECK(Count(old_rows) == clean["orders_placed"]);
    CHECK(new_rows == old_rows);
  }

  // Every 5th order written to new has a wrong amount.
  const DemoRun corrupt =
      world.Demo("corrupt", {"--seed", "4", "--corrupt-new-every", "5"});
  CheckAllAt(corrupt, "shadow");
  CHECK(corrupt["corrupted_new_writes"] == corrupt["orders_placed"] / 5);
  CHECK(corrupt["corrupted_new_writes"] > 0);
  CHECK(corrupt["migrator.comparisons"] == corrupt["lists"]);
  CHECK(corrupt["migrator.mismatches"] > 0);
  CHECK(corrupt["migrator.mismatches"] <= corrupt["migrator.comparisons"]);
  CHECK_THAT(corrupt.result.err,
             Catch::Contains("mismatch: flag orders, stage shadow, user u-"));
  {
    const auto [old_rows, new_rows] = world.Databases("corrupt");
    CHECK(Count(old_rows) == corrupt["orders_placed"]);
    REQUIRE(Count(new_rows) == Count(old_rows));
    // The rows differ exactly where the amount was corrupted, by a cent.
    uint64_t wrong = 0;
    for (const auto& [user, orders] : old_rows) {
      const std::vector<Order>& in_new = new_rows.at(user);
      REQUIRE(in_new.size() == orders.size());
      for (size_t i = 0; i < orders.size(); ++i) {
        CHECK(in_new[i].order_id == orders[i].order_id);
        if (in_new[i].amount_cents != orders[i].amount_cents) {
          CHECK(in_new[i].amount_cents == orders[i].amount_cents + 1);
          ++wrong;
        }
      }
    }
    CHECK(wrong == corrupt["corrupted_new_writes"]);
  }

  // The daemon counted the same comparisons and mismatches as the demos
  // (both reporters flushed before their process exited).
  const uint64_t compared =
      clean["migrator.comparisons"] + corrupt["migrator.comparisons"];
  const uint64_t mismatches = corrupt["migrator.mismatches"];
  const v1::FlagStatus status =
      world.StatusWhen([&](const v1::FlagStatus& s) {
        return s.compared() == compared && s.mismatches() == mismatches;
      });
  INFO(status.DebugString());
  CHECK(status.compared() == compared);
  CHECK(status.mismatches() == mismatches);
  CHECK(status.client_dropped() == 0);
  CHECK(status.flag().default_serve().stage() == v1::SHADOW);
}

TEST_CASE("after cutoverctl rollback orders-demo dual-writes everyone, and "
          "after --to off only the old database",
          "[example]") {
  OrdersWorld world;
  world.Ctl({"stage", "orders", "dualwrite"});
  world.Ctl({"stage", "orders", "shadow"});
  const DemoRun before = world.Demo("db", {"--seed", "5"});
  CheckAllAt(before, "shadow");

  // Plain rollback: nobody reads new, both databases still written.
  world.Ctl({"rollback", "orders"});
  const DemoRun after = world.Demo("db", {"--seed", "6"});
  CheckAllAt(after, "dualwrite");
  CHECK(after["migrator.comparisons"] == 0);

  world.Ctl({"rollback", "orders", "--to", "off"});
  const DemoRun off = world.Demo("db", {"--seed", "7"});
  CheckAllAt(off, "off");

  const auto [old_rows, new_rows] = world.Databases("db");
  // Shadow and dualwrite wrote both; off only the old database.
  CHECK(OfRun(new_rows, "o-5-") == OfRun(old_rows, "o-5-"));
  CHECK(OfRun(new_rows, "o-6-") == OfRun(old_rows, "o-6-"));
  CHECK(Count(OfRun(old_rows, "o-5-")) == before["orders_placed"]);
  CHECK(Count(OfRun(old_rows, "o-6-")) == after["orders_placed"]);
  CHECK(Count(OfRun(old_rows, "o-7-")) == off["orders_placed"]);
  CHECK(Count(OfRun(new_rows, "o-7-")) == 0);
}

TEST_CASE("orders-demo without a daemon serves off and fails no request",
          "[example]") {
  OrdersWorld world;
  const std::string address = world.daemon().address();
  REQUIRE(world.daemon().Stop(SIGKILL) == -SIGKILL);
  TempDir dir;
  const RunResult result = RunProgram(
      {ORDERS_DEMO_PATH, "--server", address, "--sqlite",
       dir.path() + "/orders.sqlite", "--rocksdb", dir.path() + "/rocksdb",
       "--users", "5", "--requests", "50", "--decide-deadline-ms", "20"},
      120);
  INFO("stdout:\n" << result.out << "\nstderr:\n" << result.err);
  REQUIRE(result.exit_code == 0);
  CHECK_THAT(result.out, Catch::Contains("\nfailed_requests: 0\n"));
  CHECK_THAT(result.out, Catch::Contains("\ndecisions.off: 50\n"));
  CHECK_THAT(result.out, Catch::Contains("\ndecision_errors: 50\n"));
}

TEST_CASE("orders-demo serves the client library's metrics to Prometheus",
          "[example]") {
  // Local evaluation (the default) decides each request in the process;
  // remote asks the daemon once per user (the prefetch) and serves the
  // rest from the cache.
  const bool local = GENERATE(true, false);
  INFO((local ? "--evaluation local" : "--evaluation remote"));
  OrdersWorld world;
  world.Ctl({"stage", "orders", "dualwrite"});
  TempDir dir;
  const int port = FreeLoopbackPort();
  BackgroundProcess demo;
  REQUIRE(demo.Start(
      {ORDERS_DEMO_PATH, "--server", world.daemon().address(), "--sqlite",
       dir.path() + "/orders.sqlite", "--rocksdb", dir.path() + "/rocksdb",
       "--users", "5", "--requests", "50", "--decide-deadline-ms", "2000",
       "--evaluation", local ? "local" : "remote", "--metrics-listen",
       absl::StrCat("127.0.0.1:", port), "--metrics-linger", "60"},
      dir.path() + "/demo.log"));
  // Once the run is over (its facts printed, the reporter flushed), one
  // scrape while it lingers.
  const std::string log = dir.path() + "/demo.log";
  const absl::Time deadline = absl::Now() + absl::Seconds(60);
  while (absl::Now() < deadline && demo.Running() &&
         !absl::StrContains(ReadText(log), "elapsed_seconds:")) {
    absl::SleepFor(absl::Milliseconds(100));
  }
  const RunResult scrape =
      HttpGet(absl::StrCat("http://127.0.0.1:", port, "/metrics"), 10);
  INFO("orders-demo output:\n" << ReadText(log) << "\nscrape:\n"
                                << scrape.out << scrape.err);
  REQUIRE(scrape.exit_code == 0);
  CHECK(demo.Stop(SIGTERM) == -SIGTERM);  // it was still lingering
  Exposition metrics;
  std::string bad_line;
  REQUIRE(ParseExposition(scrape.out, &metrics, &bad_line));
  CHECK(metrics.Value("cutover_client_decisions_total",
                      {{"source", "evaluated"}}) == (local ? 50 : 0));
  CHECK(metrics.Value("cutover_client_decisions_total",
                      {{"source", "daemon"}}) == (local ? 0 : 5));
  CHECK(metrics.Value("cutover_client_decisions_total",
                      {{"source", "cache"}}) == (local ? 0 : 50));
  CHECK(metrics.Value("cutover_client_decisions_total",
                      {{"source", "default"}}) == 0);
  // Every operation the Migrator ran was recorded and sent.
  CHECK(metrics.Value("cutover_client_telemetry_operations_total",
                      {{"result", "recorded"}})
            .value_or(0) >= 50);
  CHECK(metrics.Value("cutover_client_telemetry_operations_total",
                      {{"result", "dropped"}}) == 0);
  CHECK(metrics.Value("cutover_client_telemetry_batches_total",
                      {{"result", "sent"}})
            .value_or(0) >= 1);
  CHECK(metrics.Value("cutover_client_telemetry_batches_total",
                      {{"result", "failed"}}) == 0);
}

TEST_CASE("orders-demo exits 1 when a database cannot be opened",
          "[example]") {
  TempDir dir;
  // A RocksDB folder inside a regular file cannot be created.
  const std::string file = dir.path() + "/file";
  REQUIRE(SqliteOrders::Open(file).ok());
  const RunResult result = RunProgram(
      {ORDERS_DEMO_PATH, "--server", "127.0.0.1:1", "--sqlite",
       dir.path() + "/orders.sqlite", "--rocksdb", file + "/rocksdb"},
      60);
  CHECK(result.exit_code == 1);
  CHECK_THAT(result.err, Catch::StartsWith("orders-demo: UNAVAILABLE: "
                                           "rocksdb: open "));
  CHECK(result.out.empty());
}

// A DecisionSource that serves one stage to everyone.
class FixedStage final : public DecisionSource {
 public:
  explicit FixedStage(Stage stage) : stage_(stage) {}
  Decision Decide(std::string_view flag_key,
                  const Context& /*context*/) noexcept override {
    Decision decision;
    decision.flag_key = std::string(flag_key);
    decision.stage = stage_;
    decision.plan = PlanFor(stage_);
    decision.reason = Reason::kDefault;
    return decision;
  }

 private:
  Stage stage_;
};

// A database that is down.
class DownDatabase final : public examples::OrdersDatabase {
 public:
  absl::Status Put(absl::string_view, const Order&) override {
    return absl::UnavailableError("down");
  }
  absl::StatusOr<Order> Get(absl::string_view, absl::string_view) override {
    return absl::UnavailableError("down");
  }
  absl::StatusOr<std::vector<Order>> List(absl::string_view) override {
    return absl::UnavailableError("down");
  }
  absl::StatusOr<std::vector<examples::OrderRow>> Scan(absl::string_view,
                                                       absl::string_view,
                                                       size_t) override {
    return absl::UnavailableError("down");
  }
};

TEST_CASE("a new database that is down fails requests only where it "
          "is authoritative",
          "[example]") {
  struct Case {
    Stage stage;
    bool new_authoritative;
    uint64_t shadow_errors;  // one write and one read
  };
  const std::vector<Case> cases = {
      {Stage::kOff, false, 0},      {Stage::kDualWrite, false, 1},
      {Stage::kShadow, false, 2},   {Stage::kLive, true, 0},
      {Stage::kRampDown, true, 0},  {Stage::kComplete, true, 0},
  };
  for (const Case& c : cases) {
    INFO("stage " << StageName(c.stage));
    TempDir dir;
    auto old_db = SqliteOrders::Open(dir.path() + "/orders.sqlite");
    REQUIRE(old_db.ok());
    DownDatabase new_db;
    FixedStage decisions(c.stage);
    MigratorOptions options;
    options.on_mismatch = [](const MismatchInfo&) {};
    Migrator migrator(&decisions, {}, options);
    OrdersRepository repository(&decisions, &migrator, old_db->get(), &new_db,
                                "orders");

    const absl::Status placed = repository.PlaceOrder("u-1", "o-1", 1250);
    const auto listed = repository.ListOrders("u-1");
    if (c.new_authoritative) {
      CHECK(placed.code() == absl::StatusCode::kUnavailable);
      CHECK(listed.status().code() == absl::StatusCode::kUnavailable);
    } else {
      CHECK(placed.ok());
      REQUIRE(listed.ok());
      CHECK(*listed == std::vector<Order>{{"o-1", 1250}});
    }
    CHECK(migrator.stats().shadow_errors == c.shadow_errors);
    const examples::RepositoryStats stats = repository.stats();
    CHECK(stats.decisions_by_stage[static_cast<size_t>(c.stage)] == 2);
    CHECK(stats.orders_placed == (c.new_authoritative ? 0 : 1));
    CHECK(stats.lists == (c.new_authoritative ? 0 : 1));
  }

  SECTION("bad input is refused before any database or decision") {
    TempDir dir;
    auto old_db = SqliteOrders::Open(dir.path() + "/orders.sqlite");
    REQUIRE(old_db.ok());
    FixedStage decisions(Stage::kShadow);
    Migrator migrator(&decisions);
    OrdersRepository repository(&decisions, &migrator, old_db->get(),
                                old_db->get(), "orders");
    CHECK(repository.PlaceOrder("", "o-1", 1).message() == "user_id: empty");
    CHECK(repository.PlaceOrder("u-1", std::string("o\0x", 3), 1).message() ==
          "order_id: contains a NUL byte");
    CHECK(repository.PlaceOrder("u-1", "o-1", -5).message() ==
          "amount_cents: negative (-5)");
    CHECK(repository.ListOrders("").status().code() ==
          absl::StatusCode::kInvalidArgument);
    CHECK(migrator.stats().writes == 0);
    CHECK(migrator.stats().reads == 0);
    const examples::RepositoryStats stats = repository.stats();
    CHECK(stats.decisions_by_stage[static_cast<size_t>(Stage::kShadow)] == 0);
    CHECK(stats.place_failures == 3);
    CHECK(stats.list_failures == 1);
  }
}

}  // namespace
}  // namespace cutover::testing

namespace cutover::testing {
namespace {

TEST_CASE("a backfill killed -9 at random pages resumes and copies every row "
          "exactly once",
          "[example][backfill]") {
  OrdersWorld world;
  constexpr int kRows = 2400;
  world.FillOld("db", kRows, /*users=*/97, /*amount_base=*/100);
  const std::vector<std::string> backfill = {
      "backfill", "--page-size", "40", "--rows-per-second", "2000"};
  std::mt19937 random(20261125);
  std::uniform_int_distribution<int> pause_ms(150, 600);
  int kills = 0;
  int64_t last_copied = -1;
  for (int attempt = 0; attempt < 8; ++attempt) {
    BackgroundProcess run;
    REQUIRE(run.Start(world.DemoArgs("db", backfill),
                      world.dir().path() + "/backfill.log"));
    absl::SleepFor(absl::Milliseconds(pause_ms(random)));
    const int ended = run.Stop(SIGKILL);
    if (ended == 0) break;  // it finished before the kill
    REQUIRE(ended == -SIGKILL);
    ++kills;
    // Progress never goes back, whatever page the kill hit.
    RunResult status =
        RunCli(world.daemon().address(),
               {"backfill", "status", "orders", "-o", "json"});
    if (status.exit_code != 0) continue;  // killed before the first start
    v1::BackfillJob job;
    REQUIRE(google::protobuf::util::JsonStringToMessage(status.out, &job).ok());
    CHECK(job.rows_copied() >= last_copied);
    CHECK(job.rows_copied() <= kRows);
    last_copied = job.rows_copied();
  }
  CHECK(kills >= 3);

  // The last run finishes the job.
  DemoRun done = world.Demo("db", backfill);
  CHECK(done.facts["backfill.phase"] == "done");
  CHECK(done["backfill.rows_copied"] == kRows);    // once each, by count
  CHECK(done["backfill.rows_verified"] == kRows);
  CHECK(done["backfill.rows_mismatched"] == 0);  // and by content
  DemoRun check = world.Demo("db", {"check"});
  CHECK(check["check.old_rows"] == kRows);
  CHECK(check["check.new_rows"] == kRows);
  CHECK(check.facts["check.identical"] == "yes");
  CHECK(world.BackfillJob().runs() >= 2);
}

TEST_CASE("a sampled verify pass checks a share of the pages",
          "[example][backfill]") {
  OrdersWorld world;
  constexpr int kRows = 2400;
  world.FillOld("db", kRows, /*users=*/31, /*amount_base=*/0);
  DemoRun done = world.Demo(
      "db", {"backfill", "--page-size", "40", "--verify-sample-rate", "0.5"});
  CHECK(done.facts["backfill.phase"] == "done");
  CHECK(done["backfill.rows_copied"] == kRows);
  const uint64_t verified = done["backfill.rows_verified"];
  CHECK(verified > 0);
  CHECK(verified < kRows);
  CHECK(verified % 40 == 0);  // whole pages
  RunResult status = world.Ctl({"backfill", "status", "orders"});
  CHECK(absl::StrContains(status.out, "sample rate 0.5"));
}

TEST_CASE("orders-demo check reports rows missing, extra and different",
          "[example][backfill]") {
  OrdersWorld world;
  {
    auto old_db = SqliteOrders::Open(world.SqlitePath("db"));
    REQUIRE(old_db.ok());
    REQUIRE((*old_db)->Put("u-1", Order{"o-1", 100}).ok());
    REQUIRE((*old_db)->Put("u-1", Order{"o-2", 200}).ok());
    REQUIRE((*old_db)->Put("u-2", Order{"o-1", 300}).ok());
  }
  DemoRun copied = world.Demo("db", {"backfill"});
  CHECK(copied["backfill.rows_copied"] == 3);
  {
    auto old_db = SqliteOrders::Open(world.SqlitePath("db"));
    REQUIRE(old_db.ok());
    REQUIRE((*old_db)->Put("u-1", Order{"o-2", 201}).ok());  // different
    REQUIRE((*old_db)->Put("u-3", Order{"o-1", 400}).ok());  // missing
  }
  RunResult check = RunProgram(world.DemoArgs("db", {"check"}), 60);
  CHECK(check.exit_code == 3);
  CHECK(absl::StrContains(check.out, "check.missing_in_new: 1"));
  CHECK(absl::StrContains(check.out, "check.different: 1"));
  CHECK(absl::StrContains(check.out, "check.identical: no"));
  CHECK(absl::StrContains(check.err, "u-1/o-2: old 201, new 200"));
}

TEST_CASE("after complete, a reverse backfill at rampdown copies RocksDB's "
          "orders back into SQLite and the tables are identical",
          "[example][backfill][reverse]") {
  OrdersWorld world;
  constexpr int kRows = 300;
  world.FillOld("db", kRows, /*users=*/kUsers, /*amount_base=*/1000);
  DemoRun forward = world.Demo("db", {"backfill", "--page-size", "40"});
  CHECK(forward.facts["backfill.direction"] == "forward");
  CHECK(forward.facts["backfill.phase"] == "done");
  for (const char* stage :
       {"dualwrite", "shadow", "live", "rampdown", "complete"}) {
    world.Ctl({"stage", "orders", stage});
  }

  // At complete the service writes RocksDB only: SQLite falls behind.
  DemoRun served = world.Demo("db", {"--write-ratio", "1"});
  CHECK(served["failed_requests"] == 0);
  const uint64_t placed = served["orders_placed"];
  CHECK(placed == kRequests);
  {
    // And an order changed at complete (RocksDB only).
    auto new_db = RocksDbOrders::Open(world.RocksDbPath("db"));
    REQUIRE(new_db.ok());
    REQUIRE((*new_db)->Put("u-1", Order{"o-000001", 7}).ok());
  }
  RunResult behind = RunProgram(world.DemoArgs("db", {"check"}), 60);
  CHECK(behind.exit_code == 3);
  CHECK(absl::StrContains(behind.out,
                          absl::StrCat("check.only_in_new: ", placed)));
  CHECK(absl::StrContains(behind.out, "check.different: 1"));

  // The way back: rampdown (writes reach both), then the reverse job.
  world.Ctl({"stage", "orders", "rampdown"});
  DemoRun reverse =
      world.Demo("db", {"backfill", "--reverse", "--page-size", "40"});
  CHECK(reverse.facts["backfill.direction"] == "reverse");
  CHECK(reverse.facts["backfill.phase"] == "done");
  CHECK(reverse["backfill.rows_copied"] == kRows + placed);
  CHECK(reverse["backfill.rows_verified"] == kRows + placed);
  CHECK(reverse["backfill.rows_mismatched"] == 0);
  DemoRun check = world.Demo("db", {"check"});
  CHECK(check["check.old_rows"] == kRows + placed);
  CHECK(check["check.new_rows"] == kRows + placed);
  CHECK(check.facts["check.identical"] == "yes");
  const auto [in_old, in_new] = world.Databases("db");
  CHECK(in_old == in_new);

  // The two jobs are apart: the forward one is as it was.
  v1::BackfillJob job;
  RunResult status = world.Ctl(
      {"backfill", "status", "orders", "--reverse", "-o", "json"});
  REQUIRE(google::protobuf::util::JsonStringToMessage(status.out, &job).ok());
  CHECK(job.direction() == v1::REVERSE);
  CHECK(job.phase() == v1::DONE);
  CHECK(job.started_by() == "orders-demo-backfill");
  CHECK(world.BackfillJob().direction() == v1::FORWARD);
  CHECK(world.BackfillJob().rows_copied() == kRows);
}

}  // namespace
}  // namespace cutover::testing
