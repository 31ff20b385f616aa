// Tests of FlagRegistry::Apply (Admin.Apply) over a real Store in a fresh
// temporary folder: a whole file as one revision, or nothing.
#include <catch2/catch.hpp>

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/match.h"
#include "cutover/v1/cutover.pb.h"
#include "google/protobuf/util/message_differencer.h"
#include "server/change_hub.h"
#include "server/flag_registry.h"
#include "server/store.h"
#include "tests/integration/harness.h"
#include "tests/server/api_registry.h"
#include "tests/server/raw_db.h"

namespace cutover {
namespace {

using google::protobuf::util::MessageDifferencer;
using testing::ApiRegistry;
using testing::OpenRegistry;
using testing::RecordingSubscriber;
using testing::TempDir;

const Caller kAlice{"alice", "10.0.0.1:50000"};

template <typename T>
T Ok(absl::StatusOr<T> result) {
  INFO(result.status().ToString());
  REQUIRE(result.ok());
  return *std::move(result);
}

v1::Flag MakeFlag(const std::string& key, v1::Stage stage) {
  v1::Flag flag;
  flag.set_key(key);
  flag.set_old_target("postgres-" + key);
  flag.set_new_target("dynamodb-" + key);
  flag.set_enabled(true);
  flag.mutable_default_serve()->set_stage(stage);
  return flag;
}

v1::Segment MakeSegment(const std::string& key,
                        std::vector<std::string> users) {
  v1::Segment segment;
  segment.set_key(key);
  for (const std::string& user : users) segment.add_included(user);
  return segment;
}

// A flag at `stage` by default whose first rule serves members of
// `segment` `rule_stage`.
v1::Flag FlagWithSegmentRule(const std::string& key, v1::Stage stage,
                             const std::string& segment,
                             v1::Stage rule_stage) {
  v1::Flag flag = MakeFlag(key, stage);
  v1::Rule* rule = flag.add_rules();
  rule->set_id("members");
  v1::Clause* clause = rule->add_clauses();
  clause->set_op(v1::IN_SEGMENT);
  clause->add_values(segment);
  rule->mutable_serve()->set_stage(rule_stage);
  return flag;
}

struct Fixture {
  TempDir dir;
  std::unique_ptr<ApiRegistry> registry = OpenRegistry(dir.path());

  int64_t revision() const { return registry->store().revision(); }
  // The whole store, byte for byte, read with the registry closed; the
  // registry is reopened after.
  std::map<std::string, std::map<std::string, std::string>> StoreBytes() {
    registry.reset();
    std::map<std::string, std::map<std::string, std::string>> contents;
    {
      RawDb raw(dir.path(), RawDb::Access::kReadOnly);
      contents = raw.Contents();
    }
    registry = OpenRegistry(dir.path());
    return contents;
  }
};

v1::ApplyRequest File(std::vector<v1::Segment> segments,
                      std::vector<v1::Flag> flags) {
  v1::ApplyRequest request;
  for (v1::Segment& segment : segments) {
    *request.add_segments() = std::move(segment);
  }
  for (v1::Flag& flag : flags) *request.add_flags() = std::move(flag);
  request.set_comment("test file");
  return request;
}

TEST_CASE("Apply: a whole file is one revision, each object its own version "
          "and history entry, and one Watch step",
          "[apply]") {
  Fixture f;
  v1::CreateFlagRequest existing;
  *existing.mutable_flag() = MakeFlag("carts", v1::OFF);
  Ok(f.registry->CreateFlag(existing, kAlice));
  REQUIRE(f.revision() == 1);
  RecordingSubscriber recorder;
  f.registry->hub().Subscribe(&recorder, 1);
  recorder.events.clear();  // the catch-up's SYNCED

  const v1::ApplyResponse response = Ok(f.registry->Apply(
      File({MakeSegment("beta", {"u-1", "u-2"})},
           {FlagWithSegmentRule("orders", v1::OFF, "beta", v1::DUALWRITE),
            MakeFlag("carts", v1::DUALWRITE)}),
      kAlice));
  CHECK(response.committed());
  CHECK(response.revision() == 2);
  CHECK(f.revision() == 2);
  REQUIRE(response.results_size() == 3);
  CHECK(response.results(0).path() == "segments[0]");
  CHECK(response.results(0).segment());
  CHECK(response.results(0).change().action() == "segment-create");
  CHECK(response.results(1).path() == "flags[0]");
  CHECK(response.results(1).change().action() == "create");
  CHECK(response.results(1).change().version() == 1);
  CHECK(response.results(2).path() == "flags[1]");
  CHECK(response.results(2).change().action() == "replace");
  CHECK(response.results(2).change().version() == 2);
  for (const v1::ApplyResult& result : response.results()) {
    CHECK(result.change().revision() == 2);
    CHECK(result.change().comment() == "test file");
  }

  // Each object's history has its entry at the one revision.
  const v1::Flag carts = Ok(f.registry->GetFlag("carts"));
  CHECK(carts.version() == 2);
  CHECK(carts.revision() == 2);
  CHECK(Ok(f.registry->GetSegment("beta")).version() == 1);
  const auto history =
      Ok(f.registry->registry().History("orders", false, 0));
  REQUIRE(history.size() == 1);
  CHECK(history[0].revision == 2);
  CHECK(history[0].actor == "alice");

  // Watchers got one step: the segment before the flag that names it,
  // every event but the last marked as followed by more.
  REQUIRE(recorder.events.size() == 3);
  CHECK(recorder.events[0].kind() == v1::WatchEvent::SEGMENT_UPSERTED);
  CHECK(recorder.events[1].flag().key() == "orders");
  CHECK(recorder.events[2].flag().key() == "carts");
  for (size_t i = 0; i < 3; ++i) {
    CHECK(recorder.events[i].revision() == 2);
    CHECK(recorder.events[i].more_in_revision() == (i < 2));
  }
  f.registry->hub().Unsubscribe(&recorder);

  // After a restart the step is replayed whole, as it was delivered.
  f.registry.reset();
  f.registry = OpenRegistry(f.dir.path());
  RecordingSubscriber resumed;
  f.registry->hub().Subscribe(&resumed, 1);
  REQUIRE(resumed.events.size() == 4);  // the step, then SYNCED
  for (size_t i = 0; i < 3; ++i) {
    CHECK(MessageDifferencer::Equals(resumed.events[i], recorder.events[i]));
  }
  CHECK(resumed.events[3].kind() == v1::WatchEvent::SYNCED);
  f.registry->hub().Unsubscribe(&resumed);
}

TEST_CASE("Apply: a file whose last entry is refused leaves the store byte "
          "for byte as it was",
          "[apply]") {
  Fixture f;
  Ok(f.registry->Apply(File({MakeSegment("beta", {"u-1"})},
                            {MakeFlag("carts", v1::OFF)}),
                       kAlice));
  const auto before = f.StoreBytes();
  const int64_t revision = f.revision();

  // Two good entries, then a stage skip.
  const absl::StatusOr<v1::ApplyResponse> refused = f.registry->Apply(
      File({MakeSegment("beta", {"u-1", "u-2"}), MakeSegment("gamma", {})},
           {MakeFlag("orders", v1::DUALWRITE), MakeFlag("carts", v1::LIVE)}),
      kAlice);
  REQUIRE_FALSE(refused.ok());
  CHECK(refused.status().code() == absl::StatusCode::kFailedPrecondition);
  const std::string message(refused.status().message());
  INFO(message);
  CHECK(absl::StartsWith(message, "apply refused, nothing changed: "));
  CHECK(absl::StrContains(message, "flags[1] (carts): stage move from off "
                                   "to live skips dualwrite, shadow"));
  CHECK_FALSE(absl::StrContains(message, "flags[0]"));
  CHECK(f.revision() == revision);
  CHECK(f.StoreBytes() == before);
}

TEST_CASE("Apply: every refused entry is named by its path, bad input first",
          "[apply]") {
  Fixture f;
  v1::Flag bad_target = MakeFlag("orders", v1::OFF);
  bad_target.set_new_target("");
  const absl::StatusOr<v1::ApplyResponse> refused = f.registry->Apply(
      File({}, {MakeFlag("skip", v1::LIVE), bad_target,
                FlagWithSegmentRule("carts", v1::OFF, "nobody", v1::OFF)}),
      kAlice);
  REQUIRE_FALSE(refused.ok());
  CHECK(refused.status().code() == absl::StatusCode::kInvalidArgument);
  const std::string message(refused.status().message());
  INFO(message);
  CHECK(absl::StrContains(message, "flags[0] (skip): stage move"));
  CHECK(absl::StrContains(message, "flags[1].new_target"));
  CHECK(absl::StrContains(message, "flags[2].rules[0].clauses[0].values[0]: "
                                   "segment 'nobody' does not exist"));
  CHECK(f.revision() == 0);

  // Keys: required, and once per list.
  const absl::StatusOr<v1::ApplyResponse> keys = f.registry->Apply(
      File({MakeSegment("dup", {"u-1"}), MakeSegment("dup", {"u-2"})},
           {MakeFlag("", v1::OFF), MakeFlag("a", v1::OFF),
            MakeFlag("a", v1::DUALWRITE)}),
      kAlice);
  REQUIRE_FALSE(keys.ok());
  CHECK(keys.status().code() == absl::StatusCode::kInvalidArgument);
  const std::string keys_message(keys.status().message());
  INFO(keys_message);
  CHECK(absl::StrContains(
      keys_message, "segments[1].key: 'dup' is already the key of segments[0]"));
  CHECK(absl::StrContains(keys_message, "flags[0].key: required"));
  CHECK(absl::StrContains(keys_message,
                          "flags[2].key: 'a' is already the key of flags[1]"));
  CHECK(f.revision() == 0);
}

TEST_CASE("Apply: force allows a skip and the history records it",
          "[apply]") {
  Fixture f;
  v1::ApplyRequest request = File({}, {MakeFlag("orders", v1::LIVE)});
  request.set_force(true);
  const v1::ApplyResponse response = Ok(f.registry->Apply(request, kAlice));
  REQUIRE(response.results_size() == 1);
  CHECK(response.results(0).change().forced());
  CHECK(Ok(f.registry->GetFlag("orders")).default_serve().stage() ==
        v1::LIVE);
}

TEST_CASE("Apply: a dry run answers what the real run then commits",
          "[apply]") {
  Fixture f;
  Ok(f.registry->Apply(File({MakeSegment("beta", {"u-1"})},
                            {MakeFlag("carts", v1::OFF)}),
                       kAlice));
  const int64_t revision = f.revision();
  v1::ApplyRequest request =
      File({MakeSegment("beta", {"u-1", "u-2"})},
           {MakeFlag("carts", v1::DUALWRITE),
            FlagWithSegmentRule("orders", v1::OFF, "beta", v1::DUALWRITE)});
  request.set_dry_run(true);
  const v1::ApplyResponse dry = Ok(f.registry->Apply(request, kAlice));
  CHECK_FALSE(dry.committed());
  CHECK(dry.revision() == revision);
  CHECK(f.revision() == revision);
  CHECK(Ok(f.registry->GetFlag("carts")).version() == 1);

  // The revision the dry run checked makes the real run conditional.
  request.set_dry_run(false);
  request.set_expected_revision(dry.revision());
  const v1::ApplyResponse real = Ok(f.registry->Apply(request, kAlice));
  CHECK(real.committed());
  CHECK(real.revision() == revision + 1);
  REQUIRE(real.results_size() == dry.results_size());
  for (int i = 0; i < real.results_size(); ++i) {
    INFO(real.results(i).path());
    v1::ApplyResult expected = dry.results(i);
    v1::ApplyResult actual = real.results(i);
    // Only the clock may differ (the revision is the one the dry run
    // would have committed at).
    for (v1::ApplyResult* result : {&expected, &actual}) {
      v1::HistoryEntry* change = result->mutable_change();
      change->clear_time();
      if (change->has_after()) change->mutable_after()->clear_update_time();
      if (change->has_segment_after()) {
        change->mutable_segment_after()->clear_update_time();
      }
    }
    CHECK(MessageDifferencer::Equals(actual, expected));
  }

  // The same request again: the store moved since the dry run.
  const absl::StatusOr<v1::ApplyResponse> stale =
      f.registry->Apply(request, kAlice);
  REQUIRE_FALSE(stale.ok());
  CHECK(stale.status().code() == absl::StatusCode::kAborted);
  CHECK(absl::StrContains(stale.status().message(),
                          "expected_revision: the store is at revision"));
  CHECK(f.revision() == revision + 1);

  // Applied again without the condition: nothing to do, nothing written.
  request.clear_expected_revision();
  const v1::ApplyResponse again = Ok(f.registry->Apply(request, kAlice));
  CHECK_FALSE(again.committed());
  CHECK(again.revision() == revision + 1);
  for (const v1::ApplyResult& result : again.results()) {
    CHECK_FALSE(result.has_change());
  }
  CHECK(f.revision() == revision + 1);
}

TEST_CASE("Apply: the refusals of the single writes apply to each entry",
          "[apply]") {
  Fixture f;
  // A segment whose members are dual-written by a flag.
  Ok(f.registry->Apply(
      File({MakeSegment("beta", {"u-1", "u-2"})},
           {FlagWithSegmentRule("orders", v1::OFF, "beta", v1::DUALWRITE),
            MakeFlag("old", v1::OFF)}),
      kAlice));
  v1::ArchiveFlagRequest archive;
  archive.set_key("old");
  Ok(f.registry->ArchiveFlag(archive, kAlice));
  const int64_t revision = f.revision();

  // Taking u-2 out of the segment moves it from dual writes to off; an
  // archived flag cannot change.
  const absl::StatusOr<v1::ApplyResponse> refused = f.registry->Apply(
      File({MakeSegment("beta", {"u-1"})}, {MakeFlag("old", v1::OFF)}),
      kAlice);
  REQUIRE_FALSE(refused.ok());
  CHECK(refused.status().code() == absl::StatusCode::kFailedPrecondition);
  const std::string message(refused.status().message());
  INFO(message);
  CHECK(absl::StrContains(message, "segments[0] (beta): segment beta: "
                                   "replace refused"));
  CHECK(absl::StrContains(message, "flags[0] (old): flag 'old' is archived"));
  CHECK(f.revision() == revision);
}

}  // namespace
}  // namespace cutover
