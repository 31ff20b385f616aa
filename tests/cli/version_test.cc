// One version everywhere: cutover::Version(), `cutoverctl --version` and
// `cutoverctl version --client` report project(VERSION ...)
// (CUTOVER_PROJECT_VERSION, set by tests/CMakeLists.txt). cutoverd --version and the installed programs are
// checked by tests/package/deb_test.sh.
#include <catch2/catch.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "cli/commands.h"
#include "client/version.h"

namespace cutover::cli {
namespace {

TEST_CASE("the client library and cutoverctl report the project version",
          "[cli][version]") {
  CHECK(cutover::Version() == CUTOVER_PROJECT_VERSION);

  std::ostringstream out, err;
  char program[] = "cutoverctl";
  char flag[] = "--version";
  char* argv[] = {program, flag, nullptr};
  CHECK(Run(2, argv, out, err) == 0);
  CHECK(out.str() == std::string("cutoverctl ") + CUTOVER_PROJECT_VERSION + "\n");
  CHECK(err.str().empty());
}

TEST_CASE("cutoverctl version --client prints the client's version and "
          "connects to nothing",
          "[cli][version]") {
  std::ostringstream out, err;
  // A daemon nowhere and a token file that does not exist: neither is used.
  std::vector<std::string> args = {"cutoverctl", "--server", "127.0.0.1:1",
                                   "--token-file", "/nonexistent/token",
                                   "version", "--client"};
  std::vector<char*> argv;
  for (std::string& arg : args) argv.push_back(arg.data());
  argv.push_back(nullptr);
  CHECK(Run(static_cast<int>(args.size()), argv.data(), out, err) == 0);
  CHECK(out.str() ==
        std::string("Client Version: ") + CUTOVER_PROJECT_VERSION + "\n");
  CHECK(err.str().empty());
}

}  // namespace
}  // namespace cutover::cli
