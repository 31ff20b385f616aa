#include "examples/orders/sqlite_orders.h"

#include <sqlite3.h>

#include <utility>

#include "absl/strings/str_cat.h"

namespace cutover::examples {
namespace {

// The one conversion of SQLite result codes to absl::Status.
absl::Status SqliteError(sqlite3* db, int rc, absl::string_view what) {
  const std::string message =
      absl::StrCat("sqlite: ", what, ": ",
                   db != nullptr ? sqlite3_errmsg(db) : sqlite3_errstr(rc),
                   " (", sqlite3_errstr(rc), ", code ", rc, ")");
  switch (rc & 0xff) {
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
    case SQLITE_IOERR:
    case SQLITE_CANTOPEN:
    case SQLITE_PROTOCOL:
      return absl::UnavailableError(message);
    case SQLITE_CORRUPT:
    case SQLITE_NOTADB:
      return absl::DataLossError(message);
    case SQLITE_FULL:
    case SQLITE_NOMEM:
      return absl::ResourceExhaustedError(message);
    case SQLITE_READONLY:
    case SQLITE_PERM:
    case SQLITE_AUTH:
      return absl::PermissionDeniedError(message);
    case SQLITE_TOOBIG:
    case SQLITE_RANGE:
    case SQLITE_MISMATCH:
      return absl::InvalidArgumentError(message);
    case SQLITE_CONSTRAINT:
      return absl::FailedPreconditionError(message);
    default:
      return absl::InternalError(message);
  }
}

constexpr char kSchema[] =
    "PRAGMA journal_mode=WAL;"
    "PRAGMA synchronous=NORMAL;"
    "CREATE TABLE IF NOT EXISTS orders("
    "  user_id TEXT NOT NULL,"
    "  order_id TEXT NOT NULL,"
    "  amount_cents INTEGER NOT NULL,"
    "  PRIMARY KEY(user_id, order_id));";

constexpr char kPut[] =
    "INSERT INTO orders(user_id, order_id, amount_cents) VALUES(?1, ?2, ?3) "
    "ON CONFLICT(user_id, order_id) DO UPDATE SET "
    "amount_cents = excluded.amount_cents";
constexpr char kGet[] =
    "SELECT amount_cents FROM orders WHERE user_id = ?1 AND order_id = ?2";
constexpr char kList[] =
    "SELECT order_id, amount_cents FROM orders WHERE user_id = ?1 "
    "ORDER BY order_id";
// Row values compare left to right with BINARY (memcmp) collation: the
// same order as RocksDbOrders' keys.
constexpr char kScan[] =
    "SELECT user_id, order_id, amount_cents FROM orders "
    "WHERE (user_id, order_id) > (?1, ?2) ORDER BY user_id, order_id "
    "LIMIT ?3";

// Resets a cached statement and its bindings when the call is done.
class Reset {
 public:
  explicit Reset(sqlite3_stmt* stmt) : stmt_(stmt) {}
  ~Reset() {
    sqlite3_reset(stmt_);
    sqlite3_clear_bindings(stmt_);
  }
  Reset(const Reset&) = delete;
  Reset& operator=(const Reset&) = delete;

 private:
  sqlite3_stmt* stmt_;
};

int BindText(sqlite3_stmt* stmt, int index, absl::string_view text) {
  // SQLITE_STATIC: the text outlives the statement's use (Reset unbinds).
  return sqlite3_bind_text(stmt, index, text.data(),
                           static_cast<int>(text.size()), SQLITE_STATIC);
}

// The amount in column `column`, or DATA_LOSS if the row holds something
// that is not an integer.
absl::StatusOr<int64_t> AmountColumn(sqlite3_stmt* stmt, int column) {
  if (sqlite3_column_type(stmt, column) != SQLITE_INTEGER) {
    return absl::DataLossError(
        "sqlite: orders.amount_cents holds a value that is not an integer");
  }
  return static_cast<int64_t>(sqlite3_column_int64(stmt, column));
}

}  // namespace

absl::StatusOr<std::unique_ptr<SqliteOrders>> SqliteOrders::Open(
    const std::string& path) {
  sqlite3* db = nullptr;
  // NOMUTEX: the connection is only used under SqliteOrders::mu_.
  const int rc = sqlite3_open_v2(
      path.c_str(), &db,
      SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
      nullptr);
  if (rc != SQLITE_OK) {
    absl::Status status = SqliteError(db, rc, absl::StrCat("open ", path));
    sqlite3_close_v2(db);  // a handle is returned even on failure
    return status;
  }
  std::unique_ptr<SqliteOrders> orders(new SqliteOrders(db));
  sqlite3_busy_timeout(db, 5000);
  if (int exec = sqlite3_exec(db, kSchema, nullptr, nullptr, nullptr);
      exec != SQLITE_OK) {
    return SqliteError(db, exec, absl::StrCat("create schema in ", path));
  }
  if (absl::Status prepared = orders->Prepare(); !prepared.ok()) {
    return prepared;
  }
  return orders;
}

absl::Status SqliteOrders::Prepare() {
  absl::MutexLock lock(&mu_);
  const std::pair<const char*, sqlite3_stmt**> statements[] = {
      {kPut, &put_}, {kGet, &get_}, {kList, &list_}, {kScan, &scan_}};
  for (const auto& [sql, stmt] : statements) {
    if (int rc = sqlite3_prepare_v3(db_, sql, -1, SQLITE_PREPARE_PERSISTENT,
                                    stmt, nullptr);
        rc != SQLITE_OK) {
      return SqliteError(db_, rc, absl::StrCat("prepare \"", sql, "\""));
    }
  }
  return absl::OkStatus();
}

SqliteOrders::~SqliteOrders() {
  absl::MutexLock lock(&mu_);
  sqlite3_finalize(put_);
  sqlite3_finalize(get_);
  sqlite3_finalize(list_);
  sqlite3_finalize(scan_);
  sqlite3_close_v2(db_);
}

absl::Status SqliteOrders::Put(absl::string_view user_id, const Order& order) {
  if (absl::Status valid = ValidateOrder(user_id, order); !valid.ok()) {
    return valid;
  }
  absl::MutexLock lock(&mu_);
  Reset reset(put_);
  int rc = BindText(put_, 1, user_id);
  if (rc == SQLITE_OK) rc = BindText(put_, 2, order.order_id);
  if (rc == SQLITE_OK) {
    rc = sqlite3_bind_int64(put_, 3,
                            static_cast<sqlite3_int64>(order.amount_cents));
  }
  if (rc != SQLITE_OK) return SqliteError(db_, rc, "bind put");
  rc = sqlite3_step(put_);
  if (rc != SQLITE_DONE) return SqliteError(db_, rc, "put order");
  return absl::OkStatus();
}

absl::StatusOr<Order> SqliteOrders::Get(absl::string_view user_id,
                                        absl::string_view order_id) {
  if (absl::Status valid = ValidateOrderKey(user_id, order_id); !valid.ok()) {
    return valid;
  }
  absl::MutexLock lock(&mu_);
  Reset reset(get_);
  int rc = BindText(get_, 1, user_id);
  if (rc == SQLITE_OK) rc = BindText(get_, 2, order_id);
  if (rc != SQLITE_OK) return SqliteError(db_, rc, "bind get");
  rc = sqlite3_step(get_);
  if (rc == SQLITE_DONE) {
    return absl::NotFoundError(
        absl::StrCat("sqlite: no order ", order_id, " of user ", user_id));
  }
  if (rc != SQLITE_ROW) return SqliteError(db_, rc, "get order");
  absl::StatusOr<int64_t> amount = AmountColumn(get_, 0);
  if (!amount.ok()) return amount.status();
  return Order{std::string(order_id), *amount};
}

absl::StatusOr<std::vector<Order>> SqliteOrders::List(
    absl::string_view user_id) {
  if (absl::Status valid = ValidateUserId(user_id); !valid.ok()) return valid;
  absl::MutexLock lock(&mu_);
  Reset reset(list_);
  int rc = BindText(list_, 1, user_id);
  if (rc != SQLITE_OK) return SqliteError(db_, rc, "bind list");
  std::vector<Order> orders;
  while ((rc = sqlite3_step(list_)) == SQLITE_ROW) {
    const auto* text =
        reinterpret_cast<const char*>(sqlite3_column_text(list_, 0));
    const int size = sqlite3_column_bytes(list_, 0);
    absl::StatusOr<int64_t> amount = AmountColumn(list_, 1);
    if (!amount.ok()) return amount.status();
    orders.push_back(
        Order{text != nullptr ? std::string(text, static_cast<size_t>(size))
                              : std::string(),
              *amount});
  }
  if (rc != SQLITE_DONE) return SqliteError(db_, rc, "list orders");
  return orders;
}

absl::StatusOr<std::vector<OrderRow>> SqliteOrders::Scan(
    absl::string_view after_user, absl::string_view after_order,
    size_t limit) {
  absl::MutexLock lock(&mu_);
  Reset reset(scan_);
  int rc = BindText(scan_, 1, after_user);
  if (rc == SQLITE_OK) rc = BindText(scan_, 2, after_order);
  if (rc == SQLITE_OK) {
    rc = sqlite3_bind_int64(scan_, 3, static_cast<sqlite3_int64>(limit));
  }
  if (rc != SQLITE_OK) return SqliteError(db_, rc, "bind scan");
  std::vector<OrderRow> rows;
  const auto text = [this](int column) {
    const auto* data =
        reinterpret_cast<const char*>(sqlite3_column_text(scan_, column));
    const int size = sqlite3_column_bytes(scan_, column);
    return data != nullptr ? std::string(data, static_cast<size_t>(size))
                           : std::string();
  };
  while ((rc = sqlite3_step(scan_)) == SQLITE_ROW) {
    absl::StatusOr<int64_t> amount = AmountColumn(scan_, 2);
    if (!amount.ok()) return amount.status();
    rows.push_back(OrderRow{text(0), Order{text(1), *amount}});
  }
  if (rc != SQLITE_DONE) return SqliteError(db_, rc, "scan orders");
  return rows;
}

}  // namespace cutover::examples
