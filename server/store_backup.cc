// The Store's backups (Store::WriteBackup, see server/store.h): a RocksDB
// checkpoint written under a hidden temporary name beside the requested
// folder, opened as a store to check that it loads, then renamed into
// place without replacing anything.
#include <fcntl.h>
#include <stdio.h>  // renameat2, RENAME_NOREPLACE
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <memory>
#include <random>
#include <string>
#include <system_error>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "rocksdb/db.h"
#include "rocksdb/utilities/checkpoint.h"
#include "server/rocks_status.h"
#include "server/store.h"

namespace cutover {
namespace {

namespace fs = std::filesystem;
using store_internal::FromRocks;

// `dir` cleaned of ".", ".." and repeated or trailing slashes, once checked
// against the request's rules: absolute, not the root, outside `data_dir`.
absl::StatusOr<fs::path> CheckBackupDir(const std::string& dir,
                                        const std::string& data_dir) {
  if (dir.empty()) {
    return absl::InvalidArgumentError(
        "dir: required: the absolute path, on cutoverd's host, of a new "
        "folder for the backup");
  }
  fs::path path(dir);
  if (!path.is_absolute()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "dir: \"", dir, "\" is not an absolute path; give the new folder's "
        "full path on cutoverd's host"));
  }
  path = path.lexically_normal();
  if (!path.has_filename()) path = path.parent_path();  // a trailing '/'
  if (path == path.root_path()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "dir: \"", dir, "\" names no folder; give a new folder's path"));
  }
  // Where the folder would really be (symbolic links of its parents
  // followed), compared with where the data folder really is.
  std::error_code error;
  const fs::path real_parent = fs::weakly_canonical(path.parent_path(), error);
  const fs::path real_data = fs::weakly_canonical(data_dir, error);
  const fs::path inside = (real_parent / path.filename())
                              .lexically_relative(real_data);
  if (!inside.empty() && *inside.begin() != "..") {
    return absl::InvalidArgumentError(absl::StrCat(
        "dir: \"", dir, "\" is inside the data folder ", real_data.string(),
        "; give a folder outside it"));
  }
  return path;
}

// A hidden name beside `path` that no other backup uses.
fs::path TemporaryName(const fs::path& path) {
  std::random_device random;
  return path.parent_path() /
         absl::StrFormat(".%s.partial-%08x%08x", path.filename().string(),
                         random(), random());
}

// Makes the rename of an entry of `folder` durable.
absl::Status SyncFolder(const fs::path& folder) {
  const int fd = open(folder.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0 || fsync(fd) != 0) {
    const int error = errno;
    if (fd >= 0) close(fd);
    return absl::UnavailableError(absl::StrCat(
        "store: sync folder ", folder.string(), ": ", std::strerror(error)));
  }
  close(fd);
  return absl::OkStatus();
}

// Removes what a failed backup left under `temporary` (and the ".tmp"
// folder RocksDB's checkpoint works in).
void RemovePartial(const fs::path& temporary) {
  std::error_code ignored;
  fs::remove_all(temporary, ignored);
  fs::remove_all(temporary.string() + ".tmp", ignored);
}

}  // namespace

absl::StatusOr<BackupRecord> Store::WriteBackup(const std::string& dir) const {
  absl::StatusOr<fs::path> path = CheckBackupDir(dir, db_->GetName());
  if (!path.ok()) return path.status();
  std::error_code error;
  if (fs::exists(fs::symlink_status(*path, error))) {
    return absl::AlreadyExistsError(absl::StrCat(
        "dir: ", path->string(), " already exists; a backup is written into "
        "a new folder"));
  }
  if (!fs::is_directory(path->parent_path(), error)) {
    return absl::FailedPreconditionError(absl::StrCat(
        "dir: the parent folder ", path->parent_path().string(),
        " does not exist or is not a folder; create it first"));
  }

  BackupRecord backup;
  backup.dir = path->string();
  backup.create_time = absl::Now();
  const fs::path temporary = TemporaryName(*path);
  rocksdb::Checkpoint* raw_checkpoint = nullptr;
  absl::Status status = FromRocks(
      rocksdb::Checkpoint::Create(db_.get(), &raw_checkpoint),
      "store: backup");
  std::unique_ptr<rocksdb::Checkpoint> checkpoint(raw_checkpoint);
  if (status.ok()) {
    status = FromRocks(checkpoint->CreateCheckpoint(temporary.string()),
                       absl::StrCat("store: backup into ", temporary.string()));
  }
  if (status.ok()) {
    // Opened as cutoverd will open it, every value read: what is renamed
    // into place is a store that loads.
    absl::StatusOr<std::unique_ptr<Store>> copy = Store::Open(temporary);
    absl::StatusOr<StoredState> state =
        copy.ok() ? (*copy)->Load() : copy.status();
    if (state.ok()) {
      backup.revision = state->revision;
      backup.schema_version = kSchemaVersion;
    } else {
      status = absl::Status(
          state.status().code(),
          absl::StrCat("store: the backup does not load: ",
                       state.status().message()));
    }
  }
  if (status.ok() &&
      renameat2(AT_FDCWD, temporary.c_str(), AT_FDCWD, path->c_str(),
                RENAME_NOREPLACE) != 0) {
    const int rename_error = errno;
    status = rename_error == EEXIST || rename_error == ENOTEMPTY
                 ? absl::AlreadyExistsError(absl::StrCat(
                       "dir: ", path->string(),
                       " was created while the backup was written"))
                 : absl::UnavailableError(absl::StrCat(
                       "store: rename the backup to ", path->string(), ": ",
                       std::strerror(rename_error)));
  }
  if (!status.ok()) {
    RemovePartial(temporary);
    return status;
  }
  status = SyncFolder(path->parent_path());
  if (!status.ok()) return status;
  return backup;
}

}  // namespace cutover
