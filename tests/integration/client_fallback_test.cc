// cutover::Client when the daemon cannot answer: the synced state answers
// exactly as the daemon did (stage, bucket, rule, version), reason STALE,
// for users never asked about; the snapshot file carries that state to a
// client started while the daemon is down; a corrupt file is ignored; the
// caller's default only for a flag never seen.
#include <catch2/catch.hpp>

#include <signal.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_join.h"
#include "client/client.h"
#include "client/snapshot_file.h"
#include "client/synced_flags.h"
#include "prometheus/registry.h"
#include "prometheus/text_serializer.h"
#include "tests/integration/client_helpers.h"
#include "tests/integration/harness.h"
#include "tests/printers.h"

namespace cutover::testing {
namespace {

// "done" at complete; "orders" bucketed by tenant, a 25/75 live/shadow
// rollout, and a rule serving dualwrite to the "internal" segment.
void CreateFlags(const DaemonProcess& daemon) {
  Cli(daemon, {"flags", "create", "done", "--old", "pg", "--new", "ddb"});
  for (const char* stage :
       {"dualwrite", "shadow", "live", "rampdown", "complete"}) {
    Cli(daemon, {"stage", "done", stage});
  }
  Cli(daemon, {"flags", "create", "orders", "--old", "pg", "--new", "ddb",
               "--bucket-by", "tenant"});
  Cli(daemon, {"stage", "orders", "dualwrite"});
  Cli(daemon, {"stage", "orders", "shadow"});
  Cli(daemon, {"rollout", "orders", "live=25", "shadow=75"});
  Cli(daemon, {"segments", "create", "internal", "--include", "u-1,u-2"});
  Cli(daemon, {"rules", "add", "orders", "--if", "in_segment internal",
               "--serve", "dualwrite"});
}

std::vector<Context> Users(int count) {
  std::vector<Context> users;
  for (int i = 0; i < count; ++i) {
    users.push_back(Context{"u-" + std::to_string(i),
                            {{"tenant", "t-" + std::to_string(i % 37)}}});
  }
  return users;
}

// The same decision, but for the reason (the daemon's vs STALE).
void CheckSameAsDaemon(const Decision& local, const Decision& daemon) {
  CHECK(local.reason == Reason::kStale);
  CHECK(local.stage == daemon.stage);
  CHECK(local.plan.read_authoritative == daemon.plan.read_authoritative);
  CHECK(local.plan.write_secondary == daemon.plan.write_secondary);
  CHECK(local.rule_id == daemon.rule_id);
  CHECK(local.bucket == daemon.bucket);
  CHECK(local.flag_version == daemon.flag_version);
  CHECK(local.old_target == daemon.old_target);
  CHECK(local.new_target == daemon.new_target);
  CHECK(local.compare_sample_rate == daemon.compare_sample_rate);
}

TEST_CASE("a synced client answers as the daemon did after the daemon is "
          "gone, for users it never asked about",
          "[client][fallback]") {
  TempDir dir;
  DaemonProcess daemon(dir.path() + "/data");
  REQUIRE(daemon.Start());
  CreateFlags(daemon);

  ClientOptions options = OptionsFor(daemon);
  // No call of this client's may be answered once the daemon is gone: a
  // short deadline bounds the test even if another test's daemon (one
  // paused, say) took the freed port.
  options.decide_deadline = absl::Milliseconds(50);
  auto client = Client::Create(options);
  REQUIRE(client.ok());
  REQUIRE((*client)->watch_synced());
  prometheus::Registry registry;
  (*client)->RegisterMetrics(registry);

  // What the daemon answers, asked by another client (this one's cache
  // stays empty).
  ClientOptions probe_options = OptionsFor(daemon);
  probe_options.watch = false;
  auto probe = Client::Create(probe_options);
  REQUIRE(probe.ok());
  const std::vector<Context> users = Users(300);
  const std::vector<Decision> orders = (*probe)->Prefetch("orders", users);
  const std::vector<Decision> done = (*probe)->Prefetch("done", users);
  int rule = 0, live = 0;
  for (const Decision& d : orders) {
    REQUIRE((d.reason == Reason::kSplit || d.reason == Reason::kRuleMatch));
    rule += d.reason == Reason::kRuleMatch;
    live += d.stage == Stage::kLive;
  }
  REQUIRE(rule == 2);
  REQUIRE(live > 0);
  REQUIRE(done[0].stage == Stage::kComplete);
  REQUIRE(done[0].flag_version == 6);

  REQUIRE(daemon.Stop(SIGKILL) == -SIGKILL);
  // Until its stream breaks, a local client still decides as synced.
  REQUIRE(Eventually([&] { return !(*client)->watch_synced(); }));
  for (size_t i = 0; i < users.size(); ++i) {
    INFO("user " << users[i].targeting_key);
    CheckSameAsDaemon((*client)->Decide("orders", users[i]), orders[i]);
    CheckSameAsDaemon((*client)->Decide("done", users[i], Stage::kOff),
                      done[i]);
  }
  // Prefetch too.
  const std::vector<Decision> prefetched = (*client)->Prefetch("orders", users);
  REQUIRE(prefetched.size() == users.size());
  for (size_t i = 0; i < users.size(); ++i) {
    CheckSameAsDaemon(prefetched[i], orders[i]);
  }
  // A flag never seen: the caller's default, ERROR, saying so.
  const Decision unknown =
      (*client)->Decide("billing", users[0], Stage::kDualWrite);
  CHECK(unknown.stage == Stage::kDualWrite);
  CHECK(unknown.reason == Reason::kError);
  CHECK(absl::StrContains(unknown.error, "never synced"));

  const ClientStats stats = (*client)->stats();
  CHECK(stats.cache_misses == 0);
  CHECK(stats.local_serves == 3 * users.size());
  CHECK(stats.stale_serves == 0);
  CHECK(stats.errors == 1);
  const std::string text =
      prometheus::TextSerializer().Serialize(registry.Collect());
  CHECK(absl::StrContains(
      text, "cutover_client_decisions_total{source=\"synced\"} 900"));
  CHECK(absl::StrContains(
      text, "cutover_client_decisions_total{source=\"default\"} 1"));
}

TEST_CASE("an archived flag is answered off, as the daemon does, not with "
          "the caller's default",
          "[client][fallback]") {
  TempDir dir;
  DaemonProcess daemon(dir.path() + "/data");
  REQUIRE(daemon.Start());
  Cli(daemon, {"flags", "create", "old", "--old", "pg", "--new", "ddb"});
  auto client = Client::Create(OptionsFor(daemon));
  REQUIRE(client.ok());
  REQUIRE((*client)->watch_synced());
  const int64_t revision = (*client)->watched_revision();
  Cli(daemon, {"flags", "archive", "old"});
  REQUIRE(Eventually([&] { return (*client)->watched_revision() > revision; }));
  const Decision online = (*client)->Decide("old", Context{"u-1", {}});
  REQUIRE(online.reason == Reason::kFlagNotFound);

  REQUIRE(daemon.Stop(SIGKILL) == -SIGKILL);
  REQUIRE(Eventually([&] { return !(*client)->watch_synced(); }));
  const Decision offline =
      (*client)->Decide("old", Context{"u-2", {}}, Stage::kDualWrite);
  CHECK(offline.stage == Stage::kOff);
  CHECK(offline.reason == Reason::kStale);
  CHECK(offline.flag_version == 0);
}

TEST_CASE("the snapshot file lets a client started while the daemon is down "
          "serve the flags' real stages",
          "[client][fallback][snapshot_file]") {
  TempDir dir;
  const std::string data = dir.path() + "/data";
  DaemonProcess daemon(data);
  REQUIRE(daemon.Start());
  daemon.KeepPort();
  CreateFlags(daemon);
  ClientOptions options = OptionsFor(daemon);
  options.snapshot_file = dir.path() + "/flags.snapshot";
  options.snapshot_min_interval = absl::Milliseconds(100);

  Decision before_stop;
  {
    auto first = Client::Create(options);
    REQUIRE(first.ok());
    REQUIRE((*first)->watch_synced());
    REQUIRE(Eventually([&] { return (*first)->stats().snapshot_writes >= 1; }));
    // A change is written too (within the interval).
    const uint64_t writes = (*first)->stats().snapshot_writes;
    const int64_t revision = (*first)->watched_revision();
    Cli(daemon, {"rollout", "orders", "live=50", "shadow=50"});
    REQUIRE(
        Eventually([&] { return (*first)->watched_revision() > revision; }));
    REQUIRE(Eventually(
        [&] { return (*first)->stats().snapshot_writes > writes; }));
    before_stop = (*first)->Decide("orders", Users(10)[7]);
    REQUIRE(before_stop.reason == Reason::kSplit);
    CHECK((*first)->stats().snapshot_write_failures == 0);
  }
  auto file = ReadSnapshotFile(options.snapshot_file);
  REQUIRE(file.ok());
  REQUIRE(file->has_value());
  CHECK((*file)->flags_size() == 2);
  CHECK((*file)->segments_size() == 1);

  REQUIRE(daemon.Stop(SIGTERM) == 0);
  options.initial_sync_wait = absl::Milliseconds(100);
  auto second = Client::Create(options);
  REQUIRE(second.ok());
  REQUIRE(!(*second)->watch_synced());
  const Decision done = (*second)->Decide("done", Context{"new-user", {}});
  CHECK(done.stage == Stage::kComplete);
  CHECK(done.reason == Reason::kStale);
  CHECK(done.flag_version == 6);
  CheckSameAsDaemon((*second)->Decide("orders", Users(10)[7]), before_stop);
  // Never seen: the caller's default, or off.
  const Decision unknown = (*second)->Decide("billing", Context{"u-1", {}});
  CHECK(unknown.stage == Stage::kOff);
  CHECK(unknown.reason == Reason::kError);
  CHECK(absl::StrContains(unknown.error, "never synced"));
  const Decision unknown_shadow =
      (*second)->Decide("billing", Context{"u-1", {}}, Stage::kShadow);
  CHECK(unknown_shadow.stage == Stage::kShadow);
  CHECK(unknown_shadow.reason == Reason::kError);
  CHECK((*second)->stats().local_serves == 2);
  CHECK((*second)->stats().errors == 2);

  // A daemon on a fresh store (behind the file): its state replaces the
  // file's at SYNCED, and the file follows.
  std::filesystem::remove_all(data);
  REQUIRE(daemon.Start());
  Cli(daemon, {"flags", "create", "billing", "--old", "pg", "--new", "ddb"});
  REQUIRE(Eventually([&] {
    auto state = (*second)->synced_state();
    return (*second)->watch_synced() && state != nullptr &&
           state->Contains("billing");
  }));
  CHECK(!(*second)->synced_state()->Contains("done"));
  CHECK((*second)->synced_state()->revision() < (*file)->revision());
  (*second)->Shutdown();
  auto rewritten = ReadSnapshotFile(options.snapshot_file);
  REQUIRE(rewritten.ok());
  REQUIRE(rewritten->has_value());
  REQUIRE((*rewritten)->flags_size() == 1);
  CHECK((*rewritten)->flags(0).key() == "billing");
}

TEST_CASE("a corrupt snapshot file is ignored, then replaced",
          "[client][fallback][snapshot_file]") {
  TempDir dir;
  DaemonProcess daemon(dir.path() + "/data");
  REQUIRE(daemon.Start());
  daemon.KeepPort();
  CreateFlags(daemon);
  ClientOptions options = OptionsFor(daemon);
  options.snapshot_file = dir.path() + "/flags.snapshot";
  std::ofstream(options.snapshot_file, std::ios::binary)
      << "\x0a\xff\xff\xff garbage, not a snapshot";

  SECTION("the daemon down: nothing known, the caller's default") {
    REQUIRE(daemon.Stop(SIGTERM) == 0);
    options.initial_sync_wait = absl::Milliseconds(100);
    auto client = Client::Create(options);
    REQUIRE(client.ok());
    CHECK((*client)->synced_state() == nullptr);
    const Decision d =
        (*client)->Decide("done", Context{"u-1", {}}, Stage::kDualWrite);
    CHECK(d.stage == Stage::kDualWrite);
    CHECK(d.reason == Reason::kError);
    CHECK(absl::StrContains(d.error, "never synced"));
  }
  SECTION("the daemon up: synced, and the file rewritten") {
    auto client = Client::Create(options);
    REQUIRE(client.ok());
    REQUIRE((*client)->watch_synced());
    REQUIRE(
        Eventually([&] { return (*client)->stats().snapshot_writes >= 1; }));
    auto file = ReadSnapshotFile(options.snapshot_file);
    REQUIRE(file.ok());
    REQUIRE(file->has_value());
    CHECK((*file)->flags_size() == 2);
  }
}

}  // namespace
}  // namespace cutover::testing
