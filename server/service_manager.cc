#include "server/service_manager.h"

#include <systemd/sd-daemon.h>

#include <cstdint>
#include <string>
#include <utility>

namespace cutover {

ServiceManager::ServiceManager(std::function<bool()> alive)
    : alive_(std::move(alive)), interval_(absl::ZeroDuration()) {
  uint64_t usec = 0;
  // > 0: systemd set WATCHDOG_USEC (and WATCHDOG_PID is ours or unset).
  if (sd_watchdog_enabled(0, &usec) > 0 && usec > 0) {
    interval_ = absl::Microseconds(static_cast<int64_t>(usec)) / 2;
    pinger_ = std::thread([this] { PingLoop(); });
  }
}

ServiceManager::~ServiceManager() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
  }
  if (pinger_.joinable()) pinger_.join();
}

void ServiceManager::Ready(const std::string& status) {
  const std::string message = "READY=1\nSTATUS=" + status;
  sd_notify(0, message.c_str());
}

void ServiceManager::Stopping() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
  }
  sd_notify(0, "STOPPING=1\nSTATUS=shutting down");
}

void ServiceManager::PingLoop() {
  absl::MutexLock lock(&mu_);
  while (!stopping_) {
    mu_.AwaitWithTimeout(absl::Condition(&stopping_), interval_);
    if (stopping_) break;
    mu_.Unlock();
    if (alive_()) sd_notify(0, "WATCHDOG=1");
    mu_.Lock();
  }
}

}  // namespace cutover
