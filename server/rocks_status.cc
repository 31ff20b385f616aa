#include "server/rocks_status.h"

#include <string>

#include "absl/strings/str_cat.h"

namespace cutover::store_internal {

absl::Status FromRocks(const rocksdb::Status& s, absl::string_view what) {
  if (s.ok()) return absl::OkStatus();
  const std::string message = absl::StrCat(what, ": ", s.ToString());
  if (s.IsNotFound()) return absl::NotFoundError(message);
  if (s.IsCorruption()) return absl::DataLossError(message);
  if (s.IsInvalidArgument()) return absl::InvalidArgumentError(message);
  // A full disk (ENOSPC), or a file size limit reached (EFBIG, which
  // RocksDB reports as a plain IO error).
  if (s.IsNoSpace() ||
      (s.IsIOError() &&
       s.ToString().find("File too large") != std::string::npos)) {
    return absl::ResourceExhaustedError(absl::StrCat(
        what, ": no space left for the data folder (disk full or file size "
              "limit): ",
        s.ToString()));
  }
  if (s.IsBusy() || s.IsTimedOut() || s.IsTryAgain()) {
    return absl::UnavailableError(message);
  }
  if (s.IsIOError()) {
    // RocksDB reports a LOCK file held (by another process, or by this
    // one) as an IO error; not one it cannot open (permissions).
    if (s.ToString().find("While lock file") != std::string::npos ||
        s.ToString().find("lock hold by current process") !=
            std::string::npos) {
      return absl::FailedPreconditionError(absl::StrCat(
          what, ": the data folder is locked by another process (is another "
                "cutoverd running on it?): ",
          s.ToString()));
    }
    return absl::UnavailableError(message);
  }
  return absl::InternalError(message);
}

std::string BigEndian64(uint64_t value) {
  std::string out(8, '\0');
  for (int i = 7; i >= 0; --i) {
    out[i] = static_cast<char>(value & 0xff);
    value >>= 8;
  }
  return out;
}

}  // namespace cutover::store_internal
