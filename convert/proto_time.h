// Conversion between absl::Time and google.protobuf.Timestamp, the time
// type both the API and the on-disk messages use. Exact for any time with
// whole nanoseconds (the records' times are; a Timestamp's are).
//
// Pure functions; thread-safe.
#ifndef CUTOVER_CONVERT_PROTO_TIME_H_
#define CUTOVER_CONVERT_PROTO_TIME_H_

#include <cstdint>

#include "absl/time/time.h"
#include "google/protobuf/timestamp.pb.h"

namespace cutover {

inline void ToProtoTime(absl::Time time, google::protobuf::Timestamp* out) {
  const int64_t seconds = absl::ToUnixSeconds(time);  // rounds down
  out->set_seconds(seconds);
  out->set_nanos(static_cast<int32_t>(
      (time - absl::FromUnixSeconds(seconds)) / absl::Nanoseconds(1)));
}

inline absl::Time FromProtoTime(const google::protobuf::Timestamp& time) {
  return absl::FromUnixSeconds(time.seconds()) +
         absl::Nanoseconds(time.nanos());
}

}  // namespace cutover

#endif  // CUTOVER_CONVERT_PROTO_TIME_H_
