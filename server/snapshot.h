// Snapshot: an immutable view of every flag and segment at one store
// revision. The evaluation hot path reads the current snapshot without
// locks held by writers; each admin write builds a new snapshot and swaps it
// in (ChangeHub::Publish), sharing what it did not change with the last
// one (FlagTable's shards, the segments).
//
// Immutable once published; share freely across threads.
#ifndef CUTOVER_SERVER_SNAPSHOT_H_
#define CUTOVER_SERVER_SNAPSHOT_H_

#include <cstdint>
#include <memory>
#include <string>

#include "absl/container/flat_hash_map.h"
#include "core/evaluate.h"
#include "server/flag_table.h"
#include "server/records.h"

namespace cutover {

struct Snapshot {
  int64_t revision = 0;
  // Every flag, archived included (Decide treats archived as not found).
  FlagTable flags;
  // Every segment as the server keeps it; shared, not copied, by the next
  // snapshot.
  absl::flat_hash_map<std::string, std::shared_ptr<const SegmentRecord>>
      segment_records;
  // The same segments, compiled, as evaluation looks them up.
  SegmentIndex segments;
};

}  // namespace cutover

#endif  // CUTOVER_SERVER_SNAPSHOT_H_
