// Credentials both sides handle the same way: bearer tokens are stored and
// compared by their SHA-256 (the daemon keeps only hashes; `cutoverctl
// token new` prints the hash of the token it makes), and TLS material is
// read from PEM files.
//
// Pure functions; thread-safe.
#ifndef CUTOVER_CONVERT_TOKEN_HASH_H_
#define CUTOVER_CONVERT_TOKEN_HASH_H_

#include <array>
#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace cutover {

using TokenDigest = std::array<unsigned char, 32>;

TokenDigest TokenSha256(absl::string_view token);
// Lowercase hex of TokenSha256.
std::string TokenSha256Hex(absl::string_view token);
// The digest a 64-digit hex string spells, or nullopt.
std::optional<TokenDigest> ParseTokenSha256Hex(absl::string_view hex);
// The text of a PEM file (certificate, key, CA) named by the option
// `option` ("tls-ca", "tls.cert_file"): INVALID_ARGUMENT naming the option
// and the path if it cannot be read or is empty.
absl::StatusOr<std::string> ReadPemFile(const std::string& path,
                                        const char* option);

// A new random token (32 bytes from OpenSSL's CSPRNG, URL-safe base64);
// empty if the generator fails.
std::string NewToken();

}  // namespace cutover

#endif  // CUTOVER_CONVERT_TOKEN_HASH_H_
