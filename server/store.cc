#include "server/store.h"

#include <algorithm>
#include <filesystem>

#include <string>
#include <utility>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "cutover/v1/cutover.pb.h"
#include "rocksdb/db.h"
#include "rocksdb/options.h"
#include "rocksdb/write_batch.h"
#include "server/api_edge.h"
#include "server/rocks_status.h"
#include "server/storage_codec.h"

namespace cutover {
namespace {

using store_internal::BigEndian64;
using store_internal::FromRocks;
using store_internal::kRevisionKey;

constexpr char kMetaFamily[] = "meta";
constexpr char kFlagsFamily[] = "flags";
constexpr char kSegmentsFamily[] = "segments";
constexpr char kHistoryFamily[] = "history";
constexpr char kChangesFamily[] = "changes";
constexpr char kBackfillFamily[] = "backfill";
constexpr char kRampsFamily[] = "ramps";
constexpr char kSchemaKey[] = "schema_version";
// The one older format Open migrates from.
constexpr int kSchema1 = 1;
// What follows the flag key in the key of a flag's REVERSE backfill job.
constexpr char kReverseBackfillSuffix[] = "/reverse";

// A `backfill` entry: the flag key and direction from the key, the rest
// from the value, whose direction must agree with the key's.
absl::StatusOr<BackfillJob> DecodeBackfillEntry(const std::string& key,
                                                absl::string_view value) {
  absl::StatusOr<BackfillJob> job = DecodeBackfillJob(value);
  if (!job.ok()) return job.status();
  BackfillDirection direction = BackfillDirection::kForward;
  std::string flag_key = key;
  if (absl::EndsWith(key, kReverseBackfillSuffix)) {
    direction = BackfillDirection::kReverse;
    flag_key.resize(key.size() - (sizeof(kReverseBackfillSuffix) - 1));
  }
  if (flag_key.empty() || flag_key.find('/') != std::string::npos) {
    return absl::DataLossError(
        absl::StrCat("store: backfill key \"", absl::CEscape(key),
                     "\" is neither a flag key nor one followed by /reverse"));
  }
  if (job->direction != direction) {
    return absl::DataLossError(absl::StrCat(
        "store: the backfill job under \"", key, "\" is ",
        BackfillDirectionName(job->direction), ", its key says ",
        BackfillDirectionName(direction)));
  }
  job->flag_key = std::move(flag_key);
  return job;
}

uint64_t FromBigEndian64(rocksdb::Slice bytes) {
  uint64_t value = 0;
  for (size_t i = 0; i < 8 && i < bytes.size(); ++i) {
    value = (value << 8) | static_cast<unsigned char>(bytes[i]);
  }
  return value;
}

std::string HistoryKey(const std::string& flag_key, int64_t version) {
  return absl::StrCat(flag_key, std::string(1, '\0'),
                      BigEndian64(static_cast<uint64_t>(version)));
}

// The version at the end of a history key.
int64_t HistoryVersion(rocksdb::Slice key) {
  if (key.size() < 8) return 0;
  return static_cast<int64_t>(
      FromBigEndian64(rocksdb::Slice(key.data() + key.size() - 8, 8)));
}

absl::string_view View(rocksdb::Slice slice) {
  return absl::string_view(slice.data(), slice.size());
}

// Keeps `db` and its column family handles open until the process exits,
// reachable (so that leak checkers do not report them): see ~Store.
void Abandon(rocksdb::DB* db,
             std::vector<rocksdb::ColumnFamilyHandle*> handles) {
  struct Open {
    rocksdb::DB* db;
    std::vector<rocksdb::ColumnFamilyHandle*> handles;
  };
  static absl::Mutex mu(absl::kConstInit);
  static auto* abandoned = new std::vector<Open>();
  absl::MutexLock lock(&mu);
  abandoned->push_back({db, std::move(handles)});
}

}  // namespace

absl::StatusOr<std::unique_ptr<Store>> Store::Open(const std::string& dir) {
  rocksdb::DBOptions options;
  options.create_if_missing = true;
  options.create_missing_column_families = true;
  options.paranoid_checks = true;
  options.max_background_jobs = 2;
  options.keep_log_file_num = 5;
  options.max_total_wal_size = 64 << 20;

  rocksdb::ColumnFamilyOptions family_options;
  family_options.OptimizeForSmallDb();
  std::vector<rocksdb::ColumnFamilyDescriptor> families;
  for (const char* name : {rocksdb::kDefaultColumnFamilyName.c_str(),
                           kMetaFamily, kFlagsFamily, kSegmentsFamily,
                           kHistoryFamily, kChangesFamily, kBackfillFamily,
                           kRampsFamily}) {
    families.emplace_back(name, family_options);
  }

  // A folder given by mistake (another program's files, another RocksDB
  // database) must not be written into.
  std::error_code error;
  const bool has_files =
      std::filesystem::is_directory(dir, error) &&
      !std::filesystem::is_empty(dir, error);
  if (has_files && !std::filesystem::exists(dir + "/CURRENT", error)) {
    return absl::FailedPreconditionError(absl::StrCat(
        "store: ", dir, " is not empty and holds no RocksDB database; give "
        "cutoverd an empty or new folder, or its own store"));
  }

  // A store written by a later build may have families we do not know;
  // opening it would fail obscurely, so look first.
  std::vector<std::string> existing;
  if (rocksdb::DB::ListColumnFamilies(options, dir, &existing).ok()) {
    if (std::find(existing.begin(), existing.end(), kMetaFamily) ==
        existing.end()) {
      return absl::FailedPreconditionError(absl::StrCat(
          "store: ", dir, " holds a RocksDB database that is not a cutover "
          "store (no '", kMetaFamily, "' column family)"));
    }
    for (const auto& name : existing) {
      bool known = false;
      for (const auto& f : families) known = known || f.name == name;
      if (!known) {
        return absl::FailedPreconditionError(absl::StrCat(
            "store: ", dir, " has column family '", name,
            "' that this cutoverd does not know; it was written by a newer "
            "version"));
      }
    }
  }

  std::unique_ptr<Store> store(new Store());
  rocksdb::DB* db = nullptr;
  absl::Status status = FromRocks(
      rocksdb::DB::Open(options, dir, families, &store->handles_, &db),
      absl::StrCat("store: open ", dir));
  if (!status.ok()) return status;
  store->db_.reset(db);
  store->meta_ = store->handles_[1];
  store->flags_ = store->handles_[2];
  store->segments_ = store->handles_[3];
  store->history_ = store->handles_[4];
  store->changes_ = store->handles_[5];
  store->backfill_ = store->handles_[6];
  store->ramps_ = store->handles_[7];

  std::string value;
  rocksdb::Status s =
      db->Get(rocksdb::ReadOptions(), store->meta_, kSchemaKey, &value);
  if (s.IsNotFound()) {
    rocksdb::WriteOptions sync;
    sync.sync = true;
    status = FromRocks(db->Put(sync, store->meta_, kSchemaKey,
                               std::to_string(kSchemaVersion)),
                       "store: write schema version");
    if (!status.ok()) return status;
  } else {
    status = FromRocks(s, "store: read schema version");
    if (!status.ok()) return status;
    int schema = 0;
    if (!absl::SimpleAtoi(value, &schema) ||
        (schema != kSchemaVersion && schema != kSchema1)) {
      return absl::FailedPreconditionError(absl::StrCat(
          "store: ", dir, " has schema version '", value,
          "'; this cutoverd reads version ", kSchemaVersion,
          " (and migrates version ", kSchema1, ")"));
    }
    if (schema == kSchema1) {
      status = store->MigrateFromSchema1();
      if (!status.ok()) return status;
      store->migrated_from_schema_ = kSchema1;
    }
  }

  s = db->Get(rocksdb::ReadOptions(), store->meta_, kRevisionKey, &value);
  if (s.ok()) {
    store->revision_ = static_cast<int64_t>(FromBigEndian64(value));
  } else if (!s.IsNotFound()) {
    return FromRocks(s, "store: read revision");
  }
  return store;
}

Store::~Store() {
  if (db_ == nullptr) return;
  // After a failed write (disk full, data folder read-only) RocksDB 7.8 can
  // abort while closing (assertion `last_ref' in ~ColumnFamilySet): every
  // acknowledged write is already synced to the log, so leave the database
  // to the process's exit.
  if (write_failed_) {
    Abandon(db_.release(), std::move(handles_));
    return;
  }
  for (auto* handle : handles_) {
    db_->DestroyColumnFamilyHandle(handle).PermitUncheckedError();
  }
  db_->Close().PermitUncheckedError();
}

namespace {

// Every value of `family`, decoded by `decode` (key, value) and added to
// `out`, in key order.
template <typename T, typename Decode>
absl::Status ScanFamily(rocksdb::DB& db, rocksdb::ColumnFamilyHandle* family,
                        const char* what, const Decode& decode,
                        std::vector<T>* out) {
  std::unique_ptr<rocksdb::Iterator> it(
      db.NewIterator(rocksdb::ReadOptions(), family));
  for (it->SeekToFirst(); it->Valid(); it->Next()) {
    absl::StatusOr<T> value = decode(it->key(), View(it->value()));
    if (!value.ok()) return value.status();
    out->push_back(*std::move(value));
  }
  return FromRocks(it->status(), absl::StrCat("store: scan ", what, "s"));
}

}  // namespace

absl::StatusOr<StoredState> Store::Load() const {
  StoredState state;
  state.revision = revision_;
  absl::Status status = ScanFamily(
      *db_, flags_, "flag",
      [](rocksdb::Slice, absl::string_view value) { return DecodeFlag(value); },
      &state.flags);
  if (status.ok()) {
    status = ScanFamily(*db_, segments_, "segment",
                        [](rocksdb::Slice, absl::string_view value) {
                          return DecodeSegment(value);
                        },
                        &state.segments);
  }
  if (status.ok()) {
    std::vector<std::vector<ChangeRecord>> revisions;
    status = ScanFamily(
        *db_, changes_, "change",
        [](rocksdb::Slice key, absl::string_view value) {
          absl::StatusOr<std::vector<ChangeRecord>> changes =
              DecodeChanges(value);
          if (changes.ok()) {
            for (ChangeRecord& change : *changes) {
              change.revision = static_cast<int64_t>(FromBigEndian64(key));
            }
          }
          return changes;
        },
        &revisions);
    for (std::vector<ChangeRecord>& changes : revisions) {
      for (ChangeRecord& change : changes) {
        state.recent_changes.push_back(std::move(change));
      }
    }
  }
  if (status.ok()) {
    status = ScanFamily(
        *db_, backfill_, "backfill job",
        [](rocksdb::Slice key, absl::string_view value) {
          return DecodeBackfillEntry(key.ToString(), value);
        },
        &state.backfills);
  }
  if (status.ok()) status = LoadRampStates(&state.ramp_states);
  if (!status.ok()) return status;
  return state;
}

std::string SegmentHistorySubject(const std::string& segment_key) {
  return "segment/" + segment_key;
}

std::string BackfillStoreKey(const std::string& flag_key,
                             BackfillDirection direction) {
  return direction == BackfillDirection::kReverse
             ? flag_key + kReverseBackfillSuffix
             : flag_key;
}

absl::StatusOr<std::vector<HistoryRecord>> Store::History(
    const std::string& subject, int limit) const {
  const std::string segment_prefix = SegmentHistorySubject("");
  const bool of_segment = subject.rfind(segment_prefix, 0) == 0;
  std::vector<HistoryRecord> entries;
  const std::string prefix = subject + std::string(1, '\0');
  std::unique_ptr<rocksdb::Iterator> it(
      db_->NewIterator(rocksdb::ReadOptions(), history_));
  // Newest first: seek to the end of the prefix and walk back.
  it->SeekForPrev(HistoryKey(subject, INT64_MAX));
  for (; it->Valid() && it->key().starts_with(prefix); it->Prev()) {
    absl::StatusOr<HistoryRecord> entry = DecodeHistory(View(it->value()));
    if (!entry.ok()) return entry.status();
    if (of_segment) {
      entry->segment_key = subject.substr(segment_prefix.size());
    } else {
      entry->flag_key = subject;
    }
    entry->version = HistoryVersion(it->key());
    entries.push_back(*std::move(entry));
    if (limit > 0 && static_cast<int>(entries.size()) >= limit) break;
  }
  absl::Status status = FromRocks(it->status(), "store: scan history");
  if (!status.ok()) return status;
  return entries;
}

absl::Status Store::Commit(const Mutation& mutation) {
  if (mutation.revision != revision_ + 1) {
    return absl::InternalError(
        absl::StrCat("store: commit of revision ", mutation.revision,
                     " after revision ", revision_.load()));
  }
  if (mutation.changes.empty()) {
    return absl::InternalError(absl::StrCat(
        "store: commit of revision ", mutation.revision, " changes nothing"));
  }
  rocksdb::WriteBatch batch;
  rocksdb::Status s;
  for (const ChangeRecord& change : mutation.changes) {
    if (!s.ok()) break;
    if (change.flag) {
      s = batch.Put(flags_, change.flag->flag.key, EncodeFlag(*change.flag));
    } else if (change.segment && change.segment_deleted) {
      s = batch.Delete(segments_, change.segment->segment.key);
    } else if (change.segment) {
      s = batch.Put(segments_, change.segment->segment.key,
                    EncodeSegment(*change.segment));
    }
  }
  for (const HistoryRecord& entry : mutation.history) {
    if (!s.ok()) break;
    const std::string subject = entry.flag_key.empty()
                                    ? SegmentHistorySubject(entry.segment_key)
                                    : entry.flag_key;
    s = batch.Put(history_, HistoryKey(subject, entry.version),
                  EncodeHistory(entry));
  }
  for (const RampStateRecord& ramp : mutation.ramp_states) {
    if (!s.ok()) break;
    s = batch.Put(ramps_, ramp.flag_key, EncodeRampState(ramp));
  }
  const uint64_t revision = static_cast<uint64_t>(mutation.revision);
  if (s.ok()) {
    s = batch.Put(changes_, BigEndian64(revision),
                  EncodeChanges(mutation.changes));
  }
  if (s.ok() && revision > static_cast<uint64_t>(kChangesKept)) {
    // Keep the latest kChangesKept changes for Watch resumption: each
    // commit drops the one that falls out of the window.
    s = batch.Delete(changes_, BigEndian64(revision - kChangesKept));
  }
  if (s.ok()) s = batch.Put(meta_, kRevisionKey, BigEndian64(revision));
  absl::Status status = FromRocks(s, "store: build write batch");
  if (status.ok()) status = WriteSynced(batch);
  if (!status.ok()) return status;
  revision_ = mutation.revision;
  return absl::OkStatus();
}

absl::Status Store::WriteSynced(rocksdb::WriteBatch& batch) {
  rocksdb::WriteOptions options;
  options.sync = true;  // acknowledged means on disk
  absl::Status status = FromRocks(db_->Write(options, &batch), "store: write");
  if (!status.ok()) write_failed_ = true;
  return status;
}

absl::Status Store::PutBackfill(const BackfillJob& job) {
  rocksdb::WriteOptions options;
  options.sync = true;  // acknowledged means on disk
  return FromRocks(
      db_->Put(options, backfill_, BackfillStoreKey(job.flag_key, job.direction),
               EncodeBackfillJob(job)),
      "store: write backfill job");
}

absl::Status Store::DeleteBackfill(const std::string& flag_key,
                                   BackfillDirection direction) {
  rocksdb::WriteOptions options;
  options.sync = true;
  return FromRocks(
      db_->Delete(options, backfill_, BackfillStoreKey(flag_key, direction)),
      "store: delete backfill job");
}

// --- the migration from schema 1 ---------------------------------------------
//
// Schema-1 values were the cutover.v1 API messages. This is the one place
// the store reads them: each is parsed as its API message (the field
// numbers of a v1 API never change, so any schema-1 value parses as it was
// written), converted to the server's record as the API edge converts it,
// and written back in schema 2 under the same key.

namespace {

// Adds to `batch` every value of `family` rewritten by `rewrite`, which
// takes the schema-1 value and gives the schema-2 value.
template <typename Rewrite>
absl::Status RewriteFamily(rocksdb::DB& db, rocksdb::ColumnFamilyHandle* family,
                           const Rewrite& rewrite, rocksdb::WriteBatch* batch) {
  std::unique_ptr<rocksdb::Iterator> it(
      db.NewIterator(rocksdb::ReadOptions(), family));
  for (it->SeekToFirst(); it->Valid(); it->Next()) {
    absl::StatusOr<std::string> value = rewrite(it->value());
    if (!value.ok()) return value.status();
    absl::Status status = FromRocks(batch->Put(family, it->key(), *value),
                                    "store: migrate: build write batch");
    if (!status.ok()) return status;
  }
  return FromRocks(it->status(), absl::StrCat("store: migrate: scan ",
                                              family->GetName()));
}

// The schema-1 value `value` parsed as the API message T.
template <typename T>
absl::StatusOr<T> ParseSchema1(rocksdb::Slice value, const char* what) {
  T message;
  if (!message.ParseFromArray(value.data(), static_cast<int>(value.size()))) {
    return absl::DataLossError(
        absl::StrCat("store: migrate: cannot parse schema-1 ", what));
  }
  return message;
}

}  // namespace

absl::Status Store::MigrateFromSchema1() {
  rocksdb::WriteBatch batch;
  absl::Status status = RewriteFamily(
      *db_, flags_,
      [](rocksdb::Slice value) -> absl::StatusOr<std::string> {
        auto flag = ParseSchema1<v1::Flag>(value, "flag");
        if (!flag.ok()) return flag.status();
        FlagRecord record = FromApi(*flag);
        record.currency_kept = false;  // worked out from history at load
        return EncodeFlag(record);
      },
      &batch);
  if (status.ok()) {
    status = RewriteFamily(
        *db_, segments_,
        [](rocksdb::Slice value) -> absl::StatusOr<std::string> {
          auto segment = ParseSchema1<v1::Segment>(value, "segment");
          if (!segment.ok()) return segment.status();
          return EncodeSegment(FromApi(*segment));
        },
        &batch);
  }
  if (status.ok()) {
    status = RewriteFamily(
        *db_, history_,
        [](rocksdb::Slice value) -> absl::StatusOr<std::string> {
          auto entry = ParseSchema1<v1::HistoryEntry>(value, "history entry");
          if (!entry.ok()) return entry.status();
          return EncodeHistory(FromApi(*entry));
        },
        &batch);
  }
  if (status.ok()) {
    status = RewriteFamily(
        *db_, changes_,
        [](rocksdb::Slice value) -> absl::StatusOr<std::string> {
          auto event = ParseSchema1<v1::WatchEvent>(value, "change");
          if (!event.ok()) return event.status();
          ChangeRecord change = FromApi(*event);
          if (!change.flag && !change.segment) {
            return absl::DataLossError(absl::StrCat(
                "store: migrate: a schema-1 change of kind ",
                v1::WatchEvent::Kind_Name(event->kind())));
          }
          return EncodeChanges({change});
        },
        &batch);
  }
  if (status.ok()) {
    status = RewriteFamily(
        *db_, backfill_,
        [](rocksdb::Slice value) -> absl::StatusOr<std::string> {
          auto job = ParseSchema1<v1::BackfillJob>(value, "backfill job");
          if (!job.ok()) return job.status();
          return EncodeBackfillJob(FromApi(*job));
        },
        &batch);
  }
  if (status.ok()) {
    status = FromRocks(
        batch.Put(meta_, kSchemaKey, std::to_string(kSchemaVersion)),
        "store: migrate: build write batch");
  }
  if (!status.ok()) return status;
  rocksdb::WriteOptions options;
  options.sync = true;
  status = FromRocks(db_->Write(options, &batch), "store: migrate: write");
  if (!status.ok()) write_failed_ = true;
  return status;
}

Store::Sizes Store::sizes() const {
  Sizes sizes;
  auto add = [this](rocksdb::ColumnFamilyHandle* family,
                    const std::string& property, uint64_t* total) {
    uint64_t value = 0;
    if (db_->GetIntProperty(family, property, &value)) *total += value;
  };
  for (auto* family :
       {flags_, segments_, history_, changes_, backfill_, ramps_, meta_}) {
    add(family, rocksdb::DB::Properties::kEstimateLiveDataSize,
        &sizes.live_data_bytes);
    add(family, rocksdb::DB::Properties::kTotalSstFilesSize, &sizes.sst_bytes);
    add(family, rocksdb::DB::Properties::kEstimatePendingCompactionBytes,
        &sizes.pending_compaction_bytes);
  }
  return sizes;
}

}  // namespace cutover
