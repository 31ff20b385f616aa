// cutoverctl stage, rollout and rules: what a flag serves, to everyone not
// matched by a rule (stage, rollout) and to those a rule matches (rules
// add, rules remove).
//
// One per run; registers with CLI11 and must outlive the parse and the
// chosen command.
#ifndef CUTOVER_CLI_SERVE_COMMANDS_H_
#define CUTOVER_CLI_SERVE_COMMANDS_H_

#include <string>
#include <vector>

#include "CLI/CLI.hpp"
#include "absl/status/status.h"
#include "cli/command_context.h"

namespace cutover::cli {

struct ServeOptions {
  std::string key;
  std::string stage;                // stage
  std::vector<std::string> splits;  // rollout: STAGE=PERCENT ...
  // rules add
  std::vector<std::string> clauses;  // --if
  std::string serve;                 // --serve
  std::string rule_id;               // --id; rules remove's RULE
  int index = -1;                    // --index: last when negative
  std::string description;
  WriteOptions write;
};

class ServeCommands {
 public:
  explicit ServeCommands(CommandContext& context) : context_(context) {}
  ServeCommands(const ServeCommands&) = delete;
  ServeCommands& operator=(const ServeCommands&) = delete;

  // Adds "rules" and its subcommands.
  void RegisterRules(CLI::App& app);
  // Adds "stage" and "rollout". (Apart from "rules" so that --help lists
  // the commands in their usual order.)
  void RegisterStageAndRollout(CLI::App& app);

 private:
  absl::Status SetStage();
  absl::Status SetRollout();
  absl::Status AddRule();
  absl::Status RemoveRule();

  CommandContext& context_;
  ServeOptions options_;
};

}  // namespace cutover::cli

#endif  // CUTOVER_CLI_SERVE_COMMANDS_H_
