// Human-readable differences between two versions of a flag or segment, as
// history entries and `cutoverctl apply --dry-run` show them: one line per
// changed field, e.g. "modified: default_serve.stage: SHADOW -> LIVE".
// Output-only fields (version, revision, update_time, updated_by,
// currency) are ignored. Built on protobuf's MessageDifferencer.
//
// Pure functions; thread-safe.
#ifndef CUTOVER_CONVERT_FLAG_DIFF_H_
#define CUTOVER_CONVERT_FLAG_DIFF_H_

#include <cstddef>
#include <string>
#include <vector>

#include "google/protobuf/message.h"

namespace cutover {

// At most this many lines of a diff are kept (a segment of 100,000 users
// replaced whole would otherwise make a multi-megabyte history entry); the
// rest are counted in one last line, "... and N more changes".
inline constexpr size_t kMaxDiffLines = 200;

// Lines describing how `after` differs from `before`; empty if equal in
// every configuration field. Both must be of the same message type.
std::vector<std::string> DiffMessages(const google::protobuf::Message& before,
                                      const google::protobuf::Message& after);

}  // namespace cutover

#endif  // CUTOVER_CONVERT_FLAG_DIFF_H_
