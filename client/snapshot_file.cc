#include "client/snapshot_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"

namespace cutover {
namespace {

constexpr uint32_t kFormat = 1;

absl::Status ErrnoError(int error, const std::string& what) {
  return absl::ErrnoToStatus(error, what);
}

// The folder holding `path` ("." for a bare name).
std::string FolderOf(const std::string& path) {
  const size_t slash = path.rfind('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

}  // namespace

absl::StatusOr<std::optional<v1::ClientSnapshot>> ReadSnapshotFile(
    const std::string& path) {
  const int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT) return std::nullopt;
    return ErrnoError(errno, absl::StrCat("open ", path));
  }
  std::string bytes;
  char buffer[1 << 16];
  while (true) {
    const ssize_t got = read(fd, buffer, sizeof(buffer));
    if (got < 0 && errno == EINTR) continue;
    if (got < 0) {
      const int error = errno;
      close(fd);
      return ErrnoError(error, absl::StrCat("read ", path));
    }
    if (got == 0) break;
    bytes.append(buffer, static_cast<size_t>(got));
  }
  close(fd);
  v1::ClientSnapshot snapshot;
  if (!snapshot.ParseFromString(bytes)) {
    return absl::DataLossError(absl::StrCat(path, ": not a client snapshot"));
  }
  if (snapshot.format() != kFormat) {
    return absl::DataLossError(absl::StrCat(
        path, ": format ", snapshot.format(), ", not ", kFormat,
        " (cut short, or written by another version)"));
  }
  if (snapshot.flag_count() != snapshot.flags_size() ||
      snapshot.segment_count() != snapshot.segments_size()) {
    return absl::DataLossError(absl::StrCat(path, ": cut short"));
  }
  return snapshot;
}

absl::Status WriteSnapshotFile(const std::string& path,
                               v1::ClientSnapshot snapshot) {
  snapshot.set_flag_count(snapshot.flags_size());
  snapshot.set_segment_count(snapshot.segments_size());
  snapshot.set_format(kFormat);
  std::string bytes;
  if (!snapshot.SerializeToString(&bytes)) {
    return absl::InternalError("client snapshot: cannot serialize");
  }
  // Unique per process and call: two clients of one process (or two
  // processes) never share a temporary file.
  static std::atomic<uint64_t> sequence{0};
  const std::string temp = absl::StrCat(path, ".tmp.", getpid(), ".",
                                        sequence.fetch_add(1));
  const int fd = open(temp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC,
                      0644);
  if (fd < 0) return ErrnoError(errno, absl::StrCat("create ", temp));
  auto fail = [&](int error, const std::string& what) {
    close(fd);
    unlink(temp.c_str());
    return ErrnoError(error, what);
  };
  size_t written = 0;
  while (written < bytes.size()) {
    const ssize_t put = write(fd, bytes.data() + written, bytes.size() - written);
    if (put < 0 && errno == EINTR) continue;
    if (put < 0) return fail(errno, absl::StrCat("write ", temp));
    written += static_cast<size_t>(put);
  }
  if (fsync(fd) != 0) return fail(errno, absl::StrCat("fsync ", temp));
  if (close(fd) != 0) {
    const int error = errno;
    unlink(temp.c_str());
    return ErrnoError(error, absl::StrCat("close ", temp));
  }
  if (rename(temp.c_str(), path.c_str()) != 0) {
    const int error = errno;
    unlink(temp.c_str());
    return ErrnoError(error, absl::StrCat("rename ", temp, " to ", path));
  }
  const std::string folder = FolderOf(path);
  const int dir = open(folder.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir < 0) return ErrnoError(errno, absl::StrCat("open ", folder));
  const int synced = fsync(dir);
  const int error = errno;
  close(dir);
  if (synced != 0) return ErrnoError(error, absl::StrCat("fsync ", folder));
  return absl::OkStatus();
}

SnapshotWriter::SnapshotWriter(
    std::string path, absl::Duration min_interval, const SyncedFlags* source,
    std::function<void(const absl::Status&)> on_written)
    : path_(std::move(path)),
      min_interval_(min_interval),
      source_(source),
      on_written_(std::move(on_written)),
      thread_([this] { Loop(); }) {}

SnapshotWriter::~SnapshotWriter() { Stop(); }

void SnapshotWriter::Notify() {
  {
    std::lock_guard lock(mu_);
    dirty_ = true;
  }
  cv_.notify_all();
}

void SnapshotWriter::Stop() {
  {
    std::lock_guard lock(mu_);
    if (stopping_) return;
    stopping_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
  bool dirty;
  {
    std::lock_guard lock(mu_);
    dirty = dirty_;
    dirty_ = false;
  }
  if (dirty) WriteCurrent();
}

void SnapshotWriter::Loop() {
  std::unique_lock lock(mu_);
  while (true) {
    cv_.wait(lock, [this] { return stopping_ || dirty_; });
    if (stopping_) return;  // Stop writes what is left
    dirty_ = false;
    lock.unlock();
    const bool written = WriteCurrent();
    lock.lock();
    if (!written) dirty_ = true;  // tried again after the interval
    // At most one write per interval; a state published meanwhile is
    // written after it (or by Stop).
    const absl::Time next = absl::Now() + min_interval_;
    cv_.wait_until(lock, absl::ToChronoTime(next),
                   [this] { return stopping_; });
    if (stopping_) return;
  }
}

bool SnapshotWriter::WriteCurrent() {
  std::shared_ptr<const SyncedState> state = source_->snapshot();
  if (state == nullptr || state == written_) return true;
  absl::Status status;
  try {
    status = WriteSnapshotFile(path_, state->ToMessage());
  } catch (...) {  // out of memory: not worth ending the service for
    status = absl::ResourceExhaustedError("client snapshot: out of memory");
  }
  if (status.ok()) written_ = std::move(state);
  if (on_written_) on_written_(status);
  return status.ok();
}

}  // namespace cutover
