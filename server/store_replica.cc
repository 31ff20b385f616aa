// Store::ReplaceAll: a read replica taking its primary's whole state (see
// server/store.h).
#include <memory>
#include <string>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "rocksdb/db.h"
#include "rocksdb/options.h"
#include "rocksdb/write_batch.h"
#include "server/rocks_status.h"
#include "server/storage_codec.h"
#include "server/store.h"

namespace cutover {
namespace {

using store_internal::BigEndian64;
using store_internal::FromRocks;
using store_internal::kRevisionKey;

// Adds to `batch` the deletion of every key of `family` not in `keep`.
rocksdb::Status DeleteAllBut(rocksdb::DB& db, rocksdb::ColumnFamilyHandle* family,
                             const absl::flat_hash_set<std::string>& keep,
                             rocksdb::WriteBatch& batch) {
  std::unique_ptr<rocksdb::Iterator> it(
      db.NewIterator(rocksdb::ReadOptions(), family));
  for (it->SeekToFirst(); it->Valid(); it->Next()) {
    const std::string key = it->key().ToString();
    if (keep.contains(key)) continue;
    if (rocksdb::Status s = batch.Delete(family, key); !s.ok()) return s;
  }
  return it->status();
}

}  // namespace

absl::Status Store::ReplaceAll(int64_t revision,
                               const std::vector<FlagRecord>& flags,
                               const std::vector<SegmentRecord>& segments) {
  rocksdb::WriteBatch batch;
  absl::flat_hash_set<std::string> flag_keys;
  absl::flat_hash_set<std::string> segment_keys;
  rocksdb::Status s;
  for (const FlagRecord& flag : flags) {
    if (!s.ok()) break;
    flag_keys.insert(flag.flag.key);
    s = batch.Put(flags_, flag.flag.key, EncodeFlag(flag));
  }
  for (const SegmentRecord& segment : segments) {
    if (!s.ok()) break;
    segment_keys.insert(segment.segment.key);
    s = batch.Put(segments_, segment.segment.key, EncodeSegment(segment));
  }
  if (s.ok()) s = DeleteAllBut(*db_, flags_, flag_keys, batch);
  if (s.ok()) s = DeleteAllBut(*db_, segments_, segment_keys, batch);
  if (s.ok()) s = DeleteAllBut(*db_, changes_, {}, batch);
  if (s.ok()) {
    s = batch.Put(meta_, kRevisionKey,
                  BigEndian64(static_cast<uint64_t>(revision)));
  }
  absl::Status status = FromRocks(s, "store: build replica write batch");
  if (status.ok()) status = WriteSynced(batch);
  if (!status.ok()) return status;
  revision_ = revision;
  return absl::OkStatus();
}

}  // namespace cutover
