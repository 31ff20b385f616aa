// Clients over many read replicas (ClientOptions::load_balancing
// kRoundRobin over a gRPC target naming three replicas on loopback), with
// real daemons: calls spread over every replica; a replica killed under
// load, or the primary killed under load, costs no decision (no fallback,
// no default: every answer the daemon's); a replica that stops answering
// without closing its connections is left within the keepalive; the
// client's Watch resumes on another replica from its revision, without a
// RESET; and a replica behind a watcher's revision refuses it until it has
// caught up (or the primary went back), so that no watcher is taken back
// to a state it has seen replaced.
#include <catch2/catch.hpp>

#include <atomic>
#include <signal.h>

#include <csignal>
#include <filesystem>
#include <cstdint>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "client/client.h"
#include "cutover/v1/cutover.grpc.pb.h"
#include "grpcpp/channel.h"
#include "grpcpp/client_context.h"
#include "tests/integration/admin_calls.h"
#include "tests/integration/client_helpers.h"
#include "tests/integration/harness.h"
#include "tests/integration/replica_world.h"

namespace cutover::testing {
namespace {

// Remote evaluation (every new user a Decide RPC) over every replica of
// `world`, round robin.
std::unique_ptr<Client> BalancingClient(const ReplicaSet& world) {
  ClientOptions options = RemoteOptionsFor(*world.replicas[0]);
  options.server = world.ReplicasTarget();
  options.load_balancing = ChannelOptions::LoadBalancing::kRoundRobin;
  absl::StatusOr<std::unique_ptr<Client>> client = Client::Create(options);
  REQUIRE(client.ok());
  REQUIRE(Eventually([&] { return (*client)->watch_synced(); }));
  return *std::move(client);
}

// Threads deciding for new users (u-T-I, flags flag-0 and flag-1 in turn)
// until stopped: every decision a cache miss, so a Decide RPC.
class DecideLoad {
 public:
  static constexpr int kThreads = 4;
  static constexpr int kMaxPerThread = 200000;

  explicit DecideLoad(Client* client) {
    for (int t = 0; t < kThreads; ++t) {
      threads_.emplace_back([this, client, t] {
        for (int i = 0; i < kMaxPerThread && !stop_; ++i) {
          const absl::Time start = absl::Now();
          const Decision decision =
              client->Decide(absl::StrCat("flag-", i % 2),
                             Context{absl::StrCat("u-", t, "-", i), {}});
          const int64_t took = absl::ToInt64Microseconds(absl::Now() - start);
          int64_t seen = slowest_us_.load();
          while (took > seen &&
                 !slowest_us_.compare_exchange_weak(seen, took)) {
          }
          if (decision.reason == Reason::kError) ++defaults_;
          ++decided_;
        }
      });
    }
  }
  ~DecideLoad() { Stop(); }

  void Stop() {
    stop_ = true;
    for (std::thread& thread : threads_) {
      if (thread.joinable()) thread.join();
    }
  }
  // Waits (at most 30 s) until `more` decisions past the present were made.
  bool WaitFor(uint64_t more) {
    const uint64_t want = decided_ + more;
    return Eventually([&] { return decided_ >= want; }, absl::Seconds(30));
  }
  uint64_t decided() const { return decided_; }
  uint64_t defaults() const { return defaults_; }
  absl::Duration slowest() const {
    return absl::Microseconds(slowest_us_.load());
  }

 private:
  std::atomic<bool> stop_{false};
  std::atomic<uint64_t> decided_{0};
  std::atomic<uint64_t> defaults_{0};
  std::atomic<int64_t> slowest_us_{0};
  std::vector<std::thread> threads_;
};

// The replica the client's Watch stream is open on (-1: none or several).
int WatchedReplica(const ReplicaSet& world) {
  int found = -1;
  for (size_t i = 0; i < world.replicas.size(); ++i) {
    if (!world.replicas[i]->running()) continue;
    if (MetricOf(*world.replicas[i], "cutover_watch_subscribers") == 1) {
      if (found != -1) return -1;
      found = static_cast<int>(i);
    }
  }
  return found;
}

// Nothing the client served came from anywhere but a daemon.
void RequireNoDecisionLost(const Client& client, const DecideLoad& load) {
  const ClientStats stats = client.stats();
  INFO("decided " << load.decided() << ", misses " << stats.cache_misses
                  << ", served from the synced state " << stats.local_serves
                  << ", stale " << stats.stale_serves << ", defaults "
                  << stats.errors << ", slowest " << load.slowest());
  CHECK(stats.local_serves == 0);
  CHECK(stats.stale_serves == 0);
  CHECK(stats.errors == 0);
  CHECK(load.defaults() == 0);
  // Bounded by the deadline (500 ms here): never a hang. Generous, for
  // sanitizer builds on a shared machine; not a speed check.
  CHECK(load.slowest() < absl::Seconds(3));
}

TEST_CASE("a client balancing over three replicas loses no decision when "
          "the replica under its Watch is killed mid-load, and resumes its "
          "Watch on another from its revision without a RESET",
          "[replica][balancing]") {
  TempDir dir;
  ReplicaSet world(dir, 2, 3);
  std::unique_ptr<Client> client = BalancingClient(world);
  DecideLoad load(client.get());
  REQUIRE(load.WaitFor(3000));
  // Round robin: every replica answers some.
  for (const auto& replica : world.replicas) {
    CHECK(MetricOf(*replica, "cutover_decisions_total",
                   {{"where", "daemon"}}) > 0);
  }
  const int watched = WatchedReplica(world);
  REQUIRE(watched >= 0);
  REQUIRE(world.replicas[watched]->Stop(SIGKILL) == -SIGKILL);
  REQUIRE(load.WaitFor(3000));
  load.Stop();
  RequireNoDecisionLost(*client, load);

  // The stream is on a survivor again, resumed (not re-sent the state),
  // and carries the primary's next change.
  REQUIRE(Eventually([&] { return WatchedReplica(world) >= 0; },
                     absl::Seconds(20)));
  REQUIRE(Rollout(*world.to_primary, "flag-0", 60).ok());
  const int64_t revision = Revision(*world.to_primary);
  CHECK(Eventually([&] { return client->watched_revision() == revision; },
                   absl::Seconds(20)));
  double resumed = 0;
  for (const auto& replica : world.replicas) {
    if (!replica->running()) continue;
    resumed += MetricOf(*replica, "cutover_watch_streams_total",
                        {{"kind", "resume"}});
    CHECK(MetricOf(*replica, "cutover_watch_streams_total",
                   {{"kind", "resync"}}) <= 0);
  }
  CHECK(resumed >= 1);
}

TEST_CASE("a replica that stops answering with its connections left open "
          "(its machine gone) is left by a balancing client within the "
          "keepalive, and decisions stop falling back",
          "[replica][balancing]") {
  TempDir dir;
  ReplicaSet world(dir, 2, 3);
  ClientOptions options = RemoteOptionsFor(*world.replicas[0]);
  options.server = world.ReplicasTarget();
  options.load_balancing = ChannelOptions::LoadBalancing::kRoundRobin;
  options.decide_deadline = absl::Milliseconds(200);
  options.keepalive_time = absl::Seconds(2);
  options.keepalive_timeout = absl::Seconds(1);
  absl::StatusOr<std::unique_ptr<Client>> created = Client::Create(options);
  REQUIRE(created.ok());
  Client& client = **created;
  REQUIRE(Eventually([&] { return client.watch_synced(); }));
  DecideLoad load(&client);
  REQUIRE(load.WaitFor(2000));

  // SIGSTOP: the kernel keeps the sockets, so no reset tells the client;
  // calls sent there wait out their deadline (and fall back) until the
  // connection's unanswered ping closes it.
  ContinueOnExit resume;
  resume.pid = world.replicas[1]->pid();
  REQUIRE(kill(resume.pid, SIGSTOP) == 0);
  absl::SleepFor(options.keepalive_time + options.keepalive_timeout +
                 absl::Seconds(3));
  const ClientStats before = client.stats();
  const uint64_t decided_before = load.decided();
  REQUIRE(load.WaitFor(2000));
  load.Stop();
  const ClientStats after = client.stats();
  INFO("decided " << load.decided() - decided_before
                  << " after the keepalive; fallbacks before it "
                  << before.local_serves);
  CHECK(after.local_serves == before.local_serves);
  CHECK(after.stale_serves == before.stale_serves);
  CHECK(after.errors == 0);
  CHECK(load.defaults() == 0);
}

TEST_CASE("with the primary killed under load, replicas answer every "
          "decision, and follow the restarted primary without a RESET",
          "[replica][balancing]") {
  TempDir dir;
  ReplicaSet world(dir, 2, 3);
  std::unique_ptr<Client> client = BalancingClient(world);
  // What each replica answers before.
  std::vector<std::vector<v1::Decision>> before(world.replicas.size());
  for (size_t r = 0; r < world.replicas.size(); ++r) {
    for (int u = 0; u < 100; ++u) {
      absl::StatusOr<v1::DecideResponse> answer =
          Decide(*world.to_replicas[r], "flag-0", absl::StrCat("u-", u));
      REQUIRE(answer.ok());
      before[r].push_back(answer->decision());
    }
  }

  DecideLoad load(client.get());
  REQUIRE(load.WaitFor(3000));
  REQUIRE(world.primary.Stop(SIGKILL) == -SIGKILL);
  REQUIRE(load.WaitFor(3000));
  // Nothing refused or changed that was answered before.
  for (size_t r = 0; r < world.replicas.size(); ++r) {
    for (int u = 0; u < 100; ++u) {
      absl::StatusOr<v1::DecideResponse> answer =
          Decide(*world.to_replicas[r], "flag-0", absl::StrCat("u-", u));
      REQUIRE(answer.ok());
      CHECK(answer->decision().stage() == before[r][u].stage());
      CHECK(answer->decision().flag_version() ==
            before[r][u].flag_version());
    }
  }
  load.Stop();
  RequireNoDecisionLost(*client, load);

  // Back: the replicas resume from their revision (one RESET each, the
  // first sync's, and no other).
  REQUIRE(world.primary.Start());
  world.to_primary = ConnectAdmin(world.primary.address());
  REQUIRE(Rollout(*world.to_primary, "flag-1", 80).ok());
  const int64_t revision = Revision(*world.to_primary);
  for (size_t r = 0; r < world.replicas.size(); ++r) {
    CHECK(WaitForRevision(*world.to_replicas[r], revision));
    CHECK(MetricOf(*world.replicas[r], "cutover_replica_resets_total") == 1);
  }
  CHECK(Eventually([&] { return client->watched_revision() == revision; },
                   absl::Seconds(20)));
}

// Watch on `admin`'s daemon from `from_revision`: the first event, or the
// status that ended the stream before any.
struct FirstEvent {
  grpc::Status status;
  v1::WatchEvent event;
};

FirstEvent WatchFrom(const AdminClient& admin, int64_t from_revision) {
  auto stub = v1::Evaluation::NewStub(admin.channel());
  grpc::ClientContext context;
  context.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(10)));
  v1::WatchRequest request;
  request.set_from_revision(from_revision);
  auto reader = stub->Watch(&context, request);
  FirstEvent first;
  if (reader->Read(&first.event)) context.TryCancel();
  first.status = reader->Finish();
  return first;
}

TEST_CASE("a replica behind a watcher's revision refuses its Watch until it "
          "has caught up, then resumes it without a RESET",
          "[replica][balancing]") {
  TempDir dir;
  ReplicaSet world(dir, 1, 2);
  const int64_t old_revision = Revision(*world.to_primary);
  // Replica 1 misses a change that replica 0 serves, then comes back while
  // the primary is away: behind, and unable to catch up.
  REQUIRE(world.replicas[1]->Stop(SIGKILL) == -SIGKILL);
  REQUIRE(Rollout(*world.to_primary, "flag-0", 40).ok());
  const int64_t new_revision = Revision(*world.to_primary);
  REQUIRE(WaitForRevision(*world.to_replicas[0], new_revision));
  REQUIRE(world.primary.Stop(SIGKILL) == -SIGKILL);
  REQUIRE(world.replicas[1]->Start());
  world.to_replicas[1] = ConnectAdmin(world.replicas[1]->address());

  const FirstEvent refused = WatchFrom(*world.to_replicas[1], new_revision);
  CHECK(refused.status.error_code() == grpc::StatusCode::UNAVAILABLE);
  CHECK_THAT(refused.status.error_message(),
             Catch::Contains(absl::StrCat("at revision ", old_revision,
                                          ", behind from_revision ",
                                          new_revision)));
  // A watcher at its own revision is served.
  const FirstEvent served = WatchFrom(*world.to_replicas[1], old_revision);
  CHECK(served.event.kind() == v1::WatchEvent::SYNCED);

  REQUIRE(world.primary.Start());
  REQUIRE(WaitForRevision(*world.to_replicas[1], new_revision));
  const FirstEvent resumed = WatchFrom(*world.to_replicas[1], new_revision);
  CHECK(resumed.event.kind() == v1::WatchEvent::SYNCED);
  CHECK(resumed.event.revision() == new_revision);
}

TEST_CASE("after the primary is restored from a backup, a watcher from the "
          "lost history is sent the restored state by a replica",
          "[replica][balancing]") {
  TempDir dir;
  ReplicaSet world(dir, 1, 1);
  v1::CreateBackupRequest backup;
  backup.set_dir(dir.path() + "/backup");
  REQUIRE(world.to_primary->CreateBackup(backup).ok());
  const int64_t backup_revision = Revision(*world.to_primary);
  REQUIRE(Rollout(*world.to_primary, "flag-0", 70).ok());
  const int64_t lost_revision = Revision(*world.to_primary);
  REQUIRE(WaitForRevision(*world.to_replicas[0], lost_revision));

  // The restore (docs/operations.md): the primary's folder replaced by the
  // backup, the primary started on it, at the backup's revision.
  REQUIRE(world.primary.Stop(SIGTERM) == 0);
  const std::string data = dir.path() + "/primary";
  std::filesystem::remove_all(data);
  std::filesystem::copy(dir.path() + "/backup", data,
                        std::filesystem::copy_options::recursive);
  REQUIRE(world.primary.Start());
  world.to_primary = ConnectAdmin(world.primary.address());
  REQUIRE(Revision(*world.to_primary) == backup_revision);
  REQUIRE(WaitForRevision(*world.to_replicas[0], backup_revision));

  // A watcher that saw the lost revision: the restored state, whole.
  const FirstEvent reset = WatchFrom(*world.to_replicas[0], lost_revision);
  INFO(reset.status.error_message());
  CHECK(reset.event.kind() == v1::WatchEvent::RESET);
  CHECK(reset.event.revision() == backup_revision);
}

}  // namespace
}  // namespace cutover::testing
