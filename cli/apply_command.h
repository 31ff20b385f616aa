// cutoverctl apply: makes the daemon's flags and segments match a YAML or
// JSON file (config/flags.example.yaml), printing each difference; with
// --dry-run only prints them. Everything in the file is validated before
// anything changes; segments go first (flags' rules may name them).
//
// One per run; registers with CLI11 and must outlive the parse and the
// chosen command.
#ifndef CUTOVER_CLI_APPLY_COMMAND_H_
#define CUTOVER_CLI_APPLY_COMMAND_H_

#include <string>
#include <vector>

#include "CLI/CLI.hpp"
#include "absl/status/status.h"
#include "cli/command_context.h"
#include "cutover/v1/cutover.pb.h"

namespace cutover::cli {

struct ApplyOptions {
  std::string file;
  bool dry_run = false;
  bool force = false;  // allow stage skips
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
  // The file as a whole: no key twice, every segment a rule names in the
  // file or in the store. INVALID_ARGUMENT with the entry's path.
  absl::Status CheckFileShape(const v1::FlagFile& file) const;
  absl::Status ApplySegment(const v1::Segment& desired);
  absl::Status ApplyFlag(const v1::Flag& desired);
  void PrintDiff(const std::string& what, const std::vector<std::string>& diff);

  CommandContext& context_;
  ApplyOptions options_;
};

}  // namespace cutover::cli

#endif  // CUTOVER_CLI_APPLY_COMMAND_H_
