#include "cli/backup_command.h"

#include "absl/time/time.h"

namespace cutover::cli {

void BackupCommand::Register(CLI::App& app) {
  auto* backup = app.add_subcommand(
      "backup", "backups of the daemon's store (restore: docs/operations.md)");
  backup->require_subcommand(1);
  auto* create = backup->add_subcommand(
      "create",
      "write a consistent backup of the store, while the daemon serves, into "
      "a new folder on the daemon's host; prints the revision it holds");
  create
      ->add_option("DIR", dir_,
                   "absolute path on the daemon's host of a folder that does "
                   "not exist yet (its parent must)")
      ->required();
  create->callback([this] { context_.command = [this] { return Create(); }; });
}

absl::Status BackupCommand::Create() {
  v1::CreateBackupRequest request;
  request.set_dir(dir_);
  absl::StatusOr<v1::Backup> backup = context_.admin->CreateBackup(request);
  if (!backup.ok()) return backup.status();
  if (context_.format != Format::kTable) {
    context_.Print(*backup);
    return absl::OkStatus();
  }
  context_.out << "backup of revision " << backup->revision() << " (schema "
               << backup->schema_version() << ") written to " << backup->dir()
               << " at "
               << absl::FormatTime(
                      "%Y-%m-%dT%H:%M:%SZ",
                      absl::FromUnixSeconds(backup->create_time().seconds()),
                      absl::UTCTimeZone())
               << "\n";
  return absl::OkStatus();
}

}  // namespace cutover::cli
