// cutoverd under a Type=notify systemd unit: what it tells the service
// manager through NOTIFY_SOCKET (sd_notify's datagrams), received here on a
// socket of the test's own, as systemd would.
#include <catch2/catch.hpp>

#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <string>
#include <vector>

#include "tests/integration/harness.h"

namespace cutover::testing {
namespace {

// A datagram socket bound at `path`, as systemd's notification socket.
class NotifySocket {
 public:
  explicit NotifySocket(const std::string& path) {
    fd_ = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    REQUIRE(fd_ >= 0);
    sockaddr_un address{};
    address.sun_family = AF_UNIX;
    REQUIRE(path.size() < sizeof(address.sun_path));
    std::memcpy(address.sun_path, path.c_str(), path.size() + 1);
    REQUIRE(bind(fd_, reinterpret_cast<sockaddr*>(&address),
                 sizeof(address)) == 0);
  }
  ~NotifySocket() { close(fd_); }

  // The messages that arrive within `seconds`, until one contains `until`
  // (then that one is the last).
  std::vector<std::string> Receive(double seconds, const std::string& until) {
    std::vector<std::string> messages;
    const auto deadline = std::chrono::steady_clock::now() +
                          std::chrono::duration<double>(seconds);
    while (std::chrono::steady_clock::now() < deadline) {
      pollfd fds{fd_, POLLIN, 0};
      if (poll(&fds, 1, 50) <= 0) continue;
      char buffer[4096];
      const ssize_t n = recv(fd_, buffer, sizeof(buffer), 0);
      if (n <= 0) continue;
      messages.emplace_back(buffer, static_cast<size_t>(n));
      if (!until.empty() &&
          messages.back().find(until) != std::string::npos) {
        break;
      }
    }
    return messages;
  }

 private:
  int fd_ = -1;
};

int Count(const std::vector<std::string>& messages, const std::string& what) {
  int count = 0;
  for (const std::string& m : messages) count += m.find(what) != std::string::npos;
  return count;
}

TEST_CASE("under systemd, cutoverd says READY=1 once serving, pings the "
          "watchdog at half its interval, and says STOPPING=1 on SIGTERM",
          "[daemon][systemd]") {
  TempDir dir;
  const std::string socket_path = dir.path() + "/notify";
  NotifySocket notify(socket_path);
  DaemonProcess daemon(dir.path() + "/data");
  // As systemd starts a unit with WatchdogSec=1.
  daemon.SetLauncher({"/usr/bin/env", "NOTIFY_SOCKET=" + socket_path,
                      "WATCHDOG_USEC=1000000"});
  REQUIRE(daemon.Start());  // returns once the daemon serves

  // READY=1 with its status line, then a ping about every 500 ms.
  std::vector<std::string> messages = notify.Receive(10, "READY=1");
  REQUIRE(Count(messages, "READY=1") == 1);
  CHECK(Count(messages, "STATUS=serving gRPC on port " +
                            std::to_string(daemon.port())) == 1);
  messages = notify.Receive(2.2, "");
  CHECK(Count(messages, "WATCHDOG=1") >= 2);
  CHECK(Count(messages, "WATCHDOG=1") <= 6);

  CHECK(daemon.Stop(SIGTERM) == 0);
  messages = notify.Receive(5, "STOPPING=1");
  CHECK(Count(messages, "STOPPING=1") == 1);
}

TEST_CASE("outside systemd (no NOTIFY_SOCKET) cutoverd starts and stops as "
          "before",
          "[daemon][systemd]") {
  TempDir dir;
  DaemonProcess daemon(dir.path() + "/data");
  daemon.SetLauncher({"/usr/bin/env", "-u", "NOTIFY_SOCKET",
                      "WATCHDOG_USEC=1000000"});
  REQUIRE(daemon.Start());
  CHECK(daemon.Stop(SIGTERM) == 0);
}

}  // namespace
}  // namespace cutover::testing
