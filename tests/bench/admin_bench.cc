// Admin writes against the real cutoverd, each next to its reference in the
// same run:
//
//   ./build/tests/bench/admin_bench [--writes=300] [--seconds=3]
//       [--callers=16] [--rounds=5] [--phases=sync,burst]
//       [--write-rates=0,100] [--auth=none|token]
//
// sync: latency of an acknowledged (synced) write, SetStage over gRPC, next
//   to a plain write + fsync of a file in the same folder (same disk) and
//   to GetFlag on the same admin server (the RPC without the disk) and to
//   Health/Check (an empty RPC on the callback API that evaluation uses),
//   alternating one by one: p50, p99, ratios.
// burst: Decide throughput (closed loop, `callers` in flight) while another
//   caller makes SetStage writes on another flag, next to the same with no
//   writes, alternating idle and burst `rounds` times (`seconds` of each in
//   all); the ratio is the median over rounds. The writes go back to back
//   (`write-rate` 0: as fast as synced writes go, ~1000/s here), or at
//   `write-rate` per second (a scripted `cutoverctl apply` of many flags).
//
//   Each round also runs Decide next to plain write+fdatasync calls (a
//   file in the daemon's folder) at the rate the writes reached: what that
//   many fsyncs cost the machine with no admin write, the reference that
//   says how much of the loss is the daemon's.
//
// --auth=token: the daemon checks tokens; the writes and GetFlag send the
// admin token, Decide and the empty RPC the reader token.
//
// The watch fan-out after a write is invalidation_bench --streams.
#include <fcntl.h>
#include <unistd.h>

#include <atomic>
#include <functional>
#include <cstdio>
#include <string>
#include <thread>
#include <vector>

#include "tests/bench/bench_util.h"
#include "tests/integration/call_by_name.h"

namespace cutover::bench {
namespace {

void SyncPhase(BenchDaemon& daemon, int writes) {
  std::printf("== synced write latency: SetStage over gRPC vs write+fsync\n");
  const std::string path = daemon.dir() + "/fsync-reference";
  const int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
  if (fd < 0) std::abort();
  const std::string record(200, 'x');  // about a history entry's size
  std::vector<double> grpc_us, fsync_us, read_us, health_us;
  ProcessCpu daemon_cpu;
  v1::GetFlagRequest get;
  get.set_key("orders");
  grpc::GenericStub health(OwnChannel(daemon.address(), daemon.reader_token()));
  const grpc::ByteBuffer empty = testing::EmptyRequest();
  for (int i = 0; i < writes; ++i) {
    auto start = Clock::now();
    if (write(fd, record.data(), record.size()) !=
            static_cast<ssize_t>(record.size()) ||
        fsync(fd) != 0) {
      std::abort();
    }
    fsync_us.push_back(MicrosSince(start));
    const ProcessCpu cpu = ProcessCpu::Of(daemon.pid());
    start = Clock::now();
    if (!daemon.SetStage("orders", i % 2 == 0 ? v1::DUALWRITE : v1::OFF)) {
      std::abort();
    }
    grpc_us.push_back(MicrosSince(start));
    daemon_cpu += ProcessCpu::Of(daemon.pid()) - cpu;
    start = Clock::now();
    if (!daemon.admin().GetFlag(get).ok()) std::abort();
    read_us.push_back(MicrosSince(start));
    start = Clock::now();
    if (!testing::CallByName(health, kHealthCheckMethod, empty, nullptr, 10)
             .ok()) {
      std::abort();
    }
    health_us.push_back(MicrosSince(start));
  }
  close(fd);
  // The reference of the write target: an empty RPC plus a plain fsync,
  // call by call (before Quantile sorts the series).
  std::vector<double> empty_plus_fsync_us;
  for (size_t i = 0; i < fsync_us.size(); ++i) {
    empty_plus_fsync_us.push_back(fsync_us[i] + health_us[i]);
  }
  const double e99 = Quantile(empty_plus_fsync_us, 0.99);
  const double f50 = Quantile(fsync_us, 0.5), f99 = Quantile(fsync_us, 0.99);
  const double g50 = Quantile(grpc_us, 0.5), g99 = Quantile(grpc_us, 0.99);
  const double r50 = Quantile(read_us, 0.5), r99 = Quantile(read_us, 0.99);
  std::printf("write+fsync of %zu bytes   n %zu  p50 %8.1f us  p99 %8.1f us\n",
              record.size(), fsync_us.size(), f50, f99);
  std::printf("SetStage (synced)          n %zu  p50 %8.1f us  p99 %8.1f us  "
              "p50 ratio %.2f  p99 ratio %.2f  daemon CPU per write: user %.0f "
              "us, system %.0f us\n",
              grpc_us.size(), g50, g99, g50 / f50, g99 / f99,
              daemon_cpu.user * 1e6 / grpc_us.size(),
              daemon_cpu.system * 1e6 / grpc_us.size());
  std::printf("GetFlag (no disk)          n %zu  p50 %8.1f us  p99 %8.1f us  "
              "write+fsync + GetFlag: p50 %.1f us\n",
              read_us.size(), r50, r99, f50 + r50);
  std::printf("Health/Check (callback API) n %zu  p50 %8.1f us  p99 %8.1f us  "
              "(the Admin service is on the synchronous API)\n",
              health_us.size(), Quantile(health_us, 0.5),
              Quantile(health_us, 0.99));
  std::printf("SetStage p99 / p99 of (empty RPC + write+fsync, call by call "
              "%.1f us): %.2f (target <= 1.5)\n",
              e99, g99 / e99);
}

// Calls `op` on a thread of its own while alive: back to back (`rate` 0)
// or `rate` times per second.
class Repeater {
 public:
  Repeater(double rate, std::function<void()> op)
      : thread_([this, rate, op = std::move(op)] {
          auto next = Clock::now();
          while (!stop_) {
            if (rate > 0) {
              next += std::chrono::duration_cast<Clock::duration>(
                  std::chrono::duration<double>(1.0 / rate));
              std::this_thread::sleep_until(next);
            }
            op();
            ++count;
          }
        }) {}
  ~Repeater() {
    stop_ = true;
    thread_.join();
  }
  std::atomic<int> count{0};

 private:
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

// Decide throughput idle, during admin writes (SetStage on flag "burst",
// back to back or at `write_rate`), and during plain write+fdatasync calls
// on a file in the daemon's folder at the rate the writes reached in the
// same round: the machine's own cost of that many fsyncs, with no admin
// write at all.
void BurstPhase(BenchDaemon& daemon, double seconds, int callers, int rounds,
                int write_rate) {
  std::printf("== Decide throughput during a burst of admin writes (%s), %d "
              "alternating rounds\n",
              write_rate > 0
                  ? (std::to_string(write_rate) + " writes/s").c_str()
                  : "back to back",
              rounds);
  grpc::GenericStub stub(OwnChannel(daemon.address(), daemon.reader_token()));
  const grpc::ByteBuffer decide =
      Serialize(DecideRequestFor("orders", "user-4242"));
  RunClosedLoop(stub, kDecideMethod, decide, 4, 0.3);  // warm up
  const std::string path = daemon.dir() + "/fsync-burst";
  const int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
  if (fd < 0) std::abort();
  const std::string record_bytes(200, 'x');
  LoadResult idle, burst, fsyncs;
  int writes = 0, syncs = 0;
  double cpu_idle = 0, cpu_burst = 0, cpu_fsyncs = 0;
  // Adds one Decide run, and the daemon's CPU since `before`, to a load.
  auto record = [&](LoadResult& load, double& cpu, const ProcessCpu& before,
                    const LoadResult& run) {
    cpu += (ProcessCpu::Of(daemon.pid()) - before).total();
    load.round_rates.push_back(run.per_second());
    load.Add(run);
  };
  int stage = 0;
  for (int round = 0; round < rounds; ++round) {
    const double run_seconds = seconds / rounds;
    ProcessCpu before = ProcessCpu::Of(daemon.pid());
    record(idle, cpu_idle, before,
           RunClosedLoop(stub, kDecideMethod, decide, callers, run_seconds));

    double round_write_rate = 0;
    before = ProcessCpu::Of(daemon.pid());
    {
      Repeater writer(write_rate, [&] {
        if (!daemon.SetStage("burst", ++stage % 2 ? v1::DUALWRITE : v1::OFF)) {
          std::abort();
        }
      });
      const LoadResult run =
          RunClosedLoop(stub, kDecideMethod, decide, callers, run_seconds);
      writes += writer.count;
      round_write_rate = writer.count / run.seconds;
      record(burst, cpu_burst, before, run);
    }

    before = ProcessCpu::Of(daemon.pid());
    {
      Repeater syncer(round_write_rate, [&] {
        if (write(fd, record_bytes.data(), record_bytes.size()) !=
                static_cast<ssize_t>(record_bytes.size()) ||
            fdatasync(fd) != 0) {
          std::abort();
        }
      });
      const LoadResult run =
          RunClosedLoop(stub, kDecideMethod, decide, callers, run_seconds);
      syncs += syncer.count;
      record(fsyncs, cpu_fsyncs, before, run);
    }
  }
  close(fd);
  std::printf("Decide idle                %9.0f calls/s  p99 %8.1f us  daemon "
              "CPU %.2f s per s\n",
              idle.per_second(), idle.p99(), cpu_idle / idle.seconds);
  std::printf("Decide during writes       %9.0f calls/s  p99 %8.1f us  daemon "
              "CPU %.2f s per s  with %.0f writes/s  throughput ratio %.2f\n",
              burst.per_second(), burst.p99(), cpu_burst / burst.seconds,
              writes / burst.seconds, MedianRatio(burst, idle));
  std::printf("Decide during fsyncs       %9.0f calls/s  p99 %8.1f us  daemon "
              "CPU %.2f s per s  with %.0f plain write+fdatasync/s (the "
              "writes' rate, no admin write)  throughput ratio %.2f\n",
              fsyncs.per_second(), fsyncs.p99(), cpu_fsyncs / fsyncs.seconds,
              syncs / fsyncs.seconds, MedianRatio(fsyncs, idle));
  std::printf("writes vs plain fsyncs at the same rate: throughput ratio %.2f "
              "(the daemon's share of the loss)\n",
              MedianRatio(burst, fsyncs));
}

int Main(int argc, char** argv) {
  const int writes = std::stoi(Arg(argc, argv, "writes", "300"));
  const double seconds = std::stod(Arg(argc, argv, "seconds", "3"));
  const int callers = std::stoi(Arg(argc, argv, "callers", "16"));
  const int rounds = std::stoi(Arg(argc, argv, "rounds", "5"));
  const std::string phases = Arg(argc, argv, "phases", "sync,burst");
  const std::vector<int> write_rates =
      IntList(Arg(argc, argv, "write-rates", "0,100"));
  BenchDaemon daemon({}, Arg(argc, argv, "auth", "none") == "token"
                             ? BenchDaemon::Auth::kTokens
                             : BenchDaemon::Auth::kNone);
  if (!daemon.Start() || !daemon.CreateRolloutFlag("orders") ||
      !daemon.CreateRolloutFlag("burst")) {
    return 1;
  }
  if (phases.find("sync") != std::string::npos) SyncPhase(daemon, writes);
  if (phases.find("burst") != std::string::npos) {
    for (int rate : write_rates) {
      BurstPhase(daemon, seconds, callers, rounds, rate);
    }
  }
  return daemon.Stop() == 0 ? 0 : 1;
}

}  // namespace
}  // namespace cutover::bench

int main(int argc, char** argv) { return cutover::bench::Main(argc, argv); }
