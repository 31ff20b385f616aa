// cutoverd's configuration: reading the YAML config file, checking it, and
// the DaemonConfig the daemon consumes.
//
// The keys, their meaning, defaults and rules are described once, in
// cutover.config.v1.DaemonConfig (proto/cutover/config/v1/daemon_config.proto);
// everything here is driven by that description. The file is read with the
// YAML codec, so an unknown key or a bad value is refused naming its path;
// keys left out keep the proto's defaults; ValidateConfig checks each
// field's (rule) option and then the rules between fields. The command-line
// overrides are built from the same description (server/config_flags.h).
//
// DaemonConfig stays a plain struct, filled from the proto in one place
// (ToDaemonConfig), because what runs wants typed values: durations as
// absl::Duration rather than seconds in a double, roles as cutover::Role,
// the AuthConfig the Authorizer takes, and code that starts a Daemon in
// process (the benchmarks) sets its fields directly. It carries no defaults
// or rules of its own: a default-constructed DaemonConfig holds the
// proto's defaults.
//
// Pure functions apart from reading the file; thread-safe.
#ifndef CUTOVER_SERVER_CONFIG_H_
#define CUTOVER_SERVER_CONFIG_H_

#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "cutover/config/v1/daemon_config.pb.h"
#include "server/auth.h"

namespace cutover {

// cutover.config.v1.Tls, as the daemon uses it.
struct TlsConfig {
  std::string cert_file;
  std::string key_file;
  std::string client_ca_file;
  bool enabled() const { return !cert_file.empty(); }
};

// cutover.config.v1.DaemonConfig, as the daemon uses it: each member is the
// proto's field of the same name (durations from the *_seconds fields, auth
// from auth, tokens, token_file, cert_roles and open_evaluation). What only
// the checks need (insecure_listen) is not here.
struct DaemonConfig {
  DaemonConfig();  // the proto's defaults

  std::string data_dir;
  std::string listen;
  std::string flagd_evaluation_listen;  // empty: none
  std::string flagd_sync_listen;        // empty: none
  std::string metrics_listen;  // empty: no /metrics endpoint
  std::string ready_file;      // empty: none
  absl::Duration heartbeat_interval;
  absl::Duration shutdown_grace;
  int max_batch;
  int max_request_bytes;
  int watch_history;
  absl::Duration telemetry_window;
  int telemetry_slots;
  int max_watch_streams_per_peer;
  std::string prometheus_url;  // empty: PROMQL ramp checks are refused
  absl::Duration prometheus_query_timeout;
  AuthConfig auth;
  TlsConfig tls;
  // A read replica's primary (empty: this daemon is a primary), the file
  // of the token it sends there, and the CA of the primary's certificate.
  std::string follow;
  std::string follow_token_file;
  std::string follow_ca_file;
};

// The daemon's view of `config` (which ValidateConfig has passed).
DaemonConfig ToDaemonConfig(const config::v1::DaemonConfig& config);

// Whether `listen` ("host:port") binds only a loopback address.
bool IsLoopbackAddress(const std::string& listen);

// Reads a YAML config file over the defaults and checks it on its own
// (ValidateConfig). INVALID_ARGUMENT "config PATH: KEY PATH: problem" for
// bad YAML, an unknown key, a bad value or a broken rule; NOT_FOUND if the
// file cannot be read.
absl::StatusOr<config::v1::DaemonConfig> LoadConfigFile(
    const std::string& path);

// INVALID_ARGUMENT "KEY PATH: problem" for the first rule `config` breaks:
// the fields' (rule) options in field order (nested messages and list
// entries included), then the rules between fields (TLS files go together,
// cert_roles need mutual TLS, auth none only on loopback).
absl::Status ValidateConfig(const config::v1::DaemonConfig& config);

}  // namespace cutover

#endif  // CUTOVER_SERVER_CONFIG_H_
