// One version everywhere: cutover::Version() and `cutoverctl --version`
// report project(VERSION ...) (CUTOVER_PROJECT_VERSION, set by
// tests/CMakeLists.txt). cutoverd --version and the installed programs are
// checked by tests/package/deb_test.sh.
#include <catch2/catch.hpp>
#include <sstream>
#include <string>

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

}  // namespace
}  // namespace cutover::cli
