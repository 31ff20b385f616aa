// cutoverd: parses arguments, starts the Daemon, waits for SIGTERM/SIGINT,
// shuts down gracefully.
#include <csignal>
#include <cstdio>
#include <string>
#include <utility>

#include "CLI/CLI.hpp"
#include "absl/synchronization/mutex.h"
#include "server/config_flags.h"
#include "server/daemon.h"
#include "server/service_manager.h"
#include "server/store.h"

int main(int argc, char** argv) {
  CLI::App app{"cutoverd: the cutover migration flag server"};
  std::string config_path;
  app.add_option("--config", config_path,
                 "YAML config file (see config/cutoverd.example.yaml)");
  // --data-dir, --listen, --metrics-listen, ... : the config keys that have
  // a command-line option (proto/cutover/config/v1/daemon_config.proto).
  cutover::ConfigFlags config_flags(&app);
  // project(VERSION ...) in CMakeLists.txt, as the metric cutover_build_info.
  app.set_version_flag("--version", "cutoverd " CUTOVER_VERSION);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int code = app.exit(e);
    return code == 0 ? 0 : 2;
  }

  auto resolved = cutover::ResolveConfig(config_path, config_flags);
  if (!resolved.ok()) {
    std::fprintf(stderr, "cutoverd: %s\n",
                 std::string(resolved.status().message()).c_str());
    return 2;
  }
  const cutover::DaemonConfig config = *std::move(resolved);

  // Debian builds Abseil without NDEBUG, which leaves absl::Mutex's
  // deadlock detection on: every lock, gRPC's own included (grpc_core::Mutex
  // is an absl::Mutex), also updates a process-wide lock graph behind one
  // spin lock, about 4x the cost of the lock (docs/performance.md). The
  // sanitizer builds keep it, so the tests still catch a lock-order
  // inversion.
#ifndef CUTOVER_MUTEX_DEADLOCK_DETECTION
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
#endif

  // Past a file size limit (RLIMIT_FSIZE) a write then fails with EFBIG,
  // and the admin call with RESOURCE_EXHAUSTED as on a full disk, instead
  // of SIGXFSZ killing the daemon.
  std::signal(SIGXFSZ, SIG_IGN);

  // Block the shutdown signals in every thread (threads inherit the mask),
  // then wait for them here.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  if (!config.auth.enabled) {
    std::fprintf(stderr,
                 "cutoverd: WARNING: auth is none: every caller that can "
                 "reach %s may read and change every flag\n",
                 config.listen.c_str());
  }
  auto daemon = cutover::Daemon::Start(config);
  if (!daemon.ok()) {
    const int code =
        daemon.status().code() == absl::StatusCode::kInvalidArgument ? 2 : 1;
    std::fprintf(stderr, "cutoverd: %s\n",
                 std::string(daemon.status().message()).c_str());
    return code;
  }
  if ((*daemon)->store_migrated_from_schema() != 0) {
    std::fprintf(stderr,
                 "cutoverd: migrated the store in %s from schema %d to %d "
                 "(docs/storage.md); a cutoverd older than this one no "
                 "longer opens it\n",
                 config.data_dir.c_str(),
                 (*daemon)->store_migrated_from_schema(),
                 cutover::kSchemaVersion);
  }
  std::fprintf(stderr,
               "cutoverd: serving gRPC on port %d, metrics on port %d, data "
               "in %s\n",
               (*daemon)->grpc_port(), (*daemon)->metrics_port(),
               config.data_dir.c_str());
  if (absl::Status written = (*daemon)->WriteReadyFile(); !written.ok()) {
    std::fprintf(stderr, "cutoverd: %s\n",
                 std::string(written.message()).c_str());
    (*daemon)->Shutdown();
    return 1;
  }
  // systemd (Type=notify): ready now; watchdog pings while the heartbeat
  // loop runs.
  cutover::ServiceManager service_manager(
      [d = daemon->get()] { return d->Alive(); });
  service_manager.Ready("serving gRPC on port " +
                        std::to_string((*daemon)->grpc_port()));

  int signal_number = 0;
  sigwait(&signals, &signal_number);
  std::fprintf(stderr, "cutoverd: %s received, shutting down\n",
               signal_number == SIGTERM ? "SIGTERM" : "SIGINT");
  service_manager.Stopping();
  (*daemon)->Shutdown();
  std::fprintf(stderr, "cutoverd: stopped\n");
  return 0;
}
