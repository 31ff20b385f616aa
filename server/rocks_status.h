// What the Store's source files (server/store.cc, server/store_ramps.cc,
// server/store_replica.cc) share: the one place a rocksdb::Status becomes
// an absl::Status (the meaning kept: NotFound, Corruption -> DATA_LOSS, a
// full disk -> RESOURCE_EXHAUSTED, a held lock -> FAILED_PRECONDITION), and
// the encoding of revisions in keys and values.
//
// Pure functions; thread-safe.
#ifndef CUTOVER_SERVER_ROCKS_STATUS_H_
#define CUTOVER_SERVER_ROCKS_STATUS_H_

#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "rocksdb/status.h"

namespace cutover::store_internal {

// `what` says what was being done ("store: write").
absl::Status FromRocks(const rocksdb::Status& s, absl::string_view what);

// The `meta` family's key of the store revision.
inline constexpr char kRevisionKey[] = "revision";

// `value` in 8 bytes, most significant first: sorts as the number does.
std::string BigEndian64(uint64_t value);

}  // namespace cutover::store_internal

#endif  // CUTOVER_SERVER_ROCKS_STATUS_H_
