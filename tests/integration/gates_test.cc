// Stage gates and backfill jobs against the real daemon: every refusal of
// every gate with its figure, the --force path and its history record, and
// the backfill API's fencing (run takeover, stale sequence, wrong phase)
// and input checks.
#include <catch2/catch.hpp>

#include <signal.h>

#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "client/admin_client.h"
#include "cutover/v1/cutover.pb.h"
#include "tests/integration/cli_fixture.h"
#include "tests/integration/harness.h"
#include "tests/prometheus_text.h"

namespace cutover::testing {
namespace {

// CliFixture plus an AdminClient for what cutoverctl does not do: backfill
// checkpoints (the driver's calls) and telemetry reports (the Migrator's).
class GatesFixture : public CliFixture {
 public:
  GatesFixture() : admin_(ConnectAdmin(daemon().address())) {}

  // cutoverctl `args`, expected to fail with a message containing `text`;
  // the flag's version must not change.
  void Refused(const std::vector<std::string>& args, const std::string& text) {
    const int64_t version = GetFlag("orders").version();
    RunResult result = Ctl(args);
    INFO("cutoverctl " << Join(args) << "\nstderr: " << result.err);
    CHECK(result.exit_code == 2);  // refused, not failed
    CHECK(absl::StrContains(result.err, "FAILED_PRECONDITION"));
    CHECK(absl::StrContains(result.err, text));
    CHECK(GetFlag("orders").version() == version);
  }

  // Starts (or takes over) the backfill of orders; sets `job` on success.
  absl::Status Start(v1::BackfillJob* job) {
    v1::StartBackfillRequest request;
    request.set_flag_key("orders");
    request.set_rows_total_estimate(100);
    absl::StatusOr<v1::BackfillJob> started = admin_->StartBackfill(request);
    if (started.ok()) *job = *std::move(started);
    return started.status();
  }

  // Records a page of `job`'s phase; updates `job` on success.
  absl::Status Page(v1::BackfillJob* job, int64_t rows, bool done,
                    int64_t mismatched = 0, int64_t repaired = 0) {
    v1::CheckpointBackfillRequest request;
    request.set_flag_key("orders");
    request.set_run_id(job->run_id());
    request.set_sequence(job->sequence());
    request.set_phase(job->phase());
    request.set_cursor("after-" + std::to_string(job->sequence()));
    request.set_pass_done(done);
    if (job->phase() == v1::COPYING) {
      request.set_rows_copied(rows);
    } else {
      request.set_rows_verified(rows);
      request.set_rows_mismatched(mismatched);
      request.set_rows_repaired(repaired);
    }
    return Checkpoint(request, job);
  }

  absl::Status Checkpoint(const v1::CheckpointBackfillRequest& request,
                          v1::BackfillJob* job) {
    absl::StatusOr<v1::BackfillJob> answer =
        admin_->CheckpointBackfill(request);
    if (answer.ok()) *job = *std::move(answer);
    return answer.status();
  }

  // Reports `matches` and `mismatches` compared shadow reads of orders.
  void Compared(uint64_t matches, uint64_t mismatches) {
    v1::ReportMigrationOpsRequest request;
    for (auto [result, count] : {std::pair{v1::MATCH, matches},
                                 std::pair{v1::MISMATCH, mismatches}}) {
      v1::MigrationOpCount* entry = request.add_counts();
      entry->set_flag_key("orders");
      entry->set_stage(v1::SHADOW);
      entry->set_op("read");
      entry->set_origin(v1::NEW);
      entry->set_result(result);
      entry->set_count(count);
    }
    absl::StatusOr<v1::ReportMigrationOpsResponse> response =
        admin_->ReportMigrationOps(request);
    REQUIRE(response.ok());
    REQUIRE(response->accepted() == 2);
  }

 private:
  std::unique_ptr<AdminClient> admin_;
};

TEST_CASE_METHOD(GatesFixture,
                 "require_backfill holds shadow until the backfill is done "
                 "and repaired",
                 "[gates]") {
  Ok({"flags", "create", "orders", "--old", "pg", "--new", "dynamo",
      "--require-backfill"});
  Ok({"stage", "orders", "dualwrite"});  // dualwrite reads only old
  Refused({"stage", "orders", "shadow"},
          "gate require_backfill: flag orders has no backfill job");
  // A share is a move too.
  Refused({"rollout", "orders", "shadow=5", "dualwrite=95"},
          "gate require_backfill");
  Refused({"rules", "add", "orders", "--if", "region in eu", "--serve",
           "shadow"},
          "gate require_backfill");

  v1::BackfillJob job;
  REQUIRE(Start(&job).ok());
  REQUIRE(Page(&job, 60, false).ok());
  Refused({"stage", "orders", "shadow"},
          "the backfill of orders is copying (60 of about 100 rows copied, 0 "
          "verified), not done");
  REQUIRE(Page(&job, 40, true).ok());
  CHECK(job.phase() == v1::VERIFYING);
  Refused({"stage", "orders", "shadow"}, "is verifying");
  REQUIRE(Page(&job, 100, true, 3, 2).ok());
  CHECK(job.phase() == v1::DONE);
  Refused({"stage", "orders", "shadow"},
          "verify pass found 3 rows mismatched and repaired only 2");

  // Reset, and a clean run opens the gate.
  Ok({"backfill", "reset", "orders"});
  REQUIRE(Start(&job).ok());
  CHECK(job.rows_copied() == 0);
  REQUIRE(Page(&job, 100, true).ok());
  REQUIRE(Page(&job, 100, true).ok());
  CHECK(job.phase() == v1::DONE);
  const std::string status = Ok({"backfill", "status", "orders"});
  CHECK(absl::StrContains(status, "done"));
  CHECK(absl::StrContains(status, "100 of ~100"));
  Ok({"stage", "orders", "shadow"});
  CHECK(GetFlag("orders").default_serve().stage() == v1::SHADOW);
}

TEST_CASE_METHOD(GatesFixture,
                 "min_samples and max_mismatch_rate hold live, ramps "
                 "included, and force overrides with a record",
                 "[gates]") {
  Ok({"flags", "create", "orders", "--old", "pg", "--new", "dynamo",
      "--max-mismatch-rate", "0.01", "--min-samples", "100"});
  Ok({"stage", "orders", "dualwrite"});
  Ok({"stage", "orders", "shadow"});  // no backfill gate declared
  Refused({"rollout", "orders", "live=5", "shadow=95"},
          "gate min_samples: 0 compared reads in the last 300 s window, "
          "fewer than 100");
  Compared(50, 0);
  Refused({"rollout", "orders", "live=5", "shadow=95"},
          "gate min_samples: 50 compared reads");
  Compared(100, 5);  // 155 compared, 5 mismatches: 3.2%
  Refused({"rollout", "orders", "live=5", "shadow=95"},
          "gate max_mismatch_rate: mismatch rate 0.0322581 (5 of 155 "
          "compared reads in the last 300 s window) is above 0.01");
  Compared(1000, 0);  // 5 of 1155: 0.43%
  Ok({"rollout", "orders", "live=5", "shadow=95"});

  // The next ramp step is checked too.
  Compared(0, 100);  // 105 of 1255
  Refused({"rollout", "orders", "live=25", "shadow=75"},
          "gate max_mismatch_rate");
  // Moving back is always allowed.
  Ok({"rollout", "orders", "live=1", "shadow=99"});
  // Force goes ahead, and the history says which gate it overrode.
  Ok({"rollout", "orders", "live=25", "shadow=75", "--force", "-m",
      "drill"});
  const std::string history = Ok({"history", "orders", "--limit", "1"});
  CHECK(absl::StrContains(history, "FORCED"));
  CHECK(absl::StrContains(history, "forced past gate max_mismatch_rate"));
  v1::GetHistoryResponse json;
  REQUIRE(google::protobuf::util::JsonStringToMessage(
              Ok({"history", "orders", "--limit", "1", "-o", "json"}), &json)
              .ok());
  REQUIRE(json.entries_size() == 1);
  CHECK(json.entries(0).forced());
  REQUIRE(json.entries(0).overridden_gates_size() == 1);
  CHECK(absl::StartsWith(json.entries(0).overridden_gates(0),
                         "max_mismatch_rate: mismatch rate"));

  // Gates can be changed later, and dropped.
  Ok({"flags", "gates", "orders", "--clear"});
  const v1::Gates cleared = GetFlag("orders").gates();
  CHECK_FALSE(cleared.require_backfill());
  CHECK_FALSE(cleared.has_max_mismatch_rate());
  CHECK(cleared.min_samples() == 0);
  Ok({"rollout", "orders", "live=50", "shadow=50"});
  Ok({"flags", "gates", "orders", "--min-samples", "100000"});
  CHECK(GetFlag("orders").gates().min_samples() == 100000);
  Refused({"stage", "orders", "live"}, "gate min_samples");
  Ok({"rollback", "orders"});  // rollback is never held
}

TEST_CASE_METHOD(GatesFixture, "bad gate values exit 2 and change nothing",
                 "[gates]") {
  RunResult result = Ctl({"flags", "create", "orders", "--old", "pg", "--new",
                          "dynamo", "--max-mismatch-rate", "1.5"});
  CHECK(result.exit_code == 2);
  CHECK(absl::StrContains(result.err, "gates.max_mismatch_rate"));
  CHECK(Ctl({"flags", "get", "orders"}).exit_code != 0);
  Ok({"flags", "create", "orders", "--old", "pg", "--new", "dynamo"});
  result = Ctl({"flags", "gates", "orders", "--min-samples", "-5"});
  CHECK(result.exit_code == 2);
  CHECK(absl::StrContains(result.err, "gates.min_samples"));
  CHECK(GetFlag("orders").version() == 1);
}

TEST_CASE_METHOD(GatesFixture,
                 "backfill checkpoints are fenced by run and sequence",
                 "[backfill]") {
  Ok({"flags", "create", "orders", "--old", "pg", "--new", "dynamo"});
  v1::BackfillJob first;
  REQUIRE(Start(&first).ok());
  REQUIRE(Page(&first, 10, false).ok());

  // A second driver takes over; the first one's next page is refused.
  v1::BackfillJob second;
  REQUIRE(Start(&second).ok());
  CHECK(second.runs() == 2);
  CHECK(second.rows_copied() == 10);
  CHECK(second.cursor() == first.cursor());
  v1::BackfillJob stale = first;
  absl::Status status = Page(&stale, 10, false);
  CHECK(status.code() == absl::StatusCode::kAborted);
  CHECK(absl::StrContains(status.message(), "taken over"));

  // A sequence that is not the job's (a page recorded twice) is refused.
  v1::BackfillJob replay = second;
  REQUIRE(Page(&second, 10, false).ok());
  status = Page(&replay, 10, false);
  CHECK(status.code() == absl::StatusCode::kAborted);
  CHECK(absl::StrContains(status.message(), "sequence"));

  // A page of the wrong phase, and bad fields.
  v1::CheckpointBackfillRequest request;
  request.set_flag_key("orders");
  request.set_run_id(second.run_id());
  request.set_sequence(second.sequence());
  request.set_phase(v1::VERIFYING);
  request.set_rows_verified(1);
  status = Checkpoint(request, &replay);
  CHECK(status.code() == absl::StatusCode::kAborted);
  CHECK(absl::StrContains(status.message(), "phase"));
  struct Bad {
    const char* field;
    void (*spoil)(v1::CheckpointBackfillRequest&);
  };
  const Bad bad[] = {
      {"flag_key", [](auto& r) { r.clear_flag_key(); }},
      {"run_id", [](auto& r) { r.clear_run_id(); }},
      {"phase", [](auto& r) { r.set_phase(v1::DONE); }},
      {"cursor", [](auto& r) { r.set_cursor(std::string(5000, 'x')); }},
      {"rows_copied", [](auto& r) {
         r.set_phase(v1::COPYING);
         r.set_rows_verified(0);
         r.set_rows_copied(-1);
       }},
      {"rows_repaired", [](auto& r) {
         r.set_rows_mismatched(1);
         r.set_rows_repaired(2);
       }},
  };
  for (const Bad& b : bad) {
    INFO(b.field);
    v1::CheckpointBackfillRequest spoiled = request;
    b.spoil(spoiled);
    status = Checkpoint(spoiled, &replay);
    CHECK(status.code() == absl::StatusCode::kInvalidArgument);
    CHECK(absl::StartsWith(status.message(), b.field));
  }
  // None of that changed the job.
  const std::string json = Ok({"backfill", "status", "orders", "-o", "json"});
  v1::BackfillJob stored;
  REQUIRE(google::protobuf::util::JsonStringToMessage(json, &stored).ok());
  CHECK(stored.rows_copied() == 20);
  CHECK(stored.sequence() == second.sequence());

  // Unknown flags.
  RunResult unknown = Ctl({"backfill", "status", "payments"});
  CHECK(unknown.exit_code == 2);
  CHECK(absl::StrContains(unknown.err, "NOT_FOUND"));
}

TEST_CASE_METHOD(GatesFixture, "backfill progress is in cutoverd's metrics",
                 "[backfill]") {
  Ok({"flags", "create", "orders", "--old", "pg", "--new", "dynamo"});
  v1::BackfillJob job;
  REQUIRE(Start(&job).ok());
  REQUIRE(Page(&job, 30, false).ok());
  const RunResult scrape = HttpGet(absl::StrCat(
      "http://127.0.0.1:", daemon().metrics_port(), "/metrics"));
  REQUIRE(scrape.exit_code == 0);
  Exposition metrics;
  std::string bad_line;
  REQUIRE(ParseExposition(scrape.out, &metrics, &bad_line));
  CHECK(metrics.Value("cutover_backfill_rows",
                      {{"flag", "orders"}, {"kind", "copied"}}) == 30);
  CHECK(metrics.Value("cutover_backfill_rows",
                      {{"flag", "orders"}, {"kind", "total_estimate"}}) == 100);
  CHECK(metrics.Value("cutover_backfill_phase",
                      {{"flag", "orders"}, {"phase", "copying"}}) == 1);
  CHECK(metrics.Value("cutover_backfill_phase",
                      {{"flag", "orders"}, {"phase", "done"}}) == 0);
  CHECK(metrics.Value("cutover_backfill_eta_seconds", {{"flag", "orders"}})
            .has_value());
  CHECK(metrics.types["cutover_backfill_rows"] == "gauge");
}

TEST_CASE_METHOD(GatesFixture, "backfill jobs survive a daemon restart",
                 "[backfill]") {
  Ok({"flags", "create", "orders", "--old", "pg", "--new", "dynamo"});
  v1::BackfillJob job;
  REQUIRE(Start(&job).ok());
  REQUIRE(Page(&job, 42, false).ok());
  daemon().KeepPort();
  REQUIRE(daemon().Stop(SIGKILL) != 0);
  REQUIRE(daemon().Start());
  const std::string list = Ok({"backfill", "list"});
  CHECK(absl::StrContains(list, "orders"));
  CHECK(absl::StrContains(list, "42 of ~100"));
}

}  // namespace
}  // namespace cutover::testing
