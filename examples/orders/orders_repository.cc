#include "examples/orders/orders_repository.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "core/evaluate.h"
#include "core/model.h"

namespace cutover::examples {
namespace {

// The counter index of a stage; unknown stages run as off.
size_t StageIndex(Stage stage) {
  const int value = static_cast<int>(stage);
  if (value < static_cast<int>(kFirstStage) ||
      value > static_cast<int>(kLastStage)) {
    return static_cast<size_t>(Stage::kOff);
  }
  return static_cast<size_t>(value);
}

}  // namespace

std::string FormatOrders(const std::vector<Order>& orders) {
  return absl::StrJoin(orders, ",", [](std::string* out, const Order& order) {
    absl::StrAppend(out, order.order_id, "=", order.amount_cents);
  });
}

std::string StageMix(const RepositoryStats& before,
                     const RepositoryStats& after) {
  std::vector<std::string> parts;
  for (int s = static_cast<int>(kFirstStage); s <= static_cast<int>(kLastStage);
       ++s) {
    const size_t i = static_cast<size_t>(s);
    const uint64_t n =
        after.decisions_by_stage[i] - before.decisions_by_stage[i];
    if (n > 0) {
      parts.push_back(absl::StrCat(StageName(static_cast<Stage>(s)), "=", n));
    }
  }
  return parts.empty() ? "none" : absl::StrJoin(parts, " ");
}

OrdersRepository::OrdersRepository(DecisionSource* decisions,
                                   Migrator* migrator, OrdersDatabase* old_db,
                                   OrdersDatabase* new_db,
                                   std::string flag_key)
    : decisions_(decisions),
      migrator_(migrator),
      old_db_(old_db),
      new_db_(new_db),
      flag_key_(std::move(flag_key)) {}

Decision OrdersRepository::DecisionFor(const Context& context) {
  Decision decision = decisions_->Decide(flag_key_, context);
  decisions_by_stage_[StageIndex(decision.stage)].fetch_add(
      1, std::memory_order_relaxed);
  if (decision.reason == Reason::kError) {
    decision_errors_.fetch_add(1, std::memory_order_relaxed);
  }
  return decision;
}

absl::Status OrdersRepository::PlaceOrder(absl::string_view user_id,
                                          absl::string_view order_id,
                                          int64_t amount_cents) {
  const Order order{std::string(order_id), amount_cents};
  if (absl::Status valid = ValidateOrder(user_id, order); !valid.ok()) {
    place_failures_.fetch_add(1, std::memory_order_relaxed);
    return valid;
  }
  const Context context{std::string(user_id), {}};
  const Decision decision = DecisionFor(context);
  absl::Status written = migrator_->WriteWith(
      decision, context, [&] { return old_db_->Put(user_id, order); },
      [&] { return new_db_->Put(user_id, order); });
  (written.ok() ? orders_placed_ : place_failures_)
      .fetch_add(1, std::memory_order_relaxed);
  return written;
}

absl::StatusOr<std::vector<Order>> OrdersRepository::ListOrders(
    absl::string_view user_id) {
  if (absl::Status valid = ValidateUserId(user_id); !valid.ok()) {
    list_failures_.fetch_add(1, std::memory_order_relaxed);
    return valid;
  }
  static const FormatFn<std::vector<Order>> kFormat = FormatOrders;
  const Context context{std::string(user_id), {}};
  const Decision decision = DecisionFor(context);
  absl::StatusOr<std::vector<Order>> orders =
      migrator_->ReadWith<std::vector<Order>>(
          decision, context, [&] { return old_db_->List(user_id); },
          [&] { return new_db_->List(user_id); },
          [](const std::vector<Order>& old_orders,
             const std::vector<Order>& new_orders) {
            return old_orders == new_orders;
          },
          kFormat, read_repair_ ? RepairFn<std::vector<Order>>(
                                      [this, user_id](const auto& old) {
                                        return RepairList(user_id, old);
                                      })
                                : RepairFn<std::vector<Order>>());
  (orders.ok() ? lists_ : list_failures_)
      .fetch_add(1, std::memory_order_relaxed);
  return orders;
}

absl::Status OrdersRepository::RepairList(
    absl::string_view user_id,
    const absl::StatusOr<std::vector<Order>>& old_orders) {
  if (!old_orders.ok()) return old_orders.status();
  for (const Order& order : *old_orders) {
    if (absl::Status s = new_db_->Put(user_id, order); !s.ok()) return s;
  }
  return absl::OkStatus();
}

RepositoryStats OrdersRepository::stats() const {
  RepositoryStats stats;
  for (size_t i = 0; i < stats.decisions_by_stage.size(); ++i) {
    stats.decisions_by_stage[i] = decisions_by_stage_[i].load();
  }
  stats.decision_errors = decision_errors_.load();
  stats.orders_placed = orders_placed_.load();
  stats.place_failures = place_failures_.load();
  stats.lists = lists_.load();
  stats.list_failures = list_failures_.load();
  return stats;
}

}  // namespace cutover::examples
