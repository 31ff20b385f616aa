#include "cli/history_commands.h"

namespace cutover::cli {

void HistoryCommands::Register(CLI::App& app) {
  auto* rollback = app.add_subcommand(
      "rollback", "everyone to off at once, or back to an earlier version");
  rollback->add_option("flag", options_.key, "flag key")->required();
  rollback->add_option("--to-version", options_.to_version,
                       "restore this version's configuration instead");
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
