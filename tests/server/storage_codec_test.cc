// Tests of the storage codec: every record reads back from its encoding as
// it was, what a value does not hold (its key's part) comes back empty, and
// a value that is not the message is DATA_LOSS.
#include "server/storage_codec.h"

#include <catch2/catch.hpp>

#include <string>

#include "absl/status/status.h"
#include "cutover/v1/cutover.pb.h"
#include "google/protobuf/util/message_differencer.h"
#include "server/api_edge.h"
#include "tests/server/api_registry.h"

namespace cutover {
namespace {

using google::protobuf::util::MessageDifferencer;

template <typename T>
T Ok(absl::StatusOr<T> result) {
  INFO(result.status().ToString());
  REQUIRE(result.ok());
  return *std::move(result);
}

using testing::AsApi;

FlagRecord FullFlag() {
  FlagRecord record;
  Flag& flag = record.flag;
  flag.key = "orders";
  flag.description = "orders table";
  flag.owner = "payments-team";
  flag.tags = {"team:payments", "tier-1"};
  flag.old_target = "postgres-orders";
  flag.new_target = "dynamodb-orders";
  flag.enabled = true;
  flag.bucket_by = "tenant_id";
  Rule& staff = flag.rules.emplace_back();
  staff.id = "staff";
  staff.description = "staff first";
  staff.clauses.push_back({"", Operator::kInSegment, {"internal", "beta"}});
  staff.clauses.push_back({"app_version", Operator::kSemverGe, {"2.0.0"}});
  staff.serve.rollout = Rollout{{{Stage::kLive, 0}, {Stage::kShadow, 100000}}};
  Rule& region = flag.rules.emplace_back();
  region.id = "rule-1";
  region.clauses.push_back({"region", Operator::kNotIn, {"eu", "us"}});
  region.serve.stage = Stage::kDualWrite;
  flag.default_serve.stage = Stage::kShadow;
  flag.compare_sample_rate = 0;
  flag.gates.require_backfill = true;
  flag.gates.max_mismatch_rate = 0;
  flag.gates.min_samples = 100;
  flag.version = 7;
  flag.archived = true;
  record.gates_given = true;
  record.last_change = {29, absl::FromUnixNanos(1796535235123456789), "alice"};
  return record;
}

TEST_CASE("StorageCodec: a flag reads back as it was", "[storage_codec]") {
  const FlagRecord full = FullFlag();
  const FlagRecord read = Ok(DecodeFlag(EncodeFlag(full)));
  CHECK(MessageDifferencer::Equals(AsApi(read), AsApi(full)));
  CHECK(read.gates_given);
  CHECK(read.last_change.time == full.last_change.time);

  // Optional fields unset stay unset; an empty gates block given stays
  // given, one not given stays absent.
  FlagRecord plain;
  plain.flag.key = "plain";
  plain.flag.default_serve.stage = Stage::kOff;
  for (bool given : {false, true}) {
    INFO("gates given: " << given);
    plain.gates_given = given;
    const FlagRecord back = Ok(DecodeFlag(EncodeFlag(plain)));
    CHECK(back.gates_given == given);
    CHECK_FALSE(back.flag.compare_sample_rate.has_value());
    CHECK_FALSE(back.flag.gates.max_mismatch_rate.has_value());
    CHECK_FALSE(back.flag.default_serve.rollout.has_value());
    CHECK(MessageDifferencer::Equals(AsApi(back), AsApi(plain)));
  }
}

TEST_CASE("StorageCodec: a segment reads back as it was", "[storage_codec]") {
  SegmentRecord segment;
  segment.segment.key = "internal";
  segment.segment.description = "staff";
  segment.segment.included = {"alice", "bob"};
  segment.segment.excluded = {"mallory"};
  segment.segment.clauses.push_back(
      {"email", Operator::kEndsWith, {"@example.com"}});
  segment.segment.version = 3;
  segment.last_change = {12, absl::FromUnixSeconds(1796535223), "bob"};
  const SegmentRecord read = Ok(DecodeSegment(EncodeSegment(segment)));
  CHECK(MessageDifferencer::Equals(AsApi(read), AsApi(segment)));
}

TEST_CASE("StorageCodec: a history entry reads back without its key's part",
          "[storage_codec]") {
  HistoryRecord entry;
  entry.flag_key = "orders";
  entry.version = 7;
  entry.revision = 29;
  entry.action = "rollout";
  entry.actor = "bob";
  entry.peer = "ipv4:127.0.0.1:5000";
  entry.time = absl::FromUnixSeconds(1796535235);
  entry.flag_before = FullFlag();
  entry.flag_after = FullFlag();
  entry.flag_after->flag.version = 8;
  entry.diff = {"modified: default_serve.stage: SHADOW -> LIVE"};
  entry.forced = true;
  entry.overridden_gates = {"min_samples: 0 compared reads"};
  entry.comment = "canary";

  HistoryRecord read = Ok(DecodeHistory(EncodeHistory(entry)));
  CHECK(read.flag_key.empty());
  CHECK(read.version == 0);
  read.flag_key = entry.flag_key;
  read.version = entry.version;
  v1::HistoryEntry expected;
  ToApi(entry, &expected);
  v1::HistoryEntry actual;
  ToApi(read, &actual);
  CHECK(MessageDifferencer::Equals(actual, expected));
  CHECK_FALSE(read.segment_before.has_value());
  CHECK_FALSE(read.segment_after.has_value());
}

TEST_CASE("StorageCodec: changes keep what they changed, and a deletion",
          "[storage_codec]") {
  ChangeRecord flag_change;
  flag_change.revision = 29;
  flag_change.flag = FullFlag();
  std::vector<ChangeRecord> reads = Ok(DecodeChanges(EncodeChanges({flag_change})));
  REQUIRE(reads.size() == 1);
  ChangeRecord read = reads.front();
  CHECK(read.revision == 0);  // the key's
  read.revision = flag_change.revision;
  CHECK(MessageDifferencer::Equals(ToWatchEvent(read),
                                   ToWatchEvent(flag_change)));
  CHECK(ToWatchEvent(read).kind() == v1::WatchEvent::FLAG_ARCHIVED);

  for (bool deleted : {false, true}) {
    INFO("deleted: " << deleted);
    ChangeRecord segment_change;
    segment_change.segment.emplace().segment.key = "old-cohort";
    segment_change.segment_deleted = deleted;
    const std::vector<ChangeRecord> backs =
        Ok(DecodeChanges(EncodeChanges({segment_change})));
    REQUIRE(backs.size() == 1);
    const ChangeRecord& back = backs.front();
    REQUIRE(back.segment.has_value());
    CHECK_FALSE(back.flag.has_value());
    CHECK(back.segment->segment.key == "old-cohort");
    CHECK(back.segment_deleted == deleted);
  }

  // A change of nothing is no change.
  CHECK(DecodeChanges("").status().code() == absl::StatusCode::kDataLoss);
}

TEST_CASE("StorageCodec: one revision's several changes keep their order",
          "[storage_codec]") {
  std::vector<ChangeRecord> changes(3);
  changes[0].segment.emplace().segment.key = "beta";
  changes[1].flag.emplace().flag.key = "orders";
  changes[2].flag.emplace().flag.key = "carts";
  const std::vector<ChangeRecord> read =
      Ok(DecodeChanges(EncodeChanges(changes)));
  REQUIRE(read.size() == 3);
  CHECK(read[0].segment->segment.key == "beta");
  CHECK(read[1].flag->flag.key == "orders");
  CHECK(read[2].flag->flag.key == "carts");
}

TEST_CASE("StorageCodec: a backfill job reads back and its ETA is computed",
          "[storage_codec]") {
  BackfillJob job;
  job.flag_key = "legacy-sessions";
  job.phase = BackfillPhase::kCopying;
  job.run_id = "7776b83ad00373c2e2453b72f9f6f2b2";
  job.sequence = 1;
  job.cursor = std::string("l-5\0\xff", 5);
  job.rows_copied = 5;
  job.rows_total_estimate = 10;
  job.verify_sample_rate = 1;
  job.rows_per_second = 4.8907018229302661;
  job.create_time = absl::FromUnixNanos(1796535234351650049);
  job.update_time = absl::FromUnixNanos(1796535235373998207);
  job.runs = 1;
  job.started_by = "fixture-driver";

  BackfillJob read = Ok(DecodeBackfillJob(EncodeBackfillJob(job)));
  CHECK(read.flag_key.empty());  // the key's
  read.flag_key = job.flag_key;
  v1::BackfillJob expected;
  ToApi(job, &expected);
  v1::BackfillJob actual;
  ToApi(read, &actual);
  CHECK(MessageDifferencer::Equals(actual, expected));
  CHECK_FALSE(actual.has_copy_done_time());
  CHECK(actual.eta_seconds() == 5 / job.rows_per_second);

  job.phase = BackfillPhase::kDone;
  job.copy_done_time = job.update_time;
  job.verify_done_time = job.update_time + absl::Seconds(1);
  read = Ok(DecodeBackfillJob(EncodeBackfillJob(job)));
  CHECK(read.phase == BackfillPhase::kDone);
  CHECK(read.copy_done_time == job.copy_done_time);
  CHECK(read.verify_done_time == job.verify_done_time);
  CHECK(EtaSeconds(read) == 0);
}

TEST_CASE("StorageCodec: a value that is not the message is DATA_LOSS",
          "[storage_codec]") {
  const std::string garbage("\xff\xff\xff", 3);
  CHECK(DecodeFlag(garbage).status().code() == absl::StatusCode::kDataLoss);
  CHECK(DecodeSegment(garbage).status().code() ==
        absl::StatusCode::kDataLoss);
  CHECK(DecodeHistory(garbage).status().code() ==
        absl::StatusCode::kDataLoss);
  CHECK(DecodeChanges(garbage).status().code() ==
        absl::StatusCode::kDataLoss);
  CHECK(DecodeBackfillJob(garbage).status().code() ==
        absl::StatusCode::kDataLoss);
  CHECK_THAT(std::string(DecodeFlag(garbage).status().message()),
             Catch::Contains("cannot parse flag"));
}

}  // namespace
}  // namespace cutover
