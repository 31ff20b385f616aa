// SqliteOrders: the OLD database of the orders example, a real SQLite file
// with one table:
//
//   CREATE TABLE orders(user_id TEXT NOT NULL, order_id TEXT NOT NULL,
//                       amount_cents INTEGER NOT NULL,
//                       PRIMARY KEY(user_id, order_id));
//
//   auto db = SqliteOrders::Open("/var/lib/orders/orders.sqlite");
//   absl::Status put = (*db)->Put("u-1", {"o-7", 1250});
//
// Errors name the SQLite call and SQLite's message; the codes keep their
// meaning: SQLITE_BUSY/LOCKED/IOERR/CANTOPEN -> UNAVAILABLE, SQLITE_CORRUPT
// and SQLITE_NOTADB -> DATA_LOSS, SQLITE_FULL -> RESOURCE_EXHAUSTED,
// SQLITE_READONLY/PERM/AUTH -> PERMISSION_DENIED, others INTERNAL. This
// file is the one place SQLite result codes are converted.
//
// Thread-safe: one connection, its prepared statements guarded by a mutex
// (SQLite calls are short; the demo's load is a few threads).
#ifndef CUTOVER_EXAMPLES_ORDERS_SQLITE_ORDERS_H_
#define CUTOVER_EXAMPLES_ORDERS_SQLITE_ORDERS_H_

#include <memory>
#include <string>
#include "absl/strings/string_view.h"
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "examples/orders/orders_database.h"

struct sqlite3;
struct sqlite3_stmt;

namespace cutover::examples {

class SqliteOrders final : public OrdersDatabase {
 public:
  // Opens the SQLite file at `path`, creating it and the orders table if
  // needed (WAL journal, synchronous=NORMAL, 5 s busy timeout for other
  // processes holding the file).
  static absl::StatusOr<std::unique_ptr<SqliteOrders>> Open(
      const std::string& path);
  ~SqliteOrders() override;

  SqliteOrders(const SqliteOrders&) = delete;
  SqliteOrders& operator=(const SqliteOrders&) = delete;

  absl::Status Put(absl::string_view user_id, const Order& order) override;
  absl::StatusOr<Order> Get(absl::string_view user_id,
                            absl::string_view order_id) override;
  absl::StatusOr<std::vector<Order>> List(absl::string_view user_id) override;
  absl::StatusOr<std::vector<OrderRow>> Scan(absl::string_view after_user,
                                             absl::string_view after_order,
                                             size_t limit) override;

 private:
  explicit SqliteOrders(sqlite3* db) : db_(db) {}
  absl::Status Prepare();

  absl::Mutex mu_;
  sqlite3* const db_;  // statements and calls on it hold mu_
  sqlite3_stmt* put_ ABSL_GUARDED_BY(mu_) = nullptr;
  sqlite3_stmt* get_ ABSL_GUARDED_BY(mu_) = nullptr;
  sqlite3_stmt* list_ ABSL_GUARDED_BY(mu_) = nullptr;
  sqlite3_stmt* scan_ ABSL_GUARDED_BY(mu_) = nullptr;
};

}  // namespace cutover::examples

#endif  // CUTOVER_EXAMPLES_ORDERS_SQLITE_ORDERS_H_
