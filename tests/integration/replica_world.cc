#include "tests/integration/replica_world.h"

#include <catch2/catch.hpp>

#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "tests/integration/admin_calls.h"
#include "tests/prometheus_text.h"

namespace cutover::testing {

int64_t Revision(const AdminClient& admin) {
  absl::StatusOr<v1::ServerInfo> info =
      admin.GetServerInfo(v1::GetServerInfoRequest());
  return info.ok() ? info->revision() : -1;
}

bool WaitForRevision(const AdminClient& replica, int64_t revision) {
  const absl::Time until = absl::Now() + absl::Seconds(20);
  while (absl::Now() < until) {
    if (Revision(replica) == revision) return true;
    absl::SleepFor(absl::Milliseconds(20));
  }
  return false;
}

absl::StatusOr<v1::Flag> Rollout(const AdminClient& admin,
                                 const std::string& key, int live_percent) {
  v1::SetRolloutRequest request;
  request.set_key(key);
  // Shares in thousandths of a percent.
  v1::Split* live = request.mutable_rollout()->add_splits();
  live->set_stage(v1::LIVE);
  live->set_weight(live_percent * 1000);
  v1::Split* shadow = request.mutable_rollout()->add_splits();
  shadow->set_stage(v1::SHADOW);
  shadow->set_weight((100 - live_percent) * 1000);
  return admin.SetRollout(request);
}

void Populate(const AdminClient& admin, int flags) {
  v1::CreateSegmentRequest segment;
  segment.mutable_segment()->set_key("beta");
  segment.mutable_segment()->add_included("u-1");
  segment.mutable_segment()->add_included("u-7");
  REQUIRE(admin.CreateSegment(segment).ok());
  for (int i = 0; i < flags; ++i) {
    const std::string key = absl::StrCat("flag-", i);
    REQUIRE(CreateFlag(admin, OffFlag(key)).ok());
    REQUIRE(SetStage(admin, key, v1::DUALWRITE).ok());
    REQUIRE(SetStage(admin, key, v1::SHADOW).ok());
    v1::AddRuleRequest rule;
    rule.set_key(key);
    auto* clause = rule.mutable_rule()->add_clauses();
    clause->set_op(v1::IN_SEGMENT);
    clause->add_values("beta");
    rule.mutable_rule()->mutable_serve()->set_stage(v1::DUALWRITE);
    REQUIRE(admin.AddRule(rule).ok());
    REQUIRE(Rollout(admin, key, 10 + i).ok());
  }
}

double MetricOf(const DaemonProcess& daemon, const std::string& name,
                const std::map<std::string, std::string>& labels) {
  const RunResult scraped = HttpGet(
      absl::StrCat("http://127.0.0.1:", daemon.metrics_port(), "/metrics"));
  REQUIRE(scraped.exit_code == 0);
  Exposition exposition;
  std::string bad_line;
  INFO(bad_line);
  REQUIRE(ParseExposition(scraped.out, &exposition, &bad_line));
  return exposition.Sum(name, labels).value_or(-1);
}

ReplicaSet::ReplicaSet(const TempDir& dir, int flags, int replica_count,
                       std::vector<std::string> primary_args)
    : primary(dir.path() + "/primary", std::move(primary_args)) {
  REQUIRE(primary.Start());
  primary.KeepPort();
  to_primary = ConnectAdmin(primary.address());
  Populate(*to_primary, flags);
  for (int i = 0; i < replica_count; ++i) {
    auto replica = std::make_unique<DaemonProcess>(
        absl::StrCat(dir.path(), "/replica-", i),
        std::vector<std::string>{"--follow", primary.address()});
    REQUIRE(replica->Start());
    replica->KeepPort();
    to_replicas.push_back(ConnectAdmin(replica->address()));
    replicas.push_back(std::move(replica));
  }
  for (const auto& to_replica : to_replicas) {
    REQUIRE(WaitForRevision(*to_replica, Revision(*to_primary)));
  }
}

std::string ReplicaSet::ReplicasTarget() const {
  std::string target = "ipv4:";
  for (size_t i = 0; i < replicas.size(); ++i) {
    absl::StrAppend(&target, i == 0 ? "" : ",", replicas[i]->address());
  }
  return target;
}

}  // namespace cutover::testing
