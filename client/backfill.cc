#include "client/backfill.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "core/bucketing.h"
#include "grpcpp/channel.h"
#include "grpcpp/client_context.h"
#include "rpc/grpc_status.h"

namespace cutover {
namespace {

void Prepare(grpc::ClientContext& context, const BackfillOptions& options) {
  context.set_deadline(std::chrono::system_clock::now() +
                       absl::ToChronoMilliseconds(options.rpc_deadline));
  context.AddMetadata("x-cutover-actor", options.actor);
}

bool Retryable(absl::StatusCode code) {
  return code == absl::StatusCode::kUnavailable ||
         code == absl::StatusCode::kDeadlineExceeded;
}

}  // namespace

absl::StatusOr<std::unique_ptr<BackfillDriver>> BackfillDriver::Create(
    std::shared_ptr<grpc::Channel> channel, BackfillOptions options) {
  if (options.flag_key.empty()) {
    return absl::InvalidArgumentError("flag_key: required");
  }
  if (options.page_size == 0) {
    return absl::InvalidArgumentError("page_size: must be at least 1");
  }
  if (!std::isfinite(options.max_rows_per_second) ||
      options.max_rows_per_second < 0) {
    return absl::InvalidArgumentError(
        "max_rows_per_second: must be >= 0 (0: unthrottled)");
  }
  if (!(options.verify_sample_rate > 0 && options.verify_sample_rate <= 1)) {
    return absl::InvalidArgumentError("verify_sample_rate: must be in (0, 1]");
  }
  if (options.direction == v1::BACKFILL_DIRECTION_UNSPECIFIED) {
    options.direction = v1::FORWARD;
  }
  if (options.direction != v1::FORWARD && options.direction != v1::REVERSE) {
    return absl::InvalidArgumentError(
        "direction: must be FORWARD or REVERSE");
  }
  if (options.checkpoint_attempts < 1) {
    return absl::InvalidArgumentError("checkpoint_attempts: must be >= 1");
  }
  return std::unique_ptr<BackfillDriver>(
      new BackfillDriver(std::move(channel), std::move(options)));
}

BackfillDriver::BackfillDriver(std::shared_ptr<grpc::Channel> channel,
                               BackfillOptions options)
    : admin_(v1::Admin::NewStub(std::move(channel))),
      options_(std::move(options)) {}

absl::Status BackfillDriver::Begin() {
  v1::StartBackfillRequest request;
  request.set_flag_key(options_.flag_key);
  request.set_direction(options_.direction);
  request.set_rows_total_estimate(options_.rows_total_estimate);
  request.set_verify_sample_rate(options_.verify_sample_rate);
  grpc::ClientContext context;
  Prepare(context, options_);
  absl::Status s =
      FromGrpcStatus(admin_->StartBackfill(&context, request, &job_));
  if (!s.ok()) {
    return absl::Status(s.code(),
                        absl::StrCat("backfill: start: ", s.message()));
  }
  pages_ = 0;
  pace_start_ = absl::Now();
  paced_rows_ = 0;
  return absl::OkStatus();
}

absl::Status BackfillDriver::Record(const PageReport& page) {
  v1::CheckpointBackfillRequest request;
  request.set_flag_key(options_.flag_key);
  request.set_direction(options_.direction);
  request.set_run_id(job_.run_id());
  request.set_sequence(job_.sequence());
  request.set_phase(job_.phase());
  request.set_cursor(page.cursor);
  request.set_pass_done(page.done);
  request.set_rows_copied(page.copied);
  request.set_rows_verified(page.verified);
  request.set_rows_mismatched(page.mismatched);
  request.set_rows_repaired(page.repaired);
  absl::Status s;
  absl::Duration backoff = absl::Milliseconds(100);
  for (int attempt = 1; attempt <= options_.checkpoint_attempts; ++attempt) {
    v1::BackfillJob answer;
    grpc::ClientContext context;
    Prepare(context, options_);
    s = FromGrpcStatus(admin_->CheckpointBackfill(&context, request, &answer));
    if (s.ok()) {
      job_ = std::move(answer);
      ++pages_;
      return s;
    }
    if (!Retryable(s.code())) break;
    // The answer may be what was lost: ask whether the page was recorded.
    v1::GetBackfillRequest get;
    get.set_flag_key(options_.flag_key);
    get.set_direction(options_.direction);
    grpc::ClientContext get_context;
    Prepare(get_context, options_);
    if (admin_->GetBackfill(&get_context, get, &answer).ok() &&
        answer.run_id() == job_.run_id() &&
        answer.sequence() == job_.sequence() + 1) {
      job_ = std::move(answer);
      ++pages_;
      return absl::OkStatus();
    }
    if (stopped_.load()) break;
    absl::SleepFor(backoff);
    backoff = std::min(backoff * 2, absl::Seconds(5));
  }
  return absl::Status(s.code(),
                      absl::StrCat("backfill: checkpoint: ", s.message()));
}

void BackfillDriver::Pace(int64_t rows) {
  if (options_.max_rows_per_second <= 0) return;
  paced_rows_ += rows;
  const absl::Time due =
      pace_start_ + absl::Seconds(static_cast<double>(paced_rows_) /
                                  options_.max_rows_per_second);
  const absl::Duration wait = due - absl::Now();
  if (wait > absl::ZeroDuration()) absl::SleepFor(wait);
}

bool BackfillDriver::Sampled(const std::string& cursor) const {
  const double rate = job_.verify_sample_rate();
  if (rate >= 1 || rate <= 0) return true;
  const uint64_t hash = MurmurHash3_x86_32(options_.flag_key + cursor, 0);
  return static_cast<double>(hash) < rate * 4294967296.0;
}

const std::string& BackfillDriver::Cursor() const {
  return job_.phase() == v1::COPYING ? job_.cursor() : job_.verify_cursor();
}

absl::Status BackfillDriver::CheckRunnable(bool has_verifier) const {
  if (stopped_.load()) {
    return absl::CancelledError("backfill: stopped");
  }
  if (job_.phase() == v1::VERIFYING && !has_verifier) {
    return absl::FailedPreconditionError(
        "backfill: the copy is done; the verify pass needs a "
        "find_mismatched function");
  }
  return absl::OkStatus();
}

BackfillProgress BackfillDriver::Progress() const {
  BackfillProgress progress;
  progress.phase = job_.phase();
  progress.rows_copied = job_.rows_copied();
  progress.rows_verified = job_.rows_verified();
  progress.rows_mismatched = job_.rows_mismatched();
  progress.rows_repaired = job_.rows_repaired();
  progress.pages_this_run = pages_;
  return progress;
}

}  // namespace cutover
