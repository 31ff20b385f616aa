// Tests of the ChangeHub: snapshot swaps, Watch catch-up and fan-out.
#include "server/change_hub.h"

#include <catch2/catch.hpp>
#include <cstdint>
#include <memory>
#include <ostream>
#include <string>
#include <utility>
#include <vector>

#include "cutover/v1/cutover.pb.h"
#include "server/api_edge.h"
#include "server/snapshot.h"

namespace cutover {
namespace {

using Kind = v1::WatchEvent::Kind;

// What a test expects one delivered event to be: kind, revision, and the
// key of the flag or segment it carries ("" for none).
struct Seen {
  Kind kind;
  int64_t revision;
  std::string key;

  bool operator==(const Seen& other) const {
    return kind == other.kind && revision == other.revision &&
           key == other.key;
  }
};

std::ostream& operator<<(std::ostream& out, const Seen& seen) {
  return out << "{" << v1::WatchEvent::Kind_Name(seen.kind) << " @"
             << seen.revision << " '" << seen.key << "'}";
}

// Records what the hub sends; the Watch stream's test double.
class RecordingSubscriber : public ChangeHub::Subscriber {
 public:
  void Deliver(const v1::WatchEvent& event) override {
    std::string key;
    if (event.has_flag()) key = event.flag().key();
    if (event.has_segment()) key = event.segment().key();
    seen.push_back({event.kind(), event.revision(), std::move(key)});
    events.push_back(event);
  }
  void Close() override { ++closes; }

  std::vector<Seen> seen;
  std::vector<v1::WatchEvent> events;
  int closes = 0;
};

v1::Flag MakeFlag(const std::string& key, int64_t revision, bool archived) {
  v1::Flag flag;
  flag.set_key(key);
  flag.set_old_target("postgres-orders");
  flag.set_new_target("dynamodb-orders");
  flag.set_enabled(true);
  flag.mutable_default_serve()->set_stage(v1::OFF);
  flag.set_version(1);
  flag.set_revision(revision);
  flag.set_archived(archived);
  return flag;
}

v1::Segment MakeSegment(const std::string& key, int64_t revision) {
  v1::Segment segment;
  segment.set_key(key);
  segment.add_included("user-1");
  segment.set_version(1);
  segment.set_revision(revision);
  return segment;
}

void AddFlag(Snapshot& snapshot, const v1::Flag& flag) {
  // The hub never evaluates, so no compiled flag is needed.
  snapshot.flags = snapshot.flags.With(
      flag.key(),
      std::make_shared<const FlagEntry>(FlagEntry{FromApi(flag), nullptr, ""}));
}

v1::WatchEvent FlagEvent(int64_t revision, const std::string& key) {
  v1::WatchEvent event;
  event.set_kind(v1::WatchEvent::FLAG_UPSERTED);
  event.set_revision(revision);
  *event.mutable_flag() = MakeFlag(key, revision, false);
  return event;
}

// A snapshot at revision 7 with segments and flags inserted out of key
// order and one archived flag.
std::shared_ptr<const Snapshot> StateAt7() {
  auto snapshot = std::make_shared<Snapshot>();
  snapshot->revision = 7;
  snapshot->segment_records["testers"] =
      std::make_shared<const SegmentRecord>(FromApi(MakeSegment("testers", 2)));
  snapshot->segment_records["beta"] =
      std::make_shared<const SegmentRecord>(FromApi(MakeSegment("beta", 6)));
  AddFlag(*snapshot, MakeFlag("payments", 7, false));
  AddFlag(*snapshot, MakeFlag("old-carts", 5, true));
  AddFlag(*snapshot, MakeFlag("orders", 4, false));
  AddFlag(*snapshot, MakeFlag("accounts", 3, false));
  return snapshot;
}

// Changes 3..7, of which a ring of 3 keeps 5, 6, 7.
std::vector<v1::WatchEvent> ChangesThrough7() {
  return {FlagEvent(3, "accounts"), FlagEvent(4, "orders"),
          FlagEvent(5, "old-carts"), FlagEvent(6, "beta"),
          FlagEvent(7, "payments")};
}

constexpr size_t kRing = 3;

const std::vector<Seen> kResetAt7 = {
    {v1::WatchEvent::RESET, 7, ""},
    {v1::WatchEvent::SEGMENT_UPSERTED, 6, "beta"},
    {v1::WatchEvent::SEGMENT_UPSERTED, 2, "testers"},
    {v1::WatchEvent::FLAG_UPSERTED, 3, "accounts"},
    {v1::WatchEvent::FLAG_UPSERTED, 4, "orders"},
    {v1::WatchEvent::FLAG_UPSERTED, 7, "payments"},
    {v1::WatchEvent::SYNCED, 7, ""},
};

TEST_CASE("ChangeHub: Subscribe catches up from the ring or with a RESET",
          "[change_hub]") {
  struct Case {
    const char* name;
    int64_t from_revision;
    bool reset;
    std::vector<Seen> seen;
  };
  const std::vector<Case> cases = {
      {"from 0: the whole state", 0, true, kResetAt7},
      {"from the current revision: nothing to replay", 7, false,
       {{v1::WatchEvent::SYNCED, 7, ""}}},
      {"from inside the ring", 5, false,
       {{v1::WatchEvent::FLAG_UPSERTED, 6, "beta"},
        {v1::WatchEvent::FLAG_UPSERTED, 7, "payments"},
        {v1::WatchEvent::SYNCED, 7, ""}}},
      {"from just before the oldest kept", 4, false,
       {{v1::WatchEvent::FLAG_UPSERTED, 5, "old-carts"},
        {v1::WatchEvent::FLAG_UPSERTED, 6, "beta"},
        {v1::WatchEvent::FLAG_UPSERTED, 7, "payments"},
        {v1::WatchEvent::SYNCED, 7, ""}}},
      {"from older than the ring (revision 4 is gone)", 3, true, kResetAt7},
      {"from much older than the ring", 1, true, kResetAt7},
      {"from the future", 8, true, kResetAt7},
      {"from far in the future", 1000, true, kResetAt7},
      {"from a negative revision", -1, true, kResetAt7},
  };
  for (const Case& c : cases) {
    DYNAMIC_SECTION(c.name) {
      ChangeHub hub(StateAt7(), ChangesThrough7(), kRing);
      RecordingSubscriber subscriber;
      CHECK(hub.Subscribe(&subscriber, c.from_revision) == c.reset);
      CHECK(subscriber.seen == c.seen);
      CHECK(subscriber.closes == 0);
      CHECK(hub.subscriber_count() == 1);
      hub.Unsubscribe(&subscriber);
    }
  }
}

TEST_CASE("ChangeHub: a RESET carries the full flags and segments",
          "[change_hub]") {
  auto state = StateAt7();
  ChangeHub hub(state, ChangesThrough7(), kRing);
  RecordingSubscriber subscriber;
  REQUIRE(hub.Subscribe(&subscriber, 0));
  REQUIRE(subscriber.events.size() == kResetAt7.size());
  v1::Segment beta;
  ToApi(*state->segment_records.at("beta"), &beta);
  v1::Flag orders;
  ToApi(state->flags.Find("orders")->second->record, &orders);
  CHECK(subscriber.events[1].segment().SerializeAsString() ==
        beta.SerializeAsString());
  CHECK(subscriber.events[4].flag().SerializeAsString() ==
        orders.SerializeAsString());
  // Flag events carry no segment and segment events no flag.
  CHECK_FALSE(subscriber.events[1].has_flag());
  CHECK_FALSE(subscriber.events[4].has_segment());
  hub.Unsubscribe(&subscriber);
}

TEST_CASE("ChangeHub: an empty hub resets to revision 0", "[change_hub]") {
  ChangeHub hub(std::make_shared<const Snapshot>(), {}, kRing);
  for (int64_t from : {0, 1}) {
    RecordingSubscriber subscriber;
    CHECK(hub.Subscribe(&subscriber, from));
    CHECK(subscriber.seen == std::vector<Seen>{{v1::WatchEvent::RESET, 0, ""},
                                               {v1::WatchEvent::SYNCED, 0, ""}});
    hub.Unsubscribe(&subscriber);
  }
}

TEST_CASE("ChangeHub: a hub with no kept changes replays nothing and "
          "resets the past",
          "[change_hub]") {
  // As after a restart whose store kept no changes: revision 7, empty ring.
  ChangeHub hub(StateAt7(), {}, kRing);
  RecordingSubscriber current;
  CHECK_FALSE(hub.Subscribe(&current, 7));
  CHECK(current.seen == std::vector<Seen>{{v1::WatchEvent::SYNCED, 7, ""}});
  RecordingSubscriber behind;
  CHECK(hub.Subscribe(&behind, 6));
  CHECK(behind.seen == kResetAt7);
  hub.Unsubscribe(&current);
  hub.Unsubscribe(&behind);
}

TEST_CASE("ChangeHub: Publish swaps the snapshot and delivers to every "
          "subscriber",
          "[change_hub]") {
  ChangeHub hub(StateAt7(), ChangesThrough7(), kRing);
  auto before = hub.snapshot();
  REQUIRE(before->revision == 7);

  RecordingSubscriber a;
  RecordingSubscriber b;
  REQUIRE_FALSE(hub.Subscribe(&a, 7));
  REQUIRE_FALSE(hub.Subscribe(&b, 7));
  CHECK(hub.subscriber_count() == 2);

  auto next = std::make_shared<Snapshot>(*before);
  next->revision = 8;
  AddFlag(*next, MakeFlag("carts", 8, false));
  hub.Publish(next, {FlagEvent(8, "carts")});

  CHECK(hub.snapshot() == next);
  CHECK(hub.snapshot()->revision == 8);
  // The old snapshot, still held, is untouched.
  CHECK(before->revision == 7);
  CHECK(before->flags.Find("carts") == nullptr);

  const std::vector<Seen> expected = {
      {v1::WatchEvent::SYNCED, 7, ""},
      {v1::WatchEvent::FLAG_UPSERTED, 8, "carts"}};
  CHECK(a.seen == expected);
  CHECK(b.seen == expected);

  // The ring now holds 6, 7, 8: a newcomer from 5 replays them, one from 4
  // (revision 5 fell out) gets a RESET at revision 8.
  RecordingSubscriber late;
  CHECK_FALSE(hub.Subscribe(&late, 5));
  CHECK(late.seen == std::vector<Seen>{
                         {v1::WatchEvent::FLAG_UPSERTED, 6, "beta"},
                         {v1::WatchEvent::FLAG_UPSERTED, 7, "payments"},
                         {v1::WatchEvent::FLAG_UPSERTED, 8, "carts"},
                         {v1::WatchEvent::SYNCED, 8, ""}});
  RecordingSubscriber older;
  CHECK(hub.Subscribe(&older, 4));
  REQUIRE_FALSE(older.seen.empty());
  CHECK(older.seen.front() == Seen{v1::WatchEvent::RESET, 8, ""});
  CHECK(older.seen.back() == Seen{v1::WatchEvent::SYNCED, 8, ""});
  CHECK(older.seen.size() == kResetAt7.size() + 1);  // plus "carts"

  for (auto* s : {&a, &b, &late, &older}) hub.Unsubscribe(s);
}

TEST_CASE("ChangeHub: a revision of several changes is delivered, kept and "
          "dropped as one step",
          "[change_hub]") {
  ChangeHub hub(StateAt7(), ChangesThrough7(), kRing);
  RecordingSubscriber live;
  REQUIRE_FALSE(hub.Subscribe(&live, 7));
  auto next = std::make_shared<Snapshot>(*hub.snapshot());
  next->revision = 8;
  hub.Publish(next, {FlagEvent(8, "a"), FlagEvent(8, "b")});
  REQUIRE(live.events.size() == 3);
  CHECK(live.events[1].more_in_revision());
  CHECK_FALSE(live.events[2].more_in_revision());
  hub.Unsubscribe(&live);

  // The ring (3 events) holds 7, 8, 8: resuming from 7 replays the step
  // whole; from 6 the revision 7's event is there, so that replays too.
  RecordingSubscriber from7;
  CHECK_FALSE(hub.Subscribe(&from7, 7));
  CHECK(from7.seen == std::vector<Seen>{
                          {v1::WatchEvent::FLAG_UPSERTED, 8, "a"},
                          {v1::WatchEvent::FLAG_UPSERTED, 8, "b"},
                          {v1::WatchEvent::SYNCED, 8, ""}});
  CHECK(from7.events[0].more_in_revision());
  hub.Unsubscribe(&from7);

  // A step of three makes room by dropping whole revisions: the ring keeps
  // only revision 9, never the tail of 8.
  auto after = std::make_shared<Snapshot>(*hub.snapshot());
  after->revision = 9;
  hub.Publish(after,
              {FlagEvent(9, "c"), FlagEvent(9, "d"), FlagEvent(9, "e")});
  RecordingSubscriber from8;
  CHECK_FALSE(hub.Subscribe(&from8, 8));
  CHECK(from8.seen.size() == 4);  // 9 three times, SYNCED
  RecordingSubscriber from7again;
  CHECK(hub.Subscribe(&from7again, 7));  // 8 is gone: a RESET
  for (auto* s : {&from8, &from7again}) hub.Unsubscribe(s);

  // A step larger than the ring is not kept at all: resuming from before
  // it resets, from it replays nothing.
  auto big = std::make_shared<Snapshot>(*hub.snapshot());
  big->revision = 10;
  hub.Publish(big, {FlagEvent(10, "f"), FlagEvent(10, "g"),
                    FlagEvent(10, "h"), FlagEvent(10, "i")});
  RecordingSubscriber from9;
  CHECK(hub.Subscribe(&from9, 9));
  RecordingSubscriber from10;
  CHECK_FALSE(hub.Subscribe(&from10, 10));
  CHECK(from10.seen == std::vector<Seen>{{v1::WatchEvent::SYNCED, 10, ""}});
  for (auto* s : {&from9, &from10}) hub.Unsubscribe(s);
}

TEST_CASE("ChangeHub: Unsubscribe stops delivery", "[change_hub]") {
  ChangeHub hub(StateAt7(), ChangesThrough7(), kRing);
  RecordingSubscriber stays;
  RecordingSubscriber leaves;
  REQUIRE_FALSE(hub.Subscribe(&stays, 7));
  REQUIRE_FALSE(hub.Subscribe(&leaves, 7));
  hub.Unsubscribe(&leaves);
  CHECK(hub.subscriber_count() == 1);
  hub.Unsubscribe(&leaves);  // twice is harmless
  CHECK(hub.subscriber_count() == 1);

  auto next = std::make_shared<Snapshot>(*hub.snapshot());
  next->revision = 8;
  hub.Publish(next, {FlagEvent(8, "orders")});
  hub.Heartbeat();

  CHECK(leaves.seen == std::vector<Seen>{{v1::WatchEvent::SYNCED, 7, ""}});
  CHECK(stays.seen == std::vector<Seen>{
                          {v1::WatchEvent::SYNCED, 7, ""},
                          {v1::WatchEvent::FLAG_UPSERTED, 8, "orders"},
                          {v1::WatchEvent::HEARTBEAT, 8, ""}});
  CHECK(leaves.closes == 0);
  hub.Unsubscribe(&stays);
  CHECK(hub.subscriber_count() == 0);
}

TEST_CASE("ChangeHub: Heartbeat sends the current revision to every "
          "subscriber",
          "[change_hub]") {
  ChangeHub hub(StateAt7(), ChangesThrough7(), kRing);
  hub.Heartbeat();  // nobody listening: nothing to do

  RecordingSubscriber a;
  RecordingSubscriber b;
  REQUIRE_FALSE(hub.Subscribe(&a, 7));
  REQUIRE(hub.Subscribe(&b, 0));
  a.seen.clear();
  b.seen.clear();

  hub.Heartbeat();
  const std::vector<Seen> at7 = {{v1::WatchEvent::HEARTBEAT, 7, ""}};
  CHECK(a.seen == at7);
  CHECK(b.seen == at7);

  auto next = std::make_shared<Snapshot>(*hub.snapshot());
  next->revision = 9;
  hub.Publish(next, {FlagEvent(9, "orders")});
  hub.Heartbeat();
  CHECK(a.seen.back() == Seen{v1::WatchEvent::HEARTBEAT, 9, ""});
  CHECK(a.seen.size() == 3);
  hub.Unsubscribe(&a);
  hub.Unsubscribe(&b);
}

TEST_CASE("ChangeHub: CloseAll closes every subscriber and refuses "
          "newcomers",
          "[change_hub]") {
  ChangeHub hub(StateAt7(), ChangesThrough7(), kRing);
  RecordingSubscriber a;
  RecordingSubscriber b;
  REQUIRE_FALSE(hub.Subscribe(&a, 7));
  REQUIRE_FALSE(hub.Subscribe(&b, 7));

  hub.CloseAll();
  CHECK(a.closes == 1);
  CHECK(b.closes == 1);
  CHECK(hub.subscriber_count() == 0);

  // Closed subscribers hear nothing more.
  auto next = std::make_shared<Snapshot>(*hub.snapshot());
  next->revision = 8;
  hub.Publish(next, {FlagEvent(8, "orders")});
  hub.Heartbeat();
  CHECK(a.seen == std::vector<Seen>{{v1::WatchEvent::SYNCED, 7, ""}});
  CHECK(b.seen == a.seen);

  // A newcomer is closed at once, with no events, and is not registered.
  for (int64_t from : {0, 7, 8}) {
    RecordingSubscriber late;
    CHECK_FALSE(hub.Subscribe(&late, from));
    CHECK(late.closes == 1);
    CHECK(late.seen.empty());
    CHECK(hub.subscriber_count() == 0);
  }
  // Closing again closes nobody twice.
  hub.CloseAll();
  CHECK(a.closes == 1);
  CHECK(b.closes == 1);
}

}  // namespace
}  // namespace cutover
