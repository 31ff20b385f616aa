// RocksDbOrders: the NEW database of the orders example, a real RocksDB
// folder. One key per order:
//
//   key   = user_id + '\0' + order_id
//   value = amount_cents as decimal text, e.g. "1250"
//
// The NUL separator sorts before every other byte, so a user's orders are
// one contiguous key range, in order id order, and no user's range
// contains another's ("u-1\0..." < "u-10\0...").
//
// Errors name the RocksDB call and RocksDB's message; the codes keep their
// meaning: NotFound -> NOT_FOUND, Corruption -> DATA_LOSS, IOError, Busy,
// TimedOut, TryAgain -> UNAVAILABLE, InvalidArgument -> INVALID_ARGUMENT,
// others INTERNAL. A value that is not a decimal amount is DATA_LOSS. This
// file is the one place RocksDB statuses are converted.
//
// Thread-safe (RocksDB is).
#ifndef CUTOVER_EXAMPLES_ORDERS_ROCKSDB_ORDERS_H_
#define CUTOVER_EXAMPLES_ORDERS_ROCKSDB_ORDERS_H_

#include <memory>
#include <string>
#include "absl/strings/string_view.h"
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "examples/orders/orders_database.h"

namespace rocksdb {
class DB;
}  // namespace rocksdb

namespace cutover::examples {

class RocksDbOrders final : public OrdersDatabase {
 public:
  // Opens the RocksDB folder at `path`, creating it if needed. UNAVAILABLE
  // if another process holds it open.
  static absl::StatusOr<std::unique_ptr<RocksDbOrders>> Open(
      const std::string& path);
  ~RocksDbOrders() override;

  RocksDbOrders(const RocksDbOrders&) = delete;
  RocksDbOrders& operator=(const RocksDbOrders&) = delete;

  absl::Status Put(absl::string_view user_id, const Order& order) override;
  absl::StatusOr<Order> Get(absl::string_view user_id,
                            absl::string_view order_id) override;
  absl::StatusOr<std::vector<Order>> List(absl::string_view user_id) override;
  absl::StatusOr<std::vector<OrderRow>> Scan(absl::string_view after_user,
                                             absl::string_view after_order,
                                             size_t limit) override;

  // The key of an order (see the file comment).
  static std::string Key(absl::string_view user_id, absl::string_view order_id);

 private:
  explicit RocksDbOrders(std::unique_ptr<rocksdb::DB> db);

  std::unique_ptr<rocksdb::DB> db_;
};

}  // namespace cutover::examples

#endif  // CUTOVER_EXAMPLES_ORDERS_ROCKSDB_ORDERS_H_
