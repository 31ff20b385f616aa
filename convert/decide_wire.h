// Decide's and DecideBatch's answers in their wire form, for the daemon's
// hot path.
//
// Most of a decision is the same bytes for every user of a flag version:
// the flag's key, targets, version and compare rate (serialized once, when
// the flag enters a snapshot: FlagEntry::decision_bytes) and the served
// stage's read and write plan (one set per stage, serialized once per
// process). Only the reason, the rule id, the bucket and the snapshot's
// revision are written per call, so neither call builds or serializes a
// response message (docs/performance.md, "Decide's answer written from
// bytes").
//
// The bytes are a valid DecideResponse (or DecideBatchResponse): per
// answer a `decision` field whose payload is those three runs of Decision
// fields one after another (protobuf reads a message's fields in any
// order), then `revision`. Protobuf itself serializes the constant runs;
// only the per-call fields are encoded here, with protobuf's own varint and
// tag writers and the generated field numbers. A test compares what the
// generated messages say for the same decisions.
//
// Pure functions; thread-safe.
#ifndef CUTOVER_CONVERT_DECIDE_WIRE_H_
#define CUTOVER_CONVERT_DECIDE_WIRE_H_

#include <cstddef>
#include <cstdint>
#include <string>

#include "absl/strings/string_view.h"
#include "absl/types/span.h"
#include "core/evaluate.h"
#include "core/stage.h"

namespace cutover {

// The Decision fields that are the same for every user a decision for
// this flag is made for: key, old and new target, flag version and compare
// rate (stage, plans, reason, rule id, bucket and error left out),
// serialized. A flag's are computed once, when its entry is made.
std::string ConstantDecisionBytes(const Decision& decision);
std::string ConstantDecisionBytes(const CompiledFlag& flag);

// One decision to write. `constant_bytes` (ConstantDecisionBytes) and
// `rule_id` must outlive the writing.
struct DecideAnswer {
  absl::string_view constant_bytes;
  Stage stage = Stage::kOff;  // a stage, not kUnspecified
  Reason reason = Reason::kUnspecified;
  absl::string_view rule_id;
  int32_t bucket = -1;
};

// The answer for `verdict` of `flag`, whose ConstantDecisionBytes are
// `constant_bytes`.
DecideAnswer AnswerFor(const CompiledFlag& flag,
                       absl::string_view constant_bytes,
                       const Verdict& verdict);
// The answer for a key no flag has (or an archived flag's): the safe
// decision, FLAG_NOT_FOUND. `constant_bytes` are the safe decision's
// (ConstantDecisionBytes(SafeDecision(key, Reason::kFlagNotFound))).
DecideAnswer NotFoundAnswer(absl::string_view constant_bytes);

// The size of the response WriteDecideResponses writes.
size_t DecideResponsesSize(absl::Span<const DecideAnswer> answers,
                           int64_t revision);
// Writes `answers`, in order, and `revision`: a DecideBatchResponse, or
// with one answer a DecideResponse (the two share their field numbers).
// DecideResponsesSize(answers, revision) bytes, to `out`.
void WriteDecideResponses(absl::Span<const DecideAnswer> answers,
                          int64_t revision, uint8_t* out);

}  // namespace cutover

#endif  // CUTOVER_CONVERT_DECIDE_WIRE_H_
