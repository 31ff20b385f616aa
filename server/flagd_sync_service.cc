#include "server/flagd_sync_service.h"

#include <cstdio>
#include <deque>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "rpc/grpc_status.h"

namespace cutover {
namespace {

namespace fs = flagd::sync::v1;

std::string PeerHost(const std::string& peer) {
  const size_t colon = peer.rfind(':');
  return colon == std::string::npos ? peer : peer.substr(0, colon);
}

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
// revision that changes it. Writes one at a time; a consumer more than
// kMaxQueued payloads behind is ended with RESOURCE_EXHAUSTED.
class SyncReactor final
    : public grpc::ServerWriteReactor<fs::SyncFlagsResponse>,
      public ChangeHub::Subscriber {
 public:
  static constexpr size_t kMaxQueued = 64;

  SyncReactor(FlagdSync* service, absl::flat_hash_set<std::string> selected,
              std::function<void()> on_done)
      : service_(service),
        selected_(std::move(selected)),
        on_done_(std::move(on_done)) {
    const auto snapshot = service_->hub()->snapshot();
    {
      absl::MutexLock lock(&mu_);
      PushLocked(service_->Payload(*snapshot, selected_).json);
    }
    service_->hub()->Subscribe(this, snapshot->revision);
  }

  void Deliver(const v1::WatchEvent& event) override {
    absl::MutexLock lock(&mu_);
    if (done_) return;
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
    PushLocked(service_->Payload(*service_->hub()->snapshot(), selected_).json);
  }

  void Close() override {
    absl::MutexLock lock(&mu_);
    FinishLocked(grpc::Status(grpc::StatusCode::UNAVAILABLE,
                              "sync: cutoverd is shutting down"));
  }

  void OnWriteDone(bool ok) override {
    absl::MutexLock lock(&mu_);
    writing_ = false;
    queue_.pop_front();
    if (!ok) {
      FinishLocked(
          grpc::Status(grpc::StatusCode::UNAVAILABLE, "sync: write failed"));
      return;
    }
    if (!queue_.empty() && !done_) WriteNextLocked();
  }

  void OnCancel() override {
    absl::MutexLock lock(&mu_);
    FinishLocked(grpc::Status::CANCELLED);
  }

  void OnDone() override {
    service_->hub()->Unsubscribe(this);
    on_done_();
    delete this;
  }

 private:
  void PushLocked(std::string json) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (json == last_json_) return;  // nothing this stream sees changed
    last_json_ = json;
    if (queue_.size() >= kMaxQueued) {
      FinishLocked(grpc::Status(grpc::StatusCode::RESOURCE_EXHAUSTED,
                                "sync: fell too far behind"));
      return;
    }
    queue_.emplace_back();
    queue_.back().set_flag_configuration(std::move(json));
    if (!writing_) WriteNextLocked();
  }
  void WriteNextLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    writing_ = true;
    StartWrite(&queue_.front());
  }
  void FinishLocked(const grpc::Status& status)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (done_) return;
    done_ = true;
    Finish(status);
  }

  FlagdSync* const service_;
  const absl::flat_hash_set<std::string> selected_;
  const std::function<void()> on_done_;
  absl::Mutex mu_;
  std::deque<fs::SyncFlagsResponse> queue_ ABSL_GUARDED_BY(mu_);
  std::string last_json_ ABSL_GUARDED_BY(mu_);
  bool synced_ ABSL_GUARDED_BY(mu_) = false;
  bool writing_ ABSL_GUARDED_BY(mu_) = false;
  bool done_ ABSL_GUARDED_BY(mu_) = false;
};

class RefusedSync final
    : public grpc::ServerWriteReactor<fs::SyncFlagsResponse> {
 public:
  explicit RefusedSync(const grpc::Status& status) { Finish(status); }
  void OnDone() override { delete this; }
};

}  // namespace

FlagdSync::FlagdSync(ChangeHub* hub, EvaluationLimits limits,
                     ServerMetrics* metrics, const Authorizer* authorizer)
    : hub_(hub),
      limits_(limits),
      metrics_(OrNoMetrics(metrics)),
      authorizer_(Authorizer::OrAllowAll(authorizer)) {
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

absl::Status FlagdSync::AdmitStream(const grpc::ServerContextBase& call,
                                    const std::string& peer) {
  if (absl::Status s = authorizer_->Allow(call, "SyncFlags"); !s.ok()) {
    return s;
  }
  absl::MutexLock lock(&mu_);
  int& open = streams_[peer];
  if (open >= limits_.max_watch_streams_per_peer) {
    if (open == 0) streams_.erase(peer);
    return absl::ResourceExhaustedError(
        absl::StrCat("sync: ", limits_.max_watch_streams_per_peer,
                     " streams already open from this address "
                     "(max_watch_streams_per_peer)"));
  }
  open += 1;
  return absl::OkStatus();
}

void FlagdSync::ReleaseStream(const std::string& peer) {
  absl::MutexLock lock(&mu_);
  auto it = streams_.find(peer);
  if (it != streams_.end() && --it->second <= 0) streams_.erase(it);
}

grpc::ServerWriteReactor<fs::SyncFlagsResponse>* FlagdSync::SyncFlags(
    grpc::CallbackServerContext* context, const fs::SyncFlagsRequest* request) {
  const std::string peer = PeerHost(context->peer());
  absl::Status status = AdmitStream(*context, peer);
  if (!status.ok()) return new RefusedSync(ToGrpcStatus(status));
  return new SyncReactor(this, Selected(*context, request->selector()),
                         [this, peer] { ReleaseStream(peer); });
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
