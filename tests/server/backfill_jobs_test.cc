// Tests of backfill jobs keyed by direction: BackfillJobs keeps a flag's
// FORWARD and REVERSE jobs apart (runs, sequences, counts, reset, facts),
// and the Store keeps them under the flag key and the flag key followed by
// "/reverse", loads both back and refuses an entry whose key and value
// disagree.
#include "server/backfill_jobs.h"

#include <catch2/catch.hpp>

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "rocksdb/db.h"
#include "rocksdb/options.h"
#include "tests/server/backfill_pages.h"
#include "tests/server/raw_db.h"
#include "server/storage_codec.h"
#include "server/store.h"
#include "tests/integration/harness.h"
#include "tests/printers.h"

namespace cutover {
namespace {

using testing::TempDir;

template <typename T>
T Ok(absl::StatusOr<T> result) {
  INFO(result.status().ToString());
  REQUIRE(result.ok());
  return *std::move(result);
}

std::unique_ptr<Store> OpenStore(const std::string& dir) {
  return Ok(Store::Open(dir));
}

// A clock the test moves by hand.
struct FakeClock {
  absl::Time now = absl::FromUnixSeconds(1800000000);
  BackfillJobs::Clock clock() {
    return [this] { return now; };
  }
};

StartBackfillCommand StartOf(const std::string& flag,
                             BackfillDirection direction) {
  StartBackfillCommand command;
  command.flag_key = flag;
  command.direction = direction;
  command.rows_total_estimate = 10;
  return command;
}


TEST_CASE("BackfillJobs: a flag's forward and reverse jobs are apart",
          "[backfill_jobs]") {
  TempDir dir;
  auto store = OpenStore(dir.path());
  FakeClock time;
  BackfillJobs jobs(store.get(), {}, time.clock());
  constexpr auto kForward = BackfillDirection::kForward;
  constexpr auto kReverse = BackfillDirection::kReverse;

  BackfillJob forward = Ok(jobs.Start(StartOf("orders", kForward), "alice"));
  time.now += absl::Seconds(5);
  BackfillJob reverse = Ok(jobs.Start(StartOf("orders", kReverse), "bob"));
  CHECK(forward.direction == kForward);
  CHECK(reverse.direction == kReverse);
  CHECK(reverse.run_id != forward.run_id);
  CHECK(reverse.create_time == forward.create_time + absl::Seconds(5));
  // Starting the reverse job did not take the forward run over.
  CHECK(Ok(jobs.Get("orders")).run_id == forward.run_id);
  CHECK(Ok(jobs.Get("orders", kForward)).started_by == "alice");
  CHECK(Ok(jobs.Get("orders", kReverse)).started_by == "bob");

  // The reverse job's pages move only the reverse job.
  time.now += absl::Seconds(1);
  reverse = Ok(jobs.Checkpoint(PageOf(reverse, 4, /*done=*/true)));
  CHECK(reverse.phase == BackfillPhase::kVerifying);
  CHECK(reverse.rows_copied == 4);
  forward = Ok(jobs.Get("orders", kForward));
  CHECK(forward.phase == BackfillPhase::kCopying);
  CHECK(forward.rows_copied == 0);
  CHECK(forward.sequence == 0);

  // A page naming the other direction's run is refused, changing nothing.
  CheckpointBackfillCommand crossed = PageOf(forward, 1, false);
  crossed.direction = kReverse;
  crossed.sequence = reverse.sequence;
  crossed.phase = reverse.phase;
  crossed.rows_copied = 0;
  crossed.rows_verified = 1;
  const absl::Status refused = jobs.Checkpoint(crossed).status();
  CHECK(refused.code() == absl::StatusCode::kAborted);
  CHECK_THAT(std::string(refused.message()),
             Catch::Contains("reverse backfill of orders"));
  CHECK(Ok(jobs.Get("orders", kReverse)).sequence == reverse.sequence);

  time.now += absl::Seconds(1);
  reverse = Ok(jobs.Checkpoint(PageOf(reverse, 4, /*done=*/true)));
  CHECK(reverse.phase == BackfillPhase::kDone);
  REQUIRE(reverse.verify_done_time.has_value());

  // Facts: the gate's are the forward job's; the reverse job's on request.
  const BackfillFacts gate = jobs.Facts("orders");
  CHECK(gate.exists);
  CHECK(gate.phase == "copying");
  CHECK_FALSE(gate.done);
  CHECK(gate.create_time == forward.create_time);
  CHECK_FALSE(gate.verify_done_time.has_value());
  const BackfillFacts back = jobs.Facts("orders", kReverse);
  CHECK(back.exists);
  CHECK(back.done);
  CHECK(back.rows_copied == 4);
  CHECK(back.rows_verified == 4);
  CHECK(back.create_time == reverse.create_time);
  CHECK(back.verify_done_time == reverse.verify_done_time);
  CHECK_FALSE(jobs.Facts("carts", kReverse).exists);

  // Listed by flag key, forward first.
  Ok(jobs.Start(StartOf("carts", kReverse), "carol"));
  const std::vector<BackfillJob> listed = jobs.List();
  REQUIRE(listed.size() == 3);
  CHECK((listed[0].flag_key == "carts" && listed[0].direction == kReverse));
  CHECK((listed[1].flag_key == "orders" && listed[1].direction == kForward));
  CHECK((listed[2].flag_key == "orders" && listed[2].direction == kReverse));

  // Resetting one direction leaves the other.
  CHECK(Ok(jobs.Reset("orders", kReverse)).run_id == reverse.run_id);
  CHECK(jobs.Get("orders", kReverse).status().code() ==
        absl::StatusCode::kNotFound);
  CHECK_THAT(std::string(jobs.Get("orders", kReverse).status().message()),
             Catch::Contains("no reverse backfill job"));
  CHECK(Ok(jobs.Get("orders")).run_id == forward.run_id);
  CHECK(jobs.Reset("orders", kReverse).status().code() ==
        absl::StatusCode::kNotFound);
  CHECK_FALSE(jobs.Facts("orders", kReverse).exists);
  CHECK(jobs.Facts("orders").exists);
}

TEST_CASE("BackfillJobs: a direction that is neither forward nor reverse is "
          "INVALID_ARGUMENT naming the field",
          "[backfill_jobs]") {
  TempDir dir;
  auto store = OpenStore(dir.path());
  BackfillJobs jobs(store.get(), {});
  constexpr auto kBad = BackfillDirection::kUnspecified;
  const BackfillJob job =
      Ok(jobs.Start(StartOf("orders", BackfillDirection::kForward), "a"));
  CheckpointBackfillCommand page = PageOf(job, 1, false);
  page.direction = kBad;
  const absl::Status statuses[] = {
      jobs.Start(StartOf("orders", kBad), "a").status(),
      jobs.Checkpoint(page).status(), jobs.Get("orders", kBad).status(),
      jobs.Reset("orders", kBad).status()};
  for (const absl::Status& status : statuses) {
    CHECK(status.code() == absl::StatusCode::kInvalidArgument);
    CHECK_THAT(std::string(status.message()),
               Catch::StartsWith("direction: must be FORWARD or REVERSE"));
  }
  CHECK(jobs.List().size() == 1);
  CHECK(Ok(jobs.Get("orders")).sequence == 0);
}

TEST_CASE("Store: a flag's forward and reverse backfill jobs are kept apart "
          "and load back",
          "[store][backfill_jobs]") {
  TempDir dir;
  BackfillJob forward;
  forward.flag_key = "orders";
  forward.direction = BackfillDirection::kForward;
  forward.phase = BackfillPhase::kDone;
  forward.run_id = "f";
  forward.rows_copied = 7;
  forward.create_time = absl::FromUnixSeconds(1800000000);
  forward.verify_done_time = absl::FromUnixSeconds(1800000100);
  BackfillJob reverse = forward;
  reverse.direction = BackfillDirection::kReverse;
  reverse.phase = BackfillPhase::kCopying;
  reverse.run_id = "r";
  reverse.rows_copied = 3;
  reverse.verify_done_time.reset();
  // A flag whose key sorts between "orders" and "orders/reverse".
  BackfillJob other = forward;
  other.flag_key = "orders.eu";
  {
    auto store = OpenStore(dir.path());
    REQUIRE(store->PutBackfill(forward).ok());
    REQUIRE(store->PutBackfill(reverse).ok());
    REQUIRE(store->PutBackfill(other).ok());
  }
  {
    RawDb raw(dir.path());
    CHECK(raw.Keys("backfill") ==
          std::vector<std::string>{"orders", "orders.eu", "orders/reverse"});
  }
  {
    auto store = OpenStore(dir.path());
    const StoredState state = Ok(store->Load());
    BackfillJobs jobs(store.get(), state.backfills);
    const BackfillJob f = Ok(jobs.Get("orders", BackfillDirection::kForward));
    const BackfillJob r = Ok(jobs.Get("orders", BackfillDirection::kReverse));
    CHECK(f.run_id == "f");
    CHECK(f.rows_copied == 7);
    CHECK(f.verify_done_time == forward.verify_done_time);
    CHECK(r.flag_key == "orders");
    CHECK(r.run_id == "r");
    CHECK(r.rows_copied == 3);
    CHECK(r.phase == BackfillPhase::kCopying);
    CHECK_FALSE(r.verify_done_time.has_value());
    CHECK(Ok(jobs.Get("orders.eu")).run_id == "f");
    CHECK(jobs.Get("orders.eu", BackfillDirection::kReverse).status().code() ==
          absl::StatusCode::kNotFound);

    // Deleting the reverse job leaves the forward one.
    REQUIRE(store->DeleteBackfill("orders", BackfillDirection::kReverse).ok());
  }
  {
    RawDb raw(dir.path());
    CHECK(raw.Keys("backfill") ==
          std::vector<std::string>{"orders", "orders.eu"});
  }
  auto store = OpenStore(dir.path());
  CHECK(Ok(store->Load()).backfills.size() == 2);
}

TEST_CASE("Store: a backfill entry whose key and value disagree on the "
          "direction, or whose key is no flag's, is DATA_LOSS",
          "[store][backfill_jobs]") {
  BackfillJob reverse;
  reverse.direction = BackfillDirection::kReverse;
  reverse.phase = BackfillPhase::kCopying;
  BackfillJob forward = reverse;
  forward.direction = BackfillDirection::kForward;
  const std::pair<std::string, std::string> entries[] = {
      {"orders", EncodeBackfillJob(reverse)},
      {"orders/reverse", EncodeBackfillJob(forward)},
      {"orders/sideways", EncodeBackfillJob(forward)},
      {"/reverse", EncodeBackfillJob(reverse)}};
  for (const auto& [key, value] : entries) {
    INFO("key " << key);
    TempDir dir;
    OpenStore(dir.path());
    {
      RawDb raw(dir.path());
      REQUIRE(raw.db()
                  .Put(rocksdb::WriteOptions(), raw.family("backfill"), key,
                       value)
                  .ok());
    }
    auto store = OpenStore(dir.path());
    CHECK(store->Load().status().code() == absl::StatusCode::kDataLoss);
  }
}

TEST_CASE("StorageCodec: a backfill job keeps its direction, unset reads as "
          "forward, an unknown one is DATA_LOSS",
          "[storage_codec][backfill_jobs]") {
  BackfillJob job;
  job.phase = BackfillPhase::kVerifying;
  job.direction = BackfillDirection::kReverse;
  CHECK(Ok(DecodeBackfillJob(EncodeBackfillJob(job))).direction ==
        BackfillDirection::kReverse);
  job.direction = BackfillDirection::kForward;
  CHECK(Ok(DecodeBackfillJob(EncodeBackfillJob(job))).direction ==
        BackfillDirection::kForward);
  // Field 19 (direction) as a varint, appended: the last value wins.
  const std::string field19("\x98\x01", 2);
  const std::string unset = EncodeBackfillJob(job) + field19 + '\x00';
  CHECK(Ok(DecodeBackfillJob(unset)).direction == BackfillDirection::kForward);
  const std::string unknown = EncodeBackfillJob(job) + field19 + '\x07';
  CHECK(DecodeBackfillJob(unknown).status().code() ==
        absl::StatusCode::kDataLoss);
}

}  // namespace
}  // namespace cutover
