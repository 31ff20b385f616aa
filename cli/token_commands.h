// cutoverctl token new: a random bearer token and the lines that make
// cutoverd accept it. Nothing is sent to the daemon.
//
// One per run; registers with CLI11 and must outlive the parse and the
// chosen command.
#ifndef CUTOVER_CLI_TOKEN_COMMANDS_H_
#define CUTOVER_CLI_TOKEN_COMMANDS_H_

#include <string>

#include "CLI/CLI.hpp"
#include "absl/status/status.h"
#include "cli/command_context.h"

namespace cutover::cli {

struct TokenOptions {
  std::string name;  // --name: who the token is for
  std::string role;  // --role: reader, operator or admin
};

class TokenCommands {
 public:
  explicit TokenCommands(CommandContext& context) : context_(context) {}
  TokenCommands(const TokenCommands&) = delete;
  TokenCommands& operator=(const TokenCommands&) = delete;

  // Adds "token" and "token new".
  void Register(CLI::App& app);

 private:
  absl::Status New();

  CommandContext& context_;
  TokenOptions options_;
};

}  // namespace cutover::cli

#endif  // CUTOVER_CLI_TOKEN_COMMANDS_H_
