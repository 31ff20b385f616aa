// Admin writes against the real cutoverd, each next to its reference in the
// same run:
//
//   ./build/tests/bench/admin_bench [--writes=300] [--seconds=3]
//       [--callers=16]
//
// sync: latency of an acknowledged (synced) write, SetStage over gRPC, next
//   to a plain write + fsync of a file in the same folder (same disk),
//   alternating in blocks of 10: p50, p99, ratio.
// burst: Decide throughput (closed loop, `callers` in flight) while another
//   caller makes SetStage writes back to back on another flag, next to the
//   same with no writes (idle, burst, idle; ratio to the idle mean).
//
// The watch fan-out after a write is invalidation_bench --streams.
#include <fcntl.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <string>
#include <thread>
#include <vector>

#include "tests/bench/bench_util.h"

namespace cutover::bench {
namespace {

double MicrosSince(Clock::time_point start) {
  return std::chrono::duration<double, std::micro>(Clock::now() - start)
      .count();
}

void SyncPhase(BenchDaemon& daemon, int writes) {
  std::printf("== synced write latency: SetStage over gRPC vs write+fsync\n");
  const std::string path = daemon.dir() + "/fsync-reference";
  const int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
  if (fd < 0) std::abort();
  const std::string record(200, 'x');  // about a history entry's size
  std::vector<double> grpc_us, fsync_us;
  int stage = 0;
  for (int block = 0; block * 10 < writes; ++block) {
    for (int i = 0; i < 10; ++i) {
      const auto start = Clock::now();
      if (write(fd, record.data(), record.size()) !=
              static_cast<ssize_t>(record.size()) ||
          fsync(fd) != 0) {
        std::abort();
      }
      fsync_us.push_back(MicrosSince(start));
    }
    for (int i = 0; i < 10; ++i) {
      const auto start = Clock::now();
      if (!daemon.SetStage("orders", ++stage % 2 ? v1::DUALWRITE : v1::OFF)) {
        std::abort();
      }
      grpc_us.push_back(MicrosSince(start));
    }
  }
  close(fd);
  const double f50 = Quantile(fsync_us, 0.5), f99 = Quantile(fsync_us, 0.99);
  const double g50 = Quantile(grpc_us, 0.5), g99 = Quantile(grpc_us, 0.99);
  std::printf("write+fsync of %zu bytes   n %zu  p50 %8.1f us  p99 %8.1f us\n",
              record.size(), fsync_us.size(), f50, f99);
  std::printf("SetStage (synced)          n %zu  p50 %8.1f us  p99 %8.1f us  "
              "p50 ratio %.2f  p99 ratio %.2f\n",
              grpc_us.size(), g50, g99, g50 / f50, g99 / f99);
}

void BurstPhase(BenchDaemon& daemon, double seconds, int callers) {
  std::printf("== Decide throughput during a burst of admin writes\n");
  grpc::GenericStub stub(OwnChannel(daemon.address()));
  const grpc::ByteBuffer decide =
      Serialize(DecideRequestFor("orders", "user-4242"));
  RunClosedLoop(stub, kDecideMethod, decide, 4, 0.3);  // warm up
  auto idle = [&] {
    return RunClosedLoop(stub, kDecideMethod, decide, callers, seconds)
        .per_second();
  };
  const double idle_before = idle();
  std::atomic<bool> stop{false};
  std::atomic<int> writes{0};
  std::thread writer([&] {
    int stage = 0;
    while (!stop) {
      if (!daemon.SetStage("burst", ++stage % 2 ? v1::DUALWRITE : v1::OFF)) {
        std::abort();
      }
      ++writes;
    }
  });
  LoadResult burst =
      RunClosedLoop(stub, kDecideMethod, decide, callers, seconds);
  stop = true;
  writer.join();
  const double idle_after = idle();
  const double idle_mean = (idle_before + idle_after) / 2;
  std::printf("Decide idle                %9.0f calls/s (before %.0f, after %.0f)\n",
              idle_mean, idle_before, idle_after);
  std::printf("Decide during writes       %9.0f calls/s  with %.0f writes/s  "
              "ratio %.2f\n",
              burst.per_second(), writes / burst.seconds,
              burst.per_second() / idle_mean);
}

int Main(int argc, char** argv) {
  const int writes = std::stoi(Arg(argc, argv, "writes", "300"));
  const double seconds = std::stod(Arg(argc, argv, "seconds", "3"));
  const int callers = std::stoi(Arg(argc, argv, "callers", "16"));
  BenchDaemon daemon;
  if (!daemon.Start() || !daemon.CreateRolloutFlag("orders") ||
      !daemon.CreateRolloutFlag("burst")) {
    return 1;
  }
  SyncPhase(daemon, writes);
  BurstPhase(daemon, seconds, callers);
  return daemon.Stop() == 0 ? 0 : 1;
}

}  // namespace
}  // namespace cutover::bench

int main(int argc, char** argv) { return cutover::bench::Main(argc, argv); }
