// OrdersDatabase: the small interface both databases of the orders example
// implement, the old one (SqliteOrders) and the new one (RocksDbOrders), so
// that OrdersRepository can hand either to the Migrator.
//
// An order belongs to one user and is named by an order id unique for that
// user. User ids and order ids are non-empty and contain no NUL byte (the
// RocksDB key layout separates them with one); amounts are non-negative
// cents. Implementations check this and answer INVALID_ARGUMENT.
//
// Implementations are safe for concurrent use from many threads.
#ifndef CUTOVER_EXAMPLES_ORDERS_ORDERS_DATABASE_H_
#define CUTOVER_EXAMPLES_ORDERS_ORDERS_DATABASE_H_

#include <cstdint>
#include <string>
#include "absl/strings/string_view.h"
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace cutover::examples {

// One row of the orders table (the user is the row's owner, not a field).
struct Order {
  std::string order_id;
  int64_t amount_cents = 0;

  friend bool operator==(const Order& a, const Order& b) {
    return a.order_id == b.order_id && a.amount_cents == b.amount_cents;
  }
  friend bool operator!=(const Order& a, const Order& b) { return !(a == b); }
};

// One row with its owner, as a scan of the whole table sees it.
struct OrderRow {
  std::string user_id;
  Order order;

  friend bool operator==(const OrderRow& a, const OrderRow& b) {
    return a.user_id == b.user_id && a.order == b.order;
  }
};

class OrdersDatabase {
 public:
  virtual ~OrdersDatabase() = default;

  // Inserts the order, or replaces the amount of the user's order with the
  // same id. INVALID_ARGUMENT for a bad id or amount; other codes name the
  // database's own error.
  [[nodiscard]] virtual absl::Status Put(absl::string_view user_id,
                                         const Order& order) = 0;

  // The user's order `order_id`; NOT_FOUND if there is none.
  [[nodiscard]] virtual absl::StatusOr<Order> Get(
      absl::string_view user_id, absl::string_view order_id) = 0;

  // All the user's orders sorted by order id (bytewise); empty if none.
  [[nodiscard]] virtual absl::StatusOr<std::vector<Order>> List(
      absl::string_view user_id) = 0;

  // Up to `limit` rows of the whole table that come after (after_user,
  // after_order) in (user_id, order_id) bytewise order; from the first row
  // when after_user is empty. For backfills and row-by-row checks.
  [[nodiscard]] virtual absl::StatusOr<std::vector<OrderRow>> Scan(
      absl::string_view after_user, absl::string_view after_order,
      size_t limit) = 0;
};

// Checks of what an OrdersDatabase accepts: OK, or INVALID_ARGUMENT naming
// the field ("user_id: empty", "order_id: contains a NUL byte",
// "amount_cents: negative (-5)").
absl::Status ValidateUserId(absl::string_view user_id);
absl::Status ValidateOrderKey(absl::string_view user_id,
                              absl::string_view order_id);
absl::Status ValidateOrder(absl::string_view user_id, const Order& order);

}  // namespace cutover::examples

#endif  // CUTOVER_EXAMPLES_ORDERS_ORDERS_DATABASE_H_
