// FileWatch: calls a function when a file may have changed, so that the
// daemon can read its token file again without a restart (server/auth.h,
// Authorizer::ReloadTokenFile).
//
// It watches the file's folder with inotify, not the file: editors and
// config tools replace a file by renaming a new one over it, and a
// Kubernetes Secret volume swaps a symlink in the folder, and neither is an
// event on the old file. Any change in the folder (a write closed, a
// rename, a create, a delete, a permission change) calls `on_change`
// `settle` after it (the events of a burst make one call), on the watch's
// own thread; the callee reads the file and decides whether anything
// changed. Also once every `poll` whatever happened, for
// file systems that send no inotify events (some network mounts).
//
// Thread-safe: Start, then the destructor (which stops and joins the
// thread, and waits for a call in progress) from any one thread.
#ifndef CUTOVER_SERVER_FILE_WATCH_H_
#define CUTOVER_SERVER_FILE_WATCH_H_

#include <functional>
#include <memory>
#include <string>
#include <thread>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace cutover {

class FileWatch {
 public:
  struct Options {
    absl::Duration settle = absl::Milliseconds(50);
    absl::Duration poll = absl::Seconds(30);
  };

  // UNAVAILABLE if the folder cannot be watched (it does not exist, or
  // inotify is out of watches).
  static absl::StatusOr<std::unique_ptr<FileWatch>> Start(
      const std::string& path, Options options,
      std::function<void()> on_change);
  ~FileWatch();
  FileWatch(const FileWatch&) = delete;
  FileWatch& operator=(const FileWatch&) = delete;

 private:
  FileWatch(int inotify_fd, int stop_fd, Options options,
            std::function<void()> on_change);
  void Run();

  const int inotify_fd_;
  const int stop_fd_;  // an eventfd: written once to stop the thread
  const Options options_;
  const std::function<void()> on_change_;
  std::thread thread_;
};

}  // namespace cutover

#endif  // CUTOVER_SERVER_FILE_WATCH_H_
