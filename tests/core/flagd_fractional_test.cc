// cutover's bucketing is flagd's high-precision "fractional": the same
// MurmurHash3 of the same bytes, and bucket = (hash * total weight) >> 32
// walked in listed order. The vectors are the high-precision examples of
// flagd's own conformance suite for fractional (the hash input and weights
// of its test flags, the variant it expects), recomputed here with cutover's
// hash; the flagd sync (server/flagd_translate.h) relies on this.
#include <catch2/catch.hpp>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "core/bucketing.h"

namespace cutover {
namespace {

// The variant flagd's fractional picks for `hash_input`.
std::string Fractional(
    const std::string& hash_input,
    const std::vector<std::pair<std::string, uint64_t>>& variants) {
  uint64_t total = 0;
  for (const auto& [name, weight] : variants) total += weight;
  const uint64_t bucket =
      (static_cast<uint64_t>(MurmurHash3_x86_32(hash_input, 0)) * total) >> 32;
  uint64_t sum = 0;
  for (const auto& [name, weight] : variants) {
    sum += weight;
    if (bucket < sum) return name;
  }
  return "";
}

TEST_CASE("flagd's conformance vectors for fractional, with cutover's hash") {
  const std::vector<std::pair<std::string, uint64_t>> suits = {
      {"clubs", 25}, {"diamonds", 25}, {"hearts", 25}, {"spades", 25}};
  struct Case {
    std::string hash_input;
    const std::vector<std::pair<std::string, uint64_t>>* variants;
    std::string want;
  };
  const std::vector<std::pair<std::string, uint64_t>> coin = {{"heads", 1},
                                                              {"tails", 1}};
  const std::vector<std::pair<std::string, uint64_t>> halves = {{"lower", 50},
                                                                {"upper", 50}};
  const Case cases[] = {
      // "fractional-flag": flag key + user.name.
      {"fractional-flagjack", &suits, "hearts"},
      {"fractional-flagqueen", &suits, "spades"},
      {"fractional-flagten", &suits, "clubs"},
      {"fractional-flagnine", &suits, "diamonds"},
      {"fractional-flag3", &suits, "clubs"},
      // Shorthand: flag key + targeting key.
      {"fractional-flag-shorthandjon@company.com", &coin, "heads"},
      {"fractional-flag-shorthandjane@company.com", &coin, "tails"},
      // A shared seed instead of the flag key.
      {"shared-seedseven", &suits, "hearts"},
      {"shared-seedeight", &suits, "diamonds"},
      {"shared-seednine", &suits, "clubs"},
      {"shared-seedtwo", &suits, "spades"},
      // Hash edge cases: the targeting key alone.
      {"ejOoVL", &halves, "lower"},
      {"bY9fO-", &halves, "lower"},
      {"SI7p-", &halves, "lower"},
      {"6LvT0", &halves, "upper"},
      {"ceQdGm", &halves, "upper"},
  };
  for (const Case& c : cases) {
    INFO(c.hash_input);
    CHECK(Fractional(c.hash_input, *c.variants) == c.want);
  }
}

TEST_CASE("BucketFor is fractional's bucket with a total weight of 100000") {
  for (const char* user : {"alice", "bob", "u-1", "t-42", ""}) {
    const std::string input = std::string("orders") + user;
    CHECK(BucketFor("orders", user) ==
          (static_cast<uint64_t>(MurmurHash3_x86_32(input, 0)) * 100000) >> 32);
  }
}

}  // namespace
}  // namespace cutover
