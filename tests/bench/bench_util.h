// Shared pieces of the gRPC benchmarks (decide_bench, admin_bench,
// invalidation_bench, scale_bench): a cutoverd started for benchmarking,
// closed- and open-loop load generators over a generic stub, Watch streams
// that timestamp what they receive, /proc readings of the daemon, and
// percentiles. Results go to docs/performance.md.
//
// Nothing here asserts anything about speed.
#ifndef CUTOVER_TESTS_BENCH_BENCH_UTIL_H_
#define CUTOVER_TESTS_BENCH_BENCH_UTIL_H_

#include <sys/types.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "client/admin_client.h"
#include "cutover/v1/cutover.grpc.pb.h"
#include "google/protobuf/message.h"
#include "grpcpp/generic/generic_stub.h"
#include "grpcpp/grpcpp.h"
#include "tests/integration/harness.h"

namespace cutover::bench {

using Clock = std::chrono::steady_clock;

inline constexpr char kDecideMethod[] = "/cutover.v1.Evaluation/Decide";
inline constexpr char kDecideBatchMethod[] =
    "/cutover.v1.Evaluation/DecideBatch";
inline constexpr char kHealthCheckMethod[] = "/grpc.health.v1.Health/Check";

// "--name=value" from argv, else `fallback`.
std::string Arg(int argc, char** argv, const std::string& name,
                const std::string& fallback);
// A comma-separated list of integers ("1,16,64").
std::vector<int> IntList(const std::string& text);

// The q-quantile (0..1) of `values` (sorted in place); 0 if empty.
double Quantile(std::vector<double>& values, double q);
// Microseconds from `start` to now.
double MicrosSince(Clock::time_point start);

// CPU time a process has used, seconds, and its minor page faults, from
// /proc/<pid>/stat (10 ms resolution).
struct ProcessCpu {
  double user = 0;
  double system = 0;
  int64_t minor_faults = 0;
  double total() const { return user + system; }
  static ProcessCpu Of(pid_t pid);
  ProcessCpu operator-(const ProcessCpu& earlier) const;
  ProcessCpu& operator+=(const ProcessCpu& more);
};
// Resident memory (VmRSS) of a process, MiB, from /proc.
double ProcessRssMiB(pid_t pid);

// A channel of its own (own TCP connection: channels are not pooled),
// plaintext, made by the client library's MakeChannel; sends `token` on
// every call unless it is empty.
std::shared_ptr<grpc::Channel> OwnChannel(const std::string& address,
                                          const std::string& token = "");

// An AdminClient on a connection of its own whose calls wait (at most 30 s)
// for the channel to connect instead of failing at once on a transient
// connection error; sends `token` unless it is empty.
std::unique_ptr<AdminClient> OwnAdminClient(const std::string& address,
                                            const std::string& token = "");

// `message` serialized once, to send many times through a generic stub.
grpc::ByteBuffer Serialize(const google::protobuf::Message& message);
// A real cutoverd (tests/integration/harness.h) in a temporary folder, auth
// off (or, with Auth::kTokens, a token file with a reader and an admin
// token: admin() sends the admin one), watch stream limit per peer raised
// to 100000 (the benchmarks open many streams from one address), plus
// `extra_args`.
class BenchDaemon {
 public:
  enum class Auth { kNone, kTokens };
  explicit BenchDaemon(std::vector<std::string> extra_args = {},
                       Auth auth = Auth::kNone);
  // The reader token with Auth::kTokens, else empty.
  const std::string& reader_token() const { return reader_token_; }
  // Starts it; false (and the daemon's stderr printed) on failure.
  bool Start();
  // SIGTERM, waiting for a clean exit.
  int Stop();
  std::string address() const { return daemon_->address(); }
  pid_t pid() const { return daemon_->pid(); }
  int metrics_port() const { return daemon_->metrics_port(); }
  const std::string& dir() const { return dir_.path(); }
  const AdminClient& admin() { return *admin_; }

  // Creates `key` enabled, serving live 5% / shadow 95% (forced).
  bool CreateRolloutFlag(const std::string& key);
  // SetStage(key, stage) with force; false on failure.
  bool SetStage(const std::string& key, v1::Stage stage);

 private:
  testing::TempDir dir_;
  std::string reader_token_, admin_token_;
  std::unique_ptr<testing::DaemonProcess> daemon_;
  std::unique_ptr<AdminClient> admin_;
};

// Flag `key`, enabled, serving live 5% / shadow 95% by default.
v1::Flag RolloutFlag(const std::string& key);

// A Decide request for flag `key` and user `user` (tenant=acme).
v1::DecideRequest DecideRequestFor(const std::string& key,
                                   const std::string& user);

// What one load run measured.
struct LoadResult {
  int64_t calls = 0;     // completed OK
  int64_t failures = 0;  // completed with an error
  double seconds = 0;    // wall time of the run
  std::vector<double> latencies_us;
  // calls/s of each round, when run by RunRounds.
  std::vector<double> round_rates;
  double per_second() const { return seconds > 0 ? calls / seconds : 0; }
  // Adds `other` (another run of the same load) to this one.
  void Add(const LoadResult& other);
  double p50() { return Quantile(latencies_us, 0.50); }
  double p99() { return Quantile(latencies_us, 0.99); }
};

// Closed loop: `callers` calls of `method` in flight at all times, each
// started when the previous one of its caller completes, for `seconds`.
LoadResult RunClosedLoop(grpc::GenericStub& stub, const std::string& method,
                         const grpc::ByteBuffer& request, int callers,
                         double seconds);
// The same with the callers spread over `stubs` in turn (e.g. one stub per
// connection, as several client processes would be).
LoadResult RunClosedLoop(const std::vector<grpc::GenericStub*>& stubs,
                         const std::string& method,
                         const grpc::ByteBuffer& request, int callers,
                         double seconds);

// Open loop: calls started at a fixed `rate` per second for `seconds`,
// whatever completes; latency counts from each call's scheduled start (no
// coordinated omission). Waits (at most 10 s) for the calls in flight.
LoadResult RunOpenLoop(grpc::GenericStub& stub, const std::string& method,
                       const grpc::ByteBuffer& request, double rate,
                       double seconds);

// One load to compare with others: `method` with `request` through `stub`.
struct Load {
  grpc::GenericStub* stub;
  std::string method;
  const grpc::ByteBuffer* request;
};

// The load run at `turn` of `round`: the loads in order in even rounds, in
// reverse in odd ones (A B C, C B A, A B C, ...), so that no load always
// follows the same other load and a drift within a round (the machine
// warming or cooling, what the previous load left behind) weighs on every
// load alike.
size_t RoundOrder(int round, size_t turn, size_t loads);

// Runs each load for seconds / rounds in turn, `rounds` times (RoundOrder),
// closed loop with `callers` (or, if `rate` > 0, open loop at `rate`), so
// that a busy moment of a shared machine hits every load alike. One result
// per load, its round_rates set.
std::vector<LoadResult> RunRounds(const std::vector<Load>& loads, int callers,
                                  double rate, double seconds, int rounds);

// The median over rounds of a.round_rates[i] / b.round_rates[i].
double MedianRatio(const LoadResult& a, const LoadResult& b);

// Prints one result line: calls/s, latency and, next to a `reference` run
// in the same rounds (named `versus`), the median ratio of throughputs and
// the ratio of p99s.
void ReportLoad(const char* what, int callers, LoadResult& r,
                LoadResult* reference = nullptr, const char* versus = "");

// Watch streams over their own channels (at most 100 streams each), every
// stream noting when it first sees each flag version of one flag.
class WatchStreams {
 public:
  // Opens `count` Watch streams on `address` for flag `flag_key` (sending
  // `token` unless it is empty) and waits
  // (at most 60 s) for each to be SYNCED. `max_version` bounds the versions
  // recorded. ok() tells whether every stream synced.
  WatchStreams(const std::string& address, int count,
               const std::string& flag_key, int64_t max_version,
               const std::string& token = "");
  ~WatchStreams();  // cancels the streams and waits for them to end
  bool ok() const { return ok_; }
  int count() const;
  // Waits (at most `timeout_ms`) until every stream has seen `version`;
  // returns the time the last one saw it, or nullopt-like Clock::time_point{}
  // on timeout.
  Clock::time_point WaitAllSaw(int64_t version, int timeout_ms);

  class Stream;

 private:
  std::vector<std::shared_ptr<grpc::Channel>> channels_;
  std::vector<std::unique_ptr<Stream>> streams_;
  bool ok_ = false;
};

}  // namespace cutover::bench

#endif  // CUTOVER_TESTS_BENCH_BENCH_UTIL_H_
