#include "cli/token_commands.h"

#include "credentials/token_hash.h"

namespace cutover::cli {

void TokenCommands::Register(CLI::App& app) {
  auto* tokens = app.add_subcommand("token", "bearer tokens for cutoverd");
  tokens->require_subcommand(1);
  auto* make = tokens->add_subcommand(
      "new", "make a random token and print it with the line that lets "
             "cutoverd accept it (nothing is sent to the daemon)");
  make->add_option("--name", options_.name,
                   "who the token is for (the actor in "
                   "history), e.g. deploy-bot")
      ->required();
  make->add_option("--role", options_.role, "reader, operator or admin")
      ->required()
      ->check(CLI::IsMember({"reader", "operator", "admin"}));
  make->callback([this] { context_.command = [this] { return New(); }; });
}

absl::Status TokenCommands::New() {
  if (options_.name.find_first_of(" \t#") != std::string::npos) {
    return absl::InvalidArgumentError(
        "name: no spaces, tabs or '#' (it is a field of the token file)");
  }
  const std::string token = NewToken();
  if (token.empty()) {
    return absl::InternalError("token: the random generator failed");
  }
  const std::string hash = TokenSha256Hex(token);
  context_.out << "token: " << token << "\n"
               << "token_file line: " << options_.name << " " << options_.role
               << " " << hash << "\n"
               << "config entry: {name: " << options_.name
               << ", role: " << options_.role << ", sha256: " << hash << "}\n";
  return absl::OkStatus();
}

}  // namespace cutover::cli
