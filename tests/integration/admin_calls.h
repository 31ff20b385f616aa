// Raw gRPC calls to a test daemon for the fault drills (crash, storage
// faults, soak): plaintext stubs, per-call deadlines, and the few admin
// writes and reads the drills repeat. Header-only; link cutover_proto.
#ifndef CUTOVER_TESTS_INTEGRATION_ADMIN_CALLS_H_
#define CUTOVER_TESTS_INTEGRATION_ADMIN_CALLS_H_

#include <chrono>
#include <memory>
#include <set>
#include <string>

#include "cutover/v1/cutover.grpc.pb.h"
#include "grpcpp/client_context.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"

namespace cutover::testing {

inline std::shared_ptr<grpc::Channel> PlainChannel(const std::string& address) {
  return grpc::CreateChannel(address, grpc::InsecureChannelCredentials());
}

inline std::unique_ptr<v1::Admin::Stub> AdminStub(const std::string& address) {
  return v1::Admin::NewStub(PlainChannel(address));
}

inline std::unique_ptr<v1::Evaluation::Stub> EvaluationStub(
    const std::string& address) {
  return v1::Evaluation::NewStub(PlainChannel(address));
}

// A ClientContext whose call must end within `seconds`; one per call.
class Deadline {
 public:
  explicit Deadline(double seconds) {
    context_.set_deadline(
        std::chrono::system_clock::now() +
        std::chrono::milliseconds(static_cast<int64_t>(seconds * 1000)));
  }
  grpc::ClientContext* get() { return &context_; }

 private:
  grpc::ClientContext context_;
};

// An enabled flag serving OFF, old-db -> new-db, with `description`.
inline v1::Flag OffFlag(const std::string& key,
                        const std::string& description = "") {
  v1::Flag flag;
  flag.set_key(key);
  flag.set_description(description);
  flag.set_old_target("old-db");
  flag.set_new_target("new-db");
  flag.set_enabled(true);
  flag.mutable_default_serve()->set_stage(v1::OFF);
  return flag;
}

inline grpc::Status CreateFlag(v1::Admin::Stub& admin, const v1::Flag& flag,
                               v1::Flag* created, double seconds = 10) {
  v1::CreateFlagRequest request;
  *request.mutable_flag() = flag;
  Deadline call(seconds);
  return admin.CreateFlag(call.get(), request, created);
}

inline grpc::Status SetStage(v1::Admin::Stub& admin, const std::string& key,
                             v1::Stage stage, v1::Flag* result,
                             double seconds = 10) {
  v1::SetStageRequest request;
  request.set_key(key);
  request.set_stage(stage);
  Deadline call(seconds);
  return admin.SetStage(call.get(), request, result);
}

// The keys of every flag (archived too); false if the call failed.
inline bool ListFlagKeys(v1::Admin::Stub& admin, std::set<std::string>* keys,
                         double seconds = 20) {
  v1::ListFlagsRequest request;
  request.set_include_archived(true);
  v1::ListFlagsResponse response;
  Deadline call(seconds);
  if (!admin.ListFlags(call.get(), request, &response).ok()) return false;
  for (const auto& flag : response.flags()) keys->insert(flag.key());
  return true;
}

// Decide of `flag_key` for user `user`.
inline grpc::Status Decide(v1::Evaluation::Stub& evaluation,
                           const std::string& flag_key,
                           const std::string& user,
                           v1::DecideResponse* response, double seconds = 10) {
  v1::DecideRequest request;
  request.set_flag_key(flag_key);
  request.mutable_context()->set_targeting_key(user);
  Deadline call(seconds);
  return evaluation.Decide(call.get(), request, response);
}

}  // namespace cutover::testing

#endif  // CUTOVER_TESTS_INTEGRATION_ADMIN_CALLS_H_
