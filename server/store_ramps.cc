// The Store's `ramps` family: each flag's ramp state under its key (see
// server/store.h).
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "rocksdb/db.h"
#include "rocksdb/options.h"
#include "server/rocks_status.h"
#include "server/storage_codec.h"
#include "server/store.h"

namespace cutover {

using store_internal::FromRocks;

absl::Status Store::PutRampState(const RampStateRecord& state) {
  rocksdb::WriteOptions options;
  options.sync = true;  // acknowledged means on disk
  return FromRocks(
      db_->Put(options, ramps_, state.flag_key, EncodeRampState(state)),
      "store: write ramp state");
}

absl::Status Store::LoadRampStates(std::vector<RampStateRecord>* out) const {
  std::unique_ptr<rocksdb::Iterator> it(
      db_->NewIterator(rocksdb::ReadOptions(), ramps_));
  for (it->SeekToFirst(); it->Valid(); it->Next()) {
    absl::StatusOr<RampStateRecord> state = DecodeRampState(
        absl::string_view(it->value().data(), it->value().size()));
    if (!state.ok()) return state.status();
    state->flag_key = it->key().ToString();
    out->push_back(*std::move(state));
  }
  return FromRocks(it->status(), "store: scan ramp states");
}

}  // namespace cutover
