#include "server/config.h"

#include <fstream>
#include <sstream>

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
  return absl::OkStatus();
}

}  // namespace cutover
