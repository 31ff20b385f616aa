// The token sets the daemon accepts (TokenTable) and their reloading
// (Authorizer::ReloadTokenFile), and FileWatch, which tells the daemon
// when to reload.
#include <catch2/catch.hpp>

#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <fstream>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

#include "grpcpp/server_context.h"
#include "grpcpp/test/server_context_test_spouse.h"

#include "absl/strings/str_cat.h"
#include "credentials/token_hash.h"
#include "server/auth.h"
#include "server/file_watch.h"
#include "server/token_streams.h"
#include "tests/integration/harness.h"

namespace cutover {
namespace {

using testing::ReplaceFile;
using testing::TempDir;

std::string Line(const std::string& name, const char* role,
                 const std::string& token) {
  return absl::StrCat(name, " ", role, " ", TokenSha256Hex(token), "\n");
}

// A token file in a temporary folder, and two tokens to list in it.
struct TokenFile {
  AuthConfig Config() const {
    AuthConfig config;
    config.token_file = path;
    return config;
  }

  TempDir dir;
  const std::string path = dir.path() + "/tokens";
  const std::string alice = NewToken();
  const std::string bob = NewToken();
};

TEST_CASE("a token matches its set only: a thread's memory of accepted "
          "tokens never carries over to another set",
          "[auth]") {
  const TokenFile tokens;
  REQUIRE(ReplaceFile(tokens.path, Line("alice", "reader", tokens.alice) +
                                        Line("bob", "admin", tokens.bob)));
  const AuthConfig config = tokens.Config();
  auto first = TokenTable::Build(config);
  REQUIRE(first.ok());
  const TokenTable::Entry* by_hash = (*first)->Match(tokens.alice);
  REQUIRE(by_hash != nullptr);
  CHECK(by_hash->name == "alice");
  CHECK(by_hash->role == Role::kReader);
  // Again on this thread (remembered), and on another (hashed).
  CHECK((*first)->Match(tokens.alice) == by_hash);
  const TokenTable::Entry* elsewhere = nullptr;
  std::thread([&] { elsewhere = (*first)->Match(tokens.alice); }).join();
  CHECK(elsewhere == by_hash);
  CHECK((*first)->Match(tokens.bob)->name == "bob");
  // Wrong tokens: one byte off, a prefix, longer, empty.
  std::string off = tokens.alice;
  off.back() = off.back() == 'A' ? 'B' : 'A';
  CHECK((*first)->Match(off) == nullptr);
  CHECK((*first)->Match(tokens.alice.substr(0, tokens.alice.size() - 1)) ==
        nullptr);
  CHECK((*first)->Match(tokens.alice + "x") == nullptr);
  CHECK((*first)->Match("") == nullptr);

  // alice removed: the new set refuses her although this thread
  // remembers her token from the first set.
  REQUIRE(ReplaceFile(tokens.path, Line("bob", "admin", tokens.bob)));
  auto second = TokenTable::Build(config);
  REQUIRE(second.ok());
  CHECK((*second)->Match(tokens.alice) == nullptr);
  CHECK((*second)->Match(tokens.bob)->name == "bob");
  CHECK_FALSE((*second)->SameAs(**first));
  auto third = TokenTable::Build(config);
  REQUIRE(third.ok());
  CHECK((*third)->SameAs(**second));
  // More accepted tokens than a thread remembers: each still matches.
  std::string lines;
  std::vector<std::string> many;
  for (int i = 0; i < 9; ++i) {
    many.push_back(NewToken());
    lines += Line("t" + std::to_string(i), "reader", many.back());
  }
  REQUIRE(ReplaceFile(tokens.path, lines));
  auto fourth = TokenTable::Build(config);
  REQUIRE(fourth.ok());
  for (int round = 0; round < 2; ++round) {
    for (int i = 0; i < 9; ++i) {
      const TokenTable::Entry* entry = (*fourth)->Match(many[i]);
      REQUIRE(entry != nullptr);
      CHECK(entry->name == "t" + std::to_string(i));
    }
  }
}

TEST_CASE("ReloadTokenFile: a changed file replaces the set, the same one "
          "makes none, a bad one keeps the old set and names the line",
          "[auth]") {
  const TokenFile tokens;
  REQUIRE(ReplaceFile(tokens.path, Line("alice", "reader", tokens.alice)));
  const AuthConfig config = tokens.Config();
  auto authorizer = Authorizer::Create(config);
  REQUIRE(authorizer.ok());
  CHECK((*authorizer)->token_sets() == 1);

  auto same = (*authorizer)->ReloadTokenFile();
  REQUIRE(same.ok());
  CHECK_FALSE(*same);
  CHECK((*authorizer)->token_sets() == 1);

  REQUIRE(ReplaceFile(tokens.path, Line("bob", "reader", tokens.bob)));
  auto changed = (*authorizer)->ReloadTokenFile();
  REQUIRE(changed.ok());
  CHECK(*changed);
  CHECK((*authorizer)->token_sets() == 2);

  REQUIRE(ReplaceFile(tokens.path, Line("bob", "reader", tokens.bob) +
                                        "carol superuser 1234\n"));
  auto bad = (*authorizer)->ReloadTokenFile();
  REQUIRE_FALSE(bad.ok());
  CHECK(bad.status().code() == absl::StatusCode::kInvalidArgument);
  CHECK(bad.status().message().find(tokens.path + ":2") != std::string::npos);
  CHECK((*authorizer)->token_sets() == 2);

  // An empty file with no other token and no certificate role: refused
  // as at start (the daemon would accept nobody), the old set stays.
  REQUIRE(ReplaceFile(tokens.path, "# nobody\n"));
  auto empty = (*authorizer)->ReloadTokenFile();
  REQUIRE_FALSE(empty.ok());
  CHECK(empty.status().message().find("no tokens") != std::string::npos);
  CHECK((*authorizer)->token_sets() == 2);
}

TEST_CASE("ReloadTokenFile: by the time a removed token's stream is told, "
          "every call with that token is refused",
          "[auth]") {
  const TokenFile tokens;
  REQUIRE(ReplaceFile(tokens.path, Line("alice", "reader", tokens.alice) +
                                        Line("bob", "reader", tokens.bob)));
  const AuthConfig config = tokens.Config();
  auto authorizer = Authorizer::Create(config);
  REQUIRE(authorizer.ok());
  grpc::ServerContext call;
  grpc::testing::ServerContextTestSpouse spouse(&call);
  spouse.AddClientMetadata("authorization", "Bearer " + tokens.alice);
  REQUIRE((*authorizer)->Authorize(call, "Decide").ok());
  auto ticket = (*authorizer)->AllowStream(call, "Watch");
  REQUIRE(ticket.ok());
  // What the stream's client, told of the revocation, would find on its
  // next call: asked from within the stream's end.
  std::optional<absl::Status> ended_with;
  absl::Status next_call;
  auto registration = ticket->Track([&](const absl::Status& status) {
    ended_with = status;
    next_call = (*authorizer)->Authorize(call, "Decide").status();
  });
  REQUIRE(registration != nullptr);
  REQUIRE_FALSE(ended_with.has_value());

  REQUIRE(ReplaceFile(tokens.path, Line("bob", "reader", tokens.bob)));
  auto changed = (*authorizer)->ReloadTokenFile();
  REQUIRE(changed.ok());
  REQUIRE(ended_with.has_value());
  CHECK(ended_with->code() == absl::StatusCode::kUnauthenticated);
  CHECK(next_call.code() == absl::StatusCode::kUnauthenticated);
}

// Counts calls of a FileWatch's callback and waits for them, bounded.
class Calls {
 public:
  void Add() {
    std::lock_guard lock(mu_);
    ++count_;
    changed_.notify_all();
  }
  // Whether `count` calls were made within 10 seconds.
  bool WaitFor(int count) {
    std::unique_lock lock(mu_);
    return changed_.wait_for(lock, std::chrono::seconds(10),
                             [&] { return count_ >= count; });
  }
  int count() {
    std::lock_guard lock(mu_);
    return count_;
  }

 private:
  std::mutex mu_;
  std::condition_variable changed_;
  int count_ = 0;
};

TEST_CASE("FileWatch: a file renamed over, written or deleted in the folder "
          "calls back, a burst makes one call, stopping joins",
          "[auth]") {
  TempDir dir;
  const std::string file = dir.path() + "/tokens";
  REQUIRE(ReplaceFile(file, "one\n"));
  Calls calls;
  FileWatch::Options options;
  options.settle = absl::Milliseconds(200);
  {
    auto watch = FileWatch::Start(file, options, [&] { calls.Add(); });
    REQUIRE(watch.ok());
    REQUIRE(ReplaceFile(file, "two\n"));
    CHECK(calls.WaitFor(1));
    // A burst within the settle time: one more call, not ten.
    const auto burst_start = std::chrono::steady_clock::now();
    for (int i = 0; i < 10; ++i) {
      REQUIRE(ReplaceFile(file, "burst " + std::to_string(i)));
    }
    const auto burst = std::chrono::steady_clock::now() - burst_start;
    CHECK(calls.WaitFor(2));
    std::this_thread::sleep_for(std::chrono::milliseconds(600));
    // (A machine that took longer than the settle time for ten renames
    // may make two calls of them; the count is exact only when it did not.)
    if (burst < std::chrono::milliseconds(100)) CHECK(calls.count() == 2);
    const int after_burst = calls.count();
    {
      std::ofstream append(file, std::ios::app);
      append << "more\n";
    }
    CHECK(calls.WaitFor(after_burst + 1));
    REQUIRE(std::remove(file.c_str()) == 0);
    CHECK(calls.WaitFor(after_burst + 2));
  }
  // Stopped: further changes call nothing.
  const int before = calls.count();
  REQUIRE(ReplaceFile(file, "after\n"));
  std::this_thread::sleep_for(std::chrono::milliseconds(400));
  CHECK(calls.count() == before);

  auto missing = FileWatch::Start(dir.path() + "/no/such/folder/tokens",
                                  options, [] {});
  CHECK(missing.status().code() == absl::StatusCode::kUnavailable);
}

}  // namespace
}  // namespace cutover
