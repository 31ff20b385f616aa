// CorruptingOrders: an OrdersDatabase that passes every call to the one it
// wraps, except that every K-th Put writes an amount one cent too high: the
// kind of bug (a rounding difference, a bad conversion) that shadow reads
// exist to catch before the new database answers users. orders-demo wraps
// the new database with it for --corrupt-new-every.
//
// Thread-safe if the wrapped database is; which Put is the K-th is decided
// by an atomic counter, so with several threads it is every K-th in the
// order the Puts arrive.
#ifndef CUTOVER_EXAMPLES_ORDERS_CORRUPTING_ORDERS_H_
#define CUTOVER_EXAMPLES_ORDERS_CORRUPTING_ORDERS_H_

#include <atomic>
#include <cstdint>
#include "absl/strings/string_view.h"
#include <vector>

#include "examples/orders/orders_database.h"

namespace cutover::examples {

class CorruptingOrders final : public OrdersDatabase {
 public:
  // `inner` must outlive this. `every` 0 never corrupts; K corrupts the
  // K-th, 2K-th, ... Put.
  CorruptingOrders(OrdersDatabase* inner, uint64_t every)
      : inner_(inner), every_(every) {}

  absl::Status Put(absl::string_view user_id, const Order& order) override;
  absl::StatusOr<Order> Get(absl::string_view user_id,
                            absl::string_view order_id) override {
    return inner_->Get(user_id, order_id);
  }
  absl::StatusOr<std::vector<Order>> List(absl::string_view user_id) override {
    return inner_->List(user_id);
  }
  absl::StatusOr<std::vector<OrderRow>> Scan(absl::string_view after_user,
                                             absl::string_view after_order,
                                             size_t limit) override {
    return inner_->Scan(after_user, after_order, limit);
  }

  // Puts that were handed on with a wrong amount (and succeeded).
  uint64_t corrupted() const { return corrupted_.load(); }
  // Stops (false) or resumes (true) corrupting: the bug fixed, or back.
  void set_enabled(bool enabled) { enabled_.store(enabled); }
  bool enabled() const { return enabled_.load(); }

 private:
  OrdersDatabase* const inner_;
  const uint64_t every_;
  std::atomic<uint64_t> puts_{0};
  std::atomic<uint64_t> corrupted_{0};
  std::atomic<bool> enabled_{true};
};

}  // namespace cutover::examples

#endif  // CUTOVER_EXAMPLES_ORDERS_CORRUPTING_ORDERS_H_
