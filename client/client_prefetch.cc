// Client::Prefetch: the decisions for many users of one flag, made here
// in local mode while synced, else asked of the daemon in DecideBatch
// calls that fill the cache, with Decide's fallbacks where it could not
// answer. A part of Client (client/client.h), apart for its length.
#include <algorithm>

#include "client/client.h"
#include "client/client_counters.h"
#include "convert/convert.h"
#include "cutover/v1/cutover.grpc.pb.h"
#include "grpcpp/client_context.h"
#include "rpc/channel.h"

namespace cutover {
namespace {

// The most users one DecideBatch call asks for.
constexpr int kBatchLimit = 1000;

}  // namespace

std::vector<Decision> Client::Prefetch(
    std::string_view flag_key, const std::vector<Context>& contexts) noexcept {
  std::vector<Decision> decisions;
  try {
    // Local mode, synced: every decision made here (no cache to fill). A
    // flag this library cannot evaluate fails on the first context.
    decisions.reserve(contexts.size());
    for (const Context& context : contexts) {
      Decision decision;
      if (!AnswerLocally(flag_key, context, decision)) break;
      decisions.push_back(std::move(decision));
    }
    if (decisions.size() == contexts.size()) return decisions;
    decisions.clear();
    for (size_t start = 0; start < contexts.size(); start += kBatchLimit) {
      const size_t end = std::min(contexts.size(), start + kBatchLimit);
      v1::DecideBatchRequest request;
      for (size_t i = start; i < end; ++i) {
        auto* item = request.add_items();
        item->set_flag_key(flag_key.data(), flag_key.size());
        item->mutable_context()->set_targeting_key(contexts[i].targeting_key);
        auto& attributes = *item->mutable_context()->mutable_attributes();
        for (const auto& [name, value] : contexts[i].attributes) {
          attributes[name] = value;
        }
      }
      v1::DecideBatchResponse response;
      grpc::ClientContext call;
      call.set_deadline(DeadlineIn(options_.decide_deadline));
      const grpc::Status status =
          stubs_->evaluation->DecideBatch(&call, request, &response);
      for (size_t i = start; i < end; ++i) {
        if (status.ok() &&
            static_cast<int>(i - start) < response.decisions_size()) {
          counters_->Add(counters_->misses, &Metrics::misses);
          Decision decision =
              FromProto(response.decisions(static_cast<int>(i - start)));
          cache_.Put(flag_key, contexts[i], decision, response.revision());
          decisions.push_back(std::move(decision));
          continue;
        }
        // As Decide would: fresh if it may be served as such, else the
        // synced state's or the cached decision as STALE, else off.
        Decision decision;
        const DecisionCache::Hit cached =
            cache_.Get(flag_key, contexts[i], decision);
        if (ServableFresh(cached, flag_key)) {
          counters_->Add(counters_->hits);
          decision.reason = Reason::kCached;
        } else {
          ServeUnanswered(
              flag_key, contexts[i], cached,
              status.ok() ? grpc::Status(grpc::StatusCode::INTERNAL,
                                         "short DecideBatch response")
                          : status,
              Stage::kOff, decision);
        }
        decisions.push_back(std::move(decision));
      }
    }
    if (Metrics* m = counters_->metrics.load(std::memory_order_acquire)) {
      m->entries->Set(static_cast<double>(cache_.size()));
    }
  } catch (...) {
    while (decisions.size() < contexts.size()) {
      counters_->errors.fetch_add(1, std::memory_order_relaxed);
      decisions.push_back(Decision());
    }
  }
  return decisions;
}

}  // namespace cutover
