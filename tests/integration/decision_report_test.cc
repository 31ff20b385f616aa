// Local decisions reach the daemon's decision metric: a kLocal client's
// decisions, made on several threads with no Decide RPC, show in the real
// cutoverd's /metrics as cutover_decisions_total{where="client"}, exactly,
// per flag, stage and reason (unknown keys under "(unknown)", an archived
// flag under its key), from the periodic report and from Shutdown's;
// a report that fails (daemon down) arrives once the daemon is back, and
// only once; and the daemon refuses a malformed decision batch whole,
// naming the field.
#include <catch2/catch.hpp>

#include <signal.h>

#include <map>
#include <memory>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "client/admin_client.h"
#include "client/client.h"
#include "tests/integration/client_helpers.h"
#include "tests/integration/harness.h"
#include "tests/prometheus_text.h"

namespace cutover::testing {
namespace {

// (flag, stage, reason) labels -> decisions.
using Tally = std::map<std::tuple<std::string, std::string, std::string>,
                       double>;

// The flags the daemon has (the rest are counted under "(unknown)").
const std::vector<std::string>& KnownFlags() {
  static const std::vector<std::string> flags = {"orders", "carts", "killed",
                                                 "retired"};
  return flags;
}

v1::Flag MakeFlag(const std::string& key) {
  v1::Flag flag;
  flag.set_key(key);
  flag.set_old_target("pg-" + key);
  flag.set_new_target("ddb-" + key);
  flag.set_enabled(true);
  return flag;
}

// orders: a rule (RULE_MATCH) and a live/shadow rollout (SPLIT); carts: one
// stage (DEFAULT); killed: disabled (DISABLED); retired: archived later.
void CreateFlags(const DaemonProcess& daemon) {
  v1::ApplyRequest request;
  v1::Flag* orders = request.add_flags();
  *orders = MakeFlag("orders");
  v1::Rule* rule = orders->add_rules();
  rule->set_id("de");
  v1::Clause* clause = rule->add_clauses();
  clause->set_attribute("country");
  clause->set_op(v1::IN);
  clause->add_values("de");
  rule->mutable_serve()->set_stage(v1::DUALWRITE);
  for (const auto& [stage, weight] :
       {std::pair{v1::LIVE, 30000u}, std::pair{v1::SHADOW, 70000u}}) {
    v1::Split* split =
        orders->mutable_default_serve()->mutable_rollout()->add_splits();
    split->set_stage(stage);
    split->set_weight(weight);
  }
  v1::Flag* carts = request.add_flags();
  *carts = MakeFlag("carts");
  carts->mutable_default_serve()->set_stage(v1::DUALWRITE);
  v1::Flag* killed = request.add_flags();
  *killed = MakeFlag("killed");
  killed->mutable_default_serve()->set_stage(v1::OFF);
  killed->set_enabled(false);
  v1::Flag* retired = request.add_flags();
  *retired = MakeFlag("retired");
  retired->mutable_default_serve()->set_stage(v1::OFF);
  request.set_force(true);  // new flags straight at their stages
  auto admin = ConnectAdmin(daemon.address());
  const auto applied = admin->Apply(request);
  INFO(applied.status().message());
  REQUIRE(applied.ok());
}

void ArchiveRetired(const DaemonProcess& daemon) {
  v1::ArchiveFlagRequest request;
  request.set_key("retired");
  const auto archived = ConnectAdmin(daemon.address())->ArchiveFlag(request);
  INFO(archived.status().message());
  REQUIRE(archived.ok());
}

ClientOptions LocalOptions(const DaemonProcess& daemon) {
  ClientOptions options = OptionsFor(daemon);
  options.evaluation = ClientOptions::Evaluation::kLocal;
  options.decision_report_interval = absl::Milliseconds(50);
  options.decision_report_deadline = absl::Seconds(2);
  return options;
}

// Decides and tallies as the daemon should label it.
Decision DecideAndTally(Client& client, const std::string& flag, int user,
                    Tally& tally) {
  Context context{absl::StrCat("u-", user), {}};
  if (user % 4 == 0) context.attributes["country"] = "de";
  const Decision decision = client.Decide(flag, context);
  bool known = false;
  for (const std::string& key : KnownFlags()) known |= key == flag;
  tally[{known ? flag : "(unknown)", StageName(decision.stage),
         ReasonName(decision.reason)}] += 1;
  return decision;
}

// `threads` threads, each deciding `per_thread` times over the flags, some
// unknown keys among them; returns what they decided.
Tally DecideFromThreads(Client& client, int threads, int per_thread) {
  std::vector<Tally> tallies(threads);
  std::vector<std::thread> running;
  for (int t = 0; t < threads; ++t) {
    running.emplace_back([&client, &tallies, t, per_thread] {
      const std::string flags[] = {"orders", "carts",    "killed",
                                   "retired", "nope-1",  "nope-2"};
      for (int i = 0; i < per_thread; ++i) {
        DecideAndTally(client, flags[(t + i) % 6], t * per_thread + i, tallies[t]);
      }
    });
  }
  for (auto& thread : running) thread.join();
  Tally total;
  for (const Tally& tally : tallies) {
    for (const auto& [labels, n] : tally) total[labels] += n;
  }
  return total;
}

Tally Add(Tally a, const Tally& b) {
  for (const auto& [labels, n] : b) a[labels] += n;
  return a;
}

double Sum(const Tally& tally) {
  double sum = 0;
  for (const auto& [labels, n] : tally) sum += n;
  return sum;
}

// The daemon's cutover_decisions_total samples with where=`where`.
Tally Scrape(const DaemonProcess& daemon, const std::string& where) {
  const RunResult got = HttpGet(
      absl::StrCat("http://127.0.0.1:", daemon.metrics_port(), "/metrics"));
  REQUIRE(got.exit_code == 0);
  Exposition exposition;
  std::string bad;
  INFO("unparsable line: " << bad);
  REQUIRE(ParseExposition(got.out, &exposition, &bad));
  Tally tally;
  for (const Sample& sample : exposition.samples) {
    if (sample.name != "cutover_decisions_total") continue;
    INFO(Exposition::Id(sample));
    REQUIRE(sample.labels.count("where") == 1);
    if (sample.labels.at("where") != where) continue;
    tally[{sample.labels.at("flag"), sample.labels.at("stage"),
           sample.labels.at("reason")}] += sample.value;
  }
  return tally;
}

TEST_CASE("a local client's decisions from 8 threads show exactly in the "
          "daemon's metrics with where client, and no Decide RPC",
          "[client][local][report]") {
  TempDir dir;
  DaemonProcess daemon(dir.path() + "/data");
  REQUIRE(daemon.Start());
  CreateFlags(daemon);
  auto client = Client::Create(LocalOptions(daemon));
  REQUIRE(client.ok());
  REQUIRE((*client)->watch_synced());
  // Archived while the client watches: kept in its state, as archived.
  ArchiveRetired(daemon);
  Tally decided;
  REQUIRE(Eventually([&] {
    return DecideAndTally(**client, "retired", 1, decided).reason ==
           Reason::kFlagNotFound;
  }));

  decided = Add(decided, DecideFromThreads(**client, 8, 5000));
  // Every way a decision is made, and both kinds of FLAG_NOT_FOUND.
  CHECK(decided.count({"orders", "live", "SPLIT"}) == 1);
  CHECK(decided.count({"orders", "shadow", "SPLIT"}) == 1);
  CHECK(decided.count({"orders", "dualwrite", "RULE_MATCH"}) == 1);
  CHECK(decided.count({"carts", "dualwrite", "DEFAULT"}) == 1);
  CHECK(decided.count({"killed", "off", "DISABLED"}) == 1);
  CHECK(decided.count({"retired", "off", "FLAG_NOT_FOUND"}) == 1);
  CHECK(decided.count({"(unknown)", "off", "FLAG_NOT_FOUND"}) == 1);

  // The periodic report.
  const auto total = static_cast<uint64_t>(Sum(decided));
  REQUIRE(Eventually(
      [&] { return (*client)->stats().local_decisions_reported == total; }));
  CHECK(Scrape(daemon, "client") == decided);

  // More, then Shutdown's last report.
  decided = Add(decided, DecideFromThreads(**client, 2, 999));
  (*client)->Shutdown();
  const ClientStats stats = (*client)->stats();
  CHECK(stats.local_decisions_reported == static_cast<uint64_t>(Sum(decided)));
  CHECK(stats.local_decisions == stats.local_decisions_reported);
  CHECK(stats.cache_misses == 0);  // no Decide RPC
  CHECK(Scrape(daemon, "client") == decided);
  CHECK(Scrape(daemon, "daemon").empty());
}

TEST_CASE("a report that fails while the daemon is down arrives once it is "
          "back, and only once",
          "[client][local][report]") {
  TempDir dir;
  DaemonProcess daemon(dir.path() + "/data");
  REQUIRE(daemon.Start());
  daemon.KeepPort();
  CreateFlags(daemon);
  ClientOptions options = LocalOptions(daemon);
  // Only the reports the test asks for (and Shutdown's).
  options.decision_report_interval = absl::Hours(1);
  options.decision_report_deadline = absl::Milliseconds(500);
  auto client = Client::Create(options);
  REQUIRE(client.ok());
  REQUIRE((*client)->watch_synced());
  const Tally decided = DecideFromThreads(**client, 3, 1000);

  REQUIRE(daemon.Stop(SIGTERM) == 0);
  CHECK_FALSE((*client)->ReportLocalDecisions());
  CHECK((*client)->stats().decision_report_failures >= 1);
  CHECK((*client)->stats().local_decisions_reported == 0);

  REQUIRE(daemon.Start());
  // Each attempt bounded by the deadline; the channel reconnects.
  REQUIRE(Eventually([&] { return (*client)->ReportLocalDecisions(); },
                     absl::Seconds(30)));
  CHECK((*client)->stats().local_decisions_reported == 3000);
  CHECK(Scrape(daemon, "client") == decided);
  // Nothing new: nothing sent again, at a report or at Shutdown.
  CHECK((*client)->ReportLocalDecisions());
  (*client)->Shutdown();
  CHECK((*client)->stats().local_decisions_reported == 3000);
  CHECK(Scrape(daemon, "client") == decided);
}

v1::DecisionCount Decisions(const std::string& flag, v1::Stage stage,
                            v1::Reason reason, uint64_t count) {
  v1::DecisionCount entry;
  entry.set_flag_key(flag);
  entry.set_stage(stage);
  entry.set_reason(reason);
  entry.set_count(count);
  return entry;
}

TEST_CASE("reported decisions: a malformed batch is refused whole, naming "
          "the field, and unknown keys count as (unknown), archived flags "
          "under their key",
          "[report]") {
  TempDir dir;
  DaemonProcess daemon(dir.path() + "/data");
  REQUIRE(daemon.Start());
  CreateFlags(daemon);
  ArchiveRetired(daemon);
  auto admin = ConnectAdmin(daemon.address());

  struct Case {
    const char* name;
    void (*spoil)(v1::DecisionCount&);
    const char* field;  // the error message starts with it
  };
  const Case cases[] = {
      {"empty flag key", [](auto& d) { d.clear_flag_key(); },
       "decisions[1].flag_key: required"},
      {"long flag key", [](auto& d) { d.set_flag_key(std::string(129, 'a')); },
       "decisions[1].flag_key: longer than 128 bytes"},
      {"no stage", [](auto& d) { d.set_stage(v1::STAGE_UNSPECIFIED); },
       "decisions[1].stage:"},
      {"unknown stage",
       [](auto& d) { d.set_stage(static_cast<v1::Stage>(42)); },
       "decisions[1].stage:"},
      {"no reason", [](auto& d) { d.set_reason(v1::REASON_UNSPECIFIED); },
       "decisions[1].reason:"},
      {"CACHED", [](auto& d) { d.set_reason(v1::CACHED); },
       "decisions[1].reason:"},
      {"STALE", [](auto& d) { d.set_reason(v1::STALE); },
       "decisions[1].reason:"},
      {"ERROR", [](auto& d) { d.set_reason(v1::ERROR); },
       "decisions[1].reason:"},
      {"unknown reason",
       [](auto& d) { d.set_reason(static_cast<v1::Reason>(99)); },
       "decisions[1].reason:"},
  };
  for (const Case& c : cases) {
    INFO(c.name);
    v1::ReportMigrationOpsRequest request;
    *request.add_decisions() = Decisions("orders", v1::LIVE, v1::SPLIT, 5);
    *request.add_decisions() = Decisions("carts", v1::DUALWRITE, v1::DEFAULT, 2);
    c.spoil(*request.mutable_decisions(1));
    const auto answer = admin->ReportMigrationOps(request);
    CHECK(answer.status().code() == absl::StatusCode::kInvalidArgument);
    CHECK_THAT(std::string(answer.status().message()),
               Catch::StartsWith(c.field));
  }
  {
    v1::ReportMigrationOpsRequest request;
    for (int i = 0; i < 10001; ++i) {
      *request.add_decisions() = Decisions("orders", v1::LIVE, v1::SPLIT, 1);
    }
    const auto answer = admin->ReportMigrationOps(request);
    CHECK(answer.status().code() == absl::StatusCode::kInvalidArgument);
    CHECK_THAT(std::string(answer.status().message()),
               Catch::StartsWith("decisions: 10001 entries, more than the "
                                 "limit of 10000"));
  }
  // Nothing of the refused batches was counted.
  CHECK(Scrape(daemon, "client").empty());

  v1::ReportMigrationOpsRequest request;
  *request.add_decisions() = Decisions("nosuch", v1::OFF,
                                       v1::FLAG_NOT_FOUND, 7);
  *request.add_decisions() = Decisions("(unknown)", v1::OFF,
                                       v1::FLAG_NOT_FOUND, 2);
  *request.add_decisions() = Decisions("retired", v1::OFF,
                                       v1::FLAG_NOT_FOUND, 3);
  *request.add_decisions() = Decisions("carts", v1::DUALWRITE, v1::DEFAULT, 0);
  while (request.decisions_size() < 10000) {  // the most a batch may have
    *request.add_decisions() = Decisions("orders", v1::LIVE, v1::SPLIT, 1);
  }
  const auto answer = admin->ReportMigrationOps(request);
  INFO(answer.status().message());
  REQUIRE(answer.ok());
  CHECK(Scrape(daemon, "client") ==
        Tally{{{"orders", "live", "SPLIT"}, 9996},
              {{"(unknown)", "off", "FLAG_NOT_FOUND"}, 9},
              {{"retired", "off", "FLAG_NOT_FOUND"}, 3}});
}

}  // namespace
}  // namespace cutover::testing
