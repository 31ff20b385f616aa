// Tests of FlagTable: lookups, iteration, and that With() leaves the table
// it started from as it was and shares every shard but the key's.
#include "server/flag_table.h"

#include <catch2/catch.hpp>

#include <map>
#include <memory>
#include <string>

#include "server/snapshot.h"

namespace cutover {
namespace {

FlagTable::Entry EntryAt(const std::string& key, int64_t version) {
  FlagRecord flag;
  flag.flag.key = key;
  flag.flag.version = version;
  return std::make_shared<const FlagEntry>(FlagEntry{flag, nullptr, ""});
}

// Every (key, version) the table holds, by iterating it.
std::map<std::string, int64_t> Contents(const FlagTable& table) {
  std::map<std::string, int64_t> contents;
  for (const auto& [key, entry] : table) {
    CHECK(contents.emplace(key, entry->record.flag.version).second);  // once
  }
  CHECK(contents.size() == table.size());
  return contents;
}

TEST_CASE("an empty table has nothing to find or visit") {
  const FlagTable table;
  CHECK(table.empty());
  CHECK(table.size() == 0);
  CHECK(table.begin() == table.end());
  CHECK(table.Find("orders") == nullptr);
  CHECK(table.Find("") == nullptr);
}

TEST_CASE("With adds or replaces one key and leaves its source unchanged") {
  FlagTable table;
  for (int i = 0; i < 1000; ++i) {
    const std::string key = "flag-" + std::to_string(i);
    table = table.With(key, EntryAt(key, 1));
  }
  REQUIRE(table.size() == 1000);
  const std::map<std::string, int64_t> before = Contents(table);
  REQUIRE(before.size() == 1000);

  const FlagTable replaced = table.With("flag-7", EntryAt("flag-7", 2));
  const FlagTable added = replaced.With("orders", EntryAt("orders", 1));
  CHECK(replaced.size() == 1000);
  CHECK(added.size() == 1001);
  CHECK(Contents(table) == before);  // the source tables are as they were
  CHECK(table.Find("flag-7")->second->record.flag.version == 1);
  CHECK(replaced.Find("flag-7")->second->record.flag.version == 2);
  CHECK(replaced.Find("orders") == nullptr);
  REQUIRE(added.Find("orders") != nullptr);
  CHECK(added.Find("orders")->first == "orders");
  std::map<std::string, int64_t> expected = before;
  expected["flag-7"] = 2;
  expected["orders"] = 1;
  CHECK(Contents(added) == expected);
}

TEST_CASE("With copies only the key's shard: other slots keep their address") {
  FlagTable table;
  constexpr int kFlags = 2000;
  for (int i = 0; i < kFlags; ++i) {
    const std::string key = "flag-" + std::to_string(i);
    table = table.With(key, EntryAt(key, 1));
  }
  const FlagTable next = table.With("flag-42", EntryAt("flag-42", 2));
  int moved = 0;
  for (int i = 0; i < kFlags; ++i) {
    const std::string key = "flag-" + std::to_string(i);
    const FlagTable::Slot* old_slot = table.Find(key);
    const FlagTable::Slot* new_slot = next.Find(key);
    REQUIRE(old_slot != nullptr);
    REQUIRE(new_slot != nullptr);
    if (old_slot != new_slot) ++moved;
  }
  // One shard of 64 holds ~31 of 2000 keys; allow for an uneven hash.
  CHECK(moved >= 1);
  CHECK(moved < kFlags / 8);
}

TEST_CASE("a table built at once holds what one built key by key does") {
  absl::flat_hash_map<std::string, FlagTable::Entry> all;
  FlagTable one_by_one;
  for (int i = 0; i < 300; ++i) {
    const std::string key = "k" + std::to_string(i);
    all[key] = EntryAt(key, i + 1);
    one_by_one = one_by_one.With(key, EntryAt(key, i + 1));
  }
  const FlagTable at_once(std::move(all));
  CHECK(at_once.size() == 300);
  CHECK(Contents(at_once) == Contents(one_by_one));
  CHECK(at_once.Find("k299")->second->record.flag.version == 300);
}

}  // namespace
}  // namespace cutover
