// ServiceManager: tells systemd what cutoverd is doing, for a unit with
// Type=notify (deploy/systemd/cutoverd.service), through libsystemd's
// sd_notify: READY=1 once the daemon serves (systemd then starts the units
// that wait for it), STOPPING=1 when it begins to shut down, and, when the
// unit sets WatchdogSec=, WATCHDOG=1 at half that interval for as long as
// the daemon's own liveness check passes. A daemon that hangs (its change
// hub's heartbeat stops) stops pinging, and systemd restarts it. Outside
// systemd (no NOTIFY_SOCKET in the environment) every call does nothing.
//
// Thread-safe: Ready and Stopping from any thread; the destructor stops the
// watchdog thread and waits for it.
#ifndef CUTOVER_SERVER_SERVICE_MANAGER_H_
#define CUTOVER_SERVER_SERVICE_MANAGER_H_

#include <functional>
#include <string>
#include <thread>

#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace cutover {

class ServiceManager {
 public:
  // `alive` is asked before each watchdog ping (on the watchdog thread); a
  // false answer skips the ping. Starts pinging if systemd asked for it.
  explicit ServiceManager(std::function<bool()> alive);
  ~ServiceManager();
  ServiceManager(const ServiceManager&) = delete;
  ServiceManager& operator=(const ServiceManager&) = delete;

  // READY=1, with `status` as the unit's status line (systemctl status).
  void Ready(const std::string& status);
  // STOPPING=1; the watchdog pings end.
  void Stopping();
  // The ping interval systemd asked for (half of WatchdogSec), or zero.
  absl::Duration watchdog_interval() const { return interval_; }

 private:
  void PingLoop();

  const std::function<bool()> alive_;
  absl::Duration interval_;
  absl::Mutex mu_;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::thread pinger_;
};

}  // namespace cutover

#endif  // CUTOVER_SERVER_SERVICE_MANAGER_H_
