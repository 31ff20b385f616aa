#include "cli/commands.h"

#include <cstdlib>
#include <fstream>
#include <string>
#include <utility>

#include "CLI/CLI.hpp"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "cli/apply_command.h"
#include "cli/backfill_commands.h"
#include "cli/backup_command.h"
#include "cli/command_context.h"
#include "cli/decide_commands.h"
#include "cli/flag_commands.h"
#include "cli/history_commands.h"
#include "cli/output.h"
#include "cli/ramp_commands.h"
#include "cli/segment_commands.h"
#include "cli/serve_commands.h"
#include "cli/token_commands.h"
#include "cli/version_command.h"
#include "client/admin_client.h"
#include "rpc/channel.h"
#include "client/version.h"

namespace cutover::cli {
namespace {

constexpr char kDefaultServer[] = "127.0.0.1:7400";

// Options every command shares.
struct GlobalOptions {
  std::string server = kDefaultServer;
  std::string output = "table";
  double timeout_seconds = 10;
  std::string actor;
  std::string tls_ca, tls_cert, tls_key;
  std::string token_file;
};

void AddGlobalOptions(CLI::App& app, GlobalOptions* global) {
  app.add_option("--server", global->server,
                 "cutoverd address (env CUTOVER_SERVER)")
      ->envname("CUTOVER_SERVER");
  app.add_option("-o,--output", global->output, "table, json or yaml");
  app.add_option("--timeout", global->timeout_seconds,
                 "seconds to wait for the server (above 0, at most 86400)")
      ->check(CLI::Validator(
          [](std::string& text) -> std::string {
            double seconds = 0;
            if (!absl::SimpleAtod(text, &seconds) || !(seconds > 0) ||
                seconds > 86400) {
              return "must be a number of seconds above 0 and at most "
                     "86400, got '" + text + "'";
            }
            return "";
          },
          "SECONDS"));
  app.add_option("--actor", global->actor,
                 "who is making the change, for the history when the daemon "
                 "runs without auth (env CUTOVER_ACTOR, default $USER); with "
                 "auth, the token's name is recorded")
      ->envname("CUTOVER_ACTOR");
  app.add_option("--tls-ca", global->tls_ca,
                 "PEM CA of the daemon's certificate: connect with TLS");
  app.add_option("--tls-cert", global->tls_cert,
                 "PEM client certificate, for mutual TLS (with --tls-key)");
  app.add_option("--tls-key", global->tls_key, "PEM key of --tls-cert");
  app.add_option("--token-file", global->token_file,
                 "file whose first line is the bearer token (default: the "
                 "CUTOVER_TOKEN environment variable)");
}

// The token from --token-file, else CUTOVER_TOKEN (no trailing newline).
absl::StatusOr<std::string> TokenOf(const GlobalOptions& options) {
  if (options.token_file.empty()) return TokenFromEnvironment();
  return TokenFromFile(options.token_file, "token-file");
}

std::string DefaultActor() {
  const char* user = std::getenv("USER");
  return user != nullptr && *user != '\0' ? user : "cutoverctl";
}

// The admin client the global options describe (TLS files, token).
absl::StatusOr<std::unique_ptr<AdminClient>> Connect(
    const GlobalOptions& global) {
  absl::StatusOr<std::string> token = TokenOf(global);
  if (!token.ok()) return token.status();
  AdminClientOptions options;
  options.channel.server = global.server;
  options.channel.tls_ca_file = global.tls_ca;
  options.channel.tls_cert_file = global.tls_cert;
  options.channel.tls_key_file = global.tls_key;
  options.channel.token = *std::move(token);
  options.deadline = absl::Milliseconds(
      static_cast<int64_t>(global.timeout_seconds * 1000));
  options.actor = global.actor;
  return AdminClient::Create(std::move(options));
}

}  // namespace

int ExitCodeFor(absl::StatusCode code) {
  switch (ClassifyError(code)) {
    case ErrorClass::kNone:
      return 0;
    case ErrorClass::kBadInput:
      return 2;
    case ErrorClass::kServerOrConnection:
      return 1;
  }
  return 1;
}

int Run(int argc, char** argv, std::ostream& out, std::ostream& err) {
  CLI::App app{"cutoverctl: drive cutover migration flags"};
  app.require_subcommand(1);
  // Global options may come after the command too ("flags get x -o json");
  // subcommands inherit this setting.
  app.fallthrough();
  GlobalOptions global;
  global.actor = DefaultActor();
  AddGlobalOptions(app, &global);
  app.set_version_flag("--version",
                       "cutoverctl " + std::string(cutover::Version()));

  CommandContext context(out);
  TokenCommands tokens(context);
  FlagCommands flags(context);
  SegmentCommands segments(context);
  ServeCommands serve(context);
  RampCommands ramps(context);
  BackfillCommands backfill(context);
  DecideCommands decide(context);
  HistoryCommands history(context);
  ApplyCommand apply(context);
  VersionCommand version(context);
  BackupCommand backup_command(context);
  // In the order --help lists them.
  tokens.Register(app);
  flags.Register(app);
  segments.Register(app);
  serve.RegisterRules(app);
  backfill.Register(app);
  serve.RegisterStageAndRollout(app);
  ramps.Register(app);
  decide.Register(app);
  history.Register(app);
  apply.Register(app);
  backup_command.Register(app);
  version.Register(app);

  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e, out, err);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e, out, err);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e, out, err);
  } catch (const CLI::ParseError& e) {
    err << "cutoverctl: " << e.what() << " (see --help)\n";
    return 2;
  }
  auto format = ParseFormat(global.output);
  if (!format.ok()) {
    err << "cutoverctl: " << format.status().message() << "\n";
    return 2;
  }
  context.format = *format;
  context.connect = [&context, &global]() -> absl::Status {
    absl::StatusOr<std::unique_ptr<AdminClient>> admin = Connect(global);
    if (!admin.ok()) return admin.status();
    context.admin = *std::move(admin);
    return absl::OkStatus();
  };
  absl::Status status =
      context.connect_first ? context.connect() : absl::OkStatus();
  if (status.ok()) status = context.command();
  if (status.ok()) return 0;
  err << "cutoverctl: " << absl::StatusCodeToString(status.code()) << ": "
      << status.message() << "\n";
  return ExitCodeFor(status.code());
}

}  // namespace cutover::cli
