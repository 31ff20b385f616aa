// Every input limit of the real cutoverd on loopback (docs/security.md,
// "Input limits"): for each limited kind of input a request just over the
// limit is refused with the exact gRPC code and a message naming the field
// and the limit, and
// nothing stored changes (flags, segments, versions, histories, telemetry
// figures, backfill jobs); the same request just at the limit succeeds, so
// each case proves the boundary and not merely that something big fails.
//
// Limits come from core/limits.h (flags, segments, backfill checkpoints),
// EvaluationLimits (Decide, DecideBatch, Watch), TelemetryLimits
// (ReportMigrationOps) and the daemon config (max_batch, max_request_bytes,
// max_watch_streams_per_peer).
#include <catch2/catch.hpp>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <fstream>
#include <functional>
#include <limits>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "core/limits.h"
#include "cutover/v1/cutover.grpc.pb.h"
#include "grpcpp/client_context.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"
#include "grpcpp/support/channel_arguments.h"
#include "server/evaluation_service.h"
#include "server/telemetry_service.h"
#include "tests/integration/harness.h"

namespace cutover::testing {
namespace {

constexpr int kCallSeconds = 20;    // deadline of every unary call
constexpr int kStreamSeconds = 20;  // deadline of a Watch stream

// The daemon's limits that the config file below does not change.
const EvaluationLimits kEvaluation;
const TelemetryLimits kTelemetry;

// What the tests' config files set.
constexpr int kMaxBatch = 50;
constexpr int kMaxWatchStreams = 2;
constexpr int kMaxRequestBytes = 65536;

using Code = grpc::StatusCode;

// A ClientContext with a deadline and an actor; one per call.
class Call {
 public:
  Call() {
    context_.set_deadline(std::chrono::system_clock::now() +
                          std::chrono::seconds(kCallSeconds));
    context_.AddMetadata("x-cutover-actor", "limits-test");
  }
  grpc::ClientContext* get() { return &context_; }

 private:
  grpc::ClientContext context_;
};

void RequireOk(const grpc::Status& status) {
  INFO("status " << status.error_code() << ": " << status.error_message());
  REQUIRE(status.error_code() == Code::OK);
}

std::string Repeat(char c, size_t n) { return std::string(n, c); }

// A started daemon on a fresh folder, run with a config file holding
// `config_yaml`, with stubs of the three services.
//
// Raw stubs rather than an AdminClient, on purpose: these tests send
// requests at and past every limit (oversize messages, too many streams)
// and compare the exact gRPC status the daemon answers with, and they
// receive answers larger than a client's 64 MiB bound.
class Server {
 public:
  explicit Server(const std::string& config_yaml)
      : config_path_(dir_.path() + "/cutoverd.yaml"),
        daemon_(dir_.path() + "/data", {"--config", config_path_}) {
    {
      std::ofstream out(config_path_, std::ios::trunc);
      out << config_yaml;
      REQUIRE(out.good());
    }
    const bool started = daemon_.Start();
    INFO("cutoverd stderr:\n" << daemon_.last_stderr());
    REQUIRE(started);
    // Responses may be large: a segment at the entries limit has a history
    // entry of several MiB (its diff lists every entry).
    grpc::ChannelArguments args;
    args.SetMaxReceiveMessageSize(256 << 20);
    channel_ = grpc::CreateCustomChannel(
        daemon_.address(), grpc::InsecureChannelCredentials(), args);
    evaluation_ = v1::Evaluation::NewStub(channel_);
    admin_ = v1::Admin::NewStub(channel_);
    telemetry_ = v1::Telemetry::NewStub(channel_);
  }

  v1::Evaluation::Stub& evaluation() { return *evaluation_; }
  v1::Admin::Stub& admin() { return *admin_; }
  v1::Telemetry::Stub& telemetry() { return *telemetry_; }
  DaemonProcess& daemon() { return daemon_; }

 private:
  TempDir dir_;
  std::string config_path_;
  DaemonProcess daemon_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<v1::Evaluation::Stub> evaluation_;
  std::unique_ptr<v1::Admin::Stub> admin_;
  std::unique_ptr<v1::Telemetry::Stub> telemetry_;
};

std::string MainConfig() {
  return "max_batch: " + std::to_string(kMaxBatch) +
         "\nmax_watch_streams_per_peer: " + std::to_string(kMaxWatchStreams) +
         "\n";
}

// --- requests ---------------------------------------------------------------

constexpr char kBaseFlag[] = "base";
constexpr char kBaseSegment[] = "base-seg";

// One valid clause: tenant in {t1}.
v1::Clause ValidClause() {
  v1::Clause clause;
  clause.set_attribute("tenant");
  clause.set_op(v1::IN);
  clause.add_values("t1");
  return clause;
}

// One valid rule serving OFF (never a stage skip).
v1::Rule ValidRule() {
  v1::Rule rule;
  *rule.add_clauses() = ValidClause();
  rule.mutable_serve()->set_stage(v1::OFF);
  return rule;
}

// A valid flag configuration for `key` with one rule.
v1::Flag ValidFlag(const std::string& key) {
  v1::Flag flag;
  flag.set_key(key);
  flag.set_description("limits test");
  flag.set_owner("team-db");
  flag.add_tags("team:db");
  flag.set_old_target("postgres-orders");
  flag.set_new_target("dynamodb-orders");
  flag.set_enabled(true);
  v1::Rule* rule = flag.add_rules();
  *rule = ValidRule();
  rule->set_id("first");
  flag.mutable_default_serve()->set_stage(v1::OFF);
  return flag;
}

v1::Segment ValidSegment(const std::string& key) {
  v1::Segment segment;
  segment.set_key(key);
  segment.set_description("limits test");
  segment.add_included("u-1");
  segment.add_excluded("u-2");
  *segment.add_clauses() = ValidClause();
  return segment;
}

v1::Flag GetFlag(Server& server, const std::string& key) {
  v1::GetFlagRequest request;
  request.set_key(key);
  v1::Flag flag;
  Call call;
  RequireOk(server.admin().GetFlag(call.get(), request, &flag));
  return flag;
}

v1::Segment GetSegment(Server& server, const std::string& key) {
  v1::GetSegmentRequest request;
  request.set_key(key);
  v1::Segment segment;
  Call call;
  RequireOk(server.admin().GetSegment(call.get(), request, &segment));
  return segment;
}

grpc::Status CreateFlag(Server& server, const v1::Flag& flag) {
  v1::CreateFlagRequest request;
  *request.mutable_flag() = flag;
  v1::Flag created;
  Call call;
  return server.admin().CreateFlag(call.get(), request, &created);
}

// ReplaceFlag of "base" with ValidFlag("base") changed by `edit`, at the
// stored version.
grpc::Status ReplaceBase(Server& server,
                         const std::function<void(v1::Flag&)>& edit) {
  v1::ReplaceFlagRequest request;
  *request.mutable_flag() = ValidFlag(kBaseFlag);
  edit(*request.mutable_flag());
  request.set_expected_version(GetFlag(server, kBaseFlag).version());
  v1::Flag replaced;
  Call call;
  return server.admin().ReplaceFlag(call.get(), request, &replaced);
}

// AddRule of `rule` to "base" (appended).
grpc::Status AddRuleToBase(Server& server, const v1::Rule& rule) {
  v1::AddRuleRequest request;
  request.set_key(kBaseFlag);
  *request.mutable_rule() = rule;
  request.set_index(-1);
  v1::Flag flag;
  Call call;
  return server.admin().AddRule(call.get(), request, &flag);
}

grpc::Status CreateSegment(Server& server, const v1::Segment& segment) {
  v1::CreateSegmentRequest request;
  *request.mutable_segment() = segment;
  v1::Segment created;
  Call call;
  return server.admin().CreateSegment(call.get(), request, &created);
}

// ReplaceSegment of "base-seg" with ValidSegment changed by `edit`.
grpc::Status ReplaceBaseSegment(
    Server& server, const std::function<void(v1::Segment&)>& edit) {
  v1::ReplaceSegmentRequest request;
  *request.mutable_segment() = ValidSegment(kBaseSegment);
  edit(*request.mutable_segment());
  request.set_expected_version(GetSegment(server, kBaseSegment).version());
  v1::Segment replaced;
  Call call;
  return server.admin().ReplaceSegment(call.get(), request, &replaced);
}

grpc::Status Decide(Server& server, const v1::DecideRequest& request) {
  v1::DecideResponse response;
  Call call;
  return server.evaluation().Decide(call.get(), request, &response);
}

v1::DecideRequest ValidDecide() {
  v1::DecideRequest request;
  request.set_flag_key(kBaseFlag);
  request.mutable_context()->set_targeting_key("u-1");
  (*request.mutable_context()->mutable_attributes())["tenant"] = "t1";
  return request;
}

grpc::Status DecideBatch(Server& server, const v1::DecideBatchRequest& request) {
  v1::DecideBatchResponse response;
  Call call;
  return server.evaluation().DecideBatch(call.get(), request, &response);
}

v1::DecideBatchRequest Batch(int items) {
  v1::DecideBatchRequest request;
  for (int i = 0; i < items; ++i) {
    v1::DecideRequest* item = request.add_items();
    *item = ValidDecide();
    item->mutable_context()->set_targeting_key("u-" + std::to_string(i));
  }
  return request;
}

v1::MigrationOpCount ValidCount() {
  v1::MigrationOpCount count;
  count.set_flag_key(kBaseFlag);
  count.set_stage(v1::DUALWRITE);
  count.set_op("write");
  count.set_origin(v1::OLD);
  count.set_result(v1::OK);
  count.set_count(1);
  count.mutable_latency()->add_buckets(1);
  return count;
}

grpc::Status Report(Server& server,
                    const v1::ReportMigrationOpsRequest& request) {
  v1::ReportMigrationOpsResponse response;
  Call call;
  return server.telemetry().ReportMigrationOps(call.get(), request, &response);
}

v1::ReportMigrationOpsRequest Counts(int entries) {
  v1::ReportMigrationOpsRequest request;
  request.set_client("limits-test");
  for (int i = 0; i < entries; ++i) *request.add_counts() = ValidCount();
  return request;
}

// --- what is stored -------------------------------------------------------

// Everything a refused request must leave as it was.
struct State {
  std::string flags;     // ListFlags (archived included), serialized
  std::string segments;  // ListSegments, serialized
  int64_t flag_version = 0;
  int flag_history = 0;
  int64_t segment_version = 0;
  int segment_history = 0;
  std::string ops;  // GetFlagStatus("base"): ops, compared, mismatches
  int64_t revision = 0;  // the store revision decisions are served at
  std::string backfills;  // ListBackfills, serialized
};

int HistoryLength(Server& server, const std::string& key, bool segment) {
  v1::GetHistoryRequest request;
  request.set_key(key);
  request.set_segment(segment);
  v1::GetHistoryResponse response;
  Call call;
  RequireOk(server.admin().GetHistory(call.get(), request, &response));
  return response.entries_size();
}

State Capture(Server& server) {
  State state;
  {
    v1::ListFlagsRequest request;
    request.set_include_archived(true);
    v1::ListFlagsResponse response;
    Call call;
    RequireOk(server.admin().ListFlags(call.get(), request, &response));
    state.flags = response.SerializeAsString();
  }
  {
    v1::ListSegmentsResponse response;
    Call call;
    RequireOk(server.admin().ListSegments(call.get(), {}, &response));
    state.segments = response.SerializeAsString();
  }
  state.flag_version = GetFlag(server, kBaseFlag).version();
  state.flag_history = HistoryLength(server, kBaseFlag, false);
  state.segment_version = GetSegment(server, kBaseSegment).version();
  state.segment_history = HistoryLength(server, kBaseSegment, true);
  {
    v1::GetFlagStatusRequest request;
    request.set_key(kBaseFlag);
    v1::FlagStatus status;
    Call call;
    RequireOk(server.admin().GetFlagStatus(call.get(), request, &status));
    v1::FlagStatus figures;
    *figures.mutable_ops() = status.ops();
    figures.set_compared(status.compared());
    figures.set_mismatches(status.mismatches());
    state.ops = figures.SerializeAsString();
  }
  {
    v1::DecideResponse response;
    Call call;
    RequireOk(server.evaluation().Decide(call.get(), ValidDecide(), &response));
    state.revision = response.revision();
  }
  {
    v1::ListBackfillsResponse response;
    Call call;
    RequireOk(server.admin().ListBackfills(call.get(), {}, &response));
    state.backfills = response.SerializeAsString();
  }
  return state;
}

void CheckUnchanged(const State& before, const State& after) {
  const bool same_flags = before.flags == after.flags;
  const bool same_segments = before.segments == after.segments;
  const bool same_ops = before.ops == after.ops;
  const bool same_backfills = before.backfills == after.backfills;
  CHECK(same_flags);
  CHECK(same_segments);
  CHECK(after.flag_version == before.flag_version);
  CHECK(after.flag_history == before.flag_history);
  CHECK(after.segment_version == before.segment_version);
  CHECK(after.segment_history == before.segment_history);
  CHECK(same_ops);
  CHECK(after.revision == before.revision);
  CHECK(same_backfills);
}

// A server with the flag "base" (version 1) and the segment "base-seg".
void AddBaseObjects(Server& server) {
  RequireOk(CreateFlag(server, ValidFlag(kBaseFlag)));
  RequireOk(CreateSegment(server, ValidSegment(kBaseSegment)));
}

// --- the table --------------------------------------------------------------

using Send = std::function<grpc::Status(Server&)>;

// One limited input: `over` sends a request just over the limit, which must
// fail with `code` and a message containing `message`, leaving the state
// unchanged; `at` (if set) sends the same request just at the limit, which
// must succeed. `setup` (if set) runs first and must succeed.
struct LimitCase {
  std::string name;
  Code code;
  std::string message;
  Send over;
  Send at;
  Send setup;
};

void RunCases(Server& server, const std::vector<LimitCase>& cases) {
  for (const LimitCase& c : cases) {
    INFO("case: " << c.name);
    if (c.setup) RequireOk(c.setup(server));
    const State before = Capture(server);
    const grpc::Status refused = c.over(server);
    INFO("over the limit: " << refused.error_code() << " "
                            << refused.error_message());
    CHECK(refused.error_code() == c.code);
    CHECK_THAT(refused.error_message(), Catch::Contains(c.message));
    CheckUnchanged(before, Capture(server));
    if (c.at) {
      const grpc::Status accepted = c.at(server);
      INFO("at the limit: " << accepted.error_code() << " "
                            << accepted.error_message());
      CHECK(accepted.error_code() == Code::OK);
    }
  }
}

// Sets a flag's first rule to have `n` clauses.
void SetClauses(v1::Flag& flag, size_t n) {
  v1::Rule* rule = flag.mutable_rules(0);
  rule->clear_clauses();
  for (size_t i = 0; i < n; ++i) {
    v1::Clause* clause = rule->add_clauses();
    *clause = ValidClause();
    clause->set_attribute("a" + std::to_string(i));
  }
}

void SetValues(v1::Flag& flag, size_t n) {
  v1::Clause* clause = flag.mutable_rules(0)->mutable_clauses(0);
  clause->clear_values();
  for (size_t i = 0; i < n; ++i) clause->add_values("v" + std::to_string(i));
}

void SetRules(v1::Flag& flag, size_t n) {
  flag.clear_rules();
  for (size_t i = 0; i < n; ++i) *flag.add_rules() = ValidRule();
}

void SetTags(v1::Flag& flag, size_t n) {
  flag.clear_tags();
  for (size_t i = 0; i < n; ++i) flag.add_tags("t" + std::to_string(i));
}

// Replaces "base" with `edit(flag, limit + 1)`, then `edit(flag, limit)`.
LimitCase ReplaceCase(std::string name, std::string message, size_t limit,
                      std::function<void(v1::Flag&, size_t)> edit) {
  LimitCase c;
  c.name = "ReplaceFlag " + name;
  c.code = Code::INVALID_ARGUMENT;
  c.message = std::move(message);
  c.over = [edit, limit](Server& s) {
    return ReplaceBase(s, [&](v1::Flag& f) { edit(f, limit + 1); });
  };
  c.at = [edit, limit](Server& s) {
    return ReplaceBase(s, [&](v1::Flag& f) { edit(f, limit); });
  };
  return c;
}

LimitCase SegmentCase(std::string name, std::string message, size_t limit,
                      std::function<void(v1::Segment&, size_t)> edit) {
  LimitCase c;
  c.name = "ReplaceSegment " + name;
  c.code = Code::INVALID_ARGUMENT;
  c.message = std::move(message);
  c.over = [edit, limit](Server& s) {
    return ReplaceBaseSegment(s, [&](v1::Segment& g) { edit(g, limit + 1); });
  };
  c.at = [edit, limit](Server& s) {
    return ReplaceBaseSegment(s, [&](v1::Segment& g) { edit(g, limit); });
  };
  return c;
}

LimitCase DecideCase(std::string name, std::string message, size_t limit,
                     std::function<void(v1::DecideRequest&, size_t)> edit) {
  LimitCase c;
  c.name = "Decide " + name;
  c.code = Code::INVALID_ARGUMENT;
  c.message = std::move(message);
  c.over = [edit, limit](Server& s) {
    v1::DecideRequest request = ValidDecide();
    edit(request, limit + 1);
    return Decide(s, request);
  };
  c.at = [edit, limit](Server& s) {
    v1::DecideRequest request = ValidDecide();
    edit(request, limit);
    return Decide(s, request);
  };
  return c;
}

LimitCase ReportCase(
    std::string name, std::string message, size_t limit,
    std::function<void(v1::ReportMigrationOpsRequest&, size_t)> edit) {
  LimitCase c;
  c.name = "ReportMigrationOps " + name;
  c.code = Code::INVALID_ARGUMENT;
  c.message = std::move(message);
  c.over = [edit, limit](Server& s) {
    v1::ReportMigrationOpsRequest request = Counts(1);
    edit(request, limit + 1);
    return Report(s, request);
  };
  c.at = [edit, limit](Server& s) {
    v1::ReportMigrationOpsRequest request = Counts(1);
    edit(request, limit);
    return Report(s, request);
  };
  return c;
}

std::string N(size_t n) { return std::to_string(n); }

TEST_CASE("flag writes over each limit are refused and change nothing",
          "[limits]") {
  Server server(MainConfig());
  AddBaseObjects(server);

  std::vector<LimitCase> cases;
  // Keys can only be chosen on create.
  {
    LimitCase c;
    c.name = "CreateFlag key length";
    c.code = Code::INVALID_ARGUMENT;
    c.message = "key: must match [a-z0-9][a-z0-9._-]{0," +
                N(kMaxKeyLength - 1) + "}";
    c.over = [](Server& s) {
      return CreateFlag(s, ValidFlag(Repeat('k', kMaxKeyLength + 1)));
    };
    c.at = [](Server& s) {
      return CreateFlag(s, ValidFlag(Repeat('k', kMaxKeyLength)));
    };
    cases.push_back(std::move(c));
  }
  {
    LimitCase c;
    c.name = "CreateFlag rules per flag";
    c.code = Code::INVALID_ARGUMENT;
    c.message = "rules: at most " + N(kMaxRulesPerFlag) + " rules, got " +
                N(kMaxRulesPerFlag + 1);
    c.over = [](Server& s) {
      v1::Flag flag = ValidFlag("many-rules");
      SetRules(flag, kMaxRulesPerFlag + 1);
      return CreateFlag(s, flag);
    };
    c.at = [](Server& s) {
      v1::Flag flag = ValidFlag("many-rules");
      SetRules(flag, kMaxRulesPerFlag);
      return CreateFlag(s, flag);
    };
    cases.push_back(std::move(c));
  }
  cases.push_back(ReplaceCase(
      "description length",
      "description: at most " + N(kMaxDescriptionLength) + " bytes, got " +
          N(kMaxDescriptionLength + 1),
      kMaxDescriptionLength,
      [](v1::Flag& f, size_t n) { f.set_description(Repeat('d', n)); }));
  cases.push_back(ReplaceCase(
      "owner length",
      "owner: at most " + N(kMaxOwnerLength) + " bytes, got " +
          N(kMaxOwnerLength + 1),
      kMaxOwnerLength,
      [](v1::Flag& f, size_t n) { f.set_owner(Repeat('o', n)); }));
  cases.push_back(ReplaceCase("tags per flag",
                              "tags: at most " + N(kMaxTagsPerFlag) +
                                  " tags, got " + N(kMaxTagsPerFlag + 1),
                              kMaxTagsPerFlag, SetTags));
  cases.push_back(ReplaceCase(
      "tag length",
      "tags[0]: must match [A-Za-z0-9_.:-]{1," + N(kMaxTagLength) + "}",
      kMaxTagLength, [](v1::Flag& f, size_t n) {
        f.clear_tags();
        f.add_tags(Repeat('T', n));
      }));
  cases.push_back(ReplaceCase(
      "old_target length",
      "old_target: at most " + N(kMaxTargetLength) + " bytes, got " +
          N(kMaxTargetLength + 1),
      kMaxTargetLength,
      [](v1::Flag& f, size_t n) { f.set_old_target(Repeat('p', n)); }));
  cases.push_back(ReplaceCase(
      "new_target length",
      "new_target: at most " + N(kMaxTargetLength) + " bytes, got " +
          N(kMaxTargetLength + 1),
      kMaxTargetLength,
      [](v1::Flag& f, size_t n) { f.set_new_target(Repeat('q', n)); }));
  cases.push_back(ReplaceCase(
      "bucket_by length",
      "bucket_by: must be empty or match [A-Za-z0-9_.-]{1," +
          N(kMaxAttributeLength) + "}",
      kMaxAttributeLength,
      [](v1::Flag& f, size_t n) { f.set_bucket_by(Repeat('b', n)); }));
  cases.push_back(ReplaceCase("rules per flag",
                              "rules: at most " + N(kMaxRulesPerFlag) +
                                  " rules, got " + N(kMaxRulesPerFlag + 1),
                              kMaxRulesPerFlag, SetRules));
  cases.push_back(ReplaceCase("clauses per rule",
                              "rules[0].clauses: at most " +
                                  N(kMaxClausesPerRule) + " clauses, got " +
                                  N(kMaxClausesPerRule + 1),
                              kMaxClausesPerRule, SetClauses));
  cases.push_back(ReplaceCase("values per clause",
                              "rules[0].clauses[0].values: at most " +
                                  N(kMaxValuesPerClause) + " values, got " +
                                  N(kMaxValuesPerClause + 1),
                              kMaxValuesPerClause, SetValues));
  cases.push_back(ReplaceCase(
      "value length",
      "rules[0].clauses[0].values[0]: at most " + N(kMaxValueLength) +
          " bytes, got " + N(kMaxValueLength + 1),
      kMaxValueLength, [](v1::Flag& f, size_t n) {
        v1::Clause* clause = f.mutable_rules(0)->mutable_clauses(0);
        clause->clear_values();
        clause->add_values(Repeat('v', n));
      }));
  cases.push_back(ReplaceCase(
      "rule id length",
      "rules[0].id: must match [a-z0-9][a-z0-9._-]{0," +
          N(kMaxRuleIdLength - 1) + "}",
      kMaxRuleIdLength,
      [](v1::Flag& f, size_t n) { f.mutable_rules(0)->set_id(Repeat('r', n)); }));
  cases.push_back(ReplaceCase(
      "rule description length",
      "rules[0].description: at most " + N(kMaxDescriptionLength) +
          " bytes, got " + N(kMaxDescriptionLength + 1),
      kMaxDescriptionLength, [](v1::Flag& f, size_t n) {
        f.mutable_rules(0)->set_description(Repeat('d', n));
      }));
  cases.push_back(ReplaceCase(
      "attribute name length",
      "rules[0].clauses[0].attribute: must match [A-Za-z0-9_.-]{1," +
          N(kMaxAttributeLength) + "}",
      kMaxAttributeLength, [](v1::Flag& f, size_t n) {
        f.mutable_rules(0)->mutable_clauses(0)->set_attribute(Repeat('A', n));
      }));
  // AddRule: a rule over the limits, and one rule too many.
  {
    LimitCase c;
    c.name = "AddRule clauses per rule";
    c.code = Code::INVALID_ARGUMENT;
    c.message = "rules[1].clauses: at most " + N(kMaxClausesPerRule) +
                " clauses, got " + N(kMaxClausesPerRule + 1);
    c.setup = [](Server& s) { return ReplaceBase(s, [](v1::Flag&) {}); };
    c.over = [](Server& s) {
      v1::Flag flag = ValidFlag(kBaseFlag);
      SetClauses(flag, kMaxClausesPerRule + 1);
      flag.mutable_rules(0)->clear_id();
      return AddRuleToBase(s, flag.rules(0));
    };
    c.at = [](Server& s) {
      v1::Flag flag = ValidFlag(kBaseFlag);
      SetClauses(flag, kMaxClausesPerRule);
      flag.mutable_rules(0)->clear_id();
      return AddRuleToBase(s, flag.rules(0));
    };
    cases.push_back(std::move(c));
  }
  {
    LimitCase c;
    c.name = "AddRule beyond rules per flag";
    c.code = Code::INVALID_ARGUMENT;
    c.message = "rules: at most " + N(kMaxRulesPerFlag) + " rules, got " +
                N(kMaxRulesPerFlag + 1);
    c.setup = [](Server& s) {
      return ReplaceBase(
          s, [](v1::Flag& f) { SetRules(f, kMaxRulesPerFlag); });
    };
    c.over = [](Server& s) { return AddRuleToBase(s, ValidRule()); };
    cases.push_back(std::move(c));
  }
  RunCases(server, cases);
}

TEST_CASE("segment writes over each limit are refused and change nothing",
          "[limits]") {
  Server server(MainConfig());
  AddBaseObjects(server);
  // Entries "u-0", "u-1", ... .
  auto entries = [](google::protobuf::RepeatedPtrField<std::string>* list,
                    size_t n) {
    list->Clear();
    list->Reserve(static_cast<int>(n));
    for (size_t i = 0; i < n; ++i) list->Add("u-" + std::to_string(i));
  };

  std::vector<LimitCase> cases;
  {
    LimitCase c;
    c.name = "CreateSegment key length";
    c.code = Code::INVALID_ARGUMENT;
    c.message = "key: must match [a-z0-9][a-z0-9._-]{0," +
                N(kMaxKeyLength - 1) + "}";
    c.over = [](Server& s) {
      return CreateSegment(s, ValidSegment(Repeat('s', kMaxKeyLength + 1)));
    };
    c.at = [](Server& s) {
      return CreateSegment(s, ValidSegment(Repeat('s', kMaxKeyLength)));
    };
    cases.push_back(std::move(c));
  }
  cases.push_back(SegmentCase(
      "included entries",
      "included: at most " + N(kMaxSegmentEntries) + " entries, got " +
          N(kMaxSegmentEntries + 1),
      kMaxSegmentEntries,
      [&](v1::Segment& g, size_t n) { entries(g.mutable_included(), n); }));
  cases.push_back(SegmentCase(
      "excluded entries",
      "excluded: at most " + N(kMaxSegmentEntries) + " entries, got " +
          N(kMaxSegmentEntries + 1),
      kMaxSegmentEntries,
      [&](v1::Segment& g, size_t n) { entries(g.mutable_excluded(), n); }));
  cases.push_back(SegmentCase(
      "entry length",
      "included[0]: at most " + N(kMaxValueLength) + " bytes, got " +
          N(kMaxValueLength + 1),
      kMaxValueLength, [](v1::Segment& g, size_t n) {
        g.clear_included();
        g.add_included(Repeat('u', n));
      }));
  cases.push_back(SegmentCase(
      "description length",
      "description: at most " + N(kMaxDescriptionLength) + " bytes, got " +
          N(kMaxDescriptionLength + 1),
      kMaxDescriptionLength,
      [](v1::Segment& g, size_t n) { g.set_description(Repeat('d', n)); }));
  cases.push_back(SegmentCase(
      "clauses per segment",
      "clauses: at most " + N(kMaxClausesPerRule) + " clauses, got " +
          N(kMaxClausesPerRule + 1),
      kMaxClausesPerRule, [](v1::Segment& g, size_t n) {
        g.clear_clauses();
        for (size_t i = 0; i < n; ++i) {
          v1::Clause* clause = g.add_clauses();
          *clause = ValidClause();
          clause->set_attribute("a" + std::to_string(i));
        }
      }));
  cases.push_back(SegmentCase(
      "values per clause",
      "clauses[0].values: at most " + N(kMaxValuesPerClause) +
          " values, got " + N(kMaxValuesPerClause + 1),
      kMaxValuesPerClause, [](v1::Segment& g, size_t n) {
        v1::Clause* clause = g.mutable_clauses(0);
        clause->clear_values();
        for (size_t i = 0; i < n; ++i) {
          clause->add_values("v" + std::to_string(i));
        }
      }));
  RunCases(server, cases);
}

TEST_CASE("evaluation requests over each limit are refused", "[limits]") {
  Server server(MainConfig());
  AddBaseObjects(server);
  const size_t key_limit = static_cast<size_t>(kEvaluation.max_key_length);
  const size_t attribute_limit =
      static_cast<size_t>(kEvaluation.max_attribute_length);

  std::vector<LimitCase> cases;
  cases.push_back(DecideCase(
      "flag_key length", "flag_key: longer than " + N(key_limit) + " bytes",
      key_limit,
      [](v1::DecideRequest& r, size_t n) { r.set_flag_key(Repeat('f', n)); }));
  cases.push_back(DecideCase(
      "targeting_key length",
      "context.targeting_key: longer than " + N(key_limit) + " bytes",
      key_limit, [](v1::DecideRequest& r, size_t n) {
        r.mutable_context()->set_targeting_key(Repeat('u', n));
      }));
  cases.push_back(DecideCase(
      "attributes count",
      "context.attributes: more than " + N(kEvaluation.max_attributes) +
          " entries",
      static_cast<size_t>(kEvaluation.max_attributes),
      [](v1::DecideRequest& r, size_t n) {
        auto* attributes = r.mutable_context()->mutable_attributes();
        attributes->clear();
        for (size_t i = 0; i < n; ++i) {
          (*attributes)["a" + std::to_string(i)] = "x";
        }
      }));
  cases.push_back(DecideCase(
      "attribute name length",
      "\"]: name must be 1 to " + N(attribute_limit) + " bytes",
      attribute_limit, [](v1::DecideRequest& r, size_t n) {
        (*r.mutable_context()->mutable_attributes())[Repeat('n', n)] = "x";
      }));
  cases.push_back(DecideCase(
      "attribute value length",
      "context.attributes[\"tenant\"]: name must be 1 to " +
          N(attribute_limit) + " bytes, value at most as long",
      attribute_limit, [](v1::DecideRequest& r, size_t n) {
        (*r.mutable_context()->mutable_attributes())["tenant"] = Repeat('t', n);
      }));
  {
    LimitCase c;
    c.name = "DecideBatch items over max_batch";
    c.code = Code::INVALID_ARGUMENT;
    c.message = "items: " + N(kMaxBatch + 1) +
                " items, more than the limit of " + N(kMaxBatch);
    c.over = [](Server& s) { return DecideBatch(s, Batch(kMaxBatch + 1)); };
    c.at = [](Server& s) { return DecideBatch(s, Batch(kMaxBatch)); };
    cases.push_back(std::move(c));
  }
  {
    LimitCase c;
    c.name = "DecideBatch item flag_key length";
    c.code = Code::INVALID_ARGUMENT;
    c.message = "items[3].flag_key: longer than " + N(key_limit) + " bytes";
    c.over = [key_limit](Server& s) {
      v1::DecideBatchRequest request = Batch(5);
      request.mutable_items(3)->set_flag_key(Repeat('f', key_limit + 1));
      return DecideBatch(s, request);
    };
    c.at = [key_limit](Server& s) {
      v1::DecideBatchRequest request = Batch(5);
      request.mutable_items(3)->set_flag_key(Repeat('f', key_limit));
      return DecideBatch(s, request);
    };
    cases.push_back(std::move(c));
  }
  {
    LimitCase c;
    c.name = "DecideBatch item targeting_key length";
    c.code = Code::INVALID_ARGUMENT;
    c.message = "items[1].context.targeting_key: longer than " + N(key_limit) +
                " bytes";
    c.over = [key_limit](Server& s) {
      v1::DecideBatchRequest request = Batch(2);
      request.mutable_items(1)->mutable_context()->set_targeting_key(
          Repeat('u', key_limit + 1));
      return DecideBatch(s, request);
    };
    cases.push_back(std::move(c));
  }
  RunCases(server, cases);
}

TEST_CASE("telemetry reports over each limit are refused and add nothing",
          "[limits]") {
  Server server(MainConfig());
  AddBaseObjects(server);
  const size_t key_limit = static_cast<size_t>(kTelemetry.max_flag_key_length);

  std::vector<LimitCase> cases;
  cases.push_back(ReportCase(
      "entries per batch",
      "counts: " + N(kTelemetry.max_counts + 1) +
          " entries, more than the limit of " + N(kTelemetry.max_counts),
      static_cast<size_t>(kTelemetry.max_counts),
      [](v1::ReportMigrationOpsRequest& r, size_t n) {
        r = Counts(static_cast<int>(n));
      }));
  cases.push_back(ReportCase(
      "flag_key length",
      "counts[1].flag_key: longer than " + N(key_limit) + " bytes", key_limit,
      [](v1::ReportMigrationOpsRequest& r, size_t n) {
        // Entry 0 is valid and for "base": a refused batch adds none of it.
        v1::MigrationOpCount* count = r.add_counts();
        *count = ValidCount();
        count->set_flag_key(Repeat('f', n));
      }));
  cases.push_back(ReportCase(
      "client length",
      "client: longer than " + N(kTelemetry.max_client_length) + " bytes",
      static_cast<size_t>(kTelemetry.max_client_length),
      [](v1::ReportMigrationOpsRequest& r, size_t n) {
        r.set_client(Repeat('c', n));
      }));
  cases.push_back(ReportCase(
      "latency buckets", "counts[0].latency.buckets: more than 26 buckets", 26,
      [](v1::ReportMigrationOpsRequest& r, size_t n) {
        auto* buckets = r.mutable_counts(0)->mutable_latency();
        buckets->clear_buckets();
        for (size_t i = 0; i < n; ++i) buckets->add_buckets(i == 0 ? 1 : 0);
      }));
  RunCases(server, cases);
}

// A CreateSegmentRequest whose serialized size is exactly `bytes`: entries
// of 200 bytes, then two entries of 128 to 256 bytes (each 3 bytes more
// once serialized) to make up the rest.
v1::CreateSegmentRequest SegmentRequestOfSize(const std::string& key,
                                              size_t bytes) {
  v1::CreateSegmentRequest request;
  v1::Segment* segment = request.mutable_segment();
  segment->set_key(key);
  for (int i = 0; i < 1000 && request.ByteSizeLong() + 518 < bytes; ++i) {
    std::string entry = "u-" + std::to_string(i) + "-";
    entry.resize(200, 'x');
    segment->add_included(entry);
  }
  std::string* first = segment->add_included();
  std::string* second = segment->add_included();
  first->assign(128, 'y');
  second->assign(128, 'z');
  const size_t size = request.ByteSizeLong();
  const size_t missing = bytes > size ? bytes - size : 0;
  first->append(std::min<size_t>(missing, 128), 'y');
  second->append(std::min<size_t>(missing - std::min<size_t>(missing, 128),
                                  128),
                 'z');
  return request;  // the caller checks the size
}

TEST_CASE("a request over max_request_bytes is RESOURCE_EXHAUSTED",
          "[limits]") {
  Server server("max_request_bytes: " + std::to_string(kMaxRequestBytes) +
                "\n");
  AddBaseObjects(server);
  const size_t limit = static_cast<size_t>(kMaxRequestBytes);

  std::vector<LimitCase> cases;
  {
    LimitCase c;
    c.name = "CreateSegment one byte over max_request_bytes";
    c.code = Code::RESOURCE_EXHAUSTED;
    c.message = "larger than max";
    c.over = [limit](Server& s) {
      v1::CreateSegmentRequest request = SegmentRequestOfSize("big", limit + 1);
      REQUIRE(request.ByteSizeLong() == limit + 1);
      v1::Segment created;
      Call call;
      return s.admin().CreateSegment(call.get(), request, &created);
    };
    c.at = [limit](Server& s) {
      v1::CreateSegmentRequest request = SegmentRequestOfSize("big", limit);
      REQUIRE(request.ByteSizeLong() == limit);
      v1::Segment created;
      Call call;
      return s.admin().CreateSegment(call.get(), request, &created);
    };
    cases.push_back(std::move(c));
  }
  {
    LimitCase c;
    c.name = "DecideBatch over max_request_bytes";
    c.code = Code::RESOURCE_EXHAUSTED;
    c.message = "larger than max";
    c.over = [limit](Server& s) {
      v1::DecideBatchRequest request = Batch(100);
      for (auto& item : *request.mutable_items()) {
        (*item.mutable_context()->mutable_attributes())["blob"] =
            Repeat('b', 1000);
      }
      REQUIRE(request.ByteSizeLong() > limit);
      return DecideBatch(s, request);
    };
    cases.push_back(std::move(c));
  }
  {
    LimitCase c;
    c.name = "ReportMigrationOps over max_request_bytes";
    c.code = Code::RESOURCE_EXHAUSTED;
    c.message = "larger than max";
    c.over = [limit](Server& s) {
      v1::ReportMigrationOpsRequest request = Counts(5000);
      REQUIRE(request.ByteSizeLong() > limit);
      return Report(s, request);
    };
    cases.push_back(std::move(c));
  }
  RunCases(server, cases);
}

// One Watch stream; the destructor cancels it and collects its status.
class Stream {
 public:
  explicit Stream(v1::Evaluation::Stub& stub) {
    context_.set_deadline(std::chrono::system_clock::now() +
                          std::chrono::seconds(kStreamSeconds));
    reader_ = stub.Watch(&context_, v1::WatchRequest());
  }
  ~Stream() { Close(); }
  Stream(const Stream&) = delete;
  Stream& operator=(const Stream&) = delete;

  // Reads the first event: true if the stream was admitted (a RESET
  // arrives), false with status() set if it ended instead.
  bool Admitted() {
    v1::WatchEvent event;
    if (reader_->Read(&event)) return event.kind() == v1::WatchEvent::RESET;
    finished_ = true;
    status_ = reader_->Finish();
    return false;
  }
  const grpc::Status& status() const { return status_; }

  void Close() {
    if (finished_) return;
    finished_ = true;
    context_.TryCancel();
    status_ = reader_->Finish();
  }

 private:
  grpc::ClientContext context_;
  std::unique_ptr<grpc::ClientReader<v1::WatchEvent>> reader_;
  bool finished_ = false;
  grpc::Status status_;
};

TEST_CASE("Watch streams beyond max_watch_streams_per_peer are refused",
          "[limits]") {
  Server server(MainConfig());
  AddBaseObjects(server);
  const State before = Capture(server);

  std::vector<std::unique_ptr<Stream>> open;
  for (int i = 0; i < kMaxWatchStreams; ++i) {
    open.push_back(std::make_unique<Stream>(server.evaluation()));
    INFO("stream " << i << " (at the limit)");
    REQUIRE(open.back()->Admitted());
  }

  // Another connection from the same address counts against the same limit.
  grpc::ChannelArguments args;
  args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
  auto other_channel = grpc::CreateCustomChannel(
      server.daemon().address(), grpc::InsecureChannelCredentials(), args);
  auto other = v1::Evaluation::NewStub(other_channel);
  {
    Stream refused(*other);
    REQUIRE_FALSE(refused.Admitted());
    INFO("refused: " << refused.status().error_code() << " "
                     << refused.status().error_message());
    CHECK(refused.status().error_code() == Code::RESOURCE_EXHAUSTED);
    CHECK_THAT(refused.status().error_message(),
               Catch::Contains("max_watch_streams_per_peer"));
    CHECK_THAT(refused.status().error_message(),
               Catch::Contains(std::to_string(kMaxWatchStreams) +
                               " streams already open"));
  }
  // A refused stream is not counted: still refused, not admitted by a leak
  // in either direction.
  {
    Stream refused(server.evaluation());
    REQUIRE_FALSE(refused.Admitted());
    CHECK(refused.status().error_code() == Code::RESOURCE_EXHAUSTED);
  }

  // Closing one frees its place (the server notices the cancellation
  // asynchronously, so poll, bounded).
  open.front()->Close();
  open.erase(open.begin());
  bool admitted = false;
  grpc::Status last;
  for (int attempt = 0; attempt < 100 && !admitted; ++attempt) {
    auto stream = std::make_unique<Stream>(*other);
    if (stream->Admitted()) {
      admitted = true;
      open.push_back(std::move(stream));
    } else {
      last = stream->status();
      REQUIRE(last.error_code() == Code::RESOURCE_EXHAUSTED);
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
  }
  INFO("last refusal: " << last.error_message());
  REQUIRE(admitted);
  // Full again.
  {
    Stream refused(server.evaluation());
    REQUIRE_FALSE(refused.Admitted());
    CHECK(refused.status().error_code() == Code::RESOURCE_EXHAUSTED);
  }
  open.clear();
  CheckUnchanged(before, Capture(server));
}

// --- malformed, empty and conflicting requests -----------------------------

// A call of `method` with `request` on the Admin stub.
template <typename Request, typename Response>
Send AdminRpc(grpc::Status (v1::Admin::Stub::*method)(grpc::ClientContext*,
                                                      const Request&,
                                                      Response*),
              Request request) {
  return [method, request](Server& s) {
    Response response;
    Call call;
    return (s.admin().*method)(call.get(), request, &response);
  };
}

// A refused request: `send` must fail with `code` and a message containing
// `message` (the field it names), changing nothing.
LimitCase Refused(std::string name, Code code, std::string message, Send send) {
  LimitCase c;
  c.name = std::move(name);
  c.code = code;
  c.message = std::move(message);
  c.over = std::move(send);
  return c;
}

// An Apply of `segments` and `flags` (each flag at `stage` by default
// unless it is given whole).
v1::ApplyRequest ApplyOf(std::vector<v1::Segment> segments,
                         std::vector<v1::Flag> flags) {
  v1::ApplyRequest request;
  for (v1::Segment& segment : segments) {
    *request.add_segments() = std::move(segment);
  }
  for (v1::Flag& flag : flags) *request.add_flags() = std::move(flag);
  return request;
}

v1::Flag AtStage(const std::string& key, v1::Stage stage) {
  v1::Flag flag = ValidFlag(key);
  flag.mutable_default_serve()->set_stage(stage);
  return flag;
}

v1::Flag WithoutKey() {
  v1::Flag flag = ValidFlag(kBaseFlag);
  flag.clear_key();
  return flag;
}

v1::CreateFlagRequest CreateRequest(const std::function<void(v1::Flag&)>& edit,
                                    const std::string& key = "fresh") {
  v1::CreateFlagRequest request;
  *request.mutable_flag() = ValidFlag(key);
  edit(*request.mutable_flag());
  return request;
}

// ReplaceFlag of "base" at version `version` (1 is the stored one).
v1::ReplaceFlagRequest ReplaceRequest(const std::function<void(v1::Flag&)>& edit,
                                      int64_t version = 1) {
  v1::ReplaceFlagRequest request;
  *request.mutable_flag() = ValidFlag(kBaseFlag);
  edit(*request.mutable_flag());
  request.set_expected_version(version);
  return request;
}

template <typename Request>
Request Keyed(const std::string& key) {
  Request request;
  request.set_key(key);
  return request;
}

v1::SetStageRequest StageRequest(const std::string& key, int stage,
                                 int64_t expected_version = 0) {
  v1::SetStageRequest request;
  request.set_key(key);
  request.set_stage(static_cast<v1::Stage>(stage));
  request.set_expected_version(expected_version);
  return request;
}

v1::SetRolloutRequest RolloutRequest(
    const std::vector<std::pair<int, int>>& splits) {
  v1::SetRolloutRequest request;
  request.set_key(kBaseFlag);
  for (const auto& [stage, weight] : splits) {
    v1::Split* split = request.mutable_rollout()->add_splits();
    split->set_stage(static_cast<v1::Stage>(stage));
    split->set_weight(weight);
  }
  return request;
}

v1::AddRuleRequest RuleRequest(const std::function<void(v1::Rule&)>& edit) {
  v1::AddRuleRequest request;
  request.set_key(kBaseFlag);
  *request.mutable_rule() = ValidRule();
  edit(*request.mutable_rule());
  return request;
}

v1::RollbackRequest RollbackTo(const std::string& key, int64_t version) {
  v1::RollbackRequest request;
  request.set_key(key);
  request.set_to_version(version);
  return request;
}

v1::CreateSegmentRequest SegmentRequest(
    const std::function<void(v1::Segment&)>& edit) {
  v1::CreateSegmentRequest request;
  *request.mutable_segment() = ValidSegment("fresh-seg");
  edit(*request.mutable_segment());
  return request;
}

v1::ReplaceSegmentRequest SegmentReplace(const std::string& key,
                                         int64_t version) {
  v1::ReplaceSegmentRequest request;
  *request.mutable_segment() = ValidSegment(key);
  request.set_expected_version(version);
  return request;
}

// A case refused just over a limit whose `at` (the same request just at
// the limit) must succeed.
LimitCase Bounded(LimitCase refused, Send at) {
  refused.at = std::move(at);
  return refused;
}

// The backfill requests name the flag by flag_key.
template <typename Request>
Request ForFlag(const std::string& flag_key) {
  Request request;
  request.set_flag_key(flag_key);
  return request;
}

v1::StartBackfillRequest StartRequest(
    const std::function<void(v1::StartBackfillRequest&)>& edit) {
  auto request = ForFlag<v1::StartBackfillRequest>(kBaseFlag);
  request.set_rows_total_estimate(1000);
  edit(request);
  return request;
}

v1::BackfillJob GetBackfill(Server& server, const std::string& flag_key) {
  v1::BackfillJob job;
  Call call;
  RequireOk(server.admin().GetBackfill(
      call.get(), ForFlag<v1::GetBackfillRequest>(flag_key), &job));
  return job;
}

// A page of `flag_key`'s job as it is stored when the case runs: its run,
// sequence and phase, one row copied (or verified, past the copy), then
// changed by `edit`.
Send Page(const std::string& flag_key,
          std::function<void(v1::CheckpointBackfillRequest&)> edit) {
  return [flag_key, edit = std::move(edit)](Server& s) {
    const v1::BackfillJob job = GetBackfill(s, flag_key);
    auto request = ForFlag<v1::CheckpointBackfillRequest>(flag_key);
    request.set_run_id(job.run_id());
    request.set_sequence(job.sequence());
    request.set_phase(job.phase());
    request.set_cursor("page-" + std::to_string(job.sequence() + 1));
    if (job.phase() == v1::COPYING) {
      request.set_rows_copied(1);
    } else {
      request.set_rows_verified(1);
    }
    edit(request);
    v1::BackfillJob answer;
    Call call;
    return s.admin().CheckpointBackfill(call.get(), request, &answer);
  };
}

// A well-formed page for a flag that has no job to read the run from.
v1::CheckpointBackfillRequest JoblessPage(const std::string& flag_key) {
  auto request = ForFlag<v1::CheckpointBackfillRequest>(flag_key);
  request.set_run_id("0123456789abcdef0123456789abcdef");
  request.set_phase(v1::COPYING);
  request.set_rows_copied(1);
  return request;
}

TEST_CASE("every Admin and Evaluation rpc refuses malformed, empty and "
          "conflicting requests, naming the field, and changes nothing",
          "[limits][bad-input]") {
  // Telemetry's malformed batches are swept in telemetry_test.cc ("a
  // malformed batch is refused whole") and its sizes above; DecideBatch's
  // empty batch and bad item in daemon_test.cc; CreateBackup's folder in
  // backup_test.cc. ListFlags, ListSegments,
  // ListFlagStatus, ListBackfills and GetServerInfo take no input that can
  // be wrong.
  Server server(MainConfig());
  AddBaseObjects(server);
  {
    // A flag naming base-seg, so that deleting it is a conflict. It has no
    // backfill job.
    v1::Flag user = ValidFlag("seg-user");
    v1::Clause* clause = user.mutable_rules(0)->mutable_clauses(0);
    clause->set_op(v1::IN_SEGMENT);
    clause->clear_values();
    clause->add_values(kBaseSegment);
    RequireOk(CreateFlag(server, user));
  }
  // Backfill jobs: base's copying (one page recorded), verifying's past the
  // copy, verified's done, and retired's of a flag archived since.
  const auto keep = [](v1::CheckpointBackfillRequest&) {};
  const auto pass_done = [](v1::CheckpointBackfillRequest& r) {
    r.set_pass_done(true);
  };
  using A = v1::Admin::Stub;
  for (const char* key : {"verifying", "verified", "retired"}) {
    RequireOk(CreateFlag(server, ValidFlag(key)));
  }
  for (const char* key : {kBaseFlag, "verifying", "verified", "retired"}) {
    RequireOk(AdminRpc(&A::StartBackfill,
                       ForFlag<v1::StartBackfillRequest>(key))(server));
  }
  RequireOk(Page(kBaseFlag, keep)(server));
  RequireOk(Page("verifying", pass_done)(server));
  RequireOk(Page("verified", pass_done)(server));
  RequireOk(Page("verified", pass_done)(server));
  REQUIRE(GetBackfill(server, "verified").phase() == v1::DONE);
  RequireOk(AdminRpc(&A::ArchiveFlag,
                     Keyed<v1::ArchiveFlagRequest>("retired"))(server));
  // A flag whose key is as long as keys go (its job is made at the limit).
  const std::string long_key = Repeat('k', kMaxKeyLength);
  const std::string too_long_key = long_key + "k";
  const std::string key_message =
      "flag_key: longer than " + std::to_string(kMaxKeyLength) + " bytes";
  RequireOk(CreateFlag(server, ValidFlag(long_key)));
  const Code kInvalid = Code::INVALID_ARGUMENT;
  std::vector<LimitCase> cases = {
      // CreateFlag
      Refused("CreateFlag empty request", kInvalid, "flag.key: required",
              AdminRpc(&A::CreateFlag, v1::CreateFlagRequest())),
      Refused("CreateFlag bad key", kInvalid, "key: must match",
              AdminRpc(&A::CreateFlag,
                       CreateRequest([](v1::Flag&) {}, "Bad_Key"))),
      Refused("CreateFlag no old_target", kInvalid, "old_target:",
              AdminRpc(&A::CreateFlag, CreateRequest([](v1::Flag& f) {
                         f.clear_old_target();
                       }))),
      Refused("CreateFlag old_target equals new_target", kInvalid,
              "new_target:",
              AdminRpc(&A::CreateFlag, CreateRequest([](v1::Flag& f) {
                         f.set_new_target(f.old_target());
                       }))),
      Refused("CreateFlag no default_serve", kInvalid, "default_serve",
              AdminRpc(&A::CreateFlag, CreateRequest([](v1::Flag& f) {
                         f.clear_default_serve();
                       }))),
      Refused("CreateFlag unknown default stage", kInvalid,
              "default_serve.stage",
              AdminRpc(&A::CreateFlag, CreateRequest([](v1::Flag& f) {
                         f.mutable_default_serve()->set_stage(
                             static_cast<v1::Stage>(42));
                       }))),
      Refused("CreateFlag rollout weights not adding up", kInvalid,
              "default_serve.rollout",
              AdminRpc(&A::CreateFlag, CreateRequest([](v1::Flag& f) {
                         v1::Rollout* rollout =
                             f.mutable_default_serve()->mutable_rollout();
                         v1::Split* split = rollout->add_splits();
                         split->set_stage(v1::OFF);
                         split->set_weight(50000);
                       }))),
      Refused("CreateFlag two rules with one id", kInvalid, "rules[1].id",
              AdminRpc(&A::CreateFlag, CreateRequest([](v1::Flag& f) {
                         *f.add_rules() = f.rules(0);
                       }))),
      Refused("CreateFlag rule without serve", kInvalid, "rules[0].serve",
              AdminRpc(&A::CreateFlag, CreateRequest([](v1::Flag& f) {
                         f.mutable_rules(0)->clear_serve();
                       }))),
      Refused("CreateFlag clause without operator", kInvalid,
              "rules[0].clauses[0].op",
              AdminRpc(&A::CreateFlag, CreateRequest([](v1::Flag& f) {
                         f.mutable_rules(0)->mutable_clauses(0)->set_op(
                             v1::OPERATOR_UNSPECIFIED);
                       }))),
      Refused("CreateFlag clause of unknown operator", kInvalid,
              "rules[0].clauses[0].op",
              AdminRpc(&A::CreateFlag, CreateRequest([](v1::Flag& f) {
                         f.mutable_rules(0)->mutable_clauses(0)->set_op(
                             static_cast<v1::Operator>(99));
                       }))),
      Refused("CreateFlag clause without values", kInvalid,
              "rules[0].clauses[0].values",
              AdminRpc(&A::CreateFlag, CreateRequest([](v1::Flag& f) {
                         f.mutable_rules(0)->mutable_clauses(0)->clear_values();
                       }))),
      Refused("CreateFlag invalid regular expression", kInvalid,
              "rules[0].clauses[0].values[0]",
              AdminRpc(&A::CreateFlag, CreateRequest([](v1::Flag& f) {
                         v1::Clause* clause =
                             f.mutable_rules(0)->mutable_clauses(0);
                         clause->set_op(v1::MATCHES);
                         clause->set_values(0, "(unclosed");
                       }))),
      Refused("CreateFlag unknown segment", kInvalid, "nosuch",
              AdminRpc(&A::CreateFlag, CreateRequest([](v1::Flag& f) {
                         v1::Clause* clause =
                             f.mutable_rules(0)->mutable_clauses(0);
                         clause->set_op(v1::IN_SEGMENT);
                         clause->set_values(0, "nosuch");
                       }))),
      Refused("CreateFlag beyond dualwrite without force",
              Code::FAILED_PRECONDITION, "skips",
              AdminRpc(&A::CreateFlag, CreateRequest([](v1::Flag& f) {
                         f.mutable_default_serve()->set_stage(v1::LIVE);
                       }))),
      Refused("CreateFlag existing key", Code::ALREADY_EXISTS, kBaseFlag,
              AdminRpc(&A::CreateFlag,
                       CreateRequest([](v1::Flag&) {}, kBaseFlag))),
      // GetFlag
      Refused("GetFlag empty key", kInvalid, "key: required",
              AdminRpc(&A::GetFlag, v1::GetFlagRequest())),
      Refused("GetFlag unknown", Code::NOT_FOUND, "nosuch",
              AdminRpc(&A::GetFlag, Keyed<v1::GetFlagRequest>("nosuch"))),
      // ReplaceFlag
      Refused("ReplaceFlag empty request", kInvalid,
              "expected_version: required",
              AdminRpc(&A::ReplaceFlag, v1::ReplaceFlagRequest())),
      Refused("ReplaceFlag no key", kInvalid, "key: required",
              AdminRpc(&A::ReplaceFlag,
                       ReplaceRequest([](v1::Flag& f) { f = WithoutKey(); }))),
      Refused("ReplaceFlag no expected_version", kInvalid, "expected_version",
              AdminRpc(&A::ReplaceFlag, ReplaceRequest([](v1::Flag&) {}, 0))),
      Refused("ReplaceFlag negative expected_version", kInvalid,
              "expected_version",
              AdminRpc(&A::ReplaceFlag, ReplaceRequest([](v1::Flag&) {}, -1))),
      Refused("ReplaceFlag stale expected_version", Code::ABORTED, "version",
              AdminRpc(&A::ReplaceFlag, ReplaceRequest([](v1::Flag&) {}, 7))),
      Refused("ReplaceFlag unknown flag", Code::NOT_FOUND, "nosuch",
              AdminRpc(&A::ReplaceFlag, ReplaceRequest([](v1::Flag& f) {
                         f.set_key("nosuch");
                       }))),
      Refused("ReplaceFlag invalid content", kInvalid, "new_target:",
              AdminRpc(&A::ReplaceFlag, ReplaceRequest([](v1::Flag& f) {
                         f.clear_new_target();
                       }))),
      // ArchiveFlag
      Refused("ArchiveFlag empty key", kInvalid, "key: required",
              AdminRpc(&A::ArchiveFlag, v1::ArchiveFlagRequest())),
      Refused("ArchiveFlag unknown", Code::NOT_FOUND, "nosuch",
              AdminRpc(&A::ArchiveFlag,
                       Keyed<v1::ArchiveFlagRequest>("nosuch"))),
      Refused("ArchiveFlag stale expected_version", Code::ABORTED, "version",
              AdminRpc(&A::ArchiveFlag, [] {
                auto request = Keyed<v1::ArchiveFlagRequest>(kBaseFlag);
                request.set_expected_version(9);
                return request;
              }())),
      // SetStage
      Refused("SetStage empty request", kInvalid, "stage: required",
              AdminRpc(&A::SetStage, v1::SetStageRequest())),
      Refused("SetStage no stage", kInvalid, "stage",
              AdminRpc(&A::SetStage, StageRequest(kBaseFlag, 0))),
      Refused("SetStage unknown stage", kInvalid, "stage",
              AdminRpc(&A::SetStage, StageRequest(kBaseFlag, 42))),
      Refused("SetStage skip without force", Code::FAILED_PRECONDITION,
              "skips",
              AdminRpc(&A::SetStage, StageRequest(kBaseFlag, v1::LIVE))),
      Refused("SetStage stale expected_version", Code::ABORTED, "version",
              AdminRpc(&A::SetStage,
                       StageRequest(kBaseFlag, v1::DUALWRITE, 5))),
      Refused("SetStage unknown flag", Code::NOT_FOUND, "nosuch",
              AdminRpc(&A::SetStage, StageRequest("nosuch", v1::DUALWRITE))),
      // SetRollout
      Refused("SetRollout no splits", kInvalid,
              "rollout.splits: at least one split",
              AdminRpc(&A::SetRollout, RolloutRequest({}))),
      Refused("SetRollout weights not adding up", kInvalid, "rollout",
              AdminRpc(&A::SetRollout,
                       RolloutRequest({{v1::OFF, 60000}, {v1::DUALWRITE, 30000}}))),
      Refused("SetRollout one stage twice", kInvalid, "rollout.splits[1]",
              AdminRpc(&A::SetRollout,
                       RolloutRequest({{v1::OFF, 50000}, {v1::OFF, 50000}}))),
      Refused("SetRollout split without stage", kInvalid,
              "rollout.splits[0].stage",
              AdminRpc(&A::SetRollout, RolloutRequest({{0, 100000}}))),
      Refused("SetRollout weight wrapping to the total", kInvalid,
              "rollout.splits: weights must sum to 100000",
              AdminRpc(&A::SetRollout,
                       RolloutRequest({{v1::OFF, -1}, {v1::DUALWRITE, 100001}}))),
      // AddRule
      Refused("AddRule empty request", kInvalid, "key: required",
              AdminRpc(&A::AddRule, v1::AddRuleRequest())),
      Refused("AddRule no rule", kInvalid, "rule",
              AdminRpc(&A::AddRule, Keyed<v1::AddRuleRequest>(kBaseFlag))),
      Refused("AddRule rule without clauses' operator", kInvalid,
              "clauses[0].op", AdminRpc(&A::AddRule, RuleRequest([](v1::Rule& r) {
                r.mutable_clauses(0)->set_op(v1::OPERATOR_UNSPECIFIED);
              }))),
      Refused("AddRule id already used", kInvalid, "first",
              AdminRpc(&A::AddRule,
                       RuleRequest([](v1::Rule& r) { r.set_id("first"); }))),
      Refused("AddRule skip without force", Code::FAILED_PRECONDITION, "skips",
              AdminRpc(&A::AddRule, RuleRequest([](v1::Rule& r) {
                r.mutable_serve()->set_stage(v1::COMPLETE);
              }))),
      // RemoveRule
      Refused("RemoveRule empty request", kInvalid, "key: required",
              AdminRpc(&A::RemoveRule, v1::RemoveRuleRequest())),
      Refused("RemoveRule empty rule_id", Code::NOT_FOUND, "rule",
              AdminRpc(&A::RemoveRule, Keyed<v1::RemoveRuleRequest>(kBaseFlag))),
      // SetEnabled
      Refused("SetEnabled empty request", kInvalid, "key: required",
              AdminRpc(&A::SetEnabled, v1::SetEnabledRequest())),
      Refused("SetEnabled unknown flag", Code::NOT_FOUND, "nosuch",
              AdminRpc(&A::SetEnabled, Keyed<v1::SetEnabledRequest>("nosuch"))),
      // Rollback
      Refused("Rollback empty request", kInvalid, "key: required",
              AdminRpc(&A::Rollback, v1::RollbackRequest())),
      Refused("Rollback negative to_version", kInvalid, "to_version",
              AdminRpc(&A::Rollback, RollbackTo(kBaseFlag, -1))),
      Refused("Rollback to the current version", kInvalid, "to_version",
              AdminRpc(&A::Rollback, RollbackTo(kBaseFlag, 1))),
      Refused("Rollback to a version never made", Code::NOT_FOUND,
              "version 99", AdminRpc(&A::Rollback, RollbackTo(kBaseFlag, 99))),
      // GetHistory
      Refused("GetHistory empty key", kInvalid, "key: required",
              AdminRpc(&A::GetHistory, v1::GetHistoryRequest())),
      Refused("GetHistory unknown", Code::NOT_FOUND, "nosuch",
              AdminRpc(&A::GetHistory, Keyed<v1::GetHistoryRequest>("nosuch"))),
      // CreateSegment
      Refused("CreateSegment empty request", kInvalid, "segment.key: required",
              AdminRpc(&A::CreateSegment, v1::CreateSegmentRequest())),
      Refused("CreateSegment bad key", kInvalid, "key: must match",
              AdminRpc(&A::CreateSegment, SegmentRequest([](v1::Segment& g) {
                         g.set_key("Bad Key");
                       }))),
      Refused("CreateSegment in_segment clause inside a segment", kInvalid,
              "clauses[0].op",
              AdminRpc(&A::CreateSegment, SegmentRequest([](v1::Segment& g) {
                         g.mutable_clauses(0)->set_op(v1::IN_SEGMENT);
                         g.mutable_clauses(0)->set_values(0, kBaseSegment);
                       }))),
      Refused("CreateSegment empty entry", kInvalid, "included[1]",
              AdminRpc(&A::CreateSegment, SegmentRequest([](v1::Segment& g) {
                         g.add_included("");
                       }))),
      Refused("CreateSegment existing key", Code::ALREADY_EXISTS, kBaseSegment,
              AdminRpc(&A::CreateSegment, SegmentRequest([](v1::Segment& g) {
                         g.set_key(kBaseSegment);
                       }))),
      // Apply: each case has good entries before the bad one; none lands.
      Refused("Apply the same segment twice", kInvalid,
              "segments[1].key: 'dup' is already the key of segments[0]",
              AdminRpc(&A::Apply, ApplyOf({ValidSegment("dup"),
                                           ValidSegment("dup")},
                                          {}))),
      Refused("Apply one stage skip spelled as five entries", kInvalid,
              "flags[4].key: 'five' is already the key of flags[0]",
              AdminRpc(&A::Apply,
                       ApplyOf({}, {AtStage("five", v1::DUALWRITE),
                                    AtStage("five", v1::SHADOW),
                                    AtStage("five", v1::LIVE),
                                    AtStage("five", v1::RAMPDOWN),
                                    AtStage("five", v1::COMPLETE)}))),
      Refused("Apply a stage skip in the third entry",
              Code::FAILED_PRECONDITION,
              "flags[1] (skipper): stage move from off to live skips",
              AdminRpc(&A::Apply,
                       ApplyOf({ValidSegment("fresh")},
                               {AtStage("first", v1::DUALWRITE),
                                AtStage("skipper", v1::LIVE)}))),
      Refused("Apply a flag without a key", kInvalid, "flags[1].key: required",
              AdminRpc(&A::Apply,
                       ApplyOf({}, {ValidFlag("fine"), WithoutKey()}))),
      Refused("Apply a bad field in the second flag", kInvalid,
              "flags[1].new_target",
              AdminRpc(&A::Apply, ApplyOf({}, {ValidFlag("fine"), [] {
                                             v1::Flag f = ValidFlag("bad");
                                             f.set_new_target(f.old_target());
                                             return f;
                                           }()}))),
      Refused("Apply a rule naming a segment no one defines", kInvalid,
              "flags[0].rules[0].clauses[0].values[0]: segment 'nobody' does "
              "not exist",
              AdminRpc(&A::Apply, ApplyOf({ValidSegment("fresh")}, {[] {
                                             v1::Flag f = ValidFlag("named");
                                             v1::Clause* c = f.mutable_rules(0)
                                                                 ->mutable_clauses(0);
                                             c->set_op(v1::IN_SEGMENT);
                                             c->clear_values();
                                             c->add_values("nobody");
                                             return f;
                                           }()}))),
      Refused("Apply an archived flag", Code::FAILED_PRECONDITION,
              "flags[0] (retired): flag 'retired' is archived",
              AdminRpc(&A::Apply, ApplyOf({}, {ValidFlag("retired")}))),
      Refused("Apply at a revision the store has left", Code::ABORTED,
              "expected_revision: the store is at revision",
              AdminRpc(&A::Apply, [] {
                v1::ApplyRequest request =
                    ApplyOf({ValidSegment("fresh")}, {});
                request.set_expected_revision(1);
                return request;
              }())),
      // GetSegment
      Refused("GetSegment empty key", kInvalid, "key: required",
              AdminRpc(&A::GetSegment, v1::GetSegmentRequest())),
      // ReplaceSegment
      Refused("ReplaceSegment empty request", kInvalid,
              "expected_version: required",
              AdminRpc(&A::ReplaceSegment, v1::ReplaceSegmentRequest())),
      Refused("ReplaceSegment no expected_version", kInvalid,
              "expected_version",
              AdminRpc(&A::ReplaceSegment, SegmentReplace(kBaseSegment, 0))),
      Refused("ReplaceSegment stale expected_version", Code::ABORTED,
              "version",
              AdminRpc(&A::ReplaceSegment, SegmentReplace(kBaseSegment, 4))),
      Refused("ReplaceSegment unknown", Code::NOT_FOUND, "nosuch",
              AdminRpc(&A::ReplaceSegment, SegmentReplace("nosuch", 1))),
      // DeleteSegment
      Refused("DeleteSegment empty key", kInvalid, "key: required",
              AdminRpc(&A::DeleteSegment, v1::DeleteSegmentRequest())),
      Refused("DeleteSegment unknown", Code::NOT_FOUND, "nosuch",
              AdminRpc(&A::DeleteSegment,
                       Keyed<v1::DeleteSegmentRequest>("nosuch"))),
      Refused("DeleteSegment in use", Code::FAILED_PRECONDITION, "seg-user",
              AdminRpc(&A::DeleteSegment,
                       Keyed<v1::DeleteSegmentRequest>(kBaseSegment))),
      // GetFlagStatus
      Refused("GetFlagStatus empty key", kInvalid, "key: required",
              AdminRpc(&A::GetFlagStatus, v1::GetFlagStatusRequest())),
      // StartBackfill
      Refused("StartBackfill empty request", kInvalid, "flag_key: required",
              AdminRpc(&A::StartBackfill, v1::StartBackfillRequest())),
      Bounded(Refused(
                  "StartBackfill flag_key over the key length", kInvalid,
                  key_message,
                  AdminRpc(&A::StartBackfill,
                           ForFlag<v1::StartBackfillRequest>(too_long_key))),
              AdminRpc(&A::StartBackfill,
                       ForFlag<v1::StartBackfillRequest>(long_key))),
      Refused("StartBackfill unknown flag", Code::NOT_FOUND,
              "flag 'nosuch' not found",
              AdminRpc(&A::StartBackfill,
                       ForFlag<v1::StartBackfillRequest>("nosuch"))),
      Refused("StartBackfill archived flag", Code::FAILED_PRECONDITION,
              "flag 'retired' is archived",
              AdminRpc(&A::StartBackfill,
                       ForFlag<v1::StartBackfillRequest>("retired"))),
      Refused("StartBackfill negative rows_total_estimate", kInvalid,
              "rows_total_estimate: must be >= 0, got -1",
              AdminRpc(&A::StartBackfill,
                       StartRequest([](v1::StartBackfillRequest& r) {
                         r.set_rows_total_estimate(-1);
                       }))),
      Refused("StartBackfill verify_sample_rate above 1", kInvalid,
              "verify_sample_rate: must be in (0, 1]",
              AdminRpc(&A::StartBackfill,
                       StartRequest([](v1::StartBackfillRequest& r) {
                         r.set_verify_sample_rate(1.5);
                       }))),
      Refused("StartBackfill negative verify_sample_rate", kInvalid,
              "verify_sample_rate: must be in (0, 1]",
              AdminRpc(&A::StartBackfill,
                       StartRequest([](v1::StartBackfillRequest& r) {
                         r.set_verify_sample_rate(-0.5);
                       }))),
      Refused("StartBackfill NaN verify_sample_rate", kInvalid,
              "verify_sample_rate: must be in (0, 1]",
              AdminRpc(&A::StartBackfill,
                       StartRequest([](v1::StartBackfillRequest& r) {
                         r.set_verify_sample_rate(
                             std::numeric_limits<double>::quiet_NaN());
                       }))),
      // CheckpointBackfill: malformed pages
      Refused("CheckpointBackfill empty request", kInvalid,
              "flag_key: required",
              AdminRpc(&A::CheckpointBackfill,
                       v1::CheckpointBackfillRequest())),
      Bounded(Refused("CheckpointBackfill flag_key over the key length",
                      kInvalid, key_message,
                      AdminRpc(&A::CheckpointBackfill,
                               JoblessPage(too_long_key))),
              Page(long_key, keep)),
      Refused("CheckpointBackfill no run_id", kInvalid, "run_id: required",
              Page(kBaseFlag, [](v1::CheckpointBackfillRequest& r) {
                r.clear_run_id();
              })),
      Refused("CheckpointBackfill run_id over its length", kInvalid,
              "run_id: longer than " + std::to_string(kMaxBackfillRunIdLength) +
                  " bytes",
              Page(kBaseFlag, [](v1::CheckpointBackfillRequest& r) {
                r.set_run_id(Repeat('r', kMaxBackfillRunIdLength + 1));
              })),
      Refused("CheckpointBackfill negative sequence", kInvalid,
              "sequence: must be >= 0, got -1",
              Page(kBaseFlag, [](v1::CheckpointBackfillRequest& r) {
                r.set_sequence(-1);
              })),
      Refused("CheckpointBackfill no phase", kInvalid,
              "phase: must be COPYING or VERIFYING",
              Page(kBaseFlag, [](v1::CheckpointBackfillRequest& r) {
                r.clear_phase();
              })),
      Refused("CheckpointBackfill phase DONE", kInvalid,
              "phase: must be COPYING or VERIFYING",
              Page(kBaseFlag, [](v1::CheckpointBackfillRequest& r) {
                r.set_phase(v1::DONE);
              })),
      Refused("CheckpointBackfill unknown phase", kInvalid,
              "phase: must be COPYING or VERIFYING",
              Page(kBaseFlag, [](v1::CheckpointBackfillRequest& r) {
                r.set_phase(static_cast<v1::BackfillPhase>(42));
              })),
      Bounded(Refused("CheckpointBackfill cursor over its length", kInvalid,
                      "cursor: at most " +
                          std::to_string(kMaxBackfillCursorLength) +
                          " bytes, got " +
                          std::to_string(kMaxBackfillCursorLength + 1),
                      Page(kBaseFlag, [](v1::CheckpointBackfillRequest& r) {
                        r.set_cursor(Repeat('c', kMaxBackfillCursorLength + 1));
                      })),
              Page(kBaseFlag, [](v1::CheckpointBackfillRequest& r) {
                r.set_cursor(Repeat('c', kMaxBackfillCursorLength));
              })),
      Refused("CheckpointBackfill negative rows_copied", kInvalid,
              "rows_copied: must be >= 0, got -1",
              Page(kBaseFlag, [](v1::CheckpointBackfillRequest& r) {
                r.set_rows_copied(-1);
              })),
      Refused("CheckpointBackfill negative rows_verified", kInvalid,
              "rows_verified: must be >= 0, got -1",
              Page("verifying", [](v1::CheckpointBackfillRequest& r) {
                r.set_rows_verified(-1);
              })),
      Refused("CheckpointBackfill negative rows_mismatched", kInvalid,
              "rows_mismatched: must be >= 0, got -1",
              Page("verifying", [](v1::CheckpointBackfillRequest& r) {
                r.set_rows_mismatched(-1);
              })),
      Refused("CheckpointBackfill negative rows_repaired", kInvalid,
              "rows_repaired: must be >= 0, got -1",
              Page("verifying", [](v1::CheckpointBackfillRequest& r) {
                r.set_rows_repaired(-1);
              })),
      Refused("CheckpointBackfill COPYING page that verifies", kInvalid,
              "rows_verified: a COPYING page only copies",
              Page(kBaseFlag, [](v1::CheckpointBackfillRequest& r) {
                r.set_rows_verified(1);
              })),
      Refused("CheckpointBackfill VERIFYING page that copies", kInvalid,
              "rows_copied: a VERIFYING page copies nothing",
              Page("verifying", [](v1::CheckpointBackfillRequest& r) {
                r.set_rows_copied(1);
              })),
      Refused("CheckpointBackfill more mismatched than verified", kInvalid,
              "rows_mismatched: at most rows_verified (1), got 2",
              Page("verifying", [](v1::CheckpointBackfillRequest& r) {
                r.set_rows_mismatched(2);
                r.set_rows_repaired(2);
              })),
      Refused("CheckpointBackfill more repaired than mismatched", kInvalid,
              "rows_repaired: at most rows_mismatched (1), got 2",
              Page("verifying", [](v1::CheckpointBackfillRequest& r) {
                r.set_rows_verified(5);
                r.set_rows_mismatched(1);
                r.set_rows_repaired(2);
              })),
      Refused("CheckpointBackfill rows_copied overflowing the job's total",
              kInvalid, "rows_copied: would overflow the job's total",
              Page(kBaseFlag, [](v1::CheckpointBackfillRequest& r) {
                r.set_rows_copied(std::numeric_limits<int64_t>::max());
              })),
      // CheckpointBackfill: pages of no job, or of another run, sequence or
      // phase
      Refused("CheckpointBackfill unknown flag", Code::NOT_FOUND,
              "flag nosuch has no backfill job",
              AdminRpc(&A::CheckpointBackfill, JoblessPage("nosuch"))),
      Refused("CheckpointBackfill flag without a job", Code::NOT_FOUND,
              "flag seg-user has no backfill job",
              AdminRpc(&A::CheckpointBackfill, JoblessPage("seg-user"))),
      Refused("CheckpointBackfill archived flag", Code::FAILED_PRECONDITION,
              "flag 'retired' is archived", Page("retired", keep)),
      Refused("CheckpointBackfill run taken over", Code::ABORTED,
              "run_id: run 0123456789abcdef0123456789abcdef of the backfill "
              "of base was taken over",
              Page(kBaseFlag, [](v1::CheckpointBackfillRequest& r) {
                r.set_run_id("0123456789abcdef0123456789abcdef");
              })),
      Refused("CheckpointBackfill replayed sequence", Code::ABORTED,
              "sequence: the backfill of base is at",
              Page(kBaseFlag, [](v1::CheckpointBackfillRequest& r) {
                r.set_sequence(r.sequence() - 1);
              })),
      Refused("CheckpointBackfill sequence ahead of the job's", Code::ABORTED,
              "sequence: the backfill of base is at",
              Page(kBaseFlag, [](v1::CheckpointBackfillRequest& r) {
                r.set_sequence(r.sequence() + 1);
              })),
      Refused("CheckpointBackfill COPYING page past the copy", Code::ABORTED,
              "phase: the backfill of verifying is verifying, the checkpoint "
              "is for copying",
              Page("verifying", [](v1::CheckpointBackfillRequest& r) {
                r.set_phase(v1::COPYING);
                r.set_rows_verified(0);
                r.set_rows_copied(1);
              })),
      Refused("CheckpointBackfill page of a job that is done", Code::ABORTED,
              "phase: the backfill of verified is done, the checkpoint is "
              "for verifying",
              Page("verified", [](v1::CheckpointBackfillRequest& r) {
                r.set_phase(v1::VERIFYING);
              })),
      // GetBackfill
      Refused("GetBackfill empty request", kInvalid, "flag_key: required",
              AdminRpc(&A::GetBackfill, v1::GetBackfillRequest())),
      Bounded(Refused("GetBackfill flag_key over the key length", kInvalid,
                      key_message,
                      AdminRpc(&A::GetBackfill,
                               ForFlag<v1::GetBackfillRequest>(too_long_key))),
              AdminRpc(&A::GetBackfill,
                       ForFlag<v1::GetBackfillRequest>(long_key))),
      Refused("GetBackfill unknown flag", Code::NOT_FOUND,
              "flag nosuch has no backfill job",
              AdminRpc(&A::GetBackfill,
                       ForFlag<v1::GetBackfillRequest>("nosuch"))),
      Refused("GetBackfill flag without a job", Code::NOT_FOUND,
              "flag seg-user has no backfill job",
              AdminRpc(&A::GetBackfill,
                       ForFlag<v1::GetBackfillRequest>("seg-user"))),
      // ResetBackfill (last: its accepted case deletes long_key's job)
      Refused("ResetBackfill empty request", kInvalid, "flag_key: required",
              AdminRpc(&A::ResetBackfill, v1::ResetBackfillRequest())),
      Refused("ResetBackfill unknown flag", Code::NOT_FOUND,
              "flag nosuch has no backfill job",
              AdminRpc(&A::ResetBackfill,
                       ForFlag<v1::ResetBackfillRequest>("nosuch"))),
      Refused("ResetBackfill flag without a job", Code::NOT_FOUND,
              "flag seg-user has no backfill job",
              AdminRpc(&A::ResetBackfill,
                       ForFlag<v1::ResetBackfillRequest>("seg-user"))),
      Bounded(Refused(
                  "ResetBackfill flag_key over the key length", kInvalid,
                  key_message,
                  AdminRpc(&A::ResetBackfill,
                           ForFlag<v1::ResetBackfillRequest>(too_long_key))),
              AdminRpc(&A::ResetBackfill,
                       ForFlag<v1::ResetBackfillRequest>(long_key))),
      // Evaluation
      Refused("Decide empty request", kInvalid, "flag_key: required",
              [](Server& s) { return Decide(s, v1::DecideRequest()); }),
      Refused("Decide empty attribute name", kInvalid,
              "context.attributes[\"\"]", [](Server& s) {
                v1::DecideRequest request = ValidDecide();
                (*request.mutable_context()->mutable_attributes())[""] = "x";
                return Decide(s, request);
              }),
      Refused("DecideBatch item without flag_key", kInvalid,
              "items[1].flag_key: required", [](Server& s) {
                v1::DecideBatchRequest request = Batch(3);
                request.mutable_items(1)->clear_flag_key();
                return DecideBatch(s, request);
              }),
      Refused("Watch more flag_keys than max_batch", kInvalid, "flag_keys",
              [](Server& s) {
                v1::WatchRequest request;
                for (int i = 0; i <= kMaxBatch; ++i) {
                  request.add_flag_keys("f" + std::to_string(i));
                }
                grpc::ClientContext context;
                context.set_deadline(std::chrono::system_clock::now() +
                                     std::chrono::seconds(kStreamSeconds));
                auto reader = s.evaluation().Watch(&context, request);
                v1::WatchEvent event;
                if (reader->Read(&event)) context.TryCancel();
                return reader->Finish();
              }),
  };
  RunCases(server, cases);
}

}  // namespace
}  // namespace cutover::testing
