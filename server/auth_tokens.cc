// TokenTable (server/auth.h): the accepted tokens, read from the
// configuration and the token file, and the match of a presented token.
#include <array>
#include <atomic>
#include <fstream>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "credentials/token_hash.h"
#include "openssl/crypto.h"
#include "server/auth.h"

namespace cutover {
namespace {

uint64_t NextTableId() {
  static std::atomic<uint64_t> next{1};
  return next.fetch_add(1, std::memory_order_relaxed);
}

}  // namespace

TokenTable::TokenTable() : id_(NextTableId()) {}

absl::StatusOr<std::unique_ptr<const TokenTable>> TokenTable::Build(
    const AuthConfig& config) {
  std::unique_ptr<TokenTable> table(new TokenTable());
  auto add = [&](const std::string& where, const std::string& name, Role role,
                 const TokenDigest& digest) -> absl::Status {
    if (name.empty() || name.size() > kMaxActorLength) {
      return absl::InvalidArgumentError(
          absl::StrCat(where, ".name: must be 1 to ", kMaxActorLength,
                       " characters"));
    }
    table->entries_.push_back({digest, name, role});
    return absl::OkStatus();
  };
  for (size_t i = 0; i < config.tokens.size(); ++i) {
    const TokenSpec& spec = config.tokens[i];
    const std::string where = absl::StrCat("tokens[", i, "]");
    std::optional<TokenDigest> digest;
    if (!spec.sha256_hex.empty() && spec.env.empty()) {
      digest = ParseTokenSha256Hex(spec.sha256_hex);
      if (!digest) {
        return absl::InvalidArgumentError(absl::StrCat(
            where, ".sha256: must be 64 hex digits (cutoverctl token new)"));
      }
    } else if (!spec.env.empty() && spec.sha256_hex.empty()) {
      const char* token = std::getenv(spec.env.c_str());
      if (token == nullptr || *token == '\0') {
        return absl::InvalidArgumentError(
            absl::StrCat(where, ".env: environment variable ", spec.env,
                         " is not set"));
      }
      digest = TokenSha256(token);
    } else {
      return absl::InvalidArgumentError(
          absl::StrCat(where, ": exactly one of sha256 and env"));
    }
    if (absl::Status s = add(where, spec.name, spec.role, *digest); !s.ok()) {
      return s;
    }
  }
  if (!config.token_file.empty()) {
    std::ifstream in(config.token_file);
    if (!in) {
      return absl::InvalidArgumentError(
          absl::StrCat("token_file: cannot read ", config.token_file));
    }
    std::string line;
    for (int number = 1; std::getline(in, line); ++number) {
      const std::string where =
          absl::StrCat("token_file ", config.token_file, ":", number);
      absl::string_view text = line;
      text = text.substr(0, text.find('#'));
      std::vector<absl::string_view> fields =
          absl::StrSplit(text, absl::ByAnyChar(" \t"), absl::SkipEmpty());
      if (fields.empty()) continue;
      const auto role = fields.size() == 3 ? ParseRole(fields[1]) : std::nullopt;
      const auto digest =
          fields.size() == 3 ? ParseTokenSha256Hex(fields[2]) : std::nullopt;
      if (!role || !digest) {
        return absl::InvalidArgumentError(absl::StrCat(
            where, ": expected 'name role sha256hex' with role reader, "
                   "operator or admin"));
      }
      if (absl::Status s = add(where, std::string(fields[0]), *role, *digest);
          !s.ok()) {
        return s;
      }
    }
  }
  if (table->entries_.empty() && config.cert_roles.empty()) {
    return absl::InvalidArgumentError(
        "auth: no tokens and no certificate roles configured; add tokens "
        "(cutoverctl token new), or set 'auth: none' to run without "
        "authentication");
  }
  return std::unique_ptr<const TokenTable>(std::move(table));
}


bool TokenTable::SameAs(const TokenTable& other) const {
  if (entries_.size() != other.entries_.size()) return false;
  for (size_t i = 0; i < entries_.size(); ++i) {
    const Entry& a = entries_[i];
    const Entry& b = other.entries_[i];
    if (a.sha256 != b.sha256 || a.name != b.name || a.role != b.role) {
      return false;
    }
  }
  return true;
}

const TokenTable::Entry* TokenTable::MatchByHash(
    absl::string_view token) const {
  // Every known hash is compared (Find), so the time taken says nothing
  // about which one (if any) matched.
  return Find(TokenSha256(token));
}

const TokenTable::Entry* TokenTable::Find(const TokenDigest& digest) const {
  // The last entry with the digest; every entry is compared, each in
  // constant time.
  const Entry* match = nullptr;
  for (const Entry& entry : entries_) {
    if (CRYPTO_memcmp(entry.sha256.data(), digest.data(), digest.size()) ==
        0) {
      match = &entry;
    }
  }
  return match;
}

const TokenTable::Entry* TokenTable::Match(absl::string_view token) const {
  // The last tokens this thread saw accepted, each with the set that
  // accepted it (by id: an entry of another set, or of a set since
  // replaced, never matches). Only accepted tokens are kept, so a caller
  // sending bad tokens pays the hash every time and evicts nothing.
  struct Recent {
    uint64_t table = 0;
    std::string token;
    const Entry* entry = nullptr;
  };
  static thread_local std::array<Recent, 4> recent;
  static thread_local size_t next = 0;
  for (const Recent& r : recent) {
    // Constant time in the token's bytes; a token's length is not secret
    // (cutoverctl token new makes them all the same length).
    if (r.table == id_ && r.token.size() == token.size() &&
        CRYPTO_memcmp(r.token.data(), token.data(), token.size()) == 0) {
      return r.entry;
    }
  }
  const Entry* entry = MatchByHash(token);
  if (entry != nullptr) {
    Recent& slot = recent[next++ % recent.size()];
    slot.table = id_;
    slot.token.assign(token.data(), token.size());
    slot.entry = entry;
  }
  return entry;
}

}  // namespace cutover
