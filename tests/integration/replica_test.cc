// Read replicas (cutoverd --follow), with real daemons on loopback: a
// replica ends identical to its primary (flags, segments, versions,
// revisions) and answers Decide as it does; it refuses admin writes naming
// the primary; its readiness waits for the first sync; it keeps serving
// when the primary is killed, comes back from its own store when restarted
// alone, catches up without a RESET when the primary can replay, and takes
// a RESET (ending identical) when it fell behind the primary's window;
// telemetry reported to it reaches the primary, also after an outage; it
// answers flagd's evaluation protocol as its primary does.
#include <catch2/catch.hpp>

#include <csignal>
#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "cutover/v1/cutover.pb.h"
#include "flagd/evaluation/v2/evaluation.pb.h"
#include "google/protobuf/util/message_differencer.h"
#include "grpcpp/channel.h"
#include "grpcpp/generic/generic_stub.h"
#include "tests/integration/admin_calls.h"
#include "tests/integration/call_by_name.h"
#include "tests/integration/flagd_calls.h"
#include "tests/integration/harness.h"
#include "tests/integration/replica_world.h"

namespace cutover::testing {
namespace {

constexpr int kUsers = 200;

// Flags (not archived) and segments of `admin`, as listed.
struct State {
  v1::ListFlagsResponse flags;
  v1::ListSegmentsResponse segments;
};

State StateOf(const AdminClient& admin) {
  State state;
  absl::StatusOr<v1::ListFlagsResponse> flags =
      admin.ListFlags(v1::ListFlagsRequest());
  REQUIRE(flags.ok());
  state.flags = *flags;
  absl::StatusOr<v1::ListSegmentsResponse> segments =
      admin.ListSegments(v1::ListSegmentsRequest());
  REQUIRE(segments.ok());
  state.segments = *segments;
  return state;
}

// Every flag and segment equal, field by field (versions, revisions,
// update times, currency), and every user decided alike.
void RequireIdentical(const AdminClient& primary, const AdminClient& replica) {
  const State want = StateOf(primary);
  const State got = StateOf(replica);
  INFO("primary flags:\n" << want.flags.DebugString() << "\nreplica flags:\n"
                          << got.flags.DebugString());
  REQUIRE(want.flags.flags_size() > 0);
  CHECK(google::protobuf::util::MessageDifferencer::Equals(want.flags,
                                                           got.flags));
  CHECK(google::protobuf::util::MessageDifferencer::Equals(want.segments,
                                                           got.segments));
  for (const v1::Flag& flag : want.flags.flags()) {
    for (int u = 0; u < kUsers; ++u) {
      const std::string user = absl::StrCat("u-", u);
      absl::StatusOr<v1::DecideResponse> a = Decide(primary, flag.key(), user);
      absl::StatusOr<v1::DecideResponse> b = Decide(replica, flag.key(), user);
      REQUIRE(a.ok());
      REQUIRE(b.ok());
      INFO(flag.key() << " " << user);
      CHECK(google::protobuf::util::MessageDifferencer::Equals(a->decision(),
                                                               b->decision()));
    }
  }
}

// grpc.health.v1 Health/Check for `service`: the status byte of the
// answer (1 SERVING, 2 NOT_SERVING), or -1 if the call failed.
int HealthOf(const AdminClient& admin, const std::string& service) {
  grpc::GenericStub stub(admin.channel());
  // HealthCheckRequest{service}: field 1, length-delimited.
  const std::string request =
      absl::StrCat(std::string(1, '\x0a'),
                   std::string(1, static_cast<char>(service.size())), service);
  grpc::Slice slice(request);
  grpc::ByteBuffer buffer(&slice, 1);
  grpc::ByteBuffer response;
  if (!CallByName(stub, "/grpc.health.v1.Health/Check", buffer, &response, 10)
           .ok()) {
    return -1;
  }
  std::vector<grpc::Slice> slices;
  if (!response.Dump(&slices).ok()) return -1;
  std::string bytes;
  for (const auto& s : slices) {
    bytes.append(reinterpret_cast<const char*>(s.begin()), s.size());
  }
  return bytes.size() == 2 && bytes[0] == '\x08' ? bytes[1] : -1;
}

// A primary and one replica; `replica` and `to_replica` name the one.
struct PrimaryAndReplica : ReplicaSet {
  PrimaryAndReplica(const TempDir& dir, int flags,
                    std::vector<std::string> primary_args = {})
      : ReplicaSet(dir, flags, 1, std::move(primary_args)),
        replica(replicas[0]),
        to_replica(to_replicas[0]) {}

  std::unique_ptr<DaemonProcess>& replica;
  std::unique_ptr<AdminClient>& to_replica;
};

TEST_CASE("a replica ends identical to its primary, decides as it does, and "
          "refuses admin writes naming the primary",
          "[replica]") {
  TempDir dir;
  PrimaryAndReplica world(dir, 3);
  DaemonProcess& primary = world.primary;
  DaemonProcess& replica = *world.replica;
  auto& to_primary = world.to_primary;
  auto& to_replica = world.to_replica;
  RequireIdentical(*to_primary, *to_replica);
  CHECK(HealthOf(*to_replica, "cutover.v1.Evaluation") == 1);
  CHECK(HealthOf(*to_replica, "") == 1);

  // Changes made while it follows: one revision of several objects (an
  // apply of a segment and a flag that names it), a rollout, an archive.
  v1::ApplyRequest apply;
  v1::Segment* gamma = apply.add_segments();
  gamma->set_key("gamma");
  gamma->add_included("u-3");
  v1::Flag applied = OffFlag("applied");
  v1::Rule* rule = applied.add_rules();
  v1::Clause* clause = rule->add_clauses();
  clause->set_op(v1::IN_SEGMENT);
  clause->add_values("gamma");
  rule->mutable_serve()->set_stage(v1::DUALWRITE);
  *apply.add_flags() = applied;
  REQUIRE(to_primary->Apply(apply).ok());
  REQUIRE(Rollout(*to_primary, "flag-0", 50).ok());
  v1::ArchiveFlagRequest archive;
  archive.set_key("flag-2");
  archive.set_force(true);  // it still serves users
  REQUIRE(to_primary->ArchiveFlag(archive).ok());
  REQUIRE(WaitForRevision(*to_replica, Revision(*to_primary)));
  RequireIdentical(*to_primary, *to_replica);
  absl::StatusOr<v1::DecideResponse> archived =
      Decide(*to_replica, "flag-2", "u-1");
  REQUIRE(archived.ok());
  CHECK(archived->decision().reason() == v1::FLAG_NOT_FOUND);

  // Writes, and what a replica does not keep, are the primary's.
  absl::StatusOr<v1::Flag> refused = CreateFlag(*to_replica, OffFlag("other"));
  CHECK(refused.status().code() == absl::StatusCode::kFailedPrecondition);
  CHECK_THAT(std::string(refused.status().message()),
             Catch::Contains(primary.address()));
  v1::GetHistoryRequest history;
  history.set_key("flag-0");
  CHECK(to_replica->GetHistory(history).status().code() ==
        absl::StatusCode::kFailedPrecondition);
  const RunResult cli = RunCli(replica.address(), {"stage", "flag-0", "live"});
  INFO(cli.err);
  CHECK(cli.exit_code != 0);
  CHECK_THAT(cli.err, Catch::Contains("read replica of " + primary.address()));
  CHECK(cli.out.empty());

  // cutoverctl status and version say how it follows.
  const RunResult status = RunCli(replica.address(), {"status"});
  INFO(status.err);
  CHECK(status.exit_code == 0);
  CHECK_THAT(status.out,
             Catch::Contains(absl::StrCat("following ", primary.address(),
                                          " at revision ",
                                          Revision(*to_primary),
                                          ", 0 behind, last heard ")));
  const RunResult version = RunCli(replica.address(), {"version"});
  CHECK_THAT(version.out, Catch::Contains("Replica:        following "));

  CHECK(MetricOf(replica, "cutover_replica_connected") == 1);
  CHECK(MetricOf(replica, "cutover_replica_synced") == 1);
  CHECK(MetricOf(replica, "cutover_replica_revision_lag") == 0);
  CHECK(MetricOf(replica, "cutover_replica_resets_total") == 1);

  // flagd's evaluation protocol answers the same on both.
  FlagdCaller flagd_at_primary(to_primary->channel(), "v2");
  FlagdCaller flagd_at_replica(to_replica->channel(), "v2");
  for (int u = 0; u < 50; ++u) {
    flagd::evaluation::v2::ResolveStringRequest request;
    request.set_flag_key("flag-1");
    (*request.mutable_context()->mutable_fields())["targetingKey"]
        .set_string_value(absl::StrCat("u-", u));
    flagd::evaluation::v2::ResolveStringResponse want, got;
    REQUIRE(flagd_at_primary.Call("ResolveString", request, &want).ok());
    REQUIRE(flagd_at_replica.Call("ResolveString", request, &got).ok());
    CHECK(google::protobuf::util::MessageDifferencer::Equals(want, got));
  }
}

TEST_CASE("a replica keeps answering with its primary killed, comes back "
          "from its own store alone, and catches up without a RESET",
          "[replica]") {
  TempDir dir;
  PrimaryAndReplica world(dir, 2);
  DaemonProcess& primary = world.primary;
  DaemonProcess& replica = *world.replica;
  auto& to_primary = world.to_primary;
  auto& to_replica = world.to_replica;
  const State before = StateOf(*to_replica);

  REQUIRE(primary.Stop(SIGKILL) == -SIGKILL);
  // Everything answered before is answered the same.
  for (int u = 0; u < kUsers; ++u) {
    absl::StatusOr<v1::DecideResponse> answer =
        Decide(*to_replica, "flag-0", absl::StrCat("u-", u));
    REQUIRE(answer.ok());
    CHECK(answer->decision().reason() != v1::FLAG_NOT_FOUND);
  }

  // Restarted while the primary is away: its own store, at once; alive but
  // not ready until it syncs.
  REQUIRE(replica.Stop(SIGTERM) == 0);
  REQUIRE(replica.Start());
  to_replica = ConnectAdmin(replica.address());
  const State restarted = StateOf(*to_replica);
  CHECK(google::protobuf::util::MessageDifferencer::Equals(before.flags,
                                                           restarted.flags));
  CHECK(HealthOf(*to_replica, "") == 1);
  CHECK(HealthOf(*to_replica, "cutover.v1.Evaluation") == 2);
  CHECK(MetricOf(replica, "cutover_replica_connected") == 0);

  // The primary back, with a change: replayed, no RESET.
  REQUIRE(primary.Start());
  REQUIRE(Rollout(*to_primary, "flag-1", 90).ok());
  REQUIRE(WaitForRevision(*to_replica, Revision(*to_primary)));
  RequireIdentical(*to_primary, *to_replica);
  CHECK(HealthOf(*to_replica, "cutover.v1.Evaluation") == 1);
  CHECK(MetricOf(replica, "cutover_replica_resets_total") == 0);
}

TEST_CASE("a replica that fell behind the primary's replay window takes a "
          "RESET and ends identical",
          "[replica]") {
  TempDir dir;
  // The primary replays at most 4 events from memory: a replica away for
  // more changes than that gets the whole state.
  const std::string config = dir.path() + "/primary.yaml";
  REQUIRE(ReplaceFile(config, "watch_history: 4\n"));
  PrimaryAndReplica world(dir, 2, {"--config", config});
  DaemonProcess& replica = *world.replica;
  auto& to_primary = world.to_primary;
  auto& to_replica = world.to_replica;

  REQUIRE(replica.Stop(SIGKILL) == -SIGKILL);
  // Meanwhile: changes, a deleted segment, a new flag.
  for (int percent = 20; percent <= 90; percent += 10) {
    REQUIRE(Rollout(*to_primary, "flag-0", percent).ok());
  }
  REQUIRE(CreateFlag(*to_primary, OffFlag("late")).ok());
  REQUIRE(replica.Start());
  to_replica = ConnectAdmin(replica.address());
  REQUIRE(WaitForRevision(*to_replica, Revision(*to_primary)));
  RequireIdentical(*to_primary, *to_replica);
  CHECK(MetricOf(replica, "cutover_replica_resets_total") == 1);
}

// A batch of `compared` compared reads of flag-0, `mismatches` of them
// mismatched.
v1::ReportMigrationOpsRequest Comparisons(uint64_t compared,
                                          uint64_t mismatches) {
  v1::ReportMigrationOpsRequest request;
  for (auto [result, count] :
       {std::pair<v1::OpResult, uint64_t>{v1::MATCH, compared - mismatches},
        {v1::MISMATCH, mismatches}}) {
    v1::MigrationOpCount* entry = request.add_counts();
    entry->set_flag_key("flag-0");
    entry->set_stage(v1::SHADOW);
    entry->set_op("read");
    entry->set_origin(v1::NEW);
    entry->set_result(result);
    entry->set_count(count);
  }
  return request;
}

// The primary's compared reads of flag-0, waiting (at most 20 s) for
// `want`.
uint64_t WaitForCompared(const AdminClient& primary, uint64_t want) {
  v1::GetFlagStatusRequest request;
  request.set_key("flag-0");
  uint64_t compared = 0;
  const absl::Time until = absl::Now() + absl::Seconds(20);
  while (absl::Now() < until) {
    absl::StatusOr<v1::FlagStatus> status = primary.GetFlagStatus(request);
    REQUIRE(status.ok());
    compared = status->compared();
    if (compared == want) break;
    absl::SleepFor(absl::Milliseconds(50));
  }
  return compared;
}

TEST_CASE("telemetry reported to a replica reaches the primary, also after "
          "the primary was away",
          "[replica]") {
  TempDir dir;
  PrimaryAndReplica world(dir, 1);
  DaemonProcess& primary = world.primary;
  DaemonProcess& replica = *world.replica;
  auto& to_primary = world.to_primary;
  auto& to_replica = world.to_replica;

  REQUIRE(to_replica->ReportMigrationOps(Comparisons(100, 3)).ok());
  CHECK(WaitForCompared(*to_primary, 100) == 100);

  // Reports made while the primary is down wait in the replica's queue.
  REQUIRE(primary.Stop(SIGKILL) == -SIGKILL);
  for (int i = 0; i < 5; ++i) {
    REQUIRE(to_replica->ReportMigrationOps(Comparisons(10, 1)).ok());
  }
  CHECK(MetricOf(replica, "cutover_replica_reports_queued") == 5);
  REQUIRE(primary.Start());  // its telemetry window starts empty
  to_primary = ConnectAdmin(primary.address());
  CHECK(WaitForCompared(*to_primary, 50) == 50);
  CHECK(MetricOf(replica, "cutover_replica_reports_forwarded_total") == 6);
  CHECK(MetricOf(replica, "cutover_replica_reports_dropped_total") == 0);
}

}  // namespace
}  // namespace cutover::testing
