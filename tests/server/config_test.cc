// Tests of cutoverd's configuration: the defaults, reading the YAML file
// (paths of bad keys, unknown keys refused), every rule with its message,
// and the command-line overrides made from the same description.
#include "server/config.h"

#include <catch2/catch.hpp>

#include <fstream>
#include <functional>
#include <sstream>
#include <string>
#include <vector>

#include "CLI/CLI.hpp"
#include "absl/strings/match.h"
#include "absl/strings/str_join.h"
#include "google/protobuf/descriptor.h"
#include "server/config_flags.h"
#include "tests/integration/harness.h"

namespace cutover {
namespace {

namespace pb = config::v1;
using testing::TempDir;

// `text` written to a config file in `dir`; its path.
std::string ConfigFile(const TempDir& dir, const std::string& text) {
  const std::string path = dir.path() + "/cutoverd.yaml";
  std::ofstream out(path, std::ios::trunc);
  out << text;
  return path;
}

absl::StatusOr<pb::DaemonConfig> Load(const std::string& text) {
  TempDir dir;
  return LoadConfigFile(ConfigFile(dir, text));
}

TEST_CASE("the defaults are the proto's, in the struct the daemon takes",
          "[config]") {
  const DaemonConfig config;
  CHECK(config.data_dir == "./cutover-data");
  CHECK(config.listen == "127.0.0.1:7400");
  CHECK(config.metrics_listen == "127.0.0.1:7401");
  CHECK(config.ready_file.empty());
  CHECK(config.heartbeat_interval == absl::Seconds(10));
  CHECK(config.shutdown_grace == absl::Seconds(5));
  CHECK(config.max_batch == 10000);
  CHECK(config.max_request_bytes == 4 << 20);
  CHECK(config.watch_history == 10000);
  CHECK(config.telemetry_window == absl::Seconds(300));
  CHECK(config.telemetry_slots == 30);
  CHECK(config.max_watch_streams_per_peer == 1000);
  CHECK(config.auth.enabled);
  CHECK(config.auth.tokens.empty());
  CHECK(config.auth.token_file.empty());
  CHECK(config.auth.cert_roles.empty());
  CHECK_FALSE(config.auth.open_evaluation);
  CHECK_FALSE(config.tls.enabled());
  CHECK(ValidateConfig(pb::DaemonConfig()).ok());
}

TEST_CASE("the example config loads and says what the defaults say",
          "[config]") {
  auto loaded =
      LoadConfigFile(CUTOVER_SOURCE_DIR "/config/cutoverd.example.yaml");
  REQUIRE(loaded.ok());
  const DaemonConfig example = ToDaemonConfig(*loaded);
  const DaemonConfig defaults;
  CHECK(example.data_dir == defaults.data_dir);
  CHECK(example.listen == defaults.listen);
  CHECK(example.metrics_listen == defaults.metrics_listen);
  CHECK(example.heartbeat_interval == defaults.heartbeat_interval);
  CHECK(example.shutdown_grace == defaults.shutdown_grace);
  CHECK(example.max_batch == defaults.max_batch);
  CHECK(example.max_request_bytes == defaults.max_request_bytes);
  CHECK(example.watch_history == defaults.watch_history);
  CHECK(example.telemetry_window == defaults.telemetry_window);
  CHECK(example.telemetry_slots == defaults.telemetry_slots);
  CHECK(example.max_watch_streams_per_peer ==
        defaults.max_watch_streams_per_peer);
  CHECK(example.auth.enabled == defaults.auth.enabled);
}

TEST_CASE("the example config shows every key", "[config]") {
  std::ifstream in(CUTOVER_SOURCE_DIR "/config/cutoverd.example.yaml");
  std::stringstream text;
  text << in.rdbuf();
  const auto* descriptor = pb::DaemonConfig::descriptor();
  for (int i = 0; i < descriptor->field_count(); ++i) {
    const std::string name = descriptor->field(i)->name();
    INFO(name);
    CHECK((absl::StrContains(text.str(), "\n" + name + ":") ||
           absl::StrContains(text.str(), "\n# " + name + ":")));
  }
}

TEST_CASE("a config file sets every key", "[config]") {
  auto loaded = Load(R"(
data_dir: /var/lib/cutover
listen: "[::1]:7500"
metrics_listen:
readyFile: /run/cutover.ready
heartbeat_seconds: 0.25
shutdown_grace_seconds: 0
max_batch: 10
max_request_bytes: 2048
watch_history: 5
telemetry_window_seconds: 60
telemetry_slots: 12
max_watch_streams_per_peer: 3
auth: Tokens
tokens:
  - {name: ci, role: ADMIN, env: CUTOVER_TOKEN_CI}
  - {name: bot, role: operator, sha256: abcd}
token_file: /etc/cutover/tokens
open_evaluation: yes
tls: {cert_file: s.pem, key_file: s.key, client_ca_file: ca.pem}
cert_roles:
  - {common_name: deployer, role: reader}
insecure_listen: true
)");
  REQUIRE(loaded.ok());
  const DaemonConfig config = ToDaemonConfig(*loaded);
  CHECK(config.data_dir == "/var/lib/cutover");
  CHECK(config.listen == "[::1]:7500");
  CHECK(config.metrics_listen.empty());  // `key:` with no value: off
  CHECK(config.ready_file == "/run/cutover.ready");
  CHECK(config.heartbeat_interval == absl::Milliseconds(250));
  CHECK(config.shutdown_grace == absl::ZeroDuration());
  CHECK(config.max_batch == 10);
  CHECK(config.max_request_bytes == 2048);
  CHECK(config.watch_history == 5);
  CHECK(config.telemetry_window == absl::Seconds(60));
  CHECK(config.telemetry_slots == 12);
  CHECK(config.max_watch_streams_per_peer == 3);
  CHECK(config.auth.enabled);
  REQUIRE(config.auth.tokens.size() == 2);
  CHECK(config.auth.tokens[0].name == "ci");
  CHECK(config.auth.tokens[0].role == Role::kAdmin);
  CHECK(config.auth.tokens[0].env == "CUTOVER_TOKEN_CI");
  CHECK(config.auth.tokens[1].role == Role::kOperator);
  CHECK(config.auth.tokens[1].sha256_hex == "abcd");
  CHECK(config.auth.token_file == "/etc/cutover/tokens");
  CHECK(config.auth.open_evaluation);
  CHECK(config.tls.cert_file == "s.pem");
  CHECK(config.tls.key_file == "s.key");
  CHECK(config.tls.client_ca_file == "ca.pem");
  REQUIRE(config.auth.cert_roles.size() == 1);
  CHECK(config.auth.cert_roles[0].common_name == "deployer");
  CHECK(config.auth.cert_roles[0].role == Role::kReader);
  CHECK(loaded->insecure_listen());

  auto none = Load("auth: none\n");
  REQUIRE(none.ok());
  CHECK_FALSE(ToDaemonConfig(*none).auth.enabled);
  auto empty = Load("");
  REQUIRE(empty.ok());
  CHECK(ToDaemonConfig(*empty).listen == "127.0.0.1:7400");
}

TEST_CASE("a bad config file is refused naming the key's path", "[config]") {
  struct Case {
    const char* text;
    const char* message;  // after "config PATH: "
  };
  const std::vector<Case> cases = {
      {"listn: x\n", "listn: unknown field of DaemonConfig"},
      {"tls:\n  cert: a\n", "tls.cert: unknown field of Tls"},
      {"tokens:\n  - {name: a, role: reader, hash: x}\n",
       "tokens[0].hash: unknown field of Token"},
      {"cert_roles:\n  - {cn: x}\n", "cert_roles[0].cn: unknown field of CertRole"},
      {"max_batch: ten\n", "max_batch: not an integer: 'ten'"},
      {"telemetry_window_seconds: ten\n",
       "telemetry_window_seconds: not a number: 'ten'"},
      {"open_evaluation: maybe\n", "open_evaluation: not a boolean: 'maybe'"},
      {"auth: sometimes\n", "auth: 'sometimes' is not one of tokens, none"},
      {"tokens:\n  - {name: a, role: boss}\n",
       "tokens[0].role: 'boss' is not one of reader, operator, admin"},
      {"tokens: {name: a}\n", "tokens: expected a list"},
      {"tls: [a]\n", "tls: expected a mapping of fields"},
      {"listen: [a]\n", "listen: expected a single value"},
      {"listen: a\nlisten: b\n", "listen: given twice"},
      {"- a\n", "(top level): expected a mapping of fields"},
      {"listen: [\n", "not valid YAML or JSON"},
      // A rule broken by the file alone.
      {"max_batch: 0\n", "max_batch: must be in [1, 1000000]"},
      {"tokens:\n  - {name: a}\n",
       "tokens[0].role: required (reader, operator or admin)"},
      {"tokens:\n  - {name: a, role: reader}\n  - {name: b}\n",
       "tokens[1].role: required (reader, operator or admin)"},
      {"cert_roles:\n  - {role: reader}\n", "cert_roles[0].common_name: "
                                            "required"},
      {"cert_roles:\n  - {common_name: x}\n",
       "cert_roles[0].role: required (reader, operator or admin)"},
  };
  TempDir dir;
  for (const auto& c : cases) {
    INFO(c.text);
    const std::string path = ConfigFile(dir, c.text);
    auto loaded = LoadConfigFile(path);
    REQUIRE_FALSE(loaded.ok());
    CHECK(loaded.status().code() == absl::StatusCode::kInvalidArgument);
    const std::string expected = "config " + path + ": " + c.message;
    if (absl::StartsWith(c.message, "not valid")) {  // then yaml-cpp's words
      CHECK(absl::StartsWith(loaded.status().message(), expected));
    } else {
      CHECK(loaded.status().message() == expected);
    }
  }
  auto missing = LoadConfigFile(dir.path() + "/missing.yaml");
  CHECK(missing.status().code() == absl::StatusCode::kNotFound);
  CHECK(missing.status().message() ==
        "config " + dir.path() + "/missing.yaml: cannot read");
}

TEST_CASE("every rule refuses with its message", "[config]") {
  struct Case {
    std::function<void(pb::DaemonConfig*)> change;
    const char* message;  // exactly; empty for a config that passes
  };
  const std::vector<Case> cases = {
      {[](auto* c) { c->set_data_dir(""); }, "data_dir: required"},
      {[](auto* c) { c->set_listen(""); }, "listen: required"},
      {[](auto* c) { c->set_metrics_listen(""); }, ""},
      {[](auto* c) { c->set_heartbeat_seconds(0.009); },
       "heartbeat_seconds: must be >= 0.01"},
      {[](auto* c) { c->set_heartbeat_seconds(0.01); }, ""},
      {[](auto* c) { c->set_shutdown_grace_seconds(-0.5); },
       "shutdown_grace_seconds: must be >= 0"},
      {[](auto* c) { c->set_shutdown_grace_seconds(0); }, ""},
      {[](auto* c) { c->set_max_batch(0); },
       "max_batch: must be in [1, 1000000]"},
      {[](auto* c) { c->set_max_batch(1000001); },
       "max_batch: must be in [1, 1000000]"},
      {[](auto* c) { c->set_max_batch(1000000); }, ""},
      {[](auto* c) { c->set_max_request_bytes(1023); },
       "max_request_bytes: must be >= 1024"},
      {[](auto* c) { c->set_watch_history(0); },
       "watch_history: must be >= 1"},
      {[](auto* c) { c->set_telemetry_window_seconds(0.5); },
       "telemetry_window_seconds: must be in [1, 604800]"},
      {[](auto* c) { c->set_telemetry_window_seconds(604801); },
       "telemetry_window_seconds: must be in [1, 604800]"},
      {[](auto* c) { c->set_telemetry_window_seconds(604800); }, ""},
      {[](auto* c) { c->set_telemetry_slots(0); },
       "telemetry_slots: must be in [1, 10000]"},
      {[](auto* c) { c->set_telemetry_slots(10001); },
       "telemetry_slots: must be in [1, 10000]"},
      {[](auto* c) { c->set_max_watch_streams_per_peer(0); },
       "max_watch_streams_per_peer: must be >= 1"},
      {[](auto* c) { c->add_tokens()->set_name("ci"); },
       "tokens[0].role: required (reader, operator or admin)"},
      {[](auto* c) { c->add_cert_roles()->set_role(pb::READER); },
       "cert_roles[0].common_name: required"},
      {[](auto* c) { c->mutable_tls()->set_cert_file("s.pem"); },
       "tls: cert_file and key_file go together"},
      {[](auto* c) { c->mutable_tls()->set_key_file("s.key"); },
       "tls: cert_file and key_file go together"},
      {[](auto* c) { c->mutable_tls()->set_client_ca_file("ca.pem"); },
       "tls.client_ca_file: needs tls.cert_file and tls.key_file"},
      {[](auto* c) {
         auto* role = c->add_cert_roles();
         role->set_common_name("deployer");
         role->set_role(pb::OPERATOR);
         c->mutable_tls()->set_cert_file("s.pem");
         c->mutable_tls()->set_key_file("s.key");
       },
       "cert_roles: need tls.client_ca_file (mutual TLS)"},
      {[](auto* c) {
         c->set_auth(pb::NONE);
         c->set_listen("0.0.0.0:7400");
       },
       "listen: 0.0.0.0:7400 is not a loopback address and auth is none: "
       "anyone who can reach it could change every flag; configure tokens, "
       "or add --insecure-listen if this is really wanted"},
      {[](auto* c) {
         c->set_auth(pb::NONE);
         c->set_listen("0.0.0.0:7400");
         c->set_insecure_listen(true);
       },
       ""},
      {[](auto* c) { c->set_listen("0.0.0.0:7400"); }, ""},  // tokens
      {[](auto* c) { c->set_follow_token_file("follow.token"); },
       "follow_token_file: needs follow (a replica's setting)"},
      {[](auto* c) { c->set_follow_ca_file("ca.pem"); },
       "follow_ca_file: needs follow (a replica's setting)"},
      {[](auto* c) { c->set_follow("cutover-primary"); },
       "follow: must be host:port (e.g. cutover-primary:7400)"},
      {[](auto* c) {
         c->set_follow("cutover-primary:7400");
         c->set_follow_token_file("follow.token");
         c->set_follow_ca_file("ca.pem");
       },
       ""},
      {[](auto* c) {
         c->set_auth(pb::NONE);
         c->set_flagd_sync_listen("0.0.0.0:8015");
       },
       "flagd_sync_listen: 0.0.0.0:8015 is not a loopback address and auth "
       "is none: anyone who can reach it could change every flag; configure "
       "tokens, or add --insecure-listen if this is really wanted"},
      {[](auto* c) {
         c->set_auth(pb::NONE);
         c->set_flagd_evaluation_listen("127.0.0.1:8013");
       },
       ""},
      {[](auto* c) {
         c->set_auth(pb::NONE);
         c->set_listen("[::1]:0");
       },
       ""},
      {[](auto* c) {
         c->set_auth(pb::NONE);
         c->set_listen("localhost:0");
       },
       ""},
  };
  for (size_t i = 0; i < cases.size(); ++i) {
    INFO("case " << i << ": " << cases[i].message);
    pb::DaemonConfig config;
    cases[i].change(&config);
    const absl::Status status = ValidateConfig(config);
    if (std::string(cases[i].message).empty()) {
      CHECK(status.ok());
    } else {
      CHECK(status.code() == absl::StatusCode::kInvalidArgument);
      CHECK(status.message() == cases[i].message);
    }
  }
}

TEST_CASE("every (rule) and (command_line) option is one the code applies",
          "[config]") {
  // A rule on a field type it cannot check would fail here as INTERNAL.
  CHECK(ValidateConfig(pb::DaemonConfig()).ok());
  const auto* descriptor = pb::DaemonConfig::descriptor();
  for (int i = 0; i < descriptor->field_count(); ++i) {
    const auto* field = descriptor->field(i);
    if (!field->options().HasExtension(pb::command_line)) continue;
    INFO(field->name());
    const auto& spec = field->options().GetExtension(pb::command_line);
    CHECK(absl::StartsWith(spec.flag(), "--"));
    CHECK_FALSE(spec.help().empty());
    CHECK_FALSE(field->is_repeated());
  }
}

// Parses `args` (after the program name) with the config options, then
// resolves them over the file at `config_path` (none if empty).
absl::StatusOr<DaemonConfig> Resolve(const std::string& config_path,
                                     std::vector<std::string> args) {
  CLI::App app{"cutoverd"};
  ConfigFlags flags(&app);
  args.insert(args.begin(), "cutoverd");
  std::vector<const char*> argv;
  for (const auto& arg : args) argv.push_back(arg.c_str());
  app.parse(static_cast<int>(argv.size()), argv.data());
  return ResolveConfig(config_path, flags);
}

TEST_CASE("command-line flags override the config file", "[config]") {
  TempDir dir;
  const std::string path = ConfigFile(
      dir,
      "data_dir: /from/file\nlisten: 127.0.0.1:1\nmetrics_listen: "
      "127.0.0.1:2\nready_file: /file.ready\ntoken_file: /file.tokens\n"
      "auth: tokens\nmax_batch: 7\n");
  struct Case {
    std::vector<std::string> args;
    std::function<void(const DaemonConfig&)> check;
  };
  const std::vector<Case> cases = {
      {{}, [](const DaemonConfig& c) {
         CHECK(c.data_dir == "/from/file");
         CHECK(c.listen == "127.0.0.1:1");
         CHECK(c.metrics_listen == "127.0.0.1:2");
         CHECK(c.ready_file == "/file.ready");
         CHECK(c.auth.token_file == "/file.tokens");
         CHECK(c.auth.enabled);
         CHECK(c.max_batch == 7);
       }},
      {{"--data-dir", "/from/flag"},
       [](const DaemonConfig& c) { CHECK(c.data_dir == "/from/flag"); }},
      {{"--listen", "127.0.0.1:9"},
       [](const DaemonConfig& c) { CHECK(c.listen == "127.0.0.1:9"); }},
      {{"--listen", ""},  // empty: not given
       [](const DaemonConfig& c) { CHECK(c.listen == "127.0.0.1:1"); }},
      {{"--metrics-listen", "127.0.0.1:0"},
       [](const DaemonConfig& c) { CHECK(c.metrics_listen == "127.0.0.1:0"); }},
      {{"--metrics-listen", "off"},
       [](const DaemonConfig& c) { CHECK(c.metrics_listen.empty()); }},
      {{"--ready-file", "/flag.ready"},
       [](const DaemonConfig& c) { CHECK(c.ready_file == "/flag.ready"); }},
      {{"--token-file", "/flag.tokens"},
       [](const DaemonConfig& c) {
         CHECK(c.auth.token_file == "/flag.tokens");
       }},
      {{"--auth", "none"},
       [](const DaemonConfig& c) { CHECK_FALSE(c.auth.enabled); }},
      {{"--auth", "none", "--listen", "0.0.0.0:0", "--insecure-listen"},
       [](const DaemonConfig& c) { CHECK(c.listen == "0.0.0.0:0"); }},
  };
  for (const auto& c : cases) {
    INFO(absl::StrJoin(c.args, " "));
    auto resolved = Resolve(path, c.args);
    REQUIRE(resolved.ok());
    c.check(*resolved);
  }

  // Without a file the flags go over the defaults.
  auto no_file = Resolve("", {"--listen", "127.0.0.1:5"});
  REQUIRE(no_file.ok());
  CHECK(no_file->listen == "127.0.0.1:5");
  CHECK(no_file->data_dir == "./cutover-data");
}

TEST_CASE("the flags are checked with the file, and the file on its own",
          "[config]") {
  TempDir dir;
  // The flags' result breaks a rule: the message names the key.
  auto refused = Resolve("", {"--auth", "none", "--listen", "0.0.0.0:0"});
  CHECK(refused.status().code() == absl::StatusCode::kInvalidArgument);
  CHECK(absl::StartsWith(refused.status().message(),
                         "listen: 0.0.0.0:0 is not a loopback address"));
  // A file that breaks a rule is refused even if a flag would mend it.
  std::string path = ConfigFile(dir, "auth: none\nlisten: 0.0.0.0:1\n");
  refused = Resolve(path, {"--listen", "127.0.0.1:0"});
  CHECK(absl::StartsWith(refused.status().message(),
                         "config " + path + ": listen: 0.0.0.0:1 is not"));
  // A bool flag only turns its field on.
  path = ConfigFile(dir, "auth: none\ninsecure_listen: true\n");
  auto kept = Resolve(path, {"--insecure-listen=false", "--listen",
                             "0.0.0.0:0"});
  CHECK(kept.ok());
  // A missing file.
  auto missing = Resolve(dir.path() + "/none.yaml", {});
  CHECK(missing.status().code() == absl::StatusCode::kNotFound);
}

TEST_CASE("the flags are cutoverd's, with their help, in field order",
          "[config]") {
  CLI::App app{"cutoverd"};
  ConfigFlags flags(&app);
  const std::string help = app.help();
  const std::vector<std::string> expected = {
      "--data-dir TEXT", "--listen TEXT", "--metrics-listen TEXT",
      "--ready-file TEXT", "--auth TEXT:{tokens,none}", "--token-file TEXT",
      "--insecure-listen"};
  size_t at = 0;
  for (const auto& flag : expected) {
    INFO(flag << " in\n" << help);
    const size_t found = help.find(flag, at);
    REQUIRE(found != std::string::npos);
    at = found;
  }
  CHECK_THAT(help, Catch::Contains("'off' disables"));

  // An enum flag takes only the enum's values.
  const char* argv[] = {"cutoverd", "--auth", "sometimes"};
  CHECK_THROWS_AS(app.parse(3, argv), CLI::ValidationError);
}

}  // namespace
}  // namespace cutover
