#include "examples/orders/rocksdb_orders.h"

#include <utility>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "rocksdb/db.h"
#include "rocksdb/iterator.h"
#include "rocksdb/options.h"
#include "rocksdb/slice.h"
#include "rocksdb/status.h"

namespace cutover::examples {
namespace {

// The one conversion of rocksdb::Status to absl::Status.
absl::Status RocksError(const rocksdb::Status& status, absl::string_view what) {
  const std::string message =
      absl::StrCat("rocksdb: ", what, ": ", status.ToString());
  switch (status.code()) {
    case rocksdb::Status::kOk:
      return absl::OkStatus();
    case rocksdb::Status::kNotFound:
      return absl::NotFoundError(message);
    case rocksdb::Status::kCorruption:
      return absl::DataLossError(message);
    case rocksdb::Status::kInvalidArgument:
      return absl::InvalidArgumentError(message);
    case rocksdb::Status::kIOError:
      // A folder another process holds open is an IOError ("lock ...").
    case rocksdb::Status::kBusy:
    case rocksdb::Status::kTimedOut:
    case rocksdb::Status::kTryAgain:
      return absl::UnavailableError(message);
    case rocksdb::Status::kNotSupported:
      return absl::UnimplementedError(message);
    case rocksdb::Status::kAborted:
      return absl::AbortedError(message);
    default:
      return absl::InternalError(message);
  }
}

absl::StatusOr<int64_t> ParseAmount(absl::string_view key,
                                    absl::string_view value) {
  int64_t amount = 0;
  if (!absl::SimpleAtoi(value, &amount) || amount < 0) {
    std::string printable(key);
    for (char& c : printable) {
      if (c == '\0') c = '/';
    }
    return absl::DataLossError(absl::StrCat(
        "rocksdb: the value of ", printable, " is not an amount: \"",
        value.substr(0, 32), "\""));
  }
  return amount;
}

}  // namespace

RocksDbOrders::RocksDbOrders(std::unique_ptr<rocksdb::DB> db)
    : db_(std::move(db)) {}

RocksDbOrders::~RocksDbOrders() {
  if (db_ != nullptr) {
    // Closes the folder (and releases its lock) before the DB is deleted;
    // the status has nowhere to go from a destructor.
    db_->Close().PermitUncheckedError();
  }
}

absl::StatusOr<std::unique_ptr<RocksDbOrders>> RocksDbOrders::Open(
    const std::string& path) {
  rocksdb::Options options;
  options.create_if_missing = true;
  rocksdb::DB* raw = nullptr;
  rocksdb::Status status = rocksdb::DB::Open(options, path, &raw);
  if (!status.ok()) return RocksError(status, absl::StrCat("open ", path));
  return std::unique_ptr<RocksDbOrders>(
      new RocksDbOrders(std::unique_ptr<rocksdb::DB>(raw)));
}

std::string RocksDbOrders::Key(absl::string_view user_id,
                               absl::string_view order_id) {
  std::string key;
  key.reserve(user_id.size() + 1 + order_id.size());
  key.append(user_id.data(), user_id.size());
  key.push_back('\0');
  key.append(order_id.data(), order_id.size());
  return key;
}

absl::Status RocksDbOrders::Put(absl::string_view user_id, const Order& order) {
  if (absl::Status valid = ValidateOrder(user_id, order); !valid.ok()) {
    return valid;
  }
  const std::string key = Key(user_id, order.order_id);
  const std::string value = absl::StrCat(order.amount_cents);
  return RocksError(db_->Put(rocksdb::WriteOptions(), key, value), "put order");
}

absl::StatusOr<Order> RocksDbOrders::Get(absl::string_view user_id,
                                         absl::string_view order_id) {
  if (absl::Status valid = ValidateOrderKey(user_id, order_id); !valid.ok()) {
    return valid;
  }
  const std::string key = Key(user_id, order_id);
  std::string value;
  rocksdb::Status status = db_->Get(rocksdb::ReadOptions(), key, &value);
  if (status.IsNotFound()) {
    return absl::NotFoundError(
        absl::StrCat("rocksdb: no order ", order_id, " of user ", user_id));
  }
  if (!status.ok()) return RocksError(status, "get order");
  absl::StatusOr<int64_t> amount = ParseAmount(key, value);
  if (!amount.ok()) return amount.status();
  return Order{std::string(order_id), *amount};
}

absl::StatusOr<std::vector<Order>> RocksDbOrders::List(
    absl::string_view user_id) {
  if (absl::Status valid = ValidateUserId(user_id); !valid.ok()) return valid;
  std::string prefix(user_id);
  prefix.push_back('\0');
  std::unique_ptr<rocksdb::Iterator> it(
      db_->NewIterator(rocksdb::ReadOptions()));
  std::vector<Order> orders;
  for (it->Seek(prefix); it->Valid() && it->key().starts_with(prefix);
       it->Next()) {
    const absl::string_view key(it->key().data(), it->key().size());
    absl::StatusOr<int64_t> amount = ParseAmount(
        key, absl::string_view(it->value().data(), it->value().size()));
    if (!amount.ok()) return amount.status();
    orders.push_back(Order{std::string(key.substr(prefix.size())), *amount});
  }
  if (!it->status().ok()) return RocksError(it->status(), "list orders");
  return orders;
}

absl::StatusOr<std::vector<OrderRow>> RocksDbOrders::Scan(
    absl::string_view after_user, absl::string_view after_order,
    size_t limit) {
  std::unique_ptr<rocksdb::Iterator> it(
      db_->NewIterator(rocksdb::ReadOptions()));
  std::vector<OrderRow> rows;
  if (after_user.empty()) {
    it->SeekToFirst();
  } else {
    const std::string after = Key(after_user, after_order);
    it->Seek(after);
    if (it->Valid() && it->key() == after) it->Next();
  }
  for (; it->Valid() && rows.size() < limit; it->Next()) {
    const absl::string_view key(it->key().data(), it->key().size());
    const size_t nul = key.find('\0');
    if (nul == absl::string_view::npos) {
      return absl::DataLossError(
          absl::StrCat("rocksdb: key without a NUL separator (", key.size(),
                       " bytes)"));
    }
    absl::StatusOr<int64_t> amount = ParseAmount(
        key, absl::string_view(it->value().data(), it->value().size()));
    if (!amount.ok()) return amount.status();
    rows.push_back(OrderRow{std::string(key.substr(0, nul)),
                            Order{std::string(key.substr(nul + 1)), *amount}});
  }
  if (!it->status().ok()) return RocksError(it->status(), "scan orders");
  return rows;
}

}  // namespace cutover::examples
