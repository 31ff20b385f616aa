// cutoverctl rollback and history: a flag back to off or to an earlier
// version, and who changed what and when.
//
// One per run; registers with CLI11 and must outlive the parse and the
// chosen command.
#ifndef CUTOVER_CLI_HISTORY_COMMANDS_H_
#define CUTOVER_CLI_HISTORY_COMMANDS_H_

#include <cstdint>
#include <string>

#include "CLI/CLI.hpp"
#include "absl/status/status.h"
#include "cli/command_context.h"

namespace cutover::cli {

struct HistoryOptions {
  std::string key;  // a flag's, or with --segment a segment's
  // rollback
  int64_t to_version = 0;  // 0: users back to a stage
  std::string to_stage;    // empty: the data-safe one
  bool force = false;
  std::string comment;
  // history
  int limit = 0;  // 0: every entry
  bool segment = false;
};

class HistoryCommands {
 public:
  explicit HistoryCommands(CommandContext& context) : context_(context) {}
  HistoryCommands(const HistoryCommands&) = delete;
  HistoryCommands& operator=(const HistoryCommands&) = delete;

  // Adds "rollback" and "history".
  void Register(CLI::App& app);

 private:
  absl::Status Rollback();
  absl::Status History();

  CommandContext& context_;
  HistoryOptions options_;
};

}  // namespace cutover::cli

#endif  // CUTOVER_CLI_HISTORY_COMMANDS_H_
