// cutoverctl backfill: list, status and reset of the jobs that copy the old
// database's rows into the new one, or with --reverse the new database's
// into the old one (the copying itself is the client library's
// BackfillDriver, run by the service that owns the data).
//
// One per run; registers with CLI11 and must outlive the parse and the
// chosen command.
#ifndef CUTOVER_CLI_BACKFILL_COMMANDS_H_
#define CUTOVER_CLI_BACKFILL_COMMANDS_H_

#include <string>

#include "CLI/CLI.hpp"
#include "absl/status/status.h"
#include "cli/command_context.h"

namespace cutover::cli {

struct BackfillJobOptions {
  std::string key;       // the flag whose backfill
  bool reverse = false;  // its REVERSE job (new -> old), not the FORWARD one
};

class BackfillCommands {
 public:
  explicit BackfillCommands(CommandContext& context) : context_(context) {}
  BackfillCommands(const BackfillCommands&) = delete;
  BackfillCommands& operator=(const BackfillCommands&) = delete;

  // Adds "backfill" and its subcommands.
  void Register(CLI::App& app);

 private:
  absl::Status List();
  absl::Status Show();
  absl::Status Reset();
  // The job the options name: REVERSE with --reverse, else FORWARD.
  v1::BackfillDirection Direction() const;

  CommandContext& context_;
  BackfillJobOptions options_;
};

}  // namespace cutover::cli

#endif  // CUTOVER_CLI_BACKFILL_COMMANDS_H_
