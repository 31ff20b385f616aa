// ProcessStats: this process's CPU time, memory, file descriptors and start
// time, read from Linux's /proc, as Prometheus client libraries export them
// (process_cpu_seconds_total, process_resident_memory_bytes, ...).
//
// Thread-safe (reads files only).
#ifndef CUTOVER_SERVER_PROCESS_STATS_H_
#define CUTOVER_SERVER_PROCESS_STATS_H_

#include <cstdint>
#include "absl/status/statusor.h"

namespace cutover {

struct ProcessStats {
  double cpu_seconds = 0;          // user + system
  uint64_t resident_bytes = 0;
  uint64_t virtual_bytes = 0;
  uint64_t open_fds = 0;
  uint64_t max_fds = 0;            // the soft RLIMIT_NOFILE
  double start_time_seconds = 0;   // since the Unix epoch
  uint64_t threads = 0;
};

// This process's figures. UNAVAILABLE if /proc cannot be read (not Linux).
absl::StatusOr<ProcessStats> ReadProcessStats();

}  // namespace cutover

#endif  // CUTOVER_SERVER_PROCESS_STATS_H_
