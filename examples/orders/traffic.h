// RunTraffic: the orders-demo load: simulated users placing and listing
// their orders through an OrdersRepository, from several threads.
//
// Users are "u-0" .. "u-<users-1>". Each thread serves its own users (user
// i belongs to thread i % threads), as a user's requests would reach one
// session at a time, so that two requests of one user never race: a
// comparison then differs only when the databases do. Each request picks
// one of the thread's users at random and, with probability write_ratio,
// places an order "o-<seed>-<n>" (n counts that user's orders in this run,
// zero-padded so ids sort in order) with a random amount, else lists the
// user's orders. The same options give the same requests.
#ifndef CUTOVER_EXAMPLES_ORDERS_TRAFFIC_H_
#define CUTOVER_EXAMPLES_ORDERS_TRAFFIC_H_

#include <atomic>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "examples/orders/orders_repository.h"

namespace cutover::examples {

struct TrafficOptions {
  int users = 100;          // >= 1
  int requests = 2000;      // >= 0, all threads together
  int threads = 4;          // >= 1; more than `users` are not started
  double write_ratio = 0.3; // in [0, 1]
  uint64_t seed = 1;
  // Set: run until it turns true (`requests` is ignored). Must outlive
  // RunTraffic.
  const std::atomic<bool>* stop = nullptr;
  // Each thread waits this long after each request (0: none), to play a
  // steady load rather than the most the machine can do.
  absl::Duration pause = absl::ZeroDuration();
};

struct TrafficResult {
  uint64_t requests = 0;
  // Requests that returned an error to the user.
  uint64_t failed_requests = 0;
  uint64_t orders_placed = 0;
  uint64_t lists = 0;
  // The first few errors returned, for the operator.
  std::vector<std::string> sample_errors;
};

// INVALID_ARGUMENT for options out of range; nothing runs then.
absl::Status ValidateTrafficOptions(const TrafficOptions& options);

// Runs the requests and returns when all threads are done. Options must be
// valid.
TrafficResult RunTraffic(OrdersRepository& repository,
                         const TrafficOptions& options);

}  // namespace cutover::examples

#endif  // CUTOVER_EXAMPLES_ORDERS_TRAFFIC_H_
