// The client's snapshot file (ClientOptions::snapshot_file): the synced
// state (client/synced_flags.h) kept on disk as a cutover.v1.ClientSnapshot,
// so that a service restarted while the daemon is down serves what its
// flags are known to serve.
//
// ReadSnapshotFile and WriteSnapshotFile are plain functions, safe from
// any thread (two writers of one path must not run at once).
//
// SnapshotWriter writes a SyncedFlags' published state to the file on its
// own thread, at most once per min_interval, whenever told that a new
// state was published; the last state notified is always written: after
// the interval, or by Stop(). A failed write is tried again after the
// interval. One per Client; Notify from any thread.
#ifndef CUTOVER_CLIENT_SNAPSHOT_FILE_H_
#define CUTOVER_CLIENT_SNAPSHOT_FILE_H_

#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "client/synced_flags.h"
#include "cutover/v1/client_snapshot.pb.h"

namespace cutover {

// The file's snapshot; nullopt if there is no file. DATA_LOSS for a file
// that does not parse, is cut short or of another format; the errno's
// code for one that cannot be read.
absl::StatusOr<std::optional<v1::ClientSnapshot>> ReadSnapshotFile(
    const std::string& path);

// Writes `snapshot` (its counts and format set here) to `path` atomically:
// a temporary file in the same folder, written and fsynced, renamed over
// `path`, then the folder fsynced. On failure the old file is untouched
// and the temporary file removed.
absl::Status WriteSnapshotFile(const std::string& path,
                               v1::ClientSnapshot snapshot);

class SnapshotWriter {
 public:
  // Writes `source`'s published state to `path`; `on_written` (may be
  // empty) is told each write's status, on the writer's thread.
  SnapshotWriter(std::string path, absl::Duration min_interval,
                 const SyncedFlags* source,
                 std::function<void(const absl::Status&)> on_written);
  ~SnapshotWriter();  // Stop()
  SnapshotWriter(const SnapshotWriter&) = delete;
  SnapshotWriter& operator=(const SnapshotWriter&) = delete;

  // A new state was published: write it (now, or once min_interval has
  // passed since the last write).
  void Notify();
  // Writes the last notified state if it was not written yet, and ends the
  // thread. Idempotent.
  void Stop();

 private:
  void Loop();
  // Writes the published state unless it is the one last written;
  // returns false if the write failed (it is tried again later).
  bool WriteCurrent();

  const std::string path_;
  const absl::Duration min_interval_;
  const SyncedFlags* const source_;
  const std::function<void(const absl::Status&)> on_written_;
  // The state last written (writer thread only, then Stop's caller).
  std::shared_ptr<const SyncedState> written_;

  std::mutex mu_;
  std::condition_variable cv_;
  bool dirty_ = false;     // guarded by mu_
  bool stopping_ = false;  // guarded by mu_
  std::thread thread_;
};

}  // namespace cutover

#endif  // CUTOVER_CLIENT_SNAPSHOT_FILE_H_
