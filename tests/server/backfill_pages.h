// A backfill page for the server tests: one page of a job's current phase.
#ifndef CUTOVER_TESTS_SERVER_BACKFILL_PAGES_H_
#define CUTOVER_TESTS_SERVER_BACKFILL_PAGES_H_

#include <cstdint>
#include <string>

#include "server/commands.h"
#include "server/records.h"

namespace cutover {

// A page of `job`'s current phase with `rows` rows (copied or verified).
inline CheckpointBackfillCommand PageOf(const BackfillJob& job,
                                        int64_t rows, bool done) {
  CheckpointBackfillCommand page;
  page.flag_key = job.flag_key;
  page.direction = job.direction;
  page.run_id = job.run_id;
  page.sequence = job.sequence;
  page.phase = job.phase;
  page.cursor = "c" + std::to_string(job.sequence);
  page.pass_done = done;
  if (job.phase == BackfillPhase::kCopying) {
    page.rows_copied = rows;
  } else {
    page.rows_verified = rows;
  }
  return page;
}

}  // namespace cutover

#endif  // CUTOVER_TESTS_SERVER_BACKFILL_PAGES_H_
