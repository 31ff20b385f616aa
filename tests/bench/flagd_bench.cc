// flagd's ResolveString next to cutover's Decide and the empty RPC, on the
// same cutoverd in one run (docs/performance.md, docs/openfeature.md):
//
//   ./build/tests/bench/flagd_bench [--seconds=3] [--rounds=5]
//       [--callers=1,16,64]
//
// Closed loop with 1, 16, 64 calls in flight; the three loads run in
// alternating rounds (A B C, C B A, ...) and ratios are medians over rounds,
// so a busy moment of a shared machine hits all of them. Both evaluation
// calls ask for the same flag (a 5% / 95% rollout) and user (tenant=acme);
// ResolveString's context is a Struct, Decide's a string map. Target:
// ResolveString at least 0.9x Decide's throughput.
#include <cstdio>
#include <string>
#include <thread>
#include <vector>

#include "flagd/evaluation/v2/evaluation.pb.h"
#include "grpcpp/grpcpp.h"
#include "tests/bench/bench_util.h"
#include "tests/integration/call_by_name.h"

namespace cutover::bench {
namespace {

constexpr char kResolveStringMethod[] =
    "/flagd.evaluation.v2.Service/ResolveString";

int Main(int argc, char** argv) {
  const double seconds = std::stod(Arg(argc, argv, "seconds", "3"));
  const int rounds = std::stoi(Arg(argc, argv, "rounds", "5"));
  const std::vector<int> callers_list =
      IntList(Arg(argc, argv, "callers", "1,16,64"));
  std::printf("flagd_bench: %u cores visible, %.1f s per measurement\n",
              std::thread::hardware_concurrency(), seconds);
  BenchDaemon daemon;
  if (!daemon.Start() || !daemon.CreateRolloutFlag("orders")) return 1;

  grpc::GenericStub stub(OwnChannel(daemon.address()));
  const grpc::ByteBuffer health_request = testing::EmptyRequest();
  const grpc::ByteBuffer decide_request =
      Serialize(DecideRequestFor("orders", "user-4242"));
  flagd::evaluation::v2::ResolveStringRequest resolve;
  resolve.set_flag_key("orders");
  auto& fields = *resolve.mutable_context()->mutable_fields();
  fields["targetingKey"].set_string_value("user-4242");
  fields["tenant"].set_string_value("acme");
  const grpc::ByteBuffer resolve_request = Serialize(resolve);
  const Load health{&stub, kHealthCheckMethod, &health_request};
  const Load decide{&stub, kDecideMethod, &decide_request};
  const Load resolve_string{&stub, kResolveStringMethod, &resolve_request};

  RunClosedLoop(stub, kResolveStringMethod, resolve_request, 4, 0.3);  // warm
  RunClosedLoop(stub, kDecideMethod, decide_request, 4, 0.3);
  std::printf(
      "== closed loop: empty RPC, Decide, flagd ResolveString; same "
      "daemon, %d alternating rounds\n",
      rounds);
  for (int callers : callers_list) {
    auto r = RunRounds({health, decide, resolve_string}, callers, 0, seconds,
                       rounds);
    ReportLoad("Health/Check (empty)", callers, r[0]);
    ReportLoad("Decide", callers, r[1], &r[0], "empty");
    ReportLoad("ResolveString (v2)", callers, r[2], &r[1], "Decide");
  }
  return daemon.Stop() == 0 ? 0 : 1;
}

}  // namespace
}  // namespace cutover::bench

int main(int argc, char** argv) { return cutover::bench::Main(argc, argv); }
