// The few admin writes and reads the integration tests repeat (fault
// drills, ramps, replicas), over an AdminClient (ConnectAdmin in
// harness.h).
// Header-only.
#ifndef CUTOVER_TESTS_INTEGRATION_ADMIN_CALLS_H_
#define CUTOVER_TESTS_INTEGRATION_ADMIN_CALLS_H_

#include <set>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "client/admin_client.h"
#include "cutover/v1/cutover.pb.h"

namespace cutover::testing {

// An enabled flag serving OFF, old-db -> new-db, with `description`.
inline v1::Flag OffFlag(const std::string& key,
                        const std::string& description = "") {
  v1::Flag flag;
  flag.set_key(key);
  flag.set_description(description);
  flag.set_old_target("old-db");
  flag.set_new_target("new-db");
  flag.set_enabled(true);
  flag.mutable_default_serve()->set_stage(v1::OFF);
  return flag;
}

inline absl::StatusOr<v1::Flag> CreateFlag(const AdminClient& admin,
                                           const v1::Flag& flag) {
  v1::CreateFlagRequest request;
  *request.mutable_flag() = flag;
  return admin.CreateFlag(request);
}

inline absl::StatusOr<v1::Flag> SetStage(const AdminClient& admin,
                                         const std::string& key,
                                         v1::Stage stage) {
  v1::SetStageRequest request;
  request.set_key(key);
  request.set_stage(stage);
  return admin.SetStage(request);
}

// The keys of every flag (archived too); false if the call failed.
inline bool ListFlagKeys(const AdminClient& admin,
                         std::set<std::string>* keys) {
  v1::ListFlagsRequest request;
  request.set_include_archived(true);
  absl::StatusOr<v1::ListFlagsResponse> response = admin.ListFlags(request);
  if (!response.ok()) return false;
  for (const auto& flag : response->flags()) keys->insert(flag.key());
  return true;
}

// Decide of `flag_key` for user `user`.
inline absl::StatusOr<v1::DecideResponse> Decide(const AdminClient& admin,
                                                 const std::string& flag_key,
                                                 const std::string& user) {
  v1::DecideRequest request;
  request.set_flag_key(flag_key);
  request.mutable_context()->set_targeting_key(user);
  return admin.Decide(request);
}

// Flag `key`'s history, oldest first (empty if it cannot be read).
inline std::vector<v1::HistoryEntry> HistoryOldestFirst(
    const AdminClient& admin, const std::string& key) {
  v1::GetHistoryRequest request;
  request.set_key(key);
  absl::StatusOr<v1::GetHistoryResponse> history = admin.GetHistory(request);
  if (!history.ok()) return {};
  return {history->entries().rbegin(), history->entries().rend()};
}

// The steps a guarded ramp took on flag `key` (history action ramp-step),
// oldest first.
inline std::vector<v1::HistoryEntry> RampSteps(const AdminClient& admin,
                                               const std::string& key) {
  std::vector<v1::HistoryEntry> steps;
  for (const v1::HistoryEntry& entry : HistoryOldestFirst(admin, key)) {
    if (entry.action() == "ramp-step") steps.push_back(entry);
  }
  return steps;
}

}  // namespace cutover::testing

#endif  // CUTOVER_TESTS_INTEGRATION_ADMIN_CALLS_H_
