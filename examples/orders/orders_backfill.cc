#include "examples/orders/orders_backfill.h"

#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"

namespace cutover::examples {
namespace {

constexpr size_t kCompareBatch = 1000;
constexpr size_t kMaxSamples = 10;

// A row's position as a cursor: "user_id \0 order_id".
std::string CursorOf(const OrderRow& row) {
  return absl::StrCat(row.user_id, std::string(1, '\0'), row.order.order_id);
}

// The two halves of a cursor ("" and "" for the start).
std::pair<std::string, std::string> SplitCursor(const std::string& cursor) {
  const size_t nul = cursor.find('\0');
  if (nul == std::string::npos) return {cursor, ""};
  return {cursor.substr(0, nul), cursor.substr(nul + 1)};
}

// Reads a whole table in pages, one row at a time.
class TableReader {
 public:
  explicit TableReader(OrdersDatabase& db) : db_(db) {}

  // The next row, nullptr at the end; an error of the database.
  absl::StatusOr<const OrderRow*> Next() {
    if (index_ == page_.size()) {
      if (done_) return nullptr;
      absl::StatusOr<std::vector<OrderRow>> page =
          db_.Scan(after_user_, after_order_, kCompareBatch);
      if (!page.ok()) return page.status();
      page_ = *std::move(page);
      index_ = 0;
      done_ = page_.size() < kCompareBatch;
      if (page_.empty()) return nullptr;
      after_user_ = page_.back().user_id;
      after_order_ = page_.back().order.order_id;
    }
    return &page_[index_++];
  }

 private:
  OrdersDatabase& db_;
  std::vector<OrderRow> page_;
  size_t index_ = 0;
  bool done_ = false;
  std::string after_user_, after_order_;
};

void Sample(DatabaseDiff& diff, std::string line) {
  if (diff.samples.size() < kMaxSamples) diff.samples.push_back(std::move(line));
}

}  // namespace

BackfillSource<OrderRow> OrdersBackfillSource(OrdersDatabase* from,
                                              OrdersDatabase* to) {
  // The driver's names are the forward job's: "old" is `from`, "new" `to`.
  BackfillSource<OrderRow> source;
  source.read_old_page = [from](const std::string& cursor, size_t limit)
      -> absl::StatusOr<BackfillPage<OrderRow>> {
    const auto [user, order] = SplitCursor(cursor);
    absl::StatusOr<std::vector<OrderRow>> rows = from->Scan(user, order, limit);
    if (!rows.ok()) return rows.status();
    BackfillPage<OrderRow> page;
    page.done = rows->size() < limit;
    page.next_cursor = rows->empty() ? cursor : CursorOf(rows->back());
    page.rows = *std::move(rows);
    return page;
  };
  source.write_new = [to](const std::vector<OrderRow>& rows) {
    for (const OrderRow& row : rows) {
      if (absl::Status s = to->Put(row.user_id, row.order); !s.ok()) {
        return s;
      }
    }
    return absl::OkStatus();
  };
  source.find_mismatched = [from, to](const std::vector<OrderRow>& rows)
      -> absl::StatusOr<std::vector<OrderRow>> {
    std::vector<OrderRow> wrong;
    for (const OrderRow& row : rows) {
      // The source's row now: a dual write may have changed it since the
      // page.
      absl::StatusOr<Order> current = from->Get(row.user_id, row.order.order_id);
      if (absl::IsNotFound(current.status())) continue;
      if (!current.ok()) return current.status();
      absl::StatusOr<Order> copy = to->Get(row.user_id, row.order.order_id);
      if (copy.ok() && *copy == *current) continue;
      if (!copy.ok() && !absl::IsNotFound(copy.status())) return copy.status();
      wrong.push_back(OrderRow{row.user_id, *std::move(current)});
    }
    return wrong;
  };
  return source;
}

absl::StatusOr<DatabaseDiff> CompareDatabases(OrdersDatabase& old_db,
                                              OrdersDatabase& new_db) {
  DatabaseDiff diff;
  TableReader olds(old_db), news(new_db);
  absl::StatusOr<const OrderRow*> a = olds.Next();
  absl::StatusOr<const OrderRow*> b = news.Next();
  while (true) {
    if (!a.ok()) return a.status();
    if (!b.ok()) return b.status();
    if (*a == nullptr && *b == nullptr) break;
    const OrderRow* o = *a;
    const OrderRow* n = *b;
    const int order = o == nullptr   ? 1
                      : n == nullptr ? -1
                                     : CursorOf(*o).compare(CursorOf(*n));
    if (order < 0) {
      ++diff.old_rows;
      ++diff.missing_in_new;
      Sample(diff, absl::StrCat(o->user_id, "/", o->order.order_id,
                                ": missing in new"));
      a = olds.Next();
    } else if (order > 0) {
      ++diff.new_rows;
      ++diff.only_in_new;
      Sample(diff, absl::StrCat(n->user_id, "/", n->order.order_id,
                                ": only in new"));
      b = news.Next();
    } else {
      ++diff.old_rows;
      ++diff.new_rows;
      if (o->order.amount_cents != n->order.amount_cents) {
        ++diff.different;
        Sample(diff, absl::StrCat(o->user_id, "/", o->order.order_id,
                                  ": old ", o->order.amount_cents, ", new ",
                                  n->order.amount_cents));
      }
      a = olds.Next();
      b = news.Next();
    }
  }
  return diff;
}

}  // namespace cutover::examples
