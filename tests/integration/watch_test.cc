// The Watch stream of the real cutoverd on loopback: the initial state,
// live changes, heartbeats, resumption from a revision (also across a
// restart), RESET when resumption is impossible, the flag_keys filter, and
// the end of open streams on graceful shutdown.
#include <catch2/catch.hpp>

#include <signal.h>

#include <chrono>
#include <fstream>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "client/admin_client.h"
#include "cutover/v1/cutover.pb.h"
#include "grpcpp/client_context.h"
#include "tests/integration/harness.h"

namespace cutover::testing {
namespace {

using Kind = v1::WatchEvent::Kind;
using SteadyClock = std::chrono::steady_clock;

constexpr int kCallSeconds = 10;    // deadline of every unary call
constexpr int kStreamSeconds = 20;  // deadline of a Watch stream
// No test expects more events than this on one stream; reads stop there.
constexpr int kMaxEvents = 200;

// REQUIREs an OK status, showing its message otherwise; the value.
template <typename T>
T RequireOk(absl::StatusOr<T> result) {
  INFO("status " << result.status());
  REQUIRE(result.status().code() == absl::StatusCode::kOk);
  return *std::move(result);
}

// One open Watch stream. Every Read is bounded by the stream's deadline;
// the destructor cancels the call and collects its status.
class Stream {
 public:
  Stream(const AdminClient& admin, int64_t from_revision,
         std::vector<std::string> flag_keys = {},
         int deadline_seconds = kStreamSeconds) {
    context_.set_deadline(std::chrono::system_clock::now() +
                          std::chrono::seconds(deadline_seconds));
    v1::WatchRequest request;
    request.set_from_revision(from_revision);
    for (auto& key : flag_keys) request.add_flag_keys(std::move(key));
    reader_ = admin.Watch(&context_, request);
  }

  ~Stream() {
    if (!finished_) {
      context_.TryCancel();
      (void)reader_->Finish();
    }
  }

  Stream(const Stream&) = delete;
  Stream& operator=(const Stream&) = delete;

  // The next event; HEARTBEATs are skipped unless `keep_heartbeats`.
  // Fails the test if the stream ends first.
  v1::WatchEvent Next(bool keep_heartbeats = false) {
    v1::WatchEvent event;
    for (int i = 0; i < kMaxEvents; ++i) {
      const bool read = reader_->Read(&event);
      if (!read) {
        const grpc::Status status = Finish();
        INFO("stream ended: " << status.error_code() << " "
                              << status.error_message());
        REQUIRE(read);
      }
      if (keep_heartbeats || event.kind() != v1::WatchEvent::HEARTBEAT) {
        return event;
      }
    }
    FAIL("only heartbeats on the stream");
    return event;
  }

  // The events up to and including the next SYNCED (heartbeats skipped).
  std::vector<v1::WatchEvent> UntilSynced() {
    std::vector<v1::WatchEvent> events;
    for (int i = 0; i < kMaxEvents; ++i) {
      events.push_back(Next());
      if (events.back().kind() == v1::WatchEvent::SYNCED) return events;
    }
    FAIL("no SYNCED within " << kMaxEvents << " events");
    return events;
  }

  // Raw read, for tests that expect the end of the stream.
  bool Read(v1::WatchEvent* event) { return reader_->Read(event); }

  grpc::Status Finish() {
    finished_ = true;
    return reader_->Finish();
  }

 private:
  grpc::ClientContext context_;
  std::unique_ptr<grpc::ClientReader<v1::WatchEvent>> reader_;
  bool finished_ = false;
};

// A started daemon on a fresh folder with an AdminClient, and the admin
// calls the tests make.
class Server {
 public:
  explicit Server(std::vector<std::string> extra_args = {})
      : daemon_(dir_.path() + "/data", std::move(extra_args)) {
    Start();
  }

  // Drops the client and its channel.
  void Disconnect() { admin_.reset(); }

  void Start() {
    const bool started = daemon_.Start();
    INFO("cutoverd stderr:\n" << daemon_.last_stderr());
    REQUIRE(started);
    admin_ = ConnectAdmin(daemon_.address(), absl::Seconds(kCallSeconds),
                          "watch-test");
  }

  const AdminClient& admin() { return *admin_; }
  DaemonProcess& daemon() { return daemon_; }
  const TempDir& dir() const { return dir_; }

  v1::Flag CreateFlag(const std::string& key) {
    v1::CreateFlagRequest request;
    v1::Flag* flag = request.mutable_flag();
    flag->set_key(key);
    flag->set_old_target("postgres-" + key);
    flag->set_new_target("dynamodb-" + key);
    flag->set_enabled(true);
    flag->mutable_default_serve()->set_stage(v1::OFF);
    return RequireOk(admin_->CreateFlag(request));
  }

  v1::Flag SetStage(const std::string& key, v1::Stage stage) {
    v1::SetStageRequest request;
    request.set_key(key);
    request.set_stage(stage);
    return RequireOk(admin_->SetStage(request));
  }

  // Forced: the tests archive flags at whatever stage they are.
  v1::Flag Archive(const std::string& key) {
    v1::ArchiveFlagRequest request;
    request.set_key(key);
    request.set_force(true);
    return RequireOk(admin_->ArchiveFlag(request));
  }

  v1::Segment CreateSegment(const std::string& key,
                            const std::vector<std::string>& included) {
    v1::CreateSegmentRequest request;
    request.mutable_segment()->set_key(key);
    for (const auto& user : included) {
      request.mutable_segment()->add_included(user);
    }
    return RequireOk(admin_->CreateSegment(request));
  }

  // Adds `user` to the segment's include list.
  v1::Segment Include(const v1::Segment& current, const std::string& user) {
    v1::ReplaceSegmentRequest request;
    *request.mutable_segment() = current;
    request.mutable_segment()->add_included(user);
    request.set_expected_version(current.version());
    return RequireOk(admin_->ReplaceSegment(request));
  }

  // The store revision the daemon serves.
  int64_t Revision() {
    v1::DecideRequest request;
    request.set_flag_key("revision-probe");
    request.mutable_context()->set_targeting_key("probe");
    return RequireOk(admin_->Decide(request)).revision();
  }

 private:
  TempDir dir_;
  DaemonProcess daemon_;
  std::unique_ptr<AdminClient> admin_;
};

// The fixture state most tests start from: segment "beta-testers" (rev 1),
// flags "payments" (rev 2) and "orders" (rev 3), created out of key order.
struct Seeded {
  v1::Segment segment;
  v1::Flag payments;
  v1::Flag orders;
};

Seeded Seed(Server& server) {
  Seeded seeded;
  seeded.segment = server.CreateSegment("beta-testers", {"u-1", "u-2"});
  seeded.payments = server.CreateFlag("payments");
  seeded.orders = server.CreateFlag("orders");
  REQUIRE(seeded.segment.revision() == 1);
  REQUIRE(seeded.payments.revision() == 2);
  REQUIRE(seeded.orders.revision() == 3);
  REQUIRE(server.Revision() == 3);
  return seeded;
}

std::string KindName(Kind kind) { return v1::WatchEvent::Kind_Name(kind); }

// The kinds of `events`, for readable failures.
std::vector<std::string> Kinds(const std::vector<v1::WatchEvent>& events) {
  std::vector<std::string> kinds;
  for (const auto& event : events) kinds.push_back(KindName(event.kind()));
  return kinds;
}

// Checks that `events` are the full state at `revision` for `seeded`:
// RESET, the segment, the flags by key (only "orders" if `only_orders`),
// SYNCED.
void CheckFullState(const std::vector<v1::WatchEvent>& events,
                    const Seeded& seeded, int64_t revision,
                    bool only_orders = false) {
  std::vector<std::string> expected = {"RESET", "SEGMENT_UPSERTED",
                                       "FLAG_UPSERTED"};
  if (!only_orders) expected.push_back("FLAG_UPSERTED");
  expected.push_back("SYNCED");
  REQUIRE(Kinds(events) == expected);
  size_t i = 0;
  CHECK(events[i++].revision() == revision);  // RESET
  CHECK(events[i].segment().key() == "beta-testers");
  CHECK(events[i].segment().version() == seeded.segment.version());
  CHECK(events[i++].revision() == seeded.segment.revision());
  CHECK(events[i].flag().key() == "orders");
  CHECK(events[i].flag().version() == seeded.orders.version());
  CHECK(events[i++].revision() == seeded.orders.revision());
  if (!only_orders) {
    CHECK(events[i].flag().key() == "payments");
    CHECK(events[i].flag().version() == seeded.payments.version());
    CHECK(events[i++].revision() == seeded.payments.revision());
  }
  CHECK(events[i].revision() == revision);  // SYNCED
}

// Makes three changes after the seed (revisions 4, 5, 6).
struct ThreeChanges {
  v1::Flag orders;
  v1::Segment segment;
  v1::Flag payments;
};

ThreeChanges MakeThreeChanges(Server& server, const Seeded& seeded) {
  ThreeChanges changes;
  changes.orders = server.SetStage("orders", v1::DUALWRITE);
  changes.segment = server.Include(seeded.segment, "u-3");
  changes.payments = server.Archive("payments");
  REQUIRE(changes.orders.revision() == 4);
  REQUIRE(changes.segment.revision() == 5);
  REQUIRE(changes.payments.revision() == 6);
  return changes;
}

// Checks that `events` are exactly `changes` after revision 3, then SYNCED.
void CheckThreeChanges(const std::vector<v1::WatchEvent>& events,
                       const ThreeChanges& changes) {
  REQUIRE(Kinds(events) ==
          std::vector<std::string>{"FLAG_UPSERTED", "SEGMENT_UPSERTED",
                                   "FLAG_ARCHIVED", "SYNCED"});
  CHECK(events[0].revision() == 4);
  CHECK(events[0].flag().key() == "orders");
  CHECK(events[0].flag().version() == changes.orders.version());
  CHECK(events[0].flag().default_serve().stage() == v1::DUALWRITE);
  CHECK(events[1].revision() == 5);
  CHECK(events[1].segment().key() == "beta-testers");
  CHECK(events[1].segment().version() == changes.segment.version());
  CHECK(events[1].segment().included_size() == 3);
  CHECK(events[2].revision() == 6);
  CHECK(events[2].flag().key() == "payments");
  CHECK(events[2].flag().archived());
  CHECK(events[3].revision() == 6);
}

// ---------------------------------------------------------------------------

TEST_CASE("Watch from 0: RESET, the state sorted by key, SYNCED",
          "[watch]") {
  Server server;
  const Seeded seeded = Seed(server);
  Stream stream(server.admin(), 0);
  CheckFullState(stream.UntilSynced(), seeded, 3);
}

TEST_CASE("Watch: a live change arrives at SYNCED revision + 1", "[watch]") {
  Server server;
  Seed(server);
  Stream stream(server.admin(), 0);
  const std::vector<v1::WatchEvent> initial = stream.UntilSynced();
  const int64_t synced = initial.back().revision();
  REQUIRE(synced == 3);

  const v1::Flag changed = server.SetStage("orders", v1::DUALWRITE);
  REQUIRE(changed.version() == 2);
  const v1::WatchEvent event = stream.Next();
  CHECK(KindName(event.kind()) == "FLAG_UPSERTED");
  CHECK(event.revision() == synced + 1);
  CHECK(event.flag().key() == "orders");
  CHECK(event.flag().version() == changed.version());
  CHECK(event.flag().revision() == synced + 1);
  CHECK(event.flag().default_serve().stage() == v1::DUALWRITE);
  CHECK(event.flag().updated_by() == "watch-test");

  // A write that changes nothing makes no event: the next one is the
  // following real change.
  server.SetStage("orders", v1::DUALWRITE);
  server.SetStage("orders", v1::SHADOW);
  const v1::WatchEvent next = stream.Next();
  CHECK(KindName(next.kind()) == "FLAG_UPSERTED");
  CHECK(next.revision() == synced + 2);
  CHECK(next.flag().version() == 3);
}

TEST_CASE("Watch: an idle stream gets heartbeats", "[watch][heartbeat]") {
  TempDir config_dir;
  const std::string config = config_dir.path() + "/cutoverd.yaml";
  {
    std::ofstream out(config);
    out << "heartbeat_seconds: 0.2\n";
    REQUIRE(out.good());
  }
  Server server({"--config", config});
  Seed(server);
  // The deadline bounds the wait: no heartbeat within 5 s ends the stream
  // with DEADLINE_EXCEEDED and fails the test.
  Stream stream(server.admin(), 0, {}, /*deadline_seconds=*/5);
  const std::vector<v1::WatchEvent> initial = stream.UntilSynced();
  REQUIRE(initial.back().revision() == 3);
  const v1::WatchEvent heartbeat = stream.Next(/*keep_heartbeats=*/true);
  CHECK(KindName(heartbeat.kind()) == "HEARTBEAT");
  CHECK(heartbeat.revision() == 3);
  CHECK_FALSE(heartbeat.has_flag());
  CHECK_FALSE(heartbeat.has_segment());
}

TEST_CASE("Watch: resume from a revision replays exactly what followed",
          "[watch][resume]") {
  Server server;
  const Seeded seeded = Seed(server);
  const int64_t seen = server.Revision();
  REQUIRE(seen == 3);
  const ThreeChanges changes = MakeThreeChanges(server, seeded);

  Stream stream(server.admin(), seen);
  CheckThreeChanges(stream.UntilSynced(), changes);

  SECTION("resuming at the current revision gives only SYNCED") {
    Stream current(server.admin(), 6);
    const std::vector<v1::WatchEvent> events = current.UntilSynced();
    REQUIRE(Kinds(events) == std::vector<std::string>{"SYNCED"});
    CHECK(events[0].revision() == 6);
  }
}

TEST_CASE("Watch: resume works across a restart", "[watch][resume]") {
  Server server;
  const Seeded seeded = Seed(server);
  const int64_t seen = server.Revision();
  const ThreeChanges changes = MakeThreeChanges(server, seeded);

  server.Disconnect();
  const int code = server.daemon().Stop(SIGTERM);
  INFO("cutoverd stderr:\n" << server.daemon().last_stderr());
  REQUIRE(code == 0);
  server.Start();

  Stream stream(server.admin(), seen);
  CheckThreeChanges(stream.UntilSynced(), changes);
}

TEST_CASE("Watch: RESET when the revision cannot be resumed from",
          "[watch][resume]") {
  SECTION("a future revision") {
    Server server;
    const Seeded seeded = Seed(server);
    Stream stream(server.admin(), 1000);
    CheckFullState(stream.UntilSynced(), seeded, 3);
  }

  SECTION("a revision older than the kept history") {
    TempDir config_dir;
    const std::string config = config_dir.path() + "/cutoverd.yaml";
    {
      std::ofstream out(config);
      out << "watch_history: 2\n";
      REQUIRE(out.good());
    }
    Server server({"--config", config});
    Seed(server);  // the ring keeps revisions 2 and 3

    Stream kept(server.admin(), 1);
    const std::vector<v1::WatchEvent> replayed = kept.UntilSynced();
    REQUIRE(Kinds(replayed) ==
            std::vector<std::string>{"FLAG_UPSERTED", "FLAG_UPSERTED",
                                     "SYNCED"});
    CHECK(replayed[0].flag().key() == "payments");
    CHECK(replayed[1].flag().key() == "orders");

    server.SetStage("orders", v1::DUALWRITE);  // the ring: 3, 4
    Stream too_old(server.admin(), 1);
    const std::vector<v1::WatchEvent> reset = too_old.UntilSynced();
    REQUIRE(Kinds(reset).front() == "RESET");
    CHECK(reset.front().revision() == 4);
    CHECK(reset.back().revision() == 4);
  }
}

TEST_CASE("Watch: flag_keys keeps only the named flags (and segments)",
          "[watch][filter]") {
  Server server;
  const Seeded seeded = Seed(server);
  Stream stream(server.admin(), 0, {"orders"});
  CheckFullState(stream.UntilSynced(), seeded, 3, /*only_orders=*/true);

  server.SetStage("payments", v1::DUALWRITE);                // 4: filtered
  const v1::Segment segment = server.Include(seeded.segment, "u-9");  // 5
  server.SetStage("orders", v1::DUALWRITE);                  // 6
  server.Archive("payments");                                // 7: filtered
  server.SetStage("orders", v1::SHADOW);                     // 8

  const v1::WatchEvent first = stream.Next();
  CHECK(KindName(first.kind()) == "SEGMENT_UPSERTED");
  CHECK(first.revision() == 5);
  CHECK(first.segment().version() == segment.version());
  const v1::WatchEvent second = stream.Next();
  CHECK(KindName(second.kind()) == "FLAG_UPSERTED");
  CHECK(second.revision() == 6);
  CHECK(second.flag().key() == "orders");
  const v1::WatchEvent third = stream.Next();
  CHECK(KindName(third.kind()) == "FLAG_UPSERTED");
  CHECK(third.revision() == 8);
  CHECK(third.flag().key() == "orders");
  CHECK(third.flag().default_serve().stage() == v1::SHADOW);
}

TEST_CASE("Watch: SIGTERM ends an open stream with UNAVAILABLE",
          "[watch][shutdown]") {
  Server server;
  Seed(server);
  Stream stream(server.admin(), 0);
  REQUIRE(stream.UntilSynced().back().revision() == 3);

  const auto start = SteadyClock::now();
  int exit_code = -100;
  std::thread stopper(
      [&server, &exit_code] { exit_code = server.daemon().Stop(SIGTERM); });
  // The stream must end (not hang): Read returns false, bounded by the
  // stream's deadline in the worst case. Heartbeats may come first.
  v1::WatchEvent event;
  int events_after = 0;
  while (stream.Read(&event) && events_after < kMaxEvents) {
    CHECK(KindName(event.kind()) == "HEARTBEAT");
    ++events_after;
  }
  const grpc::Status status = stream.Finish();
  const auto ended = SteadyClock::now() - start;
  stopper.join();

  INFO("status " << status.error_code() << ": " << status.error_message());
  CHECK(status.error_code() == grpc::StatusCode::UNAVAILABLE);
  CHECK(status.error_message().find("shutting down") != std::string::npos);
  CHECK(ended < std::chrono::seconds(kStreamSeconds));
  CHECK(exit_code == 0);
}

}  // namespace
}  // namespace cutover::testing
