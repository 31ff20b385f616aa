// ApiRegistry: a FlagRegistry as the Admin API sees it, for tests written
// against the API's messages. Each call's request becomes the registry's
// command, and its answer the API message, through the edge conversions
// the Admin service uses (server/api_edge.h).
//
// As thread-safe as the FlagRegistry it wraps.
#ifndef CUTOVER_TESTS_SERVER_API_REGISTRY_H_
#define CUTOVER_TESTS_SERVER_API_REGISTRY_H_

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <catch2/catch.hpp>

#include "absl/status/statusor.h"
#include "cutover/v1/cutover.pb.h"
#include "server/api_edge.h"
#include "server/change_hub.h"
#include "server/flag_registry.h"
#include "server/store.h"

namespace cutover::testing {

// The API message of a record, or the record's error.
template <typename Message, typename Record>
absl::StatusOr<Message> AsApi(const absl::StatusOr<Record>& record) {
  if (!record.ok()) return record.status();
  Message message;
  ToApi(*record, &message);
  return message;
}

template <typename Message, typename Record>
std::vector<Message> AsApi(const std::vector<Record>& records) {
  std::vector<Message> messages(records.size());
  for (size_t i = 0; i < records.size(); ++i) ToApi(records[i], &messages[i]);
  return messages;
}

// A record's API form, as the Admin API and Watch show it.
inline v1::Flag AsApi(const FlagRecord& flag) {
  v1::Flag message;
  ToApi(flag, &message);
  return message;
}
inline v1::Segment AsApi(const SegmentRecord& segment) {
  v1::Segment message;
  ToApi(segment, &message);
  return message;
}
inline v1::HistoryEntry AsApi(const HistoryRecord& entry) {
  v1::HistoryEntry message;
  ToApi(entry, &message);
  return message;
}
inline v1::WatchEvent AsApi(const ChangeRecord& change) {
  return ToWatchEvent(change);
}

class ApiRegistry {
 public:
  explicit ApiRegistry(std::unique_ptr<FlagRegistry> registry)
      : registry_(std::move(registry)) {}

  FlagRegistry& registry() { return *registry_; }
  ChangeHub& hub() { return registry_->hub(); }
  const Store& store() const { return registry_->store(); }

  absl::StatusOr<v1::Flag> GetFlag(const std::string& key) const {
    return AsApi<v1::Flag>(registry_->GetFlag(key));
  }
  std::vector<v1::Flag> ListFlags(bool include_archived) const {
    return AsApi<v1::Flag>(registry_->ListFlags(include_archived));
  }
  absl::StatusOr<std::vector<v1::HistoryEntry>> History(const std::string& key,
                                                        bool segment,
                                                        int limit) const {
    auto entries = registry_->History(key, segment, limit);
    if (!entries.ok()) return entries.status();
    return AsApi<v1::HistoryEntry>(*entries);
  }
  absl::StatusOr<v1::Segment> GetSegment(const std::string& key) const {
    return AsApi<v1::Segment>(registry_->GetSegment(key));
  }
  std::vector<v1::Segment> ListSegments() const {
    return AsApi<v1::Segment>(registry_->ListSegments());
  }

#define CUTOVER_API_REGISTRY_WRITE(Method, Request, Response)            \
  absl::StatusOr<v1::Response> Method(const v1::Request& request,        \
                                      const Caller& caller) {            \
    return AsApi<v1::Response>(                                          \
        registry_->Method(ToCommand(request), caller));                  \
  }
  CUTOVER_API_REGISTRY_WRITE(CreateFlag, CreateFlagRequest, Flag)
  CUTOVER_API_REGISTRY_WRITE(ReplaceFlag, ReplaceFlagRequest, Flag)
  CUTOVER_API_REGISTRY_WRITE(ArchiveFlag, ArchiveFlagRequest, Flag)
  CUTOVER_API_REGISTRY_WRITE(SetStage, SetStageRequest, Flag)
  CUTOVER_API_REGISTRY_WRITE(SetRollout, SetRolloutRequest, Flag)
  CUTOVER_API_REGISTRY_WRITE(AddRule, AddRuleRequest, Flag)
  CUTOVER_API_REGISTRY_WRITE(RemoveRule, RemoveRuleRequest, Flag)
  CUTOVER_API_REGISTRY_WRITE(SetEnabled, SetEnabledRequest, Flag)
  CUTOVER_API_REGISTRY_WRITE(Rollback, RollbackRequest, Flag)
  CUTOVER_API_REGISTRY_WRITE(CreateSegment, CreateSegmentRequest, Segment)
  CUTOVER_API_REGISTRY_WRITE(ReplaceSegment, ReplaceSegmentRequest, Segment)
  CUTOVER_API_REGISTRY_WRITE(DeleteSegment, DeleteSegmentRequest, Segment)
  CUTOVER_API_REGISTRY_WRITE(Apply, ApplyRequest, ApplyResponse)
  CUTOVER_API_REGISTRY_WRITE(StartBackfill, StartBackfillRequest, BackfillJob)
  CUTOVER_API_REGISTRY_WRITE(CheckpointBackfill, CheckpointBackfillRequest,
                             BackfillJob)
  CUTOVER_API_REGISTRY_WRITE(ResetBackfill, ResetBackfillRequest, BackfillJob)
#undef CUTOVER_API_REGISTRY_WRITE

 private:
  std::unique_ptr<FlagRegistry> registry_;
};

// Keeps every event the hub delivers to it, as a Watch stream would be
// sent them.
class RecordingSubscriber : public ChangeHub::Subscriber {
 public:
  void Deliver(const v1::WatchEvent& event) override {
    events.push_back(event);
  }
  void Close() override {}
  std::vector<v1::WatchEvent> events;
};

// A registry over the store in `dir` (created if new); the test fails if
// either does not open.
inline std::unique_ptr<ApiRegistry> OpenRegistry(const std::string& dir) {
  absl::StatusOr<std::unique_ptr<Store>> store = Store::Open(dir);
  INFO(store.status().ToString());
  REQUIRE(store.ok());
  absl::StatusOr<std::unique_ptr<FlagRegistry>> registry =
      FlagRegistry::Open(*std::move(store));
  INFO(registry.status().ToString());
  REQUIRE(registry.ok());
  return std::make_unique<ApiRegistry>(*std::move(registry));
}

}  // namespace cutover::testing

#endif  // CUTOVER_TESTS_SERVER_API_REGISTRY_H_
