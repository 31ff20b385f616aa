// cutoverctl segments: create, update, get, list, delete named groups of
// users.
//
// One per run; registers with CLI11 and must outlive the parse and the
// chosen command.
#ifndef CUTOVER_CLI_SEGMENT_COMMANDS_H_
#define CUTOVER_CLI_SEGMENT_COMMANDS_H_

#include <string>
#include <vector>

#include "CLI/CLI.hpp"
#include "absl/status/status.h"
#include "cli/command_context.h"

namespace cutover::cli {

struct SegmentOptions {
  std::string key;
  // create and update: users (comma-separated), clauses, description.
  std::string include, exclude;
  std::vector<std::string> clauses;
  std::string description;
  WriteOptions write;
};

class SegmentCommands {
 public:
  explicit SegmentCommands(CommandContext& context) : context_(context) {}
  SegmentCommands(const SegmentCommands&) = delete;
  SegmentCommands& operator=(const SegmentCommands&) = delete;

  // Adds "segments" and its subcommands.
  void Register(CLI::App& app);

 private:
  // create (`create`) or update: `command` tells which options were given
  // (update changes only those).
  absl::Status Write(bool create, const CLI::App& command);
  absl::Status Get();
  absl::Status List();
  absl::Status Delete();

  CommandContext& context_;
  SegmentOptions options_;
};

}  // namespace cutover::cli

#endif  // CUTOVER_CLI_SEGMENT_COMMANDS_H_
