#include "server/auth.h"

#include <sstream>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "credentials/token_hash.h"
#include "grpcpp/server_context.h"
#include "server/token_streams.h"

namespace cutover {
namespace {

constexpr char kAuthorizationKey[] = "authorization";
constexpr char kActorMetadataKey[] = "x-cutover-actor";
constexpr char kBearerPrefix[] = "Bearer ";
// gRPC's auth context property for the client certificate's common name.
constexpr char kCommonNameProperty[] = "x509_common_name";
constexpr size_t kMaxTokenLength = 4096;

absl::string_view Metadata(const grpc::ServerContextBase& context,
                           absl::string_view key) {
  const auto& metadata = context.client_metadata();
  auto it = metadata.find(grpc::string_ref(key.data(), key.size()));
  if (it == metadata.end()) return {};
  return absl::string_view(it->second.data(), it->second.size());
}

}  // namespace

const char* RoleName(Role role) {
  switch (role) {
    case Role::kReader:
      return "reader";
    case Role::kOperator:
      return "operator";
    case Role::kAdmin:
      return "admin";
  }
  return "unknown";
}

std::optional<Role> ParseRole(absl::string_view name) {
  for (Role role : {Role::kReader, Role::kOperator, Role::kAdmin}) {
    if (name == RoleName(role)) return role;
  }
  return std::nullopt;
}

const std::vector<MethodRole>& MethodRoles() {
  static const auto* const table = new std::vector<MethodRole>{
      {"Evaluation", "Decide", Role::kReader},
      {"Evaluation", "DecideBatch", Role::kReader},
      {"Evaluation", "Watch", Role::kReader},
      // The flagd evaluation protocol (server/flagd_service.h), v1 and v2
      // alike: method names are looked up without the service.
      {"flagd.evaluation.v1.Service", "ResolveAll", Role::kReader},
      {"flagd.evaluation.v1.Service", "ResolveBoolean", Role::kReader},
      {"flagd.evaluation.v1.Service", "ResolveString", Role::kReader},
      {"flagd.evaluation.v1.Service", "ResolveFloat", Role::kReader},
      {"flagd.evaluation.v1.Service", "ResolveInt", Role::kReader},
      {"flagd.evaluation.v1.Service", "ResolveObject", Role::kReader},
      {"flagd.evaluation.v1.Service", "EventStream", Role::kReader},
      {"flagd.evaluation.v2.Service", "ResolveBoolean", Role::kReader},
      {"flagd.evaluation.v2.Service", "ResolveString", Role::kReader},
      {"flagd.evaluation.v2.Service", "ResolveFloat", Role::kReader},
      {"flagd.evaluation.v2.Service", "ResolveInt", Role::kReader},
      {"flagd.evaluation.v2.Service", "ResolveObject", Role::kReader},
      {"flagd.evaluation.v2.Service", "EventStream", Role::kReader},
      {"flagd.sync.v1.FlagSyncService", "SyncFlags", Role::kReader},
      {"flagd.sync.v1.FlagSyncService", "FetchAllFlags", Role::kReader},
      {"flagd.sync.v1.FlagSyncService", "GetMetadata", Role::kReader},
      {"Telemetry", "ReportMigrationOps", Role::kReader},
      {"Admin", "GetFlag", Role::kReader},
      {"Admin", "ListFlags", Role::kReader},
      {"Admin", "GetHistory", Role::kReader},
      {"Admin", "GetSegment", Role::kReader},
      {"Admin", "ListSegments", Role::kReader},
      {"Admin", "GetFlagStatus", Role::kReader},
      {"Admin", "ListFlagStatus", Role::kReader},
      {"Admin", "GetBackfill", Role::kReader},
      {"Admin", "ListBackfills", Role::kReader},
      {"Admin", "GetServerInfo", Role::kReader},
      {"Admin", "GetRampStatus", Role::kReader},
      {"Admin", "SetStage", Role::kOperator},
      {"Admin", "SetRollout", Role::kOperator},
      {"Admin", "AddRule", Role::kOperator},
      {"Admin", "RemoveRule", Role::kOperator},
      {"Admin", "SetEnabled", Role::kOperator},
      {"Admin", "Rollback", Role::kOperator},
      {"Admin", "StartBackfill", Role::kOperator},
      {"Admin", "CheckpointBackfill", Role::kOperator},
      {"Admin", "CreateFlag", Role::kAdmin},
      {"Admin", "ReplaceFlag", Role::kAdmin},
      {"Admin", "ArchiveFlag", Role::kAdmin},
      {"Admin", "CreateSegment", Role::kAdmin},
      {"Admin", "ReplaceSegment", Role::kAdmin},
      {"Admin", "DeleteSegment", Role::kAdmin},
      {"Admin", "Apply", Role::kAdmin},
      {"Admin", "ResetBackfill", Role::kAdmin},
      {"Admin", "SetRampPlan", Role::kAdmin},
      {"Admin", "ControlRamp", Role::kAdmin},
      {"Admin", "CreateBackup", Role::kAdmin},
  };
  return *table;
}

std::optional<Role> RequiredRole(absl::string_view method) {
  for (const MethodRole& entry : MethodRoles()) {
    if (method == entry.method) return entry.role;
  }
  return std::nullopt;
}

Authorizer::Authorizer(AuthConfig config)
    : config_(std::move(config)), streams_(std::make_unique<TokenStreams>()) {}

Authorizer::~Authorizer() = default;

absl::StatusOr<std::unique_ptr<Authorizer>> Authorizer::Create(
    const AuthConfig& config) {
  std::unique_ptr<Authorizer> authorizer(new Authorizer(config));
  if (!config.enabled) return authorizer;
  absl::StatusOr<bool> installed = authorizer->InstallTokens(nullptr);
  if (!installed.ok()) return installed.status();
  return authorizer;
}

absl::StatusOr<bool> Authorizer::ReloadTokenFile(size_t* streams_ended) {
  if (!config_.enabled) return false;
  return InstallTokens(streams_ended);
}

absl::StatusOr<bool> Authorizer::InstallTokens(size_t* streams_ended) {
  auto tokens = TokenTable::Build(config_);
  if (!tokens.ok()) return tokens.status();
  absl::MutexLock lock(&mu_);
  if (!token_sets_.empty() && (*tokens)->SameAs(*token_sets_.back())) {
    return false;
  }
  // The new set first, then the streams it no longer allows end: a
  // client told that its stream's token was revoked must find every call
  // with that token refused from then on. (Ended first, the set stored
  // after, a call could still pass with the removed token in between.)
  // Release: a reader that loads the new pointer sees the whole set.
  tokens_.store(tokens->get(), std::memory_order_release);
  // Every stream is checked against the new set: those registered before
  // this, here; one authorized by the old set that registers after this,
  // in TokenStreams::Add (Revoke makes the new set the one it checks).
  const size_t ended = streams_->Revoke(tokens->get());
  if (streams_ended != nullptr) *streams_ended += ended;
  token_sets_.push_back(*std::move(tokens));
  return true;
}

size_t Authorizer::token_sets() const {
  absl::MutexLock lock(&mu_);
  return token_sets_.size();
}

const Authorizer* Authorizer::OrAllowAll(const Authorizer* authorizer) {
  static const Authorizer* const allow_all = [] {
    AuthConfig config;
    config.enabled = false;
    return new Authorizer(config);
  }();
  return authorizer != nullptr ? authorizer : allow_all;
}

absl::StatusOr<Principal> Authorizer::Identify(
    const grpc::ServerContextBase& context, StreamTicket* ticket) const {
  const absl::string_view authorization =
      Metadata(context, kAuthorizationKey);
  if (!authorization.empty()) {
    if (!absl::StartsWith(authorization, kBearerPrefix) ||
        authorization.size() > kMaxTokenLength) {
      return absl::UnauthenticatedError(
          "authorization: expected 'Bearer <token>'");
    }
    const TokenTable* tokens = tokens_.load(std::memory_order_acquire);
    const TokenTable::Entry* match =
        tokens->Match(authorization.substr(sizeof(kBearerPrefix) - 1));
    if (match == nullptr) {
      return absl::UnauthenticatedError("authorization: token not accepted");
    }
    if (ticket != nullptr) {
      ticket->streams_ = streams_.get();
      ticket->token_ = match->sha256;
      ticket->checked_ = tokens;
    }
    return Principal{match->name, match->role};
  }
  const auto auth = context.auth_context();
  if (auth != nullptr && auth->IsPeerAuthenticated()) {
    // gRPC takes the name as a std::string: one for every call, not a new
    // one per call (the name is past the short-string buffer).
    static const std::string* const common_name_property =
        new std::string(kCommonNameProperty);
    for (const auto& value : auth->FindPropertyValues(*common_name_property)) {
      const absl::string_view common_name(value.data(), value.size());
      for (const CertRoleSpec& spec : config_.cert_roles) {
        if (spec.common_name == common_name) {
          return Principal{absl::StrCat("cn:", common_name), spec.role};
        }
      }
    }
    return absl::UnauthenticatedError(
        "authorization: the client certificate has no role; send a bearer "
        "token or use a certificate named in cert_roles");
  }
  return absl::UnauthenticatedError(
      "authorization: missing; send metadata 'authorization: Bearer "
      "<token>' (cutoverctl: CUTOVER_TOKEN)");
}

bool Authorizer::IsOpen(absl::string_view method) const {
  return config_.open_evaluation &&
         (method == "Decide" || method == "DecideBatch" || method == "Watch" ||
          absl::StartsWith(method, "Resolve") || method == "EventStream" ||
          method == "SyncFlags" || method == "FetchAllFlags" ||
          method == "GetMetadata" ||
          method == "ReportMigrationOps");
}

absl::Status Authorizer::Allow(const grpc::ServerContextBase& context,
                               absl::string_view method) const {
  // The evaluation hot path: with nothing to check, build no names.
  if (!config_.enabled || IsOpen(method)) return absl::OkStatus();
  return Check(context, method, nullptr).status();
}

absl::StatusOr<StreamTicket> Authorizer::AllowStream(
    const grpc::ServerContextBase& context, absl::string_view method) const {
  StreamTicket ticket;
  if (!config_.enabled || IsOpen(method)) return ticket;  // nothing to end
  absl::StatusOr<Principal> caller = Check(context, method, &ticket);
  if (!caller.ok()) return caller.status();
  if (ticket.streams_ != nullptr) {
    ticket.needed_ = *RequiredRole(method);  // Check found it
    ticket.method_ = std::string(method);
  }
  return ticket;
}

absl::StatusOr<Principal> Authorizer::Authorize(
    const grpc::ServerContextBase& context, absl::string_view method) const {
  return Check(context, method, nullptr);
}

absl::StatusOr<Principal> Authorizer::Check(
    const grpc::ServerContextBase& context, absl::string_view method,
    StreamTicket* ticket) const {
  if (!config_.enabled) {
    Principal caller;
    const absl::string_view actor = Metadata(context, kActorMetadataKey);
    caller.name = actor.empty()
                      ? context.peer()
                      : std::string(actor.substr(0, kMaxActorLength));
    return caller;
  }
  const std::optional<Role> needed = RequiredRole(method);
  if (!needed) {
    return absl::PermissionDeniedError(
        absl::StrCat("authorization: ", method, " is not in the role table"));
  }
  if (IsOpen(method)) return Principal{context.peer(), std::nullopt};
  absl::StatusOr<Principal> caller = Identify(context, ticket);
  if (!caller.ok()) return caller.status();
  if (!RoleCovers(*caller->role, *needed)) {
    return absl::PermissionDeniedError(absl::StrCat(
        "authorization: role ", RoleName(*caller->role), " may not call ",
        method, " (needs ", RoleName(*needed), ")"));
  }
  return caller;
}

}  // namespace cutover
