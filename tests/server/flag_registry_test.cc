// Tests of FlagRegistry over a real Store in a fresh temporary folder.
#include "server/flag_registry.h"

#include <stdlib.h>

#include <algorithm>
#include <catch2/catch.hpp>

#include "tests/integration/harness.h"
#include "tests/printers.h"
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "cutover/v1/cutover.pb.h"
#include "google/protobuf/util/message_differencer.h"
#include "server/change_hub.h"
#include "server/snapshot.h"
#include "server/store.h"
#include "tests/server/api_registry.h"
#include "tests/server/backfill_pages.h"

namespace cutover {
namespace {

using google::protobuf::util::MessageDifferencer;

using testing::ApiRegistry;
using testing::OpenRegistry;
using testing::RecordingSubscriber;
using testing::AsApi;
using testing::TempDir;

const Caller kAlice{"alice", "10.0.0.1:50000"};
const Caller kBob{"bob", "10.0.0.2:50000"};

// A registry in its own temporary folder.
struct Fixture {
  TempDir dir;
  std::unique_ptr<ApiRegistry> registry = OpenRegistry(dir.path());

  void Reopen() {
    registry.reset();
    registry = OpenRegistry(dir.path());
  }
  int64_t revision() const { return registry->store().revision(); }
};

// The flag of the brief: orders moving from PostgreSQL to DynamoDB, off.
v1::Flag OrdersFlag() {
  v1::Flag flag;
  flag.set_key("orders");
  flag.set_description("orders table");
  flag.set_old_target("postgres-orders");
  flag.set_new_target("dynamodb-orders");
  flag.set_enabled(true);
  flag.mutable_default_serve()->set_stage(v1::OFF);
  return flag;
}

template <typename T>
T Ok(absl::StatusOr<T> result) {
  INFO(result.status().ToString());
  REQUIRE(result.ok());
  return *std::move(result);
}

v1::Flag Create(ApiRegistry& registry, const v1::Flag& flag,
                const Caller& caller = kAlice) {
  v1::CreateFlagRequest request;
  *request.mutable_flag() = flag;
  return Ok(registry.CreateFlag(request, caller));
}

v1::SetStageRequest StageRequest(v1::Stage stage, bool force = false,
                                 int64_t expected_version = 0) {
  v1::SetStageRequest request;
  request.set_key("orders");
  request.set_stage(stage);
  request.set_force(force);
  request.set_expected_version(expected_version);
  return request;
}

v1::Flag SetStage(ApiRegistry& registry, v1::Stage stage) {
  return Ok(registry.SetStage(StageRequest(stage), kAlice));
}

v1::Rollout MakeRollout(std::vector<std::pair<v1::Stage, uint32_t>> splits) {
  v1::Rollout rollout;
  for (const auto& [stage, weight] : splits) {
    v1::Split* split = rollout.add_splits();
    split->set_stage(stage);
    split->set_weight(weight);
  }
  return rollout;
}

v1::SetRolloutRequest RolloutRequest(
    std::vector<std::pair<v1::Stage, uint32_t>> splits) {
  v1::SetRolloutRequest request;
  request.set_key("orders");
  *request.mutable_rollout() = MakeRollout(std::move(splits));
  return request;
}

v1::Rule SegmentRule(const std::string& segment, v1::Stage stage) {
  v1::Rule rule;
  v1::Clause* clause = rule.add_clauses();
  clause->set_op(v1::IN_SEGMENT);
  clause->add_values(segment);
  rule.mutable_serve()->set_stage(stage);
  return rule;
}

v1::Rule RegionRule(const std::string& region, v1::Stage stage) {
  v1::Rule rule;
  v1::Clause* clause = rule.add_clauses();
  clause->set_attribute("region");
  clause->set_op(v1::IN);
  clause->add_values(region);
  rule.mutable_serve()->set_stage(stage);
  return rule;
}

v1::AddRuleRequest AddRuleRequest(const v1::Rule& rule, int32_t index = -1) {
  v1::AddRuleRequest request;
  request.set_key("orders");
  *request.mutable_rule() = rule;
  request.set_index(index);
  return request;
}

v1::Segment MakeSegment(const std::string& key) {
  v1::Segment segment;
  segment.set_key(key);
  segment.add_included("user-1");
  segment.add_included("user-2");
  return segment;
}

v1::Segment CreateSegment(ApiRegistry& registry, const std::string& key) {
  v1::CreateSegmentRequest request;
  *request.mutable_segment() = MakeSegment(key);
  return Ok(registry.CreateSegment(request, kBob));
}

std::vector<v1::HistoryEntry> History(const ApiRegistry& registry,
                                      const std::string& key,
                                      bool segment = false, int limit = 0) {
  return Ok(registry.History(key, segment, limit));
}

std::vector<int64_t> Versions(const std::vector<v1::HistoryEntry>& entries) {
  std::vector<int64_t> versions;
  for (const auto& entry : entries) versions.push_back(entry.version());
  return versions;
}

std::vector<std::string> Actions(const std::vector<v1::HistoryEntry>& entries) {
  std::vector<std::string> actions;
  for (const auto& entry : entries) actions.push_back(entry.action());
  return actions;
}

std::vector<std::string> RuleIds(const v1::Flag& flag) {
  std::vector<std::string> ids;
  for (const auto& rule : flag.rules()) ids.push_back(rule.id());
  return ids;
}

std::vector<std::string> Keys(const std::vector<v1::Flag>& flags) {
  std::vector<std::string> keys;
  for (const auto& flag : flags) keys.push_back(flag.key());
  return keys;
}

// The configuration of a flag, without what the server sets on each write.
v1::Flag Config(v1::Flag flag) {
  flag.clear_version();
  flag.clear_revision();
  flag.clear_update_time();
  flag.clear_updated_by();
  return flag;
}

bool SameConfig(const v1::Flag& a, const v1::Flag& b) {
  return MessageDifferencer::Equals(Config(a), Config(b));
}

int64_t CurrentVersion(const ApiRegistry& registry) {
  return Ok(registry.GetFlag("orders")).version();
}

// --- create ------------------------------------------------------------------

TEST_CASE("FlagRegistry: CreateFlag stores version 1 at revision 1 with "
          "history",
          "[flag_registry]") {
  Fixture f;
  v1::CreateFlagRequest request;
  *request.mutable_flag() = OrdersFlag();
  // Output-only input is ignored.
  request.mutable_flag()->set_version(42);
  request.mutable_flag()->set_revision(42);
  request.mutable_flag()->set_updated_by("mallory");
  request.set_comment("start the orders migration");
  v1::Flag created = Ok(f.registry->CreateFlag(request, kAlice));

  CHECK(created.key() == "orders");
  CHECK(created.version() == 1);
  CHECK(created.revision() == 1);
  CHECK(created.updated_by() == "alice");
  CHECK_FALSE(created.archived());
  CHECK(created.default_serve().stage() == v1::OFF);
  CHECK(created.update_time().seconds() > 0);
  CHECK(SameConfig(created, OrdersFlag()));
  CHECK(f.revision() == 1);
  CHECK(f.registry->hub().snapshot()->revision == 1);

  v1::Flag read = Ok(f.registry->GetFlag("orders"));
  CHECK(MessageDifferencer::Equals(read, created));

  std::vector<v1::HistoryEntry> history = History(*f.registry, "orders");
  REQUIRE(history.size() == 1);
  const v1::HistoryEntry& entry = history[0];
  CHECK(entry.flag_key() == "orders");
  CHECK(entry.version() == 1);
  CHECK(entry.revision() == 1);
  CHECK(entry.action() == "create");
  CHECK(entry.actor() == "alice");
  CHECK(entry.peer() == "10.0.0.1:50000");
  CHECK(entry.comment() == "start the orders migration");
  CHECK_FALSE(entry.forced());
  CHECK_FALSE(entry.has_before());
  CHECK(MessageDifferencer::Equals(entry.after(), created));
  CHECK_FALSE(entry.diff().empty());
  CHECK(entry.time().seconds() == created.update_time().seconds());
}

TEST_CASE("FlagRegistry: CreateFlag of an existing key is ALREADY_EXISTS",
          "[flag_registry]") {
  Fixture f;
  Create(*f.registry, OrdersFlag());
  v1::CreateFlagRequest request;
  *request.mutable_flag() = OrdersFlag();
  request.mutable_flag()->set_description("a second orders flag");
  absl::StatusOr<v1::Flag> again = f.registry->CreateFlag(request, kBob);
  INFO(again.status().ToString());
  CHECK(again.status().code() == absl::StatusCode::kAlreadyExists);
  CHECK(f.revision() == 1);
  CHECK(Ok(f.registry->GetFlag("orders")).description() == "orders table");
  CHECK(History(*f.registry, "orders").size() == 1);
}

TEST_CASE("FlagRegistry: a refused CreateFlag stores nothing",
          "[flag_registry]") {
  struct Case {
    const char* name;
    std::function<void(v1::Flag&)> edit;
    absl::StatusCode code;
    const char* message;  // part of the message
  };
  const std::vector<Case> cases = {
      {"no key", [](v1::Flag& flag) { flag.clear_key(); },
       absl::StatusCode::kInvalidArgument, "key"},
      {"upper-case key", [](v1::Flag& flag) { flag.set_key("Orders"); },
       absl::StatusCode::kInvalidArgument, "key"},
      {"key with a slash",
       [](v1::Flag& flag) { flag.set_key("orders/eu"); },
       absl::StatusCode::kInvalidArgument, "key"},
      {"no old target", [](v1::Flag& flag) { flag.clear_old_target(); },
       absl::StatusCode::kInvalidArgument, "old_target"},
      {"no new target", [](v1::Flag& flag) { flag.clear_new_target(); },
       absl::StatusCode::kInvalidArgument, "new_target"},
      {"same targets",
       [](v1::Flag& flag) { flag.set_new_target(flag.old_target()); },
       absl::StatusCode::kInvalidArgument, "new_target"},
      {"no default serve",
       [](v1::Flag& flag) { flag.clear_default_serve(); },
       absl::StatusCode::kInvalidArgument, "default_serve"},
      {"unspecified default stage",
       [](v1::Flag& flag) {
         flag.mutable_default_serve()->set_stage(v1::STAGE_UNSPECIFIED);
       },
       absl::StatusCode::kInvalidArgument, "default_serve"},
      {"rollout weights short of 100000",
       [](v1::Flag& flag) {
         *flag.mutable_default_serve()->mutable_rollout() =
             MakeRollout({{v1::DUALWRITE, 5000}, {v1::OFF, 90000}});
       },
       absl::StatusCode::kInvalidArgument, "default_serve"},
      {"rule without clauses",
       [](v1::Flag& flag) {
         flag.add_rules()->mutable_serve()->set_stage(v1::OFF);
       },
       absl::StatusCode::kInvalidArgument, "rules[0]"},
      {"rule with a bad RE2 pattern",
       [](v1::Flag& flag) {
         v1::Rule* rule = flag.add_rules();
         *rule = RegionRule("(", v1::OFF);
         rule->mutable_clauses(0)->set_op(v1::MATCHES);
       },
       absl::StatusCode::kInvalidArgument, "rules[0].clauses[0]"},
      {"rule naming a missing segment",
       [](v1::Flag& flag) {
         *flag.add_rules() = SegmentRule("testers", v1::OFF);
       },
       absl::StatusCode::kInvalidArgument, "testers"},
      {"compare sample rate above 1",
       [](v1::Flag& flag) { flag.set_compare_sample_rate(1.5); },
       absl::StatusCode::kInvalidArgument, "compare_sample_rate"},
      {"first serve skips to live",
       [](v1::Flag& flag) {
         flag.mutable_default_serve()->set_stage(v1::LIVE);
       },
       absl::StatusCode::kFailedPrecondition, "dualwrite"},
  };
  for (const Case& c : cases) {
    DYNAMIC_SECTION(c.name) {
      Fixture f;
      v1::Flag flag = OrdersFlag();
      c.edit(flag);
      v1::CreateFlagRequest request;
      *request.mutable_flag() = flag;
      absl::StatusOr<v1::Flag> created = f.registry->CreateFlag(request, kAlice);
      INFO(created.status().ToString());
      CHECK(created.status().code() == c.code);
      CHECK_THAT(std::string(created.status().message()),
                 Catch::Contains(c.message));
      CHECK(f.revision() == 0);
      CHECK(f.registry->hub().snapshot()->revision == 0);
      CHECK(f.registry->hub().snapshot()->flags.empty());
      CHECK(f.registry->ListFlags(true).empty());
      if (!flag.key().empty()) {
        CHECK(f.registry->GetFlag(flag.key()).status().code() ==
              absl::StatusCode::kNotFound);
        CHECK(f.registry->History(flag.key(), false, 0).status().code() ==
              absl::StatusCode::kNotFound);
      }
    }
  }
}

TEST_CASE("FlagRegistry: CreateFlag may start at dualwrite, or further when "
          "forced",
          "[flag_registry]") {
  Fixture f;
  v1::Flag dualwrite = OrdersFlag();
  dualwrite.mutable_default_serve()->set_stage(v1::DUALWRITE);
  CHECK(Create(*f.registry, dualwrite).default_serve().stage() ==
        v1::DUALWRITE);

  v1::CreateFlagRequest request;
  *request.mutable_flag() = OrdersFlag();
  request.mutable_flag()->set_key("payments");
  request.mutable_flag()->mutable_default_serve()->set_stage(v1::COMPLETE);
  request.set_force(true);
  v1::Flag forced = Ok(f.registry->CreateFlag(request, kAlice));
  CHECK(forced.default_serve().stage() == v1::COMPLETE);
  CHECK(forced.revision() == 2);
  std::vector<v1::HistoryEntry> history = History(*f.registry, "payments");
  REQUIRE(history.size() == 1);
  CHECK(history[0].forced());
}

// --- stages and rollouts -------------------------------------------------------

TEST_CASE("FlagRegistry: SetStage moves forward one stage at a time",
          "[flag_registry]") {
  Fixture f;
  Create(*f.registry, OrdersFlag());

  v1::Flag dualwrite = SetStage(*f.registry, v1::DUALWRITE);
  CHECK(dualwrite.default_serve().stage() == v1::DUALWRITE);
  CHECK(dualwrite.version() == 2);
  CHECK(dualwrite.revision() == 2);

  v1::Flag shadow = SetStage(*f.registry, v1::SHADOW);
  CHECK(shadow.default_serve().stage() == v1::SHADOW);
  CHECK(shadow.version() == 3);
  CHECK(shadow.revision() == 3);

  std::vector<v1::HistoryEntry> history = History(*f.registry, "orders");
  REQUIRE(history.size() == 3);
  CHECK(history[0].action() == "stage");
  CHECK(history[0].before().default_serve().stage() == v1::DUALWRITE);
  CHECK(history[0].after().default_serve().stage() == v1::SHADOW);
  CHECK_FALSE(history[0].forced());
  REQUIRE(history[0].diff_size() == 1);
  CHECK_THAT(history[0].diff(0), Catch::Contains("stage"));

  // Backward moves are free, any distance.
  v1::Flag off = SetStage(*f.registry, v1::OFF);
  CHECK(off.default_serve().stage() == v1::OFF);
  CHECK(off.version() == 4);
}

TEST_CASE("FlagRegistry: SetStage refuses forward skips unless forced",
          "[flag_registry]") {
  struct Case {
    v1::Stage to;
    bool ok;
    std::vector<const char*> skipped;
  };
  const Case cases[] = {
      {v1::DUALWRITE, true, {}},
      {v1::SHADOW, false, {"dualwrite"}},
      {v1::LIVE, false, {"dualwrite", "shadow"}},
      {v1::RAMPDOWN, false, {"dualwrite", "shadow", "live"}},
      {v1::COMPLETE, false, {"dualwrite", "shadow", "live", "rampdown"}},
  };
  for (const Case& c : cases) {
    DYNAMIC_SECTION("off -> " << v1::Stage_Name(c.to)) {
      Fixture f;
      Create(*f.registry, OrdersFlag());
      absl::StatusOr<v1::Flag> moved =
          f.registry->SetStage(StageRequest(c.to), kAlice);
      INFO(moved.status().ToString());
      if (c.ok) {
        REQUIRE(moved.ok());
        CHECK(moved->default_serve().stage() == c.to);
        CHECK(moved->version() == 2);
        return;
      }
      CHECK(moved.status().code() == absl::StatusCode::kFailedPrecondition);
      for (const char* skipped : c.skipped) {
        CHECK_THAT(std::string(moved.status().message()),
                   Catch::Contains(skipped));
      }
      // Refused: nothing changed.
      CHECK(f.revision() == 1);
      CHECK(CurrentVersion(*f.registry) == 1);
      CHECK(Ok(f.registry->GetFlag("orders")).default_serve().stage() ==
            v1::OFF);
      CHECK(History(*f.registry, "orders").size() == 1);

      // Forced: done, and the history says so.
      v1::Flag forced =
          Ok(f.registry->SetStage(StageRequest(c.to, /*force=*/true), kBob));
      CHECK(forced.default_serve().stage() == c.to);
      CHECK(forced.version() == 2);
      CHECK(forced.revision() == 2);
      std::vector<v1::HistoryEntry> history = History(*f.registry, "orders");
      REQUIRE(history.size() == 2);
      CHECK(history[0].action() == "stage");
      CHECK(history[0].actor() == "bob");
      CHECK(history[0].forced());
    }
  }
}

TEST_CASE("FlagRegistry: force on a move that needs none is not recorded as "
          "forced",
          "[flag_registry]") {
  Fixture f;
  Create(*f.registry, OrdersFlag());
  Ok(f.registry->SetStage(StageRequest(v1::DUALWRITE, /*force=*/true),
                          kAlice));
  CHECK_FALSE(History(*f.registry, "orders")[0].forced());
}

TEST_CASE("FlagRegistry: SetStage without a stage is INVALID_ARGUMENT",
          "[flag_registry]") {
  Fixture f;
  Create(*f.registry, OrdersFlag());
  absl::StatusOr<v1::Flag> moved =
      f.registry->SetStage(StageRequest(v1::STAGE_UNSPECIFIED), kAlice);
  CHECK(moved.status().code() == absl::StatusCode::kInvalidArgument);
  CHECK(f.revision() == 1);
}

TEST_CASE("FlagRegistry: SetRollout ramps live up from shadow",
          "[flag_registry]") {
  Fixture f;
  Create(*f.registry, OrdersFlag());
  SetStage(*f.registry, v1::DUALWRITE);
  SetStage(*f.registry, v1::SHADOW);

  v1::Flag five = Ok(f.registry->SetRollout(
      RolloutRequest({{v1::LIVE, 5000}, {v1::SHADOW, 95000}}), kAlice));
  CHECK(five.version() == 4);
  CHECK(five.revision() == 4);
  REQUIRE(five.default_serve().has_rollout());
  CHECK(MessageDifferencer::Equals(
      five.default_serve().rollout(),
      MakeRollout({{v1::LIVE, 5000}, {v1::SHADOW, 95000}})));

  v1::Flag ten = Ok(f.registry->SetRollout(
      RolloutRequest({{v1::LIVE, 10000}, {v1::SHADOW, 90000}}), kAlice));
  CHECK(ten.version() == 5);
  CHECK(MessageDifferencer::Equals(
      ten.default_serve().rollout(),
      MakeRollout({{v1::LIVE, 10000}, {v1::SHADOW, 90000}})));
  std::vector<v1::HistoryEntry> history = History(*f.registry, "orders");
  CHECK(Actions(history) == std::vector<std::string>{
                                "rollout", "rollout", "stage", "stage",
                                "create"});

  // Refused rollouts change nothing.
  struct Case {
    const char* name;
    std::vector<std::pair<v1::Stage, uint32_t>> splits;
    absl::StatusCode code;
  };
  const std::vector<Case> refused = {
      {"no splits", {}, absl::StatusCode::kInvalidArgument},
      {"weights over 100000",
       {{v1::LIVE, 20000}, {v1::SHADOW, 90000}},
       absl::StatusCode::kInvalidArgument},
      {"a stage twice",
       {{v1::LIVE, 50000}, {v1::LIVE, 50000}},
       absl::StatusCode::kInvalidArgument},
      {"unspecified stage",
       {{v1::STAGE_UNSPECIFIED, 10000}, {v1::SHADOW, 90000}},
       absl::StatusCode::kInvalidArgument},
      {"skips rampdown to complete",
       {{v1::COMPLETE, 10000}, {v1::LIVE, 90000}},
       absl::StatusCode::kFailedPrecondition},
  };
  for (const Case& c : refused) {
    INFO(c.name);
    absl::StatusOr<v1::Flag> result =
        f.registry->SetRollout(RolloutRequest(c.splits), kAlice);
    INFO(result.status().ToString());
    CHECK(result.status().code() == c.code);
    CHECK(CurrentVersion(*f.registry) == 5);
    CHECK(f.revision() == 5);
  }
}

// --- expected_version ------------------------------------------------------------

TEST_CASE("FlagRegistry: a stale expected_version is ABORTED and changes "
          "nothing",
          "[flag_registry]") {
  // Each write, at version 1 (too old) against a flag at version 2, and at
  // 3 (in the future).
  using Write =
      std::function<absl::StatusOr<v1::Flag>(ApiRegistry&, int64_t)>;
  struct Case {
    const char* name;
    Write write;
  };
  const std::vector<Case> cases = {
      {"SetStage",
       [](ApiRegistry& r, int64_t v) {
         return r.SetStage(StageRequest(v1::SHADOW, false, v), kAlice);
       }},
      {"SetRollout",
       [](ApiRegistry& r, int64_t v) {
         v1::SetRolloutRequest request =
             RolloutRequest({{v1::SHADOW, 5000}, {v1::DUALWRITE, 95000}});
         request.set_expected_version(v);
         return r.SetRollout(request, kAlice);
       }},
      {"SetEnabled",
       [](ApiRegistry& r, int64_t v) {
         v1::SetEnabledRequest request;
         request.set_key("orders");
         request.set_enabled(false);
         request.set_expected_version(v);
         return r.SetEnabled(request, kAlice);
       }},
      {"AddRule",
       [](ApiRegistry& r, int64_t v) {
         v1::AddRuleRequest request =
             AddRuleRequest(RegionRule("eu", v1::SHADOW));
         request.set_expected_version(v);
         return r.AddRule(request, kAlice);
       }},
      {"RemoveRule",
       [](ApiRegistry& r, int64_t v) {
         v1::RemoveRuleRequest request;
         request.set_key("orders");
         request.set_rule_id("rule-1");
         request.set_expected_version(v);
         return r.RemoveRule(request, kAlice);
       }},
      {"ReplaceFlag",
       [](ApiRegistry& r, int64_t v) {
         v1::ReplaceFlagRequest request;
         *request.mutable_flag() = OrdersFlag();
         request.mutable_flag()->set_description("replaced");
         request.set_expected_version(v);
         return r.ReplaceFlag(request, kAlice);
       }},
      {"ArchiveFlag",
       [](ApiRegistry& r, int64_t v) {
         v1::ArchiveFlagRequest request;
         request.set_key("orders");
         request.set_expected_version(v);
         request.set_force(true);  // it serves shadow
         return r.ArchiveFlag(request, kAlice);
       }},
  };
  for (const Case& c : cases) {
    DYNAMIC_SECTION(c.name) {
      Fixture f;
      Create(*f.registry, OrdersFlag());
      {
        v1::AddRuleRequest request =
            AddRuleRequest(RegionRule("us", v1::DUALWRITE));
        REQUIRE(Ok(f.registry->AddRule(request, kAlice)).version() == 2);
      }
      const v1::Flag before = Ok(f.registry->GetFlag("orders"));
      for (int64_t stale : {1, 3}) {
        absl::StatusOr<v1::Flag> result = c.write(*f.registry, stale);
        INFO("expected_version " << stale << ": "
                                 << result.status().ToString());
        CHECK(result.status().code() == absl::StatusCode::kAborted);
        CHECK_THAT(std::string(result.status().message()),
                   Catch::Contains("version 2"));
        CHECK(f.revision() == 2);
        CHECK(MessageDifferencer::Equals(Ok(f.registry->GetFlag("orders")),
                                         before));
      }
      CHECK(History(*f.registry, "orders").size() == 2);

      // The right version goes through.
      v1::Flag written = Ok(c.write(*f.registry, 2));
      CHECK(written.version() == 3);
      CHECK(f.revision() == 3);
    }
  }
}

TEST_CASE("FlagRegistry: ReplaceFlag requires expected_version > 0",
          "[flag_registry]") {
  Fixture f;
  Create(*f.registry, OrdersFlag());
  for (int64_t expected : {0, -1}) {
    v1::ReplaceFlagRequest request;
    *request.mutable_flag() = OrdersFlag();
    request.mutable_flag()->set_description("replaced");
    request.set_expected_version(expected);
    absl::StatusOr<v1::Flag> result = f.registry->ReplaceFlag(request, kAlice);
    INFO("expected_version " << expected << ": "
                             << result.status().ToString());
    CHECK(result.status().code() == absl::StatusCode::kInvalidArgument);
    CHECK_THAT(std::string(result.status().message()),
               Catch::Contains("expected_version"));
  }
  CHECK(f.revision() == 1);

  v1::ReplaceFlagRequest request;
  *request.mutable_flag() = OrdersFlag();
  request.mutable_flag()->set_description("replaced");
  request.mutable_flag()->set_owner("storage-team");
  request.set_expected_version(1);
  v1::Flag replaced = Ok(f.registry->ReplaceFlag(request, kBob));
  CHECK(replaced.version() == 2);
  CHECK(replaced.description() == "replaced");
  CHECK(replaced.owner() == "storage-team");
  CHECK(replaced.updated_by() == "bob");
  std::vector<v1::HistoryEntry> history = History(*f.registry, "orders");
  REQUIRE(history.size() == 2);
  CHECK(history[0].action() == "replace");
  CHECK(history[0].diff_size() == 2);

  // Replacing an unknown flag is NOT_FOUND.
  request.mutable_flag()->set_key("payments");
  CHECK(f.registry->ReplaceFlag(request, kBob).status().code() ==
        absl::StatusCode::kNotFound);
}

// --- rules and segments ------------------------------------------------------------

TEST_CASE("FlagRegistry: rules and the segments they name",
          "[flag_registry]") {
  Fixture f;
  Create(*f.registry, OrdersFlag());

  // A rule naming a segment that does not exist is refused.
  absl::StatusOr<v1::Flag> missing = f.registry->AddRule(
      AddRuleRequest(SegmentRule("internal-testers", v1::DUALWRITE)), kAlice);
  INFO(missing.status().ToString());
  CHECK(missing.status().code() == absl::StatusCode::kInvalidArgument);
  CHECK_THAT(std::string(missing.status().message()),
             Catch::Contains("segment 'internal-testers'"));
  CHECK(f.revision() == 1);
  CHECK(CurrentVersion(*f.registry) == 1);

  v1::Segment segment = CreateSegment(*f.registry, "internal-testers");
  CHECK(segment.version() == 1);
  CHECK(segment.revision() == 2);
  CHECK(segment.updated_by() == "bob");
  CHECK(f.revision() == 2);

  v1::Flag one = Ok(f.registry->AddRule(
      AddRuleRequest(SegmentRule("internal-testers", v1::DUALWRITE)), kAlice));
  CHECK(one.version() == 2);
  CHECK(one.revision() == 3);
  CHECK(RuleIds(one) == std::vector<std::string>{"rule-1"});
  CHECK(History(*f.registry, "orders")[0].action() == "rule-add");

  // Appended by default, inserted at an index, ids never reused while taken.
  v1::Flag two = Ok(f.registry->AddRule(
      AddRuleRequest(RegionRule("eu", v1::DUALWRITE)), kAlice));
  CHECK(RuleIds(two) == std::vector<std::string>{"rule-1", "rule-2"});
  v1::Flag three = Ok(f.registry->AddRule(
      AddRuleRequest(RegionRule("us", v1::OFF), /*index=*/0), kAlice));
  CHECK(RuleIds(three) ==
        std::vector<std::string>{"rule-3", "rule-1", "rule-2"});
  CHECK(three.rules(0).clauses(0).values(0) == "us");
  v1::Rule named = RegionRule("ap", v1::OFF);
  named.set_id("asia");
  v1::Flag four =
      Ok(f.registry->AddRule(AddRuleRequest(named, /*index=*/1), kAlice));
  CHECK(RuleIds(four) ==
        std::vector<std::string>{"rule-3", "asia", "rule-1", "rule-2"});
  CHECK(four.version() == 5);

  // A rule id already taken is refused.
  absl::StatusOr<v1::Flag> duplicate =
      f.registry->AddRule(AddRuleRequest(named), kAlice);
  CHECK(duplicate.status().code() == absl::StatusCode::kInvalidArgument);
  // A rule that skips a stage is refused like a stage move.
  absl::StatusOr<v1::Flag> skip = f.registry->AddRule(
      AddRuleRequest(RegionRule("sa", v1::LIVE)), kAlice);
  CHECK(skip.status().code() == absl::StatusCode::kFailedPrecondition);
  CHECK(CurrentVersion(*f.registry) == 5);

  // The segment cannot go while a rule uses it.
  v1::DeleteSegmentRequest remove_segment;
  remove_segment.set_key("internal-testers");
  absl::StatusOr<v1::Segment> in_use =
      f.registry->DeleteSegment(remove_segment, kBob);
  INFO(in_use.status().ToString());
  CHECK(in_use.status().code() == absl::StatusCode::kFailedPrecondition);
  CHECK_THAT(std::string(in_use.status().message()),
             Catch::Contains("orders (rule rule-1)"));
  CHECK(Ok(f.registry->GetSegment("internal-testers")).version() == 1);
  const int64_t revision = f.revision();

  // Removing an unknown rule is NOT_FOUND and changes nothing.
  v1::RemoveRuleRequest remove_rule;
  remove_rule.set_key("orders");
  remove_rule.set_rule_id("rule-9");
  absl::StatusOr<v1::Flag> unknown = f.registry->RemoveRule(remove_rule, kAlice);
  CHECK(unknown.status().code() == absl::StatusCode::kNotFound);
  CHECK_THAT(std::string(unknown.status().message()),
             Catch::Contains("rule-9"));
  CHECK(f.revision() == revision);
  CHECK(CurrentVersion(*f.registry) == 5);

  remove_rule.set_rule_id("rule-1");
  v1::Flag removed = Ok(f.registry->RemoveRule(remove_rule, kAlice));
  CHECK(RuleIds(removed) == std::vector<std::string>{"rule-3", "asia", "rule-2"});
  CHECK(removed.version() == 6);
  CHECK(History(*f.registry, "orders")[0].action() == "rule-remove");

  // Now the segment can go.
  v1::Segment deleted = Ok(f.registry->DeleteSegment(remove_segment, kBob));
  CHECK(deleted.key() == "internal-testers");
  CHECK(f.registry->GetSegment("internal-testers").status().code() ==
        absl::StatusCode::kNotFound);
  CHECK(f.registry->ListSegments().empty());
  CHECK_FALSE(f.registry->hub().snapshot()->segments.contains(
      "internal-testers"));
  std::vector<v1::HistoryEntry> history =
      History(*f.registry, "internal-testers", /*segment=*/true);
  CHECK(Actions(history) ==
        std::vector<std::string>{"segment-delete", "segment-create"});
  CHECK(Versions(history) == std::vector<int64_t>{2, 1});
  CHECK(history[0].actor() == "bob");
  // A flag of the same key has no history of its own.
  CHECK(f.registry->History("internal-testers", false, 0).status().code() ==
        absl::StatusCode::kNotFound);
  // Deleting it again is NOT_FOUND.
  CHECK(f.registry->DeleteSegment(remove_segment, kBob).status().code() ==
        absl::StatusCode::kNotFound);
}

TEST_CASE("FlagRegistry: segment versions and refusals", "[flag_registry]") {
  Fixture f;
  CreateSegment(*f.registry, "beta");

  v1::CreateSegmentRequest again;
  *again.mutable_segment() = MakeSegment("beta");
  CHECK(f.registry->CreateSegment(again, kBob).status().code() ==
        absl::StatusCode::kAlreadyExists);

  v1::CreateSegmentRequest invalid;
  *invalid.mutable_segment() = MakeSegment("Beta!");
  CHECK(f.registry->CreateSegment(invalid, kBob).status().code() ==
        absl::StatusCode::kInvalidArgument);
  CHECK(f.revision() == 1);

  v1::ReplaceSegmentRequest replace;
  *replace.mutable_segment() = MakeSegment("beta");
  replace.mutable_segment()->add_excluded("user-2");
  replace.set_expected_version(0);
  CHECK(f.registry->ReplaceSegment(replace, kBob).status().code() ==
        absl::StatusCode::kInvalidArgument);
  replace.set_expected_version(2);
  CHECK(f.registry->ReplaceSegment(replace, kBob).status().code() ==
        absl::StatusCode::kAborted);
  replace.set_expected_version(1);
  v1::Segment replaced = Ok(f.registry->ReplaceSegment(replace, kBob));
  CHECK(replaced.version() == 2);
  CHECK(replaced.revision() == 2);
  CHECK(f.revision() == 2);

  // Replacing with the same content is acknowledged without a new version.
  replace.set_expected_version(2);
  v1::Segment same = Ok(f.registry->ReplaceSegment(replace, kBob));
  CHECK(same.version() == 2);
  CHECK(f.revision() == 2);

  v1::DeleteSegmentRequest remove;
  remove.set_key("beta");
  remove.set_expected_version(1);
  CHECK(f.registry->DeleteSegment(remove, kBob).status().code() ==
        absl::StatusCode::kAborted);
  CHECK(f.revision() == 2);
}

// --- kill switch and rollback ----------------------------------------------------

TEST_CASE("FlagRegistry: SetEnabled is the kill switch", "[flag_registry]") {
  Fixture f;
  Create(*f.registry, OrdersFlag());
  SetStage(*f.registry, v1::DUALWRITE);

  v1::SetEnabledRequest request;
  request.set_key("orders");
  request.set_enabled(false);
  v1::Flag disabled = Ok(f.registry->SetEnabled(request, kBob));
  CHECK_FALSE(disabled.enabled());
  CHECK(disabled.version() == 3);
  CHECK(disabled.default_serve().stage() == v1::DUALWRITE);
  CHECK_FALSE(Ok(f.registry->GetFlag("orders")).enabled());
  CHECK_FALSE(
      f.registry->hub().snapshot()->flags.Find("orders")->second->compiled->flag().enabled);

  request.set_enabled(true);
  v1::Flag enabled = Ok(f.registry->SetEnabled(request, kBob));
  CHECK(enabled.enabled());
  CHECK(enabled.version() == 4);
  CHECK(Actions(History(*f.registry, "orders", false, 2)) ==
        std::vector<std::string>{"enable", "disable"});
}

TEST_CASE("FlagRegistry: a plain rollback moves users back to dualwrite, "
          "keeping rules and users below it",
          "[flag_registry]") {
  Fixture f;
  Create(*f.registry, OrdersFlag());
  CreateSegment(*f.registry, "internal-testers");
  SetStage(*f.registry, v1::DUALWRITE);
  SetStage(*f.registry, v1::SHADOW);
  Ok(f.registry->AddRule(
      AddRuleRequest(SegmentRule("internal-testers", v1::LIVE)), kAlice));
  Ok(f.registry->SetRollout(
      RolloutRequest({{v1::LIVE, 5000}, {v1::SHADOW, 95000}}), kAlice));
  REQUIRE(CurrentVersion(*f.registry) == 5);

  v1::RollbackRequest request;
  request.set_key("orders");
  request.set_to_version(0);
  request.set_comment("mismatches");
  v1::Flag back = Ok(f.registry->Rollback(request, kBob));
  CHECK(back.version() == 6);
  // The rollout's live and shadow shares merge: everyone at dualwrite.
  CHECK(back.default_serve().stage() == v1::DUALWRITE);
  REQUIRE(back.rules_size() == 1);
  CHECK(back.rules(0).serve().stage() == v1::DUALWRITE);
  CHECK(back.enabled());
  CHECK(back.old_target() == "postgres-orders");
  // Both databases keep receiving writes: both stay current.
  CHECK_FALSE(back.currency().has_old_stale());
  CHECK_FALSE(back.currency().has_new_stale());

  std::vector<v1::HistoryEntry> history = History(*f.registry, "orders");
  CHECK(history[0].action() == "rollback");
  CHECK(history[0].actor() == "bob");
  CHECK(history[0].comment() == "mismatches");
  CHECK_FALSE(history[0].forced());

  // Nobody is past dualwrite any more: nothing to do.
  v1::Flag again = Ok(f.registry->Rollback(request, kBob));
  CHECK(again.version() == 6);

  // --to off: users who were dual-written now skip new, which goes stale.
  request.set_to_stage(v1::OFF);
  v1::Flag off = Ok(f.registry->Rollback(request, kBob));
  CHECK(off.version() == 7);
  CHECK(off.default_serve().stage() == v1::OFF);
  REQUIRE(off.currency().has_new_stale());
  CHECK(off.currency().new_stale().since_version() == 7);
  CHECK(off.currency().new_stale().why() ==
        "off served to 100% by the default serve");
  CHECK_FALSE(off.currency().has_old_stale());
  // The history's diff says so too.
  history = History(*f.registry, "orders");
  REQUIRE(history[0].diff_size() > 0);
  CHECK(history[0].diff(0) ==
        "new is stale since version 7 (off served to 100% by the default "
        "serve)");
}

TEST_CASE("FlagRegistry: Rollback to an earlier version restores its "
          "configuration as a new version",
          "[flag_registry]") {
  Fixture f;
  Create(*f.registry, OrdersFlag());                      // v1 off
  const v1::Flag v2 = SetStage(*f.registry, v1::DUALWRITE);  // v2
  SetStage(*f.registry, v1::SHADOW);                       // v3
  v1::ReplaceFlagRequest replace;
  *replace.mutable_flag() = OrdersFlag();
  replace.mutable_flag()->mutable_default_serve()->set_stage(v1::SHADOW);
  replace.mutable_flag()->set_description("changed");
  *replace.mutable_flag()->add_rules() = RegionRule("eu", v1::LIVE);
  replace.set_expected_version(3);
  Ok(f.registry->ReplaceFlag(replace, kAlice));             // v4

  v1::RollbackRequest request;
  request.set_key("orders");
  request.set_to_version(2);
  v1::Flag restored = Ok(f.registry->Rollback(request, kBob));
  CHECK(restored.version() == 5);
  CHECK(restored.revision() == 5);
  CHECK(restored.updated_by() == "bob");
  CHECK(restored.default_serve().stage() == v1::DUALWRITE);
  CHECK(restored.description() == "orders table");
  CHECK(restored.rules().empty());
  CHECK(SameConfig(restored, v2));
  CHECK(History(*f.registry, "orders")[0].action() == "rollback");

  // Back to off, then forward to version 4's shadow-with-live-rule: a skip
  // for SetStage, but a rollback is never refused as one. It is refused
  // for what it reads, though: off made new stale, and the live rule would
  // read it.
  request.set_to_version(0);
  request.set_to_stage(v1::OFF);
  Ok(f.registry->Rollback(request, kBob));                  // v6 off
  request.clear_to_stage();
  request.set_to_version(4);
  absl::StatusOr<v1::Flag> refused = f.registry->Rollback(request, kBob);
  REQUIRE(refused.status().code() == absl::StatusCode::kFailedPrecondition);
  CHECK_THAT(std::string(refused.status().message()),
             Catch::Contains("rule rule-1 would read new for 100% of its "
                             "users, but new is stale since version 6"));
  request.set_force(true);
  v1::Flag forward = Ok(f.registry->Rollback(request, kBob));
  CHECK(forward.version() == 7);
  CHECK(forward.default_serve().stage() == v1::SHADOW);
  CHECK(forward.description() == "changed");
  CHECK(RuleIds(forward) == std::vector<std::string>{"rule-1"});
  CHECK(History(*f.registry, "orders")[0].forced());
}

TEST_CASE("FlagRegistry: Rollback to a version that is not an earlier one",
          "[flag_registry]") {
  struct Case {
    int64_t to_version;
    absl::StatusCode code;
  };
  const Case cases[] = {
      {3, absl::StatusCode::kInvalidArgument},   // the current version
      {4, absl::StatusCode::kNotFound},          // not yet made
      {99, absl::StatusCode::kNotFound},
      {-1, absl::StatusCode::kInvalidArgument},
  };
  Fixture f;
  Create(*f.registry, OrdersFlag());
  SetStage(*f.registry, v1::DUALWRITE);
  SetStage(*f.registry, v1::SHADOW);
  for (const Case& c : cases) {
    v1::RollbackRequest request;
    request.set_key("orders");
    request.set_to_version(c.to_version);
    absl::StatusOr<v1::Flag> result = f.registry->Rollback(request, kAlice);
    INFO("to_version " << c.to_version << ": " << result.status().ToString());
    CHECK(result.status().code() == c.code);
    CHECK(f.revision() == 3);
    CHECK(CurrentVersion(*f.registry) == 3);
  }
  v1::RollbackRequest request;
  request.set_key("payments");
  request.set_to_version(0);
  CHECK(f.registry->Rollback(request, kAlice).status().code() ==
        absl::StatusCode::kNotFound);
}

// --- no-op writes, archive ----------------------------------------------------------

TEST_CASE("FlagRegistry: a write that changes nothing makes no version",
          "[flag_registry]") {
  using Write = std::function<absl::StatusOr<v1::Flag>(ApiRegistry&)>;
  struct Case {
    const char* name;
    Write write;
  };
  const std::vector<Case> cases = {
      {"SetStage to the current stage",
       [](ApiRegistry& r) {
         return r.SetStage(StageRequest(v1::DUALWRITE), kBob);
       }},
      {"SetEnabled to the current state",
       [](ApiRegistry& r) {
         v1::SetEnabledRequest request;
         request.set_key("orders");
         request.set_enabled(true);
         return r.SetEnabled(request, kBob);
       }},
      {"ReplaceFlag with the same configuration",
       [](ApiRegistry& r) {
         v1::ReplaceFlagRequest request;
         *request.mutable_flag() = OrdersFlag();
         request.mutable_flag()->mutable_default_serve()->set_stage(
             v1::DUALWRITE);
         request.set_expected_version(2);
         return r.ReplaceFlag(request, kBob);
       }},
  };
  for (const Case& c : cases) {
    DYNAMIC_SECTION(c.name) {
      Fixture f;
      Create(*f.registry, OrdersFlag());
      const v1::Flag before = SetStage(*f.registry, v1::DUALWRITE);
      v1::Flag after = Ok(c.write(*f.registry));
      CHECK(after.version() == 2);
      CHECK(MessageDifferencer::Equals(after, before));
      CHECK(after.updated_by() == "alice");
      CHECK(f.revision() == 2);
      CHECK(f.registry->hub().snapshot()->revision == 2);
      CHECK(History(*f.registry, "orders").size() == 2);
    }
  }
}

TEST_CASE("FlagRegistry: an archived flag is kept but cannot change",
          "[flag_registry]") {
  Fixture f;
  Create(*f.registry, OrdersFlag());
  v1::Flag payments = OrdersFlag();
  payments.set_key("payments");
  Create(*f.registry, payments);

  v1::ArchiveFlagRequest archive;
  archive.set_key("orders");
  archive.set_comment("migration done");
  v1::Flag archived = Ok(f.registry->ArchiveFlag(archive, kAlice));
  CHECK(archived.archived());
  CHECK(archived.version() == 2);
  CHECK(archived.revision() == 3);
  std::vector<v1::HistoryEntry> history = History(*f.registry, "orders");
  CHECK(history[0].action() == "archive");
  CHECK(history[0].comment() == "migration done");

  using Write = std::function<absl::StatusOr<v1::Flag>(ApiRegistry&)>;
  const std::vector<std::pair<const char*, Write>> writes = {
      {"SetStage",
       [](ApiRegistry& r) {
         return r.SetStage(StageRequest(v1::DUALWRITE), kAlice);
       }},
      {"SetStage forced",
       [](ApiRegistry& r) {
         return r.SetStage(StageRequest(v1::LIVE, true), kAlice);
       }},
      {"SetRollout",
       [](ApiRegistry& r) {
         return r.SetRollout(
             RolloutRequest({{v1::DUALWRITE, 5000}, {v1::OFF, 95000}}),
             kAlice);
       }},
      {"SetEnabled",
       [](ApiRegistry& r) {
         v1::SetEnabledRequest request;
         request.set_key("orders");
         request.set_enabled(false);
         return r.SetEnabled(request, kAlice);
       }},
      {"AddRule",
       [](ApiRegistry& r) {
         return r.AddRule(AddRuleRequest(RegionRule("eu", v1::OFF)), kAlice);
       }},
      {"Rollback",
       [](ApiRegistry& r) {
         v1::RollbackRequest request;
         request.set_key("orders");
         request.set_to_version(0);
         return r.Rollback(request, kAlice);
       }},
      {"ReplaceFlag",
       [](ApiRegistry& r) {
         v1::ReplaceFlagRequest request;
         *request.mutable_flag() = OrdersFlag();
         request.set_expected_version(2);
         return r.ReplaceFlag(request, kAlice);
       }},
      {"ArchiveFlag",
       [](ApiRegistry& r) {
         v1::ArchiveFlagRequest request;
         request.set_key("orders");
         return r.ArchiveFlag(request, kAlice);
       }},
  };
  for (const auto& [name, write] : writes) {
    absl::StatusOr<v1::Flag> result = write(*f.registry);
    INFO(name << ": " << result.status().ToString());
    CHECK(result.status().code() == absl::StatusCode::kFailedPrecondition);
    CHECK_THAT(std::string(result.status().message()),
               Catch::Contains("archived"));
  }
  CHECK(f.revision() == 3);

  v1::CreateFlagRequest create;
  *create.mutable_flag() = OrdersFlag();
  CHECK(f.registry->CreateFlag(create, kAlice).status().code() ==
        absl::StatusCode::kAlreadyExists);

  v1::Flag read = Ok(f.registry->GetFlag("orders"));
  CHECK(read.archived());
  CHECK(MessageDifferencer::Equals(read, archived));
  CHECK(Keys(f.registry->ListFlags(false)) ==
        std::vector<std::string>{"payments"});
  CHECK(Keys(f.registry->ListFlags(true)) ==
        std::vector<std::string>{"orders", "payments"});
  CHECK(History(*f.registry, "orders").size() == 2);
}

// --- history, persistence, snapshots ---------------------------------------------

// A whole story on one flag; returns the actions, oldest first.
std::vector<std::string> RunStory(ApiRegistry& registry) {
  Create(registry, OrdersFlag());
  CreateSegment(registry, "internal-testers");
  SetStage(registry, v1::DUALWRITE);
  Ok(registry.AddRule(
      AddRuleRequest(SegmentRule("internal-testers", v1::SHADOW)), kAlice));
  SetStage(registry, v1::SHADOW);
  Ok(registry.SetRollout(
      RolloutRequest({{v1::LIVE, 5000}, {v1::SHADOW, 95000}}), kAlice));
  Ok(registry.SetRollout(
      RolloutRequest({{v1::LIVE, 10000}, {v1::SHADOW, 90000}}), kAlice));
  v1::SetEnabledRequest kill;
  kill.set_key("orders");
  kill.set_enabled(false);
  Ok(registry.SetEnabled(kill, kBob));
  kill.set_enabled(true);
  Ok(registry.SetEnabled(kill, kBob));
  v1::RollbackRequest rollback;
  rollback.set_key("orders");
  rollback.set_to_version(4);
  Ok(registry.Rollback(rollback, kBob));
  v1::Flag payments = OrdersFlag();
  payments.set_key("payments");
  Create(registry, payments);
  v1::ArchiveFlagRequest archive;
  archive.set_key("payments");
  Ok(registry.ArchiveFlag(archive, kAlice));
  return {"create",  "stage",   "rule-add", "stage",   "rollout",
          "rollout", "disable", "enable",   "rollback"};
}

TEST_CASE("FlagRegistry: history is complete and ordered", "[flag_registry]") {
  Fixture f;
  std::vector<std::string> actions = RunStory(*f.registry);
  const int64_t versions = static_cast<int64_t>(actions.size());
  std::reverse(actions.begin(), actions.end());

  std::vector<v1::HistoryEntry> history = History(*f.registry, "orders");
  REQUIRE(static_cast<int64_t>(history.size()) == versions);
  CHECK(Actions(history) == actions);
  for (int64_t i = 0; i < versions; ++i) {
    INFO("entry " << i);
    const v1::HistoryEntry& entry = history[i];
    CHECK(entry.version() == versions - i);  // descending, contiguous
    CHECK(entry.flag_key() == "orders");
    CHECK(entry.after().version() == entry.version());
    CHECK(entry.after().revision() == entry.revision());
    if (i + 1 < versions) {
      CHECK(entry.revision() > history[i + 1].revision());
      // Each entry's before is the previous entry's after.
      CHECK(MessageDifferencer::Equals(entry.before(), history[i + 1].after()));
      CHECK_FALSE(entry.diff().empty());
    }
  }
  CHECK(MessageDifferencer::Equals(history[0].after(),
                                   Ok(f.registry->GetFlag("orders"))));

  CHECK(Versions(History(*f.registry, "orders", false, 3)) ==
        std::vector<int64_t>{9, 8, 7});
  CHECK(Versions(History(*f.registry, "orders", false, 1)) ==
        std::vector<int64_t>{9});
  CHECK(f.registry->History("", false, 0).status().code() ==
        absl::StatusCode::kInvalidArgument);
  CHECK(f.registry->History("carts", false, 0).status().code() ==
        absl::StatusCode::kNotFound);
  CHECK(f.registry->History("carts", true, 0).status().code() ==
        absl::StatusCode::kNotFound);
}

TEST_CASE("FlagRegistry: reopening from the same folder restores everything",
          "[flag_registry]") {
  Fixture f;
  RunStory(*f.registry);
  const int64_t revision = f.revision();
  REQUIRE(revision == 12);
  const std::vector<v1::Flag> flags = f.registry->ListFlags(true);
  const std::vector<v1::Segment> segments = f.registry->ListSegments();
  const std::vector<v1::HistoryEntry> history = History(*f.registry, "orders");
  const std::vector<v1::HistoryEntry> segment_history =
      History(*f.registry, "internal-testers", true);

  f.Reopen();

  CHECK(f.revision() == revision);
  auto snapshot = f.registry->hub().snapshot();
  CHECK(snapshot->revision == revision);
  REQUIRE(snapshot->flags.size() == 2);
  REQUIRE(snapshot->segments.size() == 1);
  REQUIRE(snapshot->segment_records.size() == 1);

  const std::vector<v1::Flag> reopened = f.registry->ListFlags(true);
  REQUIRE(reopened.size() == flags.size());
  for (size_t i = 0; i < flags.size(); ++i) {
    INFO(flags[i].key());
    CHECK(MessageDifferencer::Equals(reopened[i], flags[i]));
    // The snapshot holds the flag compiled from what was stored.
    const auto& entry = snapshot->flags.Find(flags[i].key())->second;
    CHECK(MessageDifferencer::Equals(AsApi(entry->record), flags[i]));
    REQUIRE(entry->compiled != nullptr);
    CHECK(entry->compiled->flag().version == flags[i].version());
    CHECK(entry->compiled->flag().archived == flags[i].archived());
  }
  const v1::Flag& orders = reopened[0];
  CHECK(orders.version() == 9);
  CHECK(orders.default_serve().stage() == v1::SHADOW);
  CHECK(RuleIds(orders) == std::vector<std::string>{"rule-1"});
  CHECK(reopened[1].archived());
  CHECK(Keys(f.registry->ListFlags(false)) ==
        std::vector<std::string>{"orders"});

  const std::vector<v1::Segment> reopened_segments =
      f.registry->ListSegments();
  REQUIRE(reopened_segments.size() == 1);
  CHECK(MessageDifferencer::Equals(reopened_segments[0], segments[0]));
  CHECK(snapshot->segments.at("internal-testers") != nullptr);

  const std::vector<v1::HistoryEntry> reopened_history =
      History(*f.registry, "orders");
  REQUIRE(reopened_history.size() == history.size());
  for (size_t i = 0; i < history.size(); ++i) {
    CHECK(MessageDifferencer::Equals(reopened_history[i], history[i]));
  }
  CHECK(History(*f.registry, "internal-testers", true).size() ==
        segment_history.size());

  // Watch resumes across the restart from the stored changes.
  RecordingSubscriber watcher;
  CHECK_FALSE(f.registry->hub().Subscribe(&watcher, revision - 2));
  REQUIRE(watcher.events.size() == 3);
  CHECK(watcher.events[0].revision() == revision - 1);
  CHECK(watcher.events[0].kind() == v1::WatchEvent::FLAG_UPSERTED);
  CHECK(watcher.events[0].flag().key() == "payments");
  CHECK(watcher.events[1].revision() == revision);
  CHECK(watcher.events[1].kind() == v1::WatchEvent::FLAG_ARCHIVED);
  CHECK(watcher.events[2].kind() == v1::WatchEvent::SYNCED);
  CHECK(watcher.events[2].revision() == revision);
  f.registry->hub().Unsubscribe(&watcher);

  // And writes go on from there.
  v1::Flag next = SetStage(*f.registry, v1::DUALWRITE);
  CHECK(next.version() == 10);
  CHECK(next.revision() == revision + 1);
}

TEST_CASE("FlagRegistry: the snapshot follows the store revision",
          "[flag_registry]") {
  Fixture f;
  CHECK(f.registry->hub().snapshot()->revision == 0);
  RecordingSubscriber watcher;
  REQUIRE(f.registry->hub().Subscribe(&watcher, 0));
  watcher.events.clear();

  // After each write of the story, checked by a hub that counts writes.
  std::vector<std::function<void(ApiRegistry&)>> writes = {
      [](ApiRegistry& r) { Create(r, OrdersFlag()); },
      [](ApiRegistry& r) { CreateSegment(r, "internal-testers"); },
      [](ApiRegistry& r) { SetStage(r, v1::DUALWRITE); },
      [](ApiRegistry& r) {
        Ok(r.AddRule(AddRuleRequest(SegmentRule("internal-testers",
                                                v1::SHADOW)),
                     kAlice));
      },
      [](ApiRegistry& r) { SetStage(r, v1::DUALWRITE); },  // no-op
      [](ApiRegistry& r) {
        v1::RemoveRuleRequest request;
        request.set_key("orders");
        request.set_rule_id("rule-1");
        Ok(r.RemoveRule(request, kAlice));
      },
      [](ApiRegistry& r) {
        v1::DeleteSegmentRequest request;
        request.set_key("internal-testers");
        Ok(r.DeleteSegment(request, kBob));
      },
  };
  const std::vector<int64_t> revisions = {1, 2, 3, 4, 4, 5, 6};
  const std::vector<v1::WatchEvent::Kind> kinds = {
      v1::WatchEvent::FLAG_UPSERTED,    v1::WatchEvent::SEGMENT_UPSERTED,
      v1::WatchEvent::FLAG_UPSERTED,    v1::WatchEvent::FLAG_UPSERTED,
      v1::WatchEvent::FLAG_UPSERTED,    v1::WatchEvent::SEGMENT_DELETED};
  for (size_t i = 0; i < writes.size(); ++i) {
    INFO("write " << i);
    writes[i](*f.registry);
    CHECK(f.revision() == revisions[i]);
    auto snapshot = f.registry->hub().snapshot();
    CHECK(snapshot->revision == f.revision());
    // The snapshot carries the flag as stored.
    CHECK(MessageDifferencer::Equals(
        AsApi(snapshot->flags.Find("orders")->second->record),
        Ok(f.registry->GetFlag("orders"))));
  }
  // One event per new revision, in order, each at its revision.
  REQUIRE(watcher.events.size() == kinds.size());
  for (size_t i = 0; i < kinds.size(); ++i) {
    CHECK(watcher.events[i].kind() == kinds[i]);
    CHECK(watcher.events[i].revision() == static_cast<int64_t>(i + 1));
  }
  f.registry->hub().Unsubscribe(&watcher);
}

TEST_CASE("FlagRegistry: a reader's snapshot stays as it was after a write",
          "[flag_registry]") {
  Fixture f;
  Create(*f.registry, OrdersFlag());
  std::shared_ptr<const Snapshot> held = f.registry->hub().snapshot();
  const std::shared_ptr<const FlagEntry> held_orders = held->flags.Find("orders")->second;
  const std::string held_bytes = AsApi(held_orders->record).SerializeAsString();

  SetStage(*f.registry, v1::DUALWRITE);
  CreateSegment(*f.registry, "internal-testers");
  v1::Flag payments = OrdersFlag();
  payments.set_key("payments");
  Create(*f.registry, payments);

  std::shared_ptr<const Snapshot> now = f.registry->hub().snapshot();
  CHECK(now != held);
  CHECK(now->revision == 4);
  CHECK(AsApi(now->flags.Find("orders")->second->record).default_serve().stage() ==
        v1::DUALWRITE);
  CHECK(now->flags.size() == 2);
  CHECK(now->segment_records.size() == 1);

  // The held snapshot is exactly what it was.
  CHECK(held->revision == 1);
  CHECK(held->flags.size() == 1);
  CHECK(held->segment_records.empty());
  CHECK(held->segments.empty());
  CHECK(held->flags.Find("orders")->second == held_orders);
  CHECK(AsApi(held_orders->record).SerializeAsString() == held_bytes);
  CHECK(AsApi(held_orders->record).default_serve().stage() == v1::OFF);
  CHECK(held_orders->compiled->flag().default_serve.stage == Stage::kOff);
  CHECK(AsApi(held_orders->record).version() == 1);
}

}  // namespace
}  // namespace cutover

namespace cutover {
namespace {

TEST_CASE("FlagRegistry: a verified reverse backfill makes old current "
          "again, as a version of its own",
          "[flag_registry][currency]") {
  Fixture f;
  Create(*f.registry, OrdersFlag());
  for (v1::Stage stage : {v1::DUALWRITE, v1::SHADOW, v1::LIVE, v1::RAMPDOWN,
                          v1::COMPLETE}) {
    SetStage(*f.registry, stage);
  }
  REQUIRE(Ok(f.registry->GetFlag("orders")).currency().has_old_stale());
  v1::RollbackRequest rollback;
  rollback.set_key("orders");
  CHECK(f.registry->Rollback(rollback, kBob).status().code() ==
        absl::StatusCode::kFailedPrecondition);
  rollback.set_to_stage(v1::RAMPDOWN);
  Ok(f.registry->Rollback(rollback, kBob));  // v7
  rollback.clear_to_stage();

  FlagRegistry& registry = f.registry->registry();
  StartBackfillCommand start;
  start.flag_key = "orders";
  start.direction = BackfillDirection::kReverse;
  BackfillJob job = Ok(registry.StartBackfill(start, kAlice));
  job = Ok(registry.CheckpointBackfill(PageOf(job, 10, true), kAlice));
  REQUIRE(job.phase == BackfillPhase::kVerifying);
  // Copied, not verified: old is still stale.
  CHECK(Ok(f.registry->GetFlag("orders")).version() == 7);
  job = Ok(registry.CheckpointBackfill(PageOf(job, 10, true), kAlice));
  REQUIRE(job.phase == BackfillPhase::kDone);

  const v1::Flag flag = Ok(f.registry->GetFlag("orders"));
  CHECK(flag.version() == 8);
  CHECK_FALSE(flag.currency().has_old_stale());
  CHECK(flag.default_serve().stage() == v1::RAMPDOWN);
  const std::vector<v1::HistoryEntry> history = History(*f.registry, "orders");
  CHECK(history[0].action() == "backfill-verified");
  REQUIRE(history[0].diff_size() > 0);
  CHECK(history[0].diff(0) ==
        "old is current again (a verified reverse backfill, new -> old)");

  // The plain rollback now lands, and stays landed across a restart.
  CHECK(Ok(f.registry->Rollback(rollback, kBob)).default_serve().stage() ==
        v1::DUALWRITE);
  f.Reopen();
  const v1::Flag reopened = Ok(f.registry->GetFlag("orders"));
  CHECK(reopened.version() == 9);
  CHECK_FALSE(reopened.has_currency());
}

TEST_CASE("FlagRegistry: a segment change that could move dual-written "
          "users to off is refused and changes nothing",
          "[flag_registry][currency]") {
  Fixture f;
  Create(*f.registry, OrdersFlag());  // default off
  CreateSegment(*f.registry, "internal-testers");
  Ok(f.registry->AddRule(
      AddRuleRequest(SegmentRule("internal-testers", v1::DUALWRITE)), kAlice));
  const int64_t revision = f.revision();

  // Adding members moves them from off to dualwrite: fine.
  v1::ReplaceSegmentRequest replace;
  *replace.mutable_segment() = MakeSegment("internal-testers");
  replace.mutable_segment()->add_included("user-3");
  replace.set_expected_version(1);
  Ok(f.registry->ReplaceSegment(replace, kBob));
  CHECK(f.revision() == revision + 1);

  // Removing one would send a dual-written user back to off.
  *replace.mutable_segment() = MakeSegment("internal-testers");
  replace.set_expected_version(2);
  const absl::StatusOr<v1::Segment> refused =
      f.registry->ReplaceSegment(replace, kBob);
  REQUIRE(refused.status().code() == absl::StatusCode::kFailedPrecondition);
  CHECK_THAT(std::string(refused.status().message()),
             Catch::Contains("flag orders dual-writes 100% of rule rule-1: "
                             "users removed from segment internal-testers "
                             "may get off"));
  CHECK(f.revision() == revision + 1);
  CHECK(Ok(f.registry->GetSegment("internal-testers")).version() == 2);
  CHECK_FALSE(Ok(f.registry->GetFlag("orders")).has_currency());

  // Moved on the flag instead, the history and the currency record it.
  v1::RemoveRuleRequest remove;
  remove.set_key("orders");
  remove.set_rule_id("rule-1");
  CHECK(Ok(f.registry->RemoveRule(remove, kAlice)).currency().has_new_stale());
}

}  // namespace
}  // namespace cutover
