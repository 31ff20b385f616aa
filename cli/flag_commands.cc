#include "cli/flag_commands.h"

#include <cmath>
#include <utility>

#include "absl/strings/str_cat.h"
#include "cli/parse.h"

namespace cutover::cli {
namespace {

void AddGateOptions(CLI::App* command, GateOptions* options, bool editing) {
  command->add_flag("--require-backfill", options->require_backfill,
                    "refuse shadow and later until the flag's backfill is "
                    "copied, verified and repaired");
  command->add_option("--max-mismatch-rate", options->max_mismatch_rate,
                      "refuse live and later while the last window's "
                      "mismatch rate is above this (0 to 1)");
  command->add_option("--min-samples", options->min_samples,
                      "refuse live and later while the last window compared "
                      "fewer reads than this");
  if (editing) {
    command->add_flag("--no-require-backfill", options->no_require_backfill,
                      "drop the backfill gate");
    command->add_flag("--clear", options->clear,
                      "drop every gate first (then apply the options given)");
  }
}

void ApplyGateOptions(const GateOptions& options, v1::Gates* gates) {
  if (options.clear) gates->Clear();
  if (options.require_backfill) gates->set_require_backfill(true);
  if (options.no_require_backfill) gates->set_require_backfill(false);
  if (!std::isnan(options.max_mismatch_rate)) {
    gates->set_max_mismatch_rate(options.max_mismatch_rate);
  }
  if (options.min_samples != std::numeric_limits<int64_t>::min()) {
    gates->set_min_samples(options.min_samples);
  }
}

}  // namespace

void FlagCommands::Register(CLI::App& app) {
  auto* flags = app.add_subcommand("flags", "create, read and retire flags");
  flags->require_subcommand(1);

  auto* create = flags->add_subcommand("create", "define a migration flag");
  create->add_option("flag", options_.key, "flag key, e.g. orders")->required();
  create->add_option("--old", options_.old_target, "old database name")
      ->required();
  create->add_option("--new", options_.new_target, "new database name")
      ->required();
  create->add_option("--description", options_.description,
                     "what is being migrated");
  create->add_option("--owner", options_.owner, "team or person responsible");
  create->add_option("--tag", options_.tags, "label (repeatable)");
  create->add_option("--bucket-by", options_.bucket_by,
                     "attribute to bucket by (default: the user key)");
  create->add_option("--stage", options_.stage, "first stage (default off)");
  create->add_option("--compare-rate", options_.compare_rate,
                     "share of shadow/live reads compared, 0 to 1 (default 1)");
  create->add_flag("--disabled", options_.disabled,
                   "create with the kill switch on");
  create->add_option("--fallback-stage", options_.fallback_stage,
                     "what the kill switch serves at most (default: "
                     "computed, data-safe)");
  AddGateOptions(create, &options_.gates, /*editing=*/false);
  AddWriteOptions(create, &options_.write);
  create->callback([this] { context_.command = [this] { return Create(); }; });

  auto* get = flags->add_subcommand("get", "show a flag");
  get->add_option("flag", options_.key, "flag key")->required();
  get->callback([this] { context_.command = [this] { return Get(); }; });

  auto* list = flags->add_subcommand("list", "list flags");
  list->add_flag("--all", options_.all, "include archived flags");
  list->callback([this] { context_.command = [this] { return List(); }; });

  auto* gates = flags->add_subcommand(
      "gates", "set the conditions a flag's stage moves must meet");
  gates->add_option("flag", options_.key, "flag key")->required();
  AddGateOptions(gates, &options_.gates, /*editing=*/true);
  AddWriteOptions(gates, &options_.write, /*with_force=*/false);
  gates->callback([this] { context_.command = [this] { return SetGates(); }; });

  auto* fallback = flags->add_subcommand(
      "fallback", "set what the kill switch serves at most");
  fallback->add_option("flag", options_.key, "flag key")->required();
  fallback->add_option("stage", options_.fallback_stage,
                       "a stage, or 'computed' for the data-safe default")
      ->required();
  AddWriteOptions(fallback, &options_.write);
  fallback->callback(
      [this] { context_.command = [this] { return SetFallback(); }; });

  auto* archive = flags->add_subcommand(
      "archive", "retire a flag (served as not found; history kept)");
  archive->add_option("flag", options_.key, "flag key")->required();
  AddWriteOptions(archive, &options_.write);
  archive->callback(
      [this] { context_.command = [this] { return Archive(); }; });

  for (const bool enable : {true, false}) {
    auto* command = flags->add_subcommand(
        enable ? "enable" : "disable",
        enable ? "turn the kill switch off (serve the configured stages)"
               : "kill switch: nobody past the flag's data-safe fallback "
                 "stage, at once");
    command->add_option("flag", options_.key, "flag key")->required();
    AddWriteOptions(command, &options_.write);
    command->callback([this, enable] {
      context_.command = [this, enable] { return SetEnabled(enable); };
    });
  }
}

absl::Status FlagCommands::Create() {
  v1::CreateFlagRequest request;
  v1::Flag* flag = request.mutable_flag();
  flag->set_key(options_.key);
  flag->set_old_target(options_.old_target);
  flag->set_new_target(options_.new_target);
  flag->set_description(options_.description);
  flag->set_owner(options_.owner);
  for (const auto& tag : options_.tags) flag->add_tags(tag);
  flag->set_bucket_by(options_.bucket_by);
  flag->set_enabled(!options_.disabled);
  auto stage = ParseStageArg(options_.stage.empty() ? "off" : options_.stage);
  if (!stage.ok()) return stage.status();
  flag->mutable_default_serve()->set_stage(*stage);
  if (options_.compare_rate >= 0) {
    flag->set_compare_sample_rate(options_.compare_rate);
  }
  ApplyGateOptions(options_.gates, flag->mutable_gates());
  if (!options_.fallback_stage.empty()) {
    auto fallback = ParseStageArg(options_.fallback_stage, "--fallback-stage");
    if (!fallback.ok()) return fallback.status();
    flag->set_fallback_stage(*fallback);
  }
  request.set_force(options_.write.force);
  request.set_comment(options_.write.comment);
  absl::StatusOr<v1::Flag> created = context_.admin->CreateFlag(request);
  if (!created.ok()) return created.status();
  context_.PrintChanged(*created);
  return absl::OkStatus();
}

absl::Status FlagCommands::Get() {
  v1::GetFlagRequest request;
  request.set_key(options_.key);
  absl::StatusOr<v1::Flag> flag = context_.admin->GetFlag(request);
  if (!flag.ok()) return flag.status();
  context_.Print(*flag);
  return absl::OkStatus();
}

absl::Status FlagCommands::List() {
  v1::ListFlagsRequest request;
  request.set_include_archived(options_.all);
  absl::StatusOr<v1::ListFlagsResponse> flags =
      context_.admin->ListFlags(request);
  if (!flags.ok()) return flags.status();
  context_.Print(*flags);
  return absl::OkStatus();
}

absl::Status FlagCommands::EditFlag(
    const std::function<void(v1::Flag&)>& edit,
    const std::string& default_comment, bool force) {
  v1::GetFlagRequest get;
  get.set_key(options_.key);
  absl::StatusOr<v1::Flag> flag = context_.admin->GetFlag(get);
  if (!flag.ok()) return flag.status();
  const int64_t expected = options_.write.expected_version;
  if (expected > 0 && expected != flag->version()) {
    return absl::AbortedError(absl::StrCat("flag ", options_.key,
                                           " is at version ", flag->version(),
                                           ", not ", expected));
  }
  v1::ReplaceFlagRequest request;
  request.set_expected_version(flag->version());
  edit(*flag);
  *request.mutable_flag() = *std::move(flag);
  request.set_force(force);
  request.set_comment(options_.write.comment.empty() ? default_comment
                                                     : options_.write.comment);
  absl::StatusOr<v1::Flag> replaced = context_.admin->ReplaceFlag(request);
  if (!replaced.ok()) return replaced.status();
  context_.Print(*replaced);
  return absl::OkStatus();
}

absl::Status FlagCommands::SetGates() {
  return EditFlag(
      [this](v1::Flag& flag) {
        ApplyGateOptions(options_.gates, flag.mutable_gates());
      },
      "gates", /*force=*/false);
}

absl::Status FlagCommands::SetFallback() {
  std::optional<v1::Stage> fallback;
  if (options_.fallback_stage != "computed") {
    auto stage = ParseStageArg(options_.fallback_stage, "stage");
    if (!stage.ok()) return stage.status();
    fallback = *stage;
  }
  return EditFlag(
      [&](v1::Flag& flag) {
        if (fallback.has_value()) {
          flag.set_fallback_stage(*fallback);
        } else {
          flag.clear_fallback_stage();
        }
      },
      "fallback", options_.write.force);
}

absl::Status FlagCommands::Archive() {
  v1::ArchiveFlagRequest request;
  request.set_key(options_.key);
  request.set_expected_version(options_.write.expected_version);
  request.set_comment(options_.write.comment);
  request.set_force(options_.write.force);
  absl::StatusOr<v1::Flag> flag = context_.admin->ArchiveFlag(request);
  if (!flag.ok()) return flag.status();
  context_.PrintChanged(*flag);
  return absl::OkStatus();
}

absl::Status FlagCommands::SetEnabled(bool enabled) {
  v1::SetEnabledRequest request;
  request.set_key(options_.key);
  request.set_enabled(enabled);
  request.set_expected_version(options_.write.expected_version);
  request.set_comment(options_.write.comment);
  request.set_force(options_.write.force);
  absl::StatusOr<v1::Flag> flag = context_.admin->SetEnabled(request);
  if (!flag.ok()) return flag.status();
  context_.PrintChanged(*flag);
  return absl::OkStatus();
}

}  // namespace cutover::cli
