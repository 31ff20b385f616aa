#include "server/backfill_jobs.h"

#include <cmath>
#include <cstdint>
#include <limits>
#include <string>
#include <tuple>
#include <utility>

#include "absl/random/random.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "core/limits.h"

namespace cutover {
namespace {

// Weight of the newest checkpoint in the rows-per-second average.
constexpr double kRateWeight = 0.3;

// The clock's time to the nanosecond: what the store keeps of it, so a
// job's times are the same before and after a restart.
absl::Time ToNanoseconds(absl::Time time) {
  return absl::FromUnixNanos(absl::ToUnixNanos(time));
}

std::string NewRunId() {
  absl::BitGen random;
  return absl::StrFormat("%016x%016x", absl::Uniform<uint64_t>(random),
                         absl::Uniform<uint64_t>(random));
}

// "" for a forward job, "reverse " for a reverse one: what messages say
// before "backfill".
const char* Which(BackfillDirection direction) {
  return direction == BackfillDirection::kReverse ? "reverse " : "";
}

absl::Status NoJob(const std::string& flag_key, BackfillDirection direction) {
  return absl::NotFoundError(absl::StrCat("flag ", flag_key, " has no ",
                                          Which(direction), "backfill job"));
}

absl::Status ValidateCheckpoint(const CheckpointBackfillCommand& page) {
  if (absl::Status s = CheckBackfillFlagKey(page.flag_key); !s.ok()) {
    return s;
  }
  if (absl::Status s = CheckBackfillDirection(page.direction); !s.ok()) {
    return s;
  }
  if (page.run_id.empty()) {
    return absl::InvalidArgumentError(
        "run_id: required (the run_id StartBackfill returned)");
  }
  if (page.run_id.size() > kMaxBackfillRunIdLength) {
    return absl::InvalidArgumentError(
        absl::StrCat("run_id: longer than ", kMaxBackfillRunIdLength,
                     " bytes (the run_id StartBackfill returned)"));
  }
  if (page.sequence < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("sequence: must be >= 0, got ", page.sequence));
  }
  if (page.phase != BackfillPhase::kCopying &&
      page.phase != BackfillPhase::kVerifying) {
    return absl::InvalidArgumentError("phase: must be COPYING or VERIFYING");
  }
  if (page.cursor.size() > kMaxBackfillCursorLength) {
    return absl::InvalidArgumentError(
        absl::StrCat("cursor: at most ", kMaxBackfillCursorLength,
                     " bytes, got ", page.cursor.size()));
  }
  const std::pair<const char*, int64_t> counts[] = {
      {"rows_copied", page.rows_copied},
      {"rows_verified", page.rows_verified},
      {"rows_mismatched", page.rows_mismatched},
      {"rows_repaired", page.rows_repaired}};
  for (const auto& [field, value] : counts) {
    if (value < 0) {
      return absl::InvalidArgumentError(
          absl::StrCat(field, ": must be >= 0, got ", value));
    }
  }
  if (page.phase == BackfillPhase::kCopying &&
      (page.rows_verified != 0 || page.rows_mismatched != 0 ||
       page.rows_repaired != 0)) {
    return absl::InvalidArgumentError(
        "rows_verified: a COPYING page only copies (verified, mismatched "
        "and repaired must be 0)");
  }
  if (page.phase == BackfillPhase::kVerifying && page.rows_copied != 0) {
    return absl::InvalidArgumentError(
        "rows_copied: a VERIFYING page copies nothing (must be 0)");
  }
  if (page.rows_mismatched > page.rows_verified) {
    return absl::InvalidArgumentError(absl::StrCat(
        "rows_mismatched: at most rows_verified (", page.rows_verified,
        "), got ", page.rows_mismatched));
  }
  if (page.rows_repaired > page.rows_mismatched) {
    return absl::InvalidArgumentError(absl::StrCat(
        "rows_repaired: at most rows_mismatched (", page.rows_mismatched,
        "), got ", page.rows_repaired));
  }
  return absl::OkStatus();
}

// INVALID_ARGUMENT if adding the page's counts to `job`'s totals would
// overflow them.
absl::Status CheckTotals(const BackfillJob& job,
                         const CheckpointBackfillCommand& page) {
  const std::tuple<const char*, int64_t, int64_t> counts[] = {
      {"rows_copied", job.rows_copied, page.rows_copied},
      {"rows_verified", job.rows_verified, page.rows_verified},
      {"rows_mismatched", job.rows_mismatched, page.rows_mismatched},
      {"rows_repaired", job.rows_repaired, page.rows_repaired}};
  for (const auto& [field, total, value] : counts) {
    if (value > std::numeric_limits<int64_t>::max() - total) {
      return absl::InvalidArgumentError(
          absl::StrCat(field, ": would overflow the job's total (", total,
                       " + ", value, ")"));
    }
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status CheckBackfillFlagKey(absl::string_view flag_key) {
  if (flag_key.empty()) {
    return absl::InvalidArgumentError("flag_key: required");
  }
  if (flag_key.size() > kMaxKeyLength) {
    return absl::InvalidArgumentError(
        absl::StrCat("flag_key: longer than ", kMaxKeyLength, " bytes"));
  }
  return absl::OkStatus();
}

absl::Status CheckBackfillDirection(BackfillDirection direction) {
  if (direction != BackfillDirection::kForward &&
      direction != BackfillDirection::kReverse) {
    return absl::InvalidArgumentError(
        "direction: must be FORWARD or REVERSE (unset means FORWARD)");
  }
  return absl::OkStatus();
}

BackfillJobs::BackfillJobs(Store* store, std::vector<BackfillJob> loaded,
                           Clock clock)
    : store_(store), clock_(std::move(clock)) {
  for (BackfillJob& job : loaded) {
    JobKey key(job.flag_key, job.direction);
    jobs_.emplace(std::move(key), std::move(job));
  }
}

absl::StatusOr<BackfillJob> BackfillJobs::Start(
    const StartBackfillCommand& command, const std::string& actor) {
  if (absl::Status s = CheckBackfillFlagKey(command.flag_key); !s.ok()) {
    return s;
  }
  if (absl::Status s = CheckBackfillDirection(command.direction); !s.ok()) {
    return s;
  }
  if (command.rows_total_estimate < 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "rows_total_estimate: must be >= 0, got ",
        command.rows_total_estimate));
  }
  const double rate = command.verify_sample_rate;
  if (!std::isfinite(rate) || rate < 0 || rate > 1) {
    return absl::InvalidArgumentError(absl::StrCat(
        "verify_sample_rate: must be in (0, 1] (or 0 for 1), got ", rate));
  }
  const absl::Time now = ToNanoseconds(clock_());
  absl::MutexLock lock(&mu_);
  const JobKey key(command.flag_key, command.direction);
  BackfillJob job;
  if (auto it = jobs_.find(key); it != jobs_.end()) {
    job = it->second;
  } else {
    job.flag_key = command.flag_key;
    job.direction = command.direction;
    job.phase = BackfillPhase::kCopying;
    job.verify_sample_rate = rate == 0 ? 1.0 : rate;
    job.create_time = now;
  }
  job.run_id = NewRunId();
  job.runs += 1;
  job.started_by = actor;
  if (command.rows_total_estimate > 0) {
    job.rows_total_estimate = command.rows_total_estimate;
  }
  job.rows_per_second = 0;  // the new run measures its own rate
  job.update_time = now;
  if (absl::Status s = store_->PutBackfill(job); !s.ok()) return s;
  jobs_[key] = job;
  return job;
}

absl::StatusOr<BackfillJob> BackfillJobs::Checkpoint(
    const CheckpointBackfillCommand& page) {
  if (absl::Status s = ValidateCheckpoint(page); !s.ok()) return s;
  const absl::Time now = ToNanoseconds(clock_());
  absl::MutexLock lock(&mu_);
  auto it = jobs_.find(JobKey(page.flag_key, page.direction));
  if (it == jobs_.end()) {
    return absl::NotFoundError(
        absl::StrCat("flag ", page.flag_key, " has no ", Which(page.direction),
                     "backfill job (start one)"));
  }
  BackfillJob job = it->second;
  const char* which = Which(job.direction);
  if (page.run_id != job.run_id) {
    return absl::AbortedError(absl::StrCat(
        "run_id: run ", page.run_id, " of the ", which, "backfill of ",
        job.flag_key, " was taken over by a later start"));
  }
  if (page.sequence != job.sequence) {
    return absl::AbortedError(absl::StrCat(
        "sequence: the ", which, "backfill of ", job.flag_key, " is at ",
        job.sequence, ", the checkpoint names ", page.sequence));
  }
  if (page.phase != job.phase) {
    return absl::AbortedError(absl::StrCat(
        "phase: the ", which, "backfill of ", job.flag_key, " is ",
        BackfillPhaseName(job.phase), ", the checkpoint is for ",
        BackfillPhaseName(page.phase)));
  }
  if (absl::Status s = CheckTotals(job, page); !s.ok()) return s;

  const int64_t rows = page.rows_copied + page.rows_verified;
  const double seconds = absl::ToDoubleSeconds(now - job.update_time);
  if (seconds > 0 && rows > 0) {
    const double instant = static_cast<double>(rows) / seconds;
    job.rows_per_second =
        job.rows_per_second == 0
            ? instant
            : kRateWeight * instant + (1 - kRateWeight) * job.rows_per_second;
  }
  job.sequence += 1;
  job.rows_copied += page.rows_copied;
  job.rows_verified += page.rows_verified;
  job.rows_mismatched += page.rows_mismatched;
  job.rows_repaired += page.rows_repaired;
  if (job.phase == BackfillPhase::kCopying) {
    job.cursor = page.cursor;
  } else {
    job.verify_cursor = page.cursor;
  }
  job.update_time = now;
  if (page.pass_done) {
    if (job.phase == BackfillPhase::kCopying) {
      job.phase = BackfillPhase::kVerifying;
      job.copy_done_time = now;
    } else {
      job.phase = BackfillPhase::kDone;
      job.verify_done_time = now;
    }
    job.rows_per_second = 0;
  }
  if (absl::Status s = store_->PutBackfill(job); !s.ok()) return s;
  it->second = job;
  return job;
}

absl::StatusOr<BackfillJob> BackfillJobs::Get(
    const std::string& flag_key, BackfillDirection direction) const {
  if (absl::Status s = CheckBackfillFlagKey(flag_key); !s.ok()) return s;
  if (absl::Status s = CheckBackfillDirection(direction); !s.ok()) return s;
  absl::MutexLock lock(&mu_);
  auto it = jobs_.find(JobKey(flag_key, direction));
  if (it == jobs_.end()) return NoJob(flag_key, direction);
  return it->second;
}

std::vector<BackfillJob> BackfillJobs::List() const {
  absl::MutexLock lock(&mu_);
  std::vector<BackfillJob> jobs;
  jobs.reserve(jobs_.size());
  for (const auto& [key, job] : jobs_) jobs.push_back(job);
  return jobs;
}

absl::StatusOr<BackfillJob> BackfillJobs::Reset(const std::string& flag_key,
                                                BackfillDirection direction) {
  if (absl::Status s = CheckBackfillFlagKey(flag_key); !s.ok()) return s;
  if (absl::Status s = CheckBackfillDirection(direction); !s.ok()) return s;
  absl::MutexLock lock(&mu_);
  auto it = jobs_.find(JobKey(flag_key, direction));
  if (it == jobs_.end()) return NoJob(flag_key, direction);
  if (absl::Status s = store_->DeleteBackfill(flag_key, direction); !s.ok()) {
    return s;
  }
  BackfillJob job = std::move(it->second);
  jobs_.erase(it);
  return job;
}

BackfillFacts BackfillJobs::Facts(const std::string& flag_key) const {
  return Facts(flag_key, BackfillDirection::kForward);
}

BackfillFacts BackfillJobs::Facts(const std::string& flag_key,
                                  BackfillDirection direction) const {
  BackfillFacts facts;
  absl::MutexLock lock(&mu_);
  auto it = jobs_.find(JobKey(flag_key, direction));
  if (it == jobs_.end()) return facts;
  const BackfillJob& job = it->second;
  facts.exists = true;
  facts.phase = BackfillPhaseName(job.phase);
  facts.done = job.phase == BackfillPhase::kDone;
  facts.rows_copied = job.rows_copied;
  facts.rows_total_estimate = job.rows_total_estimate;
  facts.rows_verified = job.rows_verified;
  facts.rows_mismatched = job.rows_mismatched;
  facts.rows_repaired = job.rows_repaired;
  facts.create_time = job.create_time;
  facts.verify_done_time = job.verify_done_time;
  return facts;
}

}  // namespace cutover
