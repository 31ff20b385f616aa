#include "server/file_watch.h"

#include <poll.h>
#include <sys/eventfd.h>
#include <sys/inotify.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <algorithm>
#include <cstring>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"

namespace cutover {
namespace {

std::string FolderOf(const std::string& path) {
  const size_t slash = path.rfind('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

int Milliseconds(absl::Duration duration) {
  const int64_t ms = absl::ToInt64Milliseconds(duration);
  if (ms < 0) return 0;
  return ms > 3600 * 1000 ? 3600 * 1000 : static_cast<int>(ms);
}

}  // namespace

absl::StatusOr<std::unique_ptr<FileWatch>> FileWatch::Start(
    const std::string& path, Options options,
    std::function<void()> on_change) {
  const std::string folder = FolderOf(path);
  const int inotify_fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
  if (inotify_fd < 0) {
    return absl::UnavailableError(
        absl::StrCat("cannot watch ", folder, ": ", std::strerror(errno)));
  }
  constexpr uint32_t kEvents = IN_CLOSE_WRITE | IN_MOVED_TO | IN_MOVED_FROM |
                               IN_CREATE | IN_DELETE | IN_ATTRIB |
                               IN_DELETE_SELF | IN_MOVE_SELF;
  if (inotify_add_watch(inotify_fd, folder.c_str(), kEvents) < 0) {
    const int error = errno;
    close(inotify_fd);
    return absl::UnavailableError(
        absl::StrCat("cannot watch ", folder, ": ", std::strerror(error)));
  }
  const int stop_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (stop_fd < 0) {
    const int error = errno;
    close(inotify_fd);
    return absl::UnavailableError(
        absl::StrCat("cannot watch ", folder, ": ", std::strerror(error)));
  }
  std::unique_ptr<FileWatch> watch(
      new FileWatch(inotify_fd, stop_fd, options, std::move(on_change)));
  watch->thread_ = std::thread([w = watch.get()] { w->Run(); });
  return watch;
}

FileWatch::FileWatch(int inotify_fd, int stop_fd, Options options,
                     std::function<void()> on_change)
    : inotify_fd_(inotify_fd),
      stop_fd_(stop_fd),
      options_(options),
      on_change_(std::move(on_change)) {}

FileWatch::~FileWatch() {
  const uint64_t one = 1;
  // An eventfd write of 8 bytes cannot be short; if it failed the thread
  // would still end at its next poll, so the result changes nothing.
  if (write(stop_fd_, &one, sizeof(one)) < 0) {
  }
  if (thread_.joinable()) thread_.join();
  close(inotify_fd_);
  close(stop_fd_);
}

void FileWatch::Run() {
  // Events seen since `first_event`, the call not made yet. The call comes
  // `settle` after the first of them: a burst makes one call, and a folder
  // that never goes quiet (a busy file beside the watched one) still gets
  // its calls.
  bool pending = false;
  absl::Time first_event;
  absl::Time next_poll = absl::Now() + options_.poll;
  while (true) {
    const absl::Time due = pending ? first_event + options_.settle : next_poll;
    const absl::Duration wait = std::max(due - absl::Now(), absl::ZeroDuration());
    pollfd fds[2] = {{stop_fd_, POLLIN, 0}, {inotify_fd_, POLLIN, 0}};
    const int ready = poll(fds, 2, Milliseconds(wait));
    if (ready < 0 && errno != EINTR) return;  // nothing left to wait on
    if (fds[0].revents != 0) return;           // stopping
    if (ready > 0 && fds[1].revents != 0) {
      // Drain every queued event; which ones does not matter.
      alignas(inotify_event) char buffer[4096];
      while (read(inotify_fd_, buffer, sizeof(buffer)) > 0) {
      }
      if (!pending) first_event = absl::Now();
      pending = true;
    }
    const absl::Time now = absl::Now();
    if ((pending && now >= first_event + options_.settle) || now >= next_poll) {
      pending = false;
      next_poll = now + options_.poll;
      on_change_();
    }
  }
}

}  // namespace cutover
