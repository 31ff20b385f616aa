// Who may call what: bearer tokens and client certificates mapped to roles,
// and the table of the role each rpc needs (docs/security.md).
//
//   auto authorizer = Authorizer::Create(config.auth);   // reads token_file
//   absl::StatusOr<Principal> who =
//       (*authorizer)->Authorize(*context, "SetStage");
//   if (!who.ok()) return who.status();  // UNAUTHENTICATED/PERMISSION_DENIED
//
// Tokens are known only by their SHA-256 (config, token file) or read from
// an environment variable and hashed at start; a presented token is hashed
// and compared in constant time with every known hash. Refusals say what
// is missing, never which tokens exist.
//
// The token file is read again by ReloadTokenFile (the daemon calls it when
// the file's folder changes, server/file_watch.h): a call that starts after
// it returns is checked against the new set, so a removed token is refused
// from then on. Each thread remembers the last few tokens it saw accepted
// (server/auth_tokens.cc, TokenTable), so that a caller's next call costs a
// constant-time comparison instead of a SHA-256; what it remembers belongs
// to one set of tokens and is never used with another.
//
// Streams (Watch, flagd's EventStream and SyncFlags) are authorized once,
// when they open, by AllowStream; one opened with a token is registered
// (StreamTicket::Track, server/token_streams.h) and a reload that removes
// the token, or lowers its role below the method's, ends it at once.
//
// Thread-safe: the configuration is immutable after Create; the token set
// is replaced whole (readers load one pointer; every set made lives as
// long as the Authorizer, and a reload that changes nothing makes none).
#ifndef CUTOVER_SERVER_AUTH_H_
#define CUTOVER_SERVER_AUTH_H_

#include <array>
#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "credentials/token_hash.h"

namespace grpc {
class ServerContextBase;
}  // namespace grpc

namespace cutover {

class StreamRegistration;
class TokenStreams;

// The longest token name (the actor in history) or x-cutover-actor kept.
inline constexpr size_t kMaxActorLength = 128;

// Roles, each allowed what the ones below it are.
enum class Role {
  kReader = 1,    // decide, watch, report telemetry, read flags/history
  kOperator = 2,  // + stage, rollout, rules, enable/disable, rollback
  kAdmin = 3,     // + create, replace, archive flags; segments
};

const char* RoleName(Role role);  // "reader", "operator", "admin"
// Whether `role` may do what `needed` allows (it is `needed` or above).
inline bool RoleCovers(Role role, Role needed) {
  return static_cast<int>(role) >= static_cast<int>(needed);
}
std::optional<Role> ParseRole(absl::string_view name);

// The role each rpc needs, by method name ("SetStage"); nullopt for a
// method not in the table (refused). The one table the daemon enforces
// and the tests iterate.
struct MethodRole {
  const char* service;  // "Admin", "Evaluation", "Telemetry"
  const char* method;
  Role role;
};
const std::vector<MethodRole>& MethodRoles();
std::optional<Role> RequiredRole(absl::string_view method);

// A token the daemon accepts: its name (the actor in history), its role,
// and either the SHA-256 of the token (hex) or the environment variable
// that holds the token itself.
struct TokenSpec {
  std::string name;
  Role role = Role::kReader;
  std::string sha256_hex;
  std::string env;
};

// A client certificate (mutual TLS) whose common name gets a role.
struct CertRoleSpec {
  std::string common_name;
  Role role = Role::kReader;
};

struct AuthConfig {
  // false only with an explicit `auth: none`: every call is allowed and
  // the actor is the caller's x-cutover-actor metadata or its address.
  bool enabled = true;
  std::vector<TokenSpec> tokens;
  // Lines of "name role sha256hex"; '#' starts a comment.
  std::string token_file;
  std::vector<CertRoleSpec> cert_roles;
  // Evaluation (Decide, DecideBatch, Watch) and telemetry without a token.
  bool open_evaluation = false;
};

// Who made a call.
struct Principal {
  std::string name;  // token name, "cn:<common name>", or the actor/peer
  std::optional<Role> role;  // nullopt when auth is off
};

// The tokens accepted at one moment, from the configuration and the token
// file: built whole, immutable afterwards (server/auth_tokens.cc). Match
// finds the entry of a presented token: SHA-256 and a constant-time
// comparison with every entry, or, for a token this thread saw accepted by
// this same set lately, a constant-time comparison with it.
class TokenTable {
 public:
  struct Entry {
    TokenDigest sha256;
    std::string name;
    Role role;
  };

  // INVALID_ARGUMENT naming the entry or the line.
  static absl::StatusOr<std::unique_ptr<const TokenTable>> Build(
      const AuthConfig& config);

  // The entry `token` belongs to, or null. Thread-safe.
  const Entry* Match(absl::string_view token) const;
  // The entry of the token whose SHA-256 is `digest` (the one Match would
  // find for that token), or null.
  const Entry* Find(const TokenDigest& digest) const;
  // The same names, roles and hashes in the same order.
  bool SameAs(const TokenTable& other) const;
  bool empty() const { return entries_.empty(); }

 private:
  TokenTable();
  const Entry* MatchByHash(absl::string_view token) const;

  std::vector<Entry> entries_;
  const uint64_t id_;  // unique in the process, never reused
};

// What AllowStream found out about a stream it allowed: the token the
// stream was opened with, if any, to end the stream when a reload revokes
// the token. Copyable; empty for a stream opened without a token.
class StreamTicket {
 public:
  // Registers the stream just made: `end` is called, at most once and
  // under the registry's lock (server/token_streams.h), with
  // UNAUTHENTICATED if a reload removes the token, or PERMISSION_DENIED if
  // it lowers the token's role below the method's: on the reloading
  // thread, or here already if a reload did so since AllowStream. Keep
  // the result until the stream is done (its destruction unregisters it).
  // Null for an empty ticket: nothing to end.
  std::unique_ptr<StreamRegistration> Track(
      std::function<void(const absl::Status&)> end) const;

 private:
  friend class Authorizer;
  TokenStreams* streams_ = nullptr;  // null: no token
  TokenDigest token_{};
  Role needed_ = Role::kReader;
  const TokenTable* checked_ = nullptr;  // the set that allowed it
  std::string method_;
};

class Authorizer {
 public:
  // INVALID_ARGUMENT naming the entry for a bad token spec, a missing
  // environment variable, an unreadable token file, or auth enabled with
  // no token and no certificate role at all.
  static absl::StatusOr<std::unique_ptr<Authorizer>> Create(
      const AuthConfig& config);

  // The principal of `context` if it may call `method`: UNAUTHENTICATED
  // without a valid token or certificate, PERMISSION_DENIED if its role is
  // below the method's.
  absl::StatusOr<Principal> Authorize(const grpc::ServerContextBase& context,
                                      absl::string_view method) const;

  // Authorize without naming the caller, for calls that record nothing
  // (evaluation, telemetry): OK at once when auth is off or the method is
  // open, so the hot path builds no strings.
  absl::Status Allow(const grpc::ServerContextBase& context,
                     absl::string_view method) const;

  // Allow for a stream: also the ticket to Track it with once it is made.
  absl::StatusOr<StreamTicket> AllowStream(
      const grpc::ServerContextBase& context, absl::string_view method) const;

  bool enabled() const { return config_.enabled; }

  // Reads the configured tokens and the token file again. If the set
  // differs from the current one, it replaces it and true is returned;
  // false if nothing changed. A bad file (an unreadable one, a bad line)
  // or a set with no token and no certificate role: INVALID_ARGUMENT
  // naming the line or the rule, and the current set stays. Any thread;
  // reloads are serialized. A set that replaces the current one first ends
  // the streams it no longer allows (StreamTicket::Track); how many is
  // added to `*streams_ended` when that is not null.
  absl::StatusOr<bool> ReloadTokenFile(size_t* streams_ended = nullptr);
  // Token sets made so far (1 after Create, one more per changing reload).
  size_t token_sets() const;

  ~Authorizer();

  // `authorizer`, or a shared one that allows every call (auth: none) if
  // it is null: what services that take an optional Authorizer* keep.
  static const Authorizer* OrAllowAll(const Authorizer* authorizer);

 private:
  explicit Authorizer(AuthConfig config);
  // Whether open_evaluation lets `method` through without a token.
  bool IsOpen(absl::string_view method) const;
  // Builds the token set from config_ and makes it the current one unless
  // it equals the current one: true if it did. The first call (Create)
  // always installs.
  absl::StatusOr<bool> InstallTokens(size_t* streams_ended);
  // Authorize; fills `*ticket` (when not null) for a caller with a token.
  absl::StatusOr<Principal> Check(const grpc::ServerContextBase& context,
                                  absl::string_view method,
                                  StreamTicket* ticket) const;
  // The principal of `context` without checking any role; the token's
  // entry and its set in `*ticket` (when not null) for a token.
  absl::StatusOr<Principal> Identify(const grpc::ServerContextBase& context,
                                     StreamTicket* ticket) const;

  const AuthConfig config_;
  // The accepted tokens now; null when auth is off.
  std::atomic<const TokenTable*> tokens_{nullptr};
  mutable absl::Mutex mu_;
  // Every set made (the current one last), kept so that a reader's pointer
  // stays valid.
  std::vector<std::unique_ptr<const TokenTable>> token_sets_
      ABSL_GUARDED_BY(mu_);
  // The streams opened with a token (its own lock, taken after mu_).
  const std::unique_ptr<TokenStreams> streams_;
};

}  // namespace cutover

#endif  // CUTOVER_SERVER_AUTH_H_
