#include "credentials/token_hash.h"

#include <algorithm>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "openssl/rand.h"
#include "openssl/sha.h"

namespace cutover {

TokenDigest TokenSha256(absl::string_view token) {
  TokenDigest digest{};
  SHA256(reinterpret_cast<const unsigned char*>(token.data()), token.size(),
         digest.data());
  return digest;
}

std::string TokenSha256Hex(absl::string_view token) {
  const TokenDigest digest = TokenSha256(token);
  return absl::BytesToHexString(absl::string_view(
      reinterpret_cast<const char*>(digest.data()), digest.size()));
}

std::optional<TokenDigest> ParseTokenSha256Hex(absl::string_view hex) {
  if (hex.size() != 64) return std::nullopt;
  for (char c : hex) {
    if (!absl::ascii_isxdigit(static_cast<unsigned char>(c))) {
      return std::nullopt;
    }
  }
  const std::string bytes = absl::HexStringToBytes(hex);
  TokenDigest digest{};
  std::copy(bytes.begin(), bytes.end(), digest.begin());
  return digest;
}

std::string NewToken() {
  unsigned char random[32];
  if (RAND_bytes(random, sizeof random) != 1) return "";
  std::string token;
  absl::WebSafeBase64Escape(
      absl::string_view(reinterpret_cast<const char*>(random), sizeof random),
      &token);
  return token;
}

}  // namespace cutover
