// cutoverctl version: the version of this cutoverctl (the client library it
// is built with) and of the cutoverd it talks to, with the store revision
// that daemon serves and how long it has been up (Admin.GetServerInfo).
// `--client` prints the client's alone and does not connect. When the
// daemon cannot be reached the client's version is still printed, then the
// usual one-line error (exit code 1). A read replica adds the line of
// ReplicaLine.
//
// One per run; registers with CLI11 and must outlive the parse and the
// chosen command.
#ifndef CUTOVER_CLI_VERSION_COMMAND_H_
#define CUTOVER_CLI_VERSION_COMMAND_H_

#include <string>

#include "CLI/CLI.hpp"
#include "absl/status/status.h"
#include "absl/time/time.h"
#include "cli/command_context.h"
#include "cutover/v1/cutover.pb.h"

namespace cutover::cli {

// How a read replica follows its primary, in one line: "following
// PRIMARY at revision N, M behind, last heard 2s ago" (or "never heard
// from", "not in sync yet", "disconnected"), as of `now`.
std::string ReplicaLine(const v1::ServerInfo& info, absl::Time now);

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
