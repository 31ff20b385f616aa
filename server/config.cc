#include "server/config.h"

#include <fstream>
#include <sstream>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "yaml-cpp/yaml.h"

namespace cutover {
namespace {

absl::Status Bad(const std::string& path, const std::string& key,
                 const std::string& rule) {
  return absl::InvalidArgumentError(
      absl::StrCat("config ", path, ": ", key, ": ", rule));
}

}  // namespace

absl::StatusOr<DaemonConfig> LoadConfigFile(const std::string& path) {
  std::ifstream in(path);
  if (!in) {
    return absl::NotFoundError(absl::StrCat("config ", path, ": cannot read"));
  }
  std::stringstream text;
  text << in.rdbuf();
  DaemonConfig config;
  YAML::Node root;
  try {
    root = YAML::Load(text.str());
  } catch (const YAML::Exception& e) {
    return absl::InvalidArgumentError(
        absl::StrCat("config ", path, ": not valid YAML: ", e.what()));
  }
  if (root.IsNull()) return config;
  if (!root.IsMap()) return Bad(path, "(top level)", "must be a mapping");
  for (const auto& item : root) {
    const std::string key = item.first.as<std::string>("");
    const YAML::Node& value = item.second;
    try {
      if (key == "data_dir") {
        config.data_dir = value.as<std::string>();
      } else if (key == "listen") {
        config.listen = value.as<std::string>();
      } else if (key == "metrics_listen") {
        config.metrics_listen = value.IsNull() ? "" : value.as<std::string>();
      } else if (key == "ready_file") {
        config.ready_file = value.as<std::string>();
      } else if (key == "heartbeat_seconds") {
        config.heartbeat_interval = absl::Seconds(value.as<double>());
      } else if (key == "shutdown_grace_seconds") {
        config.shutdown_grace = absl::Seconds(value.as<double>());
      } else if (key == "max_batch") {
        config.max_batch = value.as<int>();
      } else if (key == "max_request_bytes") {
        config.max_request_bytes = value.as<int>();
      } else if (key == "watch_history") {
        config.watch_history = value.as<int>();
      } else if (key == "telemetry_window_seconds") {
        config.telemetry_window = absl::Seconds(value.as<double>());
      } else if (key == "telemetry_slots") {
        config.telemetry_slots = value.as<int>();
      } else if (key == "auth") {
        const std::string mode = value.as<std::string>();
        if (mode != "none" && mode != "tokens") {
          return Bad(path, key, "must be 'tokens' or 'none'");
        }
        config.auth.enabled = mode == "tokens";
      } else if (key == "tokens") {
        if (!value.IsSequence()) return Bad(path, key, "must be a list");
        for (size_t i = 0; i < value.size(); ++i) {
          const YAML::Node& entry = value[i];
          const std::string where = absl::StrCat("tokens[", i, "]");
          if (!entry.IsMap()) return Bad(path, where, "must be a mapping");
          TokenSpec spec;
          bool has_role = false;
          for (const auto& field : entry) {
            const std::string name = field.first.as<std::string>("");
            if (name == "name") {
              spec.name = field.second.as<std::string>();
            } else if (name == "role") {
              auto role = ParseRole(field.second.as<std::string>());
              if (!role) {
                return Bad(path, where + ".role",
                           "must be reader, operator or admin");
              }
              spec.role = *role;
              has_role = true;
            } else if (name == "sha256") {
              spec.sha256_hex = field.second.as<std::string>();
            } else if (name == "env") {
              spec.env = field.second.as<std::string>();
            } else {
              return Bad(path, where + "." + name,
                         "unknown field (name, role, sha256, env)");
            }
          }
          if (!has_role) {
            return Bad(path, where + ".role",
                       "required (reader, operator or admin)");
          }
          config.auth.tokens.push_back(std::move(spec));
        }
      } else if (key == "token_file") {
        config.auth.token_file = value.as<std::string>();
      } else if (key == "open_evaluation") {
        config.auth.open_evaluation = value.as<bool>();
      } else if (key == "cert_roles") {
        if (!value.IsSequence()) return Bad(path, key, "must be a list");
        for (size_t i = 0; i < value.size(); ++i) {
          const std::string where = absl::StrCat("cert_roles[", i, "]");
          CertRoleSpec spec;
          spec.common_name = value[i]["common_name"].as<std::string>("");
          auto role = ParseRole(value[i]["role"].as<std::string>(""));
          if (spec.common_name.empty() || !role) {
            return Bad(path, where,
                       "needs common_name and role (reader, operator, admin)");
          }
          spec.role = *role;
          config.auth.cert_roles.push_back(std::move(spec));
        }
      } else if (key == "tls") {
        if (!value.IsMap()) return Bad(path, key, "must be a mapping");
        for (const auto& field : value) {
          const std::string name = field.first.as<std::string>("");
          const std::string file = field.second.as<std::string>();
          if (name == "cert_file") {
            config.tls.cert_file = file;
          } else if (name == "key_file") {
            config.tls.key_file = file;
          } else if (name == "client_ca_file") {
            config.tls.client_ca_file = file;
          } else {
            return Bad(path, "tls." + name,
                       "unknown field (cert_file, key_file, client_ca_file)");
          }
        }
      } else if (key == "insecure_listen") {
        config.insecure_listen = value.as<bool>();
      } else if (key == "max_watch_streams_per_peer") {
        config.max_watch_streams_per_peer = value.as<int>();
      } else {
        return Bad(path, key, "unknown option");
      }
    } catch (const YAML::Exception& e) {
      return Bad(path, key, absl::StrCat("bad value: ", e.what()));
    }
  }
  absl::Status valid = ValidateConfig(config);
  if (!valid.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("config ", path, ": ", valid.message()));
  }
  return config;
}

absl::Status ValidateConfig(const DaemonConfig& config) {
  if (config.data_dir.empty()) {
    return absl::InvalidArgumentError("data_dir: required");
  }
  if (config.listen.empty()) {
    return absl::InvalidArgumentError("listen: required");
  }
  if (config.heartbeat_interval < absl::Milliseconds(10)) {
    return absl::InvalidArgumentError("heartbeat_seconds: must be >= 0.01");
  }
  if (config.shutdown_grace < absl::ZeroDuration()) {
    return absl::InvalidArgumentError("shutdown_grace_seconds: must be >= 0");
  }
  if (config.max_batch < 1 || config.max_batch > 1000000) {
    return absl::InvalidArgumentError("max_batch: must be in [1, 1000000]");
  }
  if (config.max_request_bytes < 1024) {
    return absl::InvalidArgumentError("max_request_bytes: must be >= 1024");
  }
  if (config.watch_history < 1) {
    return absl::InvalidArgumentError("watch_history: must be >= 1");
  }
  if (config.telemetry_window < absl::Seconds(1) ||
      config.telemetry_window > absl::Hours(24 * 7)) {
    return absl::InvalidArgumentError(
        "telemetry_window_seconds: must be in [1, 604800]");
  }
  if (config.telemetry_slots < 1 || config.telemetry_slots > 10000) {
    return absl::InvalidArgumentError("telemetry_slots: must be in [1, 10000]");
  }
  if (config.max_watch_streams_per_peer < 1) {
    return absl::InvalidArgumentError(
        "max_watch_streams_per_peer: must be >= 1");
  }
  if (config.tls.cert_file.empty() != config.tls.key_file.empty()) {
    return absl::InvalidArgumentError(
        "tls: cert_file and key_file go together");
  }
  if (!config.tls.client_ca_file.empty() && !config.tls.enabled()) {
    return absl::InvalidArgumentError(
        "tls.client_ca_file: needs tls.cert_file and tls.key_file");
  }
  if (!config.auth.cert_roles.empty() && config.tls.client_ca_file.empty()) {
    return absl::InvalidArgumentError(
        "cert_roles: need tls.client_ca_file (mutual TLS)");
  }
  if (!config.auth.enabled && !config.insecure_listen &&
      !IsLoopbackAddress(config.listen)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "listen: ", config.listen,
        " is not a loopback address and auth is none: anyone who can reach "
        "it could change every flag; configure tokens, or add "
        "--insecure-listen if this is really wanted"));
  }
  return absl::OkStatus();
}

bool IsLoopbackAddress(const std::string& listen) {
  const size_t colon = listen.rfind(':');
  std::string host = listen.substr(0, colon);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  return host == "localhost" || host == "::1" ||
         absl::StartsWith(host, "127.");
}

}  // namespace cutover
