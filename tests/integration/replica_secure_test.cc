// A read replica in a deployment that checks credentials: the primary
// serves TLS and tokens; the replica follows it over TLS (follow_ca_file)
// with a reader token (follow_token_file), checks tokens itself, and sends
// a backfill driver's calls (StartBackfill, CheckpointBackfill,
// GetBackfill) on to the primary with the caller's own token, so the job
// is the primary's and names the caller, and a reader is refused there as
// on the primary.
#include <catch2/catch.hpp>

#include <csignal>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "client/admin_client.h"
#include "cutover/v1/cutover.pb.h"
#include "google/protobuf/util/message_differencer.h"
#include "tests/integration/admin_calls.h"
#include "tests/integration/harness.h"
#include "tests/integration/replica_world.h"
#include "tests/integration/security_fixtures.h"

namespace cutover::testing {
namespace {

// An AdminClient for `server` over TLS (the test CA) sending `token`.
std::unique_ptr<AdminClient> TlsAdmin(const std::string& server,
                                      const Pki& pki,
                                      const std::string& token) {
  AdminClientOptions options;
  options.channel.server = server;
  options.channel.tls_ca_file = pki("ca.pem");
  options.channel.token = token;
  options.deadline = absl::Seconds(10);
  absl::StatusOr<std::unique_ptr<AdminClient>> admin =
      AdminClient::Create(options);
  REQUIRE(admin.ok());
  return *std::move(admin);
}

TEST_CASE("over TLS with tokens, a replica follows its primary and forwards "
          "a backfill driver's calls with the caller's own token",
          "[replica][tls]") {
  TempDir dir;
  Pki pki(dir.path());
  Tokens tokens(dir.path());
  const std::string tls_config = dir.path() + "/tls.yaml";
  REQUIRE(ReplaceFile(tls_config, pki.ServerTlsConfig()));
  const std::string follow_token = dir.path() + "/follow.token";
  REQUIRE(ReplaceFile(follow_token, tokens.by_role[Role::kReader] + "\n"));

  DaemonProcess primary(dir.path() + "/primary",
                        {"--config", tls_config, "--auth", "tokens",
                         "--token-file", tokens.file});
  REQUIRE(primary.Start());
  primary.KeepPort();
  auto to_primary =
      TlsAdmin(primary.address(), pki, tokens.by_role[Role::kAdmin]);
  REQUIRE(CreateFlag(*to_primary, OffFlag("orders")).ok());
  REQUIRE(SetStage(*to_primary, "orders", v1::DUALWRITE).ok());

  DaemonProcess replica(
      dir.path() + "/replica",
      {"--config", tls_config, "--auth", "tokens", "--token-file", tokens.file,
       "--follow", primary.address(), "--follow-ca-file", pki("ca.pem"),
       "--follow-token-file", follow_token});
  REQUIRE(replica.Start());
  auto reader_at_replica =
      TlsAdmin(replica.address(), pki, tokens.by_role[Role::kReader]);
  REQUIRE(WaitForRevision(*reader_at_replica, Revision(*to_primary)));
  absl::StatusOr<v1::DecideResponse> decided =
      Decide(*reader_at_replica, "orders", "u-1");
  REQUIRE(decided.ok());
  CHECK(decided->decision().stage() == v1::DUALWRITE);

  // The driver's calls, made to the replica by an operator.
  auto operator_at_replica =
      TlsAdmin(replica.address(), pki, tokens.by_role[Role::kOperator]);
  v1::StartBackfillRequest start;
  start.set_flag_key("orders");
  start.set_rows_total_estimate(10);
  absl::StatusOr<v1::BackfillJob> started =
      operator_at_replica->StartBackfill(start);
  INFO(started.status().ToString());
  REQUIRE(started.ok());
  CHECK(started->started_by() == "operator-bot");
  v1::CheckpointBackfillRequest page;
  page.set_flag_key("orders");
  page.set_run_id(started->run_id());
  page.set_sequence(started->sequence());
  page.set_phase(v1::COPYING);
  page.set_cursor("row-10");
  page.set_pass_done(true);
  page.set_rows_copied(10);
  absl::StatusOr<v1::BackfillJob> checkpointed =
      operator_at_replica->CheckpointBackfill(page);
  INFO(checkpointed.status().ToString());
  REQUIRE(checkpointed.ok());
  CHECK(checkpointed->rows_copied() == 10);

  // The job is the primary's, and reads the same through the replica.
  v1::GetBackfillRequest get;
  get.set_flag_key("orders");
  absl::StatusOr<v1::BackfillJob> at_primary = to_primary->GetBackfill(get);
  absl::StatusOr<v1::BackfillJob> via_replica =
      operator_at_replica->GetBackfill(get);
  REQUIRE(at_primary.ok());
  REQUIRE(via_replica.ok());
  CHECK(google::protobuf::util::MessageDifferencer::Equals(*at_primary,
                                                           *via_replica));
  CHECK(at_primary->rows_copied() == 10);

  // A reader may not start one, here or there; other writes stay refused.
  absl::StatusOr<v1::BackfillJob> by_reader =
      reader_at_replica->StartBackfill(start);
  CHECK(by_reader.status().code() == absl::StatusCode::kPermissionDenied);
  CHECK(SetStage(*operator_at_replica, "orders", v1::SHADOW).status().code() ==
        absl::StatusCode::kFailedPrecondition);

  // The primary away: the driver is told UNAVAILABLE (it retries), and
  // nothing is recorded anywhere.
  REQUIRE(primary.Stop(SIGKILL) == -SIGKILL);
  page.set_sequence(checkpointed->sequence());
  page.set_phase(v1::VERIFYING);
  page.set_rows_copied(0);
  page.set_rows_verified(10);
  absl::StatusOr<v1::BackfillJob> away =
      operator_at_replica->CheckpointBackfill(page);
  CHECK(away.status().code() == absl::StatusCode::kUnavailable);
  CHECK_THAT(std::string(away.status().message()),
             Catch::Contains("forwarded by read replica to " +
                             primary.address()));
  REQUIRE(primary.Start());
  to_primary = TlsAdmin(primary.address(), pki, tokens.by_role[Role::kAdmin]);
  at_primary = to_primary->GetBackfill(get);
  REQUIRE(at_primary.ok());
  CHECK(at_primary->rows_verified() == 0);
  CHECK(at_primary->sequence() == checkpointed->sequence());
}

}  // namespace
}  // namespace cutover::testing
