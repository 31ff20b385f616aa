// The flagd evaluation protocol (v1 and v2) against a real cutoverd: every
// ResolveString answer equals cutover.v1.Evaluation/Decide's for the same
// user, user by user, over flags with rules, segments, a bucket attribute
// and rollouts (tests/fixtures/flagd_world.yaml); reasons, metadata,
// ResolveObject, ResolveAll, the refusals, and EventStream.
#include <catch2/catch.hpp>
#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "cutover/v1/cutover.grpc.pb.h"
#include "flagd/evaluation/v1/evaluation.pb.h"
#include "flagd/evaluation/v2/evaluation.pb.h"
#include "flagd/sync/v1/sync.pb.h"
#include "google/protobuf/util/json_util.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"
#include "tests/integration/flagd_calls.h"
#include "tests/integration/harness.h"

namespace cutover::testing {
namespace {

namespace fv1 = flagd::evaluation::v1;
namespace fv2 = flagd::evaluation::v2;
using google::protobuf::Struct;

const char* const kFlags[] = {"orders", "payments", "invoices",
                              "ledger", "audit",    "sessions"};
constexpr int kUsers = 2000;

// A started daemon with the fixture's flags applied.
class FlagdWorld {
 public:
  FlagdWorld() : daemon_(dir_.path() + "/data") {
    const bool started = daemon_.Start();
    INFO("cutoverd stderr:\n" << daemon_.last_stderr());
    REQUIRE(started);
    const RunResult applied = RunCli(
        daemon_.address(),
        {"apply", "--force", "-f",
         std::string(CUTOVER_SOURCE_DIR) + "/tests/fixtures/flagd_world.yaml"});
    INFO(applied.out << applied.err);
    REQUIRE(applied.exit_code == 0);
    channel_ = grpc::CreateChannel(daemon_.address(),
                                   grpc::InsecureChannelCredentials());
    evaluation_ = v1::Evaluation::NewStub(channel_);
  }

  v1::DecideResponse Decide(const std::string& flag,
                            const v1::Context& context) {
    v1::DecideRequest request;
    request.set_flag_key(flag);
    *request.mutable_context() = context;
    v1::DecideResponse response;
    grpc::ClientContext call;
    call.set_deadline(std::chrono::system_clock::now() +
                      std::chrono::seconds(10));
    const grpc::Status status = evaluation_->Decide(&call, request, &response);
    REQUIRE(status.ok());
    return response;
  }

  DaemonProcess& daemon() { return daemon_; }
  std::shared_ptr<grpc::Channel> channel() { return channel_; }

 private:
  TempDir dir_;
  DaemonProcess daemon_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<v1::Evaluation::Stub> evaluation_;
};

// User i's context, in both forms: flagd's Struct (numbers and bools as
// JSON values) and cutover's (their canonical strings).
void UserContext(int i, Struct* flagd, v1::Context* cutover) {
  static const char* const kRegions[] = {"eu-west-1", "us-east-1",
                                         "eu-central-1", "ap-south-1"};
  static const char* const kPlans[] = {"free", "pro", "enterprise"};
  const std::string key = absl::StrCat("u-", i);
  const std::string tenant = absl::StrCat("t-", i % 97);
  const double seats = (i * 37) % 1000;
  const bool beta = i % 5 == 0;
  auto& f = *flagd->mutable_fields();
  f["targetingKey"].set_string_value(key);
  f["tenant"].set_string_value(tenant);
  f["region"].set_string_value(kRegions[i % 4]);
  f["plan"].set_string_value(kPlans[i % 3]);
  f["seats"].set_number_value(seats);
  f["beta"].set_bool_value(beta);
  cutover->set_targeting_key(key);
  auto& a = *cutover->mutable_attributes();
  a["tenant"] = tenant;
  a["region"] = kRegions[i % 4];
  a["plan"] = kPlans[i % 3];
  a["seats"] = absl::StrCat(static_cast<int>(seats));
  a["beta"] = beta ? "true" : "false";
}

std::string ExpectedReason(const std::string& flag, v1::Reason reason) {
  switch (reason) {
    case v1::DISABLED:
      return "DISABLED";
    case v1::RULE_MATCH:
    case v1::SPLIT:
      return "TARGETING_MATCH";
    case v1::DEFAULT:  // only ledger has no rules
      return flag == "ledger" ? "STATIC" : "DEFAULT";
    default:
      return "ERROR";
  }
}

std::string Lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(c));
  return s;
}

TEST_CASE("ResolveString (v1 and v2) equals Decide, user by user") {
  FlagdWorld world;
  FlagdCaller v1caller(world.channel(), "v1");
  FlagdCaller v2caller(world.channel(), "v2");
  int compared = 0;
  for (const char* flag : kFlags) {
    for (int i = 0; i < kUsers; ++i) {
      Struct flagd_context;
      v1::Context context;
      UserContext(i, &flagd_context, &context);
      const v1::DecideResponse decided = world.Decide(flag, context);
      const std::string stage =
          Lower(v1::Stage_Name(decided.decision().stage()));
      const std::string reason =
          ExpectedReason(flag, decided.decision().reason());

      fv2::ResolveStringRequest request;
      request.set_flag_key(flag);
      *request.mutable_context() = flagd_context;
      fv2::ResolveStringResponse response;
      const grpc::Status status =
          v2caller.Call("ResolveString", request, &response);
      INFO(flag << " user " << i << ": " << status.error_message());
      REQUIRE(status.ok());
      REQUIRE(response.value() == stage);
      REQUIRE(response.variant() == stage);
      REQUIRE(response.reason() == reason);
      const auto& meta = response.metadata().fields();
      REQUIRE(meta.at("flagVersion").number_value() ==
              static_cast<double>(decided.decision().flag_version()));
      REQUIRE(meta.at("oldTarget").string_value() ==
              decided.decision().old_target());
      ++compared;

      if (i % 10 == 0) {  // v1 too, on a tenth of the users
        fv1::ResolveStringRequest r1;
        r1.set_flag_key(flag);
        *r1.mutable_context() = flagd_context;
        fv1::ResolveStringResponse a1;
        REQUIRE(v1caller.Call("ResolveString", r1, &a1).ok());
        REQUIRE(a1.value() == stage);
        REQUIRE(a1.reason() == reason);
      }
    }
  }
  CHECK(compared == kUsers * 6);
}

TEST_CASE("ResolveObject carries the whole decision, ResolveAll every flag") {
  FlagdWorld world;
  FlagdCaller caller(world.channel(), "v1");
  Struct flagd_context;
  v1::Context context;
  UserContext(3, &flagd_context, &context);  // u-3: internal, rule match
  const v1::Decision decided = world.Decide("orders", context).decision();
  REQUIRE(decided.reason() == v1::RULE_MATCH);

  fv1::ResolveObjectRequest request;
  request.set_flag_key("orders");
  *request.mutable_context() = flagd_context;
  fv1::ResolveObjectResponse response;
  REQUIRE(caller.Call("ResolveObject", request, &response).ok());
  const auto& value = response.value().fields();
  CHECK(value.at("stage").string_value() == "live");
  CHECK(value.at("reads").string_value() == "new+old");
  CHECK(value.at("writes").string_value() == "new+old");
  CHECK(value.at("oldTarget").string_value() == "postgres-orders");
  CHECK(value.at("newTarget").string_value() == "dynamodb-orders");
  CHECK(value.at("reason").string_value() == "RULE_MATCH");
  CHECK(value.at("ruleId").string_value() == "internal-first");
  CHECK(value.at("flagVersion").number_value() == 1);
  CHECK(response.variant() == "live");
  CHECK(response.reason() == "TARGETING_MATCH");

  fv1::ResolveAllRequest all_request;
  *all_request.mutable_context() = flagd_context;
  fv1::ResolveAllResponse all;
  REQUIRE(caller.Call("ResolveAll", all_request, &all).ok());
  REQUIRE(all.flags_size() == 6);
  for (const char* flag : kFlags) {
    const v1::Decision d = world.Decide(flag, context).decision();
    INFO(flag);
    CHECK(all.flags().at(flag).string_value() ==
          Lower(v1::Stage_Name(d.stage())));
    CHECK(all.flags().at(flag).reason() == ExpectedReason(flag, d.reason()));
  }
  CHECK(all.flags().at("audit").reason() == "DISABLED");
}

TEST_CASE("flagd refusals: unknown flag, wrong type, nested context") {
  FlagdWorld world;
  for (const char* version : {"v1", "v2"}) {
    FlagdCaller caller(world.channel(), version);
    INFO(version);
    fv2::ResolveStringRequest unknown;
    unknown.set_flag_key("no-such-flag");
    fv2::ResolveStringResponse response;
    grpc::Status status = caller.Call("ResolveString", unknown, &response);
    CHECK(status.error_code() == grpc::StatusCode::NOT_FOUND);
    CHECK(status.error_message() == "FlagdError:, FLAG_NOT_FOUND");

    fv2::ResolveBooleanRequest boolean;
    boolean.set_flag_key("orders");
    fv2::ResolveBooleanResponse bool_response;
    status = caller.Call("ResolveBoolean", boolean, &bool_response);
    CHECK(status.error_code() == grpc::StatusCode::INVALID_ARGUMENT);
    CHECK(status.error_message() == "FlagdError:, TYPE_MISMATCH");
    fv2::ResolveIntResponse int_response;
    status = caller.Call("ResolveInt", boolean, &int_response);
    CHECK(status.error_code() == grpc::StatusCode::INVALID_ARGUMENT);
    fv2::ResolveFloatResponse float_response;
    status = caller.Call("ResolveFloat", boolean, &float_response);
    CHECK(status.error_code() == grpc::StatusCode::INVALID_ARGUMENT);
    // An unknown flag is NOT_FOUND whatever the type asked.
    boolean.set_flag_key("no-such-flag");
    status = caller.Call("ResolveBoolean", boolean, &bool_response);
    CHECK(status.error_code() == grpc::StatusCode::NOT_FOUND);

    fv2::ResolveStringRequest nested;
    nested.set_flag_key("orders");
    auto& fields = *nested.mutable_context()->mutable_fields();
    fields["targetingKey"].set_string_value("u-1");
    (*fields["address"].mutable_struct_value()->mutable_fields())["city"]
        .set_string_value("Lyon");
    status = caller.Call("ResolveString", nested, &response);
    CHECK(status.error_code() == grpc::StatusCode::INVALID_ARGUMENT);
    CHECK(status.error_message().find("\"address\"") != std::string::npos);
    fields.erase("address");
    fields["groups"].mutable_list_value()->add_values()->set_string_value("a");
    status = caller.Call("ResolveString", nested, &response);
    CHECK(status.error_code() == grpc::StatusCode::INVALID_ARGUMENT);
    CHECK(status.error_message().find("\"groups\"") != std::string::npos);
    fields.erase("groups");
    fields["targetingKey"].set_number_value(7);
    status = caller.Call("ResolveString", nested, &response);
    CHECK(status.error_code() == grpc::StatusCode::INVALID_ARGUMENT);
    CHECK(status.error_message().find("\"targetingKey\"") != std::string::npos);
  }
}

TEST_CASE("EventStream: provider_ready, then a change made with cutoverctl") {
  FlagdWorld world;
  for (const char* version : {"v1", "v2"}) {
    INFO(version);
    FlagdCaller caller(world.channel(), version);
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() +
                         std::chrono::seconds(20));
    auto reader = caller.Events<fv2::EventStreamResponse>(
        &context, fv2::EventStreamRequest());
    fv2::EventStreamResponse event;
    REQUIRE(reader->Read(&event));
    CHECK(event.type() == "provider_ready");

    const RunResult moved =
        RunCli(world.daemon().address(),
               {"stage", "ledger",
                std::string(version) == "v1" ? "live" : "rampdown"});
    INFO(moved.out << moved.err);
    REQUIRE(moved.exit_code == 0);
    // Keep-alives may come between; the change comes within the deadline.
    bool changed = false;
    while (!changed && reader->Read(&event)) {
      if (event.type() != "configuration_change") continue;
      const auto& flags =
          event.data().fields().at("flags").struct_value().fields();
      REQUIRE(flags.count("ledger") == 1);
      CHECK(flags.at("ledger")
                .struct_value()
                .fields()
                .at("type")
                .string_value() == "update");
      changed = true;
    }
    REQUIRE(changed);
    context.TryCancel();
    reader->Finish();

    fv2::ResolveStringRequest request;
    request.set_flag_key("ledger");
    fv2::ResolveStringResponse response;
    REQUIRE(caller.Call("ResolveString", request, &response).ok());
    CHECK(response.value() ==
          (std::string(version) == "v1" ? "live" : "rampdown"));
  }
}

TEST_CASE("flagd's default ports as extra addresses: a provider needs a host") {
  TempDir dir;
  const int evaluation_port = FreeLoopbackPort();
  const int sync_port = FreeLoopbackPort();
  DaemonProcess daemon(
      dir.path() + "/data",
      {"--flagd-evaluation-listen", absl::StrCat("127.0.0.1:", evaluation_port),
       "--flagd-sync-listen", absl::StrCat("127.0.0.1:", sync_port)});
  const bool started = daemon.Start();
  INFO(daemon.last_stderr());
  REQUIRE(started);
  REQUIRE(RunCli(daemon.address(),
                 {"flags", "create", "ledger", "--old", "a", "--new", "b"})
              .exit_code == 0);
  for (int port : {evaluation_port, sync_port}) {
    INFO(port);
    FlagdCaller caller(grpc::CreateChannel(absl::StrCat("127.0.0.1:", port),
                                           grpc::InsecureChannelCredentials()),
                       "v2");
    fv2::ResolveStringRequest request;
    request.set_flag_key("ledger");
    fv2::ResolveStringResponse response;
    const grpc::Status status =
        caller.Call("ResolveString", request, &response);
    INFO(status.error_message());
    REQUIRE(status.ok());
    CHECK(response.value() == "off");
    CHECK(response.reason() == "STATIC");
  }
}

// The sync payload as JSON, parsed into a Struct.
Struct Payload(const std::string& json) {
  Struct out;
  REQUIRE(google::protobuf::util::JsonStringToMessage(json, &out).ok());
  return out;
}

TEST_CASE("flagd sync: the flags it can express, a selector, a change") {
  FlagdWorld world;
  {
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() +
                         std::chrono::seconds(10));
    flagd::sync::v1::FetchAllFlagsResponse response;
    REQUIRE(grpc::internal::BlockingUnaryCall(
                world.channel().get(),
                grpc::internal::RpcMethod(
                    "/flagd.sync.v1.FlagSyncService/FetchAllFlags",
                    grpc::internal::RpcMethod::NORMAL_RPC, world.channel()),
                &context, flagd::sync::v1::FetchAllFlagsRequest(), &response)
                .ok());
    const Struct payload = Payload(response.flag_configuration());
    const auto& flags = payload.fields().at("flags").struct_value().fields();
    CHECK(flags.count("orders") == 1);
    CHECK(flags.count("payments") == 1);
    CHECK(flags.count("invoices") == 1);
    CHECK(flags.count("ledger") == 1);
    CHECK(flags.count("sessions") == 0);  // number and RE2 clauses
    CHECK(flags.count("audit") == 0);     // disabled
    const auto& ledger = flags.at("ledger").struct_value().fields();
    CHECK(ledger.at("defaultVariant").string_value() == "shadow");
    CHECK(ledger.count("targeting") == 0);
    CHECK(ledger.at("variants").struct_value().fields().size() == 6);
  }
  // SyncFlags with a selector header: the selected flag, then again after
  // a change made with cutoverctl.
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() +
                       std::chrono::seconds(20));
  context.AddMetadata("flagd-selector", "ledger, payments");
  auto channel = world.channel();
  std::unique_ptr<grpc::ClientReader<flagd::sync::v1::SyncFlagsResponse>>
      reader(
          grpc::internal::
              ClientReaderFactory<flagd::sync::v1::SyncFlagsResponse>::Create(
                  channel.get(),
                  grpc::internal::RpcMethod(
                      "/flagd.sync.v1.FlagSyncService/SyncFlags",
                      grpc::internal::RpcMethod::SERVER_STREAMING, channel),
                  &context, flagd::sync::v1::SyncFlagsRequest()));
  flagd::sync::v1::SyncFlagsResponse payload;
  REQUIRE(reader->Read(&payload));
  auto flags = Payload(payload.flag_configuration())
                   .fields()
                   .at("flags")
                   .struct_value()
                   .fields();
  CHECK(flags.size() == 2);
  CHECK(flags.count("ledger") == 1);
  const RunResult moved =
      RunCli(world.daemon().address(), {"stage", "ledger", "live"});
  REQUIRE(moved.exit_code == 0);
  REQUIRE(reader->Read(&payload));
  flags = Payload(payload.flag_configuration())
              .fields()
              .at("flags")
              .struct_value()
              .fields();
  CHECK(flags.at("ledger")
            .struct_value()
            .fields()
            .at("defaultVariant")
            .string_value() == "live");
  context.TryCancel();
  reader->Finish();
}

}  // namespace
}  // namespace cutover::testing
