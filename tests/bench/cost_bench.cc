// What one call costs, in instructions (client and server together), for
// each RPC next to the empty one: a figure that a shared, noisy machine
// cannot move, for profiling and for before/after comparisons.
//
//   scripts/cost.sh                  (runs this under callgrind, one line
//                                     per call kind: instructions per call)
//   ./build/tests/bench/cost_bench [--calls=2000] [--deadlock-detection=off]
//                                  (without valgrind: wall time per call)
//
// A daemon runs in this process (auth off, metrics on, loopback), with the
// flag "orders" at live 5% / shadow 95%; flagd's ResolveString asks for
// the same decision as Decide. One caller, one call at a time,
// each sent as decide_bench sends them: a generic stub, requests serialized
// once, responses left unparsed. For each kind of call: warm-up calls and
// a dump of the counters named "(warm-up)", which cost.sh skips, then
// `calls` calls and a dump under the kind's name (CALLGRIND_* do nothing
// outside valgrind). Every thread of the process counts: the client's,
// gRPC's and the daemon's. (A dump, not CALLGRIND_ZERO_STATS, ends the
// warm-up: zeroing reaches only the calling thread, so gRPC's threads'
// work before it, the daemon's start and the TLS handshake included,
// was counted in the first kind's figure.)
//
// --auth=token runs the daemon with one token and sends it on every
// call (the client library's channel, MakeChannel with the token: the
// health check carries the header too, and is not checked), so that
// decide minus health_check with and without it is what authentication
// costs per call. --auth=tls+token does the same over TLS; --auth=mtls
// over mutual TLS, no token, the role from the client certificate's name
// (cert_roles), as prod_bench's settings of the same names. The TLS
// handshake happens in the warm-up calls, so the counts are per call on
// an established connection.
//
// --metrics=off runs the daemon without metrics.
//
// --deadlock-detection=on keeps absl::Mutex's deadlock detection, which
// Debian's Abseil leaves on and cutoverd turns off (server/main.cc); the
// default, off, is what cutoverd runs with.
#include <valgrind/callgrind.h>

#include <chrono>
#include <cstdio>
#include <functional>
#include <memory>
#include <string>

#include "absl/synchronization/mutex.h"
#include "client/admin_client.h"
#include "rpc/channel.h"
#include "credentials/token_hash.h"
#include "cutover/v1/cutover.pb.h"
#include "flagd/evaluation/v2/evaluation.pb.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"
#include "server/daemon.h"
#include "tests/bench/bench_util.h"
#include "tests/integration/call_by_name.h"
#include "tests/integration/harness.h"

namespace cutover::bench {
namespace {

// One unary call of `method` through `stub`, waited for; no deadline (the
// documented instruction counts were taken without one).
grpc::Status Call(grpc::GenericStub& stub, const std::string& method,
                  const grpc::ByteBuffer& request) {
  return testing::CallByName(stub, method, request, nullptr, 0);
}

// `call` made `warmup` times, then `calls` times between two dumps of
// callgrind's counters; prints wall time per call. Aborts on a failure.
void Measure(const char* name, int calls,
             const std::function<grpc::Status()>& call) {
  const int warmup = calls / 10 + 10;
  for (int i = 0; i < warmup; ++i) {
    if (!call().ok()) std::abort();
  }
  CALLGRIND_DUMP_STATS_AT("(warm-up)");
  const auto start = Clock::now();
  for (int i = 0; i < calls; ++i) {
    const grpc::Status status = call();
    if (!status.ok()) {
      std::fprintf(stderr, "%s: %s\n", name, status.error_message().c_str());
      std::abort();
    }
  }
  const double us =
      std::chrono::duration<double, std::micro>(Clock::now() - start).count();
  CALLGRIND_DUMP_STATS_AT(name);
  std::printf("%-22s %6d calls  %8.1f us per call (wall)\n", name, calls,
              us / calls);
}

v1::DecideBatchRequest BatchOf(int users) {
  v1::DecideBatchRequest request;
  for (int i = 0; i < users; ++i) {
    *request.add_items() =
        DecideRequestFor("orders", "user-" + std::to_string(i));
  }
  return request;
}

int Main(int argc, char** argv) {
  const int calls = std::stoi(Arg(argc, argv, "calls", "2000"));
  if (Arg(argc, argv, "deadlock-detection", "off") == "off") {
    absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
  }
  testing::TempDir dir;
  DaemonConfig config;
  config.data_dir = dir.path() + "/data";
  config.listen = "127.0.0.1:0";
  // --metrics=off: no endpoint, nothing counted (what metrics cost a call).
  if (Arg(argc, argv, "metrics", "on") != "off") {
    config.metrics_listen = "127.0.0.1:0";
  }
  const std::string auth = Arg(argc, argv, "auth", "none");
  if (auth != "none" && auth != "token" && auth != "tls+token" &&
      auth != "mtls") {
    std::fprintf(stderr, "--auth: \"%s\" is not one of none, token, "
                         "tls+token, mtls\n", auth.c_str());
    return 2;
  }
  const bool with_token = auth == "token" || auth == "tls+token";
  const bool with_tls = auth == "tls+token" || auth == "mtls";
  const std::string token = with_token ? NewToken() : "";
  const std::string pki = dir.path() + "/";
  if (with_tls) {
    const testing::RunResult made = testing::MakeTestPki(dir.path());
    if (made.exit_code != 0) {
      std::fprintf(stderr, "openssl: %s%s\n", made.out.c_str(),
                   made.err.c_str());
      return 1;
    }
    config.tls.cert_file = pki + "server.pem";
    config.tls.key_file = pki + "server.key";
  }
  config.auth.enabled = auth != "none";
  if (auth == "mtls") {
    // Admin, so that the set-up and the admin calls below are allowed.
    config.tls.client_ca_file = pki + "ca.pem";
    config.auth.cert_roles = {CertRoleSpec{"deployer", Role::kAdmin}};
  }
  if (with_token) {
    // One token for every call here (the admin ones too); Decide checks
    // a token of any role the same way.
    TokenSpec spec;
    spec.name = "bench";
    spec.role = Role::kAdmin;
    spec.sha256_hex = TokenSha256Hex(token);
    config.auth.tokens = {spec};
  }
  auto daemon = Daemon::Start(config);
  if (!daemon.ok()) {
    std::fprintf(stderr, "%s\n", std::string(daemon.status().message()).c_str());
    return 1;
  }
  // A plain grpc::CreateChannel, not the client library's MakeChannel
  // (other channel arguments): the instruction counts in
  // docs/performance.md were taken over this one. The setup call goes
  // through an AdminClient on it.
  AdminClientOptions admin_options;
  admin_options.channel.server =
      "127.0.0.1:" + std::to_string((*daemon)->grpc_port());
  std::shared_ptr<grpc::Channel> channel;
  if (auth != "none") {
    ChannelOptions options;
    options.server = admin_options.channel.server;
    options.token = token;
    if (with_tls) options.tls_ca_file = pki + "ca.pem";
    if (auth == "mtls") {
      options.tls_cert_file = pki + "client.pem";
      options.tls_key_file = pki + "client.key";
    }
    channel = *MakeChannel(options);
  } else {
    channel = grpc::CreateChannel(admin_options.channel.server,
                                  grpc::InsecureChannelCredentials());
  }
  {
    const AdminClient admin(channel, admin_options);
    v1::CreateFlagRequest create;
    create.set_force(true);
    *create.mutable_flag() = RolloutFlag("orders");
    if (!admin.CreateFlag(create).ok()) return 1;
  }

  grpc::GenericStub stub(channel);
  const grpc::ByteBuffer empty = testing::EmptyRequest();
  const grpc::ByteBuffer decide =
      Serialize(DecideRequestFor("orders", "user-4242"));
  Measure("health_check", calls,
          [&] { return Call(stub, kHealthCheckMethod, empty); });
  Measure("decide", calls, [&] { return Call(stub, kDecideMethod, decide); });
  // flagd's ResolveString (v2) for the same flag, user and attribute.
  flagd::evaluation::v2::ResolveStringRequest resolve;
  resolve.set_flag_key("orders");
  auto& fields = *resolve.mutable_context()->mutable_fields();
  fields["targetingKey"].set_string_value("user-4242");
  fields["tenant"].set_string_value("acme");
  const grpc::ByteBuffer resolve_string = Serialize(resolve);
  Measure("resolve_string_v2", calls, [&] {
    return Call(stub, "/flagd.evaluation.v2.Service/ResolveString",
                resolve_string);
  });
  for (int users : {100, 1000}) {
    const grpc::ByteBuffer batch = Serialize(BatchOf(users));
    const std::string name = "decide_batch_" + std::to_string(users);
    Measure(name.c_str(), std::max(10, calls * 10 / users), [&] {
      return Call(stub, kDecideBatchMethod, batch);
    });
  }
  v1::GetFlagRequest get;
  get.set_key("orders");
  const grpc::ByteBuffer get_flag = Serialize(get);
  Measure("admin_get_flag", calls,
          [&] { return Call(stub, "/cutover.v1.Admin/GetFlag", get_flag); });
  grpc::ByteBuffer set_stage[2];
  for (int i = 0; i < 2; ++i) {
    v1::SetStageRequest request;
    request.set_key("orders");
    request.set_stage(i == 0 ? v1::DUALWRITE : v1::OFF);
    request.set_force(true);
    set_stage[i] = Serialize(request);
  }
  int writes = 0;
  Measure("admin_set_stage", calls / 4, [&] {
    return Call(stub, "/cutover.v1.Admin/SetStage", set_stage[++writes % 2]);
  });
  (*daemon)->Shutdown();
  return 0;
}

}  // namespace
}  // namespace cutover::bench

int main(int argc, char** argv) { return cutover::bench::Main(argc, argv); }
