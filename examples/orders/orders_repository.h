// OrdersRepository: the data access layer of the orders service, during the
// migration of its orders table from the old database to the new one.
//
//   Client client = ...;                    // or any DecisionSource
//   Migrator migrator(&client, recorder);
//   OrdersRepository orders(&client, &migrator, &sqlite, &rocksdb, "orders");
//   absl::Status placed = orders.PlaceOrder("u-42", "o-17", 1250);
//   absl::StatusOr<std::vector<Order>> list = orders.ListOrders("u-42");
//
// Each call asks the DecisionSource once for the user's decision on the
// flag (the user id is the targeting key) and hands both databases'
// functions to the Migrator with that decision, so the stage alone says
// which database is written, which answers and which is compared
// (README.md, "The stages"). What the caller sees is what the
// authoritative database answered: an error of the other database is
// counted by the Migrator, never returned.
//
// Thread-safe: calls may run at once from many threads (the databases and
// the Migrator are thread-safe).
#ifndef CUTOVER_EXAMPLES_ORDERS_ORDERS_REPOSITORY_H_
#define CUTOVER_EXAMPLES_ORDERS_ORDERS_REPOSITORY_H_

#include <array>
#include <atomic>
#include <cstdint>
#include <string>
#include "absl/strings/string_view.h"
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "client/decision_source.h"
#include "client/migrator.h"
#include "core/stage.h"
#include "examples/orders/orders_database.h"

namespace cutover::examples {

// Counters of one repository since construction (a snapshot).
struct RepositoryStats {
  // Decisions the calls ran with, by stage: index static_cast<int>(Stage)
  // (kOff .. kComplete; a stage this build does not know runs, and is
  // counted, as off).
  std::array<uint64_t, 7> decisions_by_stage{};
  // Decisions that were the caller's default (reason ERROR): the daemon
  // could not answer and the client had never seen the flag (while it
  // knows the flag it serves the flag's own decision, STALE); the call
  // ran as off.
  uint64_t decision_errors = 0;
  uint64_t orders_placed = 0;   // PlaceOrder calls that returned OK
  uint64_t place_failures = 0;  // PlaceOrder calls that returned an error
  uint64_t lists = 0;           // ListOrders calls that returned orders
  uint64_t list_failures = 0;   // ListOrders calls that returned an error
};

class OrdersRepository {
 public:
  // All pointers must outlive the repository. `flag_key` is the migration
  // flag of the orders table (e.g. "orders").
  OrdersRepository(DecisionSource* decisions, Migrator* migrator,
                   OrdersDatabase* old_db, OrdersDatabase* new_db,
                   std::string flag_key);

  OrdersRepository(const OrdersRepository&) = delete;
  OrdersRepository& operator=(const OrdersRepository&) = delete;

  // Records the order (an upsert) in the database(s) the user's stage
  // writes, authoritative first. INVALID_ARGUMENT for a bad id or amount
  // (nothing is written, no decision asked); otherwise the authoritative
  // database's status.
  [[nodiscard]] absl::Status PlaceOrder(absl::string_view user_id,
                                        absl::string_view order_id,
                                        int64_t amount_cents);

  // The user's orders sorted by order id, from the authoritative database
  // of the user's stage; in shadow and live the other database's list is
  // read too and compared (order ids and amounts). INVALID_ARGUMENT for a
  // bad user id; otherwise the authoritative database's error, if any.
  [[nodiscard]] absl::StatusOr<std::vector<Order>> ListOrders(
      absl::string_view user_id);

  RepositoryStats stats() const;

  // Read-repair (off by default): in shadow, a list that differs between
  // the databases is rewritten into the new one from the old one (an
  // upsert of each of old's orders; orders only in new are left).
  void set_read_repair(bool on) { read_repair_ = on; }

  const std::string& flag_key() const { return flag_key_; }

 private:
  // Asks for the decision and counts it.
  Decision DecisionFor(const Context& context);
  // Writes old's list of the user's orders into the new database.
  absl::Status RepairList(absl::string_view user_id,
                          const absl::StatusOr<std::vector<Order>>& old_orders);

  DecisionSource* const decisions_;
  Migrator* const migrator_;
  OrdersDatabase* const old_db_;
  OrdersDatabase* const new_db_;
  const std::string flag_key_;
  bool read_repair_ = false;

  std::array<std::atomic<uint64_t>, 7> decisions_by_stage_{};
  std::atomic<uint64_t> decision_errors_{0};
  std::atomic<uint64_t> orders_placed_{0};
  std::atomic<uint64_t> place_failures_{0};
  std::atomic<uint64_t> lists_{0};
  std::atomic<uint64_t> list_failures_{0};
};

// "o-1=1250,o-2=990": a list as mismatch logs show it (when the Migrator is
// allowed to log row data).
std::string FormatOrders(const std::vector<Order>& orders);

// The decisions made between two snapshots of one repository's stats, by
// stage, in stage order, stages without any left out: "shadow=120 live=30",
// or "none". orders-demo --print-mix prints it, so that a watcher sees
// which stages the users were served while a flag moves.
std::string StageMix(const RepositoryStats& before,
                     const RepositoryStats& after);

}  // namespace cutover::examples

#endif  // CUTOVER_EXAMPLES_ORDERS_ORDERS_REPOSITORY_H_
