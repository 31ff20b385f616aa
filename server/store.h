// Store: the daemon's durable state in RocksDB, in the store's own format
// (schema 2: the messages of proto/cutover/storage/v1/storage.proto, made
// from and read into the server's records by server/storage_codec.h; the
// layout is specified in docs/storage.md).
//
// Column families:
//   meta      "schema_version" -> decimal string; "revision" -> 8-byte BE
//   flags     flag key -> storage.v1.Flag (current state, archived included)
//   segments  segment key -> storage.v1.Segment
//   history   subject, 0x00, 8-byte BE version -> storage.v1.HistoryEntry,
//             where the subject is the flag key, or "segment/" + segment key
//             (flag keys cannot contain '/')
//   changes   8-byte BE revision -> storage.v1.Change (the last
//             kChangesKept revisions, so Watch can resume after a restart)
//   backfill  flag key -> storage.v1.BackfillJob (the flag's FORWARD
//             backfill job, old -> new), and flag key + "/reverse" -> its
//             REVERSE job (new -> old; flag keys cannot contain '/', so
//             the two never collide): see BackfillStoreKey. Written by
//             PutBackfill, outside the revision sequence
//   ramps     flag key -> storage.v1.RampState (where the flag's guarded
//             ramp is). Written with a Commit when a ramp step changes the
//             flag (Mutation::ramp_states), else by PutRampState, outside
//             the revision sequence
//
// Open migrates a store of schema 1 (whose values were the cutover.v1 API
// messages) to schema 2 in one synced WriteBatch before it returns, and
// refuses any other version.
//
// Every Commit is one atomic RocksDB WriteBatch written with sync = true:
// when Commit returns OK the change survives a crash or power loss.
//
// Thread-safety: reads may run concurrently with each other and with one
// Commit; callers serialise Commits (FlagRegistry holds a mutex).
#ifndef CUTOVER_SERVER_STORE_H_
#define CUTOVER_SERVER_STORE_H_

#include <atomic>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "server/records.h"

namespace rocksdb {
class ColumnFamilyHandle;
class DB;
class WriteBatch;
}  // namespace rocksdb

namespace cutover {

// The on-disk format this build reads and writes.
inline constexpr int kSchemaVersion = 2;
// How many of the latest revisions the changes family keeps.
inline constexpr int64_t kChangesKept = 10000;

// The history subject of a segment.
std::string SegmentHistorySubject(const std::string& segment_key);

// The `backfill` family's key of a flag's job: the flag key for kForward
// (as before directions existed, so older stores need no migration), the
// flag key followed by "/reverse" for kReverse.
std::string BackfillStoreKey(const std::string& flag_key,
                             BackfillDirection direction);

// Everything a daemon needs at start-up.
struct StoredState {
  int64_t revision = 0;
  std::vector<FlagRecord> flags;        // by key, archived included
  std::vector<SegmentRecord> segments;  // by key
  // Oldest first; the objects of one revision in their order.
  std::vector<ChangeRecord> recent_changes;
  std::vector<BackfillJob> backfills;  // in key order (BackfillStoreKey)
  std::vector<RampStateRecord> ramp_states;  // by flag key
};

// One atomic change: a new revision with what it writes.
struct Mutation {
  int64_t revision = 0;  // must be revision() + 1
  // The objects the revision changes, in the order Watch delivers them
  // (at least one): each flag and segment is written (a deleted segment
  // removed), and the list is kept under `revision` as the revision's
  // change, so Watch can replay it (the records' own revision fields are
  // not read).
  std::vector<ChangeRecord> changes;
  // One entry per object changed, each kept under its subject (flag_key,
  // or segment_key when that is empty) and version.
  std::vector<HistoryRecord> history;
  // Ramp states written in the same batch (a ramp's step and the flag
  // change it makes are one write: never one without the other).
  std::vector<RampStateRecord> ramp_states;
};

class Store {
 public:
  // Opens or creates the store in `dir`, migrating a schema-1 store first.
  // FAILED_PRECONDITION if another process holds the folder's lock or the
  // schema version is neither ours nor one we migrate from; DATA_LOSS if
  // RocksDB reports corruption or a value does not parse.
  static absl::StatusOr<std::unique_ptr<Store>> Open(const std::string& dir);
  ~Store();

  Store(const Store&) = delete;
  Store& operator=(const Store&) = delete;

  [[nodiscard]] absl::StatusOr<StoredState> Load() const;

  // A subject's history (a flag key or SegmentHistorySubject(key)), newest
  // first; `limit` <= 0 means all.
  [[nodiscard]] absl::StatusOr<std::vector<HistoryRecord>> History(
      const std::string& subject, int limit) const;

  // Writes `mutation` atomically and durably (fsync) and advances revision:
  // all of it or, on any error, none. INTERNAL if the revision is not the
  // next one (a replica's too: its primary's revisions come one by one) or
  // the mutation changes nothing.
  [[nodiscard]] absl::Status Commit(const Mutation& mutation);

  // A read replica's whole state as its primary sent it after a RESET
  // (server/store_replica.cc): every flag and segment replaced by these,
  // the kept changes dropped (they were the old state's), the revision set
  // to `revision` (lower than before if the primary's store was restored
  // from an older backup). One synced batch. History, backfill jobs and
  // ramp states are kept.
  [[nodiscard]] absl::Status ReplaceAll(
      int64_t revision, const std::vector<FlagRecord>& flags,
      const std::vector<SegmentRecord>& segments);

  int64_t revision() const { return revision_.load(); }

  // The schema version Open found and migrated from (1), or 0 if the store
  // was new or already of kSchemaVersion.
  int migrated_from_schema() const { return migrated_from_schema_; }

  // Writes (or, with Delete, removes) a flag's backfill job of one
  // direction durably (fsync), under BackfillStoreKey. Backfill
  // checkpoints are not flag changes: no revision, no Watch event. Safe to
  // call concurrently with Commit; callers serialise writes of one job.
  [[nodiscard]] absl::Status PutBackfill(const BackfillJob& job);
  [[nodiscard]] absl::Status DeleteBackfill(const std::string& flag_key,
                                            BackfillDirection direction);

  // Writes a flag's ramp state durably (fsync), outside the revision
  // sequence (no Watch event). Callers serialise writes of one flag's
  // state (RampEngine holds a mutex).
  [[nodiscard]] absl::Status PutRampState(const RampStateRecord& state);

  // Writes a consistent copy of the whole store (a RocksDB checkpoint: SST
  // files hard-linked when `dir` is on the same file system, the rest
  // copied) into the new folder `dir`, while reads and Commits go on
  // (server/store_backup.cc). The copy is made under a hidden temporary
  // name beside `dir`, opened read-only to check its schema version and
  // read the revision it holds, and only then renamed to `dir` (without
  // replacing anything) and the parent folder synced: `dir` is never seen
  // half-written, and on any error no folder is left. INVALID_ARGUMENT
  // naming the field "dir" if it is empty, not absolute, or inside the data
  // folder; ALREADY_EXISTS if it exists; FAILED_PRECONDITION if its parent
  // is not a folder; RocksDB's errors as FromRocks maps them.
  [[nodiscard]] absl::StatusOr<BackupRecord> WriteBackup(
      const std::string& dir) const;

  // RocksDB's size figures, summed over the column families (metrics).
  struct Sizes {
    uint64_t live_data_bytes = 0;           // estimate of live data
    uint64_t sst_bytes = 0;                 // SST files on disk
    uint64_t pending_compaction_bytes = 0;  // estimate of compaction debt
  };
  Sizes sizes() const;

 private:
  Store() = default;
  // Rewrites every value of a schema-1 store in schema 2, and the schema
  // version, in one synced WriteBatch.
  absl::Status MigrateFromSchema1();
  // Writes `batch` with sync (acknowledged means on disk); a failure marks
  // the store as failed (see ~Store).
  absl::Status WriteSynced(rocksdb::WriteBatch& batch);
  // Every stored ramp state, by flag key (server/store_ramps.cc).
  absl::Status LoadRampStates(std::vector<RampStateRecord>* out) const;

  std::unique_ptr<rocksdb::DB> db_;
  std::vector<rocksdb::ColumnFamilyHandle*> handles_;
  rocksdb::ColumnFamilyHandle* meta_ = nullptr;
  rocksdb::ColumnFamilyHandle* flags_ = nullptr;
  rocksdb::ColumnFamilyHandle* segments_ = nullptr;
  rocksdb::ColumnFamilyHandle* history_ = nullptr;
  rocksdb::ColumnFamilyHandle* changes_ = nullptr;
  rocksdb::ColumnFamilyHandle* backfill_ = nullptr;
  rocksdb::ColumnFamilyHandle* ramps_ = nullptr;
  std::atomic<int64_t> revision_{0};
  // A write failed (disk full, read-only folder): see ~Store.
  std::atomic<bool> write_failed_{false};
  int migrated_from_schema_ = 0;
};

}  // namespace cutover

#endif  // CUTOVER_SERVER_STORE_H_
