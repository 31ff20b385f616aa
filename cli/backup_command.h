// cutoverctl backup create DIR: has the daemon write a consistent backup of
// its store into DIR, a new folder on the daemon's host
// (Admin.CreateBackup), and prints the store revision the backup holds.
// The daemon checks DIR (absolute, new, outside its data folder); its
// refusals exit with code 2 like any bad input.
//
// One per run; registers with CLI11 and must outlive the parse and the
// chosen command.
#ifndef CUTOVER_CLI_BACKUP_COMMAND_H_
#define CUTOVER_CLI_BACKUP_COMMAND_H_

#include <string>

#include "CLI/CLI.hpp"
#include "absl/status/status.h"
#include "cli/command_context.h"

namespace cutover::cli {

class BackupCommand {
 public:
  explicit BackupCommand(CommandContext& context) : context_(context) {}
  BackupCommand(const BackupCommand&) = delete;
  BackupCommand& operator=(const BackupCommand&) = delete;

  // Adds "backup" and its subcommand "create".
  void Register(CLI::App& app);

 private:
  absl::Status Create();

  CommandContext& context_;
  std::string dir_;  // the new folder, on the daemon's host
};

}  // namespace cutover::cli

#endif  // CUTOVER_CLI_BACKUP_COMMAND_H_
