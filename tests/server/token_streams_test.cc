// TokenStreams (server/token_streams.h): the registry of streams opened
// with a token, and what a new token set ends.
#include <catch2/catch.hpp>

#include <atomic>
#include <memory>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

#include "credentials/token_hash.h"
#include "server/auth.h"
#include "server/token_streams.h"

namespace cutover {
namespace {

// A set of (name, role, token) built as the daemon builds one.
std::unique_ptr<const TokenTable> Table(
    const std::vector<std::tuple<std::string, Role, std::string>>& tokens) {
  AuthConfig config;
  for (const auto& [name, role, token] : tokens) {
    TokenSpec spec;
    spec.name = name;
    spec.role = role;
    spec.sha256_hex = TokenSha256Hex(token);
    config.tokens.push_back(spec);
  }
  auto table = TokenTable::Build(config);
  REQUIRE(table.ok());
  return *std::move(table);
}

// What a stream's `end` was called with (count and last status).
struct Ended {
  int calls = 0;
  absl::Status status;
  TokenStreams::End Callback() {
    return [this](const absl::Status& s) {
      ++calls;
      status = s;
    };
  }
};

TEST_CASE("TokenStreams: a new set ends the streams of a removed token with "
          "UNAUTHENTICATED, once, and no other",
          "[auth]") {
  const std::string alice = NewToken();
  const std::string bob = NewToken();
  auto before = Table({{"alice", Role::kReader, alice},
                       {"bob", Role::kReader, bob}});
  TokenStreams streams;
  REQUIRE(streams.Revoke(before.get()) == 0);
  Ended watch_a, events_a, watch_b;
  auto r1 = streams.Add(TokenSha256(alice), Role::kReader, "Watch",
                        before.get(), watch_a.Callback());
  auto r2 = streams.Add(TokenSha256(alice), Role::kReader, "EventStream",
                        before.get(), events_a.Callback());
  auto r3 = streams.Add(TokenSha256(bob), Role::kReader, "Watch",
                        before.get(), watch_b.Callback());
  CHECK(streams.size() == 3);

  // bob renamed: the same token, so his stream stays.
  auto after = Table({{"robert", Role::kReader, bob}});
  CHECK(streams.Revoke(after.get()) == 2);
  CHECK(watch_a.calls == 1);
  CHECK(events_a.calls == 1);
  CHECK(watch_b.calls == 0);
  CHECK(watch_a.status.code() == absl::StatusCode::kUnauthenticated);
  CHECK(watch_a.status.message().find("revoked") != std::string::npos);
  CHECK(watch_a.status.message().find("Watch") != std::string::npos);
  CHECK(events_a.status.message().find("EventStream") != std::string::npos);
  for (const std::string& secret :
       {alice, TokenSha256Hex(alice), std::string("alice")}) {
    CHECK(watch_a.status.message().find(secret) == std::string::npos);
  }
  CHECK(streams.size() == 1);

  // Ended streams are forgotten: another set does not end them again.
  auto again = Table({{"carol", Role::kReader, NewToken()}});
  CHECK(streams.Revoke(again.get()) == 1);
  CHECK(watch_a.calls == 1);
  CHECK(watch_b.calls == 1);
  CHECK(streams.size() == 0);
  r1.reset();  // unregistering an ended stream is fine
}

TEST_CASE("TokenStreams: a role lowered below the stream's method ends it "
          "with PERMISSION_DENIED, a role still enough does not",
          "[auth]") {
  const std::string alice = NewToken();
  auto before = Table({{"alice", Role::kAdmin, alice}});
  TokenStreams streams;
  streams.Revoke(before.get());
  Ended needs_operator, needs_reader;
  auto r1 = streams.Add(TokenSha256(alice), Role::kOperator, "Tail",
                        before.get(), needs_operator.Callback());
  auto r2 = streams.Add(TokenSha256(alice), Role::kReader, "Watch",
                        before.get(), needs_reader.Callback());
  auto lowered = Table({{"alice", Role::kReader, alice}});
  CHECK(streams.Revoke(lowered.get()) == 1);
  CHECK(needs_operator.calls == 1);
  CHECK(needs_operator.status.code() == absl::StatusCode::kPermissionDenied);
  CHECK(needs_operator.status.message().find("lowered to reader") !=
        std::string::npos);
  CHECK(needs_reader.calls == 0);
  // Raised again: nothing more ends.
  auto raised = Table({{"alice", Role::kOperator, alice}});
  CHECK(streams.Revoke(raised.get()) == 0);
  CHECK(needs_reader.calls == 0);
}

TEST_CASE("TokenStreams: a stream that is done is not ended, and one "
          "checked against a set a reload has replaced is checked again as "
          "it registers",
          "[auth]") {
  const std::string alice = NewToken();
  const std::string bob = NewToken();
  auto before = Table({{"alice", Role::kReader, alice},
                       {"bob", Role::kReader, bob}});
  auto after = Table({{"bob", Role::kReader, bob}});
  TokenStreams streams;
  streams.Revoke(before.get());
  Ended done;
  {
    auto registration = streams.Add(TokenSha256(alice), Role::kReader,
                                    "Watch", before.get(), done.Callback());
    CHECK(streams.size() == 1);
  }
  CHECK(streams.size() == 0);
  CHECK(streams.Revoke(after.get()) == 0);
  CHECK(done.calls == 0);

  // Allowed by `before`, registered after the reload to `after`.
  Ended late_a, late_b;
  auto ra = streams.Add(TokenSha256(alice), Role::kReader, "Watch",
                        before.get(), late_a.Callback());
  auto rb = streams.Add(TokenSha256(bob), Role::kReader, "Watch",
                        before.get(), late_b.Callback());
  CHECK(late_a.calls == 1);
  CHECK(late_a.status.code() == absl::StatusCode::kUnauthenticated);
  CHECK(late_b.calls == 0);
  CHECK(streams.size() == 1);
}

TEST_CASE("TokenStreams: streams registering and leaving on many threads "
          "while sets change: each ended at most once, never after it left",
          "[auth]") {
  const std::string alice = NewToken();
  const std::string bob = NewToken();
  auto with = Table({{"alice", Role::kReader, alice},
                     {"bob", Role::kReader, bob}});
  auto without = Table({{"bob", Role::kReader, bob}});
  TokenStreams streams;
  streams.Revoke(with.get());
  std::atomic<bool> stop{false};
  std::atomic<int> after_left{0};
  std::atomic<int> twice{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 2000 && !stop.load(); ++i) {
        // What a stream's end touches; it outlives the registration only
        // to tell whether end came late.
        auto state = std::make_shared<std::atomic<int>>(0);  // 1: left
        auto ends = std::make_shared<std::atomic<int>>(0);
        auto registration = streams.Add(
            TokenSha256(t % 2 == 0 ? alice : bob), Role::kReader, "Watch",
            with.get(), [state, ends, &after_left, &twice](const absl::Status&) {
              if (state->load() == 1) after_left.fetch_add(1);
              if (ends->fetch_add(1) > 0) twice.fetch_add(1);
            });
        registration.reset();
        state->store(1);
      }
    });
  }
  for (int i = 0; i < 200; ++i) {
    streams.Revoke(i % 2 == 0 ? without.get() : with.get());
  }
  stop.store(true);
  for (auto& thread : threads) thread.join();
  CHECK(after_left.load() == 0);
  CHECK(twice.load() == 0);
  CHECK(streams.size() == 0);
}

}  // namespace
}  // namespace cutover
