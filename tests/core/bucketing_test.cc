// Tests of the published bucketing algorithm (docs/bucketing.md): the hash
// against published MurmurHash3 vectors, BucketFor against golden vectors
// computed by the independent Python reference in the doc, the bucket
// layout, and the ramp invariant that no user ever moves back a stage.
#include "core/bucketing.h"

#include <algorithm>
#include <array>
#include <catch2/catch.hpp>

#include "tests/printers.h"
#include <cstdint>
#include <random>
#include <string_view>
#include <string>
#include <vector>

namespace cutover {
namespace {

Rollout MakeRollout(std::vector<Split> splits) {
  return Rollout{std::move(splits)};
}

TEST_CASE("MurmurHash3_x86_32 matches published vectors", "[bucketing]") {
  // Published MurmurHash3_x86_32 results (SMHasher and the mmh3 package),
  // each re-checked with the Python reference of docs/bucketing.md.
  struct Vector {
    std::string data;
    uint32_t seed;
    uint32_t hash;
  };
  const std::vector<Vector> vectors = {
      {"", 0, 0x00000000},
      {"", 1, 0x514E28B7},
      {"", 0xFFFFFFFF, 0x81F16F39},
      {std::string("\0\0\0\0", 4), 0, 0x2362F9DE},
      {"hello", 0, 0x248BFA47},
      {"foo", 0, 0xF6A5C420},
      {"abc", 0, 0xB3DD93FA},
      {"aaaa", 0x9747B28C, 0x5A97808A},
      {"Hello, world!", 0x9747B28C, 0x24884CBA},
      {"Hello, world!", 1234, 0xFAF6CDB3},
      {"The quick brown fox jumps over the lazy dog", 0, 0x2E4FF723},
  };
  for (const Vector& v : vectors) {
    INFO("data \"" << v.data << "\" seed " << v.seed);
    CHECK(MurmurHash3_x86_32(v.data, v.seed) == v.hash);
  }
}

// Golden vectors: the same table as docs/bucketing.md, computed once by the
// doc's Python reference (not by this C++ code). If this test and the doc
// disagree, one of them is wrong.
struct Golden {
  const char* flag_key;
  const char* bucket_value;
  uint32_t hash;  // MurmurHash3_x86_32(flag_key + bucket_value, 0)
  uint32_t bucket;
};

const std::array<Golden, 14> kGolden = {{
    {"orders-migration", "user-42", 0xDD9128A1, 86549},
    {"orders-migration", "user-43", 0xD8765EEA, 84555},
    {"orders", "alice", 0x101F2D2D, 6297},
    {"orders", "bob", 0x9148121A, 56750},
    {"payments.ledger", "tenant-7", 0x3810DE6A, 21900},
    {"a", "b", 0x9BBFD75F, 60839},
    {"abc", "d", 0x43ED676A, 26534},
    {"key", "", 0xE29C6A44, 88519},
    {"", "user-1", 0xF8A28763, 97122},
    // "zürich" and "用户-42" as UTF-8 bytes.
    {"orders-migration", "z\xC3\xBCrich", 0xAAA98B90, 66664},
    {"orders-migration", "\xE7\x94\xA8\xE6\x88\xB7-42", 0x0F61030E, 6007},
    {"inventory_v2", "3f2b8c1e-6d2a-4c59-9a8e-0f1b2c3d4e5f", 0x8346F8B1, 51280},
    {"flag",
     "a-much-longer-bucket-value-that-spans-several-murmur-blocks-0123456789",
     0xFB0923AF, 98060},
    {"x", "user-99999", 0x47E96DED, 28090},
}};

TEST_CASE("BucketFor matches the golden vectors of docs/bucketing.md",
          "[bucketing]") {
  for (const Golden& g : kGolden) {
    INFO("flag_key \"" << g.flag_key << "\" bucket_value \"" << g.bucket_value
                       << "\"");
    CHECK(MurmurHash3_x86_32(std::string(g.flag_key) + g.bucket_value, 0) ==
          g.hash);
    CHECK(BucketFor(g.flag_key, g.bucket_value) == g.bucket);
  }
}

TEST_CASE("BucketFor hashes the concatenation whatever the split point",
          "[bucketing]") {
  // BucketFor hashes its two pieces without concatenating them; every split
  // of the same bytes must give the bucket of the whole.
  const std::string whole = "orders-migrationuser-1234567";
  const uint32_t expected = static_cast<uint32_t>(
      (static_cast<uint64_t>(MurmurHash3_x86_32(whole, 0)) * kTotalWeight) >>
      32);
  for (size_t cut = 0; cut <= whole.size(); ++cut) {
    INFO("cut at " << cut);
    CHECK(BucketFor(std::string_view(whole).substr(0, cut),
                    std::string_view(whole).substr(cut)) == expected);
  }
}

TEST_CASE("StreamingMurmur3 fed in any pieces hashes their concatenation",
          "[bucketing]") {
  // Pieces of 0 to 9 bytes, so that every count of pending bytes (0 to 3)
  // meets pieces shorter and longer than a block.
  std::mt19937 random(7);
  for (int trial = 0; trial < 2000; ++trial) {
    std::string whole(std::uniform_int_distribution<size_t>(0, 40)(random),
                      '\0');
    for (char& c : whole) {
      c = static_cast<char>(std::uniform_int_distribution<int>(0, 255)(random));
    }
    const uint32_t seed = trial % 3 == 0 ? 0 : static_cast<uint32_t>(random());
    StreamingMurmur3 pieces(seed);
    size_t at = 0;
    while (at < whole.size()) {
      const size_t size =
          std::min(whole.size() - at,
                   std::uniform_int_distribution<size_t>(0, 9)(random));
      pieces.Update(std::string_view(whole).substr(at, size));
      at += size;
    }
    INFO("trial " << trial << ", " << whole.size() << " bytes");
    CHECK(pieces.Finish() == MurmurHash3_x86_32(whole, seed));
  }
}

TEST_CASE("StageForBucket lays buckets out most advanced stage first",
          "[bucketing]") {
  // Listed least advanced first on purpose: the order of splits is
  // irrelevant.
  const Rollout rollout = MakeRollout({{Stage::kShadow, 90000},
                                       {Stage::kLive, 9000},
                                       {Stage::kComplete, 1000}});
  struct Case {
    uint32_t bucket;
    Stage stage;
  };
  const std::vector<Case> cases = {
      {0, Stage::kComplete}, {999, Stage::kComplete}, {1000, Stage::kLive},
      {9999, Stage::kLive},  {10000, Stage::kShadow}, {99999, Stage::kShadow},
  };
  Rollout reversed = rollout;
  std::reverse(reversed.splits.begin(), reversed.splits.end());
  for (const Case& c : cases) {
    INFO("bucket " << c.bucket);
    CHECK(StageForBucket(rollout, c.bucket) == c.stage);
    CHECK(StageForBucket(reversed, c.bucket) == c.stage);
  }
}

TEST_CASE("StageForBucket skips weight-0 splits and falls back when short",
          "[bucketing]") {
  const Rollout with_zero = MakeRollout(
      {{Stage::kComplete, 0}, {Stage::kLive, 100000}, {Stage::kShadow, 0}});
  CHECK(StageForBucket(with_zero, 0) == Stage::kLive);
  CHECK(StageForBucket(with_zero, 99999) == Stage::kLive);

  // Invalid (weights short of 100000): the least advanced stage served.
  const Rollout short_weights =
      MakeRollout({{Stage::kLive, 1000}, {Stage::kShadow, 1000}});
  CHECK(StageForBucket(short_weights, 500) == Stage::kLive);
  CHECK(StageForBucket(short_weights, 1500) == Stage::kShadow);
  CHECK(StageForBucket(short_weights, 50000) == Stage::kShadow);
}

TEST_CASE("LeastAdvancedStage prefers stages that serve someone",
          "[bucketing]") {
  CHECK(LeastAdvancedStage(
            MakeRollout({{Stage::kLive, 5000}, {Stage::kShadow, 95000}})) ==
        Stage::kShadow);
  CHECK(LeastAdvancedStage(MakeRollout(
            {{Stage::kShadow, 0}, {Stage::kLive, 100000}})) == Stage::kLive);
  CHECK(LeastAdvancedStage(MakeRollout(
            {{Stage::kLive, 0}, {Stage::kShadow, 0}})) == Stage::kShadow);
  CHECK(LeastAdvancedStage(Rollout{}) == Stage::kOff);
}

TEST_CASE("A 5% rollout puts 5% +- 0.3% of 100,000 users in live",
          "[bucketing]") {
  const Rollout rollout =
      MakeRollout({{Stage::kLive, 5000}, {Stage::kShadow, 95000}});
  int live = 0;
  for (int i = 0; i < 100000; ++i) {
    const uint32_t bucket = BucketFor("orders", "user-" + std::to_string(i));
    REQUIRE(bucket < kTotalWeight);
    if (StageForBucket(rollout, bucket) == Stage::kLive) ++live;
  }
  CHECK(live >= 4700);
  CHECK(live <= 5300);
}

TEST_CASE("Anyone in a 5% live rollout is in the 10% one", "[bucketing]") {
  const Rollout five =
      MakeRollout({{Stage::kShadow, 95000}, {Stage::kLive, 5000}});
  const Rollout ten =
      MakeRollout({{Stage::kShadow, 90000}, {Stage::kLive, 10000}});
  int live_at_five = 0;
  int live_at_ten = 0;
  for (int i = 0; i < 100000; ++i) {
    const uint32_t bucket =
        BucketFor("orders-migration", "user-" + std::to_string(i));
    const bool in_five = StageForBucket(five, bucket) == Stage::kLive;
    const bool in_ten = StageForBucket(ten, bucket) == Stage::kLive;
    if (in_five) {
      ++live_at_five;
      INFO("user-" << i << " bucket " << bucket);
      REQUIRE(in_ten);
    }
    if (in_ten) ++live_at_ten;
  }
  CHECK(live_at_five > 4700);
  CHECK(live_at_ten > live_at_five);
  CHECK(live_at_ten >= 9700);
  CHECK(live_at_ten <= 10300);
}

// Per-stage weights, indexed by Stage value (index 0 unused).
using Weights = std::array<uint32_t, 7>;

// A random valid rollout: a random subset of stages sharing kTotalWeight.
Weights RandomWeights(std::mt19937& rng) {
  Weights w{};
  std::uniform_int_distribution<int> stage_dist(1, 6);
  std::uniform_int_distribution<uint32_t> weight_dist(0, kTotalWeight);
  // Cut [0, kTotalWeight) at random points and hand the pieces to stages.
  std::vector<uint32_t> cuts = {0, kTotalWeight};
  const int pieces = std::uniform_int_distribution<int>(1, 6)(rng);
  for (int i = 1; i < pieces; ++i) cuts.push_back(weight_dist(rng));
  std::sort(cuts.begin(), cuts.end());
  for (size_t i = 0; i + 1 < cuts.size(); ++i) {
    w[stage_dist(rng)] += cuts[i + 1] - cuts[i];
  }
  return w;
}

// `before` with weight moved only from less advanced stages to more
// advanced ones, so that the share of every "this stage or beyond" grows or
// stays: the operator's ramp.
Weights RampForward(const Weights& before, std::mt19937& rng) {
  Weights after = before;
  const int moves = std::uniform_int_distribution<int>(1, 4)(rng);
  for (int m = 0; m < moves; ++m) {
    const int from = std::uniform_int_distribution<int>(1, 5)(rng);
    const int to = std::uniform_int_distribution<int>(from + 1, 6)(rng);
    const uint32_t amount =
        std::uniform_int_distribution<uint32_t>(0, after[from])(rng);
    after[from] -= amount;
    after[to] += amount;
  }
  return after;
}

// The rollout of `w`, splits in a random order, sometimes with weight-0
// splits kept in place, as an operator might write it.
Rollout ToRollout(const Weights& w, std::mt19937& rng) {
  Rollout rollout;
  for (int s = 1; s <= 6; ++s) {
    if (w[s] > 0 || rng() % 4 == 0) {
      rollout.splits.push_back({static_cast<Stage>(s), w[s]});
    }
  }
  if (rollout.splits.empty()) rollout.splits.push_back({Stage::kOff, 0});
  std::shuffle(rollout.splits.begin(), rollout.splits.end(), rng);
  return rollout;
}

TEST_CASE("Growing the weights of advanced stages never moves a user back",
          "[bucketing]") {
  std::mt19937 rng(20240611);  // fixed: the test is deterministic
  constexpr int kPairs = 250;
  constexpr int kUsers = 2000;
  for (int pair = 0; pair < kPairs; ++pair) {
    const Weights before = RandomWeights(rng);
    const Weights after = RampForward(before, rng);
    uint64_t before_total = 0;
    uint64_t after_total = 0;
    for (int s = 1; s <= 6; ++s) {
      before_total += before[s];
      after_total += after[s];
    }
    REQUIRE(before_total == kTotalWeight);
    REQUIRE(after_total == kTotalWeight);
    const Rollout before_rollout = ToRollout(before, rng);
    const Rollout after_rollout = ToRollout(after, rng);
    const std::string flag_key = "flag-" + std::to_string(pair);
    for (int user = 0; user < kUsers; ++user) {
      const uint32_t bucket =
          BucketFor(flag_key, "user-" + std::to_string(pair * kUsers + user));
      const Stage was = StageForBucket(before_rollout, bucket);
      const Stage is = StageForBucket(after_rollout, bucket);
      if (is < was) {
        FAIL("pair " << pair << " bucket " << bucket << " moved back from "
                     << StageName(was) << " to " << StageName(is));
      }
    }
  }
}

}  // namespace
}  // namespace cutover
