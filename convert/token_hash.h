// How bearer tokens are stored and compared: their SHA-256. The daemon
// keeps only hashes (config, token file); `cutoverctl token new` prints the
// hash of the token it makes. Shared here so both sides hash the same way.
//
// Pure functions; thread-safe.
#ifndef CUTOVER_CONVERT_TOKEN_HASH_H_
#define CUTOVER_CONVERT_TOKEN_HASH_H_

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

#endif  // CUTOVER_CONVERT_TOKEN_HASH_H_
