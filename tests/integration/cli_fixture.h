// CliFixture: a real cutoverd with a fresh store (auth off, or as `extra`
// flags say) and cutoverctl pointed at it, for tests that drive the daemon
// the way an operator does.
#ifndef CUTOVER_TESTS_INTEGRATION_CLI_FIXTURE_H_
#define CUTOVER_TESTS_INTEGRATION_CLI_FIXTURE_H_

#include <catch2/catch.hpp>

#include <string>
#include <vector>

#include "cutover/v1/cutover.pb.h"
#include "google/protobuf/util/json_util.h"
#include "tests/integration/harness.h"

namespace cutover::testing {

// A daemon with a fresh store, and cutoverctl pointed at it.
class CliFixture {
 public:
  explicit CliFixture(std::vector<std::string> extra = {})
      : daemon_(dir_.path() + "/data", std::move(extra)) {
    REQUIRE(daemon_.Start());
  }

  RunResult Ctl(const std::vector<std::string>& args) {
    return RunCli(daemon_.address(), args);
  }

  // Runs a command that must succeed; returns its stdout.
  std::string Ok(const std::vector<std::string>& args) {
    RunResult result = Ctl(args);
    INFO("cutoverctl " << Join(args) << "\nstderr: " << result.err);
    REQUIRE(result.exit_code == 0);
    return result.out;
  }

  v1::Flag GetFlag(const std::string& key) {
    v1::Flag flag;
    const std::string json = Ok({"flags", "get", key, "-o", "json"});
    REQUIRE(google::protobuf::util::JsonStringToMessage(json, &flag).ok());
    return flag;
  }

  v1::Decision Decide(const std::string& key, const std::string& user) {
    v1::DecideResponse response;
    const std::string json =
        Ok({"decide", key, "--user", user, "-o", "json"});
    REQUIRE(google::protobuf::util::JsonStringToMessage(json, &response).ok());
    return response.decision();
  }

  static std::string Join(const std::vector<std::string>& args) {
    std::string out;
    for (const auto& arg : args) out += arg + " ";
    return out;
  }

  const TempDir& dir() const { return dir_; }
  DaemonProcess& daemon() { return daemon_; }

 private:
  TempDir dir_;
  DaemonProcess daemon_;
};

}  // namespace cutover::testing

#endif  // CUTOVER_TESTS_INTEGRATION_CLI_FIXTURE_H_
