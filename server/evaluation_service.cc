#include "server/evaluation_service.h"

#include <climits>
#include <cstddef>
#include <forward_list>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/types/span.h"
#include "convert/convert.h"
#include "core/evaluate.h"
#include "google/protobuf/arena.h"
#include "google/protobuf/message_lite.h"
#include "grpc/slice.h"
#include "grpcpp/support/byte_buffer.h"
#include "grpcpp/support/slice.h"
#include "rpc/grpc_status.h"
#include "server/arena_messages.h"
#include "convert/decide_wire.h"
#include "server/queued_stream_reactor.h"
#include "server/unparsable_requests.h"

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

// The first block of a Decide request's arena, on the handler's stack.
constexpr size_t kDecideArenaBlock = 2048;

// A request's bytes, parsed as gRPC parses a typed method's. Bytes that do
// not parse get the refusal every other method gives them
// (UnparsableRequestMessage, naming `method`).
absl::Status ParseRequest(const grpc::ByteBuffer& bytes,
                          absl::string_view method,
                          google::protobuf::MessageLite* request) {
  grpc::Slice slice;
  // One slice, unless the request came compressed or in pieces.
  const bool read = bytes.TrySingleSlice(&slice).ok() ||
                    bytes.DumpToSingleSlice(&slice).ok();
  if (!read || slice.size() > static_cast<size_t>(INT_MAX) ||
      !request->ParseFromArray(slice.begin(), static_cast<int>(slice.size()))) {
    return absl::InvalidArgumentError(UnparsableRequestMessage(method));
  }
  return absl::OkStatus();
}

// Makes `answers` and `revision` the call's response.
void Respond(absl::Span<const DecideAnswer> answers, int64_t revision,
             grpc::ByteBuffer* response) {
  grpc_slice bytes = grpc_slice_malloc(DecideResponsesSize(answers, revision));
  WriteDecideResponses(answers, revision, GRPC_SLICE_START_PTR(bytes));
  grpc::Slice slice(bytes, grpc::Slice::STEAL_REF);
  grpc::ByteBuffer buffer(&slice, 1);
  response->Swap(&buffer);
}

// A request's answer, and what it is counted as: the flag's label (a view
// of the snapshot's key, or kUnknownFlagLabel) with the answer's stage and
// reason.
struct Decided {
  DecideAnswer answer;
  absl::string_view flag_label;
};

// Answers Decide requests from one snapshot. Consecutive requests for the
// same flag (the usual batch: one flag, many users) look it up once, and
// one core Context is reused for every request's conversion. The answers'
// bytes are the snapshot's and the decider's: write them while both live.
//
// Not thread-safe: one per call.
class SnapshotDecider {
 public:
  explicit SnapshotDecider(const Snapshot& snapshot) : snapshot_(snapshot) {}

  Decided Decide(const v1::DecideRequest& request) {
    if (flag_ == nullptr || request.flag_key() != flag_->first) {
      const FlagTable::Slot* found = snapshot_.flags.Find(request.flag_key());
      // Other keys are unbounded input: not a label of their own.
      if (found == nullptr) return NotFound(request, kUnknownFlagLabel);
      flag_ = found;
    }
    const FlagEntry& entry = *flag_->second;
    if (entry.record.flag.archived) return NotFound(request, flag_->first);
    FromProto(request.context(), &context_);
    const Verdict verdict =
        Evaluate(*entry.compiled, snapshot_.segments, context_);
    return {AnswerFor(*entry.compiled, entry.decision_bytes, verdict),
            flag_->first};
  }

 private:
  Decided NotFound(const v1::DecideRequest& request,
                   absl::string_view flag_label) {
    not_found_bytes_.push_front(ConstantDecisionBytes(
        SafeDecision(request.flag_key(), Reason::kFlagNotFound)));
    return {NotFoundAnswer(not_found_bytes_.front()), flag_label};
  }

  const Snapshot& snapshot_;
  // The flag last looked up, a view of the snapshot's entry.
  const FlagTable::Slot* flag_ = nullptr;
  Context context_;
  // The constant bytes of the answers for keys without a flag (a list:
  // answers hold views of them; and an empty one allocates nothing).
  std::forward_list<std::string> not_found_bytes_;
};

// One Watch stream: the hub's events, those of the requested flags (all
// without flag_keys), written as they are. A consumer that falls more than
// kMaxQueued events behind is ended with RESOURCE_EXHAUSTED and can resume
// from its last revision.
class WatchReactor final : public QueuedStreamReactor<v1::WatchEvent> {
 public:
  static constexpr size_t kMaxQueued = 100000;

  // `on_done` runs once the stream is over (e.g. to release its slot).
  WatchReactor(ChangeHub* hub, ServerMetrics* metrics,
               const v1::WatchRequest& request, std::function<void()> on_done)
      : QueuedStreamReactor(hub, kMaxQueued, "watch",
                            "watch: the stream fell too far behind; resume "
                            "from the last revision seen",
                            std::move(on_done)),
        metrics_(metrics),
        flag_keys_(request.flag_keys().begin(), request.flag_keys().end()) {
    const bool reset = hub->Subscribe(this, request.from_revision());
    metrics_->CountWatchOpened(request.from_revision() > 0, reset);
  }

  // Another flag's event is dropped before the stream's lock is taken.
  void Deliver(const v1::WatchEvent& event) override {
    if (!flag_keys_.empty() && event.has_flag() &&
        !flag_keys_.contains(event.flag().key())) {
      return;
    }
    QueuedStreamReactor::Deliver(event);
  }

 private:
  void OnEventLocked(const v1::WatchEvent& event) override
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    PushLocked(event);
  }
  void OnWrittenLocked(const v1::WatchEvent& event) override
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    metrics_->CountWatchEventSent(event.kind());
  }

  ServerMetrics* const metrics_;
  const absl::flat_hash_set<std::string> flag_keys_;
};

}  // namespace

EvaluationService::EvaluationService(
    ChangeHub* hub, EvaluationLimits limits, ServerMetrics* metrics,
    const Authorizer* authorizer,
    std::function<absl::Status(int64_t)> check_resume)
    : hub_(hub),
      limits_(limits),
      metrics_(OrNoMetrics(metrics)),
      authorizer_(Authorizer::OrAllowAll(authorizer)),
      check_resume_(std::move(check_resume)),
      watch_streams_(limits.max_watch_streams_per_peer, "watch") {}

grpc::ServerUnaryReactor* EvaluationService::Decide(
    grpc::CallbackServerContext* context, const grpc::ByteBuffer* request_bytes,
    grpc::ByteBuffer* response) {
  auto* reactor = context->DefaultReactor();
  const absl::Time start = absl::Now();
  // The request's arena starts in this frame: a request with a few
  // attributes allocates nothing.
  alignas(std::max_align_t) char arena_block[kDecideArenaBlock];
  google::protobuf::ArenaOptions options;
  options.initial_block = arena_block;
  options.initial_block_size = sizeof(arena_block);
  google::protobuf::Arena arena(options);
  auto* request =
      google::protobuf::Arena::CreateMessage<v1::DecideRequest>(&arena);
  absl::Status status =
      ParseRequest(*request_bytes, "/cutover.v1.Evaluation/Decide", request);
  if (status.ok()) status = authorizer_->Allow(*context, "Decide");
  if (status.ok()) status = CheckRequest(*request, limits_, -1);
  if (status.ok()) {
    const Snapshot& snapshot = hub_->current();
    SnapshotDecider decider(snapshot);
    const Decided decided = decider.Decide(*request);
    metrics_->CountDecisions(decided.flag_label, decided.answer.stage,
                             decided.answer.reason, 1);
    Respond({&decided.answer, 1}, snapshot.revision, response);
    metrics_->ObserveDecideLatency(DecideRpc::kDecide, absl::Now() - start);
  }
  reactor->Finish(ToGrpcStatus(status));
  return reactor;
}

grpc::ServerUnaryReactor* EvaluationService::DecideBatch(
    grpc::CallbackServerContext* context, const grpc::ByteBuffer* request_bytes,
    grpc::ByteBuffer* response) {
  auto* reactor = context->DefaultReactor();
  const absl::Time start = absl::Now();
  CallArena arena(&batch_blocks_);
  auto* request = google::protobuf::Arena::CreateMessage<
      v1::DecideBatchRequest>(arena.arena());
  absl::Status status = ParseRequest(
      *request_bytes, "/cutover.v1.Evaluation/DecideBatch", request);
  if (status.ok()) status = authorizer_->Allow(*context, "DecideBatch");
  if (!status.ok()) {
    // unparsable or refused; nothing else is looked at
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
    const Snapshot& snapshot = hub_->current();
    std::vector<DecideAnswer> answers;
    answers.reserve(static_cast<size_t>(request->items_size()));
    DecisionTally tally;
    SnapshotDecider decider(snapshot);
    for (const auto& item : request->items()) {
      const Decided decided = decider.Decide(item);
      answers.push_back(decided.answer);
      tally.Add(decided.flag_label, decided.answer.stage,
                decided.answer.reason);
    }
    tally.Flush(*metrics_);
    Respond(answers, snapshot.revision, response);
    metrics_->ObserveBatchSize(request->items_size());
    metrics_->ObserveDecideLatency(DecideRpc::kDecideBatch,
                                   absl::Now() - start);
  }
  reactor->Finish(ToGrpcStatus(status));
  return reactor;
}

grpc::ServerWriteReactor<v1::WatchEvent>* EvaluationService::Watch(
    grpc::CallbackServerContext* context, const v1::WatchRequest* request) {
  absl::StatusOr<StreamTicket> ticket =
      authorizer_->AllowStream(*context, "Watch");
  absl::Status status = ticket.status();
  if (status.ok() && request->flag_keys_size() > limits_.max_batch) {
    status = absl::InvalidArgumentError(
        absl::StrCat("flag_keys: ", request->flag_keys_size(),
                     " keys, more than the limit of ", limits_.max_batch,
                     " (max_batch)"));
  }
  if (status.ok() && check_resume_ && request->from_revision() > 0) {
    status = check_resume_(request->from_revision());
  }
  const std::string peer = PeerHost(context->peer());
  if (status.ok()) status = watch_streams_.Admit(peer);
  if (!status.ok()) {
    return new RefusedStream<v1::WatchEvent>(ToGrpcStatus(status));
  }
  auto* reactor = new WatchReactor(
      hub_, metrics_, *request, [this, peer] { watch_streams_.Release(peer); });
  reactor->Track(*ticket);
  return reactor;
}

}  // namespace cutover
