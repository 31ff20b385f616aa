#include "server/evaluation_service.h"

#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "convert/convert.h"
#include "core/evaluate.h"
#include "google/protobuf/arena.h"
#include "rpc/grpc_status.h"
#include "server/arena_messages.h"

namespace cutover {
namespace {

// `item` is the index of the request in a batch (error messages name it,
// "items[3].flag_key: ..."), or -1 for a single Decide. The field prefix is
// built only for an error: a batch checks every item on the hot path.
absl::Status CheckRequest(const v1::DecideRequest& request,
                          const EvaluationLimits& limits, int item) {
  auto bad = [item](absl::string_view what) {
    return absl::InvalidArgumentError(
        item < 0 ? std::string(what) : absl::StrCat("items[", item, "].", what));
  };
  if (request.flag_key().empty()) return bad("flag_key: required");
  if (static_cast<int>(request.flag_key().size()) > limits.max_key_length) {
    return bad(absl::StrCat("flag_key: longer than ", limits.max_key_length,
                            " bytes"));
  }
  const auto& context = request.context();
  if (static_cast<int>(context.targeting_key().size()) >
      limits.max_key_length) {
    return bad(absl::StrCat("context.targeting_key: longer than ",
                            limits.max_key_length, " bytes"));
  }
  if (context.attributes_size() > limits.max_attributes) {
    return bad(absl::StrCat("context.attributes: more than ",
                            limits.max_attributes, " entries"));
  }
  for (const auto& [name, value] : context.attributes()) {
    if (name.empty() ||
        static_cast<int>(name.size()) > limits.max_attribute_length ||
        static_cast<int>(value.size()) > limits.max_attribute_length) {
      return bad(absl::StrCat("context.attributes[\"", name.substr(0, 64),
                              "\"]: name must be 1 to ",
                              limits.max_attribute_length,
                              " bytes, value at most as long"));
    }
  }
  return absl::OkStatus();
}

// What a decision is counted as: the flag's label (a view of the
// snapshot's key, or kUnknownFlagLabel), stage and reason.
struct DecisionKind {
  absl::string_view flag_label;
  Stage stage;
  Reason reason;
};

// Answers Decide requests from one snapshot. Consecutive requests for the
// same flag (the usual batch: one flag, many users) look it up once, and
// one core Context is reused for every request's conversion.
//
// Not thread-safe: one per call.
class SnapshotDecider {
 public:
  explicit SnapshotDecider(const Snapshot& snapshot) : snapshot_(snapshot) {}

  DecisionKind Decide(const v1::DecideRequest& request, v1::Decision* out) {
    if (flag_ == nullptr || request.flag_key() != flag_->first) {
      const FlagTable::Slot* found = snapshot_.flags.Find(request.flag_key());
      if (found == nullptr) {
        ToProto(SafeDecision(request.flag_key(), Reason::kFlagNotFound), out);
        // Other keys are unbounded input: not a label of their own.
        return {kUnknownFlagLabel, Stage::kOff, Reason::kFlagNotFound};
      }
      flag_ = found;
    }
    const FlagEntry& entry = *flag_->second;
    if (entry.record.flag.archived) {
      ToProto(SafeDecision(request.flag_key(), Reason::kFlagNotFound), out);
      return {flag_->first, Stage::kOff, Reason::kFlagNotFound};  // its label
    }
    FromProto(request.context(), &context_);
    const Decision decision =
        cutover::Decide(*entry.compiled, snapshot_.segments, context_);
    ToProto(decision, out);
    return {flag_->first, decision.stage, decision.reason};
  }

 private:
  const Snapshot& snapshot_;
  // The flag last looked up, a view of the snapshot's entry.
  const FlagTable::Slot* flag_ = nullptr;
  Context context_;
};

// One Watch stream: events queue here and are written one at a time (the
// callback API allows one outstanding write). A consumer that falls more
// than kMaxQueued events behind is ended with RESOURCE_EXHAUSTED and can
// resume from its last revision.
class WatchReactor final : public grpc::ServerWriteReactor<v1::WatchEvent>,
                           public ChangeHub::Subscriber {
 public:
  static constexpr size_t kMaxQueued = 100000;

  // `on_done` runs once the stream is over (e.g. to release its slot).
  WatchReactor(ChangeHub* hub, ServerMetrics* metrics,
               const v1::WatchRequest& request, std::function<void()> on_done)
      : hub_(hub),
        metrics_(metrics),
        on_done_(std::move(on_done)),
        flag_keys_(request.flag_keys().begin(), request.flag_keys().end()) {
    const bool reset = hub_->Subscribe(this, request.from_revision());
    metrics_->CountWatchOpened(request.from_revision() > 0, reset);
  }

  void Deliver(const v1::WatchEvent& event) override {
    if (!flag_keys_.empty() && event.has_flag() &&
        !flag_keys_.contains(event.flag().key())) {
      return;
    }
    absl::MutexLock lock(&mu_);
    if (done_) return;
    if (queue_.size() >= kMaxQueued) {
      FinishLocked(grpc::Status(grpc::StatusCode::RESOURCE_EXHAUSTED,
                                "watch: the stream fell too far behind; "
                                "resume from the last revision seen"));
      return;
    }
    queue_.push_back(event);
    if (!writing_) WriteNextLocked();
  }

  void Close() override {
    absl::MutexLock lock(&mu_);
    FinishLocked(grpc::Status(grpc::StatusCode::UNAVAILABLE,
                              "watch: cutoverd is shutting down"));
  }

  void OnWriteDone(bool ok) override {
    absl::MutexLock lock(&mu_);
    writing_ = false;
    if (ok) metrics_->CountWatchEventSent(queue_.front().kind());
    queue_.pop_front();
    if (!ok) {
      FinishLocked(grpc::Status(grpc::StatusCode::UNAVAILABLE,
                                "watch: write failed"));
      return;
    }
    if (!queue_.empty() && !done_) WriteNextLocked();
  }

  void OnCancel() override {
    absl::MutexLock lock(&mu_);
    FinishLocked(grpc::Status::CANCELLED);
  }

  void OnDone() override {
    hub_->Unsubscribe(this);
    on_done_();
    delete this;
  }

 private:
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

  ChangeHub* const hub_;
  ServerMetrics* const metrics_;
  const std::function<void()> on_done_;
  const absl::flat_hash_set<std::string> flag_keys_;
  absl::Mutex mu_;
  // Front is the event being written while writing_; std::deque keeps its
  // address stable while others are pushed behind it.
  std::deque<v1::WatchEvent> queue_ ABSL_GUARDED_BY(mu_);
  bool writing_ ABSL_GUARDED_BY(mu_) = false;
  bool done_ ABSL_GUARDED_BY(mu_) = false;
};

// A Watch refused before it started: finishes at once with `status`.
class RefusedWatch final : public grpc::ServerWriteReactor<v1::WatchEvent> {
 public:
  explicit RefusedWatch(const grpc::Status& status) { Finish(status); }
  void OnDone() override { delete this; }
};

// The address part of a gRPC peer ("ipv4:127.0.0.1:5000" -> "ipv4:127.0.0.1").
std::string PeerHost(const std::string& peer) {
  const size_t colon = peer.rfind(':');
  return colon == std::string::npos ? peer : peer.substr(0, colon);
}

}  // namespace

EvaluationService::EvaluationService(ChangeHub* hub, EvaluationLimits limits,
                                     ServerMetrics* metrics,
                                     const Authorizer* authorizer)
    : hub_(hub),
      limits_(limits),
      metrics_(OrNoMetrics(metrics)),
      authorizer_(Authorizer::OrAllowAll(authorizer)),
      decide_allocator_(std::make_unique<ArenaMessageAllocator<
                            v1::DecideRequest, v1::DecideResponse>>(false)),
      batch_allocator_(std::make_unique<ArenaMessageAllocator<
                           v1::DecideBatchRequest, v1::DecideBatchResponse>>(
          true)) {
  SetMessageAllocatorFor_Decide(decide_allocator_.get());
  SetMessageAllocatorFor_DecideBatch(batch_allocator_.get());
}

absl::Status EvaluationService::AdmitWatch(const std::string& peer) {
  absl::MutexLock lock(&watch_mu_);
  int& open = watch_streams_[peer];
  if (open >= limits_.max_watch_streams_per_peer) {
    if (open == 0) watch_streams_.erase(peer);
    return absl::ResourceExhaustedError(absl::StrCat(
        "watch: ", limits_.max_watch_streams_per_peer,
        " streams already open from this address "
        "(max_watch_streams_per_peer)"));
  }
  open += 1;
  return absl::OkStatus();
}

void EvaluationService::ReleaseWatch(const std::string& peer) {
  absl::MutexLock lock(&watch_mu_);
  auto it = watch_streams_.find(peer);
  if (it != watch_streams_.end() && --it->second <= 0) {
    watch_streams_.erase(it);
  }
}

grpc::ServerUnaryReactor* EvaluationService::Decide(
    grpc::CallbackServerContext* context, const v1::DecideRequest* request,
    v1::DecideResponse* response) {
  auto* reactor = context->DefaultReactor();
  const absl::Time start = absl::Now();
  absl::Status status = authorizer_->Allow(*context, "Decide");
  if (status.ok()) status = CheckRequest(*request, limits_, -1);
  if (status.ok()) {
    const auto snapshot = hub_->snapshot();
    const DecisionKind kind = SnapshotDecider(*snapshot).Decide(
        *request, response->mutable_decision());
    metrics_->CountDecisions(kind.flag_label, kind.stage, kind.reason, 1);
    response->set_revision(snapshot->revision);
    metrics_->ObserveDecideLatency(DecideRpc::kDecide, absl::Now() - start);
  }
  reactor->Finish(ToGrpcStatus(status));
  return reactor;
}

grpc::ServerUnaryReactor* EvaluationService::DecideBatch(
    grpc::CallbackServerContext* context,
    const v1::DecideBatchRequest* request, v1::DecideBatchResponse* response) {
  auto* reactor = context->DefaultReactor();
  const absl::Time start = absl::Now();
  absl::Status status =
      authorizer_->Allow(*context, "DecideBatch");
  if (!status.ok()) {
    // refused; nothing else is looked at
  } else if (request->items_size() == 0) {
    status = absl::InvalidArgumentError("items: at least one item");
  } else if (request->items_size() > limits_.max_batch) {
    status = absl::InvalidArgumentError(
        absl::StrCat("items: ", request->items_size(), " items, more than the "
                     "limit of ", limits_.max_batch, " (max_batch)"));
  }
  for (int i = 0; status.ok() && i < request->items_size(); ++i) {
    status = CheckRequest(request->items(i), limits_, i);
  }
  if (status.ok()) {
    const auto snapshot = hub_->snapshot();
    response->mutable_decisions()->Reserve(request->items_size());
    DecisionTally tally;
    SnapshotDecider decider(*snapshot);
    for (const auto& item : request->items()) {
      const DecisionKind kind = decider.Decide(item, response->add_decisions());
      tally.Add(kind.flag_label, kind.stage, kind.reason);
    }
    tally.Flush(*metrics_);
    response->set_revision(snapshot->revision);
    metrics_->ObserveBatchSize(request->items_size());
    metrics_->ObserveDecideLatency(DecideRpc::kDecideBatch,
                                   absl::Now() - start);
  }
  reactor->Finish(ToGrpcStatus(status));
  return reactor;
}

grpc::ServerWriteReactor<v1::WatchEvent>* EvaluationService::Watch(
    grpc::CallbackServerContext* context, const v1::WatchRequest* request) {
  absl::Status status = authorizer_->Allow(*context, "Watch");
  if (status.ok() && request->flag_keys_size() > limits_.max_batch) {
    status = absl::InvalidArgumentError(
        absl::StrCat("flag_keys: ", request->flag_keys_size(),
                     " keys, more than the limit of ", limits_.max_batch,
                     " (max_batch)"));
  }
  const std::string peer = PeerHost(context->peer());
  if (status.ok()) status = AdmitWatch(peer);
  if (!status.ok()) return new RefusedWatch(ToGrpcStatus(status));
  return new WatchReactor(hub_, metrics_, *request,
                          [this, peer] { ReleaseWatch(peer); });
}

}  // namespace cutover
