// The one place a rocksdb::Status becomes an absl::Status, shared by the
// Store's source files (server/store.cc, server/store_ramps.cc). The
// meaning is kept: NotFound, Corruption -> DATA_LOSS, a full disk ->
// RESOURCE_EXHAUSTED, a held lock -> FAILED_PRECONDITION.
//
// Pure function; thread-safe.
#ifndef CUTOVER_SERVER_ROCKS_STATUS_H_
#define CUTOVER_SERVER_ROCKS_STATUS_H_

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "rocksdb/status.h"

namespace cutover::store_internal {

// `what` says what was being done ("store: write").
absl::Status FromRocks(const rocksdb::Status& s, absl::string_view what);

}  // namespace cutover::store_internal

#endif  // CUTOVER_SERVER_ROCKS_STATUS_H_
