// OrdersWorld: the orders example (examples/orders) against a real
// cutoverd, for tests that run the real orders-demo and cutoverctl: a
// daemon on a fresh folder with the flag "orders", orders-demo runs on
// databases in the same folder (their printed facts parsed), and both
// databases read back with the example's own classes. Shared by
// example_test.cc and drills_test.cc; ORDERS_DEMO_PATH is set by
// tests/CMakeLists.txt.
#ifndef CUTOVER_TESTS_INTEGRATION_ORDERS_WORLD_H_
#define CUTOVER_TESTS_INTEGRATION_ORDERS_WORLD_H_

#include <catch2/catch.hpp>

#include <cstdint>
#include <fstream>
#include <map>
#include <sstream>
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
#include "cutover/v1/cutover.pb.h"
#include "examples/orders/orders_database.h"
#include "examples/orders/rocksdb_orders.h"
#include "examples/orders/sqlite_orders.h"
#include "google/protobuf/util/json_util.h"
#include "tests/integration/harness.h"

namespace cutover::testing {

using examples::Order;
using examples::RocksDbOrders;
using examples::SqliteOrders;

constexpr int kUsers = 20;
constexpr int kRequests = 400;

const char* const kStages[] = {"off",  "dualwrite", "shadow",
                               "live", "rampdown",  "complete"};

inline std::string ReadText(const std::string& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

// Every user's orders, by user id (users without orders left out).
using Rows = std::map<std::string, std::vector<Order>>;

inline size_t Count(const Rows& rows) {
  size_t n = 0;
  for (const auto& [user, orders] : rows) n += orders.size();
  return n;
}

// The rows whose order id starts with `prefix` (one run's orders).
inline Rows OfRun(const Rows& rows, const std::string& prefix) {
  Rows out;
  for (const auto& [user, orders] : rows) {
    for (const Order& order : orders) {
      if (absl::StartsWith(order.order_id, prefix)) out[user].push_back(order);
    }
  }
  return out;
}

// The "key: value" lines of an orders-demo run's output.
inline std::map<std::string, std::string> ParseFacts(const std::string& out) {
  std::map<std::string, std::string> facts;
  for (absl::string_view line : absl::StrSplit(out, '\n')) {
    std::pair<std::string, std::string> kv =
        absl::StrSplit(line, absl::MaxSplits(": ", 1));
    if (!kv.second.empty()) facts[kv.first] = kv.second;
  }
  return facts;
}

// What one orders-demo run printed, as "key: value" facts.
struct DemoRun {
  RunResult result;
  std::map<std::string, std::string> facts;

  // The fact as a number; fails the test if it is missing.
  uint64_t operator[](const std::string& key) const {
    auto it = facts.find(key);
    INFO("fact " << key << " in:\n" << result.out);
    REQUIRE(it != facts.end());
    uint64_t value = 0;
    REQUIRE(absl::SimpleAtoi(it->second, &value));
    return value;
  }
};

// A daemon on a fresh folder with the flag "orders" (old sqlite-orders,
// new rocksdb-orders, at stage off), and the databases of orders-demo runs
// in the same folder. `daemon_args` are added to cutoverd's command line
// (e.g. a --config).
class OrdersWorld {
 public:
  explicit OrdersWorld(std::vector<std::string> daemon_args = {})
      : daemon_(dir_.path() + "/data", std::move(daemon_args)) {
    const bool started = daemon_.Start();
    INFO("cutoverd stderr:\n" << daemon_.last_stderr());
    REQUIRE(started);
    Ctl({"flags", "create", "orders", "--old", "sqlite-orders", "--new",
         "rocksdb-orders", "--description", "orders table to RocksDB"});
  }

  // Runs cutoverctl; it must succeed.
  RunResult Ctl(const std::vector<std::string>& args) {
    RunResult result = RunCli(daemon_.address(), args);
    INFO("cutoverctl " << absl::StrJoin(args, " ") << "\nstdout:\n"
                       << result.out << "\nstderr:\n"
                       << result.err);
    REQUIRE(result.exit_code == 0);
    return result;
  }

  // Runs orders-demo on the databases named `db` (a SQLite file and a
  // RocksDB folder in the test's folder); it must exit 0.
  DemoRun Demo(const std::string& db, const std::vector<std::string>& extra) {
    DemoRun run;
    run.result = RunProgram(DemoArgs(db, extra), 120);
    INFO("orders-demo stdout:\n" << run.result.out << "\nstderr:\n"
                                 << run.result.err);
    REQUIRE(run.result.exit_code == 0);
    run.facts = ParseFacts(run.result.out);
    return run;
  }

  // Both databases' rows, read with the example's own classes (after the
  // demo exited, so the RocksDB folder is free).
  std::pair<Rows, Rows> Databases(const std::string& db) {
    auto old_db = SqliteOrders::Open(SqlitePath(db));
    INFO(old_db.status().ToString());
    REQUIRE(old_db.ok());
    auto new_db = RocksDbOrders::Open(RocksDbPath(db));
    INFO(new_db.status().ToString());
    REQUIRE(new_db.ok());
    std::pair<Rows, Rows> rows;
    for (int u = 0; u < kUsers; ++u) {
      const std::string user = absl::StrCat("u-", u);
      auto in_old = (*old_db)->List(user);
      auto in_new = (*new_db)->List(user);
      REQUIRE(in_old.ok());
      REQUIRE(in_new.ok());
      if (!in_old->empty()) rows.first[user] = *in_old;
      if (!in_new->empty()) rows.second[user] = *in_new;
    }
    return rows;
  }

  // `cutoverctl status orders -o json`, polled (at most 10 s) until `done`
  // holds; returns the last answer.
  template <typename Predicate>
  v1::FlagStatus StatusWhen(Predicate done) {
    const absl::Time until = absl::Now() + absl::Seconds(10);
    v1::FlagStatus status;
    while (true) {
      RunResult result = Ctl({"status", "orders", "-o", "json"});
      status.Clear();
      INFO("status json:\n" << result.out);
      REQUIRE(google::protobuf::util::JsonStringToMessage(result.out, &status)
                  .ok());
      if (done(status) || absl::Now() > until) return status;
      absl::SleepFor(absl::Milliseconds(100));
    }
  }

  // orders-demo's command line on the databases named `db`.
  std::vector<std::string> DemoArgs(const std::string& db,
                                    const std::vector<std::string>& extra) {
    std::vector<std::string> argv = {
        ORDERS_DEMO_PATH,
        "--server", daemon_.address(),
        "--sqlite", SqlitePath(db),
        "--rocksdb", RocksDbPath(db),
        "--users", std::to_string(kUsers),
        "--requests", std::to_string(kRequests),
        "--threads", "4",
        // Generous for sanitizer builds on a shared machine: a decision
        // that times out would be served as off and spoil the counts.
        "--decide-deadline-ms", "2000"};
    argv.insert(argv.end(), extra.begin(), extra.end());
    return argv;
  }

  // Puts `rows` orders "o-000000".. into the old database of `db`, spread
  // over users u-0 .. u-<users-1>, amounts amount_base + i.
  void FillOld(const std::string& db, int rows, int users, int amount_base) {
    auto old_db = SqliteOrders::Open(SqlitePath(db));
    REQUIRE(old_db.ok());
    for (int i = 0; i < rows; ++i) {
      REQUIRE((*old_db)
                  ->Put(absl::StrCat("u-", i % users),
                        Order{absl::StrFormat("o-%06d", i), amount_base + i})
                  .ok());
    }
  }

  // The flag's backfill job (`cutoverctl backfill status orders -o json`).
  v1::BackfillJob BackfillJob() {
    RunResult status = Ctl({"backfill", "status", "orders", "-o", "json"});
    v1::BackfillJob job;
    REQUIRE(google::protobuf::util::JsonStringToMessage(status.out, &job).ok());
    return job;
  }

  DaemonProcess& daemon() { return daemon_; }
  const TempDir& dir() const { return dir_; }

  std::string SqlitePath(const std::string& db) const {
    return dir_.path() + "/" + db + ".sqlite";
  }
  std::string RocksDbPath(const std::string& db) const {
    return dir_.path() + "/" + db + "-rocksdb";
  }

 private:
  TempDir dir_;
  DaemonProcess daemon_;
};

// Every request ran at `stage` and none failed; what every run must show.
inline void CheckAllAt(const DemoRun& run, const std::string& stage) {
  INFO("orders-demo stdout:\n" << run.result.out << "\nstderr:\n"
                               << run.result.err);
  CHECK(run["requests"] == kRequests);
  CHECK(run["failed_requests"] == 0);
  CHECK(run["orders_placed"] + run["lists"] == kRequests);
  CHECK(run["orders_placed"] > 0);
  CHECK(run["lists"] > 0);
  for (const char* s : kStages) {
    CHECK(run[absl::StrCat("decisions.", s)] ==
          (s == stage ? static_cast<uint64_t>(kRequests) : 0));
  }
  CHECK(run["decision_errors"] == 0);
  CHECK(run["migrator.reads"] == run["lists"]);
  CHECK(run["migrator.writes"] == run["orders_placed"]);
  CHECK(run["migrator.shadow_errors"] == 0);
  CHECK(run["migrator.authoritative_errors"] == 0);
  CHECK(run["telemetry.dropped"] == 0);
  CHECK(run["telemetry.send_failures"] == 0);
  CHECK(run["telemetry.batches_sent"] >= 1);
}

}  // namespace cutover::testing

#endif  // CUTOVER_TESTS_INTEGRATION_ORDERS_WORLD_H_
