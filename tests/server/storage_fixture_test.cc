// The store's migration from schema 1, on a real schema-1 data folder:
// tests/fixtures/storage-schema1/data, written by the schema-1 cutoverd
// (tests/fixtures/make_storage_schema1.sh), next to what that daemon
// answered through the API (api/). Each test opens a copy of the folder
// with today's Store, which migrates it, and compares what the registry
// gives at the API edge with those answers, message by message.
#include <catch2/catch.hpp>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_split.h"
#include "cutover/v1/cutover.pb.h"
#include "google/protobuf/text_format.h"
#include "google/protobuf/util/message_differencer.h"
#include "server/api_edge.h"
#include "server/flag_registry.h"
#include "server/store.h"
#include "tests/integration/harness.h"
#include "tests/server/api_registry.h"
#include "tests/server/raw_db.h"

namespace cutover {
namespace {

namespace fs = std::filesystem;
using google::protobuf::util::MessageDifferencer;
using testing::ApiRegistry;
using testing::OpenRegistry;
using testing::RecordingSubscriber;
using testing::AsApi;
using testing::TempDir;

const std::string kFixture =
    std::string(CUTOVER_SOURCE_DIR) + "/tests/fixtures/storage-schema1";
// The store revision the old daemon was at (its last change).
constexpr int64_t kFixtureRevision = 29;

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  INFO("reading " << path);
  REQUIRE(in.good());
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

// A message of the old daemon's answers, api/<name>.txtpb.
template <typename Message>
Message Expected(const std::string& name) {
  Message message;
  const std::string text = ReadFile(kFixture + "/api/" + name + ".txtpb");
  INFO("parsing api/" << name << ".txtpb");
  REQUIRE(google::protobuf::TextFormat::ParseFromString(text, &message));
  return message;
}

// The old daemon's Watch from revision 1: every kept change, then SYNCED.
std::vector<v1::WatchEvent> ExpectedWatchFrom1() {
  const std::string text = ReadFile(kFixture + "/api/watch-from-1.txtpb");
  std::vector<v1::WatchEvent> events;
  for (absl::string_view part : absl::StrSplit(text, "\n---\n")) {
    v1::WatchEvent event;
    REQUIRE(google::protobuf::TextFormat::ParseFromString(std::string(part),
                                                          &event));
    events.push_back(std::move(event));
  }
  return events;
}

// How `actual` differs from `expected`; empty if equal.
std::string Differences(const google::protobuf::Message& expected,
                        const google::protobuf::Message& actual) {
  std::string report;
  MessageDifferencer differencer;
  differencer.ReportDifferencesToString(&report);
  differencer.Compare(expected, actual);
  return report;
}

#define CHECK_SAME_MESSAGE(expected, actual)                   \
  do {                                                         \
    const std::string differences = Differences(expected, actual); \
    INFO(differences);                                         \
    CHECK(differences.empty());                                \
  } while (false)

// A copy of the fixture's data folder in `dir`, for the store to migrate.
std::string CopyFixture(const TempDir& dir) {
  const std::string data = dir.path() + "/data";
  fs::copy(kFixture + "/data", data, fs::copy_options::recursive);
  return data;
}

// Every key and value of every column family, read without writing.
using Contents = std::map<std::string, std::map<std::string, std::string>>;
Contents ReadAll(const std::string& dir) {
  return RawDb(dir, RawDb::Access::kReadOnly).Contents();
}

std::vector<v1::WatchEvent> WatchFrom(ApiRegistry& registry,
                                      int64_t from_revision) {
  RecordingSubscriber watcher;
  registry.hub().Subscribe(&watcher, from_revision);
  registry.hub().Unsubscribe(&watcher);
  return watcher.events;
}

// Everything the old daemon answered, asked of `registry`.
void CheckReadsAsTheOldDaemonServed(ApiRegistry& registry) {
  CHECK(registry.store().revision() == kFixtureRevision);
  CHECK(registry.hub().snapshot()->revision == kFixtureRevision);

  const auto flags = Expected<v1::ListFlagsResponse>("flags");
  REQUIRE(flags.flags_size() == 5);
  const std::vector<v1::Flag> listed = registry.ListFlags(true);
  REQUIRE(listed.size() == static_cast<size_t>(flags.flags_size()));
  for (int i = 0; i < flags.flags_size(); ++i) {
    v1::Flag expected = flags.flags(i);
    INFO("flag " << expected.key());
    // The old daemon kept no currency; the migrated one works it out from
    // the history: carts and payments were rolled back to off after dual
    // writes (the old rollback), so their new database is stale.
    if (expected.key() == "carts" || expected.key() == "payments") {
      REQUIRE(listed[i].currency().has_new_stale());
      CHECK(listed[i].currency().new_stale().why() ==
            "off served to 100% by the default serve");
      CHECK_FALSE(listed[i].currency().has_old_stale());
      *expected.mutable_currency() = listed[i].currency();
    }
    CHECK_SAME_MESSAGE(expected, listed[i]);
    absl::StatusOr<v1::Flag> got = registry.GetFlag(expected.key());
    REQUIRE(got.ok());
    CHECK_SAME_MESSAGE(expected, *got);

    const auto history = Expected<v1::GetHistoryResponse>(
        "history-flag-" + expected.key());
    REQUIRE(history.entries_size() == expected.version());
    auto entries = registry.History(expected.key(), false, 0);
    REQUIRE(entries.ok());
    REQUIRE(entries->size() == static_cast<size_t>(history.entries_size()));
    for (int e = 0; e < history.entries_size(); ++e) {
      INFO("history entry " << e);
      CHECK_SAME_MESSAGE(history.entries(e), (*entries)[e]);
    }
  }

  const auto segments = Expected<v1::ListSegmentsResponse>("segments");
  REQUIRE(segments.segments_size() == 2);
  const std::vector<v1::Segment> listed_segments = registry.ListSegments();
  REQUIRE(listed_segments.size() ==
          static_cast<size_t>(segments.segments_size()));
  for (int i = 0; i < segments.segments_size(); ++i) {
    INFO("segment " << segments.segments(i).key());
    CHECK_SAME_MESSAGE(segments.segments(i), listed_segments[i]);
  }
  // The deleted segment's history included.
  for (const char* key : {"internal", "beta-testers", "old-cohort"}) {
    INFO("segment history " << key);
    const auto history = Expected<v1::GetHistoryResponse>(
        std::string("history-segment-") + key);
    auto entries = registry.History(key, true, 0);
    REQUIRE(entries.ok());
    REQUIRE(entries->size() == static_cast<size_t>(history.entries_size()));
    for (int e = 0; e < history.entries_size(); ++e) {
      INFO("history entry " << e);
      CHECK_SAME_MESSAGE(history.entries(e), (*entries)[e]);
    }
  }

  const auto backfills = Expected<v1::ListBackfillsResponse>("backfills");
  REQUIRE(backfills.jobs_size() == 4);
  const std::vector<v1::BackfillJob> jobs =
      AsApi<v1::BackfillJob>(registry.registry().backfills().List());
  REQUIRE(jobs.size() == static_cast<size_t>(backfills.jobs_size()));
  for (int i = 0; i < backfills.jobs_size(); ++i) {
    INFO("backfill job of " << backfills.jobs(i).flag_key());
    // The schema-1 daemon had one job per flag, old -> new, and no field
    // to say so: each of its jobs is FORWARD now.
    v1::BackfillJob expected = backfills.jobs(i);
    CHECK(expected.direction() == v1::BACKFILL_DIRECTION_UNSPECIFIED);
    expected.set_direction(v1::FORWARD);
    CHECK_SAME_MESSAGE(expected, jobs[i]);
  }
}

TEST_CASE("Store: a schema-1 data folder is migrated and reads back as the "
          "old daemon served it",
          "[store][fixture]") {
  TempDir dir;
  const std::string data = CopyFixture(dir);
  CHECK(ReadAll(data)["meta"]["schema_version"] == "1");

  auto registry = OpenRegistry(data);
  CheckReadsAsTheOldDaemonServed(*registry);

  // Watch resumes from the kept changes, migrated: from revision 1, every
  // change the old daemon replayed, then SYNCED.
  const std::vector<v1::WatchEvent> expected = ExpectedWatchFrom1();
  REQUIRE(expected.size() == kFixtureRevision);  // revisions 2..29, SYNCED
  const std::vector<v1::WatchEvent> events = WatchFrom(*registry, 1);
  REQUIRE(events.size() == expected.size());
  for (size_t i = 0; i < expected.size(); ++i) {
    INFO("event " << i);
    CHECK_SAME_MESSAGE(expected[i], events[i]);
  }
}

TEST_CASE("Store: a migrated store is schema 2, at the same revision, and "
          "reopens without migrating again",
          "[store][fixture]") {
  TempDir dir;
  const std::string data = CopyFixture(dir);
  const Contents before = ReadAll(data);
  OpenRegistry(data).reset();  // migrates, and closes

  const Contents migrated = ReadAll(data);
  CHECK(migrated.at("meta").at("schema_version") == "2");
  CHECK(migrated.at("meta").at("revision") ==
        before.at("meta").at("revision"));
  // The same keys in every family; every value of the object families
  // rewritten.
  for (const char* family :
       {"flags", "segments", "history", "changes", "backfill"}) {
    INFO("family " << family);
    const auto& old_values = before.at(family);
    const auto& new_values = migrated.at(family);
    REQUIRE(old_values.size() == new_values.size());
    CHECK_FALSE(old_values.empty());
    for (const auto& [key, value] : old_values) {
      REQUIRE(new_values.count(key) == 1);
      CHECK(new_values.at(key) != value);
    }
  }

  // Opening it again changes nothing on disk, and reads the same.
  auto registry = OpenRegistry(data);
  CheckReadsAsTheOldDaemonServed(*registry);
  registry.reset();
  CHECK(ReadAll(data) == migrated);
}

TEST_CASE("Store: after the migration Watch resumes from an old revision "
          "and writes go on",
          "[store][fixture]") {
  TempDir dir;
  const std::string data = CopyFixture(dir);
  const std::vector<v1::WatchEvent> expected = ExpectedWatchFrom1();
  OpenRegistry(data).reset();
  auto registry = OpenRegistry(data);

  // From revision 20: changes 21..29 as the old daemon sent them, SYNCED.
  const std::vector<v1::WatchEvent> events = WatchFrom(*registry, 20);
  REQUIRE(events.size() == 10);
  for (size_t i = 0; i < events.size(); ++i) {
    INFO("event " << i);
    CHECK_SAME_MESSAGE(expected[expected.size() - 10 + i], events[i]);
  }

  // A change after the migration: the next revision, the next version,
  // kept across a restart and replayed by Watch.
  v1::SetStageRequest request;
  request.set_key("payments");
  request.set_stage(v1::DUALWRITE);
  absl::StatusOr<v1::Flag> moved =
      registry->SetStage(request, Caller{"carol", "ipv4:127.0.0.1:1"});
  INFO(moved.status().ToString());
  REQUIRE(moved.ok());
  CHECK(moved->version() == 6);
  CHECK(moved->revision() == kFixtureRevision + 1);
  registry.reset();

  registry = OpenRegistry(data);
  CHECK(registry->store().revision() == kFixtureRevision + 1);
  auto history = registry->History("payments", false, 0);
  REQUIRE(history.ok());
  REQUIRE(history->size() == 6);
  CHECK(history->front().action() == "stage");
  CHECK_SAME_MESSAGE(*moved, history->front().after());
  const std::vector<v1::WatchEvent> after = WatchFrom(*registry, 28);
  REQUIRE(after.size() == 3);
  CHECK_SAME_MESSAGE(expected[expected.size() - 2], after[0]);
  CHECK(after[1].kind() == v1::WatchEvent::FLAG_UPSERTED);
  CHECK_SAME_MESSAGE(*moved, after[1].flag());
  CHECK(after[2].kind() == v1::WatchEvent::SYNCED);
}

}  // namespace
}  // namespace cutover
