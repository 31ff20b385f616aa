// cutoverctl's commands: parses the command line with CLI11, calls the
// daemon's Admin and Evaluation APIs over gRPC, prints the result.
//
// Exit codes: 0 success; 2 bad usage or input the server rejected
// (INVALID_ARGUMENT, FAILED_PRECONDITION, ALREADY_EXISTS, NOT_FOUND,
// ABORTED, OUT_OF_RANGE); 1 a server or connection error (anything else).
// Every failure prints one line to stderr.
#ifndef CUTOVER_CLI_COMMANDS_H_
#define CUTOVER_CLI_COMMANDS_H_

#include <ostream>

#include "absl/status/status.h"

namespace cutover::cli {

// Runs cutoverctl with `argv`, printing results to `out` and errors to
// `err`; returns the process exit code.
int Run(int argc, char** argv, std::ostream& out, std::ostream& err);

// The exit code for a failed call's status (see above).
int ExitCodeFor(absl::StatusCode code);

}  // namespace cutover::cli

#endif  // CUTOVER_CLI_COMMANDS_H_
