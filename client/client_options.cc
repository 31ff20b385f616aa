// ClientOptions::Validate: the rules of every client option, each error
// naming its field (client/client.h documents the fields).
#include "absl/strings/str_cat.h"
#include "client/client.h"
#include "core/evaluate.h"

namespace cutover {

absl::Status ClientOptions::Validate() const {
  if (server.empty()) {
    return absl::InvalidArgumentError("server: required (host:port)");
  }
  if (decide_deadline <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError("decide_deadline: must be > 0");
  }
  if (cache_max_entries == 0 || cache_shards == 0 ||
      cache_max_bytes == 0) {
    return absl::InvalidArgumentError(
        "cache_max_entries, cache_max_bytes, cache_shards: must be > 0");
  }
  if (reconnect_initial_backoff < absl::Milliseconds(1) ||
      reconnect_max_backoff < reconnect_initial_backoff ||
      reconnect_max_backoff > absl::Hours(24)) {
    return absl::InvalidArgumentError(
        "reconnect_initial_backoff: must be >= 1 ms and <= "
        "reconnect_max_backoff (at most 24 h)");
  }
  if (watch_idle_timeout <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError("watch_idle_timeout: must be > 0");
  }
  if (unsynced_max_age < absl::ZeroDuration()) {
    return absl::InvalidArgumentError("unsynced_max_age: must be >= 0");
  }
  if (snapshot_min_interval < absl::ZeroDuration()) {
    return absl::InvalidArgumentError("snapshot_min_interval: must be >= 0");
  }
  if (decision_report_interval < absl::Milliseconds(1) ||
      decision_report_deadline <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError(
        "decision_report_interval: must be >= 1 ms; "
        "decision_report_deadline: must be > 0");
  }
  for (size_t i = 0; i < flag_keys.size(); ++i) {
    if (absl::Status key = ValidateFlagKey(flag_keys[i]); !key.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("flag_keys[", i, "]: ", key.message()));
    }
  }
  return absl::OkStatus();
}

}  // namespace cutover
