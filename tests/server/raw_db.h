// A closed store's folder opened with the raw RocksDB API, for the server
// tests that read or write what Store never would.
#ifndef CUTOVER_TESTS_SERVER_RAW_DB_H_
#define CUTOVER_TESTS_SERVER_RAW_DB_H_

#include <catch2/catch.hpp>

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "rocksdb/db.h"
#include "rocksdb/options.h"

namespace cutover {

// The store's folder opened with the raw RocksDB API, every column family
// included, to write what Store never would, or (kReadOnly) to read what
// it wrote without touching the folder.
class RawDb {
 public:
  enum class Access { kReadWrite, kReadOnly };

  explicit RawDb(const std::string& dir, Access access = Access::kReadWrite) {
    rocksdb::DBOptions options;
    std::vector<std::string> names;
    REQUIRE(rocksdb::DB::ListColumnFamilies(options, dir, &names).ok());
    std::vector<rocksdb::ColumnFamilyDescriptor> families;
    for (const auto& name : names) {
      families.emplace_back(name, rocksdb::ColumnFamilyOptions());
    }
    rocksdb::DB* db = nullptr;
    rocksdb::Status s =
        access == Access::kReadOnly
            ? rocksdb::DB::OpenForReadOnly(options, dir, families, &handles_,
                                           &db)
            : rocksdb::DB::Open(options, dir, families, &handles_, &db);
    INFO(s.ToString());
    REQUIRE(s.ok());
    db_.reset(db);
  }
  ~RawDb() {
    for (auto* handle : handles_) {
      db_->DestroyColumnFamilyHandle(handle).PermitUncheckedError();
    }
    db_->Close().PermitUncheckedError();
  }
  RawDb(const RawDb&) = delete;
  RawDb& operator=(const RawDb&) = delete;

  rocksdb::DB& db() { return *db_; }
  // Every key of a column family, in order.
  std::vector<std::string> Keys(const std::string& family_name) {
    std::vector<std::string> keys;
    std::unique_ptr<rocksdb::Iterator> it(
        db_->NewIterator(rocksdb::ReadOptions(), family(family_name)));
    for (it->SeekToFirst(); it->Valid(); it->Next()) {
      keys.push_back(it->key().ToString());
    }
    return keys;
  }
  // Every key of a column family with its value.
  std::map<std::string, std::string> Entries(const std::string& family_name) {
    std::map<std::string, std::string> entries;
    std::unique_ptr<rocksdb::Iterator> it(
        db_->NewIterator(rocksdb::ReadOptions(), family(family_name)));
    for (it->SeekToFirst(); it->Valid(); it->Next()) {
      entries[it->key().ToString()] = it->value().ToString();
    }
    REQUIRE(it->status().ok());
    return entries;
  }
  // The names of the column families, "default" included.
  std::vector<std::string> FamilyNames() const {
    std::vector<std::string> names;
    for (const auto* handle : handles_) names.push_back(handle->GetName());
    return names;
  }
  // Every family's keys and values, by family name: the whole store, to
  // compare byte for byte.
  std::map<std::string, std::map<std::string, std::string>> Contents() {
    std::map<std::string, std::map<std::string, std::string>> contents;
    for (const std::string& name : FamilyNames()) {
      contents[name] = Entries(name);
    }
    return contents;
  }
  rocksdb::ColumnFamilyHandle* family(const std::string& name) {
    for (auto* handle : handles_) {
      if (handle->GetName() == name) return handle;
    }
    FAIL("no column family " << name);
    return nullptr;
  }

 private:
  std::unique_ptr<rocksdb::DB> db_;
  std::vector<rocksdb::ColumnFamilyHandle*> handles_;
};

}  // namespace cutover

#endif  // CUTOVER_TESTS_SERVER_RAW_DB_H_
