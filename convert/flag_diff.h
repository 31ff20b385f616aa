// Human-readable differences between two versions of a flag or segment, as
// history entries and `cutoverctl apply --dry-run` show them: one line per
// changed field, e.g. "modified: default_serve.stage: SHADOW -> LIVE".
// Output-only fields (version, revision, update_time, updated_by) are
// ignored. Built on protobuf's MessageDifferencer.
//
// Pure functions; thread-safe.
#ifndef CUTOVER_CONVERT_FLAG_DIFF_H_
#define CUTOVER_CONVERT_FLAG_DIFF_H_

#include <string>
#include <vector>

#include "google/protobuf/message.h"

namespace cutover {

// Lines describing how `after` differs from `before`; empty if equal in
// every configuration field. Both must be of the same message type.
std::vector<std::string> DiffMessages(const google::protobuf::Message& before,
                                      const google::protobuf::Message& after);

}  // namespace cutover

#endif  // CUTOVER_CONVERT_FLAG_DIFF_H_
