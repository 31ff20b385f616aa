// cutoverctl flags: create, get, list, gates, fallback, archive, enable,
// disable.
//
// One per run; registers with CLI11 and must outlive the parse and the
// chosen command.
#ifndef CUTOVER_CLI_FLAG_COMMANDS_H_
#define CUTOVER_CLI_FLAG_COMMANDS_H_

#include <cstdint>
#include <functional>
#include <limits>
#include <optional>
#include <string>
#include <vector>

#include "CLI/CLI.hpp"
#include "absl/status/status.h"
#include "cli/command_context.h"

namespace cutover::cli {

// A flag's gates as the command line sets them; unset options leave the
// flag's gate as it is.
struct GateOptions {
  bool require_backfill = false;
  bool no_require_backfill = false;
  // Not given while they hold these values (any value given goes to the
  // daemon, which checks it).
  double max_mismatch_rate = std::numeric_limits<double>::quiet_NaN();
  int64_t min_samples = std::numeric_limits<int64_t>::min();
  bool clear = false;
};

struct FlagOptions {
  std::string key;
  // flags create
  std::string old_target, new_target, description, owner, bucket_by, stage;
  std::string fallback_stage;  // flags create, flags fallback
  std::vector<std::string> tags;
  double compare_rate = -1;  // not given while negative
  bool disabled = false;
  // flags list
  bool all = false;
  GateOptions gates;
  WriteOptions write;
};

class FlagCommands {
 public:
  explicit FlagCommands(CommandContext& context) : context_(context) {}
  FlagCommands(const FlagCommands&) = delete;
  FlagCommands& operator=(const FlagCommands&) = delete;

  // Adds "flags" and its subcommands.
  void Register(CLI::App& app);

 private:
  absl::Status Create();
  absl::Status Get();
  absl::Status List();
  // Reads the flag, checks --expected-version, applies `edit` and replaces
  // the flag with the result (printing it).
  absl::Status EditFlag(const std::function<void(v1::Flag&)>& edit,
                        const std::string& default_comment, bool force);
  absl::Status SetGates();
  absl::Status SetFallback();
  absl::Status Archive();
  absl::Status SetEnabled(bool enabled);

  CommandContext& context_;
  FlagOptions options_;
};

}  // namespace cutover::cli

#endif  // CUTOVER_CLI_FLAG_COMMANDS_H_
