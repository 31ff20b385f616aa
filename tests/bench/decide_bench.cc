// Decide over gRPC against the real cutoverd, each figure next to its
// reference in the same run:
//
//   ./build/tests/bench/decide_bench [--seconds=3] [--rounds=5]
//       [--callers=1,16,64] [--phases=closed,open,api,batch]
//       [--open-load=0.5] [--batch-loads=2x1,16x4]
//
// Loads compared with each other run in alternating rounds (A B, B A, ...,
// `seconds` per load in all) and ratios are medians over the rounds: on a
// shared machine a busy moment then hits both sides.
//
// closed: Decide and an empty RPC on the same daemon (grpc.health.v1
//   Health/Check, which cutoverd serves on the same callback-API server:
//   the transport's limit) with 1, 16, 64 calls in flight: calls/s, p50,
//   p99, Decide / empty.
// open: both at a fixed rate, `open-load` (half) of the lower of their
//   saturation rates (the largest caller count), latency from the
//   scheduled start: p50, p99, ratio.
// api: an empty Decide (a handler that answers at once) on a bench-only
//   server of each gRPC server API, callback and completion queue, each in
//   its own process like cutoverd, next to cutoverd's Decide.
// batch: DecideBatch of 100 and 1000 users, decisions/s and decisions per
//   CPU second of the daemon (/proc/<pid>/stat), for each of `batch-loads`
//   (callers x connections: 2 callers on one connection, and 16 callers
//   spread over 4 connections, a daemon kept busy by four clients).
//
// `decide_bench --serve=callback|cq --ready-file=F` is the bench-only
// server (started by the api phase); it writes its port to F.
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "cutover/v1/cutover.grpc.pb.h"
#include "grpcpp/grpcpp.h"
#include "tests/bench/bench_util.h"
#include "tests/integration/call_by_name.h"
#include "tests/integration/harness.h"

namespace cutover::bench {
namespace {

// --- the bench-only servers ---------------------------------------------

// Decide answered at once with an empty response, callback API (as
// cutoverd's EvaluationService).
class EmptyCallbackDecide final : public v1::Evaluation::CallbackService {
  grpc::ServerUnaryReactor* Decide(grpc::CallbackServerContext* context,
                                   const v1::DecideRequest*,
                                   v1::DecideResponse*) override {
    auto* reactor = context->DefaultReactor();
    reactor->Finish(grpc::Status::OK);
    return reactor;
  }
};

// Decide answered at once with an empty response, completion-queue async
// API: one queue and one thread per core, 32 calls requested per queue.
class EmptyCqDecide {
 public:
  void Run(grpc::ServerBuilder& builder, const std::string& ready_file) {
    builder.RegisterService(&service_);
    const unsigned cores = std::max(1u, std::thread::hardware_concurrency());
    for (unsigned i = 0; i < cores; ++i) {
      queues_.push_back(builder.AddCompletionQueue());
    }
    int port = 0;
    builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(),
                             &port);
    auto server = builder.BuildAndStart();
    if (server == nullptr) std::abort();
    std::ofstream(ready_file) << port << "\n";
    std::vector<std::thread> threads;
    for (auto& queue : queues_) {
      threads.emplace_back([this, q = queue.get()] { Poll(q); });
    }
    for (auto& thread : threads) thread.join();  // until killed
  }

 private:
  struct Call {
    explicit Call() : writer(&context) {}
    grpc::ServerContext context;
    v1::DecideRequest request;
    v1::DecideResponse response;
    grpc::ServerAsyncResponseWriter<v1::DecideResponse> writer;
    bool finishing = false;
  };

  void Request(grpc::ServerCompletionQueue* queue) {
    auto* call = new Call();
    service_.RequestDecide(&call->context, &call->request, &call->writer,
                           queue, queue, call);
  }

  void Poll(grpc::ServerCompletionQueue* queue) {
    for (int i = 0; i < 32; ++i) Request(queue);
    void* tag = nullptr;
    bool ok = false;
    while (queue->Next(&tag, &ok)) {
      auto* call = static_cast<Call*>(tag);
      if (call->finishing || !ok) {
        delete call;
        continue;
      }
      Request(queue);
      call->finishing = true;
      call->writer.Finish(call->response, grpc::Status::OK, call);
    }
  }

  v1::Evaluation::AsyncService service_;
  std::vector<std::unique_ptr<grpc::ServerCompletionQueue>> queues_;
};

int Serve(const std::string& api, const std::string& ready_file) {
  grpc::ServerBuilder builder;
  if (api == "cq") {
    EmptyCqDecide server;
    server.Run(builder, ready_file);
    return 0;
  }
  EmptyCallbackDecide service;
  builder.RegisterService(&service);
  int port = 0;
  builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(),
                           &port);
  auto server = builder.BuildAndStart();
  if (server == nullptr) return 1;
  std::ofstream(ready_file) << port << "\n";
  server->Wait();  // until killed
  return 0;
}

// A bench-only server in a child process; killed with this object.
class EmptyServer {
 public:
  EmptyServer(const std::string& self, const std::string& api) {
    const std::string ready = dir_.path() + "/ready";
    if (!process_.Start({self, "--serve=" + api, "--ready-file=" + ready},
                        dir_.path() + "/log")) {
      std::abort();
    }
    for (int i = 0; i < 2000 && port_ == 0; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
      std::ifstream(ready) >> port_;
    }
    if (port_ == 0) std::abort();
  }
  std::string address() const { return "127.0.0.1:" + std::to_string(port_); }
  pid_t pid() const { return process_.pid(); }

 private:
  testing::TempDir dir_;
  testing::BackgroundProcess process_;
  int port_ = 0;
};

// --- the phases -----------------------------------------------------------

// One DecideBatch load: `callers` calls in flight over `connections`
// channels of their own (as that many client processes would be).
struct BatchLoad {
  int callers = 2;
  int connections = 1;
};

struct Setup {
  double seconds = 3;  // per load and measurement, over all rounds
  int rounds = 5;
  double open_load = 0.5;  // open-loop rate, fraction of saturation
  std::vector<int> callers;
  std::vector<BatchLoad> batch_loads;  // DecideBatch loads
  std::string self;
};

// The daemon's Decide and its empty RPC, as loads.
struct DaemonLoads {
  explicit DaemonLoads(const BenchDaemon& daemon)
      : stub(OwnChannel(daemon.address())),
        decide_request(Serialize(DecideRequestFor("orders", "user-4242"))),
        health_request(testing::EmptyRequest()),
        health{&stub, kHealthCheckMethod, &health_request},
        decide{&stub, kDecideMethod, &decide_request} {}
  grpc::GenericStub stub;
  const grpc::ByteBuffer decide_request, health_request;
  const Load health, decide;
};

struct Saturation {
  double health = 0;
  double decide = 0;
};

Saturation ClosedPhase(const Setup& setup, BenchDaemon& daemon) {
  DaemonLoads loads(daemon);
  std::printf("== closed loop: Decide vs empty RPC (Health/Check), same "
              "daemon, %d alternating rounds\n", setup.rounds);
  RunClosedLoop(*loads.decide.stub, kDecideMethod, loads.decide_request, 4,
                0.3);  // warm up
  Saturation saturation;
  for (int callers : setup.callers) {
    auto r = RunRounds({loads.health, loads.decide}, callers, 0, setup.seconds,
                       setup.rounds);
    ReportLoad("Health/Check (empty)", callers, r[0]);
    ReportLoad("Decide", callers, r[1], &r[0], "empty");
    saturation = {r[0].per_second(), r[1].per_second()};  // the largest count
  }
  return saturation;
}

void OpenPhase(const Setup& setup, BenchDaemon& daemon, Saturation saturation) {
  DaemonLoads loads(daemon);
  const double rate = std::max(
      10.0, setup.open_load * std::min(saturation.health, saturation.decide));
  std::printf("== open loop at %.0f calls/s (%.2f of the lower saturation "
              "rate), %d alternating rounds\n",
              rate, setup.open_load, setup.rounds);
  auto r = RunRounds({loads.health, loads.decide}, 0, rate, setup.seconds,
                     setup.rounds);
  ReportLoad("Health/Check (empty)", 0, r[0]);
  ReportLoad("Decide", 0, r[1], &r[0], "empty");
}

void ApiPhase(const Setup& setup, BenchDaemon& daemon) {
  std::printf("== server API: empty Decide, callback vs completion queue, "
              "vs cutoverd Decide, %d alternating rounds\n", setup.rounds);
  EmptyServer callback(setup.self, "callback");
  EmptyServer cq(setup.self, "cq");
  grpc::GenericStub callback_stub(OwnChannel(callback.address()));
  grpc::GenericStub cq_stub(OwnChannel(cq.address()));
  DaemonLoads loads(daemon);
  const grpc::ByteBuffer& decide = loads.decide_request;
  const Load on_callback{&callback_stub, kDecideMethod, &decide};
  const Load on_cq{&cq_stub, kDecideMethod, &decide};
  RunClosedLoop(callback_stub, kDecideMethod, decide, 4, 0.3);
  RunClosedLoop(cq_stub, kDecideMethod, decide, 4, 0.3);
  for (int callers : setup.callers) {
    if (callers < 16 && setup.callers.size() > 1) continue;  // saturation only
    auto r = RunRounds({on_callback, on_cq, loads.decide}, callers, 0,
                       setup.seconds, setup.rounds);
    LoadResult& best = r[0].per_second() >= r[1].per_second() ? r[0] : r[1];
    ReportLoad("empty Decide, callback API", callers, r[0], &best, "best");
    ReportLoad("empty Decide, CQ async API", callers, r[1], &best, "best");
    ReportLoad("cutoverd Decide (callback)", callers, r[2], &best, "best");
  }
}

// "2x1,16x4": callers x connections, comma separated.
std::vector<BatchLoad> BatchLoads(const std::string& list) {
  std::vector<BatchLoad> loads;
  std::stringstream in(list);
  std::string item;
  while (std::getline(in, item, ',')) {
    BatchLoad load;
    const size_t x = item.find('x');
    load.callers = std::stoi(item.substr(0, x));
    if (x != std::string::npos) load.connections = std::stoi(item.substr(x + 1));
    loads.push_back(load);
  }
  return loads;
}

// Decisions per CPU second of the daemon, measured in `setup.rounds`
// rounds per batch size that alternate the loads (a busy moment of the
// machine then hits all of them); the median round and the spread.
void BatchPhase(const Setup& setup, BenchDaemon& daemon) {
  std::printf("== DecideBatch: decisions per second and per daemon CPU second, "
              "%d alternating rounds\n", setup.rounds);
  if (setup.batch_loads.empty()) return;
  const int most_connections =
      std::max_element(setup.batch_loads.begin(), setup.batch_loads.end(),
                       [](const BatchLoad& a, const BatchLoad& b) {
                         return a.connections < b.connections;
                       })->connections;
  std::vector<std::unique_ptr<grpc::GenericStub>> stubs;
  for (int i = 0; i < most_connections; ++i) {
    stubs.push_back(
        std::make_unique<grpc::GenericStub>(OwnChannel(daemon.address())));
  }
  for (int size : {100, 1000}) {
    v1::DecideBatchRequest request;
    for (int i = 0; i < size; ++i) {
      *request.add_items() =
          DecideRequestFor("orders", "user-" + std::to_string(i));
    }
    const grpc::ByteBuffer bytes = Serialize(request);
    struct Tally {
      LoadResult calls;
      ProcessCpu cpu;
      std::vector<double> per_cpu_second;  // one per round
    };
    std::vector<Tally> tallies(setup.batch_loads.size());
    for (int round = 0; round < setup.rounds; ++round) {
      for (size_t l = 0; l < setup.batch_loads.size(); ++l) {
        const BatchLoad& load = setup.batch_loads[l];
        std::vector<grpc::GenericStub*> own;
        for (int i = 0; i < load.connections; ++i) own.push_back(stubs[i].get());
        RunClosedLoop(own, kDecideBatchMethod, bytes, load.callers, 0.1);
        const ProcessCpu before = ProcessCpu::Of(daemon.pid());
        LoadResult r = RunClosedLoop(own, kDecideBatchMethod, bytes,
                                     load.callers, setup.seconds / setup.rounds);
        const ProcessCpu used = ProcessCpu::Of(daemon.pid()) - before;
        tallies[l].per_cpu_second.push_back(
            used.total() > 0 ? static_cast<double>(r.calls) * size / used.total()
                             : 0);
        tallies[l].calls.Add(r);
        tallies[l].cpu += used;
      }
    }
    for (size_t l = 0; l < setup.batch_loads.size(); ++l) {
      Tally& t = tallies[l];
      const double decisions = static_cast<double>(t.calls.calls) * size;
      std::sort(t.per_cpu_second.begin(), t.per_cpu_second.end());
      std::printf(
          "DecideBatch of %4d, %2d callers on %d connection(s): %9.0f "
          "decisions/s  daemon CPU %.2f s (user %.2f, system %.2f, %.0f page "
          "faults per call) over %.2f s  =>  %9.0f decisions per CPU second "
          "(median round; %.0f to %.0f)  p50 %.0f us  p99 %.0f us\n",
          size, setup.batch_loads[l].callers, setup.batch_loads[l].connections,
          decisions / t.calls.seconds, t.cpu.total(), t.cpu.user, t.cpu.system,
          t.calls.calls > 0
              ? static_cast<double>(t.cpu.minor_faults) / t.calls.calls
              : 0,
          t.calls.seconds, Quantile(t.per_cpu_second, 0.5),
          t.per_cpu_second.front(), t.per_cpu_second.back(), t.calls.p50(),
          t.calls.p99());
    }
  }
}

bool Has(const std::string& phases, const std::string& phase) {
  return ("," + phases + ",").find("," + phase + ",") != std::string::npos;
}

int Main(int argc, char** argv) {
  const std::string serve = Arg(argc, argv, "serve", "");
  if (!serve.empty()) return Serve(serve, Arg(argc, argv, "ready-file", ""));

  Setup setup;
  setup.seconds = std::stod(Arg(argc, argv, "seconds", "3"));
  setup.rounds = std::stoi(Arg(argc, argv, "rounds", "5"));
  setup.open_load = std::stod(Arg(argc, argv, "open-load", "0.5"));
  setup.callers = IntList(Arg(argc, argv, "callers", "1,16,64"));
  setup.batch_loads = BatchLoads(Arg(argc, argv, "batch-loads", "2x1,16x4"));
  setup.self = argv[0];
  const std::string phases = Arg(argc, argv, "phases", "closed,open,api,batch");
  std::printf("decide_bench: %u cores visible, %.1f s per measurement\n",
              std::thread::hardware_concurrency(), setup.seconds);
  BenchDaemon daemon;
  if (!daemon.Start() || !daemon.CreateRolloutFlag("orders")) return 1;
  Saturation saturation;
  if (Has(phases, "closed")) saturation = ClosedPhase(setup, daemon);
  if (Has(phases, "open")) {
    if (saturation.decide == 0) saturation = {1000, 1000};
    OpenPhase(setup, daemon, saturation);
  }
  if (Has(phases, "api")) ApiPhase(setup, daemon);
  if (Has(phases, "batch")) BatchPhase(setup, daemon);
  return daemon.Stop() == 0 ? 0 : 1;
}

}  // namespace
}  // namespace cutover::bench

int main(int argc, char** argv) { return cutover::bench::Main(argc, argv); }
