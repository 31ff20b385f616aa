#include "client/backfill.h"

#include <algorithm>
#include <cmath>
#include <memory>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "core/bucketing.h"
#include "cutover/v1/cutover.grpc.pb.h"
#include "grpcpp/channel.h"
#include "grpcpp/client_context.h"
#include "rpc/channel.h"
#include "rpc/grpc_status.h"

namespace cutover {
namespace {

void Prepare(grpc::ClientContext& context, const BackfillOptions& options) {
  context.set_deadline(DeadlineIn(options.rpc_deadline));
  context.AddMetadata("x-cutover-actor", options.actor);
}

bool Retryable(absl::StatusCode code) {
  return code == absl::StatusCode::kUnavailable ||
         code == absl::StatusCode::kDeadlineExceeded;
}

v1::BackfillDirection ToProto(BackfillOptions::Direction direction) {
  return direction == BackfillOptions::Direction::kReverse ? v1::REVERSE
                                                           : v1::FORWARD;
}

}  // namespace

class BackfillDriver::Job {
 public:
  explicit Job(std::shared_ptr<grpc::Channel> channel)
      : admin(v1::Admin::NewStub(std::move(channel))) {}

  std::unique_ptr<v1::Admin::Stub> admin;
  v1::BackfillJob job;
};

const char* BackfillDirectionName(BackfillOptions::Direction direction) {
  return direction == BackfillOptions::Direction::kReverse ? "reverse"
                                                           : "forward";
}

const char* BackfillPhaseName(BackfillProgress::Phase phase) {
  switch (phase) {
    case BackfillProgress::Phase::kCopying:
      return "copying";
    case BackfillProgress::Phase::kVerifying:
      return "verifying";
    case BackfillProgress::Phase::kDone:
      return "done";
    case BackfillProgress::Phase::kUnspecified:
      break;
  }
  return "unspecified";
}

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
  if (options.direction != BackfillOptions::Direction::kForward &&
      options.direction != BackfillOptions::Direction::kReverse) {
    return absl::InvalidArgumentError(
        "direction: must be kForward or kReverse");
  }
  if (options.checkpoint_attempts < 1) {
    return absl::InvalidArgumentError("checkpoint_attempts: must be >= 1");
  }
  return std::unique_ptr<BackfillDriver>(
      new BackfillDriver(std::move(channel), std::move(options)));
}

BackfillDriver::BackfillDriver(std::shared_ptr<grpc::Channel> channel,
                               BackfillOptions options)
    : job_(std::make_unique<Job>(std::move(channel))),
      options_(std::move(options)) {}

BackfillDriver::~BackfillDriver() = default;

absl::Status BackfillDriver::Begin() {
  v1::StartBackfillRequest request;
  request.set_flag_key(options_.flag_key);
  request.set_direction(ToProto(options_.direction));
  request.set_rows_total_estimate(options_.rows_total_estimate);
  request.set_verify_sample_rate(options_.verify_sample_rate);
  grpc::ClientContext context;
  Prepare(context, options_);
  absl::Status s =
      FromGrpcStatus(job_->admin->StartBackfill(&context, request,
                                                &job_->job));
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
  request.set_direction(ToProto(options_.direction));
  request.set_run_id(job_->job.run_id());
  request.set_sequence(job_->job.sequence());
  request.set_phase(job_->job.phase());
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
    s = FromGrpcStatus(
        job_->admin->CheckpointBackfill(&context, request, &answer));
    if (s.ok()) {
      job_->job = std::move(answer);
      ++pages_;
      return s;
    }
    if (!Retryable(s.code())) break;
    // The answer may be what was lost: ask whether the page was recorded.
    v1::GetBackfillRequest get;
    get.set_flag_key(options_.flag_key);
    get.set_direction(ToProto(options_.direction));
    grpc::ClientContext get_context;
    Prepare(get_context, options_);
    if (job_->admin->GetBackfill(&get_context, get, &answer).ok() &&
        answer.run_id() == job_->job.run_id() &&
        answer.sequence() == job_->job.sequence() + 1) {
      job_->job = std::move(answer);
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
  const double rate = job_->job.verify_sample_rate();
  if (rate >= 1 || rate <= 0) return true;
  const uint64_t hash = MurmurHash3_x86_32(options_.flag_key + cursor, 0);
  return static_cast<double>(hash) < rate * 4294967296.0;
}

const std::string& BackfillDriver::Cursor() const {
  const v1::BackfillJob& job = job_->job;
  return job.phase() == v1::COPYING ? job.cursor() : job.verify_cursor();
}

absl::Status BackfillDriver::CheckRunnable(bool has_verifier) const {
  if (stopped_.load()) {
    return absl::CancelledError("backfill: stopped");
  }
  if (job_->job.phase() == v1::VERIFYING && !has_verifier) {
    return absl::FailedPreconditionError(
        "backfill: the copy is done; the verify pass needs a "
        "find_mismatched function");
  }
  return absl::OkStatus();
}

BackfillProgress BackfillDriver::Progress() const {
  BackfillProgress progress;
  progress.phase = JobPhase();
  progress.rows_copied = job_->job.rows_copied();
  progress.rows_verified = job_->job.rows_verified();
  progress.rows_mismatched = job_->job.rows_mismatched();
  progress.rows_repaired = job_->job.rows_repaired();
  progress.pages_this_run = pages_;
  return progress;
}

BackfillProgress::Phase BackfillDriver::JobPhase() const {
  switch (job_->job.phase()) {
    case v1::COPYING:
      return BackfillProgress::Phase::kCopying;
    case v1::VERIFYING:
      return BackfillProgress::Phase::kVerifying;
    case v1::DONE:
      return BackfillProgress::Phase::kDone;
    default:
      return BackfillProgress::Phase::kUnspecified;
  }
}

}  // namespace cutover
