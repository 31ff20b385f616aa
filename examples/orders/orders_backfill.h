// The orders table's backfill and its row-by-row check.
//
// OrdersBackfillSource gives cutover::BackfillDriver the three functions it
// needs over two OrdersDatabases, `from` and `to`: pages of `from`'s table
// in (user_id, order_id) order (the cursor is "user_id \0 order_id" of the
// page's last row), an upsert of rows into `to`, and the verify step
// (re-read each row in both and return `from`'s current row where `to`
// differs or lacks it; a row gone from `from` meanwhile is skipped). The
// forward job is OrdersBackfillSource(sqlite, rocksdb); the reverse job
// (RocksDB back into SQLite, after `complete`) swaps the two, as
// client/backfill.h's "Direction" describes.
//
// CompareDatabases walks both tables side by side and counts rows missing
// from new, rows only in new and rows whose amounts differ: what the
// migration demo checks at the end.
//
// Thread-safe as the databases are.
#ifndef CUTOVER_EXAMPLES_ORDERS_ORDERS_BACKFILL_H_
#define CUTOVER_EXAMPLES_ORDERS_ORDERS_BACKFILL_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "client/backfill.h"
#include "examples/orders/orders_database.h"

namespace cutover::examples {

// Copies `from` into `to`. Both pointers must outlive the source.
BackfillSource<OrderRow> OrdersBackfillSource(OrdersDatabase* from,
                                              OrdersDatabase* to);

// The differences between two orders tables.
struct DatabaseDiff {
  uint64_t old_rows = 0;
  uint64_t new_rows = 0;
  uint64_t missing_in_new = 0;  // in old only
  uint64_t only_in_new = 0;     // in new only
  uint64_t different = 0;       // in both, amounts differ
  // The first few differences, for people ("u-3/o-1-0007: old 1250, new
  // 1251").
  std::vector<std::string> samples;

  bool identical() const {
    return missing_in_new == 0 && only_in_new == 0 && different == 0;
  }
};

absl::StatusOr<DatabaseDiff> CompareDatabases(OrdersDatabase& old_db,
                                              OrdersDatabase& new_db);

}  // namespace cutover::examples

#endif  // CUTOVER_EXAMPLES_ORDERS_ORDERS_BACKFILL_H_
