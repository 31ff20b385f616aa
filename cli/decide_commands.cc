#include "cli/decide_commands.h"

#include <algorithm>
#include <map>

#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "cli/parse.h"
#include "cli/version_command.h"
#include "convert/convert.h"
#include "core/stage.h"

namespace cutover::cli {

void DecideCommands::Register(CLI::App& app) {
  auto* decide = app.add_subcommand("decide", "ask which database a user gets");
  decide->add_option("flag", options_.key, "flag key")->required();
  decide->add_option("--user", options_.user, "the user's targeting key")
      ->required();
  decide->add_option("--attr", options_.attributes,
                     "NAME=VALUE attribute (repeatable)");
  decide->callback([this] { context_.command = [this] { return Decide(); }; });

  auto* split = app.add_subcommand(
      "split",
      "how users PREFIX0 .. PREFIX<N-1> are split across stages now (a "
      "preview of a rollout, asked of the daemon in batches)");
  split->add_option("flag", options_.key, "flag key")->required();
  split->add_option("--users", options_.users, "how many users")
      ->required()
      ->check(CLI::Range(1, 1000000));
  split->add_option("--prefix", options_.prefix,
                    "targeting key prefix (default u-)");
  split->add_option("--attr", options_.attributes,
                    "NAME=VALUE attribute every user has (repeatable)");
  split->callback([this] { context_.command = [this] { return Split(); }; });

  auto* status = app.add_subcommand(
      "status",
      "a flag's stage or rollout and how its migration is going (every "
      "flag's, without a key)");
  status->add_option("flag", options_.key,
                     "flag key (default: every active flag)");
  status->callback(
      [this] { context_.command = [this] { return ShowStatus(); }; });
}

absl::Status DecideCommands::Decide() {
  auto attributes = ParseAttributeArgs(options_.attributes);
  if (!attributes.ok()) return attributes.status();
  v1::DecideRequest request;
  request.set_flag_key(options_.key);
  request.mutable_context()->set_targeting_key(options_.user);
  for (const auto& [name, value] : *attributes) {
    (*request.mutable_context()->mutable_attributes())[name] = value;
  }
  absl::StatusOr<v1::DecideResponse> response =
      context_.admin->Decide(request);
  if (!response.ok()) return response.status();
  context_.Print(*response);
  return absl::OkStatus();
}

absl::Status DecideCommands::Split() {
  auto attributes = ParseAttributeArgs(options_.attributes);
  if (!attributes.ok()) return attributes.status();
  const std::string prefix = options_.prefix.empty() ? "u-" : options_.prefix;
  const int users = options_.users;
  constexpr int kBatch = 1000;
  std::map<std::string, int> by_stage;
  for (int first = 0; first < users; first += kBatch) {
    v1::DecideBatchRequest request;
    for (int u = first; u < std::min(users, first + kBatch); ++u) {
      v1::DecideRequest* item = request.add_items();
      item->set_flag_key(options_.key);
      item->mutable_context()->set_targeting_key(prefix + std::to_string(u));
      for (const auto& [name, value] : *attributes) {
        (*item->mutable_context()->mutable_attributes())[name] = value;
      }
    }
    absl::StatusOr<v1::DecideBatchResponse> response =
        context_.admin->DecideBatch(request);
    if (!response.ok()) return response.status();
    for (const auto& decision : response->decisions()) {
      ++by_stage[StageName(FromProto(decision.stage()))];
    }
  }
  context_.out << "STAGE      USERS  SHARE\n";
  for (const auto& [stage, count] : by_stage) {
    context_.out << absl::StrFormat("%-10s %5d  %.2f%%\n", stage, count,
                                    100.0 * count / users);
  }
  return absl::OkStatus();
}

absl::Status DecideCommands::ShowStatus() {
  absl::Status status;
  if (options_.key.empty()) {
    absl::StatusOr<v1::ListFlagStatusResponse> statuses =
        context_.admin->ListFlagStatus(v1::ListFlagStatusRequest());
    if (statuses.ok()) context_.Print(*statuses);
    status = statuses.status();
  } else {
    v1::GetFlagStatusRequest request;
    request.set_key(options_.key);
    absl::StatusOr<v1::FlagStatus> flag =
        context_.admin->GetFlagStatus(request);
    if (flag.ok()) context_.Print(*flag);
    status = flag.status();
  }
  if (status.code() != absl::StatusCode::kFailedPrecondition) return status;
  // A read replica keeps no telemetry: it says how it follows instead.
  absl::StatusOr<v1::ServerInfo> info =
      context_.admin->GetServerInfo(v1::GetServerInfoRequest());
  if (!info.ok() || !info->has_replica()) return status;
  if (context_.format != Format::kTable) {
    context_.Print(*info);
    return absl::OkStatus();
  }
  context_.out << ReplicaLine(*info, absl::Now()) << "\n"
               << "flag status (telemetry, gates, ramps) is kept by the "
                  "primary: cutoverctl --server "
               << info->replica().primary() << " status\n";
  return absl::OkStatus();
}

}  // namespace cutover::cli
