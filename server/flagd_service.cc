#include "server/flagd_service.h"

#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "absl/container/btree_set.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "rpc/grpc_status.h"
#include "server/flagd_edge.h"
#include "server/queued_stream_reactor.h"

namespace cutover {
namespace {

namespace fv1 = flagd::evaluation::v1;
namespace fv2 = flagd::evaluation::v2;
using StringReply = cutover::flagd_wire::ResolveStringReply;

// How often an idle event stream gets a keep_alive (flagd's interval). The
// check runs at each hub heartbeat, so the gap is up to one heartbeat more.
constexpr absl::Duration kKeepAliveInterval = absl::Seconds(20);

// Fills the ResolveString reply (both versions) from a decision.
void FillString(const FlagdResolver::Resolved& r,
                cutover::flagd_wire::ResolveStringReply* response) {
  const char* stage = StageName(r.decision.stage);
  response->set_value(stage);
  response->set_variant(stage);
  response->set_reason(FlagdReason(*r.flag, r.decision));
  FlagdMetadataBytes(r.decision, r.snapshot->revision,
                     response->mutable_metadata());
}

template <class Response>
void FillObject(const FlagdResolver::Resolved& r, Response* response) {
  DecisionStruct(r.decision, r.snapshot->revision, response->mutable_value());
  response->set_variant(StageName(r.decision.stage));
  response->set_reason(FlagdReason(*r.flag, r.decision));
  FlagdMetadata(r.decision, r.snapshot->revision, response->mutable_metadata());
}

// A unary call: `fill` runs only when `status` is OK.
template <class Fill>
grpc::ServerUnaryReactor* Answer(grpc::CallbackServerContext* context,
                                 const absl::Status& status, Fill fill) {
  auto* reactor = context->DefaultReactor();
  if (status.ok()) fill();
  reactor->Finish(ToGrpcStatus(status));
  return reactor;
}

// One EventStream: provider_ready at once, a configuration_change per
// revision after it (the changed flag keys; a segment change names every
// flag, as any of them may use it), keep_alive every kKeepAliveInterval.
// A consumer more than kMaxQueued events behind is ended with
// RESOURCE_EXHAUSTED, as Watch is.
template <class Event>
class EventStreamReactor final : public QueuedStreamReactor<Event> {
 public:
  static constexpr size_t kMaxQueued = 10000;

  EventStreamReactor(ChangeHub* hub, std::function<void()> on_done)
      : QueuedStreamReactor<Event>(hub, kMaxQueued, "event stream",
                                   "event stream: fell too far behind",
                                   std::move(on_done)) {
    {
      absl::MutexLock lock(&this->mu_);
      Event ready;
      ready.set_type("provider_ready");
      ready.mutable_data();
      SendLocked(std::move(ready));
    }
    // Catch-up events before SYNCED are what the provider has not seen
    // yet only in name: it resolves afresh after provider_ready.
    hub->Subscribe(this, hub->snapshot()->revision);
  }

 private:
  void OnEventLocked(const v1::WatchEvent& event) override
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(this->mu_) {
    switch (event.kind()) {
      case v1::WatchEvent::SYNCED:
        synced_ = true;
        return;
      case v1::WatchEvent::HEARTBEAT:
        if (absl::Now() - last_sent_ >= kKeepAliveInterval) {
          Event keep_alive;
          keep_alive.set_type("keep_alive");
          keep_alive.mutable_data();
          SendLocked(std::move(keep_alive));
        }
        return;
      case v1::WatchEvent::FLAG_UPSERTED:
      case v1::WatchEvent::FLAG_ARCHIVED:
        if (!synced_) return;
        changed_.insert(event.flag().key());
        break;
      case v1::WatchEvent::SEGMENT_UPSERTED:
      case v1::WatchEvent::SEGMENT_DELETED:
        if (!synced_) return;
        for (const auto& slot : this->hub()->snapshot()->flags) {
          changed_.insert(slot.first);
        }
        break;
      default:
        return;
    }
    if (event.more_in_revision() || changed_.empty()) return;
    Event change;
    change.set_type("configuration_change");
    auto& flags = *(*change.mutable_data()->mutable_fields())["flags"]
                       .mutable_struct_value()
                       ->mutable_fields();
    for (const std::string& key : changed_) {
      (*flags[key].mutable_struct_value()->mutable_fields())["type"]
          .set_string_value("update");
    }
    changed_.clear();
    SendLocked(std::move(change));
  }

  // Queues `event`, noting the time for the next keep_alive.
  void SendLocked(Event event) ABSL_EXCLUSIVE_LOCKS_REQUIRED(this->mu_) {
    last_sent_ = absl::Now();
    this->PushLocked(std::move(event));
  }

  absl::btree_set<std::string> changed_ ABSL_GUARDED_BY(this->mu_);
  absl::Time last_sent_ ABSL_GUARDED_BY(this->mu_) = absl::Now();
  bool synced_ ABSL_GUARDED_BY(this->mu_) = false;
};

template <class Event>
grpc::ServerWriteReactor<Event>* OpenEventStream(
    FlagdResolver* resolver, grpc::CallbackServerContext* context) {
  const std::string peer = PeerHost(context->peer());
  absl::StatusOr<StreamTicket> ticket = resolver->AdmitStream(*context, peer);
  if (!ticket.ok()) {
    return new RefusedStream<Event>(ToGrpcStatus(ticket.status()));
  }
  auto* reactor = new EventStreamReactor<Event>(
      resolver->hub(), [resolver, peer] { resolver->ReleaseStream(peer); });
  reactor->Track(*ticket);
  return reactor;
}

}  // namespace

FlagdResolver::FlagdResolver(ChangeHub* hub, EvaluationLimits limits,
                             ServerMetrics* metrics,
                             const Authorizer* authorizer)
    : hub_(hub),
      limits_(limits),
      metrics_(OrNoMetrics(metrics)),
      authorizer_(Authorizer::OrAllowAll(authorizer)),
      streams_(limits.max_watch_streams_per_peer, "event stream") {}

absl::Status FlagdResolver::Resolve(const grpc::ServerContextBase& call,
                                    absl::string_view method,
                                    const std::string& flag_key,
                                    const google::protobuf::Struct& context,
                                    bool type_matches, Resolved* out) const {
  if (absl::Status s = authorizer_->Allow(call, method); !s.ok()) return s;
  out->snapshot = hub_->snapshot();
  const FlagTable::Slot* slot = out->snapshot->flags.Find(flag_key);
  if (slot == nullptr || slot->second->record.flag.archived) {
    return absl::NotFoundError(kFlagdFlagNotFound);
  }
  if (!type_matches) return absl::InvalidArgumentError(kFlagdTypeMismatch);
  Context core_context;
  if (absl::Status s = ContextFromFlagd(context, limits_, &core_context);
      !s.ok()) {
    return s;
  }
  const FlagEntry& entry = *slot->second;
  out->flag = &entry.record.flag;
  out->decision =
      cutover::Decide(*entry.compiled, out->snapshot->segments, core_context);
  metrics_->CountDecisions(slot->first, out->decision.stage,
                           out->decision.reason, 1);
  return absl::OkStatus();
}

absl::Status FlagdResolver::ResolveAll(
    const grpc::ServerContextBase& call,
    const google::protobuf::Struct& context,
    std::shared_ptr<const Snapshot>* snapshot,
    const std::function<void(const Flag&, const Decision&)>& each) const {
  if (absl::Status s = authorizer_->Allow(call, "ResolveAll"); !s.ok()) {
    return s;
  }
  Context core_context;
  if (absl::Status s = ContextFromFlagd(context, limits_, &core_context);
      !s.ok()) {
    return s;
  }
  *snapshot = hub_->snapshot();
  DecisionTally tally;
  for (const auto& slot : (*snapshot)->flags) {
    const FlagEntry& entry = *slot.second;
    if (entry.record.flag.archived) continue;
    const Decision decision =
        cutover::Decide(*entry.compiled, (*snapshot)->segments, core_context);
    tally.Add(slot.first, decision.stage, decision.reason);
    each(entry.record.flag, decision);
  }
  tally.Flush(*metrics_);
  return absl::OkStatus();
}

absl::StatusOr<StreamTicket> FlagdResolver::AdmitStream(
    const grpc::ServerContextBase& call, const std::string& peer) {
  absl::StatusOr<StreamTicket> ticket =
      authorizer_->AllowStream(call, "EventStream");
  if (!ticket.ok()) return ticket.status();
  if (absl::Status s = streams_.Admit(peer); !s.ok()) return s;
  return ticket;
}

void FlagdResolver::ReleaseStream(const std::string& peer) {
  streams_.Release(peer);
}

// --- v1 ---------------------------------------------------------------------

FlagdEvaluationV1::FlagdEvaluationV1(FlagdResolver* resolver)
    : resolver_(resolver) {
  AddUnary<fv1::ResolveAllRequest, fv1::ResolveAllResponse>(
      "/flagd.evaluation.v1.Service/ResolveAll",
      [this](grpc::CallbackServerContext* c, const fv1::ResolveAllRequest* q,
             fv1::ResolveAllResponse* r) { return ResolveAll(c, q, r); });
  AddUnary<fv1::ResolveBooleanRequest, fv1::ResolveBooleanResponse>(
      "/flagd.evaluation.v1.Service/ResolveBoolean",
      [this](
          grpc::CallbackServerContext* c, const fv1::ResolveBooleanRequest* q,
          fv1::ResolveBooleanResponse* r) { return ResolveBoolean(c, q, r); });
  AddUnary<fv1::ResolveStringRequest, StringReply>(
      "/flagd.evaluation.v1.Service/ResolveString",
      [this](grpc::CallbackServerContext* c, const fv1::ResolveStringRequest* q,
             StringReply* r) { return ResolveString(c, q, r); });
  AddUnary<fv1::ResolveFloatRequest, fv1::ResolveFloatResponse>(
      "/flagd.evaluation.v1.Service/ResolveFloat",
      [this](grpc::CallbackServerContext* c, const fv1::ResolveFloatRequest* q,
             fv1::ResolveFloatResponse* r) { return ResolveFloat(c, q, r); });
  AddUnary<fv1::ResolveIntRequest, fv1::ResolveIntResponse>(
      "/flagd.evaluation.v1.Service/ResolveInt",
      [this](grpc::CallbackServerContext* c, const fv1::ResolveIntRequest* q,
             fv1::ResolveIntResponse* r) { return ResolveInt(c, q, r); });
  AddUnary<fv1::ResolveObjectRequest, fv1::ResolveObjectResponse>(
      "/flagd.evaluation.v1.Service/ResolveObject",
      [this](grpc::CallbackServerContext* c, const fv1::ResolveObjectRequest* q,
             fv1::ResolveObjectResponse* r) { return ResolveObject(c, q, r); });
  AddServerStream<fv1::EventStreamRequest, fv1::EventStreamResponse>(
      "/flagd.evaluation.v1.Service/EventStream",
      [this](grpc::CallbackServerContext* c, const fv1::EventStreamRequest* q) {
        return EventStream(c, q);
      });
}

grpc::ServerUnaryReactor* FlagdEvaluationV1::ResolveAll(
    grpc::CallbackServerContext* context, const fv1::ResolveAllRequest* request,
    fv1::ResolveAllResponse* response) {
  std::shared_ptr<const Snapshot> snapshot;
  const absl::Status status = resolver_->ResolveAll(
      *context, request->context(), &snapshot,
      [response, &snapshot](const Flag& flag, const Decision& decision) {
        fv1::AnyFlag& any = (*response->mutable_flags())[flag.key];
        const char* stage = StageName(decision.stage);
        any.set_string_value(stage);
        any.set_variant(stage);
        any.set_reason(FlagdReason(flag, decision));
        FlagdMetadata(decision, snapshot->revision, any.mutable_metadata());
      });
  return Answer(context, status, [&] {
    (*response->mutable_metadata()->mutable_fields())["revision"]
        .set_number_value(static_cast<double>(snapshot->revision));
  });
}

// Each typed Resolve of each version: the role, the lookup, the type check,
// the context, Decide, then `Fill` writes the response.
#define CUTOVER_FLAGD_RESOLVE(Version, ns, Name, Response, TypeMatches,  \
                              Fill)                                        \
  grpc::ServerUnaryReactor* FlagdEvaluation##Version::Resolve##Name(       \
      grpc::CallbackServerContext* context,                                \
      const ns::Resolve##Name##Request* request, Response* response) {     \
    FlagdResolver::Resolved resolved;                                      \
    const absl::Status status =                                            \
        resolver_->Resolve(*context, "Resolve" #Name, request->flag_key(), \
                           request->context(), TypeMatches, &resolved);    \
    return Answer(context, status, [&] { Fill(resolved, response); });     \
  }

namespace {
// Typed calls on a migration flag never get past the type check.
template <class Response>
void NoFill(const FlagdResolver::Resolved&, Response*) {}
}  // namespace

CUTOVER_FLAGD_RESOLVE(V1, fv1, String, StringReply, true, FillString)
CUTOVER_FLAGD_RESOLVE(V1, fv1, Object, fv1::ResolveObjectResponse, true, FillObject)
CUTOVER_FLAGD_RESOLVE(V1, fv1, Boolean, fv1::ResolveBooleanResponse, false, NoFill)
CUTOVER_FLAGD_RESOLVE(V1, fv1, Int, fv1::ResolveIntResponse, false, NoFill)
CUTOVER_FLAGD_RESOLVE(V1, fv1, Float, fv1::ResolveFloatResponse, false, NoFill)

grpc::ServerWriteReactor<fv1::EventStreamResponse>*
FlagdEvaluationV1::EventStream(grpc::CallbackServerContext* context,
                               const fv1::EventStreamRequest* /*request*/) {
  return OpenEventStream<fv1::EventStreamResponse>(resolver_, context);
}

// --- v2 ---------------------------------------------------------------------

FlagdEvaluationV2::FlagdEvaluationV2(FlagdResolver* resolver)
    : resolver_(resolver) {
  AddUnary<fv2::ResolveBooleanRequest, fv2::ResolveBooleanResponse>(
      "/flagd.evaluation.v2.Service/ResolveBoolean",
      [this](
          grpc::CallbackServerContext* c, const fv2::ResolveBooleanRequest* q,
          fv2::ResolveBooleanResponse* r) { return ResolveBoolean(c, q, r); });
  AddUnary<fv2::ResolveStringRequest, StringReply>(
      "/flagd.evaluation.v2.Service/ResolveString",
      [this](grpc::CallbackServerContext* c, const fv2::ResolveStringRequest* q,
             StringReply* r) { return ResolveString(c, q, r); });
  AddUnary<fv2::ResolveFloatRequest, fv2::ResolveFloatResponse>(
      "/flagd.evaluation.v2.Service/ResolveFloat",
      [this](grpc::CallbackServerContext* c, const fv2::ResolveFloatRequest* q,
             fv2::ResolveFloatResponse* r) { return ResolveFloat(c, q, r); });
  AddUnary<fv2::ResolveIntRequest, fv2::ResolveIntResponse>(
      "/flagd.evaluation.v2.Service/ResolveInt",
      [this](grpc::CallbackServerContext* c, const fv2::ResolveIntRequest* q,
             fv2::ResolveIntResponse* r) { return ResolveInt(c, q, r); });
  AddUnary<fv2::ResolveObjectRequest, fv2::ResolveObjectResponse>(
      "/flagd.evaluation.v2.Service/ResolveObject",
      [this](grpc::CallbackServerContext* c, const fv2::ResolveObjectRequest* q,
             fv2::ResolveObjectResponse* r) { return ResolveObject(c, q, r); });
  AddServerStream<fv2::EventStreamRequest, fv2::EventStreamResponse>(
      "/flagd.evaluation.v2.Service/EventStream",
      [this](grpc::CallbackServerContext* c, const fv2::EventStreamRequest* q) {
        return EventStream(c, q);
      });
}

CUTOVER_FLAGD_RESOLVE(V2, fv2, String, StringReply, true, FillString)
CUTOVER_FLAGD_RESOLVE(V2, fv2, Object, fv2::ResolveObjectResponse, true, FillObject)
CUTOVER_FLAGD_RESOLVE(V2, fv2, Boolean, fv2::ResolveBooleanResponse, false, NoFill)
CUTOVER_FLAGD_RESOLVE(V2, fv2, Int, fv2::ResolveIntResponse, false, NoFill)
CUTOVER_FLAGD_RESOLVE(V2, fv2, Float, fv2::ResolveFloatResponse, false, NoFill)

#undef CUTOVER_FLAGD_RESOLVE

grpc::ServerWriteReactor<fv2::EventStreamResponse>*
FlagdEvaluationV2::EventStream(grpc::CallbackServerContext* context,
                               const fv2::EventStreamRequest* /*request*/) {
  return OpenEventStream<fv2::EventStreamResponse>(resolver_, context);
}

}  // namespace cutover
