#include "examples/orders/orders_database.h"

#include "absl/strings/str_cat.h"

namespace cutover::examples {
namespace {

absl::Status ValidateId(absl::string_view field, absl::string_view id) {
  if (id.empty()) return absl::InvalidArgumentError(absl::StrCat(field, ": empty"));
  if (id.find('\0') != absl::string_view::npos) {
    return absl::InvalidArgumentError(
        absl::StrCat(field, ": contains a NUL byte"));
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status ValidateUserId(absl::string_view user_id) {
  return ValidateId("user_id", user_id);
}

absl::Status ValidateOrderKey(absl::string_view user_id,
                              absl::string_view order_id) {
  if (absl::Status s = ValidateId("user_id", user_id); !s.ok()) return s;
  return ValidateId("order_id", order_id);
}

absl::Status ValidateOrder(absl::string_view user_id, const Order& order) {
  if (absl::Status s = ValidateOrderKey(user_id, order.order_id); !s.ok()) {
    return s;
  }
  if (order.amount_cents < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("amount_cents: negative (", order.amount_cents, ")"));
  }
  return absl::OkStatus();
}

}  // namespace cutover::examples
