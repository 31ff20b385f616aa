// Credentials for tests of daemons that check them: a token per role with
// the token file that accepts them, and the test PKI (CA, server and
// client certificates) made by openssl.
#ifndef CUTOVER_TESTS_INTEGRATION_SECURITY_FIXTURES_H_
#define CUTOVER_TESTS_INTEGRATION_SECURITY_FIXTURES_H_

#include <catch2/catch.hpp>

#include <map>
#include <string>

#include "absl/strings/str_cat.h"
#include "credentials/token_hash.h"
#include "server/auth.h"
#include "tests/integration/harness.h"

namespace cutover::testing {

// Three tokens, one per role (named "<role>-bot"), and the token file
// `dir`/tokens that accepts them.
struct Tokens {
  explicit Tokens(const std::string& dir) : file(dir + "/tokens") {
    std::string lines = "# name role sha256\n";
    for (Role role : {Role::kReader, Role::kOperator, Role::kAdmin}) {
      const std::string token = NewToken();
      by_role[role] = token;
      absl::StrAppend(&lines, RoleName(role), "-bot ", RoleName(role), " ",
                      TokenSha256Hex(token), "\n");
    }
    REQUIRE(ReplaceFile(file, lines));
  }
  std::string file;
  std::map<Role, std::string> by_role;
};

// The test PKI (MakeTestPki, tests/integration/harness.h) in `dir`;
// pki("ca.pem") is a file's path.
struct Pki {
  explicit Pki(const std::string& dir) : dir(dir) {
    const RunResult made = MakeTestPki(dir);
    INFO("openssl: " << made.out << made.err);
    REQUIRE(made.exit_code == 0);
  }
  std::string operator()(const std::string& file) const {
    return dir + "/" + file;
  }
  // The config lines of a daemon serving TLS with the test server
  // certificate ("tls:" and its cert_file and key_file), for a config
  // file; more tls fields may follow.
  std::string ServerTlsConfig() const {
    return absl::StrCat("tls:\n  cert_file: ", (*this)("server.pem"),
                        "\n  key_file: ", (*this)("server.key"), "\n");
  }
  std::string dir;
};

}  // namespace cutover::testing

#endif  // CUTOVER_TESTS_INTEGRATION_SECURITY_FIXTURES_H_
