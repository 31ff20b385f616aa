// cutoverctl ramp: a flag's guarded ramp (docs/ramps.md). `ramp set`
// writes the plan (steps, hold, interval, window, breach action, checks);
// `ramp status` shows where the ramp is and its last analysis; `ramp
// start|pause|resume|abort|skip` control it.
//
// One per run; registers with CLI11 and must outlive the parse and the
// chosen command.
#ifndef CUTOVER_CLI_RAMP_COMMANDS_H_
#define CUTOVER_CLI_RAMP_COMMANDS_H_

#include <cstdint>
#include <string>

#include "CLI/CLI.hpp"
#include "absl/status/status.h"
#include "cli/command_context.h"
#include "cutover/v1/cutover.pb.h"

namespace cutover::cli {

struct RampOptions {
  std::string key;
  std::string steps;
  std::string hold;
  std::string interval = "1m";
  std::string window = "5m";
  std::string on_breach = "pause";
  std::string inconclusive_limit = "0s";
  // Thresholds; a check is in the plan when its option is given.
  std::string max_mismatch_rate, max_new_error_rate, max_error_rate_delta,
      max_p99_latency_ratio;
  int64_t min_samples = 100;
  // A PromQL check: the query, and its threshold as a maximum or a minimum
  // (exactly one of the two with a query).
  std::string promql, promql_max, promql_min;
  bool remove = false;
  WriteOptions write;
};

class RampCommands {
 public:
  explicit RampCommands(CommandContext& context) : context_(context) {}
  RampCommands(const RampCommands&) = delete;
  RampCommands& operator=(const RampCommands&) = delete;

  // Adds "ramp" and its subcommands.
  void Register(CLI::App& app);

 private:
  absl::Status Set();
  // Adds the --promql check to `plan`, if given.
  absl::Status AddPromqlCheck(v1::RampPlan* plan) const;
  absl::Status Status();
  absl::Status Control(v1::RampControl action);
  // The status in the chosen format (a few lines in table form).
  void PrintStatus(const v1::RampStatus& status) const;

  CommandContext& context_;
  RampOptions options_;
};

}  // namespace cutover::cli

#endif  // CUTOVER_CLI_RAMP_COMMANDS_H_
