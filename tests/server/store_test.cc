// Tests of the RocksDB store: each test opens its own fresh temporary folder.
#include "server/store.h"

#include <stdlib.h>

#include <catch2/catch.hpp>

#include "tests/integration/harness.h"
#include "tests/printers.h"
#include "tests/server/api_registry.h"
#include "tests/server/raw_db.h"
#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "cutover/v1/cutover.pb.h"
#include "google/protobuf/util/message_differencer.h"
#include "rocksdb/db.h"
#include "rocksdb/options.h"
#include "rocksdb/write_batch.h"
#include "server/api_edge.h"
#include "server/storage_codec.h"

namespace cutover {
namespace {

using google::protobuf::util::MessageDifferencer;

using testing::TempDir;

std::unique_ptr<Store> OpenStore(const std::string& dir) {
  absl::StatusOr<std::unique_ptr<Store>> store = Store::Open(dir);
  INFO(store.status().ToString());
  REQUIRE(store.ok());
  return *std::move(store);
}

v1::Flag MakeFlag(const std::string& key, int64_t version, v1::Stage stage) {
  v1::Flag flag;
  flag.set_key(key);
  flag.set_old_target("postgres-orders");
  flag.set_new_target("dynamodb-orders");
  flag.set_enabled(true);
  flag.mutable_default_serve()->set_stage(stage);
  flag.set_version(version);
  return flag;
}

v1::Segment MakeSegment(const std::string& key, int64_t version) {
  v1::Segment segment;
  segment.set_key(key);
  segment.add_included(absl::StrCat("user-", version));
  segment.set_version(version);
  return segment;
}

using testing::AsApi;

// A StoredState in the API's messages.
struct ApiState {
  int64_t revision = 0;
  std::vector<v1::Flag> flags;
  std::vector<v1::Segment> segments;
  std::vector<v1::WatchEvent> recent_changes;
};

// A flag write as FlagRegistry makes it: the flag, its history, its event.
Mutation FlagMutation(int64_t revision, const v1::Flag& flag,
                      const std::string& action) {
  Mutation mutation;
  mutation.revision = revision;
  v1::Flag stored = flag;
  stored.set_revision(revision);
  ChangeRecord& change = mutation.changes.emplace_back();
  change.revision = revision;
  change.flag = FromApi(stored);
  HistoryRecord& entry = mutation.history.emplace_back();
  entry.flag_key = flag.key();
  entry.version = flag.version();
  entry.revision = revision;
  entry.action = action;
  entry.actor = "alice";
  entry.flag_after = *change.flag;
  return mutation;
}

Mutation SegmentMutation(int64_t revision, const v1::Segment& segment,
                         const std::string& action) {
  Mutation mutation;
  mutation.revision = revision;
  v1::Segment stored = segment;
  stored.set_revision(revision);
  ChangeRecord& change = mutation.changes.emplace_back();
  change.revision = revision;
  change.segment = FromApi(stored);
  HistoryRecord& entry = mutation.history.emplace_back();
  entry.segment_key = segment.key();
  entry.version = segment.version();
  entry.revision = revision;
  entry.action = action;
  entry.actor = "bob";
  entry.segment_after = *change.segment;
  return mutation;
}

void CommitOk(Store& store, const Mutation& mutation) {
  absl::Status status = store.Commit(mutation);
  INFO(status.ToString());
  REQUIRE(status.ok());
}

ApiState LoadOk(const Store& store) {
  absl::StatusOr<StoredState> state = store.Load();
  INFO(state.status().ToString());
  REQUIRE(state.ok());
  ApiState api;
  api.revision = state->revision;
  for (const auto& flag : state->flags) api.flags.push_back(AsApi(flag));
  for (const auto& segment : state->segments) {
    api.segments.push_back(AsApi(segment));
  }
  for (const auto& change : state->recent_changes) {
    api.recent_changes.push_back(AsApi(change));
  }
  return api;
}

std::vector<v1::HistoryEntry> HistoryOk(const Store& store,
                                        const std::string& subject,
                                        int limit) {
  absl::StatusOr<std::vector<HistoryRecord>> entries =
      store.History(subject, limit);
  INFO(entries.status().ToString());
  REQUIRE(entries.ok());
  std::vector<v1::HistoryEntry> api;
  for (const auto& entry : *entries) api.push_back(AsApi(entry));
  return api;
}

std::vector<int64_t> Versions(const std::vector<v1::HistoryEntry>& entries) {
  std::vector<int64_t> versions;
  for (const auto& entry : entries) versions.push_back(entry.version());
  return versions;
}

std::vector<int64_t> Revisions(const std::vector<v1::WatchEvent>& events) {
  std::vector<int64_t> revisions;
  for (const auto& event : events) revisions.push_back(event.revision());
  return revisions;
}

std::string BigEndian64(uint64_t value) {
  std::string out(8, '\0');
  for (int i = 7; i >= 0; --i) {
    out[i] = static_cast<char>(value & 0xff);
    value >>= 8;
  }
  return out;
}

TEST_CASE("Store: a new store is empty at revision 0", "[store]") {
  TempDir dir;
  auto store = OpenStore(dir.path());
  CHECK(store->revision() == 0);
  ApiState state = LoadOk(*store);
  CHECK(state.revision == 0);
  CHECK(state.flags.empty());
  CHECK(state.segments.empty());
  CHECK(state.recent_changes.empty());
  CHECK(HistoryOk(*store, "orders", 0).empty());
}

TEST_CASE("Store: Commit of a revision other than the next is INTERNAL and "
          "writes nothing",
          "[store]") {
  struct Case {
    const char* name;
    int64_t committed_first;  // good commits before the bad one
    int64_t bad_revision;
  };
  const Case cases[] = {
      {"zero on a new store", 0, 0},
      {"two on a new store", 0, 2},
      {"negative", 0, -1},
      {"the current revision again", 1, 1},
      {"one skipped", 1, 3},
      {"far ahead", 2, 100},
  };
  for (const Case& c : cases) {
    DYNAMIC_SECTION(c.name) {
      TempDir dir;
      auto store = OpenStore(dir.path());
      for (int64_t r = 1; r <= c.committed_first; ++r) {
        CommitOk(*store, FlagMutation(r, MakeFlag("orders", r, v1::OFF),
                                      "create"));
      }
      Mutation bad = FlagMutation(
          c.bad_revision, MakeFlag("payments", 1, v1::OFF), "create");
      ChangeRecord& segment = bad.changes.emplace_back();
      segment.segment = FromApi(MakeSegment("testers", 1));
      absl::Status status = store->Commit(bad);
      INFO(status.ToString());
      CHECK(status.code() == absl::StatusCode::kInternal);
      CHECK(store->revision() == c.committed_first);

      // Nothing of the refused mutation is stored, also after a reopen.
      store.reset();
      store = OpenStore(dir.path());
      CHECK(store->revision() == c.committed_first);
      ApiState state = LoadOk(*store);
      CHECK(state.revision == c.committed_first);
      CHECK(state.flags.size() ==
            static_cast<size_t>(c.committed_first > 0 ? 1 : 0));
      for (const auto& flag : state.flags) CHECK(flag.key() == "orders");
      CHECK(state.segments.empty());
      CHECK(state.recent_changes.size() ==
            static_cast<size_t>(c.committed_first));
      CHECK(HistoryOk(*store, "payments", 0).empty());
    }
  }
}

TEST_CASE("Store: reopening keeps flags, segments, revision, history and "
          "recent changes",
          "[store]") {
  TempDir dir;
  std::vector<Mutation> written;
  written.push_back(FlagMutation(1, MakeFlag("orders", 1, v1::OFF), "create"));
  written.push_back(SegmentMutation(2, MakeSegment("testers", 1),
                                    "segment-create"));
  written.push_back(
      FlagMutation(3, MakeFlag("orders", 2, v1::DUALWRITE), "stage"));
  written.push_back(
      FlagMutation(4, MakeFlag("payments", 1, v1::OFF), "create"));
  {
    auto store = OpenStore(dir.path());
    for (const Mutation& m : written) CommitOk(*store, m);
    CHECK(store->revision() == 4);
  }

  auto store = OpenStore(dir.path());
  CHECK(store->revision() == 4);
  ApiState state = LoadOk(*store);
  CHECK(state.revision == 4);

  // Flags by key, each at its latest write.
  REQUIRE(state.flags.size() == 2);
  CHECK(MessageDifferencer::Equals(state.flags[0], AsApi(*written[2].changes[0].flag)));
  CHECK(MessageDifferencer::Equals(state.flags[1], AsApi(*written[3].changes[0].flag)));
  CHECK(state.flags[0].default_serve().stage() == v1::DUALWRITE);
  CHECK(state.flags[0].version() == 2);
  CHECK(state.flags[0].revision() == 3);

  REQUIRE(state.segments.size() == 1);
  CHECK(MessageDifferencer::Equals(state.segments[0],
                                   AsApi(*written[1].changes[0].segment)));

  // Every change, oldest first, as written.
  REQUIRE(state.recent_changes.size() == written.size());
  for (size_t i = 0; i < written.size(); ++i) {
    INFO("change " << i);
    CHECK(MessageDifferencer::Equals(state.recent_changes[i],
                                     AsApi(written[i].changes[0])));
  }

  std::vector<v1::HistoryEntry> orders = HistoryOk(*store, "orders", 0);
  REQUIRE(orders.size() == 2);
  CHECK(MessageDifferencer::Equals(orders[0], AsApi(written[2].history[0])));
  CHECK(MessageDifferencer::Equals(orders[1], AsApi(written[0].history[0])));
  std::vector<v1::HistoryEntry> testers =
      HistoryOk(*store, SegmentHistorySubject("testers"), 0);
  REQUIRE(testers.size() == 1);
  CHECK(MessageDifferencer::Equals(testers[0], AsApi(written[1].history[0])));

  // And the reopened store goes on from there.
  CommitOk(*store,
           FlagMutation(5, MakeFlag("orders", 3, v1::SHADOW), "stage"));
  CHECK(store->revision() == 5);
}

TEST_CASE("Store: history is newest first, limited, and per subject",
          "[store]") {
  TempDir dir;
  auto store = OpenStore(dir.path());
  // Interleave flags whose keys share a prefix: "orders" must not pick up
  // "orders-eu" or "orders.v2" (the subject ends at a 0x00 byte).
  int64_t revision = 0;
  for (int64_t version = 1; version <= 5; ++version) {
    for (const char* key : {"orders", "orders-eu", "orders.v2", "order"}) {
      CommitOk(*store, FlagMutation(++revision,
                                    MakeFlag(key, version, v1::OFF),
                                    version == 1 ? "create" : "replace"));
    }
  }
  // Versions past 255 check that the version is ordered as a big-endian
  // number, not byte by byte from the low end.
  for (int64_t version : {256, 300, 65536}) {
    CommitOk(*store, FlagMutation(++revision,
                                  MakeFlag("orders", version, v1::OFF),
                                  "replace"));
  }

  struct Case {
    const char* subject;
    int limit;
    std::vector<int64_t> versions;
  };
  const Case cases[] = {
      {"orders", 0, {65536, 300, 256, 5, 4, 3, 2, 1}},
      {"orders", -1, {65536, 300, 256, 5, 4, 3, 2, 1}},
      {"orders", 1, {65536}},
      {"orders", 3, {65536, 300, 256}},
      {"orders", 8, {65536, 300, 256, 5, 4, 3, 2, 1}},
      {"orders", 100, {65536, 300, 256, 5, 4, 3, 2, 1}},
      {"orders-eu", 0, {5, 4, 3, 2, 1}},
      {"orders.v2", 2, {5, 4}},
      {"order", 0, {5, 4, 3, 2, 1}},
      {"ord", 0, {}},
      {"orders-e", 0, {}},
      {"unknown", 0, {}},
      {"zzz", 0, {}},
  };
  for (const Case& c : cases) {
    INFO("subject " << c.subject << " limit " << c.limit);
    std::vector<v1::HistoryEntry> entries =
        HistoryOk(*store, c.subject, c.limit);
    CHECK(Versions(entries) == c.versions);
    for (const auto& entry : entries) CHECK(entry.flag_key() == c.subject);
  }
}

TEST_CASE("Store: a segment's history is a subject apart from a flag's",
          "[store]") {
  CHECK(SegmentHistorySubject("testers") == "segment/testers");

  TempDir dir;
  auto store = OpenStore(dir.path());
  // A flag and a segment with the same key.
  CommitOk(*store, FlagMutation(1, MakeFlag("testers", 1, v1::OFF), "create"));
  CommitOk(*store, SegmentMutation(2, MakeSegment("testers", 1),
                                   "segment-create"));
  CommitOk(*store, SegmentMutation(3, MakeSegment("testers", 2),
                                   "segment-replace"));

  std::vector<v1::HistoryEntry> flag = HistoryOk(*store, "testers", 0);
  REQUIRE(flag.size() == 1);
  CHECK(flag[0].action() == "create");
  CHECK(flag[0].flag_key() == "testers");
  CHECK(flag[0].segment_key().empty());

  std::vector<v1::HistoryEntry> segment =
      HistoryOk(*store, SegmentHistorySubject("testers"), 0);
  REQUIRE(segment.size() == 2);
  CHECK(Versions(segment) == std::vector<int64_t>{2, 1});
  CHECK(segment[0].action() == "segment-replace");
  CHECK(segment[1].action() == "segment-create");
  for (const auto& entry : segment) {
    CHECK(entry.flag_key().empty());
    CHECK(entry.segment_key() == "testers");
  }
}

TEST_CASE("Store: a deleted segment's change removes the segment", "[store]") {
  TempDir dir;
  {
    auto store = OpenStore(dir.path());
    CommitOk(*store, SegmentMutation(1, MakeSegment("testers", 1),
                                     "segment-create"));
    CommitOk(*store, SegmentMutation(2, MakeSegment("beta", 1),
                                     "segment-create"));
    REQUIRE(LoadOk(*store).segments.size() == 2);

    Mutation deletion;
    deletion.revision = 3;
    HistoryRecord& entry = deletion.history.emplace_back();
    entry.segment_key = "testers";
    entry.version = 2;
    entry.revision = 3;
    entry.action = "segment-delete";
    ChangeRecord& change = deletion.changes.emplace_back();
    change.revision = 3;
    change.segment = FromApi(MakeSegment("testers", 1));
    change.segment_deleted = true;
    CommitOk(*store, deletion);

    ApiState state = LoadOk(*store);
    REQUIRE(state.segments.size() == 1);
    CHECK(state.segments[0].key() == "beta");
  }
  // Still gone after a reopen; its history is kept.
  auto store = OpenStore(dir.path());
  ApiState state = LoadOk(*store);
  REQUIRE(state.segments.size() == 1);
  CHECK(state.segments[0].key() == "beta");
  REQUIRE(state.recent_changes.size() == 3);
  CHECK(state.recent_changes[2].kind() == v1::WatchEvent::SEGMENT_DELETED);
  std::vector<v1::HistoryEntry> history =
      HistoryOk(*store, SegmentHistorySubject("testers"), 0);
  CHECK(Versions(history) == std::vector<int64_t>{2, 1});
  CHECK(history[0].action() == "segment-delete");
}

TEST_CASE("Store: a second Open of a folder in use is FAILED_PRECONDITION "
          "naming the lock",
          "[store]") {
  TempDir dir;
  auto first = OpenStore(dir.path());
  CommitOk(*first, FlagMutation(1, MakeFlag("orders", 1, v1::OFF), "create"));

  absl::StatusOr<std::unique_ptr<Store>> second = Store::Open(dir.path());
  INFO(second.status().ToString());
  REQUIRE(second.status().code() == absl::StatusCode::kFailedPrecondition);
  CHECK_THAT(std::string(second.status().message()),
             Catch::Contains("locked") && Catch::Contains(dir.path()));

  // The first is unharmed, and the folder opens once it is closed.
  CommitOk(*first, FlagMutation(2, MakeFlag("orders", 2, v1::DUALWRITE),
                                "stage"));
  first.reset();
  auto third = OpenStore(dir.path());
  CHECK(third->revision() == 2);
}

TEST_CASE("Store: a store of another schema version is FAILED_PRECONDITION "
          "naming the version",
          "[store]") {
  const char* const values[] = {"99", "0", "3", "one", ""};
  for (const char* value : values) {
    DYNAMIC_SECTION("schema_version '" << value << "'") {
      TempDir dir;
      {
        auto store = OpenStore(dir.path());
        CommitOk(*store,
                 FlagMutation(1, MakeFlag("orders", 1, v1::OFF), "create"));
      }
      {
        RawDb raw(dir.path());
        rocksdb::WriteOptions sync;
        sync.sync = true;
        REQUIRE(raw.db().Put(sync, raw.family("meta"), "schema_version", value)
                    .ok());
      }
      absl::StatusOr<std::unique_ptr<Store>> store = Store::Open(dir.path());
      INFO(store.status().ToString());
      REQUIRE(store.status().code() == absl::StatusCode::kFailedPrecondition);
      CHECK_THAT(std::string(store.status().message()),
                 Catch::Contains("schema version") &&
                     Catch::Contains(absl::StrCat("'", value, "'")));
    }
  }
}

TEST_CASE("Store: a store with an unknown column family is "
          "FAILED_PRECONDITION",
          "[store]") {
  TempDir dir;
  { OpenStore(dir.path()); }
  {
    RawDb raw(dir.path());
    rocksdb::ColumnFamilyHandle* handle = nullptr;
    REQUIRE(raw.db()
                .CreateColumnFamily(rocksdb::ColumnFamilyOptions(), "future",
                                    &handle)
                .ok());
    REQUIRE(raw.db().DestroyColumnFamilyHandle(handle).ok());
  }
  absl::StatusOr<std::unique_ptr<Store>> store = Store::Open(dir.path());
  INFO(store.status().ToString());
  REQUIRE(store.status().code() == absl::StatusCode::kFailedPrecondition);
  CHECK_THAT(std::string(store.status().message()),
             Catch::Contains("'future'"));
}

TEST_CASE("Store: the changes family keeps the latest kChangesKept revisions",
          "[store]") {
  // kChangesKept synced commits would take too long, so the first
  // kChangesKept revisions are written straight into RocksDB in the layout
  // of store.h (meta "revision" and changes keys: 8-byte big-endian, values
  // as server/storage_codec.h encodes them), then the store commits past
  // the window.
  TempDir dir;
  { OpenStore(dir.path()); }
  {
    RawDb raw(dir.path());
    rocksdb::WriteBatch batch;
    for (int64_t r = 1; r <= kChangesKept; ++r) {
      ChangeRecord change;
      change.revision = r;
      change.flag.emplace().flag.key = "orders";
      REQUIRE(batch
                  .Put(raw.family("changes"),
                       BigEndian64(static_cast<uint64_t>(r)),
                       EncodeChanges({change}))
                  .ok());
    }
    REQUIRE(batch
                .Put(raw.family("meta"), "revision",
                     BigEndian64(static_cast<uint64_t>(kChangesKept)))
                .ok());
    rocksdb::WriteOptions sync;
    sync.sync = true;
    REQUIRE(raw.db().Write(sync, &batch).ok());
  }

  auto store = OpenStore(dir.path());
  REQUIRE(store->revision() == kChangesKept);
  {
    ApiState state = LoadOk(*store);
    REQUIRE(state.recent_changes.size() == static_cast<size_t>(kChangesKept));
    CHECK(state.recent_changes.front().revision() == 1);
    CHECK(state.recent_changes.back().revision() == kChangesKept);
  }

  constexpr int64_t kExtra = 5;
  for (int64_t i = 1; i <= kExtra; ++i) {
    CommitOk(*store, FlagMutation(kChangesKept + i,
                                  MakeFlag("orders", i, v1::OFF), "replace"));
  }
  CHECK(store->revision() == kChangesKept + kExtra);

  // Reopen so that what is read is what is on disk.
  store.reset();
  store = OpenStore(dir.path());
  ApiState state = LoadOk(*store);
  REQUIRE(state.recent_changes.size() == static_cast<size_t>(kChangesKept));
  CHECK(state.recent_changes.front().revision() == kExtra + 1);
  CHECK(state.recent_changes.back().revision() == kChangesKept + kExtra);
  // Contiguous, oldest first.
  std::vector<int64_t> revisions = Revisions(state.recent_changes);
  for (size_t i = 1; i < revisions.size(); ++i) {
    if (revisions[i] != revisions[i - 1] + 1) {
      FAIL("revision " << revisions[i] << " follows " << revisions[i - 1]);
    }
  }
}

}  // namespace
}  // namespace cutover
