// DaemonConfig: everything cutoverd can be told, with its defaults, and the
// YAML config file that sets it (config/cutoverd.example.yaml documents each
// key). Command-line flags override the file (see server/main.cc).
#ifndef CUTOVER_SERVER_CONFIG_H_
#define CUTOVER_SERVER_CONFIG_H_

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "server/auth.h"

namespace cutover {

// TLS for the gRPC port. Both files or neither; a client CA turns on
// mutual TLS (every client must present a certificate it signed).
struct TlsConfig {
  std::string cert_file;       // PEM certificate chain of the server
  std::string key_file;        // PEM private key
  std::string client_ca_file;  // PEM CA for client certificates
  bool enabled() const { return !cert_file.empty(); }
};

struct DaemonConfig {
  // RocksDB folder; created if missing.
  std::string data_dir = "./cutover-data";
  // gRPC address (Evaluation, Admin, health, reflection). Port 0 picks one.
  std::string listen = "127.0.0.1:7400";
  // Prometheus /metrics address; empty turns it off. Port 0 picks one.
  std::string metrics_listen = "127.0.0.1:7401";
  // After start, write "grpc_port metrics_port\n" here (for tests and
  // supervisors that start the daemon on port 0).
  std::string ready_file;
  // A Watch stream with nothing to send gets a HEARTBEAT this often.
  absl::Duration heartbeat_interval = absl::Seconds(10);
  // On SIGTERM, in-flight calls get this long to finish.
  absl::Duration shutdown_grace = absl::Seconds(5);
  // Largest DecideBatch.
  int max_batch = 10000;
  // Largest request, bytes.
  int max_request_bytes = 4 << 20;
  // Watch events kept in memory for resumption (the store keeps the last
  // kChangesKept across restarts).
  int watch_history = 10000;
  // Reported migration operations are summed over this window (cutoverctl
  // status, guardrails), kept in telemetry_slots slots of window/slots
  // each: a report expires between window - window/slots and window after
  // it arrives.
  absl::Duration telemetry_window = absl::Seconds(300);
  int telemetry_slots = 30;
  // Who may call what (server/auth.h, docs/security.md).
  AuthConfig auth;
  TlsConfig tls;
  // With auth off, listening on anything but loopback is refused unless
  // this is set too.
  bool insecure_listen = false;
  // Open Watch streams per client address (RESOURCE_EXHAUSTED beyond).
  int max_watch_streams_per_peer = 1000;
};

// Whether `listen` ("host:port") binds only a loopback address.
bool IsLoopbackAddress(const std::string& listen);

// Reads a YAML config file over the defaults. INVALID_ARGUMENT naming the
// key for an unknown key or a bad value; NOT_FOUND if the file is missing.
absl::StatusOr<DaemonConfig> LoadConfigFile(const std::string& path);

// INVALID_ARGUMENT naming the option if a value is out of range.
absl::Status ValidateConfig(const DaemonConfig& config);

}  // namespace cutover

#endif  // CUTOVER_SERVER_CONFIG_H_
