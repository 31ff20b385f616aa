#include "server/flagd_sync_service.h"

#include <cstdio>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "rpc/grpc_status.h"
#include "server/queued_stream_reactor.h"

namespace cutover {
namespace {

namespace fs = flagd::sync::v1;

// The selected keys: the header wins over the request field.
absl::flat_hash_set<std::string> Selected(
    const grpc::CallbackServerContext& context, const std::string& field) {
  std::string selector = field;
  const auto& metadata = context.client_metadata();
  auto it = metadata.find("flagd-selector");
  if (it != metadata.end()) {
    selector.assign(it->second.data(), it->second.size());
  }
  absl::flat_hash_set<std::string> keys;
  for (absl::string_view key : absl::StrSplit(selector, ',')) {
    key = absl::StripAsciiWhitespace(key);
    if (!key.empty()) keys.insert(std::string(key));
  }
  return keys;
}

// One SyncFlags stream: the payload at once, then again after each
// revision that changes it. A consumer more than kMaxQueued payloads behind
// is ended with RESOURCE_EXHAUSTED.
class SyncReactor final : public QueuedStreamReactor<fs::SyncFlagsResponse> {
 public:
  static constexpr size_t kMaxQueued = 64;

  SyncReactor(FlagdSync* service, absl::flat_hash_set<std::string> selected,
              std::function<void()> on_done)
      : QueuedStreamReactor(service->hub(), kMaxQueued, "sync",
                            "sync: fell too far behind", std::move(on_done)),
        service_(service),
        selected_(std::move(selected)) {
    const auto snapshot = service_->hub()->snapshot();
    {
      absl::MutexLock lock(&mu_);
      SendLocked(service_->Payload(*snapshot, selected_).json);
    }
    service_->hub()->Subscribe(this, snapshot->revision);
  }

 private:
  void OnEventLocked(const v1::WatchEvent& event) override
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (event.kind() == v1::WatchEvent::SYNCED) {
      synced_ = true;
      return;
    }
    if (!synced_ || event.more_in_revision()) return;
    switch (event.kind()) {
      case v1::WatchEvent::FLAG_UPSERTED:
      case v1::WatchEvent::FLAG_ARCHIVED:
      case v1::WatchEvent::SEGMENT_UPSERTED:
      case v1::WatchEvent::SEGMENT_DELETED:
        break;
      default:
        return;
    }
    // The revision is published: the hub's snapshot is the one after it.
    SendLocked(service_->Payload(*service_->hub()->snapshot(), selected_).json);
  }

  // Queues `json` as a response unless it is what this stream sent last.
  void SendLocked(std::string json) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (json == last_json_) return;  // nothing this stream sees changed
    last_json_ = json;
    fs::SyncFlagsResponse response;
    response.set_flag_configuration(std::move(json));
    PushLocked(std::move(response));
  }

  FlagdSync* const service_;
  const absl::flat_hash_set<std::string> selected_;
  std::string last_json_ ABSL_GUARDED_BY(mu_);
  bool synced_ ABSL_GUARDED_BY(mu_) = false;
};

}  // namespace

FlagdSync::FlagdSync(ChangeHub* hub, EvaluationLimits limits,
                     ServerMetrics* metrics, const Authorizer* authorizer)
    : hub_(hub),
      limits_(limits),
      metrics_(OrNoMetrics(metrics)),
      authorizer_(Authorizer::OrAllowAll(authorizer)),
      streams_(limits.max_watch_streams_per_peer, "sync") {
  AddServerStream<fs::SyncFlagsRequest, fs::SyncFlagsResponse>(
      "/flagd.sync.v1.FlagSyncService/SyncFlags",
      [this](grpc::CallbackServerContext* c, const fs::SyncFlagsRequest* q) {
        return SyncFlags(c, q);
      });
  AddUnary<fs::FetchAllFlagsRequest, fs::FetchAllFlagsResponse>(
      "/flagd.sync.v1.FlagSyncService/FetchAllFlags",
      [this](grpc::CallbackServerContext* c, const fs::FetchAllFlagsRequest* q,
             fs::FetchAllFlagsResponse* r) { return FetchAllFlags(c, q, r); });
  AddUnary<fs::GetMetadataRequest, fs::GetMetadataResponse>(
      "/flagd.sync.v1.FlagSyncService/GetMetadata",
      [this](grpc::CallbackServerContext* c, const fs::GetMetadataRequest* q,
             fs::GetMetadataResponse* r) { return GetMetadata(c, q, r); });
}

FlagdPayload FlagdSync::Payload(
    const Snapshot& snapshot,
    const absl::flat_hash_set<std::string>& selected) {
  std::vector<const Flag*> flags;
  for (const auto& slot : snapshot.flags) {
    if (selected.empty() || selected.contains(slot.first)) {
      flags.push_back(&slot.second->record.flag);
    }
  }
  absl::flat_hash_map<std::string, const Segment*> segments;
  for (const auto& [key, record] : snapshot.segment_records) {
    segments[key] = &record->segment;
  }
  FlagdPayload payload = TranslateForFlagd(flags, segments);
  if (!payload.left_out.empty()) {
    absl::MutexLock lock(&mu_);
    if (logged_revision_ != snapshot.revision) {
      logged_revision_ = snapshot.revision;
      for (const auto& [key, why] : payload.left_out) {
        std::fprintf(stderr,
                     "cutoverd: flagd sync: flag %s left out at revision "
                     "%lld (in-process providers will not find it; RPC "
                     "mode serves it): %s\n",
                     key.c_str(), static_cast<long long>(snapshot.revision),
                     why.c_str());
      }
      metrics_->CountFlagdLeftOut(payload.left_out.size());
    }
  }
  return payload;
}

absl::StatusOr<StreamTicket> FlagdSync::AdmitStream(
    const grpc::ServerContextBase& call, const std::string& peer) {
  absl::StatusOr<StreamTicket> ticket =
      authorizer_->AllowStream(call, "SyncFlags");
  if (!ticket.ok()) return ticket.status();
  if (absl::Status s = streams_.Admit(peer); !s.ok()) return s;
  return ticket;
}

void FlagdSync::ReleaseStream(const std::string& peer) {
  streams_.Release(peer);
}

grpc::ServerWriteReactor<fs::SyncFlagsResponse>* FlagdSync::SyncFlags(
    grpc::CallbackServerContext* context, const fs::SyncFlagsRequest* request) {
  const std::string peer = PeerHost(context->peer());
  absl::StatusOr<StreamTicket> ticket = AdmitStream(*context, peer);
  if (!ticket.ok()) {
    return new RefusedStream<fs::SyncFlagsResponse>(
        ToGrpcStatus(ticket.status()));
  }
  auto* reactor = new SyncReactor(this, Selected(*context, request->selector()),
                                  [this, peer] { ReleaseStream(peer); });
  reactor->Track(*ticket);
  return reactor;
}

grpc::ServerUnaryReactor* FlagdSync::FetchAllFlags(
    grpc::CallbackServerContext* context,
    const fs::FetchAllFlagsRequest* request,
    fs::FetchAllFlagsResponse* response) {
  auto* reactor = context->DefaultReactor();
  absl::Status status = authorizer_->Allow(*context, "FetchAllFlags");
  if (status.ok()) {
    response->set_flag_configuration(
        Payload(*hub_->snapshot(), Selected(*context, request->selector()))
            .json);
  }
  reactor->Finish(ToGrpcStatus(status));
  return reactor;
}

grpc::ServerUnaryReactor* FlagdSync::GetMetadata(
    grpc::CallbackServerContext* context,
    const fs::GetMetadataRequest* /*request*/,
    fs::GetMetadataResponse* response) {
  auto* reactor = context->DefaultReactor();
  absl::Status status = authorizer_->Allow(*context, "GetMetadata");
  if (status.ok()) {
    (*response->mutable_metadata()->mutable_fields())["revision"]
        .set_number_value(static_cast<double>(hub_->snapshot()->revision));
  }
  reactor->Finish(ToGrpcStatus(status));
  return reactor;
}

}  // namespace cutover
