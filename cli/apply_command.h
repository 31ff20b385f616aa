// cutoverctl apply: makes the daemon's flags and segments match a YAML or
// JSON file (config/flags.example.yaml) in one Admin.Apply call: the
// daemon checks the whole file and commits all of it as one revision, or
// nothing. Prints each entry's change (or "unchanged"); with --dry-run the
// daemon checks the same and commits nothing, and the revision it checked
// can be given back as --expected-revision.
//
// One per run; registers with CLI11 and must outlive the parse and the
// chosen command.
#ifndef CUTOVER_CLI_APPLY_COMMAND_H_
#define CUTOVER_CLI_APPLY_COMMAND_H_

#include <cstdint>
#include <string>

#include "CLI/CLI.hpp"
#include "absl/status/status.h"
#include "cli/command_context.h"
#include "cutover/v1/cutover.pb.h"

namespace cutover::cli {

struct ApplyOptions {
  std::string file;
  bool dry_run = false;
  bool force = false;  // allow stage skips, broken gates, stale reads
  int64_t expected_revision = -1;  // -1: any
};

class ApplyCommand {
 public:
  explicit ApplyCommand(CommandContext& context) : context_(context) {}
  ApplyCommand(const ApplyCommand&) = delete;
  ApplyCommand& operator=(const ApplyCommand&) = delete;

  // Adds "apply".
  void Register(CLI::App& app);

 private:
  absl::Status Apply();
  void PrintResults(const v1::ApplyResponse& response);

  CommandContext& context_;
  ApplyOptions options_;
};

}  // namespace cutover::cli

#endif  // CUTOVER_CLI_APPLY_COMMAND_H_
