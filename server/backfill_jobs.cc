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
#include "convert/convert.h"
#include "core/limits.h"
#include "google/protobuf/util/time_util.h"

namespace cutover {
namespace {

using google::protobuf::util::TimeUtil;

// Weight of the newest checkpoint in the rows-per-second average.
constexpr double kRateWeight = 0.3;

google::protobuf::Timestamp ToTimestamp(absl::Time time) {
  return TimeUtil::NanosecondsToTimestamp(absl::ToUnixNanos(time));
}

absl::Time FromTimestamp(const google::protobuf::Timestamp& timestamp) {
  return absl::FromUnixNanos(TimeUtil::TimestampToNanoseconds(timestamp));
}

std::string NewRunId() {
  absl::BitGen random;
  return absl::StrFormat("%016x%016x", absl::Uniform<uint64_t>(random),
                         absl::Uniform<uint64_t>(random));
}

absl::Status NoJob(const std::string& flag_key) {
  return absl::NotFoundError(
      absl::StrCat("flag ", flag_key, " has no backfill job"));
}

absl::Status ValidateCheckpoint(const v1::CheckpointBackfillRequest& request) {
  if (absl::Status s = CheckBackfillFlagKey(request.flag_key()); !s.ok()) {
    return s;
  }
  if (request.run_id().empty()) {
    return absl::InvalidArgumentError(
        "run_id: required (the run_id StartBackfill returned)");
  }
  if (request.run_id().size() > kMaxBackfillRunIdLength) {
    return absl::InvalidArgumentError(
        absl::StrCat("run_id: longer than ", kMaxBackfillRunIdLength,
                     " bytes (the run_id StartBackfill returned)"));
  }
  if (request.sequence() < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("sequence: must be >= 0, got ", request.sequence()));
  }
  if (request.phase() != v1::COPYING && request.phase() != v1::VERIFYING) {
    return absl::InvalidArgumentError("phase: must be COPYING or VERIFYING");
  }
  if (request.cursor().size() > kMaxBackfillCursorLength) {
    return absl::InvalidArgumentError(
        absl::StrCat("cursor: at most ", kMaxBackfillCursorLength,
                     " bytes, got ", request.cursor().size()));
  }
  const std::pair<const char*, int64_t> counts[] = {
      {"rows_copied", request.rows_copied()},
      {"rows_verified", request.rows_verified()},
      {"rows_mismatched", request.rows_mismatched()},
      {"rows_repaired", request.rows_repaired()}};
  for (const auto& [field, value] : counts) {
    if (value < 0) {
      return absl::InvalidArgumentError(
          absl::StrCat(field, ": must be >= 0, got ", value));
    }
  }
  if (request.phase() == v1::COPYING &&
      (request.rows_verified() != 0 || request.rows_mismatched() != 0 ||
       request.rows_repaired() != 0)) {
    return absl::InvalidArgumentError(
        "rows_verified: a COPYING page only copies (verified, mismatched "
        "and repaired must be 0)");
  }
  if (request.phase() == v1::VERIFYING && request.rows_copied() != 0) {
    return absl::InvalidArgumentError(
        "rows_copied: a VERIFYING page copies nothing (must be 0)");
  }
  if (request.rows_mismatched() > request.rows_verified()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "rows_mismatched: at most rows_verified (", request.rows_verified(),
        "), got ", request.rows_mismatched()));
  }
  if (request.rows_repaired() > request.rows_mismatched()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "rows_repaired: at most rows_mismatched (", request.rows_mismatched(),
        "), got ", request.rows_repaired()));
  }
  return absl::OkStatus();
}

// INVALID_ARGUMENT if adding the page's counts to `job`'s totals would
// overflow them.
absl::Status CheckTotals(const v1::BackfillJob& job,
                         const v1::CheckpointBackfillRequest& request) {
  const std::tuple<const char*, int64_t, int64_t> counts[] = {
      {"rows_copied", job.rows_copied(), request.rows_copied()},
      {"rows_verified", job.rows_verified(), request.rows_verified()},
      {"rows_mismatched", job.rows_mismatched(), request.rows_mismatched()},
      {"rows_repaired", job.rows_repaired(), request.rows_repaired()}};
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

BackfillJobs::BackfillJobs(Store* store, std::vector<v1::BackfillJob> loaded,
                           Clock clock)
    : store_(store), clock_(std::move(clock)) {
  for (v1::BackfillJob& job : loaded) {
    std::string key = job.flag_key();
    jobs_.emplace(std::move(key), std::move(job));
  }
}

absl::StatusOr<v1::BackfillJob> BackfillJobs::Start(
    const v1::StartBackfillRequest& request, const std::string& actor) {
  if (absl::Status s = CheckBackfillFlagKey(request.flag_key()); !s.ok()) {
    return s;
  }
  if (request.rows_total_estimate() < 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "rows_total_estimate: must be >= 0, got ",
        request.rows_total_estimate()));
  }
  const double rate = request.verify_sample_rate();
  if (!std::isfinite(rate) || rate < 0 || rate > 1) {
    return absl::InvalidArgumentError(absl::StrCat(
        "verify_sample_rate: must be in (0, 1] (or 0 for 1), got ", rate));
  }
  const absl::Time now = clock_();
  absl::MutexLock lock(&mu_);
  v1::BackfillJob job;
  if (auto it = jobs_.find(request.flag_key()); it != jobs_.end()) {
    job = it->second;
  } else {
    job.set_flag_key(request.flag_key());
    job.set_phase(v1::COPYING);
    job.set_verify_sample_rate(rate == 0 ? 1.0 : rate);
    *job.mutable_create_time() = ToTimestamp(now);
  }
  job.set_run_id(NewRunId());
  job.set_runs(job.runs() + 1);
  job.set_started_by(actor);
  if (request.rows_total_estimate() > 0) {
    job.set_rows_total_estimate(request.rows_total_estimate());
  }
  job.set_rows_per_second(0);  // the new run measures its own rate
  job.set_eta_seconds(0);
  *job.mutable_update_time() = ToTimestamp(now);
  if (absl::Status s = store_->PutBackfill(job); !s.ok()) return s;
  jobs_[job.flag_key()] = job;
  return job;
}

absl::StatusOr<v1::BackfillJob> BackfillJobs::Checkpoint(
    const v1::CheckpointBackfillRequest& request) {
  if (absl::Status s = ValidateCheckpoint(request); !s.ok()) return s;
  const absl::Time now = clock_();
  absl::MutexLock lock(&mu_);
  auto it = jobs_.find(request.flag_key());
  if (it == jobs_.end()) {
    return absl::NotFoundError(absl::StrCat(
        "flag ", request.flag_key(), " has no backfill job (start one)"));
  }
  v1::BackfillJob job = it->second;
  if (request.run_id() != job.run_id()) {
    return absl::AbortedError(absl::StrCat(
        "run_id: run ", request.run_id(), " of the backfill of ",
        job.flag_key(), " was taken over by a later start"));
  }
  if (request.sequence() != job.sequence()) {
    return absl::AbortedError(absl::StrCat(
        "sequence: the backfill of ", job.flag_key(), " is at ",
        job.sequence(), ", the checkpoint names ", request.sequence()));
  }
  if (request.phase() != job.phase()) {
    return absl::AbortedError(absl::StrCat(
        "phase: the backfill of ", job.flag_key(), " is ",
        BackfillPhaseName(job.phase()), ", the checkpoint is for ",
        BackfillPhaseName(request.phase())));
  }
  if (absl::Status s = CheckTotals(job, request); !s.ok()) return s;

  const int64_t rows = request.rows_copied() + request.rows_verified();
  const double seconds =
      absl::ToDoubleSeconds(now - FromTimestamp(job.update_time()));
  if (seconds > 0 && rows > 0) {
    const double instant = static_cast<double>(rows) / seconds;
    job.set_rows_per_second(job.rows_per_second() == 0
                                ? instant
                                : kRateWeight * instant +
                                      (1 - kRateWeight) * job.rows_per_second());
  }
  job.set_sequence(job.sequence() + 1);
  job.set_rows_copied(job.rows_copied() + request.rows_copied());
  job.set_rows_verified(job.rows_verified() + request.rows_verified());
  job.set_rows_mismatched(job.rows_mismatched() + request.rows_mismatched());
  job.set_rows_repaired(job.rows_repaired() + request.rows_repaired());
  if (job.phase() == v1::COPYING) {
    job.set_cursor(request.cursor());
  } else {
    job.set_verify_cursor(request.cursor());
  }
  *job.mutable_update_time() = ToTimestamp(now);
  if (request.pass_done()) {
    if (job.phase() == v1::COPYING) {
      job.set_phase(v1::VERIFYING);
      *job.mutable_copy_done_time() = ToTimestamp(now);
    } else {
      job.set_phase(v1::DONE);
      *job.mutable_verify_done_time() = ToTimestamp(now);
    }
    job.set_rows_per_second(0);
  }
  const int64_t left = job.rows_total_estimate() - job.rows_copied();
  job.set_eta_seconds(job.phase() == v1::COPYING && left > 0 &&
                              job.rows_per_second() > 0
                          ? static_cast<double>(left) / job.rows_per_second()
                          : 0);
  if (absl::Status s = store_->PutBackfill(job); !s.ok()) return s;
  it->second = job;
  return job;
}

absl::StatusOr<v1::BackfillJob> BackfillJobs::Get(
    const std::string& flag_key) const {
  if (absl::Status s = CheckBackfillFlagKey(flag_key); !s.ok()) return s;
  absl::MutexLock lock(&mu_);
  auto it = jobs_.find(flag_key);
  if (it == jobs_.end()) return NoJob(flag_key);
  return it->second;
}

std::vector<v1::BackfillJob> BackfillJobs::List() const {
  absl::MutexLock lock(&mu_);
  std::vector<v1::BackfillJob> jobs;
  jobs.reserve(jobs_.size());
  for (const auto& [key, job] : jobs_) jobs.push_back(job);
  return jobs;
}

absl::StatusOr<v1::BackfillJob> BackfillJobs::Reset(
    const std::string& flag_key) {
  if (absl::Status s = CheckBackfillFlagKey(flag_key); !s.ok()) return s;
  absl::MutexLock lock(&mu_);
  auto it = jobs_.find(flag_key);
  if (it == jobs_.end()) return NoJob(flag_key);
  if (absl::Status s = store_->DeleteBackfill(flag_key); !s.ok()) return s;
  v1::BackfillJob job = std::move(it->second);
  jobs_.erase(it);
  return job;
}

BackfillFacts BackfillJobs::Facts(const std::string& flag_key) const {
  BackfillFacts facts;
  absl::MutexLock lock(&mu_);
  auto it = jobs_.find(flag_key);
  if (it == jobs_.end()) return facts;
  const v1::BackfillJob& job = it->second;
  facts.exists = true;
  facts.phase = BackfillPhaseName(job.phase());
  facts.done = job.phase() == v1::DONE;
  facts.rows_copied = job.rows_copied();
  facts.rows_total_estimate = job.rows_total_estimate();
  facts.rows_verified = job.rows_verified();
  facts.rows_mismatched = job.rows_mismatched();
  facts.rows_repaired = job.rows_repaired();
  return facts;
}

}  // namespace cutover
