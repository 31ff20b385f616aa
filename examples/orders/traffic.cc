#include "examples/orders/traffic.h"

#include <algorithm>
#include <random>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"

namespace cutover::examples {
namespace {

constexpr size_t kMaxSampleErrors = 5;

// What one thread did.
struct ThreadResult {
  uint64_t requests = 0;
  uint64_t failed_requests = 0;
  uint64_t orders_placed = 0;
  uint64_t lists = 0;
  std::vector<std::string> sample_errors;
};

void NoteError(ThreadResult& result, absl::string_view what,
               const absl::Status& status) {
  ++result.failed_requests;
  if (result.sample_errors.size() < kMaxSampleErrors) {
    result.sample_errors.push_back(absl::StrCat(what, ": ", status.ToString()));
  }
}

// Thread `index` of `threads`: serves users index, index + threads, ...
ThreadResult RunThread(OrdersRepository& repository,
                       const TrafficOptions& options, int index, int threads,
                       int requests) {
  std::vector<std::string> users;
  for (int u = index; u < options.users; u += threads) {
    users.push_back(absl::StrCat("u-", u));
  }
  std::vector<int> orders_of_user(users.size(), 0);
  std::seed_seq seed{static_cast<uint32_t>(options.seed),
                     static_cast<uint32_t>(options.seed >> 32),
                     static_cast<uint32_t>(index)};
  std::mt19937_64 random(seed);
  std::uniform_int_distribution<size_t> pick_user(0, users.size() - 1);
  std::bernoulli_distribution is_write(options.write_ratio);
  std::uniform_int_distribution<int64_t> amount(100, 99999);

  ThreadResult result;
  for (int r = 0; options.stop != nullptr ? !options.stop->load() : r < requests;
       ++r) {
    const size_t u = pick_user(random);
    const std::string& user = users[u];
    ++result.requests;
    if (is_write(random)) {
      const std::string order_id =
          absl::StrFormat("o-%d-%06d", options.seed, orders_of_user[u]++);
      absl::Status placed =
          repository.PlaceOrder(user, order_id, amount(random));
      if (placed.ok()) {
        ++result.orders_placed;
      } else {
        NoteError(result, absl::StrCat("place ", user, "/", order_id), placed);
      }
    } else {
      absl::StatusOr<std::vector<Order>> listed = repository.ListOrders(user);
      if (listed.ok()) {
        ++result.lists;
      } else {
        NoteError(result, absl::StrCat("list ", user), listed.status());
      }
    }
    if (options.pause > absl::ZeroDuration()) absl::SleepFor(options.pause);
  }
  return result;
}

}  // namespace

absl::Status ValidateTrafficOptions(const TrafficOptions& options) {
  if (options.users < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("users: must be at least 1, not ", options.users));
  }
  if (options.requests < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("requests: must not be negative, not ", options.requests));
  }
  if (options.threads < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("threads: must be at least 1, not ", options.threads));
  }
  if (!(options.write_ratio >= 0 && options.write_ratio <= 1)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "write_ratio: must be between 0 and 1, not ", options.write_ratio));
  }
  return absl::OkStatus();
}

TrafficResult RunTraffic(OrdersRepository& repository,
                         const TrafficOptions& options) {
  const int threads = std::min(options.threads, options.users);
  std::vector<ThreadResult> results(static_cast<size_t>(threads));
  std::vector<std::thread> workers;
  workers.reserve(results.size());
  for (int t = 0; t < threads; ++t) {
    const int requests =
        options.requests / threads + (t < options.requests % threads ? 1 : 0);
    workers.emplace_back([&repository, &options, &results, t, threads,
                          requests] {
      results[static_cast<size_t>(t)] =
          RunThread(repository, options, t, threads, requests);
    });
  }
  for (std::thread& worker : workers) worker.join();

  TrafficResult total;
  for (ThreadResult& result : results) {
    total.requests += result.requests;
    total.failed_requests += result.failed_requests;
    total.orders_placed += result.orders_placed;
    total.lists += result.lists;
    for (std::string& error : result.sample_errors) {
      if (total.sample_errors.size() < kMaxSampleErrors) {
        total.sample_errors.push_back(std::move(error));
      }
    }
  }
  return total;
}

}  // namespace cutover::examples
