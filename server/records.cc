#include "server/records.h"

namespace cutover {

const char* BackfillPhaseName(BackfillPhase phase) {
  switch (phase) {
    case BackfillPhase::kCopying:
      return "copying";
    case BackfillPhase::kVerifying:
      return "verifying";
    case BackfillPhase::kDone:
      return "done";
    case BackfillPhase::kUnspecified:
      break;
  }
  return "unspecified";
}

const char* BackfillDirectionName(BackfillDirection direction) {
  switch (direction) {
    case BackfillDirection::kForward:
      return "forward";
    case BackfillDirection::kReverse:
      return "reverse";
    case BackfillDirection::kUnspecified:
      break;
  }
  return "unspecified";
}

double EtaSeconds(const BackfillJob& job) {
  const int64_t left = job.rows_total_estimate - job.rows_copied;
  return job.phase == BackfillPhase::kCopying && left > 0 &&
                 job.rows_per_second > 0
             ? static_cast<double>(left) / job.rows_per_second
             : 0;
}

}  // namespace cutover
