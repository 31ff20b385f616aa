// cutoverctl version: the version of this cutoverctl (the client library it
// is built with) and of the cutoverd it talks to, with the store revision
// that daemon serves and how long it has been up (Admin.GetServerInfo).
// `--client` prints the client's alone and does not connect. When the
// daemon cannot be reached the client's version is still printed, then the
// usual one-line error (exit code 1).
//
// One per run; registers with CLI11 and must outlive the parse and the
// chosen command.
#ifndef CUTOVER_CLI_VERSION_COMMAND_H_
#define CUTOVER_CLI_VERSION_COMMAND_H_

#include "CLI/CLI.hpp"
#include "absl/status/status.h"
#include "cli/command_context.h"

namespace cutover::cli {

class VersionCommand {
 public:
  explicit VersionCommand(CommandContext& context) : context_(context) {}
  VersionCommand(const VersionCommand&) = delete;
  VersionCommand& operator=(const VersionCommand&) = delete;

  // Adds "version".
  void Register(CLI::App& app);

 private:
  absl::Status Show();

  CommandContext& context_;
  bool client_only_ = false;
};

}  // namespace cutover::cli

#endif  // CUTOVER_CLI_VERSION_COMMAND_H_
