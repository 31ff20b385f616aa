// cutoverd at scale: start-up time and resident memory with many flags, and
// memory with many Watch streams.
//
//   ./build/tests/bench/scale_bench [--flags=10,1000,10000] [--watch=1000]
//       [--writes=300] [--idle=10]
//
// For each flag count: a fresh daemon, that many flags created over gRPC
// (8 callers; each flag has one rule and a live 5% / shadow 95% rollout),
// then the daemon is stopped (SIGTERM) and started again on the same data:
// the restart time is from spawning cutoverd to its ready file (the harness
// polls every 10 ms), and the memory is its VmRSS once ready. Then, on the
// daemon of the smallest count, `watch` Watch streams are opened (all
// synced) and VmRSS is read again. On each restarted daemon, `writes`
// synced SetStage writes to one flag, one at a time: p50 and p99, to show
// what a write costs as the flag count grows (each publishes a snapshot),
// and one scrape of /metrics: time, size and series (flag gauges grow with
// the flags). CPU is the daemon's own (user + system, from /proc): its
// start-up, per write, and with the Watch streams open `idle` seconds of
// doing nothing (heartbeats) and `writes` more writes that every stream
// receives (for sizing: docs/operations.md).
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <string>
#include <thread>
#include <vector>

#include "tests/bench/bench_util.h"

namespace cutover::bench {
namespace {

// Creates flags flag-0 .. flag-<count-1> with 8 callers in parallel.
bool CreateFlags(BenchDaemon& daemon, int count) {
  std::atomic<int> next{0};
  std::atomic<bool> failed{false};
  std::vector<std::thread> callers;
  for (int t = 0; t < 8; ++t) {
    callers.emplace_back([&] {
      auto admin = OwnAdminClient(daemon.address());
      for (int i = next++; i < count && !failed; i = next++) {
        v1::CreateFlagRequest request;
        request.set_force(true);
        v1::Flag* flag = request.mutable_flag();
        *flag = RolloutFlag("flag-" + std::to_string(i));
        auto* rule = flag->add_rules();
        auto* clause = rule->add_clauses();
        clause->set_attribute("tenant");
        clause->set_op(v1::IN);
        clause->add_values("internal");
        rule->mutable_serve()->set_stage(v1::LIVE);
        const absl::Status status = admin->CreateFlag(request).status();
        if (!status.ok()) {
          std::fprintf(stderr, "CreateFlag: %s\n",
                       std::string(status.message()).c_str());
          failed = true;
        }
      }
    });
  }
  for (auto& caller : callers) caller.join();
  return !failed;
}

int Main(int argc, char** argv) {
  const std::vector<int> counts = IntList(Arg(argc, argv, "flags", "10,1000,10000"));
  const int watch = std::stoi(Arg(argc, argv, "watch", "1000"));
  const int writes = std::stoi(Arg(argc, argv, "writes", "300"));
  const int idle_seconds = std::max(1, std::stoi(Arg(argc, argv, "idle", "10")));
  for (size_t c = 0; c < counts.size(); ++c) {
    const int count = counts[c];
    BenchDaemon daemon;
    if (!daemon.Start()) return 1;
    const auto fill_start = Clock::now();
    if (!CreateFlags(daemon, count)) return 1;
    const double fill_s =
        std::chrono::duration<double>(Clock::now() - fill_start).count();
    if (daemon.Stop() != 0) return 1;
    const auto start = Clock::now();
    if (!daemon.Start()) return 1;
    const double start_ms =
        std::chrono::duration<double, std::milli>(Clock::now() - start).count();
    std::printf("%6d flags: start-up %7.1f ms  RSS %6.1f MiB  CPU %.2f s  "
                "(created in %.1f s)\n",
                count, start_ms, ProcessRssMiB(daemon.pid()),
                ProcessCpu::Of(daemon.pid()).total(), fill_s);
    std::fflush(stdout);
    if (writes > 0) {
      std::vector<double> write_us;
      const ProcessCpu writes_start = ProcessCpu::Of(daemon.pid());
      for (int i = 0; i < writes; ++i) {
        const auto write_start = Clock::now();
        if (!daemon.SetStage("flag-0", i % 2 == 0 ? v1::DUALWRITE : v1::OFF)) {
          std::fprintf(stderr, "SetStage failed\n");
          return 1;
        }
        write_us.push_back(MicrosSince(write_start));
      }
      const double write_cpu_ms =
          (ProcessCpu::Of(daemon.pid()) - writes_start).total() * 1000 / writes;
      std::printf("%6d flags: synced SetStage  n %d  p50 %8.1f us  p99 %8.1f us"
                  "  CPU %.2f ms a write\n",
                  count, writes, Quantile(write_us, 0.5),
                  Quantile(write_us, 0.99), write_cpu_ms);
      std::fflush(stdout);
    }
    {
      const auto scrape_start = Clock::now();
      const testing::RunResult scrape = testing::HttpGet(
          "http://127.0.0.1:" + std::to_string(daemon.metrics_port()) +
          "/metrics");
      const double scrape_ms = MicrosSince(scrape_start) / 1000;
      if (scrape.exit_code != 0) {
        std::fprintf(stderr, "scrape failed: %s\n", scrape.err.c_str());
        return 1;
      }
      int series = 0;
      for (size_t at = 0; at < scrape.out.size();) {
        const size_t end = scrape.out.find('\n', at);
        if (scrape.out[at] != '#') ++series;
        at = end == std::string::npos ? scrape.out.size() : end + 1;
      }
      std::printf("%6d flags: /metrics scrape %7.1f ms (curl included), "
                  "%.1f KiB, %d series\n",
                  count, scrape_ms, scrape.out.size() / 1024.0, series);
      std::fflush(stdout);
    }
    if (c == 0 && watch > 0) {
      const double before = ProcessRssMiB(daemon.pid());
      WatchStreams streams(daemon.address(), watch, "flag-0", 1);
      if (!streams.ok()) return 1;
      const double after = ProcessRssMiB(daemon.pid());
      std::printf("%6d flags, %d Watch streams: RSS %6.1f MiB (+%.1f MiB, "
                  "%.1f KiB per stream)\n",
                  count, watch, after, after - before,
                  (after - before) * 1024 / watch);
      std::fflush(stdout);
      const ProcessCpu idle_start = ProcessCpu::Of(daemon.pid());
      std::this_thread::sleep_for(std::chrono::seconds(idle_seconds));
      const double idle_cpu =
          (ProcessCpu::Of(daemon.pid()) - idle_start).total();
      const ProcessCpu fan_start = ProcessCpu::Of(daemon.pid());
      for (int i = 0; i < writes; ++i) {
        if (!daemon.SetStage("flag-0", i % 2 == 0 ? v1::DUALWRITE : v1::OFF)) {
          std::fprintf(stderr, "SetStage failed\n");
          return 1;
        }
      }
      const double fan_cpu_ms =
          writes > 0
              ? (ProcessCpu::Of(daemon.pid()) - fan_start).total() * 1000 /
                    writes
              : 0;
      std::printf("%6d flags, %d Watch streams: idle CPU %.2f%% of a core "
                  "(%d s), CPU %.2f ms a write sent to every stream\n",
                  count, watch, idle_cpu * 100 / idle_seconds, idle_seconds,
                  fan_cpu_ms);
      std::fflush(stdout);
    }
    if (daemon.Stop() != 0) return 1;
  }
  return 0;
}

}  // namespace
}  // namespace cutover::bench

int main(int argc, char** argv) { return cutover::bench::Main(argc, argv); }
