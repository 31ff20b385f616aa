#include "cli/backfill_commands.h"

#include "convert/convert.h"

namespace cutover::cli {

void BackfillCommands::Register(CLI::App& app) {
  auto* backfill = app.add_subcommand(
      "backfill",
      "the copy of the old database's rows into the new one (forward), or "
      "of the new one's into the old (reverse)");
  backfill->require_subcommand(1);

  auto* list = backfill->add_subcommand(
      "list", "every flag's backfill jobs, forward and reverse");
  list->callback([this] { context_.command = [this] { return List(); }; });

  constexpr char kReverseHelp[] =
      "the flag's reverse job (new -> old) instead of its forward one";
  auto* status = backfill->add_subcommand(
      "status", "a flag's backfill: phase, rows, mismatches, rate, ETA");
  status->add_option("flag", options_.key, "flag key")->required();
  status->add_flag("--reverse", options_.reverse, kReverseHelp);
  status->callback([this] { context_.command = [this] { return Show(); }; });

  auto* reset = backfill->add_subcommand(
      "reset", "forget a flag's backfill, so the next run starts over");
  reset->add_option("flag", options_.key, "flag key")->required();
  reset->add_flag("--reverse", options_.reverse, kReverseHelp);
  reset->callback([this] { context_.command = [this] { return Reset(); }; });
}

v1::BackfillDirection BackfillCommands::Direction() const {
  return options_.reverse ? v1::REVERSE : v1::FORWARD;
}

absl::Status BackfillCommands::List() {
  absl::StatusOr<v1::ListBackfillsResponse> jobs =
      context_.admin->ListBackfills(v1::ListBackfillsRequest());
  if (!jobs.ok()) return jobs.status();
  context_.Print(*jobs);
  return absl::OkStatus();
}

absl::Status BackfillCommands::Show() {
  v1::GetBackfillRequest request;
  request.set_flag_key(options_.key);
  request.set_direction(Direction());
  absl::StatusOr<v1::BackfillJob> job = context_.admin->GetBackfill(request);
  if (!job.ok()) return job.status();
  context_.Print(*job);
  return absl::OkStatus();
}

absl::Status BackfillCommands::Reset() {
  v1::ResetBackfillRequest request;
  request.set_flag_key(options_.key);
  request.set_direction(Direction());
  absl::StatusOr<v1::BackfillJob> job = context_.admin->ResetBackfill(request);
  if (!job.ok()) return job.status();
  if (context_.format != Format::kTable) {
    context_.Print(*job);
    return absl::OkStatus();
  }
  context_.out << (options_.reverse ? "reverse " : "") << "backfill of "
               << options_.key << " reset (it was "
               << BackfillPhaseName(job->phase()) << ", " << job->rows_copied()
               << " rows copied)\n";
  return absl::OkStatus();
}

}  // namespace cutover::cli
