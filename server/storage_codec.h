// The storage codec: the server's records (server/records.h) as the values of
// the store's column families, in the on-disk messages of
// proto/cutover/storage/v1/storage.proto (schema 2). The one place that
// maps between the two; the Store uses it for every value it writes or
// reads, and the schema-1 migration to write what it converted.
//
// Values only: what a value's key already says (a history entry's subject
// and version, a change's revision, a backfill job's flag key) is not in
// the value, and the Store fills it in from the key after decoding.
// Decoding is total for any message that parses: enum values this build
// does not know become unspecified, and the registry's validation of what
// it loads decides (DATA_LOSS for a flag that no longer compiles).
//
// Pure functions; thread-safe.
#ifndef CUTOVER_SERVER_STORAGE_CODEC_H_
#define CUTOVER_SERVER_STORAGE_CODEC_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "server/records.h"

namespace cutover {

// The `flags` family's value.
std::string EncodeFlag(const FlagRecord& flag);
// DATA_LOSS ("store: cannot parse flag") if `value` is not one.
absl::StatusOr<FlagRecord> DecodeFlag(absl::string_view value);

// The `segments` family's value.
std::string EncodeSegment(const SegmentRecord& segment);
absl::StatusOr<SegmentRecord> DecodeSegment(absl::string_view value);

// The `history` family's value; flag_key, segment_key and version are the
// key's (left empty and 0 by DecodeHistory).
std::string EncodeHistory(const HistoryRecord& entry);
absl::StatusOr<HistoryRecord> DecodeHistory(absl::string_view value);

// The `changes` family's value: every object one revision changed, in
// the order Watch delivers them (never none); the revision is the key's
// (0 after DecodeChanges).
std::string EncodeChanges(const std::vector<ChangeRecord>& changes);
absl::StatusOr<std::vector<ChangeRecord>> DecodeChanges(
    absl::string_view value);

// The `backfill` family's value; the flag key is the key's (empty after
// DecodeBackfillJob). The direction is kept in the value too (unset reads
// as kForward; an unknown one is DATA_LOSS), and the store checks that it
// agrees with the key (BackfillStoreKey in server/store.h).
std::string EncodeBackfillJob(const BackfillJob& job);
absl::StatusOr<BackfillJob> DecodeBackfillJob(absl::string_view value);

// The `ramps` family's value; the flag key is the key's (empty after
// DecodeRampState). Unknown phases and verdicts read as not started and
// unspecified.
std::string EncodeRampState(const RampStateRecord& state);
absl::StatusOr<RampStateRecord> DecodeRampState(absl::string_view value);

}  // namespace cutover

#endif  // CUTOVER_SERVER_STORAGE_CODEC_H_
