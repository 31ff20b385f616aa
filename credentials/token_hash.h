// Bearer tokens, handled the same way by the daemon and cutoverctl: stored
// and compared by their SHA-256 (the daemon keeps only hashes; `cutoverctl
// token new` prints the hash of the token it makes). The one place that
// links OpenSSL's hashing and random generator; the client library does not
// link it.
//
// Pure functions; thread-safe.
#ifndef CUTOVER_CREDENTIALS_TOKEN_HASH_H_
#define CUTOVER_CREDENTIALS_TOKEN_HASH_H_

#include <array>
#include <optional>
#include <string>

#include "absl/strings/string_view.h"

namespace cutover {

using TokenDigest = std::array<unsigned char, 32>;

TokenDigest TokenSha256(absl::string_view token);
// Lowercase hex of TokenSha256.
std::string TokenSha256Hex(absl::string_view token);
// The digest a 64-digit hex string spells, or nullopt.
std::optional<TokenDigest> ParseTokenSha256Hex(absl::string_view hex);

// A new random token (32 bytes from OpenSSL's CSPRNG, URL-safe base64);
// empty if the generator fails.
std::string NewToken();

}  // namespace cutover

#endif  // CUTOVER_CREDENTIALS_TOKEN_HASH_H_
