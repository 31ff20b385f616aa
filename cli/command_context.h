// What every cutoverctl command shares in one run: the connection to the
// daemon, the output stream and format, and the command the command line
// chose. The command groups (cli/*_commands.h) register their subcommands
// with CLI11; the chosen subcommand's callback sets `command`, which
// cli::Run calls once the connection is made (or lets the command make it:
// `connect_first`).
//
// Also the options that several groups' writes share (--force,
// --expected-version, -m/--comment).
//
// One per run, used by one thread.
#ifndef CUTOVER_CLI_COMMAND_CONTEXT_H_
#define CUTOVER_CLI_COMMAND_CONTEXT_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <ostream>
#include <string>

#include "CLI/CLI.hpp"
#include "absl/status/status.h"
#include "cli/output.h"
#include "client/admin_client.h"
#include "cutover/v1/cutover.pb.h"
#include "google/protobuf/message.h"

namespace cutover::cli {

struct CommandContext {
  explicit CommandContext(std::ostream& out_stream) : out(out_stream) {}

  // Prints a read result in the chosen format.
  void Print(const google::protobuf::Message& message) const;
  // Prints a changed flag: one line in table form, the flag otherwise.
  void PrintChanged(const v1::Flag& flag) const;
  // Prints a changed segment: one line in table form, the segment otherwise.
  void PrintChanged(const v1::Segment& segment) const;

  std::ostream& out;
  Format format = Format::kTable;
  // Made after parsing, before `command` runs (unless connect_first is
  // false: then by `connect`, when the command calls it).
  std::unique_ptr<AdminClient> admin;
  // The chosen subcommand; set by its CLI11 callback.
  std::function<absl::Status()> command;
  // Whether cli::Run makes `admin` before running `command`. A command
  // that does without the daemon, or prints something before it needs it
  // (`version`), sets it false in its callback and calls `connect`.
  bool connect_first = true;
  // Makes `admin` from the global options (token, TLS, deadline); set by
  // cli::Run before `command` runs.
  std::function<absl::Status()> connect;
};

// Options of commands that change a flag or a segment.
struct WriteOptions {
  bool force = false;
  int64_t expected_version = 0;
  std::string comment;
};

// Adds --force (unless `with_force` is false), --expected-version and
// -m/--comment to `command`.
void AddWriteOptions(CLI::App* command, WriteOptions* options,
                     bool with_force = true);

}  // namespace cutover::cli

#endif  // CUTOVER_CLI_COMMAND_CONTEXT_H_
