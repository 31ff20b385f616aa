// Tests of cutover::SyncedFlags without a daemon: Watch events build the
// state and publish it only when complete (at SYNCED, then change by
// change), RESET starts over, segments are deleted, flags archived, the
// resume revision, loading a snapshot; and the snapshot file's atomic
// write, read back, and refusal of corrupt files.
#include "client/synced_flags.h"

#include <catch2/catch.hpp>

#include "tests/printers.h"

#include <filesystem>
#include <fstream>
#include <string>
#include <thread>
#include <vector>
#include <atomic>

#include "client/snapshot_file.h"
#include "convert/convert.h"
#include "tests/integration/harness.h"

namespace cutover {
namespace {

// A flag serving `stage` to everyone, at `version`.
v1::Flag StageFlag(const std::string& key, Stage stage, int64_t version = 1) {
  Flag flag;
  flag.key = key;
  flag.old_target = "pg";
  flag.new_target = "ddb";
  flag.enabled = true;
  flag.default_serve.stage = stage;
  flag.version = version;
  v1::Flag out;
  ToProto(flag, &out);
  return out;
}

// A flag with a rule on a segment (shadow), and a live/dualwrite rollout
// bucketed by the "tenant" attribute for everyone else.
v1::Flag RolloutFlag(const std::string& key) {
  Flag flag;
  flag.key = key;
  flag.old_target = "pg";
  flag.new_target = "ddb";
  flag.enabled = true;
  flag.bucket_by = "tenant";
  Rule rule;
  rule.id = "internal-users";
  rule.clauses.push_back(Clause{"", Operator::kInSegment, {"internal"}});
  rule.serve.stage = Stage::kShadow;
  flag.rules.push_back(rule);
  flag.default_serve.rollout =
      Rollout{{{Stage::kLive, 50000}, {Stage::kDualWrite, 50000}}};
  flag.version = 4;
  v1::Flag out;
  ToProto(flag, &out);
  return out;
}

v1::Segment InternalSegment(const std::string& member) {
  Segment segment;
  segment.key = "internal";
  segment.included = {member};
  segment.version = 1;
  v1::Segment out;
  ToProto(segment, &out);
  return out;
}

v1::WatchEvent Event(v1::WatchEvent::Kind kind, int64_t revision) {
  v1::WatchEvent event;
  event.set_kind(kind);
  event.set_revision(revision);
  return event;
}
v1::WatchEvent FlagEvent(v1::WatchEvent::Kind kind, int64_t revision,
                         const v1::Flag& flag) {
  v1::WatchEvent event = Event(kind, revision);
  *event.mutable_flag() = flag;
  return event;
}
v1::WatchEvent SegmentEvent(v1::WatchEvent::Kind kind, int64_t revision,
                            const v1::Segment& segment) {
  v1::WatchEvent event = Event(kind, revision);
  *event.mutable_segment() = segment;
  return event;
}

Context User(const std::string& key, const std::string& tenant = "") {
  Context context{key, {}};
  if (!tenant.empty()) context.attributes["tenant"] = tenant;
  return context;
}

// The core's own answer for `flag` (what the daemon computes).
Decision CoreDecision(const v1::Flag& flag, const SegmentIndex& segments,
                      const Context& context) {
  auto compiled = CompileFlag(FromProto(flag));
  REQUIRE(compiled.ok());
  return Decide(**compiled, segments, context);
}

TEST_CASE("events before SYNCED are published only at SYNCED",
          "[synced_flags]") {
  SyncedFlags synced;
  CHECK(synced.snapshot() == nullptr);
  CHECK(synced.resume_revision() == 0);
  CHECK(!synced.Decide("orders", User("u-1")).has_value());

  synced.BeginStream();
  CHECK(!synced.Apply(Event(v1::WatchEvent::RESET, 7)));
  CHECK(!synced.Apply(FlagEvent(v1::WatchEvent::FLAG_UPSERTED, 3,
                                StageFlag("orders", Stage::kComplete))));
  // Not yet: half a state is never seen.
  CHECK(synced.snapshot() == nullptr);
  CHECK(synced.Apply(Event(v1::WatchEvent::SYNCED, 7)));
  REQUIRE(synced.snapshot() != nullptr);
  CHECK(synced.snapshot()->revision() == 7);
  CHECK(synced.resume_revision() == 7);
  const auto decision = synced.Decide("orders", User("u-1"));
  REQUIRE(decision.has_value());
  CHECK(decision->stage == Stage::kComplete);
  CHECK(decision->reason == Reason::kDefault);
  CHECK(decision->flag_version == 1);
  CHECK(decision->old_target == "pg");
  CHECK(!synced.Decide("billing", User("u-1")).has_value());

  // After SYNCED each change is published at once, at its revision.
  CHECK(!synced.Apply(Event(v1::WatchEvent::HEARTBEAT, 7)));
  CHECK(synced.Apply(FlagEvent(v1::WatchEvent::FLAG_UPSERTED, 8,
                               StageFlag("orders", Stage::kRampDown, 2))));
  CHECK(synced.snapshot()->revision() == 8);
  CHECK(synced.resume_revision() == 8);
  CHECK(synced.Decide("orders", User("u-1"))->stage == Stage::kRampDown);
  CHECK(synced.Decide("orders", User("u-1"))->flag_version == 2);
}

TEST_CASE("a revision of several changes is published whole, at its last "
          "event",
          "[synced_flags]") {
  SyncedFlags synced;
  synced.BeginStream();
  CHECK(synced.Apply(Event(v1::WatchEvent::SYNCED, 7)));
  // An Apply: a new segment and the flag that names it, one revision.
  v1::WatchEvent segment =
      SegmentEvent(v1::WatchEvent::SEGMENT_UPSERTED, 8, InternalSegment("u-1"));
  segment.set_more_in_revision(true);
  v1::WatchEvent flag =
      FlagEvent(v1::WatchEvent::FLAG_UPSERTED, 8, RolloutFlag("orders"));
  CHECK_FALSE(synced.Apply(segment));
  CHECK(synced.snapshot()->revision() == 7);
  CHECK(synced.snapshot()->segment_count() == 0);
  CHECK(synced.resume_revision() == 7);

  // The stream breaks mid-step: the new stream resumes from 7, and what
  // the broken one gathered is dropped (the daemon replays the step whole;
  // here it has nothing to replay, so nothing changes).
  synced.BeginStream();
  CHECK(synced.Apply(Event(v1::WatchEvent::SYNCED, 7)));
  CHECK(synced.snapshot()->segment_count() == 0);
  CHECK_FALSE(synced.Apply(segment));
  CHECK(synced.snapshot()->segment_count() == 0);
  CHECK(synced.Apply(flag));
  CHECK(synced.snapshot()->revision() == 8);
  CHECK(synced.resume_revision() == 8);
  CHECK(synced.snapshot()->segment_count() == 1);
  const auto member = synced.Decide("orders", User("u-1"));
  REQUIRE(member.has_value());
  CHECK(member->stage == Stage::kShadow);
}

TEST_CASE("current(): readers on many threads see each published state, "
          "in order, while the Watch thread publishes",
          "[synced_flags]") {
  SyncedFlags synced;
  CHECK(synced.current() == nullptr);
  synced.BeginStream();
  REQUIRE(synced.Apply(Event(v1::WatchEvent::SYNCED, 1)));
  constexpr int kChanges = 300;
  std::atomic<bool> done{false};
  std::vector<std::thread> readers;
  std::atomic<int> regressions{0};
  std::atomic<int> wrong{0};
  for (int t = 0; t < 4; ++t) {
    readers.emplace_back([&] {
      int64_t last = 0;
      // Bounded: at most 10^7 reads.
      for (int n = 0; n < 10000000 && !done.load(); ++n) {
        const SyncedState* state = synced.current();
        if (state == nullptr || state->revision() < last) ++regressions;
        if (state == nullptr) continue;
        last = state->revision();
        // The flag's version is its revision here; a decision made from
        // the state pointer matches the state it came from.
        Decision decision;
        if (state->DecideInto("orders", User("u-1"), decision) &&
            decision.reason != Reason::kFlagNotFound &&
            decision.flag_version != state->revision()) {
          ++wrong;
        }
      }
    });
  }
  for (int r = 2; r <= kChanges; ++r) {
    synced.Apply(FlagEvent(v1::WatchEvent::FLAG_UPSERTED, r,
                           StageFlag("orders", Stage::kDualWrite, r)));
  }
  done = true;
  for (std::thread& reader : readers) reader.join();
  CHECK(regressions == 0);
  CHECK(wrong == 0);
  REQUIRE(synced.current() != nullptr);
  CHECK(synced.current()->revision() == kChanges);
  // Another object on the same thread has its own state.
  SyncedFlags other;
  CHECK(other.current() == nullptr);
  CHECK(synced.current()->revision() == kChanges);
}

TEST_CASE("rules, segments and a rollout decide as the core does",
          "[synced_flags]") {
  SyncedFlags synced;
  synced.BeginStream();
  synced.Apply(Event(v1::WatchEvent::RESET, 5));
  synced.Apply(SegmentEvent(v1::WatchEvent::SEGMENT_UPSERTED, 2,
                            InternalSegment("u-in")));
  const v1::Flag flag = RolloutFlag("orders");
  synced.Apply(FlagEvent(v1::WatchEvent::FLAG_UPSERTED, 4, flag));
  synced.Apply(Event(v1::WatchEvent::SYNCED, 5));

  auto segment = CompileSegment(FromProto(InternalSegment("u-in")));
  REQUIRE(segment.ok());
  const SegmentIndex segments{{"internal", *segment}};
  const auto in_rule = synced.Decide("orders", User("u-in", "acme"));
  REQUIRE(in_rule.has_value());
  CHECK(in_rule->stage == Stage::kShadow);
  CHECK(in_rule->reason == Reason::kRuleMatch);
  CHECK(in_rule->rule_id == "internal-users");
  CHECK(in_rule->flag_version == 4);
  int live = 0;
  for (int i = 0; i < 200; ++i) {
    const Context user = User("u-" + std::to_string(i), "t-" + std::to_string(i));
    const auto local = synced.Decide("orders", user);
    const Decision core = CoreDecision(flag, segments, user);
    REQUIRE(local.has_value());
    CHECK(local->stage == core.stage);
    CHECK(local->bucket == core.bucket);
    CHECK(local->reason == Reason::kSplit);
    live += local->stage == Stage::kLive;
  }
  CHECK(live > 50);
  CHECK(live < 150);

  // The segment deleted: the rule matches nobody.
  CHECK(synced.Apply(SegmentEvent(v1::WatchEvent::SEGMENT_DELETED, 6,
                                  InternalSegment("u-in"))));
  CHECK(synced.snapshot()->segment_count() == 0);
  const auto after = synced.Decide("orders", User("u-in", "acme"));
  REQUIRE(after.has_value());
  CHECK(after->reason == Reason::kSplit);
  CHECK(after->rule_id.empty());
}

TEST_CASE("an archived flag answers off, FLAG_NOT_FOUND, as the daemon does",
          "[synced_flags]") {
  SyncedFlags synced;
  synced.BeginStream();
  synced.Apply(Event(v1::WatchEvent::RESET, 2));
  synced.Apply(FlagEvent(v1::WatchEvent::FLAG_UPSERTED, 2,
                         StageFlag("orders", Stage::kComplete)));
  synced.Apply(Event(v1::WatchEvent::SYNCED, 2));
  CHECK(synced.Apply(FlagEvent(v1::WatchEvent::FLAG_ARCHIVED, 3,
                               StageFlag("orders", Stage::kComplete, 2))));
  const auto decision = synced.Decide("orders", User("u-1"));
  REQUIRE(decision.has_value());
  CHECK(decision->stage == Stage::kOff);
  CHECK(decision->reason == Reason::kFlagNotFound);
  CHECK(synced.snapshot()->Contains("orders"));
  // Kept in the snapshot file's message, as archived.
  const v1::ClientSnapshot message = synced.snapshot()->ToMessage();
  REQUIRE(message.flags_size() == 1);
  CHECK(message.flags(0).archived());
  CHECK(message.revision() == 3);
}

TEST_CASE("each flag key keeps one counter slot across changes, archiving "
          "and RESETs, DecideInto gives it, and slot 0 for an unknown key",
          "[synced_flags]") {
  SyncedFlags synced;
  synced.BeginStream();
  synced.Apply(Event(v1::WatchEvent::RESET, 2));
  synced.Apply(FlagEvent(v1::WatchEvent::FLAG_UPSERTED, 1,
                         StageFlag("orders", Stage::kLive)));
  synced.Apply(FlagEvent(v1::WatchEvent::FLAG_UPSERTED, 2,
                         StageFlag("carts", Stage::kShadow)));
  synced.Apply(Event(v1::WatchEvent::SYNCED, 2));
  auto slot_of = [&](const std::string& key) {
    Decision decision;
    uint32_t slot = 12345;
    REQUIRE(synced.snapshot()->DecideInto(key, User("u"), decision, &slot));
    return slot;
  };
  const uint32_t orders = slot_of("orders");
  const uint32_t carts = slot_of("carts");
  CHECK(orders != FlagCounterSlots::kUnknownSlot);
  CHECK(carts != FlagCounterSlots::kUnknownSlot);
  CHECK(orders != carts);
  CHECK(slot_of("no-such-flag") == FlagCounterSlots::kUnknownSlot);
  // A change, then archiving: the same slot (an archived flag is counted
  // under its own key, as the daemon counts it).
  synced.Apply(FlagEvent(v1::WatchEvent::FLAG_UPSERTED, 3,
                         StageFlag("orders", Stage::kRampDown, 2)));
  CHECK(slot_of("orders") == orders);
  synced.Apply(FlagEvent(v1::WatchEvent::FLAG_ARCHIVED, 4,
                         StageFlag("carts", Stage::kShadow, 2)));
  CHECK(slot_of("carts") == carts);
  // A RESET that brings orders back: still its slot; carts is gone.
  synced.BeginStream();
  synced.Apply(Event(v1::WatchEvent::RESET, 5));
  synced.Apply(FlagEvent(v1::WatchEvent::FLAG_UPSERTED, 5,
                         StageFlag("orders", Stage::kComplete, 3)));
  synced.Apply(Event(v1::WatchEvent::SYNCED, 5));
  CHECK(slot_of("orders") == orders);
  CHECK(slot_of("carts") == FlagCounterSlots::kUnknownSlot);
  std::vector<std::string> keys;
  synced.counter_slots().AppendKeys(keys);
  REQUIRE(keys.size() == 3);
  CHECK(keys[orders] == "orders");
  CHECK(keys[carts] == "carts");
  CHECK(keys[FlagCounterSlots::kUnknownSlot] == "(unknown)");
}

TEST_CASE("a RESET replaces everything at its SYNCED, a replay builds on the "
          "published state, a broken stream's pending events are dropped",
          "[synced_flags]") {
  SyncedFlags synced;
  synced.BeginStream();
  synced.Apply(Event(v1::WatchEvent::RESET, 10));
  synced.Apply(SegmentEvent(v1::WatchEvent::SEGMENT_UPSERTED, 1,
                            InternalSegment("u-in")));
  synced.Apply(FlagEvent(v1::WatchEvent::FLAG_UPSERTED, 9,
                         StageFlag("orders", Stage::kLive)));
  synced.Apply(FlagEvent(v1::WatchEvent::FLAG_UPSERTED, 10,
                         StageFlag("billing", Stage::kShadow)));
  synced.Apply(Event(v1::WatchEvent::SYNCED, 10));
  REQUIRE(synced.snapshot()->flag_count() == 2);

  SECTION("a replay: changes after the resume revision, on top") {
    synced.BeginStream();
    synced.Apply(FlagEvent(v1::WatchEvent::FLAG_UPSERTED, 11,
                           StageFlag("orders", Stage::kRampDown, 2)));
    // Still the old state until SYNCED.
    CHECK(synced.Decide("orders", User("u"))->stage == Stage::kLive);
    synced.Apply(Event(v1::WatchEvent::SYNCED, 11));
    CHECK(synced.Decide("orders", User("u"))->stage == Stage::kRampDown);
    CHECK(synced.Decide("billing", User("u"))->stage == Stage::kShadow);
    CHECK(synced.snapshot()->segment_count() == 1);
  }
  SECTION("a RESET: only what follows it remains") {
    synced.BeginStream();
    synced.Apply(Event(v1::WatchEvent::RESET, 3));
    synced.Apply(FlagEvent(v1::WatchEvent::FLAG_UPSERTED, 3,
                           StageFlag("orders", Stage::kDualWrite)));
    CHECK(synced.Decide("billing", User("u"))->stage == Stage::kShadow);
    synced.Apply(Event(v1::WatchEvent::SYNCED, 3));
    // The daemon's revisions went back (another store): its state wins.
    CHECK(synced.snapshot()->revision() == 3);
    CHECK(synced.resume_revision() == 3);
    CHECK(synced.Decide("orders", User("u"))->stage == Stage::kDualWrite);
    CHECK(!synced.Decide("billing", User("u")).has_value());
    CHECK(synced.snapshot()->segment_count() == 0);
  }
  SECTION("a stream broken before its SYNCED changes nothing") {
    synced.BeginStream();
    synced.Apply(Event(v1::WatchEvent::RESET, 12));
    synced.Apply(FlagEvent(v1::WatchEvent::FLAG_UPSERTED, 12,
                           StageFlag("orders", Stage::kComplete, 3)));
    // Broken here; the next stream resumes from the published revision.
    CHECK(synced.resume_revision() == 10);
    synced.BeginStream();
    synced.Apply(FlagEvent(v1::WatchEvent::FLAG_UPSERTED, 12,
                           StageFlag("orders", Stage::kComplete, 3)));
    synced.Apply(Event(v1::WatchEvent::SYNCED, 12));
    CHECK(synced.Decide("orders", User("u"))->stage == Stage::kComplete);
    CHECK(synced.Decide("billing", User("u"))->stage == Stage::kShadow);
  }
}

TEST_CASE("a loaded snapshot is served but never resumed from, and the "
          "first SYNCED replaces it",
          "[synced_flags]") {
  v1::ClientSnapshot file;
  file.set_revision(50);
  *file.add_flags() = StageFlag("orders", Stage::kComplete, 6);
  *file.add_segments() = InternalSegment("u-in");
  SyncedFlags synced;
  CHECK(synced.Load(file) == 0);
  CHECK(synced.snapshot()->revision() == 50);
  CHECK(synced.resume_revision() == 0);
  CHECK(synced.Decide("orders", User("u"))->stage == Stage::kComplete);
  CHECK(synced.Decide("orders", User("u"))->flag_version == 6);

  // The daemon is behind the file (another store): replaced whole.
  synced.BeginStream();
  synced.Apply(Event(v1::WatchEvent::RESET, 4));
  synced.Apply(FlagEvent(v1::WatchEvent::FLAG_UPSERTED, 4,
                         StageFlag("orders", Stage::kLive, 2)));
  CHECK(synced.Decide("orders", User("u"))->stage == Stage::kComplete);
  synced.Apply(Event(v1::WatchEvent::SYNCED, 4));
  CHECK(synced.snapshot()->revision() == 4);
  CHECK(synced.Decide("orders", User("u"))->stage == Stage::kLive);
  CHECK(synced.snapshot()->segment_count() == 0);
}

TEST_CASE("with held keys only those flags are kept, from a stream or a "
          "file, and a flag not held is left to the caller, not answered "
          "as not found",
          "[synced_flags]") {
  SyncedFlags synced({"orders", "gone"});
  CHECK(synced.Holds("orders"));
  CHECK_FALSE(synced.Holds("payments"));

  // A file written without the list: what is not held is left out.
  v1::ClientSnapshot file;
  file.set_revision(7);
  *file.add_flags() = StageFlag("orders", Stage::kLive, 3);
  *file.add_flags() = StageFlag("payments", Stage::kComplete, 2);
  CHECK(synced.Load(file) == 0);
  CHECK(synced.snapshot()->flag_count() == 1);
  CHECK_FALSE(synced.snapshot()->Contains("payments"));

  // A stream that sends a flag not held (a server ignoring the list): not
  // followed; the held ones are.
  synced.BeginStream();
  synced.Apply(Event(v1::WatchEvent::RESET, 9));
  synced.Apply(FlagEvent(v1::WatchEvent::FLAG_UPSERTED, 9,
                         StageFlag("orders", Stage::kShadow, 4)));
  synced.Apply(FlagEvent(v1::WatchEvent::FLAG_UPSERTED, 9,
                         StageFlag("payments", Stage::kComplete, 2)));
  synced.Apply(Event(v1::WatchEvent::SYNCED, 9));
  synced.Apply(FlagEvent(v1::WatchEvent::FLAG_ARCHIVED, 10,
                         StageFlag("payments", Stage::kComplete, 3)));
  const std::shared_ptr<const SyncedState> state = synced.snapshot();
  CHECK(state->flag_count() == 1);
  CHECK_FALSE(state->Contains("payments"));

  Decision decision;
  REQUIRE(state->DecideInto("orders", User("u"), decision));
  CHECK(decision.stage == Stage::kShadow);
  CHECK(decision.flag_version == 4);
  // Held but not in the state: the daemon does not have it either.
  REQUIRE(state->DecideInto("gone", User("u"), decision));
  CHECK(decision.reason == Reason::kFlagNotFound);
  // Not held: not known to be missing; the caller must ask the daemon.
  decision.stage = Stage::kRampDown;
  CHECK_FALSE(state->DecideInto("payments", User("u"), decision));
  CHECK(decision.stage == Stage::kRampDown);  // untouched
  CHECK_FALSE(state->Decide("payments", User("u")).has_value());

  // Without a list every flag is held.
  SyncedFlags every;
  CHECK(every.Holds("payments"));
  every.Load(file);
  CHECK(every.snapshot()->flag_count() == 2);
}

TEST_CASE("the snapshot file: written atomically, read back, corrupt files "
          "refused",
          "[synced_flags][snapshot_file]") {
  testing::TempDir dir;
  const std::string path = dir.path() + "/flags.snapshot";
  auto missing = ReadSnapshotFile(path);
  REQUIRE(missing.ok());
  CHECK(!missing->has_value());

  v1::ClientSnapshot snapshot;
  snapshot.set_revision(9);
  *snapshot.add_flags() = RolloutFlag("orders");
  *snapshot.add_segments() = InternalSegment("u-in");
  REQUIRE(WriteSnapshotFile(path, snapshot).ok());
  // Nothing left behind but the file.
  int files = 0;
  for (const auto& entry : std::filesystem::directory_iterator(dir.path())) {
    (void)entry;
    ++files;
  }
  CHECK(files == 1);
  auto read = ReadSnapshotFile(path);
  REQUIRE(read.ok());
  REQUIRE(read->has_value());
  CHECK((*read)->revision() == 9);
  REQUIRE((*read)->flags_size() == 1);
  CHECK((*read)->flags(0).key() == "orders");
  CHECK((*read)->segments_size() == 1);

  std::string bytes;
  {
    std::ifstream in(path, std::ios::binary);
    bytes.assign(std::istreambuf_iterator<char>(in),
                 std::istreambuf_iterator<char>());
  }
  SECTION("garbage") {
    std::ofstream(path, std::ios::binary | std::ios::trunc)
        << "\xff\xff\xff not a snapshot";
    CHECK(ReadSnapshotFile(path).status().code() ==
          absl::StatusCode::kDataLoss);
  }
  SECTION("empty") {
    std::ofstream(path, std::ios::binary | std::ios::trunc);
    CHECK(ReadSnapshotFile(path).status().code() ==
          absl::StatusCode::kDataLoss);
  }
  SECTION("cut short at every length") {
    for (size_t length = 0; length < bytes.size(); ++length) {
      std::ofstream(path, std::ios::binary | std::ios::trunc)
          << bytes.substr(0, length);
      INFO("length " << length);
      CHECK(!ReadSnapshotFile(path).ok());
    }
  }
  SECTION("a folder that does not exist: an error, nothing written") {
    CHECK(!WriteSnapshotFile(dir.path() + "/nope/flags.snapshot", snapshot)
               .ok());
  }
}

}  // namespace
}  // namespace cutover
