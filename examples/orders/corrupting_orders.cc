#include "examples/orders/corrupting_orders.h"

namespace cutover::examples {

absl::Status CorruptingOrders::Put(absl::string_view user_id,
                                   const Order& order) {
  const uint64_t n = puts_.fetch_add(1) + 1;
  if (every_ == 0 || n % every_ != 0 || !enabled_.load()) return inner_->Put(user_id, order);
  Order wrong = order;
  wrong.amount_cents += 1;
  absl::Status status = inner_->Put(user_id, wrong);
  if (status.ok()) corrupted_.fetch_add(1);
  return status;
}

}  // namespace cutover::examples
