// The client's local evaluation mode against the real daemon: while synced,
// decisions are made in the process, exactly as the daemon's Decide makes
// them at the same revision, with no RPC; changes reach them through Watch.
#include <catch2/catch.hpp>

#include <signal.h>

#include <fstream>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "client/admin_client.h"
#include "client/client.h"
#include "client/synced_flags.h"
#include "convert/convert.h"
#include "tests/integration/client_helpers.h"
#include "tests/integration/harness.h"
#include "tests/printers.h"

namespace cutover::testing {
namespace {

constexpr int kUsers = 100000;

ClientOptions LocalOptionsFor(const DaemonProcess& daemon) {
  ClientOptions options = OptionsFor(daemon);
  options.evaluation = ClientOptions::Evaluation::kLocal;
  return options;
}

v1::Clause MakeClause(const std::string& attribute, v1::Operator op,
                      std::vector<std::string> values) {
  v1::Clause clause;
  clause.set_attribute(attribute);
  clause.set_op(op);
  for (const std::string& value : values) clause.add_values(value);
  return clause;
}

v1::Rule MakeRule(const std::string& id, std::vector<v1::Clause> clauses,
                  v1::Stage stage) {
  v1::Rule rule;
  rule.set_id(id);
  for (v1::Clause& clause : clauses) *rule.add_clauses() = std::move(clause);
  rule.mutable_serve()->set_stage(stage);
  return rule;
}

void SetRollout(v1::Serve* serve,
                std::vector<std::pair<v1::Stage, uint32_t>> splits) {
  for (const auto& [stage, weight] : splits) {
    v1::Split* split = serve->mutable_rollout()->add_splits();
    split->set_stage(stage);
    split->set_weight(weight);
  }
}

// Flags with rules on attributes and segments, bucket attributes and
// rollouts, applied as one file.
v1::ApplyRequest World() {
  v1::ApplyRequest request;
  v1::Segment* internal = request.add_segments();
  internal->set_key("internal");
  for (int i = 0; i < 500; ++i) internal->add_included(absl::StrCat("u-", i * 7));
  internal->add_excluded("u-7");
  v1::Segment* acme = request.add_segments();
  acme->set_key("big-tenants");
  *acme->add_clauses() = MakeClause("tenant", v1::IN, {"t-1", "t-2", "t-3"});

  v1::Flag* orders = request.add_flags();
  orders->set_key("orders");
  orders->set_old_target("postgres-orders");
  orders->set_new_target("dynamodb-orders");
  orders->set_enabled(true);
  orders->set_bucket_by("tenant");
  *orders->add_rules() = MakeRule(
      "internal-first", {MakeClause("", v1::IN_SEGMENT, {"internal"})},
      v1::DUALWRITE);
  *orders->add_rules() = MakeRule(
      "eu", {MakeClause("country", v1::IN, {"de", "fr"})}, v1::OFF);
  SetRollout(orders->mutable_default_serve(),
             {{v1::DUALWRITE, 40000}, {v1::OFF, 60000}});

  v1::Flag* carts = request.add_flags();
  carts->set_key("carts");
  carts->set_old_target("postgres-carts");
  carts->set_new_target("dynamodb-carts");
  carts->set_enabled(true);
  *carts->add_rules() = MakeRule(
      "big", {MakeClause("", v1::IN_SEGMENT, {"big-tenants"})}, v1::OFF);
  SetRollout(carts->mutable_default_serve(),
             {{v1::OFF, 20000}, {v1::DUALWRITE, 80000}});

  v1::Flag* users = request.add_flags();
  users->set_key("users");
  users->set_old_target("postgres-users");
  users->set_new_target("dynamodb-users");
  users->set_enabled(true);
  users->mutable_default_serve()->set_stage(v1::DUALWRITE);
  return request;
}

// A daemon holding World() and a local Client of it, synced.
struct SyncedWorld {
  explicit SyncedWorld(const std::vector<std::string>& flag_keys = {})
      : daemon(dir.path() + "/data") {
    REQUIRE(daemon.Start());
    admin = ConnectAdmin(daemon.address(), absl::Seconds(20));
    REQUIRE(admin->Apply(World()).ok());
    ClientOptions options = LocalOptionsFor(daemon);
    options.flag_keys = flag_keys;
    auto created = Client::Create(options);
    REQUIRE(created.ok());
    client = *std::move(created);
    REQUIRE(client->watch_synced());
  }
  TempDir dir;
  DaemonProcess daemon;
  std::unique_ptr<AdminClient> admin;
  std::unique_ptr<Client> client;
};

Context UserContext(int i) {
  Context context{absl::StrCat("u-", i), {}};
  context.attributes["tenant"] = absl::StrCat("t-", i % 37);
  if (i % 5 == 0) context.attributes["country"] = i % 10 == 0 ? "de" : "us";
  return context;
}

TEST_CASE("local mode: 100,000 decisions equal the daemon's Decide at the "
          "same revision, with no RPC",
          "[client][local]") {
  SyncedWorld world;
  AdminClient* admin = world.admin.get();
  Client* client = world.client.get();
  const int64_t revision = client->watched_revision();

  const char* flags[] = {"orders", "carts", "users"};
  int compared = 0;
  std::set<int> reasons;
  std::set<int> stages;
  std::set<std::string> rules;
  for (int start = 0; start < kUsers; start += 1000) {
    const std::string flag = flags[(start / 1000) % 3];
    v1::DecideBatchRequest request;
    for (int i = start; i < start + 1000; ++i) {
      v1::DecideRequest* item = request.add_items();
      item->set_flag_key(flag);
      const Context context = UserContext(i);
      item->mutable_context()->set_targeting_key(context.targeting_key);
      for (const auto& [name, value] : context.attributes) {
        (*item->mutable_context()->mutable_attributes())[name] = value;
      }
    }
    const absl::StatusOr<v1::DecideBatchResponse> daemon_answers =
        admin->DecideBatch(request);
    REQUIRE(daemon_answers.ok());
    REQUIRE(daemon_answers->revision() == revision);
    for (int i = start; i < start + 1000; ++i) {
      const Decision expected =
          FromProto(daemon_answers->decisions(i - start));
      const Decision local = client->Decide(flag, UserContext(i));
      INFO(flag << " user " << i);
      REQUIRE(local.stage == expected.stage);
      // The stage alone, from the same evaluation without the names.
      REQUIRE(client->DecideStage(flag, UserContext(i)) == expected.stage);
      REQUIRE(local.reason == expected.reason);
      REQUIRE(local.rule_id == expected.rule_id);
      REQUIRE(local.bucket == expected.bucket);
      REQUIRE(local.flag_version == expected.flag_version);
      REQUIRE(local.old_target == expected.old_target);
      REQUIRE(local.new_target == expected.new_target);
      ++compared;
      reasons.insert(static_cast<int>(local.reason));
      rules.insert(local.rule_id);
      stages.insert(static_cast<int>(local.stage));
    }
  }
  CHECK(compared == kUsers);
  // Every way to a decision was taken: rules (both kinds of clause, both
  // segments), splits and a plain default.
  CHECK(reasons == std::set<int>{static_cast<int>(Reason::kRuleMatch),
                                 static_cast<int>(Reason::kSplit),
                                 static_cast<int>(Reason::kDefault)});
  CHECK(rules == std::set<std::string>{"", "internal-first", "eu", "big"});
  CHECK(stages.size() == 2);
  const ClientStats stats = client->stats();
  // Each user decided twice (Decide, DecideStage), each counted.
  CHECK(stats.local_decisions == static_cast<uint64_t>(2 * kUsers));
  CHECK(stats.cache_misses == 0);  // no Decide RPC
  CHECK(stats.cache_hits == 0);
  CHECK(client->watched_revision() == revision);

  // Prefetch decides here too: Decide's answers, no DecideBatch.
  std::vector<Context> page;
  for (int i = 0; i < 1000; ++i) page.push_back(UserContext(i));
  const std::vector<Decision> prefetched = client->Prefetch("orders", page);
  REQUIRE(prefetched.size() == page.size());
  for (size_t i = 0; i < page.size(); ++i) {
    const Decision one = client->Decide("orders", page[i]);
    INFO("prefetched user " << i);
    REQUIRE(prefetched[i].stage == one.stage);
    REQUIRE(prefetched[i].reason == one.reason);
    REQUIRE(prefetched[i].rule_id == one.rule_id);
    REQUIRE(prefetched[i].bucket == one.bucket);
  }
  CHECK(client->stats().local_decisions ==
        static_cast<uint64_t>(2 * kUsers + 2000));
  CHECK(client->stats().cache_misses == 0);

  // A flag the daemon does not have: its answer, made here.
  const Decision unknown = client->Decide("nope", UserContext(1));
  CHECK(unknown.stage == Stage::kOff);
  CHECK(unknown.reason == Reason::kFlagNotFound);
  // The daemon's answer for it, whatever default the caller names.
  CHECK(client->DecideStage("nope", UserContext(1), Stage::kDualWrite) ==
        Stage::kOff);
  CHECK(client->stats().cache_misses == 0);
}

TEST_CASE("local mode: a change reaches the next decision through Watch, "
          "before the first sync the daemon is asked",
          "[client][local]") {
  TempDir dir;
  DaemonProcess daemon(dir.path() + "/data");
  REQUIRE(daemon.Start());
  Cli(daemon, {"flags", "create", "orders", "--old", "pg", "--new", "ddb"});

  // Not synced yet (no waiting at Create): the daemon answers.
  ClientOptions options = LocalOptionsFor(daemon);
  options.initial_sync_wait = absl::ZeroDuration();
  auto client = Client::Create(options);
  REQUIRE(client.ok());
  const Decision early = (*client)->Decide("orders", UserContext(1));
  CHECK(early.stage == Stage::kOff);
  REQUIRE(Eventually([&] { return (*client)->watch_synced(); }));
  const uint64_t misses = (*client)->stats().cache_misses;

  Cli(daemon, {"stage", "orders", "dualwrite"});
  REQUIRE(Eventually([&] {
    return (*client)->Decide("orders", UserContext(1)).stage ==
           Stage::kDualWrite;
  }));
  const Decision after = (*client)->Decide("orders", UserContext(1));
  CHECK(after.flag_version == 2);
  CHECK(after.reason == Reason::kDefault);
  CHECK((*client)->stats().cache_misses == misses);
  CHECK((*client)->stats().local_decisions > 0);

  // The daemon stops: the stream is no longer synced, and the synced
  // state answers as STALE (the fallbacks of both modes).
  REQUIRE(daemon.Stop(SIGTERM) == 0);
  REQUIRE(Eventually([&] { return !(*client)->watch_synced(); }));
  const Decision away = (*client)->Decide("orders", UserContext(1));
  CHECK(away.stage == Stage::kDualWrite);
  CHECK(away.reason == Reason::kStale);
  CHECK((*client)->DecideStage("orders", UserContext(1)) ==
        Stage::kDualWrite);
}

TEST_CASE("flag_keys: the client holds and decides here only the named "
          "flags, and another is the daemon's on every call, its cached "
          "answer served only as STALE",
          "[client][local]") {
  SyncedWorld world({"orders", "missing"});
  DaemonProcess& daemon = world.daemon;
  Client* client = world.client.get();
  // The stream carried the named flags and every segment.
  const std::shared_ptr<const SyncedState> state = client->synced_state();
  CHECK(state->flag_count() == 1);
  CHECK(state->Contains("orders"));
  CHECK(state->segment_count() == 2);

  // Named: decided here, as everywhere in local mode; a named flag the
  // daemon does not have is not found, as the daemon says.
  const Decision orders = client->Decide("orders", UserContext(3));
  CHECK(orders.reason != Reason::kError);
  CHECK(client->Decide("missing", UserContext(3)).reason ==
        Reason::kFlagNotFound);
  CHECK(client->stats().local_decisions == 2);
  CHECK(client->stats().cache_misses == 0);

  // Not named: the daemon decides, every call (the stream would not tell
  // this client of a change, so nothing cached is served as fresh).
  CHECK(client->Decide("users", UserContext(3)).stage == Stage::kDualWrite);
  CHECK(client->Decide("users", UserContext(3)).stage == Stage::kDualWrite);
  CHECK(client->stats().cache_misses == 2);
  CHECK(client->stats().cache_hits == 0);
  Cli(daemon, {"stage", "users", "shadow"});
  const Decision changed = client->Decide("users", UserContext(3));
  CHECK(changed.stage == Stage::kShadow);
  CHECK(changed.flag_version == 2);

  // The daemon away: the named flag from the synced state, the other from
  // what the daemon last answered this user, both STALE; a flag neither
  // held nor asked gets the caller's default, saying why.
  REQUIRE(daemon.Stop(SIGTERM) == 0);
  REQUIRE(Eventually([&] { return !client->watch_synced(); }));
  const Decision away = client->Decide("orders", UserContext(3));
  CHECK(away.stage == orders.stage);
  CHECK(away.reason == Reason::kStale);
  const Decision cached = client->Decide("users", UserContext(3));
  CHECK(cached.stage == Stage::kShadow);
  CHECK(cached.reason == Reason::kStale);
  const Decision never = client->Decide("carts", UserContext(3));
  CHECK(never.stage == Stage::kOff);
  CHECK(never.reason == Reason::kError);
  CHECK_THAT(never.error,
             Catch::Contains("not among this client's flag_keys"));
}

TEST_CASE("flag_keys: a key that cannot name a flag is refused at Create, "
          "naming its place",
          "[client][local]") {
  ClientOptions options;
  options.flag_keys = {"orders", "Orders DB"};
  const auto client = Client::Create(options);
  REQUIRE(client.status().code() == absl::StatusCode::kInvalidArgument);
  CHECK_THAT(std::string(client.status().message()),
             Catch::StartsWith("flag_keys[1]: must match ") &&
                 Catch::Contains("\"Orders DB\""));
}

TEST_CASE("flag_keys: more than the daemon's max_batch: the stream's refusal "
          "is the client's watch_error, and calls are still answered",
          "[client][local]") {
  TempDir dir;
  const std::string config = dir.path() + "/cutoverd.yaml";
  std::ofstream(config) << "max_batch: 2\n";
  DaemonProcess daemon(dir.path() + "/data", {"--config", config});
  REQUIRE(daemon.Start());
  auto admin = ConnectAdmin(daemon.address(), absl::Seconds(20));
  REQUIRE(admin->Apply(World()).ok());

  ClientOptions options = LocalOptionsFor(daemon);
  options.flag_keys = {"orders", "carts", "users"};
  options.initial_sync_wait = absl::Milliseconds(500);
  auto created = Client::Create(options);
  REQUIRE(created.ok());
  Client& client = **created;
  CHECK_FALSE(client.watch_synced());
  const absl::Status error = client.watch_error();
  CHECK(error.code() == absl::StatusCode::kInvalidArgument);
  CHECK_THAT(std::string(error.message()),
             Catch::Contains("flag_keys: 3 keys, more than the limit of 2"));
  // Not synced: every call is the daemon's, and answered.
  const Decision decision = client.Decide("orders", UserContext(7));
  CHECK(decision.reason != Reason::kError);
  CHECK(client.stats().cache_misses == 1);

  // Within the limit, the stream syncs and the error is gone.
  ClientOptions two = LocalOptionsFor(daemon);
  two.flag_keys = {"orders", "carts"};
  auto synced = Client::Create(two);
  REQUIRE(synced.ok());
  REQUIRE((*synced)->watch_synced());
  CHECK((*synced)->watch_error().ok());
}

}  // namespace
}  // namespace cutover::testing
