// cutoverd: parses arguments, starts the Daemon, waits for SIGTERM/SIGINT,
// shuts down gracefully.
#include <csignal>
#include <cstdio>
#include <string>

#include "CLI/CLI.hpp"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "server/config.h"
#include "server/daemon.h"

int main(int argc, char** argv) {
  CLI::App app{"cutoverd: the cutover migration flag server"};
  std::string config_path, data_dir, listen, metrics_listen, ready_file;
  app.add_option("--config", config_path,
                 "YAML config file (see config/cutoverd.example.yaml)");
  app.add_option("--data-dir", data_dir, "RocksDB data folder");
  app.add_option("--listen", listen, "gRPC address, e.g. 127.0.0.1:7400");
  app.add_option("--metrics-listen", metrics_listen,
                 "Prometheus address, e.g. 127.0.0.1:7401; 'off' disables");
  app.add_option("--ready-file", ready_file,
                 "write 'grpc_port metrics_port' here once serving");
  std::string auth;
  app.add_option("--auth", auth,
                 "'tokens' (default) or 'none': no authentication, for a "
                 "daemon on loopback only (see docs/security.md)")
      ->check(CLI::IsMember({"tokens", "none"}));
  std::string token_file;
  app.add_option("--token-file", token_file,
                 "file of accepted tokens, lines 'name role sha256hex' "
                 "(cutoverctl token new); never a token itself");
  bool insecure_listen = false;
  app.add_flag("--insecure-listen", insecure_listen,
               "with --auth none, allow a non-loopback --listen address");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int code = app.exit(e);
    return code == 0 ? 0 : 2;
  }

  cutover::DaemonConfig config;
  if (!config_path.empty()) {
    auto loaded = cutover::LoadConfigFile(config_path);
    if (!loaded.ok()) {
      std::fprintf(stderr, "cutoverd: %s\n",
                   std::string(loaded.status().message()).c_str());
      return 2;
    }
    config = *loaded;
  }
  if (!data_dir.empty()) config.data_dir = data_dir;
  if (!listen.empty()) config.listen = listen;
  if (!metrics_listen.empty()) {
    config.metrics_listen = metrics_listen == "off" ? "" : metrics_listen;
  }
  if (!ready_file.empty()) config.ready_file = ready_file;
  if (!auth.empty()) config.auth.enabled = auth == "tokens";
  if (insecure_listen) config.insecure_listen = true;
  if (!token_file.empty()) config.auth.token_file = token_file;
  if (absl::Status valid = cutover::ValidateConfig(config); !valid.ok()) {
    std::fprintf(stderr, "cutoverd: %s\n", std::string(valid.message()).c_str());
    return 2;
  }

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
  std::fprintf(stderr,
               "cutoverd: serving gRPC on port %d, metrics on port %d, data "
               "in %s\n",
               (*daemon)->grpc_port(), (*daemon)->metrics_port(),
               config.data_dir.c_str());

  int signal_number = 0;
  sigwait(&signals, &signal_number);
  std::fprintf(stderr, "cutoverd: %s received, shutting down\n",
               signal_number == SIGTERM ? "SIGTERM" : "SIGINT");
  (*daemon)->Shutdown();
  std::fprintf(stderr, "cutoverd: stopped\n");
  return 0;
}
