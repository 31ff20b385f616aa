// cutover::BackfillDriver: copies a table's existing rows from the old
// database into the new one, page by page, checkpointing in the daemon (a
// backfill job tied to the migration flag, server/backfill_jobs.h) so that
// a run that crashes resumes where the last checkpoint left it; then, with
// a verifier, reads both databases page by page and rewrites the rows the
// new one has wrong or is missing. The flag's require_backfill gate opens
// when both passes are done.
//
//   BackfillOptions options;
//   options.flag_key = "orders";
//   options.max_rows_per_second = 2000;
//   auto driver = BackfillDriver::Create(channel, options);
//   BackfillSource<Order> source;
//   source.read_old_page = [&](const std::string& cursor, size_t limit) {
//     return sqlite.ReadPage(cursor, limit);     // rows after `cursor`
//   };
//   source.write_new = [&](const std::vector<Order>& rows) {
//     return rocksdb.Upsert(rows);               // idempotent
//   };
//   source.find_mismatched = [&](const std::vector<Order>& rows) {
//     return CompareWithNew(rows);               // old's rows, re-read, that
//   };                                           // new has wrong or lacks
//   absl::StatusOr<BackfillProgress> done = (*driver)->Run(source);
//
// Exactly once. A page is written to the new database before its
// checkpoint, and the checkpoint (cursor + counts, compare-and-set on the
// job's sequence, synced in the daemon) is what makes it count. A crash
// between the two re-copies that page on resume: the upsert is idempotent,
// so each row ends up copied once by content and counted once. A second
// driver started on the same flag takes the job over; the first one's next
// checkpoint is refused (ABORTED) and its Run returns.
//
// Rows copied while the service dual-writes may be overwritten by a newer
// dual write and then by the backfill's older copy; the verify pass exists
// to find exactly that (and any other drift) and rewrites old's current
// row. find_mismatched must therefore re-read old, not echo its argument.
//
// Sampling: with a verify sample rate below 1 (set when the job is first
// started), a page is verified when MurmurHash3(flag + cursor) falls in
// the sample, so a resumed pass samples the same pages.
//
// Errors: a callable's error (or throw) ends Run with that error; the job
// keeps its last checkpoint, and the next Run resumes there. A checkpoint
// whose answer is lost is confirmed with GetBackfill before it is retried.
//
// Direction. A flag has up to two jobs: FORWARD (the default) copies old ->
// new as above, and its DONE opens the require_backfill gate. REVERSE
// copies new -> old: the way back after `complete`, when writes skipped the
// old database. Move users to `rampdown` first (writes reach both again),
// run the reverse job to DONE, and only then let users read the old
// database again. The two jobs are independent (runs, cursors, counts).
//
// The callables keep their names for both directions: they are named for
// the forward job, and for a REVERSE job "old" means the job's source (the
// new database) and "new" its destination (the old one):
//
//   direction   read_old_page reads   write_new writes   find_mismatched
//   FORWARD     old                   new                old's rows new lacks
//   REVERSE     new                   old                new's rows old lacks
//
// so a source built over (from, to) databases, like the orders example's
// OrdersBackfillSource(from, to), serves both jobs by swapping its
// arguments. Renaming the fields (or adding source/destination aliases
// beside them) would break or duplicate every existing caller's setup for
// no change in behaviour.
//
// The header names no generated protobuf type (it is installed with the
// client library, docs/install.md): Direction and Phase stand for the API's
// cutover.v1.BackfillDirection and BackfillPhase, and the Admin stub and the
// job's messages live in client/backfill.cc.
//
// Thread-safety: Run from one thread at a time; Stop from any thread.
#ifndef CUTOVER_CLIENT_BACKFILL_H_
#define CUTOVER_CLIENT_BACKFILL_H_

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"

namespace grpc {
class Channel;
}  // namespace grpc

namespace cutover {

struct BackfillOptions {
  // The migration flag the job belongs to. Required.
  std::string flag_key;
  // Which of the flag's jobs to run (the API's FORWARD and REVERSE):
  // old -> new, or new -> old (see "Direction" above).
  enum class Direction { kForward, kReverse };
  Direction direction = Direction::kForward;
  // Rows asked of read_old_page per page.
  size_t page_size = 500;
  // Throttle: at most this many rows per second (copied or verified), on
  // average; 0 means as fast as the databases go.
  double max_rows_per_second = 0;
  // Estimate of the rows to copy, for the ETA; 0 if unknown.
  int64_t rows_total_estimate = 0;
  // Share of pages the verify pass checks, (0, 1]; taken when the job is
  // first started (a later run keeps the job's).
  double verify_sample_rate = 1;
  // Deadline of each call to the daemon.
  absl::Duration rpc_deadline = absl::Seconds(10);
  // Attempts of one checkpoint while the daemon is unreachable.
  int checkpoint_attempts = 5;
  // Who runs the backfill (x-cutover-actor with auth off).
  std::string actor = "backfill";
};

// One page of the job's source (the old database, or the new one for a
// REVERSE job).
template <typename Row>
struct BackfillPage {
  std::vector<Row> rows;
  // Where the next page starts (at most 4096 bytes); opaque to the driver.
  std::string next_cursor;
  // No rows after this page.
  bool done = false;
};

// The caller's side of a backfill. For a REVERSE job read "old" as the
// source (the new database) and "new" as the destination (the old one)
// throughout: see "Direction" above.
template <typename Row>
struct BackfillSource {
  // Up to `limit` rows of old after `cursor` (empty: from the start), in a
  // stable order. Required.
  std::function<absl::StatusOr<BackfillPage<Row>>(const std::string& cursor,
                                                  size_t limit)>
      read_old_page;
  // Writes rows into new, idempotently (upsert). Required.
  std::function<absl::Status(const std::vector<Row>& rows)> write_new;
  // Of `rows` (a page of old), the ones new has wrong or lacks, as old has
  // them now (re-read). Without it the verify pass cannot run: Run
  // returns FAILED_PRECONDITION once the copy is done.
  std::function<absl::StatusOr<std::vector<Row>>(const std::vector<Row>& rows)>
      find_mismatched;
};

// "forward" or "reverse", as cutoverctl prints a job's direction.
const char* BackfillDirectionName(BackfillOptions::Direction direction);

// Where a job stands (from the daemon's last answer).
struct BackfillProgress {
  // The API's COPYING, VERIFYING, DONE; kUnspecified for a phase this
  // library does not know (a newer daemon's), which ends Run.
  enum class Phase { kUnspecified, kCopying, kVerifying, kDone };
  Phase phase = Phase::kCopying;
  int64_t rows_copied = 0;
  int64_t rows_verified = 0;
  int64_t rows_mismatched = 0;
  int64_t rows_repaired = 0;
  int64_t pages_this_run = 0;
};

// "copying", "verifying", "done" ("unspecified"), as cutoverctl prints them.
const char* BackfillPhaseName(BackfillProgress::Phase phase);

class BackfillDriver {
 public:
  // INVALID_ARGUMENT for bad options. `channel` as from MakeChannel.
  static absl::StatusOr<std::unique_ptr<BackfillDriver>> Create(
      std::shared_ptr<grpc::Channel> channel, BackfillOptions options);

  ~BackfillDriver();
  BackfillDriver(const BackfillDriver&) = delete;
  BackfillDriver& operator=(const BackfillDriver&) = delete;

  // Starts (or resumes) the flag's job and runs it to DONE. Returns the
  // final progress; CANCELLED after Stop; the daemon's error (e.g.
  // ABORTED when another driver took over); a callable's error.
  template <typename Row>
  absl::StatusOr<BackfillProgress> Run(const BackfillSource<Row>& source);

  // Makes Run return CANCELLED before its next page.
  void Stop() { stopped_.store(true); }

 private:
  struct PageReport {
    std::string cursor;
    bool done = false;
    int64_t copied = 0;
    int64_t verified = 0;
    int64_t mismatched = 0;
    int64_t repaired = 0;
  };

  // The daemon's side: the Admin stub and the job as the daemon last
  // answered (client/backfill.cc).
  class Job;

  BackfillDriver(std::shared_ptr<grpc::Channel> channel,
                 BackfillOptions options);

  // StartBackfill; keeps the job.
  absl::Status Begin();
  // CheckpointBackfill of one page of the job's phase; keeps the job.
  absl::Status Record(const PageReport& page);
  // Sleeps as the throttle says after `rows` more rows.
  void Pace(int64_t rows);
  // Whether the verify pass checks the page at `cursor`.
  bool Sampled(const std::string& cursor) const;
  // The cursor the current phase continues from.
  const std::string& Cursor() const;
  absl::Status CheckRunnable(bool has_verifier) const;
  BackfillProgress Progress() const;
  // The job's phase.
  BackfillProgress::Phase JobPhase() const;

  std::unique_ptr<Job> job_;
  const BackfillOptions options_;
  std::atomic<bool> stopped_{false};
  int64_t pages_ = 0;
  absl::Time pace_start_;
  int64_t paced_rows_ = 0;
};

namespace backfill_internal {

// Runs `fn` and turns a throw into INTERNAL naming `what`.
template <typename Fn>
auto CallUserFunction(const char* what, Fn&& fn) -> decltype(fn()) {
  try {
    return fn();
  } catch (const std::exception& e) {
    return absl::InternalError(std::string("backfill: ") + what +
                               " threw: " + e.what());
  } catch (...) {
    return absl::InternalError(std::string("backfill: ") + what + " threw");
  }
}

}  // namespace backfill_internal

template <typename Row>
absl::StatusOr<BackfillProgress> BackfillDriver::Run(
    const BackfillSource<Row>& source) {
  using backfill_internal::CallUserFunction;
  if (!source.read_old_page || !source.write_new) {
    return absl::InvalidArgumentError(
        "source: read_old_page and write_new are required");
  }
  if (absl::Status s = Begin(); !s.ok()) return s;
  using Phase = BackfillProgress::Phase;
  while (JobPhase() == Phase::kCopying || JobPhase() == Phase::kVerifying) {
    if (absl::Status s = CheckRunnable(bool(source.find_mismatched)); !s.ok()) {
      return s;
    }
    const bool copying = JobPhase() == Phase::kCopying;
    const std::string cursor = Cursor();
    absl::StatusOr<BackfillPage<Row>> page = CallUserFunction(
        "read_old_page", [&] { return source.read_old_page(cursor,
                                                           options_.page_size); });
    if (!page.ok()) return page.status();
    if (page->rows.empty() && !page->done && page->next_cursor == cursor) {
      return absl::FailedPreconditionError(
          "backfill: read_old_page returned no rows, the same cursor and "
          "not done; it would loop forever");
    }
    PageReport report;
    report.cursor = page->next_cursor;
    report.done = page->done;
    const auto rows = static_cast<int64_t>(page->rows.size());
    if (copying) {
      absl::Status written = CallUserFunction(
          "write_new", [&] { return source.write_new(page->rows); });
      if (!written.ok()) return written;
      report.copied = rows;
    } else if (Sampled(cursor)) {
      absl::StatusOr<std::vector<Row>> wrong = CallUserFunction(
          "find_mismatched", [&] { return source.find_mismatched(page->rows); });
      if (!wrong.ok()) return wrong.status();
      if (static_cast<int64_t>(wrong->size()) > rows) {
        return absl::InvalidArgumentError(absl::StrCat(
            "backfill: find_mismatched returned ", wrong->size(),
            " rows for a page of ", rows,
            "; it must return old's rows of that page that new has wrong"));
      }
      report.verified = rows;
      report.mismatched = static_cast<int64_t>(wrong->size());
      if (!wrong->empty()) {
        absl::Status written = CallUserFunction(
            "write_new", [&] { return source.write_new(*wrong); });
        if (!written.ok()) return written;
        report.repaired = report.mismatched;
      }
    }
    if (absl::Status s = Record(report); !s.ok()) return s;
    Pace(rows);
  }
  return Progress();
}

}  // namespace cutover

#endif  // CUTOVER_CLIENT_BACKFILL_H_
