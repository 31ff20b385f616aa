#include "cli/commands.h"

#include <chrono>
#include <cmath>
#include <limits>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <algorithm>
#include <functional>
#include <map>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "CLI/CLI.hpp"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "cli/output.h"
#include "cli/parse.h"
#include "client/channel.h"
#include "convert/convert.h"
#include "convert/flag_diff.h"
#include "core/evaluate.h"
#include "core/stage_moves.h"
#include "credentials/token_hash.h"
#include "cutover/v1/cutover.grpc.pb.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"
#include "rpc/grpc_status.h"
#include "yaml/yaml_message.h"

namespace cutover::cli {
namespace {

constexpr char kDefaultServer[] = "127.0.0.1:7400";

// Options every command shares.
struct GlobalOptions {
  std::string server = kDefaultServer;
  std::string output = "table";
  double timeout_seconds = 10;
  std::string actor;
  std::string tls_ca, tls_cert, tls_key;
  std::string token_file;
};

// The token from --token-file, else CUTOVER_TOKEN (no trailing newline).
absl::StatusOr<std::string> TokenOf(const GlobalOptions& options) {
  if (options.token_file.empty()) return TokenFromEnvironment();
  std::ifstream in(options.token_file);
  std::string token;
  if (!in || !std::getline(in, token) || token.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("token-file: cannot read a token from ",
                     options.token_file));
  }
  return token;
}

std::string DefaultActor() {
  const char* user = std::getenv("USER");
  return user != nullptr && *user != '\0' ? user : "cutoverctl";
}

// The daemon's two services behind one channel; every call carries a
// deadline and the actor.
class Connection {
 public:
  // `channel` from MakeChannel (TLS and token as the options say).
  Connection(const GlobalOptions& options,
             std::shared_ptr<grpc::Channel> channel)
      : options_(options),
        channel_(std::move(channel)),
        admin_(v1::Admin::NewStub(channel_)),
        evaluation_(v1::Evaluation::NewStub(channel_)) {}

  template <typename Stub, typename Request, typename Response>
  absl::Status Call(Stub* stub,
                    grpc::Status (Stub::*method)(grpc::ClientContext*,
                                                 const Request&, Response*),
                    const Request& request, Response* response) {
    grpc::ClientContext context;
    context.set_deadline(
        std::chrono::system_clock::now() +
        std::chrono::milliseconds(
            static_cast<int64_t>(options_.timeout_seconds * 1000)));
    context.AddMetadata("x-cutover-actor", options_.actor);
    grpc::Status status = (stub->*method)(&context, request, response);
    // UNAVAILABLE from a daemon that answered (its channel is connected,
    // e.g. "store: write: ..." when its disk fails) is the daemon's own
    // error, not a connection problem.
    const bool answered =
        channel_->GetState(false) == GRPC_CHANNEL_READY;
    if ((status.error_code() == grpc::StatusCode::UNAVAILABLE && !answered) ||
        status.error_code() == grpc::StatusCode::DEADLINE_EXCEEDED) {
      return absl::Status(
          FromGrpcStatus(status).code(),
          absl::StrCat("cannot reach cutoverd at ", options_.server, ": ",
                       status.error_message()));
    }
    return FromGrpcStatus(status);
  }

  template <typename Request, typename Response>
  absl::Status Admin(grpc::Status (v1::Admin::Stub::*method)(
                         grpc::ClientContext*, const Request&, Response*),
                     const Request& request, Response* response) {
    return Call(admin_.get(), method, request, response);
  }

  template <typename Request, typename Response>
  absl::Status Evaluation(grpc::Status (v1::Evaluation::Stub::*method)(
                              grpc::ClientContext*, const Request&, Response*),
                          const Request& request, Response* response) {
    return Call(evaluation_.get(), method, request, response);
  }

 private:
  const GlobalOptions& options_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<v1::Admin::Stub> admin_;
  std::unique_ptr<v1::Evaluation::Stub> evaluation_;
};

// Options of commands that change a flag.
struct WriteOptions {
  bool force = false;
  int64_t expected_version = 0;
  std::string comment;
};

void AddWriteOptions(CLI::App* command, WriteOptions* options,
                     bool with_force = true) {
  if (with_force) {
    command->add_flag("--force", options->force,
                      "allow a move that skips a stage or that a gate "
                      "refuses (the history records it)");
  }
  command->add_option("--expected-version", options->expected_version,
                      "refuse (ABORTED) unless the flag is at this version");
  command->add_option("-m,--comment", options->comment,
                      "why, recorded in the history");
}

// A flag's gates as the command line sets them; unset options leave the
// flag's gate as it is.
struct GateOptions {
  bool require_backfill = false;
  bool no_require_backfill = false;
  // Not given while they hold these values (any value given goes to the
  // daemon, which checks it).
  double max_mismatch_rate = std::numeric_limits<double>::quiet_NaN();
  int64_t min_samples = std::numeric_limits<int64_t>::min();
  bool clear = false;
};

void AddGateOptions(CLI::App* command, GateOptions* options, bool editing) {
  command->add_flag("--require-backfill", options->require_backfill,
                    "refuse shadow and later until the flag's backfill is "
                    "copied, verified and repaired");
  command->add_option("--max-mismatch-rate", options->max_mismatch_rate,
                      "refuse live and later while the last window's "
                      "mismatch rate is above this (0 to 1)");
  command->add_option("--min-samples", options->min_samples,
                      "refuse live and later while the last window compared "
                      "fewer reads than this");
  if (editing) {
    command->add_flag("--no-require-backfill", options->no_require_backfill,
                      "drop the backfill gate");
    command->add_flag("--clear", options->clear,
                      "drop every gate first (then apply the options given)");
  }
}

void ApplyGateOptions(const GateOptions& options, v1::Gates* gates) {
  if (options.clear) gates->Clear();
  if (options.require_backfill) gates->set_require_backfill(true);
  if (options.no_require_backfill) gates->set_require_backfill(false);
  if (!std::isnan(options.max_mismatch_rate)) {
    gates->set_max_mismatch_rate(options.max_mismatch_rate);
  }
  if (options.min_samples != std::numeric_limits<int64_t>::min()) {
    gates->set_min_samples(options.min_samples);
  }
}

// Everything one invocation needs; commands are methods so that they share
// the connection and the output format.
class Cli {
 public:
  Cli(std::ostream& out, std::ostream& err) : out_(out), err_(err) {}

  int Run(int argc, char** argv);

 private:
  // Makes connection_ from the global options (TLS files, token).
  absl::Status Connect();
  void Define(CLI::App& app);
  void DefineTokens(CLI::App& app);
  void DefineFlags(CLI::App& app);
  void DefineSegments(CLI::App& app);
  void DefineRules(CLI::App& app);
  void DefineBackfill(CLI::App& app);

  // Prints a read result in the chosen format.
  void Print(const google::protobuf::Message& message) {
    out_ << Render(message, format_);
  }
  // Prints a changed flag: one line in table form, the flag otherwise.
  void PrintChanged(const v1::Flag& flag) {
    if (format_ != Format::kTable) return Print(flag);
    out_ << flag.key() << ": version " << flag.version() << ", "
         << (flag.enabled() ? "" : "DISABLED, ")
         << (flag.archived() ? "archived, " : "") << "default "
         << FormatServe(flag.default_serve()) << ", " << flag.rules_size()
         << (flag.rules_size() == 1 ? " rule" : " rules") << "\n";
  }
  void PrintChanged(const v1::Segment& segment) {
    if (format_ != Format::kTable) return Print(segment);
    out_ << "segment " << segment.key() << ": version " << segment.version()
         << ", " << segment.included_size() << " included, "
         << segment.excluded_size() << " excluded, " << segment.clauses_size()
         << " clauses\n";
  }

  absl::Status Apply(const std::string& path, bool dry_run, bool force);
  absl::Status ApplySegment(const v1::Segment& desired, bool dry_run);
  absl::Status ApplyFlag(const v1::Flag& desired, bool dry_run, bool force);
  void PrintDiff(const std::string& what, const std::vector<std::string>& diff);

  std::ostream& out_;
  std::ostream& err_;
  GlobalOptions global_;
  Format format_ = Format::kTable;
  std::unique_ptr<Connection> connection_;
  // The chosen command, run after parsing.
  std::function<absl::Status()> action_;

  // Storage for options, filled by CLI11.
  std::string token_role_;
  std::string key_, old_target_, new_target_, description_, owner_,
      bucket_by_, stage_, serve_, user_, rule_id_, file_, include_, exclude_;
  std::vector<std::string> tags_, items_, clauses_, attributes_;
  bool disabled_ = false, all_ = false, dry_run_ = false, segment_ = false;
  double compare_rate_ = -1;
  int index_ = -1, limit_ = 0;
  int64_t to_version_ = 0;
  WriteOptions write_;
  GateOptions gates_;
  double verify_sample_rate_ = 0;
};

int Cli::Run(int argc, char** argv) {
  CLI::App app{"cutoverctl: drive cutover migration flags"};
  app.require_subcommand(1);
  // Global options may come after the command too ("flags get x -o json");
  // subcommands inherit this setting.
  app.fallthrough();
  app.add_option("--server", global_.server,
                 "cutoverd address (env CUTOVER_SERVER)")
      ->envname("CUTOVER_SERVER");
  app.add_option("-o,--output", global_.output, "table, json or yaml");
  app.add_option("--timeout", global_.timeout_seconds,
                 "seconds to wait for the server")
      ->check(CLI::PositiveNumber);
  global_.actor = DefaultActor();
  app.add_option("--actor", global_.actor,
                 "who is making the change, for the history when the daemon "
                 "runs without auth (env CUTOVER_ACTOR, default $USER); with "
                 "auth, the token's name is recorded")
      ->envname("CUTOVER_ACTOR");
  app.add_option("--tls-ca", global_.tls_ca,
                 "PEM CA of the daemon's certificate: connect with TLS");
  app.add_option("--tls-cert", global_.tls_cert,
                 "PEM client certificate, for mutual TLS (with --tls-key)");
  app.add_option("--tls-key", global_.tls_key, "PEM key of --tls-cert");
  app.add_option("--token-file", global_.token_file,
                 "file whose first line is the bearer token (default: the "
                 "CUTOVER_TOKEN environment variable)");
  Define(app);
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e, out_, err_);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e, out_, err_);
  } catch (const CLI::ParseError& e) {
    err_ << "cutoverctl: " << e.what() << " (see --help)\n";
    return 2;
  }
  auto format = ParseFormat(global_.output);
  if (!format.ok()) {
    err_ << "cutoverctl: " << format.status().message() << "\n";
    return 2;
  }
  format_ = *format;
  absl::Status status = Connect();
  if (status.ok()) status = action_();
  if (status.ok()) return 0;
  const int code = ExitCodeFor(status.code());
  err_ << "cutoverctl: " << absl::StatusCodeToString(status.code()) << ": "
       << status.message() << "\n";
  return code;
}

absl::Status Cli::Connect() {
  absl::StatusOr<std::string> token = TokenOf(global_);
  if (!token.ok()) return token.status();
  ChannelOptions options;
  options.server = global_.server;
  options.tls_ca_file = global_.tls_ca;
  options.tls_cert_file = global_.tls_cert;
  options.tls_key_file = global_.tls_key;
  options.token = *token;
  absl::StatusOr<std::shared_ptr<grpc::Channel>> channel = MakeChannel(options);
  if (!channel.ok()) return channel.status();
  connection_ = std::make_unique<Connection>(global_, *std::move(channel));
  return absl::OkStatus();
}

void Cli::DefineTokens(CLI::App& app) {
  auto* tokens = app.add_subcommand("token", "bearer tokens for cutoverd");
  tokens->require_subcommand(1);
  auto* make = tokens->add_subcommand(
      "new", "make a random token and print it with the line that lets "
             "cutoverd accept it (nothing is sent to the daemon)");
  make->add_option("--name", key_, "who the token is for (the actor in "
                                   "history), e.g. deploy-bot")
      ->required();
  make->add_option("--role", token_role_, "reader, operator or admin")
      ->required()
      ->check(CLI::IsMember({"reader", "operator", "admin"}));
  make->callback([this] {
    action_ = [this]() -> absl::Status {
      if (key_.find_first_of(" \t#") != std::string::npos) {
        return absl::InvalidArgumentError(
            "name: no spaces, tabs or '#' (it is a field of the token file)");
      }
      const std::string token = NewToken();
      if (token.empty()) {
        return absl::InternalError("token: the random generator failed");
      }
      const std::string hash = TokenSha256Hex(token);
      out_ << "token: " << token << "\n"
           << "token_file line: " << key_ << " " << token_role_ << " " << hash
           << "\n"
           << "config entry: {name: " << key_ << ", role: " << token_role_
           << ", sha256: " << hash << "}\n";
      return absl::OkStatus();
    };
  });
}

void Cli::Define(CLI::App& app) {
  DefineTokens(app);
  DefineFlags(app);
  DefineSegments(app);
  DefineRules(app);
  DefineBackfill(app);

  auto* stage = app.add_subcommand("stage", "serve one stage to everyone not "
                                            "matched by a rule");
  stage->add_option("flag", key_, "flag key")->required();
  stage->add_option("stage", stage_,
                    "off, dualwrite, shadow, live, rampdown or complete")
      ->required();
  AddWriteOptions(stage, &write_);
  stage->callback([this] {
    action_ = [this]() -> absl::Status {
      auto parsed = ParseStageArg(stage_);
      if (!parsed.ok()) return parsed.status();
      v1::SetStageRequest request;
      request.set_key(key_);
      request.set_stage(*parsed);
      request.set_force(write_.force);
      request.set_expected_version(write_.expected_version);
      request.set_comment(write_.comment);
      v1::Flag flag;
      absl::Status s = connection_->Admin(&v1::Admin::Stub::SetStage, request, &flag);
      if (s.ok()) PrintChanged(flag);
      return s;
    };
  });

  auto* rollout = app.add_subcommand(
      "rollout", "serve a percentage rollout, e.g. live=5 shadow=95");
  rollout->add_option("flag", key_, "flag key")->required();
  rollout->add_option("splits", items_, "STAGE=PERCENT ... adding up to 100")
      ->required();
  AddWriteOptions(rollout, &write_);
  rollout->callback([this] {
    action_ = [this]() -> absl::Status {
      auto parsed = ParseRolloutArgs(items_);
      if (!parsed.ok()) return parsed.status();
      v1::SetRolloutRequest request;
      request.set_key(key_);
      *request.mutable_rollout() = *parsed;
      request.set_force(write_.force);
      request.set_expected_version(write_.expected_version);
      request.set_comment(write_.comment);
      v1::Flag flag;
      absl::Status s =
          connection_->Admin(&v1::Admin::Stub::SetRollout, request, &flag);
      if (s.ok()) PrintChanged(flag);
      return s;
    };
  });

  auto* decide = app.add_subcommand("decide", "ask which database a user gets");
  decide->add_option("flag", key_, "flag key")->required();
  decide->add_option("--user", user_, "the user's targeting key")->required();
  decide->add_option("--attr", attributes_, "NAME=VALUE attribute (repeatable)");
  decide->callback([this] {
    action_ = [this]() -> absl::Status {
      auto attributes = ParseAttributeArgs(attributes_);
      if (!attributes.ok()) return attributes.status();
      v1::DecideRequest request;
      request.set_flag_key(key_);
      request.mutable_context()->set_targeting_key(user_);
      for (const auto& [name, value] : *attributes) {
        (*request.mutable_context()->mutable_attributes())[name] = value;
      }
      v1::DecideResponse response;
      absl::Status s = connection_->Evaluation(&v1::Evaluation::Stub::Decide,
                                               request, &response);
      if (s.ok()) Print(response);
      return s;
    };
  });

  auto* split = app.add_subcommand(
      "split",
      "how users PREFIX0 .. PREFIX<N-1> are split across stages now (a "
      "preview of a rollout, asked of the daemon in batches)");
  split->add_option("flag", key_, "flag key")->required();
  split->add_option("--users", limit_, "how many users")
      ->required()
      ->check(CLI::Range(1, 1000000));
  split->add_option("--prefix", user_, "targeting key prefix (default u-)");
  split->add_option("--attr", attributes_,
                    "NAME=VALUE attribute every user has (repeatable)");
  split->callback([this] {
    action_ = [this]() -> absl::Status {
      auto attributes = ParseAttributeArgs(attributes_);
      if (!attributes.ok()) return attributes.status();
      const std::string prefix = user_.empty() ? "u-" : user_;
      constexpr int kBatch = 1000;
      std::map<std::string, int> by_stage;
      for (int first = 0; first < limit_; first += kBatch) {
        v1::DecideBatchRequest request;
        for (int u = first; u < std::min(limit_, first + kBatch); ++u) {
          v1::DecideRequest* item = request.add_items();
          item->set_flag_key(key_);
          item->mutable_context()->set_targeting_key(prefix +
                                                     std::to_string(u));
          for (const auto& [name, value] : *attributes) {
            (*item->mutable_context()->mutable_attributes())[name] = value;
          }
        }
        v1::DecideBatchResponse response;
        absl::Status s = connection_->Evaluation(
            &v1::Evaluation::Stub::DecideBatch, request, &response);
        if (!s.ok()) return s;
        for (const auto& decision : response.decisions()) {
          ++by_stage[StageName(FromProto(decision.stage()))];
        }
      }
      out_ << "STAGE      USERS  SHARE\n";
      for (const auto& [stage, users] : by_stage) {
        out_ << absl::StrFormat("%-10s %5d  %.2f%%\n", stage, users,
                                100.0 * users / limit_);
      }
      return absl::OkStatus();
    };
  });

  auto* status = app.add_subcommand(
      "status",
      "a flag's stage or rollout and how its migration is going (every "
      "flag's, without a key)");
  status->add_option("flag", key_, "flag key (default: every active flag)");
  status->callback([this] {
    action_ = [this]() -> absl::Status {
      if (key_.empty()) {
        v1::ListFlagStatusResponse response;
        absl::Status s = connection_->Admin(&v1::Admin::Stub::ListFlagStatus,
                                            v1::ListFlagStatusRequest(),
                                            &response);
        if (s.ok()) Print(response);
        return s;
      }
      v1::GetFlagStatusRequest request;
      request.set_key(key_);
      v1::FlagStatus response;
      absl::Status s = connection_->Admin(&v1::Admin::Stub::GetFlagStatus,
                                          request, &response);
      if (s.ok()) Print(response);
      return s;
    };
  });

  auto* rollback = app.add_subcommand(
      "rollback", "everyone to off at once, or back to an earlier version");
  rollback->add_option("flag", key_, "flag key")->required();
  rollback->add_option("--to-version", to_version_,
                       "restore this version's configuration instead");
  rollback->add_option("-m,--comment", write_.comment, "why");
  rollback->callback([this] {
    action_ = [this]() -> absl::Status {
      v1::RollbackRequest request;
      request.set_key(key_);
      request.set_to_version(to_version_);
      request.set_comment(write_.comment);
      v1::Flag flag;
      absl::Status s =
          connection_->Admin(&v1::Admin::Stub::Rollback, request, &flag);
      if (s.ok()) PrintChanged(flag);
      return s;
    };
  });

  auto* history = app.add_subcommand(
      "history", "who changed what and when, newest first");
  history->add_option("key", key_, "flag key (or segment key with --segment)")
      ->required();
  history->add_option("--limit", limit_, "at most this many entries");
  history->add_flag("--segment", segment_, "a segment's history");
  history->callback([this] {
    action_ = [this]() -> absl::Status {
      v1::GetHistoryRequest request;
      request.set_key(key_);
      request.set_limit(limit_);
      request.set_segment(segment_);
      v1::GetHistoryResponse response;
      absl::Status s =
          connection_->Admin(&v1::Admin::Stub::GetHistory, request, &response);
      if (s.ok()) Print(response);
      return s;
    };
  });

  auto* apply = app.add_subcommand(
      "apply", "make flags and segments match a YAML or JSON file");
  apply->add_option("-f,--file", file_, "the file (see config/flags.example.yaml)")
      ->required();
  apply->add_flag("--dry-run", dry_run_, "print what would change; change nothing");
  apply->add_flag("--force", write_.force, "allow stage skips");
  apply->callback([this] {
    action_ = [this] { return Apply(file_, dry_run_, write_.force); };
  });
}

void Cli::DefineFlags(CLI::App& app) {
  auto* flags = app.add_subcommand("flags", "create, read and retire flags");
  flags->require_subcommand(1);

  auto* create = flags->add_subcommand("create", "define a migration flag");
  create->add_option("flag", key_, "flag key, e.g. orders")->required();
  create->add_option("--old", old_target_, "old database name")->required();
  create->add_option("--new", new_target_, "new database name")->required();
  create->add_option("--description", description_, "what is being migrated");
  create->add_option("--owner", owner_, "team or person responsible");
  create->add_option("--tag", tags_, "label (repeatable)");
  create->add_option("--bucket-by", bucket_by_,
                     "attribute to bucket by (default: the user key)");
  create->add_option("--stage", stage_, "first stage (default off)");
  create->add_option("--compare-rate", compare_rate_,
                     "share of shadow/live reads compared, 0 to 1 (default 1)");
  create->add_flag("--disabled", disabled_, "create with the kill switch on");
  AddGateOptions(create, &gates_, /*editing=*/false);
  AddWriteOptions(create, &write_);
  create->callback([this] {
    action_ = [this]() -> absl::Status {
      v1::CreateFlagRequest request;
      v1::Flag* flag = request.mutable_flag();
      flag->set_key(key_);
      flag->set_old_target(old_target_);
      flag->set_new_target(new_target_);
      flag->set_description(description_);
      flag->set_owner(owner_);
      for (const auto& tag : tags_) flag->add_tags(tag);
      flag->set_bucket_by(bucket_by_);
      flag->set_enabled(!disabled_);
      auto stage = ParseStageArg(stage_.empty() ? "off" : stage_);
      if (!stage.ok()) return stage.status();
      flag->mutable_default_serve()->set_stage(*stage);
      if (compare_rate_ >= 0) flag->set_compare_sample_rate(compare_rate_);
      ApplyGateOptions(gates_, flag->mutable_gates());
      request.set_force(write_.force);
      request.set_comment(write_.comment);
      v1::Flag created;
      absl::Status s =
          connection_->Admin(&v1::Admin::Stub::CreateFlag, request, &created);
      if (s.ok()) PrintChanged(created);
      return s;
    };
  });

  auto* get = flags->add_subcommand("get", "show a flag");
  get->add_option("flag", key_, "flag key")->required();
  get->callback([this] {
    action_ = [this]() -> absl::Status {
      v1::GetFlagRequest request;
      request.set_key(key_);
      v1::Flag flag;
      absl::Status s = connection_->Admin(&v1::Admin::Stub::GetFlag, request, &flag);
      if (s.ok()) Print(flag);
      return s;
    };
  });

  auto* list = flags->add_subcommand("list", "list flags");
  list->add_flag("--all", all_, "include archived flags");
  list->callback([this] {
    action_ = [this]() -> absl::Status {
      v1::ListFlagsRequest request;
      request.set_include_archived(all_);
      v1::ListFlagsResponse response;
      absl::Status s =
          connection_->Admin(&v1::Admin::Stub::ListFlags, request, &response);
      if (s.ok()) Print(response);
      return s;
    };
  });

  auto* gates = flags->add_subcommand(
      "gates", "set the conditions a flag's stage moves must meet");
  gates->add_option("flag", key_, "flag key")->required();
  AddGateOptions(gates, &gates_, /*editing=*/true);
  AddWriteOptions(gates, &write_, /*with_force=*/false);
  gates->callback([this] {
    action_ = [this]() -> absl::Status {
      v1::GetFlagRequest get;
      get.set_key(key_);
      v1::Flag flag;
      absl::Status s = connection_->Admin(&v1::Admin::Stub::GetFlag, get, &flag);
      if (!s.ok()) return s;
      if (write_.expected_version > 0 &&
          write_.expected_version != flag.version()) {
        return absl::AbortedError(absl::StrCat(
            "flag ", key_, " is at version ", flag.version(), ", not ",
            write_.expected_version));
      }
      v1::ReplaceFlagRequest request;
      request.set_expected_version(flag.version());
      ApplyGateOptions(gates_, flag.mutable_gates());
      *request.mutable_flag() = std::move(flag);
      request.set_comment(write_.comment.empty() ? "gates" : write_.comment);
      v1::Flag replaced;
      s = connection_->Admin(&v1::Admin::Stub::ReplaceFlag, request, &replaced);
      if (s.ok()) Print(replaced);
      return s;
    };
  });

  auto* archive = flags->add_subcommand(
      "archive", "retire a flag (served as not found; history kept)");
  archive->add_option("flag", key_, "flag key")->required();
  AddWriteOptions(archive, &write_, /*with_force=*/false);
  archive->callback([this] {
    action_ = [this]() -> absl::Status {
      v1::ArchiveFlagRequest request;
      request.set_key(key_);
      request.set_expected_version(write_.expected_version);
      request.set_comment(write_.comment);
      v1::Flag flag;
      absl::Status s =
          connection_->Admin(&v1::Admin::Stub::ArchiveFlag, request, &flag);
      if (s.ok()) PrintChanged(flag);
      return s;
    };
  });

  for (const bool enable : {true, false}) {
    auto* command = flags->add_subcommand(
        enable ? "enable" : "disable",
        enable ? "turn the kill switch off (serve the configured stages)"
               : "kill switch: serve off to everyone at once");
    command->add_option("flag", key_, "flag key")->required();
    AddWriteOptions(command, &write_, /*with_force=*/false);
    command->callback([this, enable] {
      action_ = [this, enable]() -> absl::Status {
        v1::SetEnabledRequest request;
        request.set_key(key_);
        request.set_enabled(enable);
        request.set_expected_version(write_.expected_version);
        request.set_comment(write_.comment);
        v1::Flag flag;
        absl::Status s =
            connection_->Admin(&v1::Admin::Stub::SetEnabled, request, &flag);
        if (s.ok()) PrintChanged(flag);
        return s;
      };
    });
  }
}

void Cli::DefineRules(CLI::App& app) {
  auto* rules = app.add_subcommand("rules", "targeting rules of a flag");
  rules->require_subcommand(1);

  auto* add = rules->add_subcommand("add", "add a rule");
  add->add_option("flag", key_, "flag key")->required();
  add->add_option("--if", clauses_,
                  "clause, e.g. 'tenant in acme,globex' or 'in_segment "
                  "internal' (repeatable; all must match)")
      ->required();
  add->add_option("--serve", serve_, "a stage, or a rollout like live=5,shadow=95")
      ->required();
  add->add_option("--id", rule_id_, "rule id (default rule-N)");
  add->add_option("--index", index_, "position (default: last)");
  add->add_option("--description", description_, "for people");
  AddWriteOptions(add, &write_);
  add->callback([this] {
    action_ = [this]() -> absl::Status {
      v1::AddRuleRequest request;
      request.set_key(key_);
      v1::Rule* rule = request.mutable_rule();
      rule->set_id(rule_id_);
      rule->set_description(description_);
      for (const auto& text : clauses_) {
        auto clause = ParseClauseArg(text);
        if (!clause.ok()) return clause.status();
        *rule->add_clauses() = *clause;
      }
      auto serve = ParseServeArg(serve_);
      if (!serve.ok()) return serve.status();
      *rule->mutable_serve() = *serve;
      request.set_index(index_);
      request.set_force(write_.force);
      request.set_expected_version(write_.expected_version);
      request.set_comment(write_.comment);
      v1::Flag flag;
      absl::Status s = connection_->Admin(&v1::Admin::Stub::AddRule, request, &flag);
      if (s.ok()) PrintChanged(flag);
      return s;
    };
  });

  auto* remove = rules->add_subcommand("remove", "remove a rule by id");
  remove->add_option("flag", key_, "flag key")->required();
  remove->add_option("rule", rule_id_, "rule id")->required();
  AddWriteOptions(remove, &write_, /*with_force=*/false);
  remove->callback([this] {
    action_ = [this]() -> absl::Status {
      v1::RemoveRuleRequest request;
      request.set_key(key_);
      request.set_rule_id(rule_id_);
      request.set_expected_version(write_.expected_version);
      request.set_comment(write_.comment);
      v1::Flag flag;
      absl::Status s =
          connection_->Admin(&v1::Admin::Stub::RemoveRule, request, &flag);
      if (s.ok()) PrintChanged(flag);
      return s;
    };
  });
}

void Cli::DefineBackfill(CLI::App& app) {
  auto* backfill = app.add_subcommand(
      "backfill", "the copy of the old database's rows into the new one");
  backfill->require_subcommand(1);

  auto* list = backfill->add_subcommand("list", "every flag's backfill job");
  list->callback([this] {
    action_ = [this]() -> absl::Status {
      v1::ListBackfillsResponse response;
      absl::Status s = connection_->Admin(&v1::Admin::Stub::ListBackfills,
                                          v1::ListBackfillsRequest(), &response);
      if (s.ok()) Print(response);
      return s;
    };
  });

  auto* status = backfill->add_subcommand(
      "status", "a flag's backfill: phase, rows, mismatches, rate, ETA");
  status->add_option("flag", key_, "flag key")->required();
  status->callback([this] {
    action_ = [this]() -> absl::Status {
      v1::GetBackfillRequest request;
      request.set_flag_key(key_);
      v1::BackfillJob job;
      absl::Status s =
          connection_->Admin(&v1::Admin::Stub::GetBackfill, request, &job);
      if (s.ok()) Print(job);
      return s;
    };
  });

  auto* reset = backfill->add_subcommand(
      "reset", "forget a flag's backfill, so the next run starts over");
  reset->add_option("flag", key_, "flag key")->required();
  reset->callback([this] {
    action_ = [this]() -> absl::Status {
      v1::ResetBackfillRequest request;
      request.set_flag_key(key_);
      v1::BackfillJob job;
      absl::Status s =
          connection_->Admin(&v1::Admin::Stub::ResetBackfill, request, &job);
      if (s.ok() && format_ == Format::kTable) {
        out_ << "backfill of " << key_ << " reset (it was "
             << BackfillPhaseName(job.phase()) << ", " << job.rows_copied()
             << " rows copied)\n";
      } else if (s.ok()) {
        Print(job);
      }
      return s;
    };
  });
}

void Cli::DefineSegments(CLI::App& app) {
  auto* segments = app.add_subcommand("segments", "named groups of users");
  segments->require_subcommand(1);

  // create and update share their options; update changes only what is given.
  for (const bool create : {true, false}) {
    auto* command = segments->add_subcommand(
        create ? "create" : "update",
        create ? "define a segment" : "change the parts of a segment given");
    command->add_option("segment", key_, "segment key")->required();
    command->add_option("--include", include_, "user keys, comma-separated");
    command->add_option("--exclude", exclude_, "user keys, comma-separated");
    command->add_option("--if", clauses_, "clause (repeatable; all must match)");
    command->add_option("--description", description_, "for people");
    command->add_option("-m,--comment", write_.comment, "why");
    command->callback([this, create, command] {
      action_ = [this, create, command]() -> absl::Status {
        v1::Segment segment;
        if (!create) {
          v1::GetSegmentRequest get;
          get.set_key(key_);
          absl::Status s =
              connection_->Admin(&v1::Admin::Stub::GetSegment, get, &segment);
          if (!s.ok()) return s;
        }
        segment.set_key(key_);
        if (command->count("--description") > 0) {
          segment.set_description(description_);
        }
        if (command->count("--include") > 0) {
          segment.clear_included();
          for (const auto& user : SplitList(include_)) segment.add_included(user);
        }
        if (command->count("--exclude") > 0) {
          segment.clear_excluded();
          for (const auto& user : SplitList(exclude_)) segment.add_excluded(user);
        }
        if (command->count("--if") > 0) {
          segment.clear_clauses();
          for (const auto& text : clauses_) {
            auto clause = ParseClauseArg(text);
            if (!clause.ok()) return clause.status();
            *segment.add_clauses() = *clause;
          }
        }
        v1::Segment result;
        absl::Status s;
        if (create) {
          v1::CreateSegmentRequest request;
          *request.mutable_segment() = segment;
          request.set_comment(write_.comment);
          s = connection_->Admin(&v1::Admin::Stub::CreateSegment, request, &result);
        } else {
          v1::ReplaceSegmentRequest request;
          request.set_expected_version(segment.version());
          *request.mutable_segment() = segment;
          request.set_comment(write_.comment);
          s = connection_->Admin(&v1::Admin::Stub::ReplaceSegment, request,
                                 &result);
        }
        if (s.ok()) PrintChanged(result);
        return s;
      };
    });
  }

  auto* get = segments->add_subcommand("get", "show a segment");
  get->add_option("segment", key_, "segment key")->required();
  get->callback([this] {
    action_ = [this]() -> absl::Status {
      v1::GetSegmentRequest request;
      request.set_key(key_);
      v1::Segment segment;
      absl::Status s =
          connection_->Admin(&v1::Admin::Stub::GetSegment, request, &segment);
      if (s.ok()) Print(segment);
      return s;
    };
  });

  auto* list = segments->add_subcommand("list", "list segments");
  list->callback([this] {
    action_ = [this]() -> absl::Status {
      v1::ListSegmentsResponse response;
      absl::Status s = connection_->Admin(&v1::Admin::Stub::ListSegments,
                                          v1::ListSegmentsRequest(), &response);
      if (s.ok()) Print(response);
      return s;
    };
  });

  auto* remove = segments->add_subcommand("delete", "delete an unused segment");
  remove->add_option("segment", key_, "segment key")->required();
  AddWriteOptions(remove, &write_, /*with_force=*/false);
  remove->callback([this] {
    action_ = [this]() -> absl::Status {
      v1::DeleteSegmentRequest request;
      request.set_key(key_);
      request.set_expected_version(write_.expected_version);
      request.set_comment(write_.comment);
      v1::Segment segment;
      absl::Status s =
          connection_->Admin(&v1::Admin::Stub::DeleteSegment, request, &segment);
      if (s.ok()) out_ << "segment " << segment.key() << ": deleted\n";
      return s;
    };
  });
}

// --- apply -----------------------------------------------------------------

void Cli::PrintDiff(const std::string& what,
                    const std::vector<std::string>& diff) {
  out_ << what << "\n";
  for (const auto& line : diff) out_ << "    " << line << "\n";
}

absl::Status Cli::Apply(const std::string& path, bool dry_run, bool force) {
  // A folder opens but reads as nothing: refused, not taken for an empty
  // file.
  std::error_code not_a_folder;
  if (std::filesystem::is_directory(path, not_a_folder)) {
    return absl::InvalidArgumentError(
        absl::StrCat(path, ": cannot read: a folder, not a file"));
  }
  std::ifstream in(path);
  if (!in) return absl::InvalidArgumentError(absl::StrCat(path, ": cannot read"));
  std::stringstream text;
  text << in.rdbuf();
  auto file = ParseFlagFile(text.str());
  if (!file.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat(path, ": ", file.status().message()));
  }
  // Validate everything before changing anything.
  for (int i = 0; i < file->segments_size(); ++i) {
    absl::Status s = ValidateSegment(FromProto(file->segments(i)));
    if (!s.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat(path, ": segments[", i, "].", s.message()));
    }
  }
  for (int i = 0; i < file->flags_size(); ++i) {
    absl::Status s = ValidateFlag(FromProto(file->flags(i)));
    if (!s.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat(path, ": flags[", i, "].", s.message()));
    }
  }
  // Segments first: flags' rules may name them.
  for (const auto& segment : file->segments()) {
    if (absl::Status s = ApplySegment(segment, dry_run); !s.ok()) return s;
  }
  for (const auto& flag : file->flags()) {
    if (absl::Status s = ApplyFlag(flag, dry_run, force); !s.ok()) return s;
  }
  if (dry_run) out_ << "dry run: nothing changed\n";
  return absl::OkStatus();
}

absl::Status Cli::ApplySegment(const v1::Segment& desired, bool dry_run) {
  const std::string what = absl::StrCat("segment ", desired.key());
  v1::GetSegmentRequest get;
  get.set_key(desired.key());
  v1::Segment current;
  absl::Status s = connection_->Admin(&v1::Admin::Stub::GetSegment, get, &current);
  if (absl::IsNotFound(s)) {
    PrintDiff(what + ": create", DiffMessages(v1::Segment(), desired));
    if (dry_run) return absl::OkStatus();
    v1::CreateSegmentRequest request;
    *request.mutable_segment() = desired;
    request.set_comment("cutoverctl apply");
    v1::Segment result;
    return connection_->Admin(&v1::Admin::Stub::CreateSegment, request, &result);
  }
  if (!s.ok()) return s;
  const auto diff = DiffMessages(current, desired);
  if (diff.empty()) {
    out_ << what << ": unchanged\n";
    return absl::OkStatus();
  }
  PrintDiff(what + ": update", diff);
  if (dry_run) return absl::OkStatus();
  v1::ReplaceSegmentRequest request;
  *request.mutable_segment() = desired;
  request.set_expected_version(current.version());
  request.set_comment("cutoverctl apply");
  v1::Segment result;
  return connection_->Admin(&v1::Admin::Stub::ReplaceSegment, request, &result);
}

absl::Status Cli::ApplyFlag(const v1::Flag& desired, bool dry_run, bool force) {
  const std::string what = absl::StrCat("flag ", desired.key());
  v1::GetFlagRequest get;
  get.set_key(desired.key());
  v1::Flag current;
  absl::Status s = connection_->Admin(&v1::Admin::Stub::GetFlag, get, &current);
  const bool exists = s.ok();
  if (!exists && !absl::IsNotFound(s)) return s;
  if (exists && current.archived()) {
    return absl::FailedPreconditionError(
        absl::StrCat(what, " is archived; archived flags cannot change"));
  }
  const auto diff = DiffMessages(exists ? current : v1::Flag(), desired);
  if (exists && diff.empty()) {
    out_ << what << ": unchanged\n";
    return absl::OkStatus();
  }
  if (dry_run && !force) {
    // The same check the server makes, so a dry run tells the truth.
    const Flag before = FromProto(current);
    absl::Status move =
        CheckStageMove(exists ? &before : nullptr, FromProto(desired));
    if (!move.ok()) return absl::Status(move.code(), absl::StrCat(what, ": ", move.message()));
  }
  PrintDiff(what + (exists ? ": update" : ": create"), diff);
  if (dry_run) return absl::OkStatus();
  v1::Flag result;
  if (!exists) {
    v1::CreateFlagRequest request;
    *request.mutable_flag() = desired;
    request.set_force(force);
    request.set_comment("cutoverctl apply");
    s = connection_->Admin(&v1::Admin::Stub::CreateFlag, request, &result);
  } else {
    v1::ReplaceFlagRequest request;
    *request.mutable_flag() = desired;
    request.set_expected_version(current.version());
    request.set_force(force);
    request.set_comment("cutoverctl apply");
    s = connection_->Admin(&v1::Admin::Stub::ReplaceFlag, request, &result);
  }
  if (!s.ok()) return absl::Status(s.code(), absl::StrCat(what, ": ", s.message()));
  return s;
}

}  // namespace

int ExitCodeFor(absl::StatusCode code) {
  switch (code) {
    case absl::StatusCode::kOk:
      return 0;
    case absl::StatusCode::kInvalidArgument:
    case absl::StatusCode::kFailedPrecondition:
    case absl::StatusCode::kAlreadyExists:
    case absl::StatusCode::kNotFound:
    case absl::StatusCode::kAborted:
    case absl::StatusCode::kOutOfRange:
      return 2;
    default:
      return 1;
  }
}

int Run(int argc, char** argv, std::ostream& out, std::ostream& err) {
  Cli cli(out, err);
  return cli.Run(argc, argv);
}

}  // namespace cutover::cli
