// cutoverctl against the real cutoverd: the operator's story of the README,
// output formats, exit codes, and bad input leaving the store unchanged.
#include <catch2/catch.hpp>

#include <algorithm>
#include <fstream>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "cutover/v1/cutover.pb.h"
#include "google/protobuf/util/json_util.h"
#include "tests/integration/cli_fixture.h"
#include "tests/integration/harness.h"
#include "yaml/yaml_message.h"

namespace cutover::testing {
namespace {

TEST_CASE_METHOD(CliFixture, "operator story: create, stage, ramp, rules, "
                             "rollback, history", "[cli]") {
  Ok({"flags", "create", "orders", "--old", "postgres-orders", "--new",
      "dynamodb-orders", "--description", "orders table to DynamoDB"});
  Ok({"stage", "orders", "dualwrite"});
  Ok({"stage", "orders", "shadow"});
  Ok({"rollout", "orders", "live=5", "shadow=95"});

  const std::string table =
      Ok({"decide", "orders", "--user", "u-42", "--attr", "tenant=acme"});
  CHECK(absl::StrContains(table, "stage"));
  CHECK(absl::StrContains(table, "reason   SPLIT (bucket "));
  CHECK(absl::StrContains(table, "version 4"));

  // Who is live at 5% stays live at 10%.
  std::vector<std::string> live_at_5;
  for (int i = 0; i < 60; ++i) {
    const std::string user = "u-" + std::to_string(i);
    if (Decide("orders", user).stage() == v1::LIVE) live_at_5.push_back(user);
  }
  Ok({"rollout", "orders", "live=10", "shadow=90"});
  for (const auto& user : live_at_5) {
    INFO(user);
    CHECK(Decide("orders", user).stage() == v1::LIVE);
  }

  Ok({"segments", "create", "internal", "--include", "u-1,u-2,u-3"});
  Ok({"rules", "add", "orders", "--if", "in_segment internal", "--serve",
      "live"});
  const v1::Decision internal = Decide("orders", "u-2");
  CHECK(internal.stage() == v1::LIVE);
  CHECK(internal.reason() == v1::RULE_MATCH);
  CHECK(internal.rule_id() == "rule-1");

  // Everyone off the new database at once, still dual-written.
  Ok({"rollback", "orders"});
  for (const char* user : {"u-1", "u-2", "u-42", "u-7"}) {
    const v1::Decision d = Decide("orders", user);
    CHECK(d.stage() == v1::DUALWRITE);
    CHECK(d.reads().authoritative() == v1::OLD);
    CHECK(d.writes().secondary() == v1::NEW);
  }

  const std::string history = Ok({"history", "orders"});
  CHECK(absl::StrContains(history, "version 7"));
  CHECK(absl::StrContains(history, "rollback  by test-operator"));
  CHECK(absl::StrContains(history, "create  by test-operator"));
  CHECK(absl::StrContains(history, "default_serve.rollout.splits[0].weight: "
                                   "5000 -> 10000"));

  const v1::Flag flag = GetFlag("orders");
  CHECK(flag.version() == 7);
  CHECK(flag.default_serve().stage() == v1::DUALWRITE);
  REQUIRE(flag.rules_size() == 1);
  CHECK(flag.rules(0).serve().stage() == v1::DUALWRITE);
  CHECK_FALSE(flag.has_currency());
  CHECK(flag.updated_by() == "test-operator");

  v1::Flag from_yaml;
  REQUIRE(YamlToMessage(Ok({"flags", "get", "orders", "-o", "yaml"}),
                        &from_yaml).ok());
  CHECK(from_yaml.version() == 7);
  CHECK(from_yaml.old_target() == "postgres-orders");
}

TEST_CASE_METHOD(CliFixture, "stage skips are refused unless forced",
                 "[cli]") {
  Ok({"flags", "create", "orders", "--old", "a", "--new", "b"});
  RunResult skip = Ctl({"stage", "orders", "live"});
  CHECK(skip.exit_code == 2);
  CHECK(absl::StrContains(skip.err, "FAILED_PRECONDITION"));
  CHECK(absl::StrContains(skip.err, "skips dualwrite, shadow"));
  CHECK(GetFlag("orders").version() == 1);

  Ok({"stage", "orders", "live", "--force", "-m", "drill"});
  CHECK(GetFlag("orders").default_serve().stage() == v1::LIVE);
  CHECK(absl::StrContains(Ok({"history", "orders", "--limit", "1"}),
                          "FORCED"));
  // Backwards is always allowed.
  Ok({"stage", "orders", "off"});
}

// Bad input: exit code 2, one line naming the problem, nothing stored.
TEST_CASE_METHOD(CliFixture, "bad input exits 2 and changes nothing",
                 "[cli]") {
  Ok({"flags", "create", "orders", "--old", "a", "--new", "b"});
  Ok({"stage", "orders", "dualwrite"});
  const int64_t version = GetFlag("orders").version();
  // Bad files for apply.
  auto file = [this](const std::string& name, const std::string& text) {
    const std::string path = dir().path() + "/" + name;
    std::ofstream(path) << text;
    return path;
  };
  const std::string syntax = file("syntax.yaml", "flags:\n  - key: [open\n");
  const std::string unknown =
      file("unknown.yaml", "flags:\n  - key: orders\n    colour: blue\n");
  const std::string wrong_type = file("type.yaml", "flags: 7\n");
  const std::string not_yaml = file("binary.yaml", std::string("\0\1\2x", 4));

  struct Case {
    std::vector<std::string> args;
    std::string message;  // expected in stderr
  };
  const std::vector<Case> cases = {
      // Bad flags and arguments.
      {{"--frobnicate", "flags", "list"}, "--frobnicate"},
      {{"flags", "create", "x", "--old", "a"}, "--new is required"},
      {{"flags", "get"}, "is required"},
      {{"flags", "list", "--timeout", "abc"}, "--timeout"},
      {{"flags", "list", "--timeout", "-1"}, "--timeout"},
      {{"flags", "list", "--timeout", "0"},
       "--timeout: must be a number of seconds above 0 and at most 86400, "
       "got '0'"},
      {{"flags", "list", "--timeout", "1e400"}, "at most 86400"},
      {{"rollback", "orders", "--to", "sideways"},
       "--to: 'sideways' is not one of"},
      {{"flags", "fallback", "orders", "sideways"},
       "stage: 'sideways' is not one of"},
      {{"flags", "list", "-o"}, "--output"},
      {{"history", "orders", "--limit", "x"}, "--limit"},
      {{"rules", "add", "orders", "--if", "tenant in acme"},
       "--serve is required"},
      {{"flags", "list", "--token-file", "/nonexistent/token"},
       "token-file: cannot read"},
      {{"flags", "list", "--tls-ca", "/nonexistent/ca.pem"},
       "tls-ca: cannot read"},
      // Bad files.
      {{"apply", "-f", dir().path()}, "a folder, not a file"},
      {{"apply", "-f", syntax}, "not valid YAML or JSON"},
      {{"apply", "-f", unknown}, "flags[0].colour: unknown field"},
      {{"apply", "-f", wrong_type}, "flags: expected a list"},
      {{"apply", "-f", not_yaml}, "expected a mapping"},
      // Bad values the server or the parser refuses.
      {{"stage", "orders", "sideways"}, "stage: 'sideways' is not one of"},
      {{"rollout", "orders", "live=5", "shadow=90"}, "add up to 95%"},
      {{"rollout", "orders", "live=abc", "shadow=100"}, "not a percentage"},
      {{"rollout", "orders", "live=5", "live=95"}, "given twice"},
      {{"rollout", "orders", "live=5.1234", "shadow=94.8766"},
       "at most 3 decimals"},
      {{"rules", "add", "orders", "--if", "tenant like acme", "--serve",
        "live"},
       "'like' is not an operator"},
      {{"rules", "add", "orders", "--if", "in_segment nosuch", "--serve",
        "dualwrite"},
       "segment 'nosuch' does not exist"},
      {{"rules", "add", "orders", "--if", "email matches (unclosed", "--serve",
        "dualwrite"},
       "rules[0].clauses[0].values[0]"},
      {{"rules", "add", "orders", "--if", "version semver_gt 1.x", "--serve",
        "dualwrite"},
       "rules[0].clauses[0].values[0]"},
      {{"rules", "remove", "orders", "rule-9"}, "has no rule 'rule-9'"},
      {{"decide", "orders", "--user", "u-1", "--attr", "novalue"},
       "is not NAME=VALUE"},
      {{"flags", "create", "orders", "--old", "a", "--new", "b"},
       "already exists"},
      {{"flags", "create", "Bad_Key", "--old", "a", "--new", "b"}, "key:"},
      {{"flags", "create", "same", "--old", "a", "--new", "a"},
       "new_target"},
      {{"stage", "orders", "shadow", "--expected-version", "1"}, "ABORTED"},
      {{"rollback", "orders", "--to-version", "99"}, "to_version"},
      {{"flags", "get", "orders", "-o", "xml"}, "--output"},
      {{"flags", "frobnicate"}, "cutoverctl:"},
      {{"apply", "-f", "/nonexistent/flags.yaml"}, "cannot read"},
  };
  for (const auto& c : cases) {
    RunResult result = Ctl(c.args);
    INFO("cutoverctl " << Join(c.args) << "\nstderr: " << result.err);
    CHECK(result.exit_code == 2);
    CHECK(absl::StrContains(result.err, c.message));
    // One line.
    CHECK(std::count(result.err.begin(), result.err.end(), '\n') == 1);
  }
  CHECK(GetFlag("orders").version() == version);
  CHECK(Ctl({"flags", "get", "same"}).exit_code == 2);
}

TEST_CASE("cutoverctl exits 1 when the server is unreachable", "[cli]") {
  // Port 1 on loopback: nothing listens there.
  RunResult result = RunCli("127.0.0.1:1", {"flags", "list"});
  CHECK(result.exit_code == 1);
  CHECK(absl::StrContains(result.err, "cannot reach cutoverd at 127.0.0.1:1"));
}

TEST_CASE_METHOD(CliFixture, "apply: dry run prints the diff and changes "
                             "nothing, and apply converges", "[cli]") {
  const std::string example =
      std::string(CUTOVER_SOURCE_DIR) + "/config/flags.example.yaml";
  const std::string dry = Ok({"apply", "-f", example, "--dry-run"});
  CHECK(absl::StrContains(dry, "segment internal: create"));
  CHECK(absl::StrContains(dry, "flag orders: create"));
  CHECK(absl::StrContains(dry, "dry run: nothing changed"));
  CHECK(Ctl({"flags", "get", "orders"}).exit_code == 2);  // NOT_FOUND

  Ok({"apply", "-f", example});
  const v1::Flag flag = GetFlag("orders");
  CHECK(flag.version() == 1);
  CHECK(flag.bucket_by() == "tenant_id");
  CHECK(flag.rules(0).id() == "internal-first");

  // Applying again changes nothing.
  const std::string again = Ok({"apply", "-f", example});
  CHECK(absl::StrContains(again, "flag orders: unchanged"));
  CHECK(absl::StrContains(again, "segment internal: unchanged"));
  CHECK(GetFlag("orders").version() == 1);

  // A file that skips a stage is refused, in a dry run too.
  const std::string skip_file = dir().path() + "/skip.yaml";
  {
    std::ofstream out(skip_file);
    out << "flags:\n"
           "  - key: orders\n"
           "    old_target: postgres-orders\n"
           "    new_target: dynamodb-orders\n"
           "    enabled: true\n"
           "    default_serve: {stage: complete}\n";
  }
  RunResult refused = Ctl({"apply", "-f", skip_file, "--dry-run"});
  CHECK(refused.exit_code == 2);
  CHECK(absl::StrContains(refused.err, "skips"));

  // An invalid file names the field and changes nothing.
  const std::string bad_file = dir().path() + "/bad.yaml";
  {
    std::ofstream out(bad_file);
    out << "flags:\n"
           "  - key: orders\n"
           "    old_target: postgres-orders\n"
           "    new_target: dynamodb-orders\n"
           "    default_serve:\n"
           "      rollout:\n"
           "        splits:\n"
           "          - {stage: live, weight: five}\n";
  }
  RunResult bad = Ctl({"apply", "-f", bad_file});
  CHECK(bad.exit_code == 2);
  CHECK(absl::StrContains(
      bad.err, "flags[0].default_serve.rollout.splits[0].weight"));
  CHECK(GetFlag("orders").version() == 1);
}

TEST_CASE_METHOD(CliFixture, "data safety from the command line: currency, "
                             "rollback --to, the kill switch's fallback, "
                             "refusals",
                 "[cli][currency]") {
  Ok({"flags", "create", "pay", "--old", "a", "--new", "b"});
  for (const char* stage :
       {"dualwrite", "shadow", "live", "rampdown", "complete"}) {
    Ok({"stage", "pay", stage});
  }
  // complete makes old stale: flags get, list and status say so.
  std::string get = Ok({"flags", "get", "pay"});
  CHECK(absl::StrContains(get, "currency      old is stale since version 6 "
                               "(complete served to 100% by the default "
                               "serve)"));
  CHECK(absl::StrContains(get, "fallback      rampdown (computed)"));
  CHECK(absl::StrContains(Ok({"flags", "list"}), "old"));
  CHECK(absl::StrContains(Ok({"status", "pay"}), "old is stale since"));

  // Plain rollback is refused with the way back, in one line, exit 2.
  RunResult refused = Ctl({"rollback", "pay"});
  CHECK(refused.exit_code == 2);
  CHECK(std::count(refused.err.begin(), refused.err.end(), '\n') == 1);
  CHECK(absl::StrContains(refused.err, "old is stale since version 6"));
  CHECK(absl::StrContains(refused.err, "rollback --to rampdown"));
  CHECK(absl::StrContains(refused.err, "reverse backfill"));
  CHECK(GetFlag("pay").version() == 6);

  // The kill switch serves rampdown: reads new, writes both.
  Ok({"flags", "disable", "pay"});
  const v1::Decision disabled = Decide("pay", "u1");
  CHECK(disabled.stage() == v1::RAMPDOWN);
  CHECK(disabled.reason() == v1::DISABLED);
  Ok({"flags", "enable", "pay"});

  // A fallback that reads the stale old database is refused; computed is
  // always accepted.
  RunResult bad_fallback = Ctl({"flags", "fallback", "pay", "dualwrite"});
  CHECK(bad_fallback.exit_code == 2);
  CHECK(absl::StrContains(bad_fallback.err, "fallback_stage dualwrite reads "
                                            "old"));
  Ok({"flags", "fallback", "pay", "computed"});
  RunResult bad_stage = Ctl({"rollback", "pay", "--to", "sideways"});
  CHECK(bad_stage.exit_code == 2);
  CHECK(absl::StrContains(bad_stage.err, "--to: 'sideways' is not one of"));

  // The way back starts at rampdown; --force goes further and is recorded.
  CHECK(absl::StrContains(Ok({"rollback", "pay", "--to", "rampdown"}),
                          "default rampdown"));
  Ok({"rollback", "pay", "--force", "-m", "drill"});
  const std::string history = Ok({"history", "pay", "--limit", "1"});
  CHECK(absl::StrContains(history, "FORCED"));
  CHECK(absl::StrContains(history, "forced past gate stale read: the "
                                   "default serve would read old"));
  CHECK(GetFlag("pay").default_serve().stage() == v1::DUALWRITE);

  // Archiving a flag that still serves more than off needs force.
  RunResult archive = Ctl({"flags", "archive", "pay"});
  CHECK(archive.exit_code == 2);
  CHECK(absl::StrContains(archive.err, "FLAG_NOT_FOUND"));
}

TEST_CASE_METHOD(CliFixture, "apply --dry-run refuses a file that reads a "
                             "stale database, as the real run does",
                 "[cli][currency]") {
  Ok({"flags", "create", "orders", "--old", "postgres-orders", "--new",
      "dynamodb-orders"});
  Ok({"stage", "orders", "dualwrite"});
  Ok({"rollback", "orders", "--to", "off"});
  CHECK(GetFlag("orders").currency().has_new_stale());
  Ok({"stage", "orders", "dualwrite"});  // reading old stays allowed
  Ok({"stage", "orders", "shadow"});
  const std::string file = dir().path() + "/live.yaml";
  {
    std::ofstream out(file);
    out << "flags:\n"
           "  - key: orders\n"
           "    old_target: postgres-orders\n"
           "    new_target: dynamodb-orders\n"
           "    enabled: true\n"
           "    default_serve:\n"
           "      rollout:\n"
           "        splits:\n"
           "          - {stage: live, weight: 1000}\n"
           "          - {stage: shadow, weight: 99000}\n";
  }
  for (const bool dry : {true, false}) {
    INFO("dry run " << dry);
    std::vector<std::string> args = {"apply", "-f", file};
    if (dry) args.push_back("--dry-run");
    RunResult result = Ctl(args);
    CHECK(result.exit_code == 2);
    CHECK(absl::StrContains(result.err, "new is stale since version 3"));
  }
  CHECK(GetFlag("orders").version() == 5);
}

TEST_CASE_METHOD(CliFixture, "apply checks the file as a whole before "
                             "changing anything",
                 "[cli][apply]") {
  struct Case {
    const char* name;
    const char* yaml;
    const char* message;
  };
  const std::vector<Case> cases = {
      {"the same segment twice",
       "segments:\n"
       "  - {key: dup, included: [u-1]}\n"
       "  - {key: dup, included: [u-2]}\n",
       "segments[1].key: 'dup' is already the key of segments[0]"},
      {"the same flag twice",
       "flags:\n"
       "  - {key: skip, old_target: a, new_target: b, enabled: true, "
       "default_serve: {stage: dualwrite}}\n"
       "  - {key: skip, old_target: a, new_target: b, enabled: true, "
       "default_serve: {stage: shadow}}\n",
       "flags[1].key: 'skip' is already the key of flags[0]"},
      {"a segment neither in the file nor in the store",
       "segments:\n"
       "  - {key: beta, included: [u-1]}\n"
       "flags:\n"
       "  - key: orders\n"
       "    old_target: a\n"
       "    new_target: b\n"
       "    default_serve: {stage: off}\n"
       "    rules:\n"
       "      - clauses: [{op: IN_SEGMENT, values: [beta, gamma]}]\n"
       "        serve: {stage: off}\n",
       "flags[0].rules[0].clauses[0].values[1]: segment 'gamma' does not "
       "exist"},
      {"one stage skip spelled as five entries",
       "flags:\n"
       "  - {key: skip, old_target: a, new_target: b, enabled: true, "
       "default_serve: {stage: dualwrite}}\n"
       "  - {key: skip, old_target: a, new_target: b, enabled: true, "
       "default_serve: {stage: shadow}}\n"
       "  - {key: skip, old_target: a, new_target: b, enabled: true, "
       "default_serve: {stage: live}}\n"
       "  - {key: skip, old_target: a, new_target: b, enabled: true, "
       "default_serve: {stage: rampdown}}\n"
       "  - {key: skip, old_target: a, new_target: b, enabled: true, "
       "default_serve: {stage: complete}}\n",
       "flags[4].key: 'skip' is already the key of flags[0]"},
      {"a third entry the daemon refuses (a stage skip) after two good ones",
       "segments:\n"
       "  - {key: beta, included: [u-1]}\n"
       "flags:\n"
       "  - {key: first, old_target: a, new_target: b, enabled: true, "
       "default_serve: {stage: dualwrite}}\n"
       "  - {key: third, old_target: a, new_target: b, enabled: true, "
       "default_serve: {stage: live}}\n",
       "apply refused, nothing changed: flags[1] (third): stage move from "
       "off to live skips dualwrite, shadow"},
      {"a field no flag has",
       "flags:\n"
       "  - {key: orders, old_target: a, new_target: b, colour: red, "
       "default_serve: {stage: off}}\n",
       "colour"},
  };
  for (const Case& c : cases) {
    DYNAMIC_SECTION(c.name) {
      const std::string file = dir().path() + "/file.yaml";
      {
        std::ofstream out(file);
        out << c.yaml;
      }
      for (const bool dry : {true, false}) {
        std::vector<std::string> args = {"apply", "-f", file};
        if (dry) args.push_back("--dry-run");
        const RunResult result = Ctl(args);
        INFO("dry run " << dry << "\nstderr: " << result.err);
        CHECK(result.exit_code == 2);
        CHECK(absl::StrContains(result.err, c.message));
        CHECK(result.out.empty());  // refused as a whole
      }
      // Nothing was created.
      CHECK(absl::StrContains(Ok({"flags", "list"}), "KEY"));
      for (const char* key : {"skip", "first", "third"}) {
        CHECK_FALSE(absl::StrContains(Ok({"flags", "list"}), key));
      }
      CHECK(Ctl({"segments", "get", "dup"}).exit_code != 0);
      CHECK(Ctl({"segments", "get", "beta"}).exit_code != 0);
    }
  }
}

TEST_CASE_METHOD(CliFixture, "apply --expected-revision commits only if "
                             "nothing changed since the dry run",
                 "[cli][apply]") {
  const std::string file = dir().path() + "/file.yaml";
  {
    std::ofstream out(file);
    out << "flags:\n"
           "  - {key: orders, old_target: a, new_target: b, enabled: true, "
           "default_serve: {stage: dualwrite}}\n";
  }
  // A fresh store is at revision 0, which is a revision like any other.
  const std::string dry = Ok({"apply", "-f", file, "--dry-run"});
  CHECK(absl::StrContains(dry, "flag orders: create"));
  CHECK(absl::StrContains(dry, "checked at revision 0"));
  Ok({"flags", "create", "carts", "--old", "a", "--new", "b"});
  const RunResult moved =
      Ctl({"apply", "-f", file, "--expected-revision", "0"});
  CHECK(moved.exit_code == 2);
  CHECK(absl::StrContains(moved.err, "ABORTED"));
  CHECK(absl::StrContains(moved.err, "the store is at revision 1, not 0"));
  CHECK(Ctl({"flags", "get", "orders"}).exit_code == 2);

  const std::string applied =
      Ok({"apply", "-f", file, "--expected-revision", "1"});
  CHECK(absl::StrContains(applied, "applied: 1 change at revision 2"));
  CHECK(GetFlag("orders").version() == 1);

  const RunResult negative =
      Ctl({"apply", "-f", file, "--expected-revision", "-1"});
  CHECK(negative.exit_code == 2);
  CHECK(absl::StrContains(negative.err, "--expected-revision: must be a "
                                        "store revision"));
}

}  // namespace
}  // namespace cutover::testing
