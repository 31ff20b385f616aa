// Soak: one cutoverd under mixed traffic for CUTOVER_SOAK_SECONDS (default
// 60; docs/operations.md has the 10-minute manual run): Decide and
// DecideBatch callers that reconnect now and then, Watch streams held open
// and others opened and closed, a cutover::Client with its own stream,
// telemetry reports, and admin changes. Every call must succeed, and the
// daemon's resident memory (VmRSS) and open file descriptors, sampled every
// second, must be flat after the warm-up (the first third): the average of
// the last fifth of the samples at most 5% above the average of the fifth
// after the warm-up.
//
// The daemon's bounded in-memory tables are set small (watch_history,
// telemetry window) so that they fill during the warm-up: what is measured
// is growth that does not stop, not caches filling. Under AddressSanitizer
// the allocator's quarantine grows memory by design, so the memory bound is
// reported but not checked there (descriptors and errors still are).
#include <catch2/catch.hpp>

#include <signal.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <numeric>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "client/admin_client.h"
#include "client/client.h"
#include "grpcpp/client_context.h"
#include "rpc/grpc_status.h"
#include "tests/integration/admin_calls.h"
#include "tests/integration/harness.h"

namespace cutover::testing {
namespace {

#if defined(__SANITIZE_ADDRESS__)
constexpr bool kAddressSanitizer = true;
#else
constexpr bool kAddressSanitizer = false;
#endif

int SoakSeconds() {
  const char* text = std::getenv("CUTOVER_SOAK_SECONDS");
  const int seconds = text != nullptr ? std::atoi(text) : 0;
  return seconds > 0 ? seconds : 60;
}

// Resident memory of `pid` in KiB (VmRSS), or -1.
int64_t ResidentKib(pid_t pid) {
  std::ifstream status("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind("VmRSS:", 0) == 0) return std::atoll(line.c_str() + 6);
  }
  return -1;
}

// Open file descriptors of `pid`, or -1.
int64_t OpenFds(pid_t pid) {
  std::error_code error;
  int64_t count = 0;
  for (std::filesystem::directory_iterator
           it("/proc/" + std::to_string(pid) + "/fd", error),
       end;
       !error && it != end; it.increment(error)) {
    ++count;
  }
  return error ? -1 : count;
}

double Average(const std::vector<int64_t>& samples, size_t from, size_t to) {
  if (to <= from) return 0;
  return std::accumulate(samples.begin() + from, samples.begin() + to, 0.0) /
         static_cast<double>(to - from);
}

// Errors of the traffic threads: the first few messages, and how many.
class Errors {
 public:
  void Add(const std::string& what, const absl::Status& status) {
    ++count_;
    std::lock_guard<std::mutex> lock(mu_);
    if (first_.size() < 5) {
      first_.push_back(absl::StrCat(what, ": ", status.ToString()));
    }
  }
  int64_t count() const { return count_; }
  std::string first() {
    std::lock_guard<std::mutex> lock(mu_);
    std::string out;
    for (const auto& line : first_) out += line + "\n";
    return out;
  }

 private:
  std::atomic<int64_t> count_{0};
  std::mutex mu_;
  std::vector<std::string> first_;
};

constexpr int kFlags = 5;
std::string FlagKey(int i) { return "soak-" + std::to_string(i); }

// Decide calls, one flag after the other, on a channel replaced every 500
// calls (so connections open and close).
void DecideLoop(const std::string& address, const std::atomic<bool>& stop,
                Errors& errors, std::atomic<int64_t>& calls) {
  for (int round = 0; !stop && round < 1000000; ++round) {
    auto evaluation = ConnectAdmin(address);
    for (int i = 0; i < 500 && !stop; ++i) {
      const absl::Status status =
          Decide(*evaluation, FlagKey(i % kFlags), "u-" + std::to_string(i))
              .status();
      if (!status.ok()) errors.Add("Decide", status);
      ++calls;
      if (i % 10 == 9) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
  }
}

void BatchLoop(const std::string& address, const std::atomic<bool>& stop,
               Errors& errors, std::atomic<int64_t>& calls) {
  auto evaluation = ConnectAdmin(address);
  for (int n = 0; !stop && n < 10000000; ++n) {
    v1::DecideBatchRequest request;
    for (int i = 0; i < 100; ++i) {
      v1::DecideRequest* item = request.add_items();
      item->set_flag_key(FlagKey(i % kFlags));
      item->mutable_context()->set_targeting_key(
          "b-" + std::to_string(n) + "-" + std::to_string(i));
      (*item->mutable_context()->mutable_attributes())["tenant"] = "acme";
    }
    const absl::Status status = evaluation->DecideBatch(request).status();
    if (!status.ok()) errors.Add("DecideBatch", status);
    ++calls;
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
}

// Opens a Watch stream from revision 0, reads until its SYNCED, closes it;
// again and again.
void WatchChurnLoop(const std::string& address, const std::atomic<bool>& stop,
                    Errors& errors, std::atomic<int64_t>& calls) {
  auto evaluation = ConnectAdmin(address);
  for (int n = 0; !stop && n < 10000000; ++n) {
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() +
                         std::chrono::seconds(10));
    auto reader = evaluation->Watch(&context, v1::WatchRequest());
    v1::WatchEvent event;
    bool synced = false;
    while (!synced && reader->Read(&event)) {
      synced = event.kind() == v1::WatchEvent::SYNCED;
    }
    context.TryCancel();
    const absl::Status status = FromGrpcStatus(reader->Finish());
    if (!synced) errors.Add("Watch (churn)", status);
    ++calls;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
}

// A Watch stream held open for the whole run; it must not end early.
void WatchHoldLoop(const std::string& address, const std::atomic<bool>& stop,
                   Errors& errors, std::atomic<int64_t>& events) {
  auto evaluation = ConnectAdmin(address);
  grpc::ClientContext context;
  auto reader = evaluation->Watch(&context, v1::WatchRequest());
  std::thread canceller([&] {
    while (!stop) std::this_thread::sleep_for(std::chrono::milliseconds(20));
    context.TryCancel();
  });
  v1::WatchEvent event;
  while (reader->Read(&event)) ++events;
  const absl::Status status = FromGrpcStatus(reader->Finish());
  if (!stop) errors.Add("Watch (held) ended early", status);
  canceller.join();
}

// Admin changes, one every 2 s: stage moves back and forth, and a segment
// replaced. Each change also grows RocksDB's in-memory tables by ~3 KB
// until they are flushed (at 2 MiB each): at this rate that is ~1 MB over
// the 10-minute run, ~3% of the daemon's memory.
void AdminLoop(const std::string& address, const std::atomic<bool>& stop,
               Errors& errors, std::atomic<int64_t>& calls) {
  auto admin = ConnectAdmin(address);
  // Each flag goes off -> dualwrite -> shadow -> dualwrite -> off, one
  // stage at a time.
  const v1::Stage stages[] = {v1::DUALWRITE, v1::SHADOW, v1::DUALWRITE,
                              v1::OFF};
  int moves[kFlags] = {};
  for (int n = 0; !stop && n < 10000000; ++n) {
    absl::Status status;
    if (n % 4 == 3) {
      v1::ReplaceSegmentRequest request;
      request.mutable_segment()->set_key("internal");
      for (int i = 0; i < 20; ++i) {
        request.mutable_segment()->add_included("u-" + std::to_string(n + i));
      }
      v1::GetSegmentRequest get;
      get.set_key("internal");
      const absl::StatusOr<v1::Segment> current = admin->GetSegment(get);
      status = current.status();
      if (status.ok()) {
        request.set_expected_version(current->version());
        status = admin->ReplaceSegment(request).status();
      }
    } else {
      const int flag = n % kFlags;
      status =
          SetStage(*admin, FlagKey(flag), stages[moves[flag]++ % 4]).status();
    }
    if (!status.ok()) errors.Add("admin", status);
    ++calls;
    std::this_thread::sleep_for(std::chrono::seconds(2));
  }
}

void TelemetryLoop(const std::string& address, const std::atomic<bool>& stop,
                   Errors& errors, std::atomic<int64_t>& calls) {
  auto telemetry = ConnectAdmin(address);
  for (int n = 0; !stop && n < 10000000; ++n) {
    v1::ReportMigrationOpsRequest request;
    request.set_client("soak");
    for (int i = 0; i < kFlags; ++i) {
      v1::MigrationOpCount* count = request.add_counts();
      count->set_flag_key(FlagKey(i));
      count->set_stage(v1::DUALWRITE);
      count->set_op(n % 2 == 0 ? "read" : "write");
      count->set_origin(v1::OLD);
      count->set_result(v1::OK);
      count->set_count(10);
      count->mutable_latency()->add_buckets(10);
    }
    const absl::Status status = telemetry->ReportMigrationOps(request).status();
    if (!status.ok()) errors.Add("ReportMigrationOps", status);
    ++calls;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
}

// The client library: cached decisions invalidated by its Watch stream.
void ClientLoop(const std::string& address, const std::atomic<bool>& stop,
                Errors& errors, std::atomic<int64_t>& calls) {
  ClientOptions options;
  options.server = address;
  options.decide_deadline = absl::Seconds(5);
  auto client = Client::Create(options);
  if (!client.ok()) {
    errors.Add("Client::Create", client.status());
    return;
  }
  for (int n = 0; !stop && n < 100000000; ++n) {
    const Decision d = (*client)->Decide(
        FlagKey(n % kFlags), Context{"c-" + std::to_string(n % 1000), {}});
    if (d.reason == Reason::kError || d.reason == Reason::kStale) {
      errors.Add("Client::Decide", absl::UnavailableError(d.error));
    }
    ++calls;
    if (n % 20 == 19) {
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
  }
}

TEST_CASE("soak: mixed traffic with flat memory and descriptors and no "
          "errors",
          "[soak]") {
  const int seconds = SoakSeconds();
  TempDir dir;
  const std::string config = dir.path() + "/cutoverd.yaml";
  {
    std::ofstream out(config);
    out << "watch_history: 200\n"
           "telemetry_window_seconds: 5\n"
           "heartbeat_seconds: 1\n";
  }
  DaemonProcess daemon(dir.path() + "/data", {"--config", config});
  REQUIRE(daemon.Start());
  const std::string address = daemon.address();
  {
    auto admin = ConnectAdmin(address);
    for (int i = 0; i < kFlags; ++i) {
      REQUIRE(CreateFlag(*admin, OffFlag(FlagKey(i))).ok());
    }
    v1::CreateSegmentRequest request;
    request.mutable_segment()->set_key("internal");
    request.mutable_segment()->add_included("u-1");
    REQUIRE(admin->CreateSegment(request).ok());
  }

  std::atomic<bool> stop{false};
  Errors errors;
  std::atomic<int64_t> decides{0}, batches{0}, churned{0}, held_events{0},
      changes{0}, reports{0}, client_calls{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < 2; ++i) {
    threads.emplace_back(
        [&] { DecideLoop(address, stop, errors, decides); });
  }
  threads.emplace_back([&] { BatchLoop(address, stop, errors, batches); });
  threads.emplace_back(
      [&] { WatchChurnLoop(address, stop, errors, churned); });
  for (int i = 0; i < 4; ++i) {
    threads.emplace_back(
        [&] { WatchHoldLoop(address, stop, errors, held_events); });
  }
  threads.emplace_back([&] { AdminLoop(address, stop, errors, changes); });
  threads.emplace_back([&] { TelemetryLoop(address, stop, errors, reports); });
  threads.emplace_back(
      [&] { ClientLoop(address, stop, errors, client_calls); });

  // One sample a second (bounded by the duration).
  std::vector<int64_t> rss, fds;
  const auto start = std::chrono::steady_clock::now();
  const auto end = start + std::chrono::seconds(seconds);
  while (std::chrono::steady_clock::now() < end && errors.count() == 0) {
    std::this_thread::sleep_for(std::chrono::seconds(2));
    rss.push_back(ResidentKib(daemon.pid()));
    fds.push_back(OpenFds(daemon.pid()));
  }
  stop = true;
  for (auto& thread : threads) thread.join();

  // The daemon is still well and stops cleanly.
  CHECK(daemon.Stop(SIGTERM) == 0);

  INFO("errors: " << errors.count() << "\n" << errors.first());
  CHECK(errors.count() == 0);
  const size_t n = rss.size();
  const size_t warm = n / 3, fifth = std::max<size_t>(n / 5, 1);
  const double rss_after_warmup = Average(rss, warm, warm + fifth);
  const double rss_end = Average(rss, n - fifth, n);
  const double fds_after_warmup = Average(fds, warm, warm + fifth);
  const double fds_end = Average(fds, n - fifth, n);
  std::string rss_text, fds_text;
  for (size_t i = 0; i < n; ++i) {
    rss_text += " " + std::to_string(rss[i]);
    fds_text += " " + std::to_string(fds[i]);
  }
  WARN("soak " << seconds << " s: " << decides << " Decide, " << batches
               << " DecideBatch of 100, " << churned << " Watch opened and "
               << "closed, " << held_events << " events on 4 held streams, "
               << changes << " admin changes, " << reports
               << " telemetry reports, " << client_calls
               << " Client::Decide\nVmRSS KiB after warm-up "
               << rss_after_warmup << ", at the end " << rss_end
               << "\nopen fds after warm-up " << fds_after_warmup
               << ", at the end " << fds_end << "\nVmRSS KiB:" << rss_text
               << "\nopen fds:" << fds_text);
  REQUIRE(n >= 3);
  CHECK(*std::min_element(rss.begin(), rss.end()) > 0);
  CHECK(*std::min_element(fds.begin(), fds.end()) > 0);
  CHECK(decides > 0);
  CHECK(batches > 0);
  CHECK(churned > 0);
  CHECK(held_events > 0);
  CHECK(changes > 0);
  CHECK(reports > 0);
  CHECK(client_calls > 0);
  CHECK(fds_end <= fds_after_warmup * 1.05);
  if (!kAddressSanitizer) CHECK(rss_end <= rss_after_warmup * 1.05);
}

}  // namespace
}  // namespace cutover::testing
