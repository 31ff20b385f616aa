// cutoverctl decide, split and status: what a flag serves a user, how a
// range of users splits across stages, and how a flag's migration is going.
// Reads only.
//
// One per run; registers with CLI11 and must outlive the parse and the
// chosen command.
#ifndef CUTOVER_CLI_DECIDE_COMMANDS_H_
#define CUTOVER_CLI_DECIDE_COMMANDS_H_

#include <string>
#include <vector>

#include "CLI/CLI.hpp"
#include "absl/status/status.h"
#include "cli/command_context.h"

namespace cutover::cli {

struct DecideOptions {
  std::string key;                      // status: empty for every active flag
  std::string user;                     // decide --user
  std::string prefix;                   // split --prefix ("u-" when empty)
  int users = 0;                        // split --users
  std::vector<std::string> attributes;  // --attr NAME=VALUE
};

class DecideCommands {
 public:
  explicit DecideCommands(CommandContext& context) : context_(context) {}
  DecideCommands(const DecideCommands&) = delete;
  DecideCommands& operator=(const DecideCommands&) = delete;

  // Adds "decide", "split" and "status".
  void Register(CLI::App& app);

 private:
  absl::Status Decide();
  absl::Status Split();
  absl::Status ShowStatus();

  CommandContext& context_;
  DecideOptions options_;
};

}  // namespace cutover::cli

#endif  // CUTOVER_CLI_DECIDE_COMMANDS_H_
