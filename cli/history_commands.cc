#include "cli/history_commands.h"

#include "cli/parse.h"

namespace cutover::cli {

void HistoryCommands::Register(CLI::App& app) {
  auto* rollback = app.add_subcommand(
      "rollback",
      "users off the new database at once, nothing lost (dualwrite), or "
      "back to an earlier version");
  rollback->add_option("flag", options_.key, "flag key")->required();
  rollback->add_option(
      "--to", options_.to_stage,
      "no user past this stage (default dualwrite: old authoritative, both "
      "written; off makes the new database stale)");
  rollback->add_option("--to-version", options_.to_version,
                       "restore this version's configuration instead");
  rollback->add_flag("--force", options_.force,
                     "go ahead even if users would read a stale database "
                     "(the history records it)");
  rollback->add_option("-m,--comment", options_.comment, "why");
  rollback->callback(
      [this] { context_.command = [this] { return Rollback(); }; });

  auto* history = app.add_subcommand(
      "history", "who changed what and when, newest first");
  history->add_option("key", options_.key,
                      "flag key (or segment key with --segment)")
      ->required();
  history->add_option("--limit", options_.limit, "at most this many entries");
  history->add_flag("--segment", options_.segment, "a segment's history");
  history->callback(
      [this] { context_.command = [this] { return History(); }; });
}

absl::Status HistoryCommands::Rollback() {
  v1::RollbackRequest request;
  request.set_key(options_.key);
  request.set_to_version(options_.to_version);
  if (!options_.to_stage.empty()) {
    auto stage = ParseStageArg(options_.to_stage, "--to");
    if (!stage.ok()) return stage.status();
    request.set_to_stage(*stage);
  }
  request.set_force(options_.force);
  request.set_comment(options_.comment);
  absl::StatusOr<v1::Flag> flag = context_.admin->Rollback(request);
  if (!flag.ok()) return flag.status();
  context_.PrintChanged(*flag);
  return absl::OkStatus();
}

absl::Status HistoryCommands::History() {
  v1::GetHistoryRequest request;
  request.set_key(options_.key);
  request.set_limit(options_.limit);
  request.set_segment(options_.segment);
  absl::StatusOr<v1::GetHistoryResponse> history =
      context_.admin->GetHistory(request);
  if (!history.ok()) return history.status();
  context_.Print(*history);
  return absl::OkStatus();
}

}  // namespace cutover::cli
