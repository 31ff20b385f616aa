// cutoverctl version against the real cutoverd: the client's and the
// server's version (the project's one version), the store revision and
// uptime the daemon reports (Admin.GetServerInfo), -o json and yaml,
// --client without a daemon, and an unreachable daemon (the client's
// version, then the usual one-line error and exit code 1).
#include <catch2/catch.hpp>

#include <algorithm>
#include <string>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "client/version.h"
#include "google/protobuf/struct.pb.h"
#include "google/protobuf/util/json_util.h"
#include "tests/integration/cli_fixture.h"
#include "tests/integration/harness.h"

namespace cutover::testing {
namespace {

// The version of the client library linked here, cutoverctl's too.
std::string ClientVersion() { return std::string(Version()); }

std::string ClientLine() {
  return absl::StrCat("Client Version: ", ClientVersion(), "\n");
}

TEST_CASE_METHOD(CliFixture, "version prints the client's and the server's "
                             "version, revision and start",
                 "[cli][version]") {
  const std::string before = Ok({"version"});
  CHECK(absl::StartsWith(before, ClientLine()));
  CHECK(absl::StrContains(
      before, absl::StrCat("\nServer Version: ", ClientVersion(), "\n")));
  CHECK(absl::StrContains(before, "\nStore Revision: 0\n"));
  CHECK(absl::StrContains(before, "\nServer Started: "));
  CHECK(absl::StrContains(before, " (up "));

  Ok({"flags", "create", "orders", "--old", "pg", "--new", "ddb"});
  CHECK(absl::StrContains(Ok({"version"}), "\nStore Revision: 1\n"));

  // JSON: one object, the server part in the API's JSON mapping.
  google::protobuf::Struct json;
  REQUIRE(google::protobuf::util::JsonStringToMessage(
              Ok({"version", "-o", "json"}), &json)
              .ok());
  CHECK(json.fields().at("client_version").string_value() ==
        ClientVersion());
  const auto& server = json.fields().at("server").struct_value().fields();
  CHECK(server.at("version").string_value() == ClientVersion());
  CHECK(server.at("revision").string_value() == "1");  // int64 as a string
  CHECK(server.count("start_time") == 1);
  CHECK(server.count("uptime_seconds") == 1);

  // YAML: the same fields.
  const std::string yaml = Ok({"version", "-o", "yaml"});
  CHECK(absl::StartsWith(yaml, absl::StrCat("client_version: ",
                                            ClientVersion(), "\nserver:\n  ")));
  CHECK(absl::StrContains(yaml, absl::StrCat("\n  version: ")));
  CHECK(absl::StrContains(yaml, "\n  revision: 1"));
}

TEST_CASE("version --client prints the client's version without a daemon",
          "[cli][version]") {
  // Nothing listens on port 1, and the token file does not exist: neither
  // is looked at.
  const RunResult result =
      RunCli("127.0.0.1:1", {"version", "--client", "--token-file",
                             "/nonexistent/token"});
  INFO(result.err);
  CHECK(result.exit_code == 0);
  CHECK(result.out == ClientLine());
  CHECK(result.err.empty());
}

TEST_CASE("version with the daemon unreachable prints the client's version "
          "and fails with one line",
          "[cli][version]") {
  RunResult result = RunCli("127.0.0.1:1", {"version"});
  CHECK(result.exit_code == 1);
  CHECK(result.out == ClientLine());
  CHECK(absl::StartsWith(result.err, "cutoverctl: "));
  CHECK(absl::StrContains(result.err, "cannot reach cutoverd at 127.0.0.1:1"));
  CHECK(std::count(result.err.begin(), result.err.end(), '\n') == 1);

  // In JSON, the client's part alone, then the same error.
  result = RunCli("127.0.0.1:1", {"version", "-o", "json"});
  CHECK(result.exit_code == 1);
  google::protobuf::Struct json;
  REQUIRE(google::protobuf::util::JsonStringToMessage(result.out, &json).ok());
  CHECK(json.fields().at("client_version").string_value() == ClientVersion());
  CHECK(json.fields().count("server") == 0);
  CHECK(std::count(result.err.begin(), result.err.end(), '\n') == 1);
}

}  // namespace
}  // namespace cutover::testing
