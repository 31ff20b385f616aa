// Tests of PeerStreamLimit: streams counted per address up to the limit,
// the refusal's code and message, a release freeing a slot, addresses
// counted apart; and PeerHost, the address a gRPC peer is counted by.
// (The services' use of it against the real daemon: limits_test.cc and
// flagd_test.cc.)
#include "server/peer_stream_limit.h"

#include <catch2/catch.hpp>
#include <string>

namespace cutover {
namespace {

TEST_CASE("PeerStreamLimit admits up to the limit per address, then refuses "
          "naming the setting",
          "[peer_stream_limit]") {
  PeerStreamLimit limit(2, "watch");
  const std::string a = "ipv4:127.0.0.1";
  const std::string b = "ipv6:[::1]";
  CHECK(limit.Admit(a).ok());
  CHECK(limit.Admit(a).ok());
  const absl::Status refused = limit.Admit(a);
  CHECK(refused.code() == absl::StatusCode::kResourceExhausted);
  CHECK(refused.message() ==
        "watch: 2 streams already open from this address "
        "(max_watch_streams_per_peer)");
  CHECK(limit.open(a) == 2);  // the refused one is not counted

  // Another address has its own count.
  CHECK(limit.Admit(b).ok());
  CHECK(limit.open(b) == 1);

  // A release frees one slot, for that address only.
  limit.Release(a);
  CHECK(limit.open(a) == 1);
  CHECK(limit.Admit(a).ok());
  CHECK_FALSE(limit.Admit(a).ok());
  CHECK(limit.open(b) == 1);

  // Released to zero, the address is forgotten; a release too many is
  // harmless.
  limit.Release(b);
  limit.Release(b);
  CHECK(limit.open(b) == 0);
  CHECK(limit.Admit(b).ok());
}

TEST_CASE("PeerStreamLimit with a limit of 0 refuses every stream",
          "[peer_stream_limit]") {
  PeerStreamLimit limit(0, "sync");
  const absl::Status refused = limit.Admit("ipv4:10.0.0.1");
  CHECK(refused.code() == absl::StatusCode::kResourceExhausted);
  CHECK(refused.message().substr(0, 8) == "sync: 0 ");
  CHECK(limit.open("ipv4:10.0.0.1") == 0);
}

TEST_CASE("PeerHost drops the port of a gRPC peer", "[peer_stream_limit]") {
  CHECK(PeerHost("ipv4:127.0.0.1:5000") == "ipv4:127.0.0.1");
  CHECK(PeerHost("ipv6:[::1]:5000") == "ipv6:[::1]");
  CHECK(PeerHost("unix") == "unix");
}

}  // namespace
}  // namespace cutover
