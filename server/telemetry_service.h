// TelemetryService: the gRPC Telemetry API (ReportMigrationOps) on gRPC's
// callback API. Client libraries report batches of migration operation
// counts and of the decisions they made themselves (local evaluation);
// each batch is checked whole, then its operation entries for flags in
// the current snapshot go to the OpAggregator, and its decision entries
// to the decision metric (ServerMetrics::CountClientDecisions), labelled
// as the daemon labels its own: a key the snapshot does not have under
// kUnknownFlagLabel, an archived flag under its key.
//
// A batch with a malformed entry (or too many entries) is refused with
// INVALID_ARGUMENT naming the first bad field, e.g. "counts[3].origin: ...",
// "decisions[0].reason: ...", and nothing from it is added. Operation
// entries for a flag that does not exist (or is archived) are counted as
// rejected, not errors, so a client that still reports a retired flag
// loses nothing else. A call never touches the store.
//
// On a read replica (a Follower given) a checked batch is not counted
// here but queued for the primary (Follower::ForwardReport), which counts
// it: the primary's gates and ramps see every client, and no dashboard
// counts a report twice.
//
// Thread-safe.
#ifndef CUTOVER_SERVER_TELEMETRY_SERVICE_H_
#define CUTOVER_SERVER_TELEMETRY_SERVICE_H_

#include "absl/status/status.h"
#include "cutover/v1/cutover.grpc.pb.h"
#include "server/auth.h"
#include "server/change_hub.h"
#include "server/follower.h"
#include "server/op_aggregator.h"
#include "server/server_metrics.h"

namespace cutover {

// Limits on telemetry requests.
struct TelemetryLimits {
  int max_counts = 10000;  // entries per batch
  int max_decisions = 10000;  // decision entries per batch
  int max_flag_key_length = 128;
  int max_client_length = 256;  // ReportMigrationOpsRequest.client
};

// OK, or INVALID_ARGUMENT naming the first field that breaks a rule.
// Flags are not looked up here.
absl::Status CheckReport(const v1::ReportMigrationOpsRequest& request,
                         const TelemetryLimits& limits);

class TelemetryService final : public v1::Telemetry::CallbackService {
 public:
  // `metrics` counts accepted and refused entries (nullptr: nothing
  // counted); it must outlive the service.
  // `authorizer` decides who may report (nullptr: everyone). `follower`
  // (a replica's; nullptr on a primary) takes the checked batches.
  TelemetryService(ChangeHub* hub, OpAggregator* aggregator,
                   TelemetryLimits limits = {},
                   ServerMetrics* metrics = nullptr,
                   const Authorizer* authorizer = nullptr,
                   Follower* follower = nullptr);

  grpc::ServerUnaryReactor* ReportMigrationOps(
      grpc::CallbackServerContext* context,
      const v1::ReportMigrationOpsRequest* request,
      v1::ReportMigrationOpsResponse* response) override;

 private:
  ChangeHub* const hub_;
  OpAggregator* const aggregator_;
  const TelemetryLimits limits_;
  ServerMetrics* const metrics_;
  const Authorizer* const authorizer_;
  Follower* const follower_;
};

}  // namespace cutover

#endif  // CUTOVER_SERVER_TELEMETRY_SERVICE_H_
