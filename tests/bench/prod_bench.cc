// cutoverd with its production settings: a bearer token, TLS, mutual TLS,
// metrics on; each next to the empty RPC on the same server, with the same
// transport and the same request metadata, in one run.
//
//   ./build/tests/bench/prod_bench [--seconds=3] [--rounds=5] [--callers=16]
//       [--settings=none,token,tls+token,mtls] [--metrics=on|off]
//       [--twin=metrics-off|PATH] [--pin=on]
//
// One cutoverd per setting, one after the other (a temporary folder, a CA
// and certificates made with the openssl command, a token file with a
// reader and an admin token, metrics served):
//   none      plaintext, --auth none (the reference of earlier benchmarks)
//   token     plaintext, the reader token on every call
//   tls       TLS, the reader token on every call
//   mtls      mutual TLS, a client certificate whose name has the reader
//             role, no token
// Per setting, on one channel with those credentials, in alternating
// rounds: the empty RPC (grpc.health.v1 Health/Check on the same daemon:
// same listener, same TLS, the same authorization header sent, which
// health does not check: the transport's limit for that setting), Decide,
// and DecideBatch of 100 users. Then the daemon's CPU per call (from /proc)
// for the empty RPC and Decide, each run alone. Targets
// (docs/performance.md): Decide at least 0.95x the empty RPC in every
// setting. --metrics=off runs the daemons without metrics (no endpoint,
// nothing counted). --twin starts, per setting, a second daemon next to
// the first and alternates rounds between the two (empty RPC and Decide
// on each), so that a difference is measured in one run, not between runs
// of a noisy machine: `metrics-off` is the same daemon with metrics off
// (what metrics cost); a PATH is another cutoverd binary with the same
// settings (e.g. one built before a change: what the change gains).
// --pin=on gives the daemons and the callers cores of their own, as a
// deployment has them (its clients run on other machines): this process
// (callers and gRPC threads) on the last core, every daemon on the others
// (taskset). The first daemon's CPU-per-call line (not the twin's) then
// also says how busy each side was: a daemon near 100% of its core is the
// limit, and the throughput ratio is its cost per call; callers near 100%
// mean the load, not the daemon, set the pace.
#include <algorithm>
#include <csignal>
#include <cstdio>
#include <fstream>
#include <memory>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <sched.h>
#include <unistd.h>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "client/admin_client.h"
#include "rpc/channel.h"
#include "credentials/token_hash.h"
#include "grpcpp/channel.h"
#include "grpcpp/generic/generic_stub.h"
#include "tests/bench/bench_util.h"
#include "tests/integration/call_by_name.h"
#include "tests/integration/harness.h"

namespace cutover::bench {
namespace {

struct Setting {
  const char* name;
  bool auth;        // tokens (and certificate roles) on
  bool tls;         // server certificate
  bool mutual;      // client certificates required, reader by name
  bool send_token;  // the reader token on every measured call
};

// What one load cost, run alone: the daemon's CPU per call (total and
// user, microseconds) and how busy the daemon and this process (the
// callers) were, in cores (CPU seconds per second of the load).
struct CallCost {
  double daemon_us = 0;
  double daemon_user_us = 0;
  double daemon_cores = 0;
  double callers_cores = 0;
};

// The daemon CPU (/proc: time a VM's stolen time does not inflate) per
// call of each load, each run alone on its daemon (pids[i]) for seconds /
// rounds, the loads in turn (RoundOrder), `rounds` times.
std::vector<CallCost> CpuPerCall(const std::vector<const Load*>& loads,
                                 const std::vector<pid_t>& pids, int callers,
                                 double seconds, int rounds) {
  std::vector<ProcessCpu> used(loads.size());
  std::vector<ProcessCpu> callers_used(loads.size());
  std::vector<int64_t> calls(loads.size(), 0);
  for (int round = 0; round < rounds; ++round) {
    for (size_t turn = 0; turn < loads.size(); ++turn) {
      const size_t i = RoundOrder(round, turn, loads.size());
      const ProcessCpu before = ProcessCpu::Of(pids[i]);
      const ProcessCpu callers_before = ProcessCpu::Of(getpid());
      calls[i] += RunClosedLoop(*loads[i]->stub, loads[i]->method,
                                *loads[i]->request, callers, seconds / rounds)
                      .calls;
      used[i] += ProcessCpu::Of(pids[i]) - before;
      callers_used[i] += ProcessCpu::Of(getpid()) - callers_before;
    }
  }
  std::vector<CallCost> costs(loads.size());
  for (size_t i = 0; i < loads.size(); ++i) {
    if (calls[i] > 0) {
      costs[i].daemon_us = used[i].total() * 1e6 / calls[i];
      costs[i].daemon_user_us = used[i].user * 1e6 / calls[i];
    }
    costs[i].daemon_cores = used[i].total() / seconds;
    costs[i].callers_cores = callers_used[i].total() / seconds;
  }
  return costs;
}

// --pin=on: this process (and the threads it starts later) on the last
// core it may use; the daemons' launcher, `taskset -c <the others>`. Empty
// when it may use fewer than 2 cores or the affinity cannot be set.
std::vector<std::string> PinCallersAndDaemons() {
  cpu_set_t allowed;
  CPU_ZERO(&allowed);
  if (sched_getaffinity(0, sizeof(allowed), &allowed) != 0) return {};
  std::vector<int> cores;
  for (int cpu = 0; cpu < CPU_SETSIZE; ++cpu) {
    if (CPU_ISSET(cpu, &allowed)) cores.push_back(cpu);
  }
  if (cores.size() < 2) return {};
  cpu_set_t mine;
  CPU_ZERO(&mine);
  CPU_SET(cores.back(), &mine);
  if (sched_setaffinity(0, sizeof(mine), &mine) != 0) return {};
  cores.pop_back();
  return {"/usr/bin/taskset", "-c", absl::StrJoin(cores, ",")};
}

int Main(int argc, char** argv) {
  const double seconds = std::stod(Arg(argc, argv, "seconds", "3"));
  const int rounds = std::stoi(Arg(argc, argv, "rounds", "5"));
  const int callers = std::stoi(Arg(argc, argv, "callers", "16"));
  const std::vector<std::string> only = absl::StrSplit(
      Arg(argc, argv, "settings", "none,token,tls+token,mtls"), ',');
  const bool metrics = Arg(argc, argv, "metrics", "on") != "off";
  // The twin: "" (none), "metrics-off", or another cutoverd's path.
  const std::string twin = Arg(argc, argv, "twin", "");
  const bool pin = Arg(argc, argv, "pin", "off") == "on";
  if (!twin.empty() && twin != "metrics-off" &&
      access(twin.c_str(), X_OK) != 0) {
    std::fprintf(stderr, "--twin: \"%s\" is neither metrics-off nor an "
                         "executable file\n", twin.c_str());
    return 2;
  }
  std::printf("prod_bench: %u cores visible, %.1f s per load, %d callers, "
              "%d alternating rounds\n",
              std::thread::hardware_concurrency(), seconds, callers, rounds);
  // Before any thread starts: gRPC's threads inherit this process's cores.
  const std::vector<std::string> daemon_launcher =
      pin ? PinCallersAndDaemons() : std::vector<std::string>{};
  if (pin && daemon_launcher.empty()) {
    std::printf("not pinned: fewer than 2 cores to use, or no affinity\n");
  } else if (pin) {
    std::printf("pinned: callers on one core, daemons on core(s) %s\n",
                daemon_launcher.back().c_str());
  }
  testing::TempDir dir;
  const testing::RunResult pki_made = testing::MakeTestPki(dir.path());
  if (pki_made.exit_code != 0) {
    std::fprintf(stderr, "openssl: %s%s\n", pki_made.out.c_str(),
                 pki_made.err.c_str());
    return 1;
  }
  const std::string pki = dir.path() + "/";
  const std::string reader = NewToken();
  const std::string admin = NewToken();
  const std::string token_file = pki + "tokens";
  std::ofstream(token_file) << "bench-reader reader " << TokenSha256Hex(reader)
                            << "\nbench-admin admin " << TokenSha256Hex(admin)
                            << "\n";

  const Setting settings[] = {
      {"none", false, false, false, false},
      {"token", true, false, false, true},
      {"tls+token", true, true, false, true},
      {"mtls", true, true, true, false},
  };
  for (const std::string& name : only) {
    if (std::none_of(std::begin(settings), std::end(settings),
                     [&](const Setting& s) { return name == s.name; })) {
      std::fprintf(stderr, "--settings: \"%s\" is not one of none, token, "
                           "tls+token, mtls\n", name.c_str());
      return 2;
    }
  }
  v1::DecideBatchRequest batch;
  for (int i = 0; i < 100; ++i) {
    *batch.add_items() = DecideRequestFor("orders", "user-" + std::to_string(i));
  }
  const grpc::ByteBuffer health_request = testing::EmptyRequest();
  const grpc::ByteBuffer decide_request =
      Serialize(DecideRequestFor("orders", "user-4242"));
  const grpc::ByteBuffer batch_request = Serialize(batch);

  int failures = 0;
  for (const Setting& setting : settings) {
    if (std::find(only.begin(), only.end(), setting.name) == only.end()) {
      continue;
    }
    const std::string folder = pki + setting.name;
    const std::string config = folder + ".yaml";
    {
      std::ofstream out(config);
      out << "max_watch_streams_per_peer: 100000\n";
      if (setting.tls) {
        out << "tls:\n  cert_file: " << pki << "server.pem\n  key_file: "
            << pki << "server.key\n";
        if (setting.mutual) out << "  client_ca_file: " << pki << "ca.pem\n";
      }
      if (setting.mutual) {
        out << "cert_roles:\n  - common_name: deployer\n    role: reader\n";
      }
    }
    // Starts the setting's daemon (metrics on or off) with the flag made,
    // and gives its channel for the reader; null if that failed.
    auto start =
        [&](testing::DaemonProcess& daemon) -> std::shared_ptr<grpc::Channel> {
      if (!daemon.Start()) {
        std::fprintf(stderr, "%s: cannot start cutoverd: %s\n", setting.name,
                     daemon.last_stderr().c_str());
        return nullptr;
      }
      ChannelOptions options;
      options.server = daemon.address();
      options.own_connection = true;
      if (setting.tls) options.tls_ca_file = pki + "ca.pem";
      if (setting.mutual) {
        options.tls_cert_file = pki + "client.pem";
        options.tls_key_file = pki + "client.key";
      }
      // The flag, made with the admin token on the same transport.
      AdminClientOptions admin_options;
      admin_options.channel = options;
      if (setting.auth) admin_options.channel.token = admin;
      admin_options.deadline = absl::Seconds(30);
      auto admin_client = AdminClient::Create(admin_options);
      v1::CreateFlagRequest create;
      create.set_force(true);
      *create.mutable_flag() = RolloutFlag("orders");
      if (!admin_client.ok() || !(*admin_client)->CreateFlag(create).ok()) {
        std::fprintf(stderr, "%s: cannot create the flag\n", setting.name);
        return nullptr;
      }
      if (setting.send_token) options.token = reader;
      auto channel = MakeChannel(options);
      return channel.ok() ? *channel : nullptr;
    };
    auto args_with = [&](bool with_metrics) {
      std::vector<std::string> args = {"--config", config};
      if (!with_metrics) args.insert(args.end(), {"--metrics-listen", "off"});
      if (setting.auth) {
        args.insert(args.end(),
                    {"--auth", "tokens", "--token-file", token_file});
      }
      return args;
    };
    testing::DaemonProcess daemon(folder + "-data", args_with(metrics));
    daemon.SetLauncher(daemon_launcher);
    const auto channel = start(daemon);
    if (channel == nullptr) return 1;
    grpc::GenericStub stub(channel);
    const Load health{&stub, kHealthCheckMethod, &health_request};
    const Load decide{&stub, kDecideMethod, &decide_request};
    const Load decide_batch{&stub, kDecideBatchMethod, &batch_request};
    RunClosedLoop(stub, kDecideMethod, decide_request, 4, 0.3);  // warm
    std::printf("== %s%s\n", setting.name, metrics ? "" : ", metrics off");
    auto r = RunRounds({health, decide, decide_batch}, callers, 0, seconds,
                       rounds);
    ReportLoad("Health/Check (empty)", callers, r[0]);
    ReportLoad("Decide", callers, r[1], &r[0], "empty");
    ReportLoad("DecideBatch x100", callers, r[2], &r[0], "empty");
    std::printf("%-28s %9.0f decisions/s\n", "  DecideBatch decisions",
                r[2].per_second() * 100);
    // The daemon's CPU per call (/proc), each load alone: what Decide costs
    // the daemon over the empty RPC in this setting. Compared between
    // settings it says what a token or TLS adds per call.
    const auto cpu = CpuPerCall({&health, &decide},
                                {daemon.pid(), daemon.pid()}, callers,
                                seconds, 1);
    std::printf("  daemon CPU per call: empty %.1f us (user %.1f), Decide "
                "%.1f us (user %.1f), Decide - empty %.1f us\n",
                cpu[0].daemon_us, cpu[0].daemon_user_us, cpu[1].daemon_us,
                cpu[1].daemon_user_us, cpu[1].daemon_us - cpu[0].daemon_us);
    std::printf("  cores busy (daemon / callers): empty %.2f / %.2f, "
                "Decide %.2f / %.2f\n",
                cpu[0].daemon_cores, cpu[0].callers_cores,
                cpu[1].daemon_cores, cpu[1].callers_cores);
    for (const LoadResult& load : r) failures += load.failures > 0;
    if (!twin.empty()) {
      // The twin, started next to this daemon, the two alternating in the
      // same rounds.
      const bool twin_metrics = twin != "metrics-off" && metrics;
      testing::DaemonProcess other(folder + "-twin-data",
                                   args_with(twin_metrics));
      // Another binary: a shell that drops the built cutoverd's path from
      // the command line and execs the twin's in its place.
      std::vector<std::string> launcher = daemon_launcher;
      if (twin != "metrics-off") {
        launcher.insert(launcher.end(), {"/bin/sh", "-c",
                                         "shift; exec \"$0\" \"$@\"", twin});
      }
      other.SetLauncher(launcher);
      const auto other_channel = start(other);
      if (other_channel == nullptr) return 1;
      grpc::GenericStub other_stub(other_channel);
      const Load other_health{&other_stub, kHealthCheckMethod,
                              &health_request};
      const Load other_decide{&other_stub, kDecideMethod, &decide_request};
      RunClosedLoop(other_stub, kDecideMethod, decide_request, 4, 0.3);
      auto c = RunRounds({health, decide, other_health, other_decide},
                         callers, 0, seconds, rounds);
      const std::string name = twin == "metrics-off" ? "metrics off" : "twin";
      const std::string mine = twin == "metrics-off" ? "metrics on" : "this";
      std::printf("  next to the twin (%s) in the same rounds:\n",
                  twin.c_str());
      ReportLoad(("Health/Check, " + name).c_str(), callers, c[2]);
      ReportLoad(("Health/Check, " + mine).c_str(), callers, c[0], &c[2],
                 name.c_str());
      ReportLoad(("Decide, " + name).c_str(), callers, c[3], &c[2], "empty");
      ReportLoad(("Decide, " + mine).c_str(), callers, c[1], &c[3],
                 name.c_str());
      for (const LoadResult& load : c) failures += load.failures > 0;
      // Each daemon's CPU per call, the four loads in alternating rounds.
      const auto twin_cpu = CpuPerCall(
          {&health, &decide, &other_health, &other_decide},
          {daemon.pid(), daemon.pid(), other.pid(), other.pid()}, callers,
          seconds, rounds);
      std::printf("  daemon CPU per call: %s empty %.1f us, Decide %.1f us; "
                  "%s empty %.1f us, Decide %.1f us\n",
                  mine.c_str(), twin_cpu[0].daemon_us, twin_cpu[1].daemon_us,
                  name.c_str(), twin_cpu[2].daemon_us,
                  twin_cpu[3].daemon_us);
      other.Stop(SIGTERM);
    }
    daemon.Stop(SIGTERM);
  }
  return failures == 0 ? 0 : 1;
}

}  // namespace
}  // namespace cutover::bench

int main(int argc, char** argv) { return cutover::bench::Main(argc, argv); }
