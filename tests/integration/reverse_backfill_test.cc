// Reverse backfills (new -> old) against the real daemon: a flag's FORWARD
// and REVERSE jobs started, checkpointed, read, listed and reset apart
// through gRPC and cutoverctl (--reverse, the list's direction column,
// JSON and YAML), kept across a restart; a done REVERSE job does not open
// the require_backfill gate; an unknown direction is INVALID_ARGUMENT.
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
#include "google/protobuf/util/json_util.h"
#include "tests/integration/cli_fixture.h"
#include "tests/integration/harness.h"
#include "tests/prometheus_text.h"

namespace cutover::testing {
namespace {

// CliFixture plus an AdminClient for the driver's calls.
class ReverseFixture : public CliFixture {
 public:
  ReverseFixture() : admin_(ConnectAdmin(daemon().address())) {
    Ok({"flags", "create", "orders", "--old", "pg", "--new", "dynamo",
        "--require-backfill"});
  }

  // Starts (or takes over) the orders job of `direction`.
  v1::BackfillJob Start(v1::BackfillDirection direction) {
    v1::StartBackfillRequest request;
    request.set_flag_key("orders");
    request.set_direction(direction);
    request.set_rows_total_estimate(10);
    absl::StatusOr<v1::BackfillJob> started = admin_->StartBackfill(request);
    INFO(started.status().ToString());
    REQUIRE(started.ok());
    return *started;
  }

  // Records a page of `job`'s phase (`job.direction()` names the job).
  absl::StatusOr<v1::BackfillJob> Page(const v1::BackfillJob& job,
                                       int64_t rows, bool done) {
    v1::CheckpointBackfillRequest request;
    request.set_flag_key("orders");
    request.set_direction(job.direction());
    request.set_run_id(job.run_id());
    request.set_sequence(job.sequence());
    request.set_phase(job.phase());
    request.set_cursor("after-" + std::to_string(job.sequence()));
    request.set_pass_done(done);
    if (job.phase() == v1::COPYING) {
      request.set_rows_copied(rows);
    } else {
      request.set_rows_verified(rows);
    }
    return admin_->CheckpointBackfill(request);
  }

  absl::StatusOr<v1::BackfillJob> Get(v1::BackfillDirection direction) {
    v1::GetBackfillRequest request;
    request.set_flag_key("orders");
    request.set_direction(direction);
    return admin_->GetBackfill(request);
  }

  std::vector<v1::BackfillJob> List() {
    absl::StatusOr<v1::ListBackfillsResponse> list =
        admin_->ListBackfills(v1::ListBackfillsRequest());
    REQUIRE(list.ok());
    return {list->jobs().begin(), list->jobs().end()};
  }

  AdminClient& admin() { return *admin_; }

 private:
  std::unique_ptr<AdminClient> admin_;
};

v1::BackfillJob FromJson(const std::string& json) {
  v1::BackfillJob job;
  REQUIRE(google::protobuf::util::JsonStringToMessage(json, &job).ok());
  return job;
}

TEST_CASE_METHOD(ReverseFixture,
                 "a flag's forward and reverse backfill jobs are started, "
                 "checkpointed, read, listed and reset apart",
                 "[backfill][reverse]") {
  // A reverse job alone, done: the require_backfill gate still holds.
  v1::BackfillJob reverse = Start(v1::REVERSE);
  CHECK(reverse.direction() == v1::REVERSE);
  CHECK(reverse.phase() == v1::COPYING);
  for (bool done : {false, true}) {
    absl::StatusOr<v1::BackfillJob> next = Page(reverse, 5, done);
    REQUIRE(next.ok());
    reverse = *next;
  }
  CHECK(reverse.phase() == v1::VERIFYING);
  absl::StatusOr<v1::BackfillJob> verified = Page(reverse, 10, true);
  REQUIRE(verified.ok());
  reverse = *verified;
  CHECK(reverse.phase() == v1::DONE);
  CHECK(reverse.rows_copied() == 10);
  CHECK(reverse.has_verify_done_time());
  CHECK(Get(v1::FORWARD).status().code() == absl::StatusCode::kNotFound);
  CHECK(Get(v1::BACKFILL_DIRECTION_UNSPECIFIED).status().code() ==
        absl::StatusCode::kNotFound);
  Ok({"stage", "orders", "dualwrite"});
  RunResult refused = Ctl({"stage", "orders", "shadow"});
  CHECK(refused.exit_code == 2);
  CHECK(absl::StrContains(refused.err,
                          "require_backfill: flag orders has no backfill job"));

  // The forward job: its own run, sequence and counts.
  v1::BackfillJob forward = Start(v1::BACKFILL_DIRECTION_UNSPECIFIED);
  CHECK(forward.direction() == v1::FORWARD);
  CHECK(forward.sequence() == 0);
  CHECK(forward.run_id() != reverse.run_id());
  absl::StatusOr<v1::BackfillJob> paged = Page(forward, 3, false);
  REQUIRE(paged.ok());
  forward = *paged;
  // A page naming the forward run on the reverse job is refused.
  v1::BackfillJob crossed = forward;
  crossed.set_direction(v1::REVERSE);
  CHECK(Page(crossed, 1, false).status().code() == absl::StatusCode::kAborted);
  absl::StatusOr<v1::BackfillJob> got = Get(v1::REVERSE);
  REQUIRE(got.ok());
  CHECK(got->sequence() == reverse.sequence());
  CHECK(got->phase() == v1::DONE);
  got = Get(v1::FORWARD);
  REQUIRE(got.ok());
  CHECK(got->rows_copied() == 3);

  // Listed forward first, both through gRPC and cutoverctl.
  std::vector<v1::BackfillJob> listed = List();
  REQUIRE(listed.size() == 2);
  CHECK(listed[0].direction() == v1::FORWARD);
  CHECK(listed[1].direction() == v1::REVERSE);
  const std::string table = Ok({"backfill", "list"});
  CHECK(absl::StrContains(table, "DIRECTION"));
  CHECK(absl::StrContains(table, "forward"));
  CHECK(absl::StrContains(table, "reverse"));
  CHECK(table.find("forward") < table.find("reverse"));

  // cutoverctl status: the forward job, or with --reverse the reverse one.
  v1::BackfillJob shown =
      FromJson(Ok({"backfill", "status", "orders", "-o", "json"}));
  CHECK(shown.direction() == v1::FORWARD);
  CHECK(shown.phase() == v1::COPYING);
  shown = FromJson(
      Ok({"backfill", "status", "orders", "--reverse", "-o", "json"}));
  CHECK(shown.direction() == v1::REVERSE);
  CHECK(shown.phase() == v1::DONE);
  CHECK(absl::StrContains(
      Ok({"backfill", "status", "orders", "--reverse", "-o", "yaml"}),
      "direction: reverse"));
  CHECK(absl::StrContains(Ok({"backfill", "status", "orders", "--reverse"}),
                          "reverse (new -> old)"));
  CHECK(absl::StrContains(Ok({"backfill", "list", "-o", "json"}),
                          "\"direction\": \"REVERSE\""));

  // The metrics tell the two apart.
  const RunResult scrape = HttpGet(absl::StrCat(
      "http://127.0.0.1:", daemon().metrics_port(), "/metrics"));
  REQUIRE(scrape.exit_code == 0);
  Exposition metrics;
  std::string bad_line;
  REQUIRE(ParseExposition(scrape.out, &metrics, &bad_line));
  CHECK(metrics.Value("cutover_backfill_rows", {{"flag", "orders"},
                                                {"direction", "forward"},
                                                {"kind", "copied"}}) == 3);
  CHECK(metrics.Value("cutover_backfill_rows", {{"flag", "orders"},
                                                {"direction", "reverse"},
                                                {"kind", "copied"}}) == 10);
  CHECK(metrics.Value("cutover_backfill_phase", {{"flag", "orders"},
                                                 {"direction", "reverse"},
                                                 {"phase", "done"}}) == 1);

  // Both survive a restart.
  daemon().KeepPort();
  REQUIRE(daemon().Stop(SIGKILL) != 0);
  REQUIRE(daemon().Start());
  v1::ListBackfillsResponse after;
  REQUIRE(google::protobuf::util::JsonStringToMessage(
              Ok({"backfill", "list", "-o", "json"}), &after)
              .ok());
  listed.assign(after.jobs().begin(), after.jobs().end());
  REQUIRE(listed.size() == 2);
  CHECK(listed[0].rows_copied() == 3);
  CHECK(listed[1].rows_copied() == 10);
  CHECK(listed[1].phase() == v1::DONE);
  CHECK(listed[1].verify_done_time().seconds() ==
        reverse.verify_done_time().seconds());

  // Resetting the reverse job leaves the forward one.
  CHECK(absl::StrContains(Ok({"backfill", "reset", "orders", "--reverse"}),
                          "reverse backfill of orders reset (it was done"));
  RunResult gone = Ctl({"backfill", "status", "orders", "--reverse"});
  CHECK(gone.exit_code == 2);
  CHECK(absl::StrContains(gone.err, "no reverse backfill job"));
  CHECK(absl::StrContains(Ok({"backfill", "reset", "orders"}),
                          "backfill of orders reset (it was copying"));
  CHECK(Ok({"backfill", "list"}) == "no backfill jobs\n");
}

TEST_CASE_METHOD(ReverseFixture,
                 "a backfill direction the API does not define is "
                 "INVALID_ARGUMENT naming the field, and changes nothing",
                 "[backfill][reverse]") {
  const auto bad = static_cast<v1::BackfillDirection>(7);
  v1::StartBackfillRequest start;
  start.set_flag_key("orders");
  start.set_direction(bad);
  const absl::Status started = admin().StartBackfill(start).status();
  CHECK(started.code() == absl::StatusCode::kInvalidArgument);
  CHECK(absl::StartsWith(started.message(), "direction: must be FORWARD or "
                                            "REVERSE"));
  CHECK(Get(bad).status().code() == absl::StatusCode::kInvalidArgument);
  v1::ResetBackfillRequest reset;
  reset.set_flag_key("orders");
  reset.set_direction(bad);
  CHECK(admin().ResetBackfill(reset).status().code() ==
        absl::StatusCode::kInvalidArgument);
  v1::BackfillJob job = Start(v1::FORWARD);
  job.set_direction(bad);
  CHECK(Page(job, 1, false).status().code() ==
        absl::StatusCode::kInvalidArgument);
  const std::vector<v1::BackfillJob> listed = List();
  REQUIRE(listed.size() == 1);
  CHECK(listed[0].sequence() == 0);
}

}  // namespace
}  // namespace cutover::testing
